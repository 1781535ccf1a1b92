//! Asking the kernel who holds a lock on a file, never taking one.
//!
//! foster only ever *asks*: taking a POSIX lock itself would be worse than
//! useless, because closing any descriptor of a file releases every POSIX
//! lock the closing process holds on it (`fcntl(2)`, "Advisory record
//! locking"), and `F_GETLK` needs no lock of ours. As foster holds none,
//! opening and closing a daemon's pidfile leaves the daemon's locks alone.
//!
//! `flock(2)` and open file description (OFD) locks have no query call
//! that names a process; `/proc/locks` and `/proc/PID/fdinfo` tell of
//! them ([`crate::procfs::named_holders`] of [`crate::procfs::locks_on`]).

use std::io;
use std::os::fd::AsRawFd;

use super::{Pid, errno_result};

/// The process holding a POSIX record lock (`fcntl(F_SETLK)`, `lockf(3)`)
/// on any part of `file`, as `fcntl(2)` `F_GETLK` reports it: `None` when
/// no process holds one.
///
/// The probe is a whole-file write lock, which every lock of another
/// process conflicts with, reads included. `F_GETLK` tests without taking
/// anything and needs no write access: a read-only descriptor (foster
/// opens pidfiles read-only, non-blocking) asks about write locks all the
/// same. It never blocks.
///
/// An OFD lock conflicts too, but the kernel reports no process for it
/// (`l_pid` is -1: the lock belongs to an open file, shared by every
/// process that inherited it): `None` then, and `/proc` tells. A holder in
/// no PID namespace foster sees reads 0: `None` as well. The answer may be
/// out of date by the time it is read: the holder may just have let go.
pub fn posix_lock_holder(file: &std::fs::File) -> io::Result<Option<Pid>> {
    // The whole file: from 0 (SEEK_SET), length 0 meaning "to the end,
    // however far it grows".
    let mut probe = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: F_GETLK reads and writes the one `struct flock` it is given,
    // which lives on this stack frame for the whole call; the descriptor is
    // borrowed from `file`, open for the call.
    errno_result(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut probe) })?;
    if i32::from(probe.l_type) == libc::F_UNLCK {
        return Ok(None);
    }
    Ok(Pid::new(probe.l_pid))
}

/// A lock for [`lock_taking_daemon`] to take.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestLock {
    /// A POSIX record lock (`F_SETLK`) of this type (`F_RDLCK`,
    /// `F_WRLCK`) on `len` bytes from `start` (0: to the end).
    Posix {
        write: bool,
        start: libc::off_t,
        len: libc::off_t,
    },
    /// `flock(LOCK_EX)`.
    Flock,
    /// An OFD write lock on the whole file (`F_OFD_SETLK`).
    Ofd,
}

/// For tests: a daemon as legacy ones start, taking `lock` on the file
/// at `path`. A child of the caller opens the file, takes the lock when
/// `before_fork` (as libbsd's `pidfile_open(3)` then `daemon(3)` do),
/// forks the daemon, which takes it otherwise, writes its own PID into
/// the file and waits for SIGKILL (SIGALRM ends it after a minute
/// anyway); the child exits once the file is written and is reaped
/// here. Returns the daemon's PID and the child's.
///
/// Between `fork` and the end both processes make async-signal-safe
/// calls only: the test binary has other threads, whose locks a forked
/// child inherits held.
#[cfg(test)]
pub fn lock_taking_daemon(path: &std::path::Path, lock: TestLock, before_fork: bool) -> (Pid, Pid) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    let (kind, start, len) = match lock {
        TestLock::Posix { write, start, len } => {
            let kind = if write { libc::F_WRLCK } else { libc::F_RDLCK };
            (kind, start, len)
        }
        TestLock::Flock | TestLock::Ofd => (libc::F_WRLCK, 0, 0),
    };
    let region = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: len,
        l_pid: 0,
    };
    let take = |fd: libc::c_int| -> bool {
        // SAFETY: fcntl and flock on a descriptor of ours, with a
        // `struct flock` that lives on this stack for the call.
        unsafe {
            match lock {
                TestLock::Posix { .. } => libc::fcntl(fd, libc::F_SETLK, &region) == 0,
                TestLock::Flock => libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) == 0,
                TestLock::Ofd => libc::fcntl(fd, libc::F_OFD_SETLK, &region) == 0,
            }
        }
    };
    // SAFETY: fork; the child below makes async-signal-safe calls only
    // (open, fcntl, flock, pipe, fork, read, write, close, getpid,
    // ftruncate, pwrite, alarm, pause, _exit) on memory prepared before
    // the fork.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork: {}", io::Error::last_os_error());
    if child == 0 {
        // SAFETY: see above; every path ends in _exit.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDWR);
            if fd < 0 || (before_fork && !take(fd)) {
                libc::_exit(1);
            }
            // The daemon says on this pipe when the file is written; its end
            // (EOF, nothing read) says it failed.
            let mut ready = [0 as libc::c_int; 2];
            if libc::pipe(ready.as_mut_ptr()) != 0 {
                libc::_exit(2);
            }
            let daemon = libc::fork();
            if daemon < 0 {
                libc::_exit(2);
            }
            if daemon > 0 {
                libc::close(ready[1]);
                let mut byte = 0u8;
                let ok = libc::read(ready[0], (&raw mut byte).cast(), 1) == 1;
                libc::_exit(if ok { 0 } else { 3 });
            }
            libc::close(ready[0]);
            if !before_fork && !take(fd) {
                libc::_exit(4);
            }
            // Its PID in decimal, then a newline, written at once.
            let mut digits = [0u8; 12];
            let mut at = digits.len() - 1;
            digits[at] = b'\n';
            let mut n = libc::getpid();
            while n > 0 {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let text = &digits[at..];
            if libc::ftruncate(fd, 0) != 0
                || libc::pwrite(fd, text.as_ptr().cast(), text.len(), 0) < 0
            {
                libc::_exit(5);
            }
            if libc::write(ready[1], c"x".as_ptr().cast(), 1) != 1 {
                libc::_exit(6);
            }
            libc::alarm(60);
            loop {
                libc::pause();
            }
        }
    }
    let mut status = 0;
    // SAFETY: waits for our own child, writing its status to `status`.
    let reaped = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(reaped, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the daemon's parent failed: {status:#x}"
    );
    let text = std::fs::read_to_string(std::ffi::OsStr::from_bytes(path.as_bytes()))
        .expect("the daemon wrote its pidfile");
    let daemon = text.trim().parse().expect("a PID");
    (daemon, Pid::new(child).expect("a child's PID"))
}

