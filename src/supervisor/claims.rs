//! Who a process belongs to: the service an sd_notify message counts for,
//! the owner elsewhere that makes a pidfile's or `MAINPID=`'s claim
//! refused, and the notify messages themselves (`READY=1`, `STATUS=`,
//! `MAINPID=`, and what they ask of the fd store).

use log::{debug, info, warn};

use super::{Action, Main, Named, Parcel, Supervisor};
use crate::notify::FdStoreRequest;
use crate::pidfile::{Candidate, CgroupMembership, Claim, Refusal, Ties};
use crate::service::{Life, Origin, PidSource, Service, Watched};
use crate::sys::Pid;
use crate::unit::Kind;

impl Supervisor {
    /// Whose message it is: the service whose cgroup the sender is in,
    /// where foster makes cgroups (exact); else the service the sender is a
    /// process of, or whose session it is in (the session its launch led,
    /// or the session of the daemon it follows) — a shell script calling
    /// `fosterctl notify` or `systemd-notify` counts.
    fn sender_service(
        &self,
        sender: Pid,
        session: Option<Pid>,
        cgroup: &CgroupMembership,
    ) -> Option<String> {
        let live = |s: &&Service| s.main_pid().is_some();
        match cgroup {
            CgroupMembership::Service(name) => self
                .services
                .get(name)
                .filter(live)
                .map(|s| s.name().to_string()),
            CgroupMembership::NoService => None,
            CgroupMembership::Unknown => self
                .services
                .values()
                .filter(live)
                .find(|s| {
                    s.has(sender)
                        || session.is_some_and(|sid| {
                            s.main_pid() == Some(sid)
                                || s.launch.is_some_and(|l| l.pid == sid)
                                || s.session() == Some(sid)
                        })
                })
                .map(|s| s.name().to_string()),
        }
    }

    /// The main command or another service than `name` to which the process
    /// `c` belongs: it is one of their processes, in the session one of
    /// them leads or follows, or started by one of them (`ties`). The
    /// cgroup and `FOSTER_SERVICE_NAME` tell it too, and [`crate::pidfile::validate`]
    /// checks those.
    pub(super) fn owner_elsewhere(
        &self,
        name: &str,
        c: &Candidate,
        ties: &Ties,
    ) -> Option<Refusal> {
        if let Main::Running(main) = self.main
            && (c.pid == main || ties.ancestors.contains(&main))
        {
            return Some(Refusal::MainCommand);
        }
        if self
            .probe_pids()
            .any(|p| c.pid == p || ties.ancestors.contains(&p))
        {
            return Some(Refusal::HealthProbe);
        }
        self.services
            .iter()
            .filter(|(other, _)| other.as_str() != name)
            .find(|(_, s)| {
                // The session its launch led, unless that number now leads
                // a session of someone else's (its leader started later).
                let launch_session = s.launch.is_some_and(|l| {
                    c.session == Some(l.pid)
                        && l.ticks
                            .is_none_or(|launched| ties.leader_ticks.is_none_or(|t| t == launched))
                });
                // A watched process is not reaped yet, so its number is
                // still its own: an ancestor with that number is it.
                s.has(c.pid)
                    || launch_session
                    || (s.main_pid().is_some()
                        && c.session.is_some_and(|sid| s.session() == Some(sid)))
                    || ties.ancestors.iter().any(|&a| s.has(a))
            })
            .map(|(other, _)| Refusal::OtherService(other.clone()))
    }

