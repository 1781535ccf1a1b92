//! foster's descriptor table: the standard descriptors made sure of at
//! start-up (the console's, when foster is a machine's init), and the ones
//! it inherited closed once its child holds them.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use super::errno_result;

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

/// The device and inode of what `fd` refers to (`fstat(2)`).
pub fn file_identity(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(fd)
        .ok()
        .map(|st| (st.st_dev, st.st_ino))
}

/// Whether `a` and `b` are the same open file (one open file description,
/// as `dup(2)` or `SCM_RIGHTS` make copies of): `kcmp(2)` with
/// `KCMP_FILE` on foster's own table. Where `kcmp` is not allowed (a
/// kernel without `CONFIG_KCMP`, a seccomp filter such as Docker's
/// default, which allows it only with `CAP_SYS_PTRACE`), the same device
/// and inode stand in (`fstat(2)`): exact for sockets, pipes and memfds,
/// whose inode is the object, and for a regular file it takes two opens
/// of one file for one.
pub fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    let pid = std::process::id();
    // SAFETY: kcmp only compares entries of the descriptor tables of the
    // PIDs given (ours, twice); it reads no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            0, // KCMP_FILE
            a.as_raw_fd(),
            b.as_raw_fd(),
        )
    };
    if r >= 0 {
        return r == 0;
    }
    match (nix::sys::stat::fstat(a), nix::sys::stat::fstat(b)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn tells_copies_of_one_open_file_from_others() {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let copy = r.try_clone().expect("dup");
        assert!(same_file(r.as_fd(), copy.as_fd()));
        assert!(!same_file(r.as_fd(), w.as_fd()));
        let (other, _w) = nix::unistd::pipe().expect("pipe");
        assert!(!same_file(r.as_fd(), other.as_fd()));
    }
}
