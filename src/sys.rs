//! The one module that talks to the kernel.
//!
//! Every raw system call foster makes, and every `unsafe` block in the
//! crate, lives here. Each function is a small safe wrapper that names the
//! call it makes and its man page; the rest of foster sees only safe
//! functions returning `io::Result`. The crate root denies `unsafe_code`;
//! this module alone allows it, and each block says why it is sound.
//!
//! Why not `std::process::Command` for spawning: it empties the child's
//! signal mask and resets SIGPIPE, while an init must hand its child exactly
//! the mask and dispositions it inherited itself (an ignored SIGHUP from
//! `nohup` stays ignored). It also cannot make the child take the terminal's
//! foreground or rewrite `LISTEN_PID` to the child's own PID. [`spawn`] does
//! all of that between `fork` and `exec`, touching nothing but async-signal-
//! safe calls on memory prepared before the fork.
//!
//! Why foster has its own C `main` (in `src/main.rs`, calling [`args`]):
//! Rust's usual start-up code sets SIGPIPE to "ignore" before `main` runs
//! and keeps no record of what it was, so the disposition foster inherited
//! would be lost. Entering through our own `main` leaves the process
//! exactly as the kernel and our parent made it.

#![allow(unsafe_code)]

use std::ffi::{CString, OsString, c_char, c_int};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::status::WaitStatus;

/// A process ID as the kernel hands it out.
pub type Pid = i32;

/// The arguments of C's `main(argc, argv)`, copied (see the module docs for
/// why foster has its own `main`; the binary's `main` calls this).
///
/// # Safety
///
/// `argv` must point to `argc` valid pointers, each to a NUL-terminated
/// string, as the C runtime passes them to `main`.
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let mut args = Vec::new();
    for i in 0..usize::try_from(argc).unwrap_or(0) {
        // SAFETY: the caller promises `argc` valid pointers in `argv`, each
        // to a NUL-terminated string (the C runtime's, which live for the
        // whole process).
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
        args.push(OsString::from_vec(arg.to_bytes().to_vec()));
    }
    args
}

