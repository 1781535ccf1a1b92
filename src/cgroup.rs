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
//!
//! ## Limits
//!
//! A unit's cgroup limits (`memory_max`, `cpu_max`, `pids_max`, …) are
//! files of its cgroup (`memory.max`, `cpu.max`, `pids.max`, …), written
//! before its first process joins it. Those files exist only where the
//! controller is enabled for the cgroup, that is listed in the
//! `cgroup.subtree_control` of every cgroup above it: here of the cgroup
//! foster started in (its *parent* below) and of `foster-PID`. foster
//! enables a controller there the first time a unit's limit needs it, and
//! only one listed in the parent's `cgroup.controllers`; nothing changes
//! for units without limits.
//!
//! The kernel's "no internal process" rule (cgroup-v2.rst): a cgroup with
//! processes of its own cannot give domain controllers (memory, io) to
//! its children, and writing its `cgroup.subtree_control` fails with
//! EBUSY; the root cgroup is exempt. So where enabling one in the parent
//! fails with EBUSY, foster moves itself into a leaf of its own,
//! `foster-PID/.init` (a service's name never starts with a dot), and
//! tries again; processes of the parent that are not foster's are left
//! where they are (then the controller cannot be had, and foster says
//! so). As the PID 1 of a VM foster is in the root cgroup and stays there.
//! At exit foster undoes what it did, as far as it can: it takes back the
//! controllers it enabled, returns to its parent and removes its cgroups.
//!
//! Nothing here is fatal: a controller that cannot be enabled, a file that
//! cannot be written, is reported to the caller, which warns and starts
//! the service without the limit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::sys::Pid;
use crate::unit::{Amount, CgroupLimits, CpuMax};

/// foster's directory of service cgroups.
pub struct Cgroups {
    base: PathBuf,
    /// The same directory as `/proc/PID/cgroup` names it (the path in the
    /// hierarchy, from foster's cgroup namespace), to tell whose cgroup a
    /// process is in.
    path: String,
    /// The cgroup foster started in, where `base` is.
    parent: PathBuf,
    /// The controllers enabled for the service cgroups so far.
    enabled: Vec<&'static str>,
    /// Those foster enabled in the parent itself (taken back at exit).
    added: Vec<&'static str>,
    /// Those that could not be enabled (asked for once).
    refused: Vec<&'static str>,
    /// foster moved itself into `base/.init` (see the module's doc).
    moved: bool,
}

/// The leaf foster moves itself into, in `foster-PID`.
const LEAF: &str = ".init";

