//! foster as the init of a real machine: a Linux kernel booted under
//! `qemu-system-x86_64` with an initramfs whose `/init` is the static
//! foster, beside a static busybox and fosterctl. Each test reads the
//! serial console, as a user watching the VM would, and waits for qemu to
//! end by itself: `-no-reboot` turns both a power-off and a reboot into
//! qemu's exit, and the kernel's last line says which it was.
//!
//! Needs qemu-system-x86, busybox-static and a kernel (`tests/vm/fetch-kernel`
//! extracts Debian's cloud kernel into target/vm/vmlinuz; `FOSTER_VM_KERNEL`
//! names another). `.ci/run` installs them and runs fetch-kernel before the
//! tests, which install nothing themselves; elsewhere a missing piece skips
//! these tests with a message, and in CI it fails them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::util::assert_in_order;

/// A boot under TCG takes seconds; this only catches a hang.
const BOOT_DEADLINE: Duration = Duration::from_secs(240);

/// What a VM test needs from the machine.
struct Kit {
    foster: PathBuf,
    fosterctl: PathBuf,
    busybox: PathBuf,
    kernel: PathBuf,
}

/// The kit, or `None` (with a message) when a piece is missing outside CI.
fn kit() -> Option<&'static Kit> {
    static KIT: OnceLock<Result<Kit, String>> = OnceLock::new();
    match KIT.get_or_init(assemble) {
        Ok(kit) => Some(kit),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI=true but the VM tests cannot run: {why}"
            );
            eprintln!("note: skipping a VM test: {why}");
            None
        }
    }
}

fn assemble() -> Result<Kit, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("qemu-system-x86_64 ({e}): install qemu-system-x86"))?;
    let busybox = PathBuf::from("/bin/busybox");
    let is_static = Command::new("busybox")
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("BusyBox"))
        && std::fs::read(&busybox).is_ok_and(|elf| !has_interpreter(&elf));
    if !is_static {
        return Err("no static /bin/busybox: install busybox-static".into());
    }
    // The tests install nothing (fetch-kernel runs apt-get): a missing
    // kernel is reported like any missing tool.
    let kernel = match std::env::var_os("FOSTER_VM_KERNEL") {
        Some(k) => PathBuf::from(k),
        None => root.join("target/vm/vmlinuz"),
    };
    if !kernel.exists() {
        return Err(format!(
            "no kernel at {}: run tests/vm/fetch-kernel (.ci/run does), or name one with FOSTER_VM_KERNEL",
            kernel.display()
        ));
    }
    let (foster, fosterctl) = static_build(root)?;
    Ok(Kit {
        foster,
        fosterctl,
        busybox,
        kernel,
    })
}

/// Whether a 64-bit ELF file names a dynamic loader (a `PT_INTERP`
/// program header): a dynamically linked program cannot run in an
/// initramfs that holds no libraries.
fn has_interpreter(elf: &[u8]) -> bool {
    let num = |at: usize, len: usize| {
        elf.get(at..at + len)
            .map(|b| b.iter().rev().fold(0usize, |n, &x| n << 8 | usize::from(x)))
            .unwrap_or(0)
    };
    let (phoff, phentsize, phnum) = (num(0x20, 8), num(0x36, 2), num(0x38, 2));
    (0..phnum).any(|i| num(phoff + i * phentsize, 4) == 3)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The static release build users put in a VM: musl, or glibc with
/// crt-static when the musl target is not installed. Its own target
/// directory keeps it from waiting on the build that runs these tests.
fn static_build(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let target_dir = root.join("target/vm/build");
    for (triple, rustflags) in [
        ("x86_64-unknown-linux-musl", ""),
        ("x86_64-unknown-linux-gnu", "-C target-feature=+crt-static"),
    ] {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--release",
                "--bin",
                "foster",
                "--bin",
                "fosterctl",
            ])
            .args(["--target", triple, "--target-dir"])
            .arg(&target_dir)
            .current_dir(root);
        if !rustflags.is_empty() {
            cargo.env("RUSTFLAGS", rustflags);
        }
        if cargo.status().is_ok_and(|s| s.success()) {
            let dir = target_dir.join(triple).join("release");
            return Ok((dir.join("foster"), dir.join("fosterctl")));
        }
    }
    Err("cannot build a static foster (rustup target add x86_64-unknown-linux-musl)".into())
}

