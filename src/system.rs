//! System mode: foster as the init of a machine (a VM, a microVM, an
//! appliance), not of a container.
//!
//! A container's runtime hands PID 1 a finished world: `/proc`, `/dev` and
//! the rest mounted, standard descriptors open, and an exit that simply
//! ends the container. The kernel hands a machine's PID 1 nothing: no file
//! system but the root, perhaps no console on descriptors 0 to 2, and an
//! exit of PID 1 panics the kernel. So in system mode foster
//!
//! - at start, mounts what is missing of `/proc`, `/sys`, `/dev`
//!   (devtmpfs), `/dev/pts`, `/dev/shm`, `/run` and the cgroup v2 hierarchy
//!   at `/sys/fs/cgroup`; puts `/dev/console` on closed standard
//!   descriptors (and logs to `/dev/kmsg` when there is no console at all);
//!   sets the hostname from `/etc/hostname`; and turns Ctrl-Alt-Del into a
//!   SIGINT instead of an immediate reset;
//! - at the end, after the usual shutdown (services stopped in order, then
//!   everything left SIGTERMed, the grace, SIGKILL, reaped), syncs,
//!   unmounts what it can, remounts read-only what it cannot, and calls
//!   `reboot(2)` to power off, restart or halt. It never returns from
//!   [`power_down`].
//!
//! When is foster a machine's init? When it is PID 1 of the kernel's own
//! PID namespace: `/proc/self` is `1` and PID 2 is `kthreadd`. A
//! container's PID 1 never sees `kthreadd` (kernel threads live outside
//! every container's namespace), and one that sees the host's `/proc`
//! (`unshare --pid --fork` without `--mount-proc`) is not `1` there. When
//! nothing is mounted on `/proc` yet, foster mounts it to ask: the kernel
//! started it directly (`init=/sbin/foster`, or `/init` of an initramfs),
//! or else a container left `/proc` out, and then foster unmounts it again
//! and stays a container's init.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use log::{error, info, warn};

use crate::supervisor::Power;
use crate::sys::{self, MountFlags};

/// How foster came to be a machine's init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Started by the kernel itself: nothing is mounted, and its arguments
    /// are the kernel command line's.
    Kernel,
    /// Exec'd as PID 1 of the kernel's PID namespace after `/proc` was
    /// mounted (by an initramfs before `switch_root`, say).
    Handover,
}

/// Whether foster, PID 1 or not, is the init of a machine (module docs).
pub fn detect(pid1: bool) -> Option<Start> {
    if !pid1 {
        return None;
    }
    if Path::new("/proc/self").exists() {
        return in_the_kernels_namespace().then_some(Start::Handover);
    }
    let proc = Path::new("/proc");
    let _ = fs::create_dir_all(proc);
    let flags = MountFlags::MS_NOSUID | MountFlags::MS_NODEV | MountFlags::MS_NOEXEC;
    sys::mount("proc", proc, "proc", flags, "").ok()?;
    if in_the_kernels_namespace() {
        return Some(Start::Kernel);
    }
    // A container without /proc: leave its world as it was.
    let _ = sys::unmount(proc);
    None
}

/// Whether the mounted `/proc` shows foster as PID 1 and `kthreadd` as 2.
fn in_the_kernels_namespace() -> bool {
    fs::read_link("/proc/self").is_ok_and(|p| p == Path::new("1"))
        && fs::read_to_string("/proc/2/stat").is_ok_and(|stat| is_kthreadd(&stat))
}

/// Whether a `/proc/2/stat` line is the kernel's thread spawner's: named
/// `kthreadd`, with no parent.
fn is_kthreadd(stat: &str) -> bool {
    stat.starts_with("2 (kthreadd) ")
        && matches!(crate::procfs::parse_stat(stat), Some((pid, None)) if pid.get() == 2)
}

