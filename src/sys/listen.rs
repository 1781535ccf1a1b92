//! The listening sockets foster holds for services (`sockets:`): made,
//! bound and listening by foster itself (so as root for a service that
//! runs as another user, on a port below 1024), close-on-exec in foster;
//! a service's start gets them as descriptors 3, 4, … (see
//! [`super::ChildSpec::pass_fds`]).

use std::ffi::c_int;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::unit::{Listen, SocketKind, SocketSpec};

/// A socket of `spec`, bound and (for a stream or seqpacket socket)
/// listening with its backlog. A unix path socket replaces a socket file
/// left at its path (never another kind of file), gets `spec.mode` and is
/// given to `owner` (uid, gid), the service's user, when there is one.
pub fn held_socket(spec: &SocketSpec, owner: Option<(u32, u32)>) -> io::Result<OwnedFd> {
    let kind = match spec.kind {
        SocketKind::Stream => libc::SOCK_STREAM,
        SocketKind::Datagram => libc::SOCK_DGRAM,
        SocketKind::Seqpacket => libc::SOCK_SEQPACKET,
    };
    let fd = match &spec.listen {
        Listen::Port(port) => match inet6(kind, Ipv6Addr::UNSPECIFIED, *port, false) {
            // A kernel without IPv6: every IPv4 address instead.
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                inet4(kind, std::net::Ipv4Addr::UNSPECIFIED, *port)?
            }
            other => other?,
        },
        Listen::Inet(SocketAddr::V4(addr)) => inet4(kind, *addr.ip(), addr.port())?,
        Listen::Inet(SocketAddr::V6(addr)) => inet6(kind, *addr.ip(), addr.port(), true)?,
        Listen::Path(path) => {
            // A socket file left by an earlier run (or foster's last one):
            // a bind would fail on it. Anything else there is not ours.
            match std::fs::symlink_metadata(path) {
                Ok(meta) => {
                    use std::os::unix::fs::FileTypeExt;
                    if !meta.file_type().is_socket() {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("{} exists and is not a socket", path.display()),
                        ));
                    }
                    std::fs::remove_file(path)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let fd = unix(kind, path.as_os_str().as_encoded_bytes(), false)?;
            if let Some(mode) = spec.mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
            }
            fd
        }
        Listen::Abstract(name) => unix(kind, name.as_bytes(), true)?,
    };
    if kind != libc::SOCK_DGRAM {
        let backlog = c_int::try_from(spec.backlog).unwrap_or(c_int::MAX);
        // SAFETY: listen(2) on a socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(fd)
}

fn socket(domain: c_int, kind: c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) returns a new descriptor or -1.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor no one else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_flag(fd: &OwnedFd, level: c_int, name: c_int, on: bool) -> io::Result<()> {
    let value: c_int = on.into();
    // SAFETY: setsockopt(2) reads `value` for its size.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<c_int>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn bind(fd: &OwnedFd, addr: *const libc::sockaddr, len: usize) -> io::Result<()> {
    let len =
        libc::socklen_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `addr` points to a socket address of `len` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), addr, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn inet4(kind: c_int, ip: std::net::Ipv4Addr, port: u16) -> io::Result<OwnedFd> {
    let fd = socket(libc::AF_INET, kind)?;
    set_flag(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
    // SAFETY: all-zero is a valid sockaddr_in, filled in below.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = port.to_be();
    addr.sin_addr.s_addr = u32::from(ip).to_be();
    bind(
        &fd,
        (&raw const addr).cast(),
        std::mem::size_of::<libc::sockaddr_in>(),
    )?;
    Ok(fd)
}

/// `v6only`: false for "every address" (IPv4 mapped too, dual-stack).
fn inet6(kind: c_int, ip: Ipv6Addr, port: u16, v6only: bool) -> io::Result<OwnedFd> {
    let fd = socket(libc::AF_INET6, kind)?;
    set_flag(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only)?;
    set_flag(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
    // SAFETY: all-zero is a valid sockaddr_in6, filled in below.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_port = port.to_be();
    addr.sin6_addr.s6_addr = ip.octets();
    bind(
        &fd,
        (&raw const addr).cast(),
        std::mem::size_of::<libc::sockaddr_in6>(),
    )?;
    Ok(fd)
}

/// A unix socket bound to `name`: a path, or (`abstract_name`) a name in
/// the abstract namespace (a leading NUL byte).
fn unix(kind: c_int, name: &[u8], abstract_name: bool) -> io::Result<OwnedFd> {
    let fd = socket(libc::AF_UNIX, kind)?;
    // SAFETY: all-zero is a valid sockaddr_un, filled in below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let start = usize::from(abstract_name);
    let room = addr.sun_path.len().saturating_sub(start);
    // A path keeps a NUL after it; an abstract name is counted by length.
    if name.len() >= room || name.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (slot, byte) in addr.sun_path.iter_mut().skip(start).zip(name) {
        *slot = *byte as libc::c_char;
    }
    let offset = std::mem::size_of::<libc::sa_family_t>();
    let len = offset + start + name.len() + usize::from(!abstract_name);
    bind(&fd, (&raw const addr).cast(), len)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn spec(listen: &str, kind: SocketKind) -> SocketSpec {
        SocketSpec {
            listen: crate::unit::parse_listen(listen).unwrap(),
            kind,
            name: "t".into(),
            backlog: 16,
            mode: None,
        }
    }

    #[test]
    fn a_held_tcp_socket_accepts_on_its_port() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fd = held_socket(
            &spec(&format!("127.0.0.1:{port}"), SocketKind::Stream),
            None,
        )
        .unwrap();
        let listener = std::net::TcpListener::from(fd);
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut served, _) = listener.accept().unwrap();
        client.write_all(b"hi").unwrap();
        let mut got = [0u8; 2];
        served.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
        // Taken: a second socket on the same address is refused.
        let again = held_socket(
            &spec(&format!("127.0.0.1:{port}"), SocketKind::Stream),
            None,
        );
        assert!(again.is_err());
    }

    #[test]
    fn a_unix_path_socket_replaces_a_stale_socket_file_but_nothing_else() {
        let dir = std::env::temp_dir().join(format!("foster-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let mut s = spec(path.to_str().unwrap(), SocketKind::Stream);
        s.mode = Some(0o600);
        let first = held_socket(&s, None).unwrap();
        drop(first);
        // The file is left behind; a new run binds over it.
        let fd = held_socket(&s, None).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let listener = std::os::unix::net::UnixListener::from(fd);
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        listener.accept().unwrap();
        let plain = dir.join("plain");
        std::fs::write(&plain, "x").unwrap();
        assert!(held_socket(&spec(plain.to_str().unwrap(), SocketKind::Stream), None).is_err());
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_abstract_datagram_socket_receives() {
        let name = format!("foster-test-{}", std::process::id());
        let fd = held_socket(&spec(&format!("@{name}"), SocketKind::Datagram), None).unwrap();
        let socket = std::os::unix::net::UnixDatagram::from(fd);
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
        client.send_to_addr(b"ping", &addr).unwrap();
        let mut got = [0u8; 4];
        assert_eq!(socket.recv(&mut got).unwrap(), 4);
        assert_eq!(&got, b"ping");
    }
}
