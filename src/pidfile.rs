//! Pidfiles and the rules a PID read from one must pass before foster
//! treats it as a service's main process.
//!
//! A pidfile is somebody else's file: it may be empty, half written, left
//! over from an earlier run, or name a process that has nothing to do with
//! the service. foster only ever acts on a PID that passes [`validate`],
//! and then only through a pidfd, never by number. A notify service's
//! `MAINPID=` is a claim of the same kind and passes the same rules.

use std::fmt;

use crate::sys::Pid;

/// The PID in a pidfile's bytes: decimal digits and at most one trailing
/// newline. Anything else (empty, partial, garbage, zero) is "not yet".
pub fn parse(bytes: &[u8]) -> Option<Pid> {
    let digits = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .and_then(Pid::new)
}

/// What `/proc` says about a process a pidfile names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub pid: Pid,
    /// `None` when its parent is outside foster's PID namespace.
    pub ppid: Option<Pid>,
    /// `None` when the leader of its session is outside foster's PID
    /// namespace.
    pub session: Option<Pid>,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

impl Candidate {
    /// Whether it started at or after `ticks` (at any time, when `ticks`
    /// is unknown).
    pub fn started_since(&self, ticks: Option<u64>) -> bool {
        ticks.is_none_or(|t| self.start_ticks >= t)
    }
}

/// What ties a process to a service, beyond its parent and session: read
/// from `/proc` for the one process a pidfile or a `MAINPID=` names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ties {
    /// Its parent, its parent's parent and so on, nearest first, up to (not
    /// including) foster or PID 1; at most [`MAX_ANCESTRY`] of them.
    pub ancestors: Vec<Pid>,
    /// Whose cgroup it is in.
    pub cgroup: CgroupMembership,
    /// The service named by `FOSTER_SERVICE_NAME` in the environment it was
    /// started with (foster sets it for each service; it survives forks,
    /// reparenting and new sessions, though not an exec that clears it).
    pub marked: Option<String>,
    /// When the leader of its session started, if that process is alive:
    /// a session whose number was a service's launcher's is that launch's
    /// only if its leader is that launcher (the same start time), or gone.
    pub leader_ticks: Option<u64>,
    /// The furthest of [`Self::ancestors`] when its parent is foster (a
    /// process foster started or adopted: a daemon's monitor, say), with
    /// its start time.
    pub adopted_root: Option<(Pid, u64)>,
}

/// How many ancestors [`Ties::ancestors`] holds at most.
pub const MAX_ANCESTRY: usize = 32;

/// A process's place among foster's service cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CgroupMembership {
    /// foster makes no cgroups, or the process's could not be read.
    #[default]
    Unknown,
    /// In the cgroup of this service.
    Service(String),
    /// In none of the services' cgroups (foster's own: the main command's).
    NoService,
}

/// Who is claiming a process as a service's main one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The service's pidfile names it.
    Pidfile,
    /// The service sent `MAINPID=` naming it.
    MainPid,
}

/// The facts a PID is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub foster: Pid,
    /// The launcher foster started (it leads the service's first session).
    pub launcher: Pid,
    /// When the launcher started, in the same ticks (`None` when unknown:
    /// then no process is too old).
    pub launched_ticks: Option<u64>,
    /// foster's own session (the main command's too): never a service's.
    /// `None` when its leader is outside foster's PID namespace.
    pub foster_session: Option<Pid>,
}