/// For tests: ends a process [`lock_taking_daemon`] started (SIGKILL).
#[cfg(test)]
pub fn end_daemon(pid: Pid) {
    // SAFETY: kill takes two integers and touches no memory of ours.
    unsafe { libc::kill(pid.get(), libc::SIGKILL) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::{LockKind, holds_lock, locks_on, named_holders};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

    fn pidfile(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("foster-lock-{}-{name}", std::process::id()));
        std::fs::write(&path, "4242\n").unwrap();
        path
    }

    /// Opened as `read_pidfile` opens pidfiles: read-only, non-blocking.
    fn open_read_only(path: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .unwrap()
    }

    fn dev_ino(file: &std::fs::File) -> (u64, u64) {
        let meta = file.metadata().unwrap();
        (meta.dev(), meta.ino())
    }

    fn me() -> Pid {
        Pid::new(i32::try_from(std::process::id()).unwrap()).unwrap()
    }

    #[test]
    fn names_the_holder_of_a_posix_lock_through_a_read_only_descriptor() {
        for (name, write, start, len) in [
            ("write", true, 0, 0),
            // A read lock conflicts with the write-lock probe as well.
            ("read", false, 0, 0),
            // So does a lock on part of the file only.
            ("range", true, 2, 1),
        ] {
            let path = pidfile(name);
            let file = open_read_only(&path);
            let (dev, ino) = dev_ino(&file);
            assert_eq!(posix_lock_holder(&file).unwrap(), None, "{name}");
            let lock = TestLock::Posix { write, start, len };
            let (holder, _) = lock_taking_daemon(&path, lock, false);
            let seen = posix_lock_holder(&file).unwrap();
            // Asking again through a fresh descriptor, after closing one:
            // foster's close leaves the holder's lock alone.
            drop(open_read_only(&path));
            let again = posix_lock_holder(&open_read_only(&path)).unwrap();
            let listed = named_holders(locks_on(dev, ino));
            let through_fd = holds_lock(holder, dev, ino);
            end_daemon(holder);
            assert_eq!(seen, Some(holder), "{name}");
            assert_eq!(again, Some(holder), "{name}");
            assert_eq!(listed, [(LockKind::Posix, holder)], "{name}");
            assert!(through_fd, "{name}");
            // Its end released it.
            let mut released = false;
            for _ in 0..500 {
                released = posix_lock_holder(&file).unwrap().is_none();
                if released {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            assert!(released, "{name}");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn flock_and_ofd_locks_name_no_posix_holder_but_are_listed() {
        for (name, lock, kind) in [
            ("flock", TestLock::Flock, LockKind::Flock),
            ("ofd", TestLock::Ofd, LockKind::Ofd),
        ] {
            let path = pidfile(name);
            let file = open_read_only(&path);
            let (dev, ino) = dev_ino(&file);
            assert_eq!(locks_on(dev, ino), [], "{name}");
            let (holder, _) = lock_taking_daemon(&path, lock, false);
            let seen = posix_lock_holder(&file).unwrap();
            let locks = locks_on(dev, ino);
            let listed = named_holders(locks_on(dev, ino));
            let through_fd = holds_lock(holder, dev, ino);
            // foster's own descriptor, on the same file, holds nothing.
            let mine = holds_lock(me(), dev, ino);
            end_daemon(holder);
            // An OFD lock conflicts with the probe, but the kernel reports
            // -1 for its holder: no PID.
            assert_eq!(seen, None, "{name}");
            assert_eq!(locks.len(), 1, "{name}: {locks:?}");
            assert_eq!(locks[0].kind, kind, "{name}");
            assert!(locks[0].write, "{name}");
            assert_eq!(
                (locks[0].major, locks[0].minor),
                (libc::major(dev), libc::minor(dev)),
                "{name}"
            );
            if kind == LockKind::Flock {
                assert_eq!(listed, [(kind, holder)], "{name}");
            } else {
                assert_eq!(locks[0].pid, None, "{name}");
                assert_eq!(listed, [], "{name}");
            }
            assert!(through_fd, "{name}");
            assert!(!mine, "{name}");
            std::fs::remove_file(&path).unwrap();
        }
    }
}