// ---- the initramfs ------------------------------------------------------

/// An initramfs being put together: the `newc` cpio format the kernel
/// unpacks, written by hand (a header of hex fields, the name, the data,
/// each padded to four bytes).
struct Initramfs {
    bytes: Vec<u8>,
    inode: u32,
}

impl Initramfs {
    /// foster as `/init`, busybox with its applets in /bin, fosterctl, and
    /// `/var/run` pointing at foster's /run.
    fn new(kit: &Kit) -> Initramfs {
        let mut fs = Initramfs {
            bytes: Vec::new(),
            inode: 1,
        };
        for dir in ["bin", "etc", "var", "tmp"] {
            fs.dir(dir);
        }
        fs.file("init", &read(&kit.foster), 0o755);
        fs.file("bin/fosterctl", &read(&kit.fosterctl), 0o755);
        fs.file("bin/busybox", &read(&kit.busybox), 0o755);
        for applet in [
            "sh",
            "sleep",
            "cat",
            "echo",
            "grep",
            "kill",
            "start-stop-daemon",
            "setsid",
            "test",
            "[",
            "tr",
            "mkfifo",
            "dd",
        ] {
            fs.symlink(&format!("bin/{applet}"), "busybox");
        }
        fs.symlink("var/run", "/run");
        fs
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        let header = format!(
            "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.inode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        self.inode += 1;
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, b"");
    }

    fn file(&mut self, name: &str, data: &[u8], perm: u32) {
        self.entry(name, 0o100000 | perm, data);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, target.as_bytes());
    }

    /// Units in /etc/foster/services.d, foster's default services directory.
    fn services(&mut self, units: &[(&str, &str)]) {
        self.dir("etc/foster");
        self.dir("etc/foster/services.d");
        for (name, yaml) in units {
            self.file(
                &format!("etc/foster/services.d/{name}.yaml"),
                yaml.as_bytes(),
                0o644,
            );
        }
    }

    /// A shell script at `/bin/NAME`.
    fn script(&mut self, name: &str, body: &str) {
        self.file(
            &format!("bin/{name}"),
            format!("#!/bin/sh\n{body}").as_bytes(),
            0o755,
        );
    }

    /// Writes the archive (with its trailer) under a fresh name.
    fn finish(mut self, tag: &str) -> PathBuf {
        self.entry("TRAILER!!!", 0, b"");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vm");
        std::fs::create_dir_all(&dir).expect("target/vm");
        // Unique to this image: tests running side by side may share a tag.
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{tag}-{}-{n}.cpio", std::process::id()));
        std::fs::write(&path, &self.bytes).expect("write the initramfs");
        path
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- the VM ---------------------------------------------------------------

/// A booting VM: its console, line by line, and its monitor.
struct Vm {
    lines: Receiver<Option<String>>,
    /// Every console line so far, for assertions and failure messages.
    console: Vec<String>,
    qemu: u32,
    monitor: PathBuf,
    initrd: PathBuf,
    /// qemu's exit status, once it has ended.
    ended: Option<std::process::ExitStatus>,
    exit_rx: Receiver<std::process::ExitStatus>,
}

impl Vm {
    /// Boots `initrd` with `args` after the kernel's own parameters (put
    /// `-- ARGS` there for foster).
    fn boot(kit: &Kit, initrd: PathBuf, args: &str) -> Vm {
        let monitor = initrd.with_extension("monitor");
        let _ = std::fs::remove_file(&monitor);
        let mut child = Command::new("qemu-system-x86_64")
            .args(["-nographic", "-no-reboot", "-m", "256", "-smp", "1"])
            // KVM is not used: where /dev/kvm exists it may still fail
            // (nested virtualisation), and TCG is what every machine has.
            .args(["-accel", "tcg"])
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", monitor.display()))
            .arg("-kernel")
            .arg(&kit.kernel)
            .arg("-initrd")
            .arg(&initrd)
            .arg("-append")
            .arg(format!("console=ttyS0 panic=-1 quiet {args}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qemu-system-x86_64");
        let qemu = child.id();
        let stdout = child.stdout.take().expect("qemu's stdout");
        let (tx, lines) = channel();
        let (exit_tx, exit_rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let _ = tx.send(Some(line.trim_end().to_string()));
                    }
                }
            }
            let _ = tx.send(None);
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Vm {
            lines,
            console: Vec::new(),
            qemu,
            monitor,
            initrd,
            ended: None,
            exit_rx,
        }
    }

    /// Reads the console until a line contains `want`; panics, showing the
    /// console, if qemu ends or the deadline passes first.
    fn expect(&mut self, want: &str) -> String {
        let deadline = Instant::now() + BOOT_DEADLINE;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Some(line)) => {
                    self.console.push(line.clone());
                    if line.contains(want) {
                        return line;
                    }
                }
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    panic!("qemu ended before {want:?}:\n{}", self.console.join("\n"))
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {want:?} on the console:\n{}", self.console.join("\n"))
                }
            }
        }
    }

    /// Waits for qemu to end by itself (power-off or reboot); returns the
    /// whole console.
    fn wait_end(&mut self) -> String {
        let deadline = Instant::now() + BOOT_DEADLINE;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Some(line)) => self.console.push(line),
                Ok(None) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "qemu is still running: the VM never powered off:\n{}",
                    self.console.join("\n")
                ),
            }
        }
        let status = self
            .exit_rx
            .recv_timeout(BOOT_DEADLINE)
            .expect("qemu's exit status");
        self.ended = Some(status);
        assert!(status.success(), "qemu failed: {status}");
        let console = self.console.join("\n");
        assert!(
            !console.contains("Kernel panic"),
            "the kernel panicked:\n{console}"
        );
        console
    }

    /// Sends a monitor command (`sendkey ctrl-alt-delete`).
    fn monitor(&self, command: &str) {
        let mut stream = UnixStream::connect(&self.monitor).expect("qemu's monitor socket");
        stream
            .write_all(format!("{command}\n").as_bytes())
            .expect("write to the monitor");
        // The monitor echoes the command once it has run it.
        let mut reader = BufReader::new(stream);
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !contains(&seen, b"\r\n(qemu) ") || !contains(&seen, command.as_bytes()) {
            match std::io::Read::read(&mut reader, &mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => break,
            }
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.ended.is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.qemu.to_string()])
                .status();
        }
        let _ = std::fs::remove_file(&self.monitor);
        let _ = std::fs::remove_file(&self.initrd);
    }
}