    /// An sd_notify message, from a process of the service it counts for:
    /// `from` is the sender, its session and its cgroup.
    pub(super) fn on_notify(
        &mut self,
        from: (Pid, Option<Pid>, &CgroupMembership),
        message: crate::notify::Message,
        main: Option<Named>,
        fds: Option<Parcel>,
        now: std::time::Instant,
        actions: &mut Vec<Action>,
    ) {
        let (sender, session, cgroup) = from;
        let Some(name) = self.sender_service(sender, session, cgroup) else {
            match fds {
                Some(_) if message.barrier => {
                    debug!("a BARRIER=1 from {sender}, which belongs to no service")
                }
                Some(p) => warn!(
                    "closing the {} descriptor(s) sent by {sender}, which belongs to no service",
                    p.count
                ),
                None => {
                    debug!("ignoring a notification from {sender}, which belongs to no service")
                }
            }
            return;
        };
        let refusal = main.as_ref().and_then(|named| {
            let c = named.candidate.as_ref()?;
            self.owner_elsewhere(&name, c, &named.ties)
        });
        let identity = self.settings.identity;
        let Some(s) = self.services.get_mut(&name) else {
            return;
        };
        // The run an overlapped restart replaces may still store
        // descriptors; its readiness, main PID and status are not the
        // new run's.
        if s.outgoing.as_ref().is_some_and(|o| o.owns(sender, session)) {
            debug!("{name}: a message from the old run ({sender}) counts for the fd store alone");
            fd_store_request(&*s, message.fd_store, fds, message.barrier, actions);
            return;
        }
        super::watchdog::notify_request(s, &message, now, actions);
        if let Some(text) = message.status {
            debug!("{name}: status: {text}");
            s.status_text = Some(text);
        }
        fd_store_request(&*s, message.fd_store, fds, message.barrier, actions);
        // A new main PID, while starting or running.
        if let Some(named) = main
            && matches!(s.life, Life::Starting { .. } | Life::Running { .. })
            && s.main_pid() != Some(named.pid)
        {
            let pid = named.pid;
            let verdict = match (named.candidate, refusal, s.launch) {
                (None, ..) => Err(format!("PID {pid} is not alive")),
                (Some(_), Some(refusal), _) => Err(refusal.to_string()),
                (Some(_), None, None) => Err("the launch is unknown".to_string()),
                (Some(c), None, Some(launch)) => {
                    let ctx = crate::pidfile::Context {
                        foster: identity.pid,
                        launcher: launch.pid,
                        launched_ticks: launch.ticks,
                        foster_session: identity.session,
                    };
                    crate::pidfile::validate(
                        &c,
                        &named.ties,
                        &ctx,
                        &name,
                        &s.pids(),
                        Claim::MainPid,
                    )
                    .map(|()| c)
                    .map_err(|r| r.to_string())
                }
            };
            match verdict {
                Ok(c) => {
                    info!("{name}: main process is now {pid} (MAINPID from {sender})");
                    let moved = |origin: &Origin| Origin {
                        source: PidSource::Notify,
                        session: c.session,
                        ticks: origin.ticks,
                    };
                    match &mut s.life {
                        Life::Starting { main, origin, .. } => {
                            *main = pid;
                            *origin = moved(origin);
                        }
                        Life::Running {
                            watched, origin, ..
                        } => {
                            *watched = Watched::one(pid);
                            *origin = moved(origin);
                        }
                        _ => {}
                    }
                    s.last_source = PidSource::Notify;
                    actions.push(Action::Follow(pid));
                }
                Err(why) => warn!("{name}: refusing MAINPID={pid} from {sender}: {why}"),
            }
        }
        if message.ready
            && s.unit.kind == Kind::Notify
            && s.verdict.is_none()
            && let Life::Starting {
                since,
                main,
                origin,
                ..
            } = s.life
        {
            info!("{name}: ready");
            s.life = Life::Running {
                since,
                watched: Watched::one(main),
                origin,
            };
        }
    }
}

/// The fd store's part of a message from one of `s`'s processes: what to
/// keep or drop. Descriptors not handed to the store are closed by the
/// event loop once the message is handled.
fn fd_store_request(
    s: &Service,
    request: FdStoreRequest,
    fds: Option<Parcel>,
    barrier: bool,
    actions: &mut Vec<Action>,
) {
    let name = s.name();
    match request {
        // The descriptor of a BARRIER=1 is closed with the turn: that is
        // the answer the sender waits for.
        FdStoreRequest::None if barrier => {}
        FdStoreRequest::None => {
            if let Some(p) = fds {
                warn!(
                    "{name}: closing {} descriptor(s) sent without FDSTORE=1",
                    p.count
                );
            }
        }
        FdStoreRequest::Store {
            name: fd_name,
            poll,
            bad_name,
        } => {
            if let Some(bad) = bad_name {
                warn!(
                    "{name}: ignoring FDNAME={bad:?}: a name is 1 to 255 characters of ASCII, without ':' or control characters; storing as {fd_name:?}"
                );
            }
            match fds {
                None => debug!("{name}: FDSTORE=1 without descriptors"),
                Some(p) if s.unit.fd_store == 0 => warn!(
                    "{name}: FDSTORE=1, but its fd_store is 0: closing {} descriptor(s)",
                    p.count
                ),
                Some(p) => actions.push(Action::StoreFds {
                    service: s.id,
                    parcel: p.id,
                    name: fd_name,
                    poll,
                    max: usize::try_from(s.unit.fd_store).unwrap_or(usize::MAX),
                }),
            }
        }
        FdStoreRequest::Remove { name: Ok(fd_name) } => {
            if let Some(p) = fds {
                warn!(
                    "{name}: closing {} descriptor(s) sent with FDSTOREREMOVE=1",
                    p.count
                );
            }
            actions.push(Action::RemoveStoredFds {
                service: s.id,
                name: fd_name,
            });
        }
        FdStoreRequest::Remove { name: Err(bad) } => {
            warn!("{name}: FDSTOREREMOVE=1 needs a valid FDNAME= (found {bad:?}): nothing removed")
        }
    }
}