/// What [`prepare`] did and found, to be logged once logging is set up
/// (it is set up after the command line is read, and the command line of a
/// kernel-started foster can only be read once `/proc` is mounted).
#[derive(Debug, Default)]
pub struct Prepared {
    /// Neither stderr nor `/dev/console` could be had: log to `/dev/kmsg`.
    pub log_to_kmsg: bool,
    /// Steps taken, for the info log.
    pub done: Vec<String>,
    /// Steps that failed, for the warning log.
    pub problems: Vec<String>,
    /// Kernel command-line words that were passed to init but were not
    /// after `--`, so are not foster's arguments.
    pub ignored_args: Vec<OsString>,
}

/// One file system an init mounts.
struct EarlyMount {
    target: &'static str,
    fstype: &'static str,
    flags: MountFlags,
    data: &'static str,
}

/// What foster mounts where nothing is mounted yet, in this order (each
/// mount point but the first lies on a file system mounted before it).
/// The options are the ones every Linux distribution uses.
fn early_mounts() -> [EarlyMount; 7] {
    let strict = MountFlags::MS_NOSUID | MountFlags::MS_NODEV | MountFlags::MS_NOEXEC;
    [
        EarlyMount {
            target: "/proc",
            fstype: "proc",
            flags: strict,
            data: "",
        },
        EarlyMount {
            target: "/sys",
            fstype: "sysfs",
            flags: strict,
            data: "",
        },
        EarlyMount {
            target: "/dev",
            fstype: "devtmpfs",
            flags: MountFlags::MS_NOSUID,
            data: "mode=0755",
        },
        EarlyMount {
            target: "/dev/pts",
            fstype: "devpts",
            flags: MountFlags::MS_NOSUID | MountFlags::MS_NOEXEC,
            data: "mode=0620,ptmxmode=0666",
        },
        EarlyMount {
            target: "/dev/shm",
            fstype: "tmpfs",
            flags: MountFlags::MS_NOSUID | MountFlags::MS_NODEV,
            data: "mode=1777",
        },
        EarlyMount {
            target: "/run",
            fstype: "tmpfs",
            flags: MountFlags::MS_NOSUID | MountFlags::MS_NODEV,
            data: "mode=0755",
        },
        EarlyMount {
            target: "/sys/fs/cgroup",
            fstype: "cgroup2",
            flags: strict,
            data: "",
        },
    ]
}

