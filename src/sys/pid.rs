//! A process ID, as the kernel gives one to a process: a positive number.
//!
//! The kernel's calls give the same integer other meanings by its sign:
//! to `kill(2)` 0 is the caller's own process group, -1 everyone, -N the
//! group N; to `waitpid(2)` 0 and -1 are "any child"; `/proc` writes 0 for
//! a parent or session leader outside the reader's PID namespace, and
//! signalfd for a signal the kernel sent. None of those is a process, so
//! none of them is a [`Pid`]: a number read from outside (a pidfile,
//! `MAINPID=`, `/proc`, a wait, a signal's sender) becomes one only through
//! [`Pid::new`], and where a PID may be absent foster says `Option<Pid>`,
//! never 0.

use std::fmt;
use std::num::NonZeroI32;
use std::str::FromStr;

/// The ID of one process: always positive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(NonZeroI32);

impl Pid {
    /// PID 1: the init of a PID namespace (foster itself, as a machine's
    /// or a container's init).
    pub const INIT: Pid = Pid(match NonZeroI32::new(1) {
        Some(one) => one,
        // 1 is not zero: never taken (and computed at compile time).
        None => NonZeroI32::MAX,
    });

    /// The process numbered `raw`; `None` for 0 and negative numbers,
    /// which name no process.
    pub const fn new(raw: i32) -> Option<Pid> {
        if raw <= 0 {
            return None;
        }
        match NonZeroI32::new(raw) {
            Some(n) => Some(Pid(n)),
            None => None,
        }
    }

    /// The number, for the kernel's calls and for `/proc` paths.
    pub const fn get(self) -> i32 {
        self.0.get()
    }
}

/// The bare number, as in log messages and `fosterctl status`.
impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// The bare number too, so that a list of PIDs logs as `[40, 41]`.
impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// Text that is not a positive decimal number (as `i32` parses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAPid;

impl fmt::Display for NotAPid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a process ID (a positive decimal number)")
    }
}

impl std::error::Error for NotAPid {}

/// Parses decimal text as `i32` does, refusing 0 and negative numbers: for
/// lists of processes (`/proc`, `cgroup.procs`), where each entry is one.
impl FromStr for Pid {
    type Err = NotAPid;

    fn from_str(text: &str) -> Result<Pid, NotAPid> {
        text.parse().ok().and_then(Pid::new).ok_or(NotAPid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_positive_number_is_a_pid() {
        for raw in [0, -1, -2, i32::MIN] {
            assert_eq!(Pid::new(raw), None, "{raw}");
            assert_eq!(raw.to_string().parse::<Pid>(), Err(NotAPid), "{raw}");
        }
        for raw in [1, 2, 4242, i32::MAX] {
            assert_eq!(Pid::new(raw).map(Pid::get), Some(raw));
            assert_eq!(raw.to_string().parse::<Pid>().map(Pid::get), Ok(raw));
        }
        assert_eq!(Pid::new(1), Some(Pid::INIT));
        assert_eq!("".parse::<Pid>(), Err(NotAPid));
        assert_eq!("4x".parse::<Pid>(), Err(NotAPid));
    }

    #[test]
    fn prints_as_the_bare_number() {
        let pids: Vec<Pid> = [40, 41].into_iter().filter_map(Pid::new).collect();
        assert_eq!(format!("{} {:?}", pids[0], pids), "40 [40, 41]");
    }
}