// ---- the tests ------------------------------------------------------------

/// A oneshot, a simple service, a self-daemonizing one (busybox's
/// start-stop-daemon: double fork, pidfile written by the daemon) and one
/// that ignores SIGTERM; the main command checks them all through fosterctl
/// and the machine's state through /proc, then exits, which powers off.
#[test]
fn vm_boots_runs_services_checks_them_and_powers_off_when_the_command_ends() {
    let Some(kit) = kit() else { return };
    let mut fs = Initramfs::new(kit);
    fs.file("etc/hostname", b"# this VM\nfoster-vm\n", 0o644);
    fs.services(&[
        (
            "setup",
            "type: oneshot\ncommand: [\"/bin/sh\", \"-c\", \"echo prepared > /run/setup\"]\n",
        ),
        (
            "web",
            "command: [\"/bin/sh\", \"-c\", \"while :; do sleep 5; done\"]\ndepends_on: [setup]\n",
        ),
        (
            "legacy",
            "type: forking\npidfile: /run/legacy.pid\ndepends_on: [setup]\ncommand: [\"/bin/start-stop-daemon\", \"-S\", \"-b\", \"-m\", \"-p\", \"/run/legacy.pid\", \"-x\", \"/bin/sleep\", \"--\", \"100000\"]\n",
        ),
        (
            "stubborn",
            "command: [\"/bin/sh\", \"-c\", \"trap '' TERM; while :; do sleep 1; done\"]\nstop_timeout: 2s\n",
        ),
    ]);
    fs.script(
        "check",
        r#"say() { echo "CHECK $*"; }
grep -q '^prepared$' /run/setup && say oneshot-ran
fosterctl status setup web legacy stubborn >/dev/null && say all-up
pid=$(cat /run/legacy.pid)
fosterctl status --json legacy | grep -q "\"pid\":$pid[,}]" && say daemon-followed-$pid
fosterctl status --json legacy | grep -q '"pid_source":"pidfile"' && say from-pidfile
[ "$(cat /proc/sys/kernel/hostname)" = foster-vm ] && say hostname
[ "$(cat /proc/sys/kernel/ctrl-alt-del)" = 0 ] && say cad-is-sigint
for m in "/proc proc" "/sys sysfs" "/dev devtmpfs" "/dev/pts devpts" "/dev/shm tmpfs" "/run tmpfs" "/sys/fs/cgroup cgroup2"; do
    grep -q " $m " /proc/mounts && say "mounted ${m% *}"
done
[ -t 0 ] && [ -t 1 ] && say console-is-a-tty
say done
exit 3
"#,
    );
    let initrd = fs.finish("poweroff");
    // `typo-word` is passed to init by the kernel: not foster's.
    let mut vm = Vm::boot(kit, initrd, "typo-word -- /bin/check");
    let console = vm.wait_end();
    for mark in [
        "CHECK oneshot-ran",
        "CHECK all-up",
        "CHECK daemon-followed-",
        "CHECK from-pidfile",
        "CHECK hostname",
        "CHECK cad-is-sigint",
        "CHECK mounted /proc",
        "CHECK mounted /sys",
        "CHECK mounted /dev",
        "CHECK mounted /dev/pts",
        "CHECK mounted /dev/shm",
        "CHECK mounted /run",
        "CHECK mounted /sys/fs/cgroup",
        "CHECK console-is-a-tty",
        "CHECK done",
    ] {
        assert!(console.contains(mark), "{mark:?} missing:\n{console}");
    }
    assert!(
        console.contains("ignoring kernel command-line words before \"--\": typo-word"),
        "{console}"
    );
    // The command's status is reported; the stubborn service is killed at
    // its stop_timeout; then sync, unmount, power off, in that order.
    assert_in_order(
        &console,
        &[
            "main process",
            "stubborn: still running 2s after its stop signal; killing it",
            "everything has stopped (exit status 3); syncing file systems",
            "unmounted",
            "foster: powering off",
            "reboot: Power down",
        ],
    );
}

