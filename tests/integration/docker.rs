//! foster as a container's entrypoint under a real Docker engine: the
//! images of `container/` (built by `container/build`, no registry), run
//! the way users run them, judged by what `docker` reports — exit codes,
//! `docker stop`'s outcome, logs, `docker exec`.
//!
//! Run whenever `docker info` answers (CI machines with an engine run
//! them); skipped with a note where there is no engine.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Instant;

use crate::tty::{under_pty, wait_code};
use crate::util::{DEADLINE, KillOnDrop, TempDir, assert_in_order, eventually};

/// The two images of this run, under tags of its own, so that a run never
/// uses nor removes another's (or the user's `foster:latest`).
struct Images {
    /// `foster:latest`'s stand-in: foster alone, FROM scratch.
    base: String,
    /// `foster-example:latest`'s, built FROM `base`.
    example: String,
}

/// The tags of this run's images: `foster-test-PID-SECONDS` and
/// `foster-example-test-PID-SECONDS`.
fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let stamp = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        );
        Images {
            base: format!("foster-test-{stamp}"),
            example: format!("foster-example-test-{stamp}"),
        }
    })
}

/// Removes this run's containers and images; registered with `atexit`
/// before they are built, so it runs when the test binary ends, passed or
/// failed: libtest's `main` returns, or calls `process::exit` on a failure,
/// and both end in `exit(3)`, which runs `atexit` handlers. (A run killed
/// by a signal leaves them; their tags say which run made them.) The
/// containers go first: an image a container uses is not removed.
extern "C" fn remove_images() {
    let images = images();
    let quiet = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    // Every container made from either image (the example is built on
    // the base): those a panicking test left, and `docker run -it`s.
    let listed = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("ancestor={}", images.base))
        .output();
    if let Ok(listed) = listed {
        let ids = String::from_utf8_lossy(&listed.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = quiet(&args);
        }
    }
    let _ = quiet(&["rmi", "-f", &images.example, &images.base]);
}

/// The example image when the engine answers and the images are built
/// (once per run).
fn engine() -> Option<&'static str> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = *READY.get_or_init(|| {
        let answers = Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !answers {
            eprintln!("note: skipping the Docker tests: `docker info` does not answer here");
            return false;
        }
        let images = images();
        // SAFETY: atexit takes a function that takes nothing and returns
        // nothing; registered once (this runs once per run).
        let registered = unsafe { libc::atexit(remove_images) };
        assert_eq!(registered, 0, "atexit");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // The VM tests' target directory: the same static build, and not
        // the one `cargo test` itself holds.
        let status = Command::new(root.join("container/build"))
            .env("CARGO_TARGET_DIR", root.join("target/vm/build"))
            .env("FOSTER_IMAGE", &images.base)
            .env("FOSTER_EXAMPLE_IMAGE", &images.example)
            .env("FOSTER_NO_INSTALL", "1")
            .status()
            .expect("run container/build");
        assert!(status.success(), "container/build failed");
        true
    });
    ready.then(|| images().example.as_str())
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A detached container, removed when dropped; its logs followed line by line.
struct Container {
    name: String,
    logs: Option<Receiver<String>>,
    seen: Vec<String>,
}

impl Container {
    /// `docker run -d --name NAME ARGS...`.
    fn run(tag: &str, args: &[&str]) -> Container {
        let name = format!("foster-test-{tag}-{}", std::process::id());
        let _ = docker(&["rm", "-f", &name]);
        let mut full = vec!["run", "-d", "--name", &name];
        full.extend_from_slice(args);
        let out = docker(&full);
        assert!(
            out.status.success(),
            "docker run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            name,
            logs: None,
            seen: Vec::new(),
        }
    }