fn errno_result(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Makes sure descriptors 0, 1 and 2 are open, on `/dev/null` if they were
/// closed, so that no file foster opens later lands on them by accident.
/// (`fcntl(2)` `F_GETFD`, `open(2)`.)
pub fn ensure_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: the path is a valid NUL-terminated string; the flags are
            // plain open flags. The new descriptor takes the lowest free
            // number, which is `fd` itself, so it is deliberately kept open.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Which of descriptors 0, 1 and 2 are closed (`fcntl(2)` `F_GETFD`). The
/// kernel starts init with none open when it could not open `/dev/console`.
pub fn closed_standard_fds() -> Vec<RawFd> {
    (0..3)
        // SAFETY: F_GETFD only reads the descriptor's flags.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1)
        .collect()
}

/// Opens `path` read-write without making it the controlling terminal and
/// puts it on each descriptor in `fds` (`open(2)`, `dup2(2)`): how init
/// gets the console as its standard input, output and error.
pub fn open_onto(path: &std::path::Path, fds: &[RawFd]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)?;
    for &fd in fds {
        if file.as_raw_fd() == fd {
            continue;
        }
        // SAFETY: both are plain descriptor numbers; `fd` is one of 0..2,
        // which foster means to replace. dup2 clears FD_CLOEXEC on the copy.
        errno_result(unsafe { libc::dup2(file.as_raw_fd(), fd) })?;
    }
    if fds.contains(&file.as_raw_fd()) {
        // The descriptor landed on a standard number itself: keep it open.
        std::mem::forget(file);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The machine: what PID 1 of a VM does and a container's never does

pub use nix::mount::MsFlags as MountFlags;

/// `mount(2)`: mounts `source` of type `fstype` on `target` with `flags`
/// and the file system's own options `data` (empty for none).
pub fn mount(
    source: &str,
    target: &std::path::Path,
    fstype: &str,
    flags: MountFlags,
    data: &str,
) -> io::Result<()> {
    let data = (!data.is_empty()).then_some(data);
    nix::mount::mount(Some(source), target, Some(fstype), flags, data).map_err(io::Error::from)
}

/// `mount(2)` with `MS_REMOUNT | MS_RDONLY`: makes a mounted file system
/// read-only, flushing what it has to its device.
pub fn remount_read_only(target: &std::path::Path) -> io::Result<()> {
    nix::mount::mount(
        None::<&str>,
        target,
        None::<&str>,
        MountFlags::MS_REMOUNT | MountFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(io::Error::from)
}

/// `umount2(2)` with no flags: fails with `EBUSY` while something uses it.
pub fn unmount(target: &std::path::Path) -> io::Result<()> {
    nix::mount::umount2(target, nix::mount::MntFlags::empty()).map_err(io::Error::from)
}

/// `sync(2)`: writes every dirty buffer out before the power goes.
pub fn sync() {
    nix::unistd::sync();
}

/// `sethostname(2)`.
pub fn set_hostname(name: &str) -> io::Result<()> {
    nix::unistd::sethostname(name).map_err(io::Error::from)
}

/// `reboot(2)` `LINUX_REBOOT_CMD_CAD_OFF`: Ctrl-Alt-Del no longer resets the
/// machine at once; the kernel sends SIGINT to init instead.
pub fn ctrl_alt_del_to_sigint() -> io::Result<()> {
    nix::sys::reboot::set_cad_enabled(false).map_err(io::Error::from)
}

/// What [`reboot`] asks of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootCommand {
    PowerOff,
    Restart,
    Halt,
}

/// `reboot(2)`: powers off, restarts or halts the machine. Returns only if
/// the kernel refused (the error says why).
pub fn reboot(command: RebootCommand) -> io::Error {
    use nix::sys::reboot::RebootMode;
    let mode = match command {
        RebootCommand::PowerOff => RebootMode::RB_POWER_OFF,
        RebootCommand::Restart => RebootMode::RB_AUTOBOOT,
        RebootCommand::Halt => RebootMode::RB_HALT_SYSTEM,
    };
    match nix::sys::reboot::reboot(mode) {
        Err(e) => io::Error::from(e),
    }
}

/// Sleeps until the process is killed (`pause(2)` in a loop): where PID 1
/// of a machine ends up when even `reboot(2)` failed, since its exit would
/// panic the kernel. Signals are blocked, so nothing wakes it.
pub fn sleep_forever() -> ! {
    loop {
        // SAFETY: pause takes no arguments and only returns on a signal.
        unsafe { libc::pause() };
    }
}

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
pub struct InheritedMask(SigSet);

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

    /// The next pending signal's number and the PID that sent it (0 for
    /// the kernel), or `None` when none is pending.
    pub fn read(&self) -> io::Result<Option<(i32, Pid)>> {
        match self.0.read_signal() {
            Ok(Some(info)) => Ok(Some((info.ssi_signo as i32, info.ssi_pid as Pid))),
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Sends `sig` to `pid` (`kill(2)`): a process when positive, a process group
/// when negative, every process foster may signal when -1. Real-time signals
/// included, which nix's `Signal` cannot name.
pub fn kill(pid: Pid, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    errno_result(unsafe { libc::kill(pid, sig) }).map(drop)
}

// ---------------------------------------------------------------------------
// Process identity and attributes

/// `getpid(2)`.
pub fn getpid() -> Pid {
    nix::unistd::getpid().as_raw()
}

/// `getppid(2)`.
pub fn getppid() -> Pid {
    nix::unistd::getppid().as_raw()
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

/// Closes every descriptor from 3 up except those in `keep`
/// (`close_range(2)`, falling back to `close(2)` in a loop up to the
/// descriptor limit on kernels older than 5.9). Called once the child holds
/// what it inherited, so foster itself pins no socket, pipe or file of its
/// parent's.
pub fn close_fds_except(keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= 3).collect();
    keep.sort_unstable();
    let mut from: RawFd = 3;
    for &fd in &keep {
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd + 1;
    }
    close_range(from, RawFd::MAX);
}

fn close_range(first: RawFd, last: RawFd) {
    // SAFETY: close_range takes integers only; closing descriptors nothing
    // in foster uses cannot invalidate memory.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
    if ret == 0 {
        return;
    }
    // SAFETY: sysconf only returns a number.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    let max = if max <= 0 {
        1024
    } else {
        max.min(1 << 20) as RawFd
    };
    for fd in first..=last.min(max) {
        // SAFETY: as above; EBADF for a descriptor that is not open is fine.
        unsafe { libc::close(fd) };
    }
}

// ---------------------------------------------------------------------------
// Reaping

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
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        return match pid {
            0 => Ok(Reaped::NoneReady),
            -1 => {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::ECHILD) => Ok(Reaped::NoChildren),
                    Some(libc::EINTR) => continue,
                    _ => Err(err),
                }
            }
            pid => Ok(Reaped::Child(pid, WaitStatus::from_raw(status))),
        };
    }
}