/// Ctrl-Alt-Del on the VM's keyboard (sent by qemu's monitor) reaches foster
/// as SIGINT: the command gets SIGTERM, a process left behind that ignores
/// SIGTERM is killed after the grace, and the machine reboots.
#[test]
fn vm_reboots_on_ctrl_alt_del_after_killing_what_ignores_sigterm() {
    let Some(kit) = kit() else { return };
    let mut fs = Initramfs::new(kit);
    fs.script(
        "wait-for-cad",
        r#"mkfifo /run/up
setsid sh -c "trap '' TERM; echo > /run/up; while :; do sleep 1; done" &
read up < /run/up
trap 'echo COMMAND-GOT-TERM; exit 0' TERM
echo WAITING-FOR-CAD
# `wait` returns as soon as the trapped SIGTERM arrives (a foreground
# `sleep` would hold the trap back until it ends).
sleep 600 &
wait $!
"#,
    );
    let initrd = fs.finish("reboot");
    let mut vm = Vm::boot(kit, initrd, "-- --grace 2s /bin/wait-for-cad");
    vm.expect("WAITING-FOR-CAD");
    vm.monitor("sendkey ctrl-alt-delete");
    let console = vm.wait_end();
    assert_in_order(
        &console,
        &[
            "SIGINT received: shutting down to reboot",
            "COMMAND-GOT-TERM",
            "sending SIGTERM to the processes left behind",
            "grace period over: killing what is left",
            "foster: rebooting",
            "reboot: Restarting system",
        ],
    );
    assert!(!console.contains("Power down"), "{console}");
}