    /// Reads the container's output (stdout and stderr) until a line
    /// contains `want`.
    fn expect(&mut self, want: &str) {
        if self.logs.is_none() {
            let mut child = Command::new("docker")
                .args(["logs", "-f", &self.name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("docker logs -f");
            let (tx, rx) = channel();
            for stream in [
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
                Box::new(child.stderr.take().expect("stderr")),
            ] {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    use std::io::BufRead;
                    for line in std::io::BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
            }
            std::thread::spawn(move || child.wait());
            self.logs = Some(rx);
        }
        let Some(logs) = &self.logs else { return };
        let until = Instant::now() + DEADLINE;
        while !self.seen.iter().any(|l| l.contains(want)) {
            match logs.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "{}: no {want:?} in the logs:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["exec", self.name.as_str()];
        full.extend_from_slice(args);
        docker(&full)
    }

    /// `docker wait`: the container's exit code.
    fn wait(&self) -> i32 {
        let out = docker(&["wait", &self.name]);
        text(&out)
            .parse()
            .expect("docker wait prints the exit code")
    }

    /// What foster logged (the container's stderr).
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&docker(&["logs", &self.name]).stderr).into_owned()
    }

    /// The whole log once the container has ended.
    fn all_logs(&self) -> String {
        let out = docker(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

/// `docker run` arguments for foster as the entrypoint of the example
/// image, running `sh -c SCRIPT` as its one command.
fn one_command<'a>(image: &'a str, script: &'a str) -> [&'a str; 7] {
    [
        "--entrypoint",
        "/sbin/foster",
        image,
        "--",
        "sh",
        "-c",
        script,
    ]
}

/// `docker run -it --rm ARGS` under a pseudo-terminal: waits for `prompt`,
/// types `keys`, and returns the exit code of `docker run`.
fn under_docker_tty(args: &[&str], prompt: &str, keys: &str) -> i32 {
    let mut cmd = Command::new("docker");
    cmd.args(["run", "-it", "--rm"]).args(args);
    let (child, mut pty) = under_pty(cmd);
    let mut guard = KillOnDrop(Some(child.id() as i32));
    pty.wait_for(prompt);
    pty.type_keys(keys);
    guard.0 = None;
    let code = wait_code(child);
    eprintln!("terminal: {:?}", pty.seen);
    code
}

fn services_dir(units: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("docker-units");
    for (name, yaml) in units {
        dir.write(&format!("{name}.yaml"), yaml);
    }
    dir
}

#[test]
fn docker_run_exits_with_the_main_commands_status() {
    let Some(image) = engine() else {
        return;
    };
    for (script, code) in [
        ("exit 0", 0),
        ("exit 3", 3),
        ("kill -INT $$", 130),
        ("kill -TERM $$", 143),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(one_command(image, script));
        let out = docker(&args);
        assert_eq!(out.status.code(), Some(code), "{script}: {out:?}");
    }
}

/// `docker stop` sends SIGTERM: foster stops the main command, then the
/// services in reverse dependency order, SIGKILLs the one that ignores
/// SIGTERM at its stop_timeout, and exits by itself with the main
/// command's status (143: it died of the SIGTERM) — not 137, which is
/// what Docker's SIGKILL at its own 10 s timeout would give.
#[test]
fn docker_stop_stops_services_in_order_inside_the_timeout() {
    let Some(image) = engine() else {
        return;
    };
    let units = services_dir(&[
        (
            "db",
            "command: [\"/bin/sh\", \"-c\", \"trap 'echo db: clean exit; exit 0' TERM; while :; do sleep 1; done\"]\n",
        ),
        (
            "app",
            "command: [\"/bin/sh\", \"-c\", \"trap '' TERM; while :; do sleep 1; done\"]\ndepends_on: [db]\nstop_timeout: 2s\n",
        ),
    ]);
    let mount = format!("{}:/etc/foster/services.d:ro", units.path());
    let mut c = Container::run(
        "stop",
        &[
            "-v",
            &mount,
            "-e",
            "FOSTER_VERBOSITY=1",
            image,
            "sh",
            "-c",
            "echo MAIN-READY; exec sleep 1000",
        ],
    );
    c.expect("MAIN-READY");
    let out = docker(&["stop", &c.name]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(c.wait(), 143, "{}", c.all_logs());
    assert!(c.all_logs().contains("db: clean exit"), "{}", c.all_logs());
    assert_in_order(
        &c.stderr(),
        &[
            "main process",
            "app: stopping with SIGTERM",
            "app: still running 2s after its stop signal; killing it",
            "db: stopping with SIGTERM",
            "db: stopped (exited with status 0)",
        ],
    );
}

#[test]
fn docker_kill_usr1_reaches_the_main_command() {
    let Some(image) = engine() else {
        return;
    };
    let mut c = Container::run(
        "usr1",
        &one_command(
            image,
            "trap 'echo GOT-USR1' USR1; echo READY; while :; do sleep 1; done",
        ),
    );
    c.expect("READY");
    assert!(docker(&["kill", "-s", "USR1", &c.name]).status.success());
    c.expect("GOT-USR1");
}

/// `docker run -it` with a shell as the command: Ctrl-C reaches the
/// command in the foreground (130), and `exit 0` ends the container with 0.
#[test]
fn docker_run_tty_shell_ctrl_c_is_130_and_exit_0_is_0() {
    let Some(image) = engine() else {
        return;
    };
    let loop_forever = one_command(image, "echo LOOP''ING; while :; do sleep 1; done");
    assert_eq!(under_docker_tty(&loop_forever, "LOOPING", "\x03"), 130);
    let mut shell = vec!["-e", "PS1=PROMPT> "];
    shell.extend(["--entrypoint", "/sbin/foster", image, "--", "sh", "-i"]);
    assert_eq!(under_docker_tty(&shell, "PROMPT> ", "exit 0\r"), 0);
}

/// 200 orphans that exit at once, reparented to foster as the container's
/// PID 1: none stays a zombie.
#[test]
fn an_orphan_storm_in_a_container_leaves_no_zombie() {
    let Some(image) = engine() else {
        return;
    };
    let mut c = Container::run(
        "storm",
        &one_command(
            image,
            "i=0; while [ $i -lt 200 ]; do sh -c 'true &' ; i=$((i+1)); done; echo STORMED; exec sleep 1000",
        ),
    );
    c.expect("STORMED");
    let count = |state: &str| -> usize {
        let out = c.exec(&[
            "sh",
            "-c",
            "cat /proc/[0-9]*/stat 2>/dev/null | sed 's/.*) //' | cut -d' ' -f1",
        ]);
        text(&out).lines().filter(|s| *s == state).count()
    };
    eventually("no zombie in the container", || count("Z") == 0);
}

/// The example image: services beside a main command; `fosterctl status`
/// through `docker exec` is the probe (0 up, 3 not), and the image's
/// HEALTHCHECK says healthy.
#[test]
fn docker_exec_fosterctl_status_probes_the_services() {
    let Some(image) = engine() else {
        return;
    };
    let mut c = Container::run("example", &[image]);
    // main.sh fetches the page (web is up) and prints the status table.
    c.expect("hello from");
    c.expect("web");
    let out = c.exec(&["fosterctl", "status", "web", "clock"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).contains("running"), "{out:?}");
    let out = c.exec(&["fosterctl", "stop", "clock"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = c.exec(&["fosterctl", "status", "clock"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = c.exec(&["fosterctl", "status", "--json"]);
    assert!(text(&out).contains("\"name\":\"content\""), "{out:?}");
    eventually("the HEALTHCHECK reports healthy", || {
        text(&docker(&[
            "inspect",
            "-f",
            "{{.State.Health.Status}}",
            &c.name,
        ])) == "healthy"
    });
    assert!(docker(&["stop", &c.name]).status.success());
    assert_eq!(c.wait(), 0, "{}", c.all_logs());
    assert!(c.all_logs().contains("main: stopping"));
}

/// A self-daemonizing program as the container's main process with
/// `--pidfile`: the container runs after the launcher has exited, for as
/// long as the daemon, and ends with the daemon's status.
#[test]
fn a_daemon_followed_through_its_pidfile_is_the_containers_life() {
    let Some(image) = engine() else {
        return;
    };
    let c = Container::run(
        "daemon",
        &[
            "--entrypoint",
            "/sbin/foster",
            image,
            "--pidfile",
            "/run/sleeper.pid",
            "--",
            "start-stop-daemon",
            "-S",
            "-b",
            "-m",
            "-p",
            "/run/sleeper.pid",
            "-x",
            "/bin/sleep",
            "--",
            "100000",
        ],
    );
    let mut pid = String::new();
    eventually("the daemon wrote its pidfile", || {
        pid = text(&c.exec(&["cat", "/run/sleeper.pid"]));
        !pid.is_empty()
    });
    // The launcher is gone; the container lives on with the daemon.
    let out = c.exec(&[
        "sh",
        "-c",
        "grep -l '^start-stop-daemon' /proc/[0-9]*/cmdline",
    ]);
    assert_eq!(text(&out), "", "the launcher is still there");
    assert_eq!(
        text(&docker(&["inspect", "-f", "{{.State.Running}}", &c.name])),
        "true"
    );
    let out = c.exec(&["kill", "-TERM", &pid]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(c.wait(), 143, "{}", c.all_logs());
}

/// A new user's hour: a critical oneshot (a migration, say) that fails
/// ends the container with its status, although the main command would
/// have waited, and the log says which ended the run.
#[test]
fn a_failing_critical_oneshot_ends_the_container_with_its_status() {
    let Some(image) = engine() else {
        return;
    };
    let units = services_dir(&[(
        "migrate",
        "type: oneshot\ncritical: true\ncommand: [\"/bin/sh\", \"-c\", \"echo migrating; exit 5\"]\n",
    )]);
    let mount = format!("{}:/etc/foster/services.d:ro", units.path());
    let c = Container::run(
        "critical",
        &[
            "-v",
            &mount,
            image,
            "sh",
            "-c",
            "echo MAIN-RAN; exec sleep 1000",
        ],
    );
    assert_eq!(c.wait(), 5, "{}", c.all_logs());
    let logs = c.all_logs();
    assert!(
        logs.contains("migrate is critical and has ended (exited with status 5): shutting down, foster exits 5"),
        "{logs}"
    );
    assert!(
        !logs.contains("MAIN-RAN"),
        "the main command started: {logs}"
    );
}
