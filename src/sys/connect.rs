//! The connections of `tcp:` and `http:` health probes: a TCP connect that
//! never blocks (its result read once the socket is writable), and the
//! non-blocking send and receive of an HTTP request and its answer.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockType, SockaddrIn, SockaddrIn6, connect, getsockopt,
    recv, send, socket, sockopt,
};

/// How a non-blocking connect began.
pub enum Connecting {
    /// Already connected (a local address may answer at once).
    Connected(OwnedFd),
    /// In progress: the socket becomes writable once it is decided (see
    /// [`connect_result`]).
    Pending(OwnedFd),
}

/// Starts a TCP connection to `addr` (`socket(2)` non-blocking and
/// close-on-exec, `connect(2)`): refused, unreachable and the like are
/// errors now or from [`connect_result`] later.
pub fn connect_nonblocking(addr: SocketAddr) -> io::Result<Connecting> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let result = match addr {
        SocketAddr::V4(v4) => connect(fd.as_raw_fd(), &SockaddrIn::from(v4)),
        SocketAddr::V6(v6) => connect(fd.as_raw_fd(), &SockaddrIn6::from(v6)),
    };
    match result {
        Ok(()) => Ok(Connecting::Connected(fd)),
        Err(nix::errno::Errno::EINPROGRESS) => Ok(Connecting::Pending(fd)),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// How a pending connect ended, once its socket is writable (`SO_ERROR`).
pub fn connect_result(fd: BorrowedFd<'_>) -> io::Result<()> {
    match getsockopt(&fd, sockopt::SocketError)? {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Sends what fits now (`send(2)`, never SIGPIPE); `Ok(0)` when nothing
/// fits.
pub fn send_some(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    match send(
        fd.as_raw_fd(),
        data,
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(n) => Ok(n),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Ok(0),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Receives what is there (`recv(2)`): `Ok(None)` when nothing is yet,
/// `Ok(Some(0))` at the end of the stream.
pub fn recv_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match recv(fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
        Ok(n) => Ok(Some(n)),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Ok(None),
        Err(e) => Err(io::Error::from(e)),
    }
}
