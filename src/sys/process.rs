//! foster's own process: its identity (PID, parent, user), its attributes
//! (subreaper, parent-death signal, working directory, the terminal's
//! foreground), its signal mask and the signalfd it reads signals from,
//! and the sending of signals to others.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::{Pid, errno_result};

// ---------------------------------------------------------------------------
// Signals

/// `SIGRTMIN`, as the C library reserves it (glibc keeps two for itself).
pub fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

/// `SIGRTMAX`.
pub fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// The signal mask foster started with, kept to restore it in children.
pub struct InheritedMask(pub(super) SigSet);

/// Blocks every signal and returns the mask that was in place before
/// (`sigprocmask(2)`). Signals are then only ever read from a signalfd.
///
/// Blocked signals are queued even for PID 1 (the kernel drops signals to a
/// namespace's init only when their handler is the default and they are not
/// blocked), and a blocked SIGTTIN/SIGTTOU never stops foster: the tty layer
/// treats a blocked job-control signal as ignored. Faults (SIGSEGV from a
/// real bug) are still delivered: the kernel unblocks a forced signal.
pub fn block_all_signals() -> io::Result<InheritedMask> {
    SigSet::all()
        .thread_swap_mask(SigmaskHow::SIG_SETMASK)
        .map(InheritedMask)
        .map_err(io::Error::from)
}

/// A non-blocking, close-on-exec signalfd for every signal (`signalfd(2)`).
pub struct Signals(SignalFd);

impl Signals {
    pub fn open() -> io::Result<Signals> {
        SignalFd::with_flags(
            &SigSet::all(),
            SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
        )
        .map(Signals)
        .map_err(io::Error::from)
    }

    /// The next pending signal's number and the PID that sent it (`None`
    /// for the kernel, and for a sender outside foster's PID namespace), or
    /// `None` when none is pending.
    pub fn read(&self) -> io::Result<Option<(i32, Option<Pid>)>> {
        match self.0.read_signal() {
            Ok(Some(info)) => {
                let sender = i32::try_from(info.ssi_pid).ok().and_then(Pid::new);
                Ok(Some((info.ssi_signo as i32, sender)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

// kill(2) gives one argument three meanings by its sign: a process when
// positive, a process group when negative, everyone when -1 (and foster's
// own group when 0). One function per meaning, each taking a `Pid` (never
// 0 or negative), so that a number computed by mistake can never widen a
// signal to a group or to every process. Real-time signals included,
// which nix's `Signal` cannot name.

/// Sends `sig` to the process `pid` (`kill(2)` with `pid` > 0).
pub fn signal_process(pid: Pid, sig: i32) -> io::Result<()> {
    kill(pid.get(), sig)
}

/// Sends `sig` to every process in the process group `pgid` (`kill(2)`
/// with `-pgid`, as `killpg(3)` does). `EINVAL` for group 1: `kill(-1, …)`
/// means every process, not group 1 (which is init's group: foster's own
/// when it is PID 1).
pub fn signal_group(pgid: Pid, sig: i32) -> io::Result<()> {
    if pgid == Pid::INIT {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    kill(-pgid.get(), sig)
}

/// Sends `sig` to every process foster may signal except itself and the
/// init of its PID namespace (`kill(2)` with -1): as PID 1 of a namespace,
/// everything else in it. `ESRCH` when there is nobody to signal.
pub fn signal_everyone(sig: i32) -> io::Result<()> {
    kill(-1, sig)
}

/// `kill(2)` itself, with its sign convention: private to the three above.
fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    errno_result(unsafe { libc::kill(pid, sig) }).map(drop)
}

// ---------------------------------------------------------------------------
// Identity and attributes

/// foster's own PID (`getpid(2)`). The call cannot fail, and a process's
/// own PID is positive in its namespace: `None` would be a kernel's broken
/// promise, for the caller to refuse.
pub fn getpid() -> Option<Pid> {
    Pid::new(nix::unistd::getpid().as_raw())
}

/// foster's parent (`getppid(2)`); `None` when it is outside foster's PID
/// namespace (the call says 0: as the namespace's init, or once the parent
/// that made the namespace is gone).
pub fn getppid() -> Option<Pid> {
    Pid::new(nix::unistd::getppid().as_raw())
}

/// Makes foster the reaper of its orphaned descendants
/// (`prctl(2)` `PR_SET_CHILD_SUBREAPER`).
pub fn set_child_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// Asks the kernel to send `sig` to foster when its parent dies
/// (`prctl(2)` `PR_SET_PDEATHSIG`). Any signal number, real-time included.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    let sig =
        libc::c_ulong::try_from(sig).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: PR_SET_PDEATHSIG takes the signal number by value; the other
    // arguments are unused and passed as zero, as prctl(2) asks.
    errno_result(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) }).map(drop)
}

/// The current directory as a descriptor (`open(2)` with `O_PATH`), for a
/// child to return to with `fchdir` after foster itself moved to `/`.
pub fn open_current_dir() -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(".")
        .map(OwnedFd::from)
}

/// `chdir("/")`: an init must not keep the directory it was started in busy,
/// or that file system can never be unmounted.
pub fn chdir_root() -> io::Result<()> {
    nix::unistd::chdir("/").map_err(io::Error::from)
}

/// foster's effective user ID (`geteuid(2)`).
pub fn geteuid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

// ---------------------------------------------------------------------------
// Terminal

/// Whether foster's process group is the foreground group of its controlling
/// terminal (`open(2)` `/dev/tty`, `tcgetpgrp(3)`). Only then does the child
/// take the foreground: an init started in the background of a shell must
/// not steal the terminal from that shell.
pub fn owns_terminal_foreground() -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/tty")
    else {
        return false;
    };
    match nix::unistd::tcgetpgrp(tty.as_fd()) {
        Ok(pgrp) => pgrp == nix::unistd::getpgrp(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_1_is_never_signalled_as_everyone() {
        // Signal 0 only checks; were group 1 passed through, kill(-1, 0)
        // would succeed (everyone). A PID that is not positive cannot be
        // passed at all (see `Pid::new`).
        let group_1 = signal_group(Pid::INIT, 0)
            .err()
            .and_then(|e| e.raw_os_error());
        assert_eq!(group_1, Some(libc::EINVAL));
        let me = getpid().expect("a PID of our own");
        assert!(signal_process(me, 0).is_ok());
        // 0 when the parent is outside our PID namespace.
        let parent = nix::unistd::getppid().as_raw();
        assert_eq!(getppid().map_or(0, Pid::get), parent);
    }
}
