//! What foster reads in `/proc`: its descendants, what ties a process to
//! a service, and who holds a lock on a file.
//!
//! A subreaper that is not PID 1 cannot use `kill(-1, …)` (that would reach
//! every process of the user, far beyond foster's tree), so it walks
//! `/proc/*/stat` and follows parent links down from itself. Every orphan
//! in foster's tree was reparented to foster, so the walk finds them all.

use std::collections::HashMap;
use std::io;

use crate::sys::Pid;

/// The PID and parent PID from one `/proc/PID/stat` line. The command name
/// sits in parentheses and may itself contain spaces and parentheses, so the
/// fields are counted from the last `)`. The parent is `None` where `/proc`
/// says 0: for a PID namespace's init, a kernel thread spawner, or a
/// process whose parent is outside the namespace.
pub fn parse_stat(line: &str) -> Option<(Pid, Option<Pid>)> {
    let (head, tail) = line.rsplit_once(')')?;
    let pid = head.split_once(" (")?.0.trim().parse().ok()?;
    let mut fields = tail.split_ascii_whitespace();
    let _state = fields.next()?;
    let ppid = absent_if_zero(fields.next()?)?;
    Some((pid, ppid))
}

/// A PID field of `/proc/PID/stat`: `None` when it is not a number at all,
/// `Some(None)` for 0 (a process outside this PID namespace, or none).
fn absent_if_zero(field: &str) -> Option<Option<Pid>> {
    field.parse().ok().map(Pid::new)
}

/// The session ID of `pid` (field 6 of `/proc/PID/stat`), if it can be read
/// and its leader is in foster's PID namespace (else `/proc` says 0).
pub fn session_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, tail) = stat.rsplit_once(')')?;
    tail.split_ascii_whitespace().nth(3)?.parse().ok()
}

/// When `pid` started, in clock ticks since boot (zombies included).
pub fn start_ticks(pid: Pid) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, tail) = stat.rsplit_once(')')?;
    tail.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Parent, session and start time of `pid`, if it is alive (not a zombie).
pub fn candidate(pid: Pid) -> Option<crate::pidfile::Candidate> {
    stat_of(pid).filter(|&(_, zombie)| !zombie).map(|(c, _)| c)
}

/// Parent, session and start time of `pid`, and whether it is a zombie
/// (ended, not yet reaped: `/proc` still describes it).
pub fn stat_of(pid: Pid) -> Option<(crate::pidfile::Candidate, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, tail) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = tail.split_ascii_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) session(6) … starttime(22).
    let candidate = crate::pidfile::Candidate {
        pid,
        ppid: absent_if_zero(fields.get(1)?)?,
        session: absent_if_zero(fields.get(3)?)?,
        start_ticks: fields.get(19)?.parse().ok()?,
    };
    Some((candidate, fields.first() == Some(&"Z")))
}

/// The parents of `pid`, nearest first, up to (not including) `stop` or
/// PID 1, at most [`crate::pidfile::MAX_ANCESTRY`] of them. A process that
/// exits meanwhile ends the walk early.
pub fn ancestors(pid: Pid, stop: Pid) -> Vec<Pid> {
    lineage(pid, stop).0
}

/// [`ancestors`], and the furthest of them with its start time when the
/// walk ended at `stop` (that ancestor is `stop`'s child).
pub fn lineage(pid: Pid, stop: Pid) -> (Vec<Pid>, Option<(Pid, u64)>) {
    let mut found = Vec::new();
    let mut current = pid;
    let mut root = None;
    while found.len() < crate::pidfile::MAX_ANCESTRY {
        let Some((c, _)) = stat_of(current) else {
            break;
        };
        let Some(parent) = c.ppid else {
            break;
        };
        if parent == stop {
            root = (current != pid).then_some((current, c.start_ticks));
            break;
        }
        if parent == Pid::INIT || found.contains(&parent) {
            break;
        }
        found.push(parent);
        current = parent;
    }
    (found, root)
}

/// The value of `FOSTER_SERVICE_NAME` in the environment `pid` was started with
/// (`/proc/PID/environ`, read up to 256 KiB), if it has one.
pub fn service_marker(pid: Pid) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(format!("/proc/{pid}/environ")).ok()?;
    let mut environ = Vec::new();
    file.take(256 * 1024).read_to_end(&mut environ).ok()?;
    marker_in(&environ)
}