/// The controllers a limit can need, in the order they are enabled.
pub const CONTROLLERS: [&str; 4] = ["memory", "cpu", "io", "pids"];

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
                    return Ok(Cgroups {
                        base,
                        path,
                        parent: dir,
                        enabled: Vec::new(),
                        added: Vec::new(),
                        refused: Vec::new(),
                        moved: false,
                    });
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

    /// Enables `controllers` for the service cgroups, those not enabled
    /// yet (see the module's doc). `Err` says why those that could not be
    /// were not, the first time each is asked for; later asks for them
    /// are `Ok` with what is enabled, for the caller to see them missing.
    pub fn delegate(&mut self, controllers: &[&'static str]) -> Result<(), String> {
        let wanted: Vec<&'static str> = controllers
            .iter()
            .copied()
            .filter(|c| !self.enabled.contains(c) && !self.refused.contains(c))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut buf = [0u8; 512];
        let available = read_small(&self.parent.join("cgroup.controllers"), &mut buf)
            .map(words)
            .unwrap_or_default();
        let (offered, missing): (Vec<&'static str>, Vec<&'static str>) = wanted
            .iter()
            .partition(|c| available.iter().any(|a| a == *c));
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!(
                "no {} controller in {}",
                missing.join(", "),
                self.parent.join("cgroup.controllers").display()
            ));
        }
        self.refused.extend(&missing);
        for controller in offered {
            match self.enable(controller) {
                Ok(()) => self.enabled.push(controller),
                Err(e) => {
                    why.push(e);
                    self.refused.push(controller);
                }
            }
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }

    /// Whether `controller` is enabled for the service cgroups.
    pub fn has(&self, controller: &str) -> bool {
        self.enabled.contains(&controller)
    }

    /// Enables one controller in the parent (moving foster into its leaf
    /// first where the parent's processes forbid it) and in `base`.
    fn enable(&mut self, controller: &'static str) -> Result<(), String> {
        let parent = self.parent.join("cgroup.subtree_control");
        let mut buf = [0u8; 512];
        let there = read_small(&parent, &mut buf)
            .map(|text| words(text).iter().any(|c| c == controller))
            .unwrap_or(false);
        if !there {
            let plus = format!("+{controller}");
            match write_file(&parent, &plus) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && !self.moved => {
                    self.move_into_leaf()?;
                    write_file(&parent, &plus).map_err(|e| busy(&parent, controller, &e))?;
                }
                Err(e) => return Err(busy(&parent, controller, &e)),
            }
            self.added.push(controller);
        }
        let own = self.base.join("cgroup.subtree_control");
        write_file(&own, &format!("+{controller}")).map_err(|e| {
            format!(
                "cannot enable the {controller} controller in {}: {e}",
                own.display()
            )
        })
    }

    /// Moves foster into `base/.init`, so that its parent has no process
    /// of foster's (writing 0 to `cgroup.procs` moves the writer).
    fn move_into_leaf(&mut self) -> Result<(), String> {
        let leaf = self.base.join(LEAF);
        match fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
        }
        write_file(&leaf.join("cgroup.procs"), "0")
            .map_err(|e| format!("cannot move foster into {}: {e}", leaf.display()))?;
        self.moved = true;
        Ok(())
    }

    /// Writes `limits` into the cgroup of service `name`: each key the
    /// unit sets, and, with `reset`, the kernel's default for each key it
    /// does not set (a cgroup kept from an earlier run keeps what that run
    /// was given). Files of a controller not enabled are not written.
    /// What could not be written: its file and the error, `None` for a
    /// file of a controller that is not enabled (which `delegate` said).
    pub fn write_limits(
        &self,
        name: &str,
        limits: &CgroupLimits,
        reset: bool,
    ) -> Vec<(&'static str, Option<String>)> {
        let dir = self.dir(name);
        let mut failed = Vec::new();
        for file in limit_files(limits) {
            let given = file.value.is_some();
            let value = match file.value {
                Some(value) => value,
                None if reset => file.default.to_string(),
                None => continue,
            };
            if !self.has(file.controller) {
                if given {
                    failed.push((file.name, None));
                }
                continue;
            }
            if let Err(e) = write_file(&dir.join(file.name), &value) {
                // A default that cannot be written is no limit lost.
                if given {
                    failed.push((file.name, Some(e.to_string())));
                }
            }
        }
        failed
    }

    /// How many of the service's processes the OOM killer has killed
    /// (`oom_kill` of its `memory.events`), where the memory controller is
    /// enabled; the count lasts as long as the cgroup.
    pub fn oom_kills(&self, name: &str) -> Option<u64> {
        if !self.has("memory") {
            return None;
        }
        let mut buf = [0u8; 256];
        let events = read_small(&self.dir(name).join("memory.events"), &mut buf).ok()?;
        parse_oom_kills(events)
    }

    /// Removes every empty service cgroup and foster's directory (at exit),
    /// after taking back what `delegate` did (best effort: a controller
    /// another cgroup has come to use stays).
    pub fn remove_all(&self) {
        if let Ok(entries) = fs::read_dir(&self.base) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != LEAF {
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
        if !self.enabled.is_empty() {
            let own = self.base.join("cgroup.subtree_control");
            let parent = self.parent.join("cgroup.subtree_control");
            for controller in self.enabled.iter().rev() {
                let _ = write_file(&own, &format!("-{controller}"));
            }
            for controller in self.added.iter().rev() {
                let _ = write_file(&parent, &format!("-{controller}"));
            }
        }
        if self.moved {
            let _ = write_file(&self.parent.join("cgroup.procs"), "0");
            let _ = fs::remove_dir(self.base.join(LEAF));
        }
        let _ = fs::remove_dir(&self.base);
    }
}

/// Why a controller could not be enabled in the parent cgroup.
fn busy(file: &Path, controller: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EBUSY) => format!(
            "cannot enable the {controller} controller in {}: other processes are in that cgroup (a cgroup with processes cannot delegate it)",
            file.display()
        ),
        _ => format!(
            "cannot enable the {controller} controller in {}: {e}",
            file.display()
        ),
    }
}

/// Writes `value` to a cgroup file in one `write(2)`, as the kernel takes
/// them (opened for writing only: no truncation, which cgroupfs ignores
/// anyway).
fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

/// The space-separated words of a cgroup file (`cgroup.controllers`).
fn words(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_string).collect()
}

