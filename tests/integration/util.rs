//! Running the real foster binary, as a subreaper and as PID 1 of a fresh
//! PID namespace, and watching what a user would see: exit status, output,
//! signals received, the process table.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine, short enough that a hang fails the
/// test instead of the whole run. Never a measure of speed.
pub const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// foster started directly: not PID 1, so it makes itself a subreaper.
    Subreaper,
    /// foster as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`).
    Pid1,
}

/// The modes this machine can run. PID 1 needs root; without it the PID 1
/// cases are skipped with a message, except in CI, where that is a failure.
pub fn modes() -> Vec<Mode> {
    static PID1: OnceLock<bool> = OnceLock::new();
    let pid1 = *PID1.get_or_init(|| {
        let ok = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI=true but `unshare --pid --fork --mount-proc` does not work here: the PID 1 tests must run in CI"
            );
            eprintln!("note: skipping the PID 1 cases: `unshare --pid --fork --mount-proc` needs root");
        }
        ok
    });
    if pid1 {
        vec![Mode::Subreaper, Mode::Pid1]
    } else {
        vec![Mode::Subreaper]
    }
}

pub fn foster_bin() -> &'static str {
    env!("CARGO_BIN_EXE_foster")
}

/// The `signal_recorder` fixture (tests/fixtures), built by `cargo test`
/// along with the examples; built here if only this test crate was asked for.
pub fn recorder() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    example(&PATH, "signal_recorder")
}

/// The `legacy_daemon` fixture (tests/fixtures/legacy_daemon.rs), found or
/// built as [`recorder`] is.
pub fn legacy_daemon() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    example(&PATH, "legacy_daemon")
}

/// The `socket_server` fixture (tests/fixtures/socket_server.rs): serves
/// the sockets it is given through `LISTEN_FDS`.
pub fn socket_server() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    example(&PATH, "socket_server")
}

/// The `fd_keeper` fixture (tests/fixtures/fd_keeper.rs): stores memfds
/// and pipes in foster's fd store and logs what it gets back.
pub fn fd_keeper() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    example(&PATH, "fd_keeper")
}

/// The `watchdog_pet` fixture (tests/fixtures/watchdog_pet.rs): pings,
/// triggers or retimes its watchdog, and logs what it was given.
pub fn watchdog_pet() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    example(&PATH, "watchdog_pet")
}

/// The `health_server` fixture (tests/fixtures/health_server.rs): answers
/// HTTP a number of times, then hangs.
pub fn health_server() -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    example(&PATH, "health_server")
}

fn example(cell: &'static OnceLock<PathBuf>, name: &str) -> String {
    let path = cell.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        let path = dir.join("examples").join(name);
        if !path.exists() {
            // The profile the tests were built with (`cargo test --release`).
            let release = dir.ends_with("release").then_some("--release");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--example", name])
                .args(release)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap_or_else(|e| panic!("cargo build --example {name}: {e}"));
            assert!(status.success());
        }
        path
    });
    path.to_string_lossy().into_owned()
}

/// A command that runs foster with `args` in `mode`.
pub fn foster(mode: Mode, args: &[&str]) -> Command {
    let mut cmd = match mode {
        Mode::Subreaper => Command::new(foster_bin()),
        Mode::Pid1 => {
            let mut c = Command::new("unshare");
            // --kill-child: if the test gives up and kills unshare, foster
            // (and with it the whole namespace) goes too.
            c.args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                foster_bin(),
            ]);
            c
        }
    };
    cmd.args(args);
    cmd
}

