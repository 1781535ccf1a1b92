//! The two sockets foster listens on: the sd_notify datagram socket that
//! services report readiness on, and the control socket `fosterctl`
//! connects to.

use std::ffi::c_int;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::Pid;

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
                    datagram.sender = Pid::new(cred.pid);
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