/// `fosterctl halt` from inside: a VM's foster opens its control socket
/// even without services, stops, and halts the machine, which stays on
/// (qemu keeps running) with the kernel's "System halted". Here the
/// initramfs's /dev/console is a directory, so the kernel starts foster
/// with no standard descriptors: foster opens the console itself.
#[test]
fn vm_halts_on_fosterctl_halt_and_opens_the_console_itself() {
    let Some(kit) = kit() else { return };
    let mut fs = Initramfs::new(kit);
    // A directory: the kernel's open of it fails, so it opens no console.
    fs.dir("dev");
    fs.dir("dev/console");
    fs.script(
        "halt-me",
        "trap 'echo COMMAND-GOT-TERM; exit 0' TERM\nfosterctl halt\nwhile :; do sleep 1; done\n",
    );
    let initrd = fs.finish("halt");
    let mut vm = Vm::boot(kit, initrd, "-- /bin/halt-me");
    vm.expect("unable to open an initial console");
    vm.expect("standard input, output and error are /dev/console");
    vm.expect("halt requested: shutting down");
    vm.expect("COMMAND-GOT-TERM");
    vm.expect("foster: halting");
    vm.expect("reboot: System halted");
}

/// PID 1 of a container is never taken for a machine's init, even where it
/// sees the host's /proc (kthreadd is PID 2 there) or no /proc at all:
/// no mounts, no reboot(2), the command's status as the exit status.
#[test]
fn a_containers_pid1_that_sees_the_hosts_proc_or_none_stays_a_container_init() {
    if !crate::util::modes().contains(&crate::util::Mode::Pid1) {
        return;
    }
    let foster = crate::util::foster_bin();
    let script = "test -e /proc/self && echo proc-present || echo proc-absent; exit 3";
    for (case, prelude, expect) in [
        // The host's /proc: /proc/self is the host's PID, not 1.
        ("host /proc", "", "proc-present"),
        // No /proc at all: foster mounts it to look, then unmounts it.
        ("no /proc", "umount -l /proc && ", "proc-absent"),
    ] {
        let out = Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--kill-child", "sh", "-c"])
            .arg(format!("{prelude}exec {foster} -v -- sh -c '{script}'"))
            .output()
            .expect("unshare");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{case}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expect,
            "{case}"
        );
        assert!(!stderr.contains("mounted"), "{case}: {stderr}");
    }
}

/// Issue 12, item 3, with cgroups (a VM's pure cgroup v2): a service whose
/// main process is killed three times leaves nothing of its earlier runs,
/// not even a worker that made a session of its own (which only its cgroup
/// knows), and each restart comes once the old run's cgroup is empty.
#[test]
fn vm_a_killed_service_leaves_nothing_behind_its_cgroup_included() {
    let Some(kit) = kit() else { return };
    let mut fs = Initramfs::new(kit);
    fs.services(&[(
        "left",
        "command: [\"/bin/sh\", \"-c\", \"setsid sleep 1001 & exec sleep 2002\"]\nrestart: always\nrestart_delay: 0s\n",
    )]);
    fs.script(
        "check",
        r#"say() { echo "CHECK $*"; }
pid_of() { fosterctl status --json left | sed -n 's/.*"pid":\([0-9]*\),.*/\1/p'; }
count() {
    n=0
    for p in /proc/[0-9]*; do
        [ "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" = "sleep 1001 " ] && n=$((n+1))
    done
    echo $n
}
wait_new() {
    i=0
    while [ $i -lt 300 ]; do
        new=$(pid_of)
        [ -n "$new" ] && [ "$new" != "$1" ] && [ "$(count)" = 1 ] && return 0
        sleep 0.1; i=$((i+1))
    done
    return 1
}
wait_new none || say never-up
[ -d /sys/fs/cgroup/foster-1/left ] && say has-cgroup
for round in 1 2 3; do
    old=$(pid_of)
    kill -9 "$old"
    wait_new "$old" || say "round-$round-never-restarted"
done
say "left-$(count)"
say done
"#,
    );
    let initrd = fs.finish("poweroff");
    let mut vm = Vm::boot(kit, initrd, "-- /bin/check");
    let console = vm.wait_end();
    for mark in ["CHECK has-cgroup", "CHECK left-1", "CHECK done"] {
        assert!(console.contains(mark), "{mark:?} missing:\n{console}");
    }
    assert!(!console.contains("never"), "{console}");
}