/// Kills a process if the test fails before it is done with it, so no
/// foster (or shell on a pseudo-terminal) outlives a failed test. Disarm it
/// (`.0 = None`) once the process has been waited for: its PID may then be
/// anyone's.
pub struct KillOnDrop(pub Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill takes two integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A running foster with its output read line by line on helper threads.
pub struct Running {
    guard: KillOnDrop,
    pub child: Child,
    pub mode: Mode,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub stdin: Option<ChildStdin>,
    pub stdout_seen: Vec<String>,
    pub stderr_seen: Vec<String>,
}

fn lines<R: Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn start(mut cmd: Command) -> Running {
    let mode = if cmd.get_program() == "unshare" {
        Mode::Pid1
    } else {
        Mode::Subreaper
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn foster");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let stdin = child.stdin.take();
    Running {
        guard: KillOnDrop(Some(child.id() as i32)),
        child,
        mode,
        stdout,
        stderr,
        stdin,
        stdout_seen: Vec::new(),
        stderr_seen: Vec::new(),
    }
}

impl Running {
    /// Waits for the next stdout line.
    pub fn line(&mut self) -> String {
        match self.stdout.recv_timeout(DEADLINE) {
            Ok(line) => {
                self.stdout_seen.push(line.clone());
                line
            }
            Err(e) => panic!(
                "no line on stdout ({e:?}); stderr so far: {:?}",
                self.drain_stderr()
            ),
        }
    }

    /// Waits for a stdout line equal to `want`, skipping others.
    pub fn expect_line(&mut self, want: &str) {
        loop {
            if self.line() == want {
                return;
            }
        }
    }

    /// Waits for a stderr line containing `part`.
    pub fn expect_stderr(&mut self, part: &str) {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(part);
                    self.stderr_seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("stderr never said {part:?}; it said {:?}", self.stderr_seen),
            }
        }
    }

    /// Every stderr line foster has written so far (for failure messages).
    pub fn drain_stderr(&mut self) -> Vec<String> {
        while let Ok(line) = self.stderr.try_recv() {
            self.stderr_seen.push(line);
        }
        self.stderr_seen.clone()
    }

    pub fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// foster's PID as seen from the test (in PID 1 mode, the host's view
    /// of the namespace's init: unshare's only child).
    pub fn foster_pid(&self) -> i32 {
        let own = self.child.id() as i32;
        match self.mode {
            Mode::Subreaper => own,
            Mode::Pid1 => {
                let until = Instant::now() + DEADLINE;
                loop {
                    if let Some(&pid) = children_of(own).first() {
                        return pid;
                    }
                    assert!(Instant::now() < until, "unshare never started foster");
                    std::thread::yield_now();
                }
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.foster_pid();
        // SAFETY: kill takes two integers.
        let ret = unsafe { libc::kill(pid, sig) };
        assert_eq!(ret, 0, "kill({pid}, {sig})");
    }

    /// Waits for foster to exit (killing it after [`DEADLINE`], which fails
    /// the test). Returns the status and every remaining output line.
    pub fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        let (tx, rx) = channel();
        let pid = self.child.id();
        let mut child = self.child;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(DEADLINE) {
            Ok(status) => {
                self.guard.0 = None;
                status.expect("wait")
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                // SAFETY: kill takes two integers.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                panic!(
                    "foster did not exit within {DEADLINE:?}; stderr: {:?}",
                    self.stderr_seen
                );
            }
        };
        let mut stdout = self.stdout_seen;
        stdout.extend(self.stdout.iter());
        let mut stderr = self.stderr_seen;
        stderr.extend(self.stderr.iter());
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Finished {
    /// foster's exit code; foster always exits, it is never killed.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!(
                "foster was killed: {:?}; stderr: {:?}",
                self.status, self.stderr
            ),
        }
    }
}

/// Runs foster to completion with stdin closed.
pub fn run(mode: Mode, args: &[&str]) -> Finished {
    start(foster(mode, args)).finish()
}

/// PIDs whose parent is `parent`, from `/proc`.
pub fn children_of(parent: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == parent)
        .map(|p| p.pid)
        .collect()
}

#[derive(Debug)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
}

pub fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = tail.split_ascii_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        out.push(Proc { pid, ppid, state });
    }
    out
}

/// Polls `check` until it holds or [`DEADLINE`] passes. For states that no
/// event announces (a zombie being reaped by another process); never used
/// to wait for time to pass.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < until, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A scratch directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("foster-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `name` in the directory; returns its path as a string.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write file");
        path.to_string_lossy().into_owned()
    }

    pub fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Live processes (not zombies) whose command line, arguments joined by
/// spaces, is exactly `cmdline`.
pub fn running(cmdline: &str) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.state != 'Z')
        .filter(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|raw| {
                let args: Vec<String> = raw
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.join(" ") == cmdline
            })
        })
        .map(|p| p.pid)
        .collect()
}

/// Asserts that each of `marks` appears in `text`, each on a later line
/// than the one before (what a console or a log shows, in that order).
pub fn assert_in_order(text: &str, marks: &[&str]) {
    let mut from = 0;
    for mark in marks {
        let Some(at) = text.lines().skip(from).position(|l| l.contains(mark)) else {
            panic!("no {mark:?} after line {from} (marks in order: {marks:?}):\n{text}");
        };
        from += at + 1;
    }
}
