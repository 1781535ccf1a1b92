//! Finding foster's descendants in `/proc`.
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