/// `FOSTER_SERVICE_NAME`'s value in a NUL-separated environment block.
pub fn marker_in(environ: &[u8]) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(b"FOSTER_SERVICE_NAME="))
        .and_then(|value| std::str::from_utf8(value).ok())
        .map(str::to_string)
}

/// foster's own children, from `/proc/thread-self/children` (foster has
/// one thread, so this is every child it has, reparented orphans too).
pub fn own_children() -> io::Result<Vec<Pid>> {
    let list = std::fs::read_to_string("/proc/thread-self/children")?;
    Ok(list
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}

/// Every live process below `root`, children first.
pub fn descendants(root: Pid) -> io::Result<Vec<Pid>> {
    let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<Pid>().ok()) else {
            continue;
        };
        // A process may exit between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // No parent in view (0): below nobody foster can be.
        if let Some((pid, Some(ppid))) = parse_stat(&stat) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    Ok(walk(root, &children))
}

/// The live descendants of `root` (every process when `root` is `None`)
/// in session `sid` that started at or after `since` (clock ticks; any
/// time when `None`).
pub fn session_members(sid: Pid, since: Option<u64>, root: Option<Pid>) -> io::Result<Vec<Pid>> {
    let below = match root {
        Some(root) => Some(
            descendants(root)?
                .into_iter()
                .collect::<std::collections::HashSet<_>>(),
        ),
        None => None,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<Pid>().ok())
        else {
            continue;
        };
        if below.as_ref().is_some_and(|b| !b.contains(&pid)) {
            continue;
        }
        if candidate(pid).is_some_and(|c| c.session == Some(sid) && c.started_since(since)) {
            found.push(pid);
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------------------
// File locks: `/proc/locks` and `/proc/PID/fdinfo`

/// What kind of lock a line of `/proc/locks` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// A POSIX record lock (`fcntl(F_SETLK)`, `lockf(3)`): owned by the
    /// process that took it, gone when it exits; never inherited.
    Posix,
    /// A `flock(2)` lock: owned by the open file, so shared by every
    /// process that inherited the descriptor.
    Flock,
    /// An open file description lock (`fcntl(F_OFD_SETLK)`): owned by the
    /// open file too.
    Ofd,
}

/// One lock, as a line of `/proc/locks` (or a `lock:` line of
/// `/proc/PID/fdinfo/FD`) describes it:
///
/// ```text
/// 7: POSIX  ADVISORY  WRITE 19676 fe:00:10010805 0 EOF
/// 6: FLOCK  ADVISORY  WRITE 19676 fe:00:10010807 0 EOF
/// 5: OFDLCK ADVISORY  WRITE -1 fe:00:10010808 0 EOF
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockEntry {
    pub kind: LockKind,
    /// A write (exclusive) lock; else a read (shared) one.
    pub write: bool,
    /// Who the kernel says took it. Never for an OFD lock (the kernel
    /// writes -1: it belongs to no process). For a `flock` lock, the
    /// process that *took* it, which may have exited since while a child
    /// that inherited the descriptor keeps the lock, and whose number
    /// may then be another process's: see [`holds_lock`].
    pub pid: Option<Pid>,
    /// The file's device, as the kernel numbers it (`MAJOR:MINOR`).
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

/// The locks `/proc/locks` lists, line by line. What is skipped:
/// processes *waiting* for a lock (their lines read `N: -> …`, nested
/// deeper with more spaces before the arrow: they hold nothing), leases
/// and delegations, `ACCESS` entries, locks on no inode (`<none>:0`), and
/// any line that does not read as the kernel writes one
/// (`fs/locks.c` `lock_get_status`: `"%d %02x:%02x:%lu "` for PID, major,
/// minor and inode, the device numbers in hex).
pub fn parse_locks(text: &str) -> Vec<LockEntry> {
    text.lines().filter_map(parse_lock_line).collect()
}

fn parse_lock_line(line: &str) -> Option<LockEntry> {
    let mut fields = line.split_ascii_whitespace();
    let id = fields.next()?;
    id.strip_suffix(':')?.parse::<u64>().ok()?;
    let kind = match fields.next()? {
        "POSIX" => LockKind::Posix,
        "FLOCK" => LockKind::Flock,
        "OFDLCK" => LockKind::Ofd,
        // "->" (a blocked waiter), LEASE, DELEG, ACCESS, UNKNOWN.
        _ => return None,
    };
    match fields.next()? {
        // MANDATORY: kernels before 5.15 had mandatory locks.
        "ADVISORY" | "MANDATORY" => {}
        _ => return None,
    }
    let write = match fields.next()? {
        "WRITE" => true,
        "READ" => false,
        _ => return None,
    };
    let pid = fields.next()?.parse().ok().and_then(Pid::new);
    let mut device = fields.next()?.split(':');
    let major = u32::from_str_radix(device.next()?, 16).ok()?;
    let minor = u32::from_str_radix(device.next()?, 16).ok()?;
    let inode = device.next()?.parse().ok()?;
    if device.next().is_some() {
        return None;
    }
    // The range: "START END" or "START EOF".
    fields.next()?;
    fields.next()?;
    Some(LockEntry {
        kind,
        write,
        pid,
        major,
        minor,
        inode,
    })
}

/// The locks a `/proc/PID/fdinfo/FD` text lists (its `lock:` lines): the
/// locks held through that descriptor's open file, by the open file
/// (`flock`, OFD) or by that process (POSIX).
pub fn parse_fdinfo_locks(text: &str) -> Vec<LockEntry> {
    text.lines()
        .filter_map(|line| line.strip_prefix("lock:"))
        .filter_map(parse_lock_line)
        .collect()
}

/// The inode a `/proc/PID/fdinfo/FD` text names (its `ino:` line).
fn fdinfo_inode(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("ino:"))?
        .trim()
        .parse()
        .ok()
}

/// The major and minor numbers of a `st_dev`, split as glibc's `major(3)`
/// and `minor(3)` do: 12 bits of major and 20 of minor in the kernel, the
/// minor's low byte kept at the bottom for old programs. These are the
/// numbers `/proc/locks` prints.
pub fn device_numbers(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    // Each fits in 32 bits by construction (masks of a 64-bit number
    // shifted by at least 8 and 12); saturate rather than trust that.
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
}

/// At most this much of `/proc/locks` is read (some 15000 locks): a
/// machine with more is not one whose pidfiles foster can afford to
/// look for one by one.
const MAX_LOCKS_TEXT: u64 = 1024 * 1024;

/// At most this much of one `/proc/PID/fdinfo/FD` is read: the header
/// and `lock:` lines come first, before what an epoll or inotify
/// descriptor adds.
const MAX_FDINFO_TEXT: u64 = 4096;

/// At most this many descriptors of one process are looked at.
const MAX_FDS_LOOKED_AT: usize = 4096;

/// Reads `path`, at most `limit` bytes, as text; what follows the last
/// newline is dropped when the limit was reached (a line cut in two could
/// otherwise read as another inode). `None` when it cannot be read.
fn read_lines_bounded(path: &str, limit: u64) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).ok()?;
    if u64::try_from(bytes.len()).ok()? >= limit {
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1);
        bytes.truncate(end);
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The locks on the file `dev`/`ino` (a `stat`'s `st_dev` and `st_ino`)
/// that `/proc/locks` lists, as [`parse_locks`] reads them. Empty when
/// `/proc` is missing.
///
/// The PIDs are those of the PID namespace `/proc` was mounted for, and
/// the kernel leaves out the locks of processes that namespace does not
/// see (`fs/locks.c` `locks_show`): a holder outside foster's container
/// is not listed at all.
pub fn locks_on(dev: u64, ino: u64) -> Vec<LockEntry> {
    let (major, minor) = device_numbers(dev);
    let Some(text) = read_lines_bounded("/proc/locks", MAX_LOCKS_TEXT) else {
        return Vec::new();
    };
    parse_locks(&text)
        .into_iter()
        .filter(|l| l.major == major && l.minor == minor && l.inode == ino)
        .collect()
}

/// The processes `locks` name, write locks first, else in the kernel's
/// order; locks that name no process (OFD locks) left out.
pub fn named_holders(mut locks: Vec<LockEntry>) -> Vec<(LockKind, Pid)> {
    // A stable sort: the kernel's order kept among writers and readers.
    locks.sort_by_key(|l| !l.write);
    locks
        .into_iter()
        .filter_map(|l| Some((l.kind, l.pid?)))
        .collect()
}

/// Whether `pid` holds a lock on the file `dev`/`ino` through one of its
/// descriptors, as `/proc/PID/fdinfo` says: the kernel lists there the
/// locks of each descriptor's open file — a `flock` or OFD lock in every
/// process sharing that open file (a daemon that inherited its pidfile's
/// descriptor from the parent that locked it), a POSIX lock in its owner.
/// Unlike the PID `/proc/locks` shows for a `flock` lock, this is about
/// the process now, not the one that took the lock. Reads no file the
/// descriptors name (a hung network mount must not stall foster), and at
/// most [`MAX_FDS_LOOKED_AT`] descriptors. `false` when it cannot be read.
pub fn holds_lock(pid: Pid, dev: u64, ino: u64) -> bool {
    let (major, minor) = device_numbers(dev);
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return false;
    };
    entries
        .take(MAX_FDS_LOOKED_AT)
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let fd: u32 = name.to_str()?.parse().ok()?;
            read_lines_bounded(&format!("/proc/{pid}/fdinfo/{fd}"), MAX_FDINFO_TEXT)
        })
        .filter(|text| fdinfo_inode(text) == Some(ino))
        .any(|text| {
            parse_fdinfo_locks(&text)
                .iter()
                .any(|l| l.major == major && l.minor == minor && l.inode == ino)
        })
}