/// Why a PID was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Init,
    Foster,
    Launcher,
    /// Neither reparented to foster, nor in the service's session, nor
    /// started by one of the service's processes.
    NotOurs {
        ppid: Option<Pid>,
    },
    /// Started before the service was launched: a recycled or foreign PID.
    TooOld,
    /// In foster's own session: the main command's, not a service's.
    FostersSession,
    /// In another service's cgroup.
    OtherCgroup(String),
    /// In no service's cgroup, while the service has one.
    NotInCgroup,
    /// Started for another service (its `FOSTER_SERVICE_NAME` says so).
    Marked(String),
    /// One of another service's processes, or of its session, or started
    /// by one of them.
    OtherService(String),
    /// The main command's, or started by it.
    MainCommand,
    /// A health probe foster runs (or started by one).
    HealthProbe,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Init => f.write_str("it is PID 1"),
            Refusal::Foster => f.write_str("it is foster itself"),
            Refusal::Launcher => f.write_str("it is the launcher, which has exited"),
            Refusal::NotOurs { ppid } => {
                // A parent outside foster's PID namespace is 0 there, as
                // /proc says.
                let ppid = ppid.map_or(0, Pid::get);
                write!(
                    f,
                    "it is not foster's child nor in the service's session (its parent is {ppid})"
                )
            }
            Refusal::TooOld => f.write_str("it started before the service was launched"),
            Refusal::FostersSession => {
                f.write_str("it is in foster's own session (the main command's, not a service's)")
            }
            Refusal::OtherCgroup(other) => write!(f, "it is in the cgroup of service {other}"),
            Refusal::NotInCgroup => f.write_str("it is not in the service's cgroup"),
            Refusal::Marked(other) => {
                write!(
                    f,
                    "it was started for service {other} (FOSTER_SERVICE_NAME={other})"
                )
            }
            Refusal::OtherService(other) => write!(f, "it belongs to service {other}"),
            Refusal::MainCommand => f.write_str("it belongs to the main command"),
            Refusal::HealthProbe => f.write_str("it is a health probe"),
        }
    }
}

