//! Pidfiles and the rules a PID read from one must pass before foster
//! treats it as a service's main process.
//!
//! A pidfile is somebody else's file: it may be empty, half written, left
//! over from an earlier run, or name a process that has nothing to do with
//! the service. foster only ever acts on a PID that passes [`validate`],
//! and then only through a pidfd, never by number.

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
        .parse::<Pid>()
        .ok()
        .filter(|&p| p > 0)
}

/// What `/proc` says about a process a pidfile names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub pid: Pid,
    pub ppid: Pid,
    pub session: Pid,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

/// The facts a PID is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub foster: Pid,
    /// The launcher foster started (it leads the service's first session).
    pub launcher: Pid,
    /// When the launcher started, in the same ticks.
    pub launched_ticks: u64,
    /// foster's own session (the main command's too): never a service's.
    pub foster_session: Pid,
}

/// Why a PID was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Init,
    Foster,
    Launcher,
    /// Neither reparented to foster nor in the service's session.
    NotOurs {
        ppid: Pid,
    },
    /// Started before the service was launched: a recycled or foreign PID.
    TooOld,
    /// In foster's own session: the main command's, not a service's.
    FostersSession,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Init => f.write_str("it is PID 1"),
            Refusal::Foster => f.write_str("it is foster itself"),
            Refusal::Launcher => f.write_str("it is the launcher, which has exited"),
            Refusal::NotOurs { ppid } => {
                write!(
                    f,
                    "it is not foster's child nor in the service's session (its parent is {ppid})"
                )
            }
            Refusal::TooOld => f.write_str("it started before the service was launched"),
            Refusal::FostersSession => {
                f.write_str("it is in foster's own session (the main command's, not a service's)")
            }
        }
    }
}

/// Accepts `c` as the service's main process only if it is not PID 1, not
/// foster, not the launcher; belongs to the service (reparented to foster,
/// as a daemon whose launcher exited is, or still in the session the
/// launcher led); and started after the launch (so a recycled PID, or a
/// stranger named by a stale or hostile pidfile, is refused).
pub fn validate(c: &Candidate, ctx: &Context) -> Result<(), Refusal> {
    if c.pid == 1 {
        return Err(Refusal::Init);
    }
    if c.pid == ctx.foster {
        return Err(Refusal::Foster);
    }
    if c.pid == ctx.launcher {
        return Err(Refusal::Launcher);
    }
    if c.ppid != ctx.foster && c.session != ctx.launcher {
        return Err(Refusal::NotOurs { ppid: c.ppid });
    }
    if c.start_ticks < ctx.launched_ticks {
        return Err(Refusal::TooOld);
    }
    if c.session == ctx.foster_session {
        return Err(Refusal::FostersSession);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_clean_pids() {
        assert_eq!(parse(b"4242\n"), Some(4242));
        assert_eq!(parse(b"4242"), Some(4242));
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
            foster: 10,
            launcher: 20,
            launched_ticks: 1000,
            foster_session: 5,
        }
    }

    fn candidate(pid: Pid, ppid: Pid, session: Pid, start_ticks: u64) -> Candidate {
        Candidate {
            pid,
            ppid,
            session,
            start_ticks,
        }
    }

    #[test]
    fn accepts_a_reparented_daemon_started_after_the_launch() {
        assert_eq!(validate(&candidate(30, 10, 30, 1001), &ctx()), Ok(()));
        // Not yet reparented, but still in the launcher's session.
        assert_eq!(validate(&candidate(31, 25, 20, 1000), &ctx()), Ok(()));
    }

    #[test]
    fn refuses_strangers_and_recycled_pids() {
        assert_eq!(validate(&candidate(1, 0, 1, 5), &ctx()), Err(Refusal::Init));
        assert_eq!(
            validate(&candidate(10, 1, 10, 5), &ctx()),
            Err(Refusal::Foster)
        );
        assert_eq!(
            validate(&candidate(20, 10, 20, 1000), &ctx()),
            Err(Refusal::Launcher)
        );
        assert_eq!(
            validate(&candidate(40, 7, 40, 2000), &ctx()),
            Err(Refusal::NotOurs { ppid: 7 })
        );
        assert_eq!(
            validate(&candidate(41, 10, 41, 999), &ctx()),
            Err(Refusal::TooOld)
        );
    }
}
