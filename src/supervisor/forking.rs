//! The forking-service decisions: a daemon named by its pidfile, guessed
//! among the processes foster adopted since the launch, or handed over to a
//! successor; and the end of a wait when nothing of the service is left.

use std::time::Instant;

use log::{debug, info, warn};

use super::{Action, Main, PidfileLock, PidfileReading, Supervisor, kill_service, signal_service};
use crate::pidfile::{Candidate, Claim, Context};
use crate::service::{Life, Origin, PidSource, Stop, Watched};
use crate::status::WaitStatus;
use crate::sys::Pid;
use crate::unit::Kind;

impl Supervisor {
    /// A forking service's pidfile was read: adopt a valid PID as the main
    /// process, see a handover through, or keep waiting.
    pub(super) fn on_pidfile(
        &mut self,
        name: &str,
        reading: PidfileReading,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        // Processes that are someone else's: the main command's, other
        // services'. Reparented to foster and young, they would pass the
        // checks below.
        let foreign = reading
            .candidate
            .as_ref()
            .and_then(|c| self.owner_elsewhere(name, c, &reading.ties));
        let root = reading.ties.adopted_root;
        let lock = reading.lock;
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let path = s
            .unit
            .pidfile
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // The kernel's word: a daemon that held the lock on its pidfile
        // and no longer does while it runs is worth a word, once; the
        // file's text is not trusted over the daemon foster follows.
        if let Life::Running { watched, .. } = &s.life {
            if s.pidfile_locker == Some(watched.main) && lock == PidfileLock::Unlocked {
                let text = reading
                    .pid
                    .map(|p| format!(" (it now says {p})"))
                    .unwrap_or_default();
                warn!(
                    "{name}: suspicious: {path} is no longer locked by {}, which held it{text}; foster goes on following {}",
                    watched.main, watched.main
                );
                s.pidfile_locker = None;
            }
            return;
        }
        if let PidfileLock::HeldByOther { text } = lock
            && let Some(holder) = reading.pid
        {
            let says = text.map_or_else(|| "no PID".to_string(), |p| format!("PID {p}"));
            info!("{name}: {path} says {says}, but its lock is held by {holder}: judging {holder}");
        }
        // Only a daemon awaited, or a successor looked for, reads it.
        let (since, emptied, dead) = match &s.life {
            Life::AwaitingDaemon { since, emptied, .. } => (*since, *emptied, None),
            Life::Succession {
                since,
                dead,
                status,
                ..
            }
            | Life::AwaitingSuccessor {
                since,
                dead,
                status,
                ..
            } => (*since, false, Some((*dead, *status))),
            _ => return,
        };
        let awaiting = matches!(s.life, Life::AwaitingSuccessor { .. });
        let verdict = match (
            reading.pid,
            reading.stale,
            reading.candidate,
            reading.context,
            foreign,
        ) {
            (None, ..) => Err("it holds no PID yet".to_string()),
            (Some(_), true, ..) => Err("it is left over from before the launch".to_string()),
            (Some(pid), _, None, ..) => Err(format!("PID {pid} is not alive")),
            (Some(pid), _, Some(_), ..) if dead.is_some_and(|(d, _)| d == pid) => {
                Err(format!("it still names {pid}, which has exited"))
            }
            (Some(pid), _, Some(_), _, Some(refusal)) => {
                warn!("{name}: refusing PID {pid} from {path}: {refusal}");
                Err(format!("refused PID {pid}: {refusal}"))
            }
            (Some(pid), _, Some(c), Some(ctx), None) => match crate::pidfile::validate(
                &c,
                &reading.ties,
                &ctx,
                name,
                &s.pids(),
                Claim::Pidfile,
            ) {
                Ok(()) => Ok((
                    pid,
                    reading.exited,
                    Origin {
                        source: PidSource::Pidfile,
                        session: c.session,
                        ticks: ctx.launched_ticks,
                    },
                )),
                Err(refusal) => {
                    warn!("{name}: refusing PID {pid} from {path}: {refusal}");
                    Err(format!("refused PID {pid}: {refusal}"))
                }
            },
            (Some(_), _, Some(_), None, None) => Err("the launch is unknown".to_string()),
        };
        match verdict {
            Ok((pid, Some(status), _)) => {
                // The daemon wrote its pidfile and was gone before it was
                // read: its held exit gives the real status.
                match dead {
                    Some((old, _)) => {
                        info!("{name}: handed over from {old} to {pid}, which {status}")
                    }
                    None => warn!("{name}: daemon {pid} (from {path}) started, then {status}"),
                }
                actions.push(Action::Release(pid));
                s.last_source = PidSource::Pidfile;
                s.reason = Some(format!("daemon {pid} started, then {status}"));
                self.service_ended(name, status, now, actions);
            }
            Ok((pid, None, origin)) => {
                match dead {
                    Some((old, _)) => {
                        info!("{name}: handed over from {old} to {pid} (pidfile {path})")
                    }
                    None => info!("{name}: main process {pid} (from {path})"),
                }
                // What lived on beside the old daemon (its monitor) is
                // watched beside the new one; so is the process foster
                // adopted that started it (a monitor in a session of its
                // own), when it is the service's.
                let mut others: Vec<Pid> =
                    s.others().iter().copied().filter(|&p| p != pid).collect();
                s.pidfile_locker = (lock != PidfileLock::Unlocked).then_some(pid);
                let launcher = s.launch.map(|l| l.pid);
                if let Some((monitor, ticks)) = root
                    && monitor != pid
                    && Some(monitor) != launcher
                    && origin.ticks.is_none_or(|t| ticks >= t)
                    && !others.contains(&monitor)
                {
                    info!("{name}: {pid} was started by {monitor}, watched beside it");
                    others.push(monitor);
                    actions.push(Action::Follow(monitor));
                }
                s.last_source = PidSource::Pidfile;
                s.life = Life::Running {
                    since,
                    watched: Watched { main: pid, others },
                    origin,
                };
                actions.push(Action::Follow(pid));
            }
            Err(why) if dead.is_none() && emptied => {
                warn!(
                    "{name}: never wrote a valid pidfile, and no process of it is left ({path}: {why})"
                );
                s.reason = Some("never wrote a valid pidfile, and no process of it is left".into());
                self.service_ended(name, WaitStatus::Exited(1), now, actions);
            }
            Err(why) => match dead {
                None => debug!("{name}: pidfile {path}: {why}; waiting"),
                Some(_) if awaiting => {
                    debug!("{name}: pidfile {path}: {why}; still waiting for a successor")
                }
                // A daemon that exited well while processes of it may live
                // on (one re-daemonizing), or one with a monitor beside it:
                // a successor may be on its way. foster looks at what lives.
                Some((old, status))
                    if status == WaitStatus::Exited(0) || !s.others().is_empty() =>
                {
                    debug!("{name}: pidfile {path}: {why}; looking for what {old} left");
                    actions.push(Action::FindAdopted(s.id));
                }
                // No successor, and nothing that would start one: the
                // daemon has ended for good.
                Some((_, status)) => self.daemon_ended(name, status, now, actions),
            },
        }
    }

