//! A cgroup (v2) per service, where foster may make them.
//!
//! With a writable cgroup v2 hierarchy (a VM foster booted, a privileged
//! container, a root shell on a host), foster makes a directory of its own
//! below the cgroup it runs in, `foster-PID`, and in it one cgroup per
//! service. Each service's first process joins its cgroup before it can
//! fork (see `ChildSpec::join_cgroup`), so everything the service ever
//! starts is in it, whatever sessions and process groups it makes:
//! membership is exact, `cgroup.kill` ends all of it at once, and
//! `cgroup.events` says when none of it is left.
//!
//! Without such a hierarchy nothing here is used, and foster tells a
//! service's processes by PID, session and start time instead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::sys::Pid;

/// foster's directory of service cgroups.
pub struct Cgroups {
    base: PathBuf,
    /// The same directory as `/proc/PID/cgroup` names it (the path in the
    /// hierarchy, from foster's cgroup namespace), to tell whose cgroup a
    /// process is in.
    path: String,
}

impl Cgroups {
    /// Finds the cgroup v2 hierarchy and foster's cgroup in it, and makes
    /// `foster-PID` there. `Err` says why cgroups are not to be had.
    pub fn open(own_pid: Pid) -> Result<Cgroups, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let (root, mount) = cgroup2_mount(&mountinfo).ok_or("no cgroup v2 hierarchy is mounted")?;
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let path = own_cgroup(&own).ok_or("foster is in no cgroup v2 group")?;
        let relative = path
            .strip_prefix(&root)
            .ok_or_else(|| format!("foster's cgroup {path} is outside the mounted {root}"))?
            .trim_start_matches('/');
        let dir = Path::new(&mount).join(relative);
        // mkdir is atomic: the directory that foster creates is its own,
        // never shared with another foster of the same PID (PID 1s of
        // sibling namespaces, or one that died without cleaning up).
        let mut attempt = 0;
        loop {
            let name = match attempt {
                0 => format!("foster-{own_pid}"),
                n => format!("foster-{own_pid}.{n}"),
            };
            let base = dir.join(&name);
            match fs::create_dir(&base) {
                Ok(()) => {
                    let path = format!("{}/{name}", path.trim_end_matches('/'));
                    return Ok(Cgroups { base, path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 256 => {
                    attempt += 1;
                }
                Err(e) => return Err(format!("cannot create {}: {e}", base.display())),
            }
        }
    }

    /// The cgroup of service `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// Makes the service's cgroup (if it is not there yet) and opens its
    /// `cgroup.procs` for the service's first process to join.
    pub fn prepare(&self, name: &str) -> io::Result<File> {
        let dir = self.dir(name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
    }

    /// The `cgroup.events` file of the service, to watch for `populated`.
    pub fn events(&self, name: &str) -> PathBuf {
        self.dir(name).join("cgroup.events")
    }

    /// Whether any process is left in the service's cgroup.
    pub fn populated(&self, name: &str) -> Option<bool> {
        populated_in(&self.dir(name))
    }

    /// The processes in the service's cgroup.
    pub fn members(&self, name: &str) -> io::Result<Vec<Pid>> {
        let list = fs::read_to_string(self.dir(name).join("cgroup.procs"))?;
        Ok(list.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Whose cgroup `pid` is in (`/proc/PID/cgroup`); `Unknown` when that
    /// cannot be read (the process is gone, or `/proc` is).
    pub fn membership(&self, pid: Pid) -> crate::pidfile::CgroupMembership {
        match fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            Ok(text) => membership_in(&text, &self.path),
            Err(_) => crate::pidfile::CgroupMembership::Unknown,
        }
    }

    /// SIGKILL for every process of the service at once (`cgroup.kill`,
    /// Linux 5.14). `Err` when the kernel has no `cgroup.kill`: the caller
    /// signals the members one by one.
    pub fn kill(&self, name: &str) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(self.dir(name).join("cgroup.kill"))?;
        file.write_all(b"1")
    }

    /// Removes every empty service cgroup and foster's directory (at exit).
    pub fn remove_all(&self) {
        if let Ok(entries) = fs::read_dir(&self.base) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
        let _ = fs::remove_dir(&self.base);
    }
}

/// Whose cgroup a `/proc/PID/cgroup` text puts the process in, given the
/// path of foster's directory of service cgroups.
fn membership_in(text: &str, base: &str) -> crate::pidfile::CgroupMembership {
    use crate::pidfile::CgroupMembership;
    let Some(path) = own_cgroup(text) else {
        return CgroupMembership::Unknown;
    };
    match path
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split('/').next())
    {
        Some(service) if !service.is_empty() => CgroupMembership::Service(service.to_string()),
        _ => CgroupMembership::NoService,
    }
}

fn populated_in(dir: &Path) -> Option<bool> {
    let mut buf = [0u8; 256];
    let events = read_small(&dir.join("cgroup.events"), &mut buf).ok()?;
    parse_populated(events)
}

/// A cgroup file of a few lines, read whole into `buf` (`open(2)`,
/// `read(2)` until end of file). `fs::read_to_string` would `fstat` it
/// first and, told its size is 0 as for every cgroup file, read it in
/// steps growing from 32 bytes: twice the system calls, for a file read
/// at every change of every service's `cgroup.events`. Whatever does not
/// fit in `buf` is left unread.
fn read_small<'b>(path: &Path, buf: &'b mut [u8]) -> io::Result<&'b str> {
    use std::io::Read;
    let mut file = File::open(path)?;
    let mut len = 0;
    while let Some(rest) = buf.get_mut(len..).filter(|rest| !rest.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = buf.get(..len).unwrap_or_default();
    std::str::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `populated 0|1` from a `cgroup.events` file.
fn parse_populated(events: &str) -> Option<bool> {
    events.lines().find_map(|line| match line.split_once(' ') {
        Some(("populated", v)) => Some(v.trim() == "1"),
        _ => None,
    })
}

/// The root and mount point of the first cgroup2 mount in a mountinfo
/// table (fields: ID, parent, dev, root, mount point, options, optional
/// fields, `-`, type, source, super options).
fn cgroup2_mount(mountinfo: &str) -> Option<(String, String)> {
    mountinfo.lines().find_map(|line| {
        let (head, tail) = line.split_once(" - ")?;
        if tail.split_ascii_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut fields = head.split_ascii_whitespace().skip(3);
        let root = fields.next()?;
        let mount = fields.next()?;
        // Paths with spaces come escaped (\040); such a mount is not used.
        (!root.contains('\\') && !mount.contains('\\'))
            .then(|| (root.to_string(), mount.to_string()))
    })
}

/// foster's cgroup v2 path, from the `0::PATH` line of `/proc/self/cgroup`.
fn own_cgroup(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
        .filter(|p| p.starts_with('/') && !p.contains(" (deleted)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pidfile::CgroupMembership;

    #[test]
    fn tells_whose_cgroup_a_process_is_in() {
        let base = "/system.slice/foster-12";
        let at = |path: &str| membership_in(&format!("0::{path}\n"), base);
        assert_eq!(
            at("/system.slice/foster-12/web"),
            CgroupMembership::Service("web".into())
        );
        assert_eq!(
            at("/system.slice/foster-12/web/child"),
            CgroupMembership::Service("web".into())
        );
        assert_eq!(at("/system.slice/foster-12"), CgroupMembership::NoService);
        assert_eq!(
            at("/system.slice/foster-123/web"),
            CgroupMembership::NoService
        );
        assert_eq!(at("/user.slice"), CgroupMembership::NoService);
        assert_eq!(
            membership_in("12:pids:/x\n", base),
            CgroupMembership::Unknown
        );
    }

    #[test]
    fn finds_the_cgroup2_mount_among_v1_ones() {
        let table = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,nosuid shared:9 - cgroup cgroup rw,cpu
40 30 0:35 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw
";
        assert_eq!(
            cgroup2_mount(table),
            Some(("/".into(), "/sys/fs/cgroup/unified".into()))
        );
        assert_eq!(cgroup2_mount("31 30 0:27 / /x rw - cgroup cgroup rw"), None);
        assert_eq!(cgroup2_mount("garbage"), None);
    }

    #[test]
    fn reads_a_small_file_whole_or_what_fits() {
        let dir = std::env::temp_dir().join(format!("foster-read-small-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cgroup.events");
        fs::write(&path, "populated 0\nfrozen 0\n").unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(
            read_small(&path, &mut buf).unwrap(),
            "populated 0\nfrozen 0\n"
        );
        assert_eq!(populated_in(&dir), Some(false));
        let mut small = [0u8; 9];
        assert_eq!(read_small(&path, &mut small).unwrap(), "populated");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_its_own_cgroup_and_populated() {
        assert_eq!(
            own_cgroup("12:pids:/a\n0::/system.slice/x.service\n"),
            Some("/system.slice/x.service".into())
        );
        assert_eq!(own_cgroup("4:memory:/a\n"), None);
        assert_eq!(parse_populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(parse_populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(parse_populated(""), None);
    }
}