/// One file a cgroup limit is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitFile {
    pub controller: &'static str,
    pub name: &'static str,
    /// What the unit sets, as the file takes it; `None`: not set.
    pub value: Option<String>,
    /// The kernel's default, written to undo an earlier run's value.
    pub default: &'static str,
}

/// Every limit file, with what `limits` sets in each.
pub fn limit_files(limits: &CgroupLimits) -> Vec<LimitFile> {
    let amount = |a: Option<Amount>| {
        a.map(|a| match a {
            Amount::Max => "max".to_string(),
            Amount::Value(n) => n.to_string(),
        })
    };
    let file = |controller, name, value, default| LimitFile {
        controller,
        name,
        value,
        default,
    };
    vec![
        file("memory", "memory.max", amount(limits.memory_max), "max"),
        file("memory", "memory.high", amount(limits.memory_high), "max"),
        file(
            "memory",
            "memory.swap.max",
            amount(limits.memory_swap_max),
            "max",
        ),
        file(
            "cpu",
            "cpu.max",
            limits.cpu_max.map(cpu_max_text),
            "max 100000",
        ),
        file(
            "cpu",
            "cpu.weight",
            limits.cpu_weight.map(|w| w.to_string()),
            "100",
        ),
        file("pids", "pids.max", amount(limits.pids_max), "max"),
        // "default N" sets the weight of every device not named.
        file(
            "io",
            "io.weight",
            limits.io_weight.map(|w| format!("default {w}")),
            "default 100",
        ),
    ]
}

/// The controllers `limits` needs, in [`CONTROLLERS`]'s order.
pub fn controllers_for(limits: &CgroupLimits) -> Vec<&'static str> {
    let files = limit_files(limits);
    CONTROLLERS
        .into_iter()
        .filter(|c| {
            files
                .iter()
                .any(|f| f.controller == *c && f.value.is_some())
        })
        .collect()
}

/// `cpu.max`'s text: `QUOTA PERIOD`, or `max PERIOD`.
fn cpu_max_text(max: CpuMax) -> String {
    match max.quota {
        Some(quota) => format!("{quota} {}", max.period),
        None => format!("max {}", max.period),
    }
}

/// `oom_kill N` from a `memory.events` file.
fn parse_oom_kills(events: &str) -> Option<u64> {
    events.lines().find_map(|line| match line.split_once(' ') {
        Some(("oom_kill", n)) => n.trim().parse().ok(),
        _ => None,
    })
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
        // foster's own leaf (`.init`) is no service's.
        Some(service) if !service.is_empty() && service != LEAF => {
            CgroupMembership::Service(service.to_string())
        }
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
            at("/system.slice/foster-12/.init"),
            CgroupMembership::NoService
        );
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
    fn limit_files_say_what_the_kernel_takes() {
        let limits = CgroupLimits {
            memory_max: Some(Amount::Value(32 << 20)),
            memory_swap_max: Some(Amount::Value(0)),
            cpu_max: Some(CpuMax {
                quota: Some(50_000),
                period: 100_000,
            }),
            pids_max: Some(Amount::Max),
            io_weight: Some(500),
            ..CgroupLimits::default()
        };
        let set: Vec<(&str, Option<String>)> = limit_files(&limits)
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect();
        assert_eq!(
            set,
            [
                ("memory.max", Some("33554432".to_string())),
                ("memory.high", None),
                ("memory.swap.max", Some("0".to_string())),
                ("cpu.max", Some("50000 100000".to_string())),
                ("cpu.weight", None),
                ("pids.max", Some("max".to_string())),
                ("io.weight", Some("default 500".to_string())),
            ]
        );
        assert_eq!(controllers_for(&limits), ["memory", "cpu", "io", "pids"]);
        let cpu_only = CgroupLimits {
            cpu_weight: Some(200),
            ..CgroupLimits::default()
        };
        assert_eq!(controllers_for(&cpu_only), ["cpu"]);
        assert!(controllers_for(&CgroupLimits::default()).is_empty());
        let no_quota = CpuMax {
            quota: None,
            period: 100_000,
        };
        assert_eq!(cpu_max_text(no_quota), "max 100000");
    }

    #[test]
    fn reads_oom_kills_from_memory_events() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(events), Some(1));
        assert_eq!(parse_oom_kills("low 0\noom 0\n"), None);
        assert_eq!(parse_oom_kills("oom_kill x\n"), None);
        // oom_group_kill is another line, never taken for oom_kill.
        assert_eq!(parse_oom_kills("oom_group_kill 3\noom_kill 2\n"), Some(2));
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