/// The links in `/dev` that programs expect and devtmpfs does not make.
const DEV_LINKS: [(&str, &str); 4] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// Readies the machine before anything else runs: mounts, console,
/// hostname, Ctrl-Alt-Del. Every step that fails is noted and skipped;
/// none is fatal (a kernel without devpts still runs services).
pub fn prepare(start: Start) -> Prepared {
    let mut prepared = Prepared::default();
    if start == Start::Kernel {
        // Mounted by [`detect`], to tell a machine from a container.
        prepared.done.push("mounted proc on /proc".into());
    }
    let mounted = |prepared: &mut Prepared| match fs::read_to_string("/proc/self/mountinfo") {
        Ok(table) => mount_points(&table)
            .into_iter()
            .map(|m| m.point)
            .collect::<Vec<_>>(),
        Err(e) => {
            prepared
                .problems
                .push(format!("cannot read /proc/self/mountinfo: {e}"));
            Vec::new()
        }
    };
    // /proc is there: `detect` found it or mounted it.
    let already = mounted(&mut prepared);
    for m in early_mounts() {
        let target = Path::new(m.target);
        if already.iter().any(|p| p == target) {
            continue;
        }
        if let Err(e) = fs::create_dir_all(target) {
            prepared
                .problems
                .push(format!("cannot create {}: {e}", m.target));
            continue;
        }
        match sys::mount(m.fstype, target, m.fstype, m.flags, m.data) {
            Ok(()) => prepared
                .done
                .push(format!("mounted {} on {}", m.fstype, m.target)),
            Err(e) => prepared
                .problems
                .push(format!("cannot mount {} on {}: {e}", m.fstype, m.target)),
        }
    }
    for (link, to) in DEV_LINKS {
        if fs::symlink_metadata(link).is_err()
            && let Err(e) = std::os::unix::fs::symlink(to, link)
        {
            prepared
                .problems
                .push(format!("cannot link {link} to {to}: {e}"));
        }
    }
    let closed = sys::closed_standard_fds();
    if !closed.is_empty() {
        match sys::open_onto(Path::new("/dev/console"), &closed) {
            Ok(()) => prepared
                .done
                .push("standard input, output and error are /dev/console".into()),
            Err(e) => {
                prepared.problems.push(format!(
                    "cannot open /dev/console ({e}); logging to /dev/kmsg"
                ));
                prepared.log_to_kmsg = closed.contains(&2);
            }
        }
    }
    match fs::read_to_string("/etc/hostname") {
        Ok(text) => match hostname_from(&text) {
            Some(name) => match sys::set_hostname(name) {
                Ok(()) => prepared.done.push(format!("hostname set to {name}")),
                Err(e) => prepared
                    .problems
                    .push(format!("cannot set the hostname to {name}: {e}")),
            },
            None => prepared
                .problems
                .push("/etc/hostname holds no valid hostname; left as it is".into()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => prepared
            .problems
            .push(format!("cannot read /etc/hostname: {e}")),
    }
    if let Err(e) = sys::ctrl_alt_del_to_sigint() {
        prepared.problems.push(format!(
            "cannot turn Ctrl-Alt-Del into SIGINT ({e}): it resets the machine at once"
        ));
    }
    prepared
}

/// The hostname in `/etc/hostname`: the first line that is neither empty
/// nor a `#` comment, trimmed, if it is a valid name (at most 64 bytes of
/// letters, digits, `-` and `.`).
fn hostname_from(text: &str) -> Option<&str> {
    let name = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let valid = name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(name)
}

/// foster's arguments when the kernel started it. The kernel passes init
/// the words of its command line after `--`, but also, before them, every
/// word it did not recognise that has no `=` (a typo, or a parameter of a
/// module that is not built in). Only the words after `--` are meant for
/// foster: that many are kept from the end of `argv`, and the rest are
/// returned apart to be reported. Without `--` on the command line, no
/// word is foster's.
pub fn kernel_args(argv: Vec<OsString>, cmdline: &str) -> (Vec<OsString>, Vec<OsString>) {
    let words = split_cmdline(cmdline);
    let after_dashes = words
        .iter()
        .position(|w| w == "--")
        .map_or(0, |i| words.len() - i - 1);
    let mut argv = argv.into_iter();
    let Some(argv0) = argv.next() else {
        return (Vec::new(), Vec::new());
    };
    let mut rest: Vec<OsString> = argv.collect();
    let keep = rest.split_off(rest.len().saturating_sub(after_dashes));
    let mut args = vec![argv0];
    args.extend(keep);
    (args, rest)
}

/// Splits a kernel command line into words as the kernel does: on spaces
/// outside double quotes.
fn split_cmdline(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_ascii_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// One line of `/proc/self/mountinfo`, as far as shutdown cares.
#[derive(Debug, PartialEq, Eq)]
struct MountPoint {
    point: PathBuf,
    fstype: String,
}

/// The mounts of a mountinfo table in mount order (fields: ID, parent,
/// device, root, mount point, options, optional fields, `-`, type, …).
/// Mount points come with spaces and the like escaped as `\ooo`.
fn mount_points(table: &str) -> Vec<MountPoint> {
    table
        .lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let point = head.split_ascii_whitespace().nth(4)?;
            let fstype = tail.split_ascii_whitespace().next()?;
            Some(MountPoint {
                point: PathBuf::from(unescape(point)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
}

/// The last step of a machine's init, once every process is gone: sync,
/// unmount (or remount read-only), and `reboot(2)`. Never returns: should
/// the kernel refuse, foster sleeps rather than exit and panic it.
pub fn power_down(power: Power, code: u8) -> ! {
    info!("everything has stopped (exit status {code}); syncing file systems");
    sys::sync();
    unmount_all();
    sys::sync();
    let (command, doing) = match power {
        Power::Poweroff => (sys::RebootCommand::PowerOff, "powering off"),
        Power::Reboot => (sys::RebootCommand::Restart, "rebooting"),
        Power::Halt => (sys::RebootCommand::Halt, "halting"),
    };
    info!("{doing}");
    crate::console::flush_before_exit(std::time::Duration::from_secs(1));
    let e = sys::reboot(command);
    error!("cannot end with reboot(2) ({e}); foster stays here, doing nothing");
    sys::sleep_forever()
}

/// Unmounts every file system but the root, newest first; what is busy is
/// remounted read-only instead, and so is the root.
fn unmount_all() {
    let table = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(table) => table,
        Err(e) => {
            warn!("cannot read /proc/self/mountinfo ({e}); remounting only / read-only");
            String::new()
        }
    };
    let mut unmounted = 0;
    let mut read_only = Vec::new();
    let mut left = Vec::new();
    for m in mount_points(&table).iter().rev() {
        if m.point == Path::new("/") {
            continue;
        }
        if sys::unmount(&m.point).is_ok() {
            unmounted += 1;
            continue;
        }
        match sys::remount_read_only(&m.point) {
            Ok(()) => read_only.push(m.point.display().to_string()),
            // Already gone with a parent, or a file system that cannot be
            // read-only (proc, sysfs): nothing is lost with it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => left.push(format!("{} ({}: {e})", m.point.display(), m.fstype)),
        }
    }
    match sys::remount_read_only(Path::new("/")) {
        Ok(()) => read_only.push("/".into()),
        Err(e) => left.push(format!("/ ({e})")),
    }
    info!(
        "unmounted {unmounted} file systems; read-only: {}",
        if read_only.is_empty() {
            "none".to_string()
        } else {
            read_only.join(" ")
        }
    );
    if !left.is_empty() {
        info!("left as they were: {}", left.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn kthreadd_is_recognised_and_nothing_else() {
        assert!(is_kthreadd(
            "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0"
        ));
        // A container's PID 2, or a process that names itself kthreadd.
        assert!(!is_kthreadd(
            "2 (sh) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"
        ));
        assert!(!is_kthreadd(
            "2 (kthreadd) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"
        ));
    }

    #[test]
    fn only_words_after_the_dashes_are_fosters() {
        let (args, ignored) = kernel_args(
            os(&["/init", "nosmt-typo", "/bin/check", "--fast"]),
            "console=ttyS0 nosmt-typo panic=-1 -- /bin/check --fast\n",
        );
        assert_eq!(args, os(&["/init", "/bin/check", "--fast"]));
        assert_eq!(ignored, os(&["nosmt-typo"]));
    }

    #[test]
    fn without_dashes_every_word_is_the_kernels() {
        let (args, ignored) = kernel_args(os(&["/sbin/foster", "single"]), "root=/dev/vda single");
        assert_eq!(args, os(&["/sbin/foster"]));
        assert_eq!(ignored, os(&["single"]));
    }

    #[test]
    fn quoted_words_count_once() {
        let (args, ignored) = kernel_args(
            os(&["/init", "-v", "--", "sh", "-c", "echo a b"]),
            "quiet -- -v -- sh -c \"echo a b\"",
        );
        assert_eq!(args, os(&["/init", "-v", "--", "sh", "-c", "echo a b"]));
        assert!(ignored.is_empty());
    }

    #[test]
    fn hostname_is_the_first_real_line() {
        assert_eq!(hostname_from("# the box\n\n  vm-1 \nother\n"), Some("vm-1"));
        assert_eq!(hostname_from("bad name\n"), None);
        assert_eq!(hostname_from("-x\n"), None);
        assert_eq!(hostname_from(&"a".repeat(65)), None);
        assert_eq!(hostname_from(""), None);
    }

    #[test]
    fn mount_points_unescaped_in_order() {
        let table = "\
22 1 0:21 / / rw - rootfs rootfs rw
23 22 0:22 / /proc rw,nosuid - proc proc rw
30 22 0:30 / /mnt/my\\040disk rw shared:1 - ext4 /dev/vda1 rw
";
        assert_eq!(
            mount_points(table),
            vec![
                MountPoint {
                    point: "/".into(),
                    fstype: "rootfs".into()
                },
                MountPoint {
                    point: "/proc".into(),
                    fstype: "proc".into()
                },
                MountPoint {
                    point: "/mnt/my disk".into(),
                    fstype: "ext4".into()
                },
            ]
        );
        assert_eq!(unescape("a\\134b\\0"), OsString::from("a\\b\\0"));
    }
}
