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
//! them ([`crate::procfs::lock_holders`]).

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::OpenOptionsExt;

    /// A `python3` child that takes `lock` (Python code using `f`, the
    /// file opened read-write) on `path`, says so on its stdout, and
    /// holds it until killed.
    fn lock_holder(path: &std::path::Path, lock: &str) -> std::process::Child {
        let script = format!(
            "import fcntl, struct, sys, time\n\
             f = open(sys.argv[1], 'r+')\n\
             {lock}\n\
             print('locked', flush=True)\n\
             time.sleep(60)\n"
        );
        let mut child = std::process::Command::new("python3")
            .args(["-c", &script])
            .arg(path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");
        child
    }

    fn pidfile(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("foster-lock-{}-{name}", std::process::id()));
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "4242").unwrap();
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
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().unwrap();
        (meta.dev(), meta.ino())
    }

    fn pid_of(child: &std::process::Child) -> Option<Pid> {
        Pid::new(i32::try_from(child.id()).unwrap())
    }

    #[test]
    fn names_the_holder_of_a_posix_lock_through_a_read_only_descriptor() {
        for (name, lock) in [
            ("write", "fcntl.lockf(f, fcntl.LOCK_EX)"),
            // A read lock conflicts with the write-lock probe as well.
            (
                "read",
                "fcntl.fcntl(f, fcntl.F_SETLK, struct.pack('hhqqi', fcntl.F_RDLCK, 0, 0, 0, 0))",
            ),
            // Part of the file only.
            (
                "range",
                "fcntl.fcntl(f, fcntl.F_SETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 2, 1, 0))",
            ),
        ] {
            let path = pidfile(name);
            let file = open_read_only(&path);
            assert_eq!(posix_lock_holder(&file).unwrap(), None, "{name}");
            let mut child = lock_holder(&path, lock);
            let seen = posix_lock_holder(&file).unwrap();
            let (dev, ino) = dev_ino(&file);
            let listed = crate::procfs::lock_holders(dev, ino);
            let through_fd = pid_of(&child).map(|p| crate::procfs::holds_lock(p, dev, ino));
            // Asking twice through a fresh descriptor, closed between:
            // foster's close must leave the holder's lock alone.
            drop(open_read_only(&path));
            let again = posix_lock_holder(&open_read_only(&path)).unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            assert_eq!(seen, pid_of(&child), "{name}");
            assert_eq!(again, pid_of(&child), "{name}");
            let holder = pid_of(&child).unwrap();
            assert_eq!(listed, [(crate::procfs::LockKind::Posix, holder)], "{name}");
            assert_eq!(through_fd, Some(true), "{name}");
            // Its end released it.
            assert_eq!(posix_lock_holder(&file).unwrap(), None, "{name}");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn flock_and_ofd_locks_name_no_posix_holder() {
        for (name, kind, lock) in [
            (
                "flock",
                crate::procfs::LockKind::Flock,
                "fcntl.flock(f, fcntl.LOCK_EX)",
            ),
            // F_OFD_SETLK is 37; the kernel reports its holder as -1.
            (
                "ofd",
                crate::procfs::LockKind::Ofd,
                "fcntl.fcntl(f, 37, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))",
            ),
        ] {
            let path = pidfile(name);
            let file = open_read_only(&path);
            let (dev, ino) = dev_ino(&file);
            assert_eq!(crate::procfs::locks_on(dev, ino), [], "{name}");
            let mut child = lock_holder(&path, lock);
            let seen = posix_lock_holder(&file).unwrap();
            let locks = crate::procfs::locks_on(dev, ino);
            let listed = crate::procfs::lock_holders(dev, ino);
            let holder = pid_of(&child).unwrap();
            let through_fd = crate::procfs::holds_lock(holder, dev, ino);
            let me = Pid::new(i32::try_from(std::process::id()).unwrap()).unwrap();
            let mine = crate::procfs::holds_lock(me, dev, ino);
            child.kill().unwrap();
            child.wait().unwrap();
            assert_eq!(seen, None, "{name}");
            assert_eq!(locks.len(), 1, "{name}: {locks:?}");
            assert!(locks[0].write, "{name}");
            assert_eq!(
                (locks[0].major, locks[0].minor),
                (libc::major(dev), libc::minor(dev)),
                "{name}"
            );
            if kind == crate::procfs::LockKind::Flock {
                assert_eq!(listed, [(kind, holder)], "{name}");
            } else {
                // -1: no process named.
                assert_eq!(locks[0].pid, None, "{name}");
                assert_eq!(listed, [], "{name}");
            }
            assert_eq!(locks[0].kind, kind, "{name}");
            // The holder's descriptor shows the lock; foster's own, on the
            // same file, does not.
            assert!(through_fd, "{name}");
            assert!(!mine, "{name}");
            assert_eq!(crate::procfs::locks_on(dev, ino), [], "{name}");
            std::fs::remove_file(&path).unwrap();
        }
    }
}