    /// A forking service without a pidfile: its processes are the ones
    /// foster adopted since the launch. One is the main PID; several are
    /// supervised as a set. Each is told apart from other services' by PID
    /// and session; a cgroup would make it exact. During a stop, what a
    /// followed daemon left in its session is found the same way.
    pub(super) fn on_adopted(
        &mut self,
        name: &str,
        found: Vec<(Candidate, Option<WaitStatus>)>,
        context: Option<Context>,
        members: Option<Vec<Pid>>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let mut known = Vec::new();
        let mut sessions = Vec::new();
        if let Main::Running(pid) = self.main {
            known.push(pid);
        }
        for (other, s) in &self.services {
            if other == name {
                continue;
            }
            known.extend(s.pids());
            match s.main_pid() {
                Some(pid) if !s.is_followed() => sessions.push(pid),
                _ => sessions.extend(s.session()),
            }
        }
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let stopping = match &s.life {
            Life::AwaitingDaemon { .. }
            | Life::Succession { .. }
            | Life::AwaitingSuccessor { .. } => false,
            Life::Stopping(Stop { gone: Some(_), .. }) => true,
            _ => return,
        };
        // A forking service's launch is the tracker's; any other's is the
        // service's own (its first process leads its session).
        let identity = self.settings.identity;
        let context = context.or_else(|| {
            s.launch.map(|l| Context {
                foster: identity.pid,
                launcher: l.pid,
                launched_ticks: l.ticks,
                foster_session: identity.session,
            })
        });
        let Some(ctx) = context else {
            warn!("{name}: the launch is unknown; cannot tell its processes");
            if let Life::Stopping(Stop {
                gone: Some((_, status)),
                ..
            }) = s.life
            {
                self.stop_finished(name, status, now, actions);
            }
            return;
        };
        if stopping {
            let Life::Stopping(stop) = &s.life else {
                return;
            };
            // A followed daemon stopped: wait for what is left of its session.
            let left: Vec<Pid> = found
                .iter()
                .filter(|(c, st)| {
                    st.is_none()
                        && c.ppid == Some(ctx.foster)
                        && c.started_since(stop.origin.ticks)
                        && match &members {
                            Some(members) => members.contains(&c.pid),
                            None => {
                                c.session.is_some()
                                    && c.session == stop.origin.session
                                    && !known.contains(&c.pid)
                            }
                        }
                })
                .map(|(c, _)| c.pid)
                .collect();
            let status = stop.gone.map(|(_, st)| st);
            match (left.split_first(), status) {
                (Some((&first, rest)), _) => {
                    info!(
                        "{name}: main process gone; waiting for {} more of its processes {left:?}",
                        left.len()
                    );
                    if let Life::Stopping(stop) = &mut s.life {
                        stop.left = Some(Watched {
                            main: first,
                            others: rest.to_vec(),
                        });
                    }
                    actions.extend(left.iter().copied().map(Action::Follow));
                    // They get the stop signal too, and SIGKILL at the
                    // deadline (at once if it has passed).
                    signal_service(s, s.unit.stop_signal, actions);
                    signal_service(s, libc::SIGCONT, actions);
                    let stop_timeout = s.unit.stop_timeout;
                    let killed = matches!(&s.life, Life::Stopping(stop) if stop.killed);
                    if killed {
                        kill_service(s, actions);
                    } else if let Life::Stopping(stop) = &mut s.life
                        && stop.deadline.is_none()
                    {
                        stop.deadline = Some(now + stop_timeout);
                    }
                }
                (None, Some(status)) => self.stop_finished(name, status, now, actions),
                (None, None) => {}
            }
            return;
        }
        let mut ours: Vec<_> = found
            .into_iter()
            .filter(|(c, st)| {
                c.ppid == Some(ctx.foster)
                    && c.session != ctx.foster_session
                    && ![Pid::INIT, ctx.foster, ctx.launcher].contains(&c.pid)
                    && c.started_since(ctx.launched_ticks)
                    && match &members {
                        // A held zombie has left its cgroup already.
                        Some(members) => {
                            (members.contains(&c.pid) || st.is_some()) && !known.contains(&c.pid)
                        }
                        None => {
                            !known.contains(&c.pid)
                                && !c.session.is_some_and(|sid| sessions.contains(&sid))
                        }
                    }
            })
            .collect();
        ours.sort_by_key(|(c, _)| (c.start_ticks, c.pid));
        if s.unit.pidfile.is_some() {
            // A daemon named by its pidfile died and the file names no
            // successor yet: while processes of the service live on, one
            // may still write it.
            let (since, origin, dead, status, deadline, awaiting) = match &s.life {
                Life::Succession {
                    since,
                    origin,
                    dead,
                    status,
                    ..
                } => (
                    *since,
                    *origin,
                    *dead,
                    *status,
                    now + s.unit.start_timeout,
                    false,
                ),
                Life::AwaitingSuccessor {
                    since,
                    origin,
                    dead,
                    status,
                    deadline,
                    ..
                } => (*since, *origin, *dead, *status, *deadline, true),
                _ => return,
            };
            let mut left: Vec<Pid> = s.others().to_vec();
            for (c, held) in &ours {
                match held {
                    // Ended already, its exit held: nothing to wait for.
                    Some(_) => actions.push(Action::Release(c.pid)),
                    None if !left.contains(&c.pid) && c.pid != dead => {
                        left.push(c.pid);
                        actions.push(Action::Follow(c.pid));
                    }
                    None => {}
                }
            }
            if left.is_empty() {
                self.daemon_ended(name, status, now, actions);
                return;
            }
            if !awaiting {
                let file = s
                    .unit
                    .pidfile
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                info!(
                    "{name}: main process {dead} {status}; waiting for its successor in {file} ({} of its processes live on: {left:?})",
                    left.len()
                );
            }
            s.life = Life::AwaitingSuccessor {
                since,
                origin,
                dead,
                status,
                deadline,
                left,
            };
            return;
        }
        let (since, dead) = match &s.life {
            Life::AwaitingDaemon { since, .. } => (*since, None),
            Life::Succession {
                since,
                dead,
                status,
                ..
            } => (*since, Some((*dead, *status))),
            _ => return,
        };
        s.last_source = PidSource::Guessed;
        let live: Vec<_> = ours.iter().filter(|(_, st)| st.is_none()).collect();
        if let Some((first, _)) = live.first() {
            let pids: Vec<Pid> = live.iter().map(|(c, _)| c.pid).collect();
            match dead {
                Some((old, _)) => info!("{name}: {old} is gone; following {pids:?}, adopted since"),
                None if pids.len() == 1 => info!(
                    "{name}: main process {} (guessed: the one process adopted since the launch)",
                    first.pid
                ),
                None => info!(
                    "{name}: {} processes adopted since the launch {pids:?}; supervised as a set",
                    pids.len()
                ),
            }
            s.life = Life::Running {
                since,
                watched: Watched {
                    main: first.pid,
                    others: pids.iter().skip(1).copied().collect(),
                },
                origin: Origin {
                    source: PidSource::Guessed,
                    session: first.session,
                    ticks: ctx.launched_ticks,
                },
            };
            actions.extend(pids.into_iter().map(Action::Follow));
            return;
        }
        let status = match (dead, ours.as_slice()) {
            (Some((_, status)), _) => return self.daemon_ended(name, status, now, actions),
            (None, [(c, Some(status))]) => {
                warn!("{name}: daemon {} started, then {status}", c.pid);
                actions.push(Action::Release(c.pid));
                s.reason = Some(format!("daemon {} started, then {status}", c.pid));
                *status
            }
            _ => {
                warn!("{name}: the launcher exited well but left no process behind");
                s.reason = Some("the launcher left no process behind".into());
                WaitStatus::Exited(0)
            }
        };
        self.service_ended(name, status, now, actions);
    }

    /// No process of the service is left. A forking service still waiting
    /// for its pidfile gets one last reading, which then decides.
    pub(super) fn on_cgroup_empty(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if s.unit.kind != Kind::Forking {
            return;
        }
        match &mut s.life {
            // Noted even before the launcher's exit is reaped (the cgroup
            // may empty first): its pidfile then gets one reading, which
            // decides.
            Life::Starting { emptied, .. } => *emptied = true,
            Life::AwaitingDaemon { emptied, .. } if !*emptied => {
                *emptied = true;
                if s.unit.pidfile.is_some() {
                    debug!("{name}: no process of it is left; reading its pidfile one last time");
                    actions.push(Action::ReadPidfile(s.id));
                }
            }
            // Nothing is left that could write a successor's PID.
            Life::AwaitingSuccessor { status, .. } => {
                let status = *status;
                info!("{name}: no process of it is left; no successor will come");
                self.daemon_ended(name, status, now, actions);
            }
            _ => {}
        }
    }
}