/// Accepts `c` as the main process of service `name` only if it is not
/// PID 1, not foster; not the launcher of a forking service (which has
/// exited by then); belongs to the service — in its cgroup where it has
/// one (exact), else reparented to foster as a daemon whose launcher
/// exited is, or still in the session the launcher led, or started by the
/// launcher, by one of `processes` (the service's processes foster knows),
/// or by a process foster adopted since the launch (a daemon's monitor
/// that made a session of its own: [`Ties::adopted_root`]);
/// was not started for another service; started after the launch (so a
/// recycled PID, or a stranger named by a stale or hostile file or
/// message, is refused); and is not in foster's own session. Whether it is
/// another service's (by PID, session or descent) is the supervisor's to
/// check, since only it knows the other services.
pub fn validate(
    c: &Candidate,
    ties: &Ties,
    ctx: &Context,
    name: &str,
    processes: &[Pid],
    claim: Claim,
) -> Result<(), Refusal> {
    if c.pid == Pid::INIT {
        return Err(Refusal::Init);
    }
    if c.pid == ctx.foster {
        return Err(Refusal::Foster);
    }
    if c.pid == ctx.launcher && claim == Claim::Pidfile {
        return Err(Refusal::Launcher);
    }
    match &ties.cgroup {
        CgroupMembership::Service(other) if other != name => {
            return Err(Refusal::OtherCgroup(other.clone()));
        }
        CgroupMembership::NoService => return Err(Refusal::NotInCgroup),
        CgroupMembership::Service(_) => {}
        CgroupMembership::Unknown => {
            if let Some(other) = ties.marked.as_ref().filter(|m| *m != name) {
                return Err(Refusal::Marked(other.clone()));
            }
            let descends = ties
                .ancestors
                .iter()
                .any(|a| *a == ctx.launcher || processes.contains(a))
                || ties.adopted_root.is_some_and(|(root, ticks)| {
                    root != ctx.launcher && ctx.launched_ticks.is_none_or(|t| ticks >= t)
                });
            let ours = c.pid == ctx.launcher
                || c.ppid == Some(ctx.foster)
                || c.session == Some(ctx.launcher)
                || descends;
            if !ours {
                return Err(Refusal::NotOurs { ppid: c.ppid });
            }
        }
    }
    if !c.started_since(ctx.launched_ticks) {
        return Err(Refusal::TooOld);
    }
    // Both unknown (leaders outside the namespace) counts as the same
    // session: a service's process is in one of its own making, inside.
    if c.session == ctx.foster_session {
        return Err(Refusal::FostersSession);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: i32) -> Pid {
        Pid::new(n).expect("a positive PID")
    }

    #[test]
    fn parses_only_clean_pids() {
        assert_eq!(parse(b"4242\n"), Some(pid(4242)));
        assert_eq!(parse(b"4242"), Some(pid(4242)));
        for bad in [
            &b""[..],
            b"\n",
            b"42\n\n",
            b" 42",
            b"42 ",
            b"4x2",
            b"-42",
            b"0",
            b"99999999999",
            b"\xff",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    fn ctx() -> Context {
        Context {
            foster: pid(10),
            launcher: pid(20),
            launched_ticks: Some(1000),
            foster_session: Pid::new(5),
        }
    }

    fn check(c: &Candidate, ctx: &Context) -> Result<(), Refusal> {
        validate(c, &Ties::default(), ctx, "web", &[], Claim::Pidfile)
    }

    /// A candidate; 0 for a parent or session outside the namespace.
    fn candidate(n: i32, ppid: i32, session: i32, start_ticks: u64) -> Candidate {
        Candidate {
            pid: pid(n),
            ppid: Pid::new(ppid),
            session: Pid::new(session),
            start_ticks,
        }
    }

    #[test]
    fn accepts_a_reparented_daemon_started_after_the_launch() {
        assert_eq!(check(&candidate(30, 10, 30, 1001), &ctx()), Ok(()));
        // Not yet reparented, but still in the launcher's session.
        assert_eq!(check(&candidate(31, 25, 20, 1000), &ctx()), Ok(()));
    }

    #[test]
    fn refuses_strangers_and_recycled_pids() {
        assert_eq!(check(&candidate(1, 0, 1, 5), &ctx()), Err(Refusal::Init));
        assert_eq!(
            check(&candidate(10, 1, 10, 5), &ctx()),
            Err(Refusal::Foster)
        );
        assert_eq!(
            check(&candidate(20, 10, 20, 1000), &ctx()),
            Err(Refusal::Launcher)
        );
        assert_eq!(
            check(&candidate(40, 7, 40, 2000), &ctx()),
            Err(Refusal::NotOurs { ppid: Some(pid(7)) })
        );
        assert_eq!(
            check(&candidate(41, 10, 41, 999), &ctx()),
            Err(Refusal::TooOld)
        );
        // When the launch's start time is unknown, no process is too old.
        let unknown = Context {
            launched_ticks: None,
            ..ctx()
        };
        assert_eq!(check(&candidate(41, 10, 41, 999), &unknown), Ok(()));
    }

    #[test]
    fn a_daemon_started_by_a_monitor_foster_adopted_since_the_launch_is_the_services() {
        // launcher 20 -> monitor 25 (its own session, adopted once 20
        // exited) -> daemon 30 in the monitor's session.
        let daemon = candidate(30, 25, 25, 1002);
        let by = |root: Option<(i32, u64)>| Ties {
            ancestors: vec![pid(25)],
            adopted_root: root.map(|(p, t)| (pid(p), t)),
            ..Ties::default()
        };
        let judge = |ties: &Ties| validate(&daemon, ties, &ctx(), "web", &[], Claim::Pidfile);
        assert_eq!(judge(&by(Some((25, 1001)))), Ok(()));
        // A monitor older than the launch is someone else's.
        assert_eq!(
            judge(&by(Some((25, 999)))),
            Err(Refusal::NotOurs {
                ppid: Some(pid(25))
            })
        );
        // A chain that does not end at foster ties it to nothing.
        assert_eq!(
            judge(&by(None)),
            Err(Refusal::NotOurs {
                ppid: Some(pid(25))
            })
        );
    }

    #[test]
    fn a_session_led_from_outside_the_namespace_is_fosters_own_when_fosters_is() {
        // /proc says 0 for such a leader; so it does for foster's session
        // when foster is a container's init started in someone's session.
        let outside = Context {
            foster_session: None,
            ..ctx()
        };
        assert_eq!(
            check(&candidate(30, 10, 0, 1001), &outside),
            Err(Refusal::FostersSession)
        );
        assert_eq!(check(&candidate(30, 10, 30, 1001), &outside), Ok(()));
        assert_eq!(check(&candidate(30, 10, 0, 1001), &ctx()), Ok(()));
        // A parent outside the namespace: shown as /proc shows it.
        let refusal = check(&candidate(40, 0, 40, 2000), &ctx());
        assert_eq!(refusal, Err(Refusal::NotOurs { ppid: None }));
        let message = refusal.err().map(|r| r.to_string()).unwrap_or_default();
        assert!(message.ends_with("(its parent is 0)"), "{message}");
    }
}
