//! The event loop's sources besides signals and sockets: the epoll set
//! itself, the deadline timer, pidfds for processes foster follows but may
//! not be the parent of, and inotify for pidfiles and `cgroup.events`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::Pid;

// ---------------------------------------------------------------------------
// epoll and a timer

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

    /// Watches `fd` for its hangup and errors alone (`EPOLLHUP` and
    /// `EPOLLERR`, which epoll always reports), reporting them with `token`.
    pub fn watch_hangup(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.0
            .modify(fd, &mut EpollEvent::new(EpollFlags::empty(), token))
            .map_err(io::Error::from)
    }

    /// Starts watching `fd` for its hangup and errors alone (see
    /// [`Poller::watch_hangup`]). Fails with `EPERM` for what epoll cannot
    /// watch (a regular file, a memfd), which never hangs up.
    pub fn watch_hangup_only(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.0
            .add(fd, EpollEvent::new(EpollFlags::empty(), token))
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
// pidfds and inotify, for daemons followed through their pidfiles

/// A descriptor that refers to one process for as long as it is held,
/// whatever happens to its number (`pidfd_open(2)`, Linux 5.3).
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: Pid) -> io::Result<PidFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a PID and flags; on success it returns a
        // new descriptor that we own from here on.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.get(), 0) };
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