fn walk(root: Pid, children: &HashMap<Pid, Vec<Pid>>) -> Vec<Pid> {
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for &child in children.get(&parent).map(Vec::as_slice).unwrap_or_default() {
            // A PID cannot be its own ancestor; guard anyway against a
            // corrupt table so the walk always ends.
            if child != root && !found.contains(&child) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: i32) -> Pid {
        Pid::new(n).expect("a positive PID")
    }

    fn pids(ns: &[i32]) -> Vec<Pid> {
        ns.iter().copied().map(pid).collect()
    }

    /// Our own PID, or a child's (`std::process::id`, `Child::id`).
    fn process(id: u32) -> Pid {
        pid(i32::try_from(id).expect("a PID fits in an i32"))
    }

    fn lock(kind: LockKind, write: bool, n: i32, dev: (u32, u32), inode: u64) -> LockEntry {
        LockEntry {
            kind,
            write,
            pid: Pid::new(n),
            major: dev.0,
            minor: dev.1,
            inode,
        }
    }

    #[test]
    fn parses_proc_locks_as_this_kernel_writes_it() {
        // Taken from a 6.18 kernel, a process holding each kind (and one
        // waiting behind a POSIX and a flock lock).
        let text = "\
1: POSIX  ADVISORY  WRITE 20482 fe:00:10010806 0 EOF
1: -> POSIX  ADVISORY  WRITE 20524 fe:00:10010806 0 EOF
2: FLOCK  ADVISORY  WRITE 20148 fe:00:10010787 0 EOF
2: -> FLOCK  ADVISORY  WRITE 20409 fe:00:10010787 0 EOF
3: OFDLCK ADVISORY  READ -1 00:06:3 0 EOF
4: POSIX  ADVISORY  READ 19676 fe:00:10010818 0 EOF
5: FLOCK  ADVISORY  READ 19676 fe:00:10010833 0 EOF
6: POSIX  ADVISORY  WRITE 764 00:16:21448 0 0
7: POSIX  ADVISORY  READ  3548 08:01:7865567 1826 2335
";
        use LockKind::*;
        assert_eq!(
            parse_locks(text),
            [
                lock(Posix, true, 20482, (0xfe, 0), 10010806),
                lock(Flock, true, 20148, (0xfe, 0), 10010787),
                lock(Ofd, false, -1, (0, 6), 3),
                lock(Posix, false, 19676, (0xfe, 0), 10010818),
                lock(Flock, false, 19676, (0xfe, 0), 10010833),
                lock(Posix, true, 764, (0, 0x16), 21448),
                lock(Posix, false, 3548, (8, 1), 7865567),
            ]
        );
        // An OFD lock, and a PID outside the reader's namespace, name no
        // process.
        assert_eq!(
            parse_locks("9: OFDLCK ADVISORY  WRITE -1 fe:00:5 0 EOF")[0].pid,
            None
        );
        assert_eq!(
            parse_locks("9: FLOCK  ADVISORY  WRITE 0 fe:00:5 0 EOF")[0].pid,
            None
        );
        // Older kernels: mandatory locks, and minor numbers past a byte.
        assert_eq!(
            parse_locks("1: POSIX  MANDATORY WRITE 12 103:1a2:77 0 EOF"),
            [lock(Posix, true, 12, (0x103, 0x1a2), 77)]
        );
    }

    #[test]
    fn skips_waiters_leases_and_hostile_lines() {
        let text = "\
1:  -> FLOCK  ADVISORY  WRITE 20409 fe:00:10010787 0 EOF
1:   -> POSIX  ADVISORY  WRITE 1 fe:00:10010787 0 EOF
2: LEASE  ACTIVE    READ 1427 fe:00:753934 0 EOF
3: DELEG  ACTIVE    READ 1427 fe:00:753934 0 EOF
4: LEASE  BREAKER   UNLCK 1427 fe:00:753934 0 EOF
5: ACCESS  ADVISORY  READ 10 fe:00:1 0 EOF
6: POSIX *NOINODE* WRITE 10 <none>:0 0 EOF
7: POSIX  ADVISORY  WRITE 10 fe:00:99999999999999999999999 0 EOF
8: POSIX  ADVISORY  WRITE 10 fffffffff:00:1 0 EOF
9: POSIX  ADVISORY  WRITE 10 fe:00:1:2 0 EOF
10: POSIX  ADVISORY  WRITE 10 fe:00 0 EOF
11: POSIX  ADVISORY  WRITE 10 fe:00:1
12: POSIX  ADVISORY  UNLCK 10 fe:00:1 0 EOF
13: POSIX  SUGGESTED WRITE 10 fe:00:1 0 EOF
POSIX  ADVISORY  WRITE 10 fe:00:1 0 EOF
x: POSIX  ADVISORY  WRITE 10 fe:00:1 0 EOF
14 POSIX  ADVISORY  WRITE 10 fe:00:1 0 EOF
garbage


15: POSIX
\u{0}\u{ff}: ß
";
        assert_eq!(parse_locks(text), []);
        // A PID that is no number, or too big for one, names nobody; the
        // lock is still there.
        for pid in ["abc", "99999999999", "-2147483649", "+", "-0"] {
            let line = format!("1: FLOCK  ADVISORY  WRITE {pid} fe:00:5 0 EOF");
            assert_eq!(
                parse_locks(&line),
                [lock(LockKind::Flock, true, 0, (0xfe, 0), 5)],
                "{pid}"
            );
        }
    }

    #[test]
    fn reads_the_locks_of_a_descriptor() {
        let fdinfo = "pos:\t6\nflags:\t02100002\nmnt_id:\t27\nino:\t10010690\n\
                      lock:\t1: FLOCK  ADVISORY  WRITE 21787 fe:00:10010690 0 EOF\n\
                      lock:\t2: -> FLOCK  ADVISORY  WRITE 2 fe:00:10010690 0 EOF\n\
                      tfd:        5 events:       19 data:                5\n";
        assert_eq!(fdinfo_inode(fdinfo), Some(10010690));
        assert_eq!(
            parse_fdinfo_locks(fdinfo),
            [lock(LockKind::Flock, true, 21787, (0xfe, 0), 10010690)]
        );
        assert_eq!(fdinfo_inode("pos:\t0\nflags:\t01\n"), None);
        assert_eq!(parse_fdinfo_locks("ino:\t5\n"), []);
    }

    #[test]
    fn splits_a_device_number_as_glibc_does() {
        for (major, minor) in [
            (0, 0),
            (8, 1),
            (254, 0),
            (0, 0x1a2),
            (259, 65537),
            (4095, 1 << 19),
        ] {
            let dev = libc::makedev(major, minor);
            assert_eq!(device_numbers(dev), (major, minor));
            assert_eq!((libc::major(dev), libc::minor(dev)), (major, minor));
        }
        assert_eq!(device_numbers(0xfe00), (0xfe, 0));
        assert_eq!(device_numbers(u64::MAX), (u32::MAX, u32::MAX));
    }

    #[test]
    fn a_cut_line_is_not_read() {
        let path = std::env::temp_dir().join(format!("foster-locks-cut-{}", std::process::id()));
        std::fs::write(
            &path,
            "1: POSIX  ADVISORY  WRITE 10 fe:00:12345 0 EOF\n2: POSIX",
        )
        .unwrap();
        let text = read_lines_bounded(path.to_str().unwrap(), 52).unwrap();
        assert_eq!(text, "1: POSIX  ADVISORY  WRITE 10 fe:00:12345 0 EOF\n");
        let text = read_lines_bounded(path.to_str().unwrap(), 40).unwrap();
        assert_eq!(text, "");
        let text = read_lines_bounded(path.to_str().unwrap(), 1000).unwrap();
        assert!(text.ends_with("2: POSIX"));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read_lines_bounded("/nonexistent/locks", 10), None);
    }

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let stat = |n, ppid| Some((pid(n), Some(pid(ppid))));
        assert_eq!(parse_stat("42 (sh) S 7 42 42 0 -1"), stat(42, 7));
        assert_eq!(parse_stat("42 (a) b) (c) R 9 1 1"), stat(42, 9));
        assert_eq!(parse_stat("42 (with space) Z 1 1"), stat(42, 1));
        // A parent outside the PID namespace, or none: /proc says 0.
        assert_eq!(parse_stat("1 (init) S 0 1 1"), Some((pid(1), None)));
        assert_eq!(parse_stat("0 (swapper) S 0 0 0"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn walks_the_whole_tree_below_root() {
        let mut children = HashMap::new();
        children.insert(pid(1), pids(&[10, 20]));
        children.insert(pid(10), pids(&[11]));
        children.insert(pid(11), pids(&[12]));
        children.insert(pid(20), vec![]);
        children.insert(pid(99), pids(&[100]));
        let mut found = walk(pid(10), &children);
        found.sort();
        assert_eq!(found, pids(&[11, 12]));
        let mut all = walk(pid(1), &children);
        all.sort();
        assert_eq!(all, pids(&[10, 11, 12, 20]));
    }

    #[test]
    fn reads_a_candidate() {
        let me = process(std::process::id());
        let c = candidate(me).unwrap();
        assert_eq!(c.pid, me);
        assert_eq!(c.session, session_of(me));
        assert!(c.start_ticks > 0);
    }

    #[test]
    fn reads_a_session() {
        // The session ID reads 0 when the session leader lives outside
        // this PID namespace (as under some CI runners): no session then,
        // as getsid(2) says too. A child in a new session has its own PID
        // as session ID. No process has a PID above pid_max (2^22 at most).
        let me = process(std::process::id());
        let sid = nix::unistd::getsid(None).unwrap().as_raw();
        assert_eq!(session_of(me), Pid::new(sid));
        assert_eq!(session_of(pid(i32::MAX)), None);
        let mut child = std::process::Command::new("setsid")
            .args(["sleep", "5"])
            .spawn()
            .unwrap();
        let pid = process(child.id());
        let mut seen = None;
        for _ in 0..500 {
            seen = session_of(pid);
            if seen == Some(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, Some(pid));
    }

    #[test]
    fn lists_a_zombie_child_and_its_own_children() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = process(child.id());
        // Wait for the exit without reaping it.
        let mut zombie = None;
        for _ in 0..1000 {
            zombie = stat_of(pid).filter(|&(_, z)| z);
            if zombie.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let (c, _) = zombie.expect("the child became a zombie");
        assert_eq!(c.ppid, Some(process(std::process::id())));
        assert_eq!(candidate(pid), None);
        // Test threads are not the thread that forked, so only check that
        // the file reads; the loop's thread sees its own children.
        assert!(own_children().is_ok());
        child.wait().unwrap();
    }

    #[test]
    fn reads_the_service_marker_and_the_ancestry() {
        assert_eq!(
            marker_in(b"PATH=/bin\0FOSTER_SERVICE_NAME=web\0HOME=/"),
            Some("web".into())
        );
        assert_eq!(marker_in(b"PATH=/bin\0XFOSTER_SERVICE_NAME=web\0"), None);
        assert_eq!(marker_in(b""), None);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env("FOSTER_SERVICE_NAME", "db")
            .spawn()
            .unwrap();
        let pid = process(child.id());
        let me = process(std::process::id());
        // Until the child has exec'd, its environment is the test's.
        let mut marker = None;
        for _ in 0..500 {
            marker = service_marker(pid);
            if marker.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(marker, Some("db".into()));
        assert_eq!(ancestors(pid, me), Vec::<Pid>::new());
        // Stopping at PID 1 is no stop: the walk ends there anyway.
        let found = ancestors(pid, Pid::INIT);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found.first(), Some(&me));
    }

    #[test]
    fn finds_its_own_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendants(process(std::process::id())).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&process(child.id())));
    }
}
