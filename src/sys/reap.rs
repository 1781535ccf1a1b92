//! Reaping: `waitpid` and `waitid` with the raw status, so that an exit by
//! a real-time signal is never lost, and a look at an ended child that
//! leaves the zombie in place.

use std::ffi::c_int;
use std::io;

use super::Pid;
use crate::status::WaitStatus;

/// What one non-blocking `waitpid` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reaped {
    /// A child ended; its status is kept raw, so an exit by a real-time
    /// signal is never lost (nix's `waitpid` errors on those and the exit is
    /// gone).
    Child(Pid, WaitStatus),
    /// Children remain, none has ended yet.
    NoneReady,
    /// foster has no children left at all (`ECHILD`).
    NoChildren,
}

/// Reaps one ended child, if any: `waitpid(-1, &status, WNOHANG)`
/// (`waitpid(2)`).
pub fn reap_one() -> io::Result<Reaped> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable c_int for the call's duration.
        let ret = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if ret == -1 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ECHILD) => Ok(Reaped::NoChildren),
                Some(libc::EINTR) => continue,
                _ => Err(err),
            };
        }
        // 0: children remain, none has ended.
        return Ok(match Pid::new(ret) {
            Some(pid) => Reaped::Child(pid, WaitStatus::from_raw(status)),
            None => Reaped::NoneReady,
        });
    }
}

/// Looks at an ended child without reaping it: `waitid(idtype, id, …,
/// WEXITED | WNOHANG | WNOWAIT)`. The zombie stays, so its PID cannot be
/// reused while foster decides what it was. `pid`: `None` for any child.
pub fn peek_exited(pid: Option<Pid>) -> io::Result<Reaped> {
    let (idtype, id) = match pid {
        // A `Pid` is positive: its number is its absolute value.
        Some(pid) => (libc::P_PID, pid.get().unsigned_abs()),
        None => (libc::P_ALL, 0),
    };
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of the plain C struct.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid and writable for the call's duration.
        let ret = unsafe {
            libc::waitid(
                idtype,
                id,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if ret == -1 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ECHILD) => Ok(Reaped::NoChildren),
                Some(libc::EINTR) => continue,
                _ => Err(err),
            };
        }
        // SAFETY: waitid filled `info` for a child-state change (or left
        // si_pid 0 when none was ready, as WNOHANG documents).
        let (child, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        let Some(child) = Pid::new(child) else {
            return Ok(Reaped::NoneReady);
        };
        let status = match code {
            libc::CLD_EXITED => WaitStatus::Exited((status & 0xff) as u8),
            libc::CLD_DUMPED => WaitStatus::Signaled {
                sig: status,
                core: true,
            },
            _ => WaitStatus::Signaled {
                sig: status,
                core: false,
            },
        };
        return Ok(Reaped::Child(child, status));
    }
}

/// Reaps `pid` if it has ended: `waitpid(pid, &status, WNOHANG)`.
pub fn reap_pid(pid: Pid) -> io::Result<Option<WaitStatus>> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable c_int for the call's duration.
        let ret = unsafe { libc::waitpid(pid.get(), &mut status, libc::WNOHANG) };
        return match ret {
            0 => Ok(None),
            -1 => {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                Err(err)
            }
            _ => Ok(Some(WaitStatus::from_raw(status))),
        };
    }
}
