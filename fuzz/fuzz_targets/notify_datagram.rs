//! An sd_notify datagram as foster receives it: the bytes, with and
//! without descriptors (`SCM_RIGHTS`), sent over a real socket to foster's
//! `NotifySocket` and read back by `recv`, then parsed. Whatever the
//! input, every descriptor that came along is handed back to be closed
//! (none stays open in the process), and a datagram longer than the
//! buffer is flagged cut short, never read as if it were whole.
//!
//! The input: the first byte says how many descriptors to send (0 to 255:
//! past 253, `SCM_MAX_FD`, the send itself is refused), the second how big
//! the receive buffer is (in 32-byte steps), the rest is the message.

#![no_main]

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

struct Fixture {
    socket: foster::sys::NotifySocket,
    name: Vec<u8>,
    /// Descriptors to send (copies of /dev/null).
    spare: Vec<OwnedFd>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let name = format!("foster/fuzz/notify/{}", std::process::id());
        let socket = foster::sys::NotifySocket::bind(&name).expect("bind the notify socket");
        let spare = (0..255)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").expect("/dev/null")))
            .collect();
        Fixture {
            socket,
            name: name.into_bytes(),
            spare,
        }
    })
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sends `text` with `fds` to the abstract socket `name` (`sendmsg(2)`);
/// false when the kernel refused it (too many descriptors, too long).
fn send(name: &[u8], text: &[u8], fds: &[i32]) -> bool {
    // SAFETY: plain C structs, zeroed, then filled with pointers to memory
    // that outlives the call.
    unsafe {
        let sock = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(sock >= 0);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in name.iter().enumerate() {
            addr.sun_path[i + 1] = *b as libc::c_char;
        }
        let addr_len =
            (std::mem::size_of::<libc::sa_family_t>() + 1 + name.len()) as libc::socklen_t;
        let mut iov = libc::iovec {
            iov_base: text.as_ptr() as *mut libc::c_void,
            iov_len: text.len(),
        };
        let data_len = std::mem::size_of_val(fds) as u32;
        let mut control = vec![0u64; (libc::CMSG_SPACE(data_len) as usize).div_ceil(8)];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_un).cast();
        msg.msg_namelen = addr_len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(data_len) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
        let sent = libc::sendmsg(sock, &msg, libc::MSG_DONTWAIT);
        libc::close(sock);
        sent >= 0
    }
}

fuzz_target!(|data: &[u8]| {
    let [count, size, text @ ..] = data else {
        return;
    };
    let f = fixture();
    let fds: Vec<i32> = f.spare[..usize::from(*count)]
        .iter()
        .map(|d| d.as_raw_fd())
        .collect();
    let before = open_fds();
    if !send(&f.name, text, &fds) {
        return;
    }
    let mut buf = vec![0u8; 32 * (usize::from(*size) + 1)];
    let datagram = f
        .socket
        .recv(&mut buf)
        .expect("recv")
        .expect("the datagram just sent");
    assert_eq!(
        datagram.sender.map(foster::sys::Pid::get),
        Some(std::process::id() as i32)
    );
    assert_eq!(
        datagram.fds.len(),
        fds.len(),
        "every descriptor handed back"
    );
    assert_eq!(datagram.truncated, text.len() > buf.len());
    assert!(datagram.len <= buf.len());
    if !datagram.truncated {
        assert_eq!(&buf[..datagram.len], text);
        let _ = foster::notify::parse(&buf[..datagram.len]);
    }
    drop(datagram);
    assert_eq!(open_fds(), before, "a received descriptor stayed open");
    assert!(f.socket.recv(&mut buf).expect("recv").is_none());
});
