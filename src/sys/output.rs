//! Pipes and output, for services whose log lines foster prefixes: the
//! pipe a service writes to, and foster's own stdout and stderr opened so
//! that a write never blocks PID 1.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

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