/// Issue 15 item 4, where the limits can be enforced (a VM's pure cgroup
/// v2, foster in the root cgroup): `memory.max` and `pids.max` in place
/// before the service runs, a memory hog killed by the OOM killer and
/// reported so (`last_exit_reason: oom`, 137, the log line), a fork bomb
/// held at `pids_max` (100 forks asked for, 20 processes at most).
#[test]
fn vm_cgroup_limits_are_in_place_an_oom_kill_is_reported_and_a_fork_bomb_held() {
    let Some(kit) = kit() else { return };
    let mut fs = Initramfs::new(kit);
    fs.services(&[
        (
            "bomb",
            "command: \"i=0; while [ $i -lt 100 ]; do sleep 1000 & i=$((i+1)); done; wait\"\nmemory_max: 32M\npids_max: 20\nrestart: never\nkill_mode: main\n",
        ),
        (
            "hog",
            "command: [\"/bin/dd\", \"if=/dev/zero\", \"of=/dev/null\", \"bs=64M\", \"count=1\"]\nmemory_max: 32M\nmemory_swap_max: 0\nrestart: never\n",
        ),
    ]);
    fs.script(
        "check",
        r#"say() { echo "CHECK $*"; }
cg=/sys/fs/cgroup/foster-1
say "bomb-memory.max=$(cat $cg/bomb/memory.max)"
say "bomb-pids.max=$(cat $cg/bomb/pids.max)"
say "hog-memory.swap.max=$(cat $cg/hog/memory.swap.max)"
i=0
while [ $i -lt 600 ]; do
    fosterctl status --json hog | grep -q '"state":"failed"' && break
    sleep 0.1; i=$((i+1))
done
say "hog $(fosterctl status --json hog | grep -o '"last_exit":[0-9]*')"
say "hog $(fosterctl status --json hog | grep -o '"last_exit_reason":"[a-z-]*"')"
say "hog $(fosterctl status --json hog | grep -o '"limits_enforced":[a-z]*')"
say "hog-table $(fosterctl status hog | grep hog)"
i=0
while [ $i -lt 600 ]; do
    fosterctl status --json bomb | grep -q '"state":"failed"' && break
    sleep 0.1; i=$((i+1))
done
say "bomb-procs=$(grep -c . $cg/bomb/cgroup.procs)"
say "bomb-pids.current=$(cat $cg/bomb/pids.current)"
say "bomb-pids.events-$(grep max $cg/bomb/pids.events | tr ' ' '=')"
say "bomb $(fosterctl status --json bomb | grep -o '"limits_enforced":[a-z]*')"
say done
"#,
    );
    let initrd = fs.finish("cglimits");
    let mut vm = Vm::boot(kit, initrd, "-- /bin/check");
    let console = vm.wait_end();
    let line = |prefix: &str| {
        console
            .lines()
            .find_map(|l| {
                l.split_once(prefix)
                    .map(|(_, rest)| rest.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {prefix:?} on the console:\n{console}"))
    };
    assert_eq!(line("CHECK bomb-memory.max="), "33554432", "{console}");
    assert_eq!(line("CHECK bomb-pids.max="), "20", "{console}");
    assert_eq!(line("CHECK hog-memory.swap.max="), "0", "{console}");
    for mark in [
        "CHECK hog \"last_exit\":137",
        "CHECK hog \"last_exit_reason\":\"oom\"",
        "CHECK hog \"limits_enforced\":true",
        "(killed by the OOM killer)",
        "hog: a process of it was killed by the OOM killer",
        "CHECK bomb \"limits_enforced\":true",
        "CHECK done",
    ] {
        assert!(console.contains(mark), "{mark:?} missing:\n{console}");
    }
    // The shell that forked the sleeps counted as one of the 20, and
    // ended at the first fork refused (ash's "can't fork"); the sleeps it
    // started live on (`kill_mode: main`).
    let left: u32 = line("CHECK bomb-procs=").parse().expect("a count");
    assert!((1..20).contains(&left), "{left} processes left:\n{console}");
    let current: u32 = line("CHECK bomb-pids.current=").parse().expect("a count");
    assert!(current <= 20, "pids.current {current}:\n{console}");
    let refused: u32 = line("CHECK bomb-pids.events-max=")
        .parse()
        .expect("a count");
    assert!(refused >= 1, "no fork refused:\n{console}");
    assert!(
        !console.contains("cannot be enforced"),
        "limits were not enforced:\n{console}"
    );
}