/// Looks at an ended child without reaping it: `waitid(idtype, id, …,
/// WEXITED | WNOHANG | WNOWAIT)`. The zombie stays, so its PID cannot be
/// reused while foster decides what it was. `pid`: `None` for any child.
pub fn peek_exited(pid: Option<Pid>) -> io::Result<Reaped> {
    let (idtype, id) = match pid {
        Some(pid) => (libc::P_PID, libc::id_t::try_from(pid).unwrap_or(0)),
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
        if child == 0 {
            return Ok(Reaped::NoneReady);
        }
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
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
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

// ---------------------------------------------------------------------------
// Event sources: epoll and a timer

/// An epoll instance (`epoll_create1(2)`, `epoll_ctl(2)`, `epoll_wait(2)`).
pub struct Poller(Epoll);

impl Poller {
    pub fn new() -> io::Result<Poller> {
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map(Poller)
            .map_err(io::Error::from)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.0.as_fd()
    }

    /// Watches `fd` for input, reporting it with `token`.
    pub fn watch(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.0
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .map_err(io::Error::from)
    }

    /// Watches `fd` for room to write, reporting it with `token`.
    pub fn watch_writable(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.0
            .add(fd, EpollEvent::new(EpollFlags::EPOLLOUT, token))
            .map_err(io::Error::from)
    }

    /// Watches `fd` for `out` (writable) instead of input, or back.
    pub fn rewatch(&self, fd: BorrowedFd<'_>, token: u64, out: bool) -> io::Result<()> {
        let flags = if out {
            EpollFlags::EPOLLOUT
        } else {
            EpollFlags::EPOLLIN
        };
        self.0
            .modify(fd, &mut EpollEvent::new(flags, token))
            .map_err(io::Error::from)
    }

    /// Stops watching `fd`.
    pub fn unwatch(&self, fd: BorrowedFd<'_>) {
        let _ = self.0.delete(fd);
    }

    /// Blocks until something is ready, with no timeout: deadlines are timer
    /// descriptors in the set, so an idle foster never wakes up. Returns the
    /// tokens that are ready.
    pub fn wait(&self, ready: &mut Vec<u64>) -> io::Result<()> {
        let mut events = [EpollEvent::empty(); 64];
        ready.clear();
        loop {
            match self.0.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => {
                    ready.extend(events.iter().take(n).map(|e| e.data()));
                    return Ok(());
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        }
    }
}

/// A monotonic one-shot timer descriptor (`timerfd_create(2)`).
pub struct Timer(TimerFd);

impl Timer {
    pub fn new() -> io::Result<Timer> {
        TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map(Timer)
        .map_err(io::Error::from)
    }

    /// Arms the timer to fire once after `after`, replacing any earlier
    /// setting (`timerfd_settime(2)`).
    pub fn arm(&self, after: std::time::Duration) -> io::Result<()> {
        // A zero expiration would disarm the timer; fire "at once" instead.
        let after = after.max(std::time::Duration::from_nanos(1));
        self.0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(after)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(io::Error::from)
    }

    /// Stops the timer (`timerfd_settime(2)` with a zero expiration).
    pub fn disarm(&self) -> io::Result<()> {
        self.0.unset().map_err(io::Error::from)
    }

    /// Consumes an expiration; true when the timer had fired.
    pub fn acknowledge(&self) -> bool {
        let mut buf = [0u8; 8];
        matches!(nix::unistd::read(self.0.as_fd(), &mut buf), Ok(8))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

// ---------------------------------------------------------------------------
// The sd_notify socket

/// A datagram socket in the abstract namespace that services report
/// readiness on (`NOTIFY_SOCKET=@name`, the sd_notify protocol). Abstract,
/// so it needs no writable directory; `SO_PASSCRED`, so every message
/// carries its sender's PID as the kernel vouches for it (`socket(2)`,
/// `bind(2)`, `setsockopt(2)`, `recvmsg(2)`, `unix(7)`).
pub struct NotifySocket(OwnedFd);

/// One message read from the notify socket.
pub struct Datagram {
    /// The sender's PID, as the kernel vouches for it (`SCM_CREDENTIALS`).
    pub sender: Option<Pid>,
    pub len: usize,
    /// The message or its ancillary data did not fit (`MSG_TRUNC`,
    /// `MSG_CTRUNC`): what was read is not the whole message, and must be
    /// refused rather than read as if it were (a cut `MAINPID=312639` reads
    /// as `MAINPID=31263`).
    pub truncated: bool,
    /// Descriptors that came with it (closed when dropped): every one the
    /// kernel installed, truncated or not.
    pub fds: Vec<OwnedFd>,
}

/// The most descriptors one `SCM_RIGHTS` message can carry (`SCM_MAX_FD`
/// in the kernel, `unix(7)`).
pub const MAX_PASSED_FDS: usize = 253;

/// Room for one `SCM_CREDENTIALS` and one full `SCM_RIGHTS` message, in
/// `u64`s so that the buffer is aligned as `cmsghdr` needs: each header is
/// 16 bytes, a `ucred` 12 (padded to 16), 253 descriptors 1012 (to 1016).
const CONTROL_WORDS: usize = (16 + 16 + 16 + 1016) / 8;

impl NotifySocket {
    pub fn bind(name: &str) -> io::Result<NotifySocket> {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockType, UnixAddr, bind, setsockopt, socket, sockopt,
        };
        let fd = socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        setsockopt(&fd, sockopt::PassCred, &true)?;
        let addr = UnixAddr::new_abstract(name.as_bytes())?;
        bind(fd.as_raw_fd(), &addr)?;
        Ok(NotifySocket(fd))
    }

    /// The next datagram into `buf` (`recvmsg(2)` with `MSG_DONTWAIT |
    /// MSG_CMSG_CLOEXEC`): the sender's PID, the length, whether anything
    /// was cut, and every descriptor that came with it. `None` when nothing
    /// is waiting.
    ///
    /// The control buffer has room for the most descriptors a message can
    /// carry, and every `SCM_RIGHTS` header is walked even when the kernel
    /// reports `MSG_CTRUNC`: the descriptors that fit are installed in
    /// foster all the same, and any not taken here would stay open for
    /// good (a stranger could fill foster's table this way).
    ///
    /// Descriptors are how sd_notify's `BARRIER=1` works: the sender waits
    /// until the receiver closes its copy, so the caller drops them only
    /// after acting on the message (while the sender is still alive and its
    /// session can still be looked up).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        use std::os::fd::FromRawFd;
        let mut control = [0u64; CONTROL_WORDS];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is a valid value of the plain C struct.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // socklen_t on musl, size_t on glibc.
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let received = loop {
            // SAFETY: `msg` points at `iov` (which points at `buf`) and at
            // `control`, all valid and writable for the call's duration and
            // sized by the lengths given.
            let n = unsafe {
                libc::recvmsg(
                    self.0.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
                )
            };
            if n >= 0 {
                break n;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                _ => return Err(err),
            }
        };
        let mut datagram = Datagram {
            sender: None,
            len: usize::try_from(received).unwrap_or(0).min(buf.len()),
            truncated: msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0,
            fds: Vec::new(),
        };
        // SAFETY: `msg` was filled by recvmsg: msg_control and
        // msg_controllen describe the part of `control` the kernel wrote,
        // and CMSG_FIRSTHDR/CMSG_NXTHDR never step outside it.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: `cmsg` is non-null and points at a header inside
            // `control` (see above); it may be unaligned only in theory,
            // so it is read unaligned.
            let header = unsafe { std::ptr::read_unaligned(cmsg) };
            // SAFETY: CMSG_DATA of a valid header points just past it.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            // SAFETY: CMSG_LEN only computes a length.
            let empty: usize = unsafe { libc::CMSG_LEN(0) } as _;
            // socklen_t on musl, size_t on glibc.
            let total: usize = header.cmsg_len as _;
            let payload = total.saturating_sub(empty);
            match (header.cmsg_level, header.cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    let count = payload / std::mem::size_of::<c_int>();
                    for i in 0..count {
                        // SAFETY: the kernel wrote `count` descriptors after
                        // the header, within msg_controllen.
                        let fd = unsafe { std::ptr::read_unaligned(data.cast::<c_int>().add(i)) };
                        if fd >= 0 {
                            // SAFETY: the kernel just installed this
                            // descriptor for us; nothing else owns it.
                            datagram.fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                        }
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
                    if payload >= std::mem::size_of::<libc::ucred>() =>
                {
                    // SAFETY: the payload holds a whole ucred (checked).
                    let cred = unsafe { std::ptr::read_unaligned(data.cast::<libc::ucred>()) };
                    datagram.sender = Some(cred.pid).filter(|&p| p > 0);
                }
                _ => {}
            }
            // SAFETY: as for CMSG_FIRSTHDR: the next header within
            // msg_controllen, or null.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
        Ok(Some(datagram))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

// ---------------------------------------------------------------------------
// pidfds and inotify, for daemons followed through their pidfiles

/// A descriptor that refers to one process for as long as it is held,
/// whatever happens to its number (`pidfd_open(2)`, Linux 5.3).
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: Pid) -> io::Result<PidFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a PID and flags; on success it returns a
        // new descriptor that we own from here on.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just created this descriptor for us.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// Readable once the process has ended (`pidfd_open(2)`: "the file
    /// descriptor becomes readable when the process terminates"), whether
    /// or not it is foster's child: a followed process whose parent is
    /// someone else is seen to end this way.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Sends `sig` to exactly this process, never to whoever reuses its
    /// number later (`pidfd_send_signal(2)`).
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        // SAFETY: integers and a null siginfo pointer, which the call allows.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// One watched directory.
pub type Watch = nix::sys::inotify::WatchDescriptor;

/// Watches directories for files written or renamed into place
/// (`inotify(7)`), non-blocking and close-on-exec.
pub struct Inotify(nix::sys::inotify::Inotify);

impl Inotify {
    pub fn new() -> io::Result<Inotify> {
        use nix::sys::inotify::InitFlags;
        nix::sys::inotify::Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map(Inotify)
            .map_err(io::Error::from)
    }

    /// Watches `dir` for files created, written and closed, or moved in;
    /// returns the watch (the same one for the same directory).
    pub fn watch_dir(&self, dir: &std::path::Path) -> io::Result<Watch> {
        use nix::sys::inotify::AddWatchFlags as F;
        let flags = F::IN_CLOSE_WRITE | F::IN_MOVED_TO | F::IN_CREATE | F::IN_MODIFY;
        self.0.add_watch(dir, flags).map_err(io::Error::from)
    }

    /// Watches the file `path` for changes (`IN_MODIFY`, as a cgroup's
    /// `cgroup.events` reports them).
    pub fn watch_file(&self, path: &std::path::Path) -> io::Result<Watch> {
        use nix::sys::inotify::AddWatchFlags as F;
        self.0
            .add_watch(path, F::IN_MODIFY)
            .map_err(io::Error::from)
    }

    /// The names of files touched since the last call, with their watch
    /// (an empty name for a watched file itself).
    pub fn read(&self) -> Vec<(Watch, std::ffi::OsString)> {
        match self.0.read_events() {
            Ok(events) => events
                .into_iter()
                .map(|e| (e.wd, e.name.unwrap_or_default()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

// ---------------------------------------------------------------------------
// The control socket

/// The listening control socket: a Unix stream socket created with mode
/// 0600 (`umask(2)` around `bind(2)`, so there is no moment when others
/// could connect), non-blocking and close-on-exec.
///
/// It keeps one spare descriptor (`/dev/null`) for the moment foster's
/// table is full: `accept(2)` then fails with `EMFILE` and the connection
/// stays queued, so the listener stays readable and a level-triggered loop
/// would spin on it. The spare is closed, the connection accepted, told no
/// and closed, and the spare opened again.
pub struct ControlListener {
    listener: std::os::unix::net::UnixListener,
    spare: std::cell::Cell<Option<OwnedFd>>,
}

/// Why the control socket could not be opened.
#[derive(Debug)]
pub enum ControlError {
    /// Another foster answers on that path.
    InUse,
    Os(io::Error),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::InUse => f.write_str("another foster is already listening there"),
            ControlError::Os(e) => write!(f, "{e}"),
        }
    }
}

/// What one `accept` on the control socket gave.
pub enum Accepted {
    /// A connection (non-blocking, close-on-exec) and its peer's user ID.
    Client(std::os::unix::net::UnixStream, u32),
    /// foster is out of descriptors: a connection was taken with the spare
    /// descriptor, told so, and closed.
    Shed,
    /// foster is out of descriptors and has no spare either: the caller
    /// must stop watching the listener until [`ControlListener::recover`].
    Exhausted,
}

/// The reply a connection gets when foster has no descriptor for it.
const NO_DESCRIPTORS: &[u8] = b"error: foster is out of file descriptors; try again later\n";

fn open_spare() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

impl ControlListener {
    pub fn bind(path: &std::path::Path) -> Result<ControlListener, ControlError> {
        use std::os::unix::net::{UnixListener, UnixStream};
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(ControlError::Os)?;
        }
        // A socket file left by an earlier foster: remove it, unless
        // someone still answers on it.
        if std::fs::symlink_metadata(path).is_ok() {
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse);
            }
            std::fs::remove_file(path).map_err(ControlError::Os)?;
        }
        // SAFETY: umask only swaps the process's file-creation mask; foster
        // is single-threaded, so nothing else creates files meanwhile.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above, restoring the previous mask.
        unsafe { libc::umask(old) };
        let listener = bound.map_err(ControlError::Os)?;
        listener.set_nonblocking(true).map_err(ControlError::Os)?;
        Ok(ControlListener {
            listener,
            spare: std::cell::Cell::new(open_spare()),
        })
    }

    /// The next waiting connection with its peer's user ID (`accept4(2)`,
    /// `SO_PEERCRED`), or `None` when none is waiting.
    pub fn accept(&self) -> io::Result<Option<Accepted>> {
        match self.listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                let creds = nix::sys::socket::getsockopt(
                    &stream,
                    nix::sys::socket::sockopt::PeerCredentials,
                )?;
                Ok(Some(Accepted::Client(stream, creds.uid())))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                let Some(spare) = self.spare.take() else {
                    return Ok(Some(Accepted::Exhausted));
                };
                drop(spare);
                if let Ok((stream, _)) = self.listener.accept() {
                    // Non-blocking: a peer that does not read never stalls
                    // foster; the short reply fits any socket buffer.
                    let _ = nix::sys::socket::send(
                        stream.as_raw_fd(),
                        NO_DESCRIPTORS,
                        nix::sys::socket::MsgFlags::MSG_DONTWAIT
                            | nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                    );
                }
                self.spare.set(open_spare());
                Ok(Some(Accepted::Shed))
            }
            Err(e) => Err(e),
        }
    }

    /// The listener's descriptor and its spare one.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        let spare = self.spare.take();
        let mut fds = vec![self.listener.as_raw_fd()];
        fds.extend(spare.as_ref().map(|f| f.as_raw_fd()));
        self.spare.set(spare);
        fds
    }

    /// After [`Accepted::Exhausted`]: whether a spare descriptor could be
    /// had again (then the listener may be watched again).
    pub fn recover(&self) -> bool {
        match self.spare.take() {
            Some(spare) => {
                self.spare.set(Some(spare));
                true
            }
            None => {
                let spare = open_spare();
                let ok = spare.is_some();
                self.spare.set(spare);
                ok
            }
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

/// foster's effective user ID (`geteuid(2)`).
pub fn geteuid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

// ---------------------------------------------------------------------------
// Pipes and output, for services whose log lines foster prefixes

/// A pipe for a service's output (`pipe2(2)`): the read end is foster's,
/// non-blocking; the write end goes to the child. Both close-on-exec.
pub fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    set_nonblocking(read.as_fd())?;
    Ok((read, write))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// foster's own stdout or stderr, ready for writes that never block.
pub struct Output {
    fd: OwnedFd,
    how: Writes,
}

/// How an [`Output`] is written without blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// Its own open file description, in non-blocking mode.
    NonBlocking,
    /// A socket: `send(MSG_DONTWAIT)`.
    Socket,
    /// A pipe or terminal that could not be reopened (no `/proc`): its
    /// shared description may block, so a write is made only when `poll`
    /// says there is room, and of at most `PIPE_BUF` bytes, which a pipe
    /// with room takes without blocking.
    Polled,
    /// A regular file or anything else that never waits for a reader.
    Plain,
}

impl Output {
    /// Opens fd 1 or 2 for the console. A pipe or terminal is reopened
    /// through `/proc/self/fd/N` as a *separate* open file description in
    /// non-blocking mode (`open(2)`): setting `O_NONBLOCK` on the shared one
    /// would hand `EAGAIN` to every other process writing to it. A socket
    /// gets `send(MSG_DONTWAIT)` instead. A regular file (never slow to
    /// write) gets a plain duplicate; so does a pipe or terminal when
    /// `/proc` is missing, written only after `poll(2)`.
    pub fn open(fd: RawFd) -> io::Result<Output> {
        use nix::sys::stat::{SFlag, fstat};
        use std::os::unix::fs::OpenOptionsExt;
        // SAFETY: fds 1 and 2 are open for the whole life of foster
        // (ensure_standard_fds makes sure of it at start-up).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let kind = SFlag::from_bits_truncate(fstat(borrowed)?.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFSOCK {
            return Ok(Output {
                fd: borrowed.try_clone_to_owned()?,
                how: Writes::Socket,
            });
        }
        if kind == SFlag::S_IFIFO || kind == SFlag::S_IFCHR {
            let reopened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
                .open(format!("/proc/self/fd/{fd}"));
            return Ok(match reopened {
                Ok(file) => Output {
                    fd: OwnedFd::from(file),
                    how: Writes::NonBlocking,
                },
                Err(_) => Output {
                    fd: borrowed.try_clone_to_owned()?,
                    how: Writes::Polled,
                },
            });
        }
        Ok(Output {
            fd: borrowed.try_clone_to_owned()?,
            how: Writes::Plain,
        })
    }

    /// Writes what it can without blocking (`write(2)`, or `send(2)` with
    /// `MSG_DONTWAIT | MSG_NOSIGNAL`); `Ok(0)` when it would block.
    pub fn write(&self, data: &[u8]) -> io::Result<usize> {
        let result = match self.how {
            Writes::Socket => {
                use nix::sys::socket::{MsgFlags, send};
                send(
                    self.fd.as_raw_fd(),
                    data,
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                )
            }
            Writes::Polled => {
                if !wait_writable(self.fd.as_fd(), std::time::Duration::ZERO) {
                    return Ok(0);
                }
                nix::unistd::write(&self.fd, data.get(..data.len().min(4096)).unwrap_or(data))
            }
            Writes::NonBlocking | Writes::Plain => nix::unistd::write(&self.fd, data),
        };
        match result {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EAGAIN) => Ok(0),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether `fd` has room to write within `timeout` (`poll(2)` for
/// `POLLOUT`; an error or hang-up counts as room, so that the write that
/// follows reports it).
pub fn wait_writable(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    loop {
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

/// Reads what a non-blocking pipe holds (`read(2)`): `Ok(None)` when it
/// would block, `Ok(Some(0))` at end of file.
pub fn read_pipe(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match nix::unistd::read(fd, buf) {
        Ok(n) => Ok(Some(n)),
        Err(nix::errno::Errno::EAGAIN) => Ok(None),
        Err(nix::errno::Errno::EINTR) => Ok(None),
        Err(e) => Err(io::Error::from(e)),
    }
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

// ---------------------------------------------------------------------------
// Spawning

/// What a child needs, prepared before the fork so that the child itself
/// only makes async-signal-safe calls on memory that already exists.
pub struct ChildSpec {
    argv: Vec<CString>,
    env: Vec<CString>,
    /// Index in `env` of the `LISTEN_PID=` entry to fill in with the child's
    /// own PID, when foster was socket-activated.
    listen_pid_slot: Option<usize>,
    /// Put the child's process group in the terminal's foreground.
    foreground: bool,
    /// A directory to enter (`fchdir`) before exec.
    dir: Option<RawFd>,
    /// A directory to enter by path (a service's `workdir`), after the
    /// user switch so that the user's own permissions apply.
    workdir: Option<CString>,
    /// `setsid` instead of `setpgid`: a service gets its own session.
    new_session: bool,
    /// User, group and supplementary groups to switch to.
    ids: Option<(u32, u32, Vec<libc::gid_t>)>,
    /// Descriptors to put on the child's stdout and stderr (`dup2`).
    output: Option<(RawFd, RawFd)>,
    /// A cgroup's `cgroup.procs`, open for writing: the child moves itself
    /// there (writes "0") before anything else can fork from it.
    cgroup: Option<RawFd>,
}

/// The step of a child's set-up that failed, before or at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Groups = 1,
    Group = 2,
    User = 3,
    Workdir = 4,
    Exec = 5,
    Cgroup = 6,
}

/// Why a forked child could not become the program.
#[derive(Debug)]
pub struct ChildFailure {
    pub stage: Stage,
    pub error: io::Error,
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.stage {
            Stage::Groups => "cannot set the supplementary groups",
            Stage::Group => "cannot switch group",
            Stage::User => "cannot switch user",
            Stage::Workdir => "cannot enter the working directory",
            Stage::Cgroup => "cannot join its cgroup",
            Stage::Exec => "cannot execute the command",
        };
        let errno = self.error.raw_os_error().unwrap_or(0);
        write!(f, "{what}: {}", nix::errno::Errno::from_raw(errno).desc())
    }
}

/// Why a spawn failed before any child existed.
#[derive(Debug)]
pub enum SpawnError {
    /// An argument or environment entry contains a NUL byte.
    Nul,
    /// `pipe2` or `fork` failed.
    Os(io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Nul => {
                f.write_str("an argument or environment variable contains a NUL byte")
            }
            SpawnError::Os(e) => write!(f, "fork failed: {e}"),
        }
    }
}

/// A child that was forked. `failure` is set when its set-up or `execve`
/// failed: the child then exits by itself (127 when the command was not
/// found, 126 otherwise) and the reaper collects that status like any other.
pub struct Spawned {
    pub pid: Pid,
    pub failure: Option<ChildFailure>,
}

/// Exit status of a child whose `execve` failed with `errno`, as shells do:
/// 127 when the command does not exist, 126 when it exists but cannot run.
pub fn exec_failure_status(errno: i32) -> u8 {
    match errno {
        libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP => 127,
        _ => 126,
    }
}

impl ChildSpec {
    /// `argv[0]` is looked up in `PATH` as `execvp(3)` does. `env` is the
    /// complete environment; a `LISTEN_PID` equal to foster's own PID is
    /// rewritten to the child's.
    pub fn new(
        argv: &[OsString],
        env: &[(OsString, OsString)],
        foreground: bool,
    ) -> Result<ChildSpec, SpawnError> {
        let argv = argv
            .iter()
            .map(|a| CString::new(a.clone().into_vec()).map_err(|_| SpawnError::Nul))
            .collect::<Result<Vec<_>, _>>()?;
        if argv.is_empty() {
            return Err(SpawnError::Nul);
        }
        let own_pid = getpid().to_string();
        let mut listen_pid_slot = None;
        let mut entries = Vec::with_capacity(env.len());
        for (key, value) in env {
            let mut entry = key.clone().into_vec();
            entry.push(b'=');
            if key == "LISTEN_PID" && value.as_encoded_bytes() == own_pid.as_bytes() {
                listen_pid_slot = Some(entries.len());
                // Room for any PID; the child writes its own over the spaces
                // and NUL-terminates it.
                entry.extend_from_slice(b"                    ");
            } else {
                entry.extend_from_slice(value.as_encoded_bytes());
            }
            entries.push(CString::new(entry).map_err(|_| SpawnError::Nul)?);
        }
        Ok(ChildSpec {
            argv,
            env: entries,
            listen_pid_slot,
            foreground,
            dir: None,
            workdir: None,
            new_session: false,
            ids: None,
            output: None,
            cgroup: None,
        })
    }

    /// Gives the child these descriptors as stdout and stderr; they must
    /// stay open until [`spawn`] returns.
    pub fn redirect_output(&mut self, stdout: BorrowedFd<'_>, stderr: BorrowedFd<'_>) {
        self.output = Some((stdout.as_raw_fd(), stderr.as_raw_fd()));
    }

    /// Gives the child a session of its own (`setsid`), as services get.
    pub fn in_new_session(&mut self) {
        self.new_session = true;
    }

    /// Makes the child join the cgroup whose `cgroup.procs` `procs` is,
    /// first thing after its new session. Only the number is kept: the
    /// caller keeps `procs` open (write-only, close-on-exec) until
    /// [`spawn`] has returned.
    pub fn join_cgroup(&mut self, procs: BorrowedFd<'_>) {
        self.cgroup = Some(procs.as_raw_fd());
    }

    /// Makes the child enter `path` before exec.
    pub fn set_workdir(&mut self, path: &std::path::Path) -> Result<(), SpawnError> {
        self.workdir =
            Some(CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| SpawnError::Nul)?);
        Ok(())
    }

    /// Makes the child switch to these IDs before exec.
    pub fn run_as(&mut self, uid: u32, gid: u32, groups: &[u32]) {
        self.ids = Some((uid, gid, groups.to_vec()));
    }

    /// Makes the child start in the directory `dir` refers to, which must
    /// stay open until [`spawn`] returns.
    pub fn start_in(&mut self, dir: BorrowedFd<'_>) {
        self.dir = Some(dir.as_raw_fd());
    }
}

/// Everything the child reads, laid out before `clone`, and where it
/// reports a failed set-up step. Raw pointers: the child shares foster's
/// memory (`CLONE_VM`) and may not touch anything Rust would manage.
struct ChildArgs {
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    mask: *const libc::sigset_t,
    new_session: bool,
    foreground: bool,
    /// The writable LISTEN_PID entry and its length, when there is one.
    listen: Option<(*mut u8, usize)>,
    ids: Option<(u32, u32, *const libc::gid_t, usize)>,
    workdir: Option<*const c_char>,
    dir: RawFd,
    output: Option<(RawFd, RawFd)>,
    cgroup: RawFd,
    /// Written by the child when a step fails: `Stage` as a number, errno.
    failed: (i32, i32),
}

/// Starts `spec` as a new process (`clone(2)` with `CLONE_VM |
/// CLONE_VFORK`, then `execvpe(3)`), the way `posix_spawn` does.
///
/// Sharing memory until exec, instead of `fork`, spares copying foster's
/// page tables and the copy-on-write faults that follow, for every one of
/// possibly thousands of services; `CLONE_VFORK` suspends foster until the
/// child has exec'd or exited, so the child's report of a failed step is in
/// memory when `clone` returns, and no pipe is needed.
///
/// In the child, before exec: its own process group (`setpgid`) or session
/// (`setsid`), the terminal's foreground when asked (`tcsetpgrp`; SIGTTOU is
/// still blocked here, so this cannot stop it), `LISTEN_PID` filled in,
/// stdout and stderr redirected when asked, its user and groups, its
/// working directory, and last the inherited signal mask. Dispositions are
/// never touched by foster, so the child inherits them as foster did.
/// foster's own descriptors are all close-on-exec.
pub fn spawn(spec: &ChildSpec, mask: &InheritedMask) -> Result<Spawned, SpawnError> {
    let mut listen_entry: Vec<u8> = spec
        .listen_pid_slot
        .and_then(|i| spec.env.get(i))
        .map(|c| c.as_bytes_with_nul().to_vec())
        .unwrap_or_default();
    let mut argv_ptrs: Vec<*const c_char> = spec.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const c_char> = spec.env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    if let Some(slot) = spec.listen_pid_slot
        && let Some(p) = env_ptrs.get_mut(slot)
    {
        *p = listen_entry.as_ptr().cast();
    }
    let mut args = ChildArgs {
        file: argv_ptrs.first().copied().unwrap_or(std::ptr::null()),
        argv: argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
        mask: mask.0.as_ref(),
        new_session: spec.new_session,
        foreground: spec.foreground,
        listen: spec
            .listen_pid_slot
            .map(|_| (listen_entry.as_mut_ptr(), listen_entry.len())),
        ids: spec
            .ids
            .as_ref()
            .map(|(u, g, groups)| (*u, *g, groups.as_ptr(), groups.len())),
        workdir: spec.workdir.as_ref().map(|w| w.as_ptr()),
        dir: spec.dir.unwrap_or(-1),
        output: spec.output,
        cgroup: spec.cgroup.unwrap_or(-1),
        failed: (0, 0),
    };
    // The child's own stack; execvpe's PATH search needs a few KiB of it.
    let mut stack = vec![0u8; 128 * 1024];
    let top = stack.as_mut_ptr_range().end;
    // SAFETY: `child_main` runs on `stack` (which outlives the child's use
    // of it: CLONE_VFORK suspends us until it has exec'd or exited) with a
    // pointer to `args`, which also outlives it. It shares our memory but
    // only reads what `args` points to, writes `args.failed` and the
    // LISTEN_PID buffer, and calls async-signal-safe functions; it never
    // returns into Rust code: it execs or calls _exit.
    let pid = unsafe {
        libc::clone(
            child_main,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw mut args).cast(),
        )
    };
    if pid < 0 {
        return Err(SpawnError::Os(io::Error::last_os_error()));
    }
    drop(stack);
    drop(listen_entry);
    let failure = (args.failed.0 != 0).then(|| {
        let stage = match args.failed.0 {
            1 => Stage::Groups,
            2 => Stage::Group,
            3 => Stage::User,
            4 => Stage::Workdir,
            6 => Stage::Cgroup,
            _ => Stage::Exec,
        };
        ChildFailure {
            stage,
            error: io::Error::from_raw_os_error(args.failed.1),
        }
    });
    Ok(Spawned { pid, failure })
}

/// The child side of [`spawn`]: set-up, then exec.
extern "C" fn child_main(arg: *mut libc::c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` that `spawn` passed, alive and not
    // otherwise used while foster is suspended by CLONE_VFORK; every pointer
    // in it refers to memory `spawn` keeps alive, and only async-signal-safe
    // functions are called.
    unsafe {
        let a = &mut *arg.cast::<ChildArgs>();
        if a.new_session {
            libc::setsid();
        } else {
            libc::setpgid(0, 0);
        }
        let me = libc::getpid();
        if a.foreground {
            let tty = libc::open(
                c"/dev/tty".as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if tty >= 0 {
                libc::tcsetpgrp(tty, me);
                libc::close(tty);
            }
        }
        if let Some((entry, len)) = a.listen {
            // Write the decimal PID after "LISTEN_PID=", then NUL.
            let at = "LISTEN_PID=".len();
            let mut digits = [0u8; 12];
            let mut n = me as u32;
            let mut count = 0;
            for slot in digits.iter_mut() {
                *slot = b'0' + (n % 10) as u8;
                count += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if at + count < len {
                for (i, d) in digits.iter().take(count).rev().enumerate() {
                    *entry.add(at + i) = *d;
                }
                *entry.add(at + count) = 0;
            }
        }
        if let Some((out, err)) = a.output {
            // dup2 leaves the copies on 1 and 2 without close-on-exec.
            libc::dup2(out, 1);
            libc::dup2(err, 2);
        }
        let mut stage = Stage::Exec;
        let mut ok = true;
        if a.cgroup >= 0 && libc::write(a.cgroup, c"0".as_ptr().cast(), 1) != 1 {
            (stage, ok) = (Stage::Cgroup, false);
        }
        if let (true, Some((uid, gid, groups, count))) = (ok, a.ids) {
            // Raw system calls: the C libraries' wrappers may try to apply
            // the change to every thread of the process they believe they
            // are in, which, sharing foster's memory, would be foster's.
            if libc::syscall(libc::SYS_setgroups, count, groups) != 0 {
                (stage, ok) = (Stage::Groups, false);
            } else if libc::syscall(libc::SYS_setgid, gid) != 0 {
                (stage, ok) = (Stage::Group, false);
            } else if libc::syscall(libc::SYS_setuid, uid) != 0 {
                (stage, ok) = (Stage::User, false);
            }
        }
        if ok {
            let entered = match a.workdir {
                Some(path) => libc::chdir(path) == 0,
                None => a.dir < 0 || libc::fchdir(a.dir) == 0,
            };
            if !entered {
                (stage, ok) = (Stage::Workdir, false);
            }
        }
        if ok {
            libc::sigprocmask(libc::SIG_SETMASK, a.mask, std::ptr::null_mut());
            libc::execvpe(a.file, a.argv, a.envp);
        }
        let errno = *libc::__errno_location();
        a.failed = (stage as i32, errno);
        let status = if stage == Stage::Exec {
            exec_failure_status(errno)
        } else {
            126
        };
        libc::_exit(c_int::from(status))
    }
}
