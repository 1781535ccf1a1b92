//! fosterctl against a running foster, and notify services.

use std::process::Command;

use crate::util::{Mode, TempDir, foster, modes, start};

pub fn fosterctl(socket: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fosterctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("run fosterctl");
    (
        out.status.code().expect("fosterctl exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A foster (subreaper) running one service, `web`, with a control socket
/// in a scratch directory; returns the directories (kept alive), the
/// socket's path and the running foster, once `web` is up.
fn one_web_service(tag: &str) -> ((TempDir, TempDir), String, crate::util::Running) {
    let dir = TempDir::new(tag);
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let units = TempDir::new(&format!("{tag}-units"));
    units.write(
        "web.yaml",
        "command: [\"/bin/sh\", \"-c\", \"echo web up; exec sleep 1000\"]\n",
    );
    let mut running = start(foster(
        Mode::Subreaper,
        &["--socket", &socket, "--services", &units.path()],
    ));
    running.expect_line("web up");
    ((dir, units), socket, running)
}

/// PATH with fosterctl first, for services that call it.
pub fn path_with_fosterctl() -> String {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_fosterctl"))
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

#[test]
fn status_stop_start_restart_kill_and_shutdown_through_fosterctl() {
    for mode in modes() {
        let dir = TempDir::new("ctl");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("ctl-units");
        units.write(
            "web.yaml",
            "command: [\"/bin/sh\", \"-c\", \"echo web up; exec sleep 1000\"]\n",
        );
        units.write(
            "notified.yaml",
            "type: notify\ncommand: [\"/bin/sh\", \"-c\", \"fosterctl notify READY=1 STATUS=serving; echo notified up; exec sleep 1000\"]\n",
        );
        let mut cmd = foster(mode, &["--socket", &socket, "--services", &units.path()]);
        cmd.env("PATH", path_with_fosterctl());
        let mut running = start(cmd);
        let mut up = vec![running.line(), running.line()];
        up.sort();
        assert_eq!(up, ["notified up", "web up"]);

        // The notify service is running once it said READY=1, with its STATUS.
        crate::util::eventually("notified ready", || {
            fosterctl(&socket, &["status", "notified", "web"]).0 == 0
        });
        let (_, out, _) = fosterctl(&socket, &["status", "notified", "web"]);
        assert!(
            out.lines().any(|l| l.starts_with("notified")
                && l.contains("running")
                && l.contains("(serving)")),
            "{out}"
        );

        let (code, json, _) = fosterctl(&socket, &["status", "--json", "web"]);
        assert_eq!(code, 0);
        assert!(
            json.starts_with("[{\"name\":\"web\",\"state\":\"running\",\"pid\":"),
            "{json}"
        );
        let pid_of = |json: &str| -> i64 {
            json.split("\"pid\":")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1)
        };
        let first_pid = pid_of(&json);
        assert!(first_pid > 0, "{json}");

        // Stopped on request, it stays stopped; status says so with exit 3.
        assert_eq!(fosterctl(&socket, &["stop", "web"]).0, 0);
        // (`stopping` is not up either: wait for the stop to complete.)
        crate::util::eventually("web stopped", || {
            let (code, out, _) = fosterctl(&socket, &["status", "web"]);
            code == 3 && out.contains("stopped")
        });

        assert_eq!(fosterctl(&socket, &["start", "web"]).0, 0);
        running.expect_line("web up");
        assert_eq!(fosterctl(&socket, &["restart", "web"]).0, 0);
        running.expect_line("web up");
        let (_, json, _) = fosterctl(&socket, &["status", "--json", "web"]);
        assert!(json.contains("\"restarts\":1"), "{json}");
        assert_ne!(pid_of(&json), first_pid);

        // A killed service is restarted with a new PID.
        let before = pid_of(&fosterctl(&socket, &["status", "--json", "web"]).1);
        assert_eq!(fosterctl(&socket, &["kill", "web", "KILL"]).0, 0);
        running.expect_line("web up");
        crate::util::eventually("web restarted", || {
            let after = pid_of(&fosterctl(&socket, &["status", "--json", "web"]).1);
            after > 0 && after != before
        });

        // Errors: one line, exit 1, foster unharmed.
        let (code, _, err) = fosterctl(&socket, &["stop", "ghost"]);
        assert_eq!(
            (code, err.trim()),
            (1, "fosterctl: unknown service \"ghost\"")
        );
        // A bad signal is a usage error, found before anything is sent.
        let (code, _, err) = fosterctl(&socket, &["kill", "web", "NOPE"]);
        assert_eq!(code, 2, "{err}");
        assert_eq!(fosterctl(&socket, &["status"]).0, 0);

        assert_eq!(fosterctl(&socket, &["shutdown"]).0, 0);
        let done = running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
        assert!(
            !std::path::Path::new(&socket).exists(),
            "the socket file is removed at exit"
        );
        // The descriptor of fosterctl notify's BARRIER=1 is its answer,
        // not a stray one to warn of.
        assert!(
            !done.stderr.iter().any(|l| l.contains("without FDSTORE=1")),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

#[test]
fn hostile_requests_get_errors_and_foster_keeps_running() {
    use std::io::{Read, Write};
    let (_dirs, socket, running) = one_web_service("hostile");
    let ask = |bytes: &[u8]| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
    };
    assert!(ask(b"\xff\xfe\xfd\n").starts_with("error: "));
    assert!(ask(&vec![b'a'; 100_000]).starts_with("error: request too long"));
    assert!(ask(b"").starts_with("error: "));
    assert!(ask(b"status ../../etc/passwd\n").starts_with("error: unknown service"));
    // Clients that connect and say nothing do not block others.
    let idle: Vec<_> = (0..20)
        .map(|_| std::os::unix::net::UnixStream::connect(&socket).unwrap())
        .collect();
    assert_eq!(fosterctl(&socket, &["status", "web"]).0, 0);
    drop(idle);
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn fosterctl_reports_a_missing_foster() {
    let (code, _, err) = fosterctl("/nonexistent/foster.sock", &["status"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("fosterctl: foster is not reachable at /nonexistent/foster.sock"),
        "{err}"
    );
    let (code, _, _) = fosterctl("/x", &["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn a_notify_service_that_never_says_ready_is_killed_at_start_timeout() {
    for mode in modes() {
        let units = TempDir::new("silent");
        units.write(
            "silent.yaml",
            "type: notify\nstart_timeout: 200ms\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", \"echo silent up; exec sleep 1000\"]\n",
        );
        let mut running = start(foster(
            mode,
            &[
                "--services",
                &units.path(),
                "--",
                "sh",
                "-c",
                "echo main ran",
            ],
        ));
        running.expect_line("silent up");
        running.expect_line("main ran");
        let done = running.finish();
        assert_eq!(done.code(), 0);
        assert!(
            done.stderr
                .iter()
                .any(|l| l.contains("silent: not ready within 200ms")),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

fn pids(socket: &str) -> std::collections::BTreeMap<String, i64> {
    let (_, json, _) = fosterctl(socket, &["status", "--json"]);
    json.split("{\"name\":\"")
        .skip(1)
        .filter_map(|obj| {
            let name = obj.split('"').next()?.to_string();
            let pid = obj
                .split("\"pid\":")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .unwrap_or(-1);
            Some((name, pid))
        })
        .collect()
}

#[test]
fn reload_adds_removes_restarts_changed_and_keeps_unchanged_and_invalid() {
    for (mode, how) in modes()
        .into_iter()
        .flat_map(|m| [(m, "fosterctl"), (m, "SIGHUP")])
    {
        let dir = TempDir::new("reload-sock");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("reload");
        let service = |line: &str| {
            format!("command: [\"/bin/sh\", \"-c\", \"echo {line}; exec sleep 1000\"]\n")
        };
        units.write("keep.yaml", &service("keep up"));
        units.write("change.yaml", &service("change v1 up"));
        units.write("remove.yaml", &service("remove up"));
        units.write("spoil.yaml", &service("spoil up"));
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let mut up: Vec<String> = (0..4).map(|_| running.line()).collect();
        up.sort();
        assert_eq!(up, ["change v1 up", "keep up", "remove up", "spoil up"]);
        let before = pids(&socket);

        units.write("change.yaml", &service("change v2 up"));
        std::fs::remove_file(units.0.join("remove.yaml")).unwrap();
        units.write("spoil.yaml", "command: [\"/bin/sh\"\n");
        units.write("add.yaml", &service("add up"));
        if how == "SIGHUP" {
            running.signal(libc::SIGHUP);
        } else {
            let (code, out, err) = fosterctl(&socket, &["reload"]);
            assert_eq!(code, 0, "{err}");
            assert!(
                out.contains(
                    "added: add\nchanged: change\nremoved: remove\nkept (invalid): spoil\n"
                ),
                "{out}"
            );
            assert!(
                out.contains("spoil.yaml:"),
                "the problem is reported: {out}"
            );
        }
        let mut up = vec![running.line(), running.line()];
        up.sort();
        assert_eq!(up, ["add up", "change v2 up"], "{mode:?} {how}");
        crate::util::eventually("remove is gone", || !pids(&socket).contains_key("remove"));
        let after = pids(&socket);
        assert_eq!(
            after["keep"], before["keep"],
            "{mode:?} {how}: unchanged keeps its PID"
        );
        assert_eq!(
            after["spoil"], before["spoil"],
            "{mode:?} {how}: invalid keeps its running version"
        );
        assert_ne!(
            after["change"], before["change"],
            "{mode:?} {how}: changed restarts"
        );
        assert!(after["add"] > 0);
        assert_eq!(after.len(), 4, "{after:?}");
        running.signal(libc::SIGTERM);
        assert_eq!(running.finish().code(), 0);
    }
}

#[test]
fn prefixed_output_keeps_every_line_and_a_slow_reader_never_stalls_foster() {
    use std::io::{BufRead, BufReader};
    let dir = TempDir::new("relay");
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let units = TempDir::new("relay-units");
    units.write(
        "pump.yaml",
        "log: prefix\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", \"i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done; echo oops >&2; echo done\"]\n",
    );
    let mut child = foster(
        Mode::Subreaper,
        &["--socket", &socket, "--services", &units.path()],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Nobody reads foster's stdout yet: the pipe fills, the relay buffers,
    // then stops reading the service, which blocks. foster must still answer.
    crate::util::eventually("the control socket answers", || {
        fosterctl(&socket, &["status", "pump"]).0 == 0
    });
    let (_, out, _) = fosterctl(&socket, &["status", "pump"]);
    assert!(out.contains("running"), "{out}");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut expected = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == "pump | done" {
            break;
        }
        assert_eq!(line, format!("pump | line-{expected}"));
        expected += 1;
    }
    assert_eq!(expected, 20000);
    // Among foster's own log lines (a service's life is logged by default).
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if line == "pump | oops" {
            break;
        }
        assert!(line.starts_with("foster: "), "{line:?} after {seen:?}");
        seen.push(line);
    }
    // SAFETY: kill takes two integers.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn other_users_are_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: skipping: needs root to run fosterctl as another user");
        return;
    }
    let ((dir, _units), socket, running) = one_web_service("perm");
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mode = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_fosterctl"),
            "--socket",
            &socket,
        ])
        .args(["stop", "web"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(
        fosterctl(&socket, &["status", "web"]).0,
        0,
        "web still runs"
    );
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// Regression: after the README's own command (`--services services.d`, a
/// relative directory, with foster moved to / since), a reload read
/// /services.d, failed, and removed every service. Now the directory is
/// resolved at start, and one that cannot be read changes nothing.
#[test]
fn a_reload_after_a_relative_services_directory_keeps_every_service_and_an_unreadable_one_changes_nothing()
 {
    for (mode, how) in modes()
        .into_iter()
        .flat_map(|m| [(m, "fosterctl"), (m, "SIGHUP")])
    {
        let top = TempDir::new("relative");
        let socket = top.0.join("control.sock").to_string_lossy().into_owned();
        let units = top.0.join("services.d");
        std::fs::create_dir(&units).unwrap();
        std::fs::write(
            units.join("a.yaml"),
            "command: [\"/bin/sh\", \"-c\", \"echo a up; exec sleep 1000\"]\n",
        )
        .unwrap();
        let mut cmd = foster(
            mode,
            &["-v", "--socket", &socket, "--services", "services.d"],
        );
        cmd.current_dir(&top.0);
        let mut running = start(cmd);
        running.expect_line("a up");
        let before = pids(&socket)["a"];

        // The same directory, read again: nothing added, nothing removed.
        if how == "SIGHUP" {
            running.signal(libc::SIGHUP);
            running.expect_stderr("reload: removed: -");
        } else {
            let (code, out, err) = fosterctl(&socket, &["reload"]);
            assert_eq!(code, 0, "{mode:?}: {err}");
            assert!(out.contains("added: -\nchanged: -\nremoved: -\n"), "{out}");
        }
        assert_eq!(pids(&socket)["a"], before, "{mode:?} {how}");

        // The directory gone: every service keeps running, and the reload
        // says why it did nothing.
        std::fs::rename(&units, top.0.join("elsewhere")).unwrap();
        if how == "SIGHUP" {
            running.signal(libc::SIGHUP);
            running.expect_stderr("cannot read the services directory");
        } else {
            let (code, _, err) = fosterctl(&socket, &["reload"]);
            assert_eq!(code, 1, "{mode:?}: {err}");
            assert!(
                err.contains("cannot read the services directory")
                    && err.contains("nothing changed"),
                "{err}"
            );
        }
        let (code, table, _) = fosterctl(&socket, &["status", "a"]);
        assert_eq!(code, 0, "{mode:?} {how}: a is still up: {table}");
        assert_eq!(pids(&socket)["a"], before, "{mode:?} {how}");
        assert_eq!(fosterctl(&socket, &["shutdown"]).0, 0);
        assert_eq!(running.finish().code(), 0, "{mode:?} {how}");
    }
}

/// Usage errors are fosterctl's: exit 2, the problem and the usage lines
/// on stderr, nothing on stdout, and nothing sent (the socket does not
/// exist, which would otherwise be exit 1).
#[test]
fn usage_errors_exit_2_with_the_usage_on_stderr() {
    let nowhere = "/nonexistent/foster.sock";
    for (args, problem) in [
        (&["start"][..], "start needs at least one service name"),
        (&["stop"], "stop needs at least one service name"),
        (&["restart"], "restart needs at least one service name"),
        (
            &["restart", "--no-block"],
            "restart needs at least one service name",
        ),
        (&["kill", "web"], "usage: kill NAME SIGNAL"),
        (&["kill"], "usage: kill NAME SIGNAL"),
        (&["kill", "web", "TERM", "more"], "usage: kill NAME SIGNAL"),
        (&["kill", "web", "NOPE"], "unknown signal \"NOPE\""),
        (&["--bogus", "status"], "unknown option \"--bogus\""),
        (&["status", "--bogus"], "unknown option \"--bogus\""),
        (&["stop", "-x"], "unknown option \"-x\""),
        (&["frobnicate"], "unknown command \"frobnicate\""),
        (&[], "no command given"),
        (
            &["--no-block", "status"],
            "--no-block is for start, stop and restart",
        ),
        (
            &["reload", "--timeout", "5s"],
            "--timeout is for start, stop and restart",
        ),
        (
            &["stop", "web", "--timeout", "soon"],
            "--timeout: invalid duration",
        ),
        (&["stop", "web", "--timeout"], "--timeout needs a value"),
        (&["shutdown", "now"], "shutdown takes no arguments"),
    ] {
        let (code, out, err) = fosterctl(nowhere, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert!(
            err.starts_with(&format!("fosterctl: {problem}")),
            "{args:?}: {err}"
        );
        assert!(err.contains("\nusage: fosterctl "), "{args:?}: {err}");
    }
}

/// The commit of this checkout, as build.rs names it; `None` where git
/// cannot say (then the binaries say `unknown`).
fn checkout_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}

#[test]
fn version_names_the_commit_for_both_binaries() {
    let commit = checkout_commit().unwrap_or_else(|| "unknown".into());
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_foster"), "foster"),
        (env!("CARGO_BIN_EXE_fosterctl"), "fosterctl"),
    ] {
        for flag in ["-V", "--version"] {
            let out = Command::new(bin).arg(flag).output().expect("run");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{name} {flag}");
            assert!(
                stdout.starts_with(&format!("{name} {} (", env!("CARGO_PKG_VERSION"))),
                "{stdout}"
            );
            assert!(
                stdout.contains(&commit),
                "{name} {flag}: {stdout} (HEAD is {commit})"
            );
        }
    }
}

/// `--` ends fosterctl's options: a service whose name begins with `-`
/// (a legal unit name) can be stopped and asked about.
#[test]
fn double_dash_lets_a_service_named_like_an_option_be_stopped() {
    let dir = TempDir::new("dash");
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let units = TempDir::new("dash-units");
    units.write(
        "-x.yaml",
        "command: [\"/bin/sh\", \"-c\", \"echo x up; exec sleep 1000\"]\n",
    );
    let mut running = start(foster(
        Mode::Subreaper,
        &["--socket", &socket, "--services", &units.path()],
    ));
    running.expect_line("x up");
    let (code, out, err) = fosterctl(&socket, &["status", "--", "-x"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("running"), "{out}");
    // (--no-block: this test holds today's fire-and-forget stop.)
    let (code, _, err) = fosterctl(&socket, &["stop", "--no-block", "--", "-x"]);
    assert_eq!(code, 0, "{err}");
    crate::util::eventually("-x stopped", || {
        let (code, out, _) = fosterctl(&socket, &["status", "--", "-x"]);
        code == 3 && out.contains("stopped")
    });
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// `--no-block` returns once foster has taken the request: a stop that
/// will take a minute (the service ignores SIGTERM, stop_timeout 60s)
/// answers while the service is still stopping.
#[test]
fn no_block_returns_before_the_stop_is_done() {
    let dir = TempDir::new("noblock");
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let units = TempDir::new("noblock-units");
    units.write(
        "stubborn.yaml",
        "stop_timeout: 60s\ncommand: [\"/bin/sh\", \"-c\", \"trap '' TERM; echo stubborn up; while :; do sleep 1; done\"]\n",
    );
    let mut running = start(foster(
        Mode::Subreaper,
        &["--socket", &socket, "--services", &units.path()],
    ));
    running.expect_line("stubborn up");
    for args in [
        &["stop", "--no-block", "stubborn"][..],
        &["--no-block", "stop", "stubborn"],
    ] {
        let (code, out, err) = fosterctl(&socket, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        let (code, out, _) = fosterctl(&socket, &["status", "stubborn"]);
        assert_eq!(code, 3, "{out}");
        assert!(out.contains("stopping"), "{args:?}: {out}");
    }
    // SIGKILL ends the stop.
    assert_eq!(fosterctl(&socket, &["kill", "stubborn", "KILL"]).0, 0);
    crate::util::eventually("stubborn stopped", || {
        fosterctl(&socket, &["status", "stubborn"])
            .1
            .contains("stopped")
    });
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

/// Issue 12, item 5: `fosterctl start`, `stop`, `restart` wait for the
/// outcome (systemctl semantics): up and ready, stopped, or failed with
/// the reason; `--timeout` bounds the wait and leaves the service as it
/// is; a client that goes away while waiting changes nothing.
#[test]
fn start_stop_and_restart_wait_for_the_outcome() {
    for mode in modes() {
        let dir = TempDir::new("wait");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let fifo = dir.0.join("go");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .is_ok_and(|s| s.success())
        );
        let units = TempDir::new("wait-units");
        // Ready only once the test writes a line to the FIFO.
        units.write(
            "slow.yaml",
            &format!(
                "type: notify\nstart_timeout: 60s\nenv:\n  PATH: {}\ncommand: read line < {}; fosterctl notify READY=1; exec sleep 1000\n",
                path_with_fosterctl(),
                fifo.display()
            ),
        );
        units.write(
            "once.yaml",
            "type: oneshot\nrestart: never\ncommand: exit 3\n",
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        crate::util::eventually("foster answers", || {
            fosterctl(&socket, &["status", "once"]).1.contains("failed")
        });
        let go = || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            f.write_all(b"go\n").unwrap();
        };

        // Bounded: the service is left starting.
        let (code, _, err) = fosterctl(&socket, &["start", "--timeout", "300ms", "slow"]);
        assert_eq!(code, 1, "{mode:?}: {err}");
        assert_eq!(err, "fosterctl: timed out after 300ms waiting for slow\n");
        assert!(
            fosterctl(&socket, &["status", "slow"])
                .1
                .contains("starting")
        );

        // A client that leaves while waiting changes nothing.
        let mut gone = Command::new(env!("CARGO_BIN_EXE_fosterctl"))
            .args(["--socket", &socket, "restart", "slow"])
            .spawn()
            .unwrap();
        gone.kill().unwrap();
        gone.wait().unwrap();

        // Answered once ready, with its PID.
        let waiting = std::thread::spawn({
            let socket = socket.clone();
            move || fosterctl(&socket, &["start", "slow"])
        });
        go();
        let (code, out, err) = waiting.join().unwrap();
        assert_eq!(code, 0, "{mode:?}: {err}");
        let pid = pids(&socket)["slow"];
        assert_eq!(out, format!("slow is running (PID {pid})\n"));

        // A stop returns once the service is down.
        let (code, out, err) = fosterctl(&socket, &["stop", "slow"]);
        assert_eq!(
            (code, out.as_str()),
            (0, "slow stopped (was killed by SIGTERM)\n"),
            "{err}"
        );
        let (_, status, _) = fosterctl(&socket, &["status", "slow"]);
        assert!(status.contains("stopped"), "{status}");

        // A restart that fails says why, and exits 1.
        let (code, out, err) = fosterctl(&socket, &["restart", "once"]);
        assert_eq!(code, 1, "{mode:?}: {out}");
        assert_eq!(err, "fosterctl: once failed: exited with status 3\n");

        // --no-block: today's fire-and-forget; a waiting start then
        // returns once it is ready.
        let (code, out, _) = fosterctl(&socket, &["start", "--no-block", "slow"]);
        assert_eq!((code, out.as_str()), (0, ""));
        go();
        let (code, out, err) = fosterctl(&socket, &["start", "slow"]);
        assert_eq!(code, 0, "{mode:?}: {err}");
        assert!(out.starts_with("slow is running (PID "), "{out}");
        drop(running);
    }
}

/// A unit file that is invalid never disappears silently: `status` lists
/// it as `invalid` with its problem (`--json`: its `problems`), a start of
/// it says why it cannot, and a reload that mends it runs it; a running
/// service whose file a reload finds broken runs on, showing the problem.
#[test]
fn invalid_units_are_listed_with_their_problems() {
    for mode in modes() {
        let dir = TempDir::new("invalid");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("invalid-units");
        units.write(
            "web.yaml",
            "command: [\"/bin/sh\", \"-c\", \"echo web up; exec sleep 1000\"]\n",
        );
        let bad = units.write("bad.yaml", "command: [\"/bin/true\"]\nrestrat: always\n");
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        running.expect_line("web up");
        let problem = format!("{bad}:2:1: unknown key `restrat` (did you mean `restart`?)");

        let (code, out, _) = fosterctl(&socket, &["status"]);
        assert_eq!(code, 0, "{mode:?} {out}");
        let row = out
            .lines()
            .find(|l| l.starts_with("bad "))
            .unwrap_or_default();
        assert!(row.contains("invalid"), "{mode:?} {out}");
        assert!(row.contains(&problem), "{mode:?} {out}");
        let (code, json, _) = fosterctl(&socket, &["status", "--json", "bad"]);
        assert_eq!(code, 3, "{mode:?} {json}");
        assert!(
            json.starts_with("[{\"name\":\"bad\",\"state\":\"invalid\",\"pid\":null,"),
            "{mode:?} {json}"
        );
        assert!(
            json.contains(&format!("\"problems\":[\"{}\"]", problem)),
            "{mode:?} {json}"
        );
        let (code, _, err) = fosterctl(&socket, &["start", "bad"]);
        assert_eq!(code, 1, "{mode:?} {err}");
        assert!(
            err.contains("bad: its unit file is invalid: "),
            "{mode:?} {err}"
        );

        // Mended: the reload runs it; broken instead: web runs on.
        std::fs::write(
            &bad,
            "command: [\"/bin/sh\", \"-c\", \"echo bad up; exec sleep 1000\"]\n",
        )
        .unwrap();
        let web = units.write("web.yaml", "command: 12\n");
        let (code, out, err) = fosterctl(&socket, &["reload"]);
        assert_eq!(code, 0, "{mode:?} {out} {err}");
        running.expect_line("bad up");
        let (_, json, _) = fosterctl(&socket, &["status", "--json", "web"]);
        assert!(
            json.starts_with("[{\"name\":\"web\",\"state\":\"running\","),
            "{mode:?} {json}"
        );
        assert!(
            json.contains(&format!("\"problems\":[\"{web}:1:10: ")),
            "{mode:?} {json}"
        );
        let (_, json, _) = fosterctl(&socket, &["status", "--json", "bad"]);
        assert!(json.contains("\"state\":\"running\""), "{mode:?} {json}");
        assert!(json.contains("\"problems\":[]"), "{mode:?} {json}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

/// `date -u` in RFC 3339, as `since` is written.
fn utc_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 12, item 6: `status --json` says since when a state holds (RFC
/// 3339 UTC) and the command, and a run's `STATUS=` text goes with it.
#[test]
fn status_tells_since_when_the_command_and_forgets_an_ended_runs_status_text() {
    for mode in modes() {
        let dir = TempDir::new("truth");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let fifo = dir.0.join("go");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let units = TempDir::new("truth-units");
        let script = format!(
            "fosterctl notify READY=1 STATUS=serving; echo up; read x < {}; exit 4",
            fifo.display()
        );
        units.write(
            "app.yaml",
            &format!("type: notify\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", {script:?}]\n"),
        );
        let before = utc_now();
        let mut cmd = foster(mode, &["--socket", &socket, "--services", &units.path()]);
        cmd.env("PATH", path_with_fosterctl());
        let mut running = start(cmd);
        running.expect_line("up");
        crate::util::eventually("app running", || {
            fosterctl(&socket, &["status", "app"]).0 == 0
        });
        let (_, json, _) = fosterctl(&socket, &["status", "--json", "app"]);
        assert!(json.contains("\"status\":\"serving\""), "{mode:?} {json}");
        let command = format!("\"command\":[\"/bin/sh\",\"-c\",{script:?}]");
        assert!(json.contains(&command), "{mode:?} {json}\n{command}");
        let since = crate::tracking::field(&json, "since");
        let since = since.trim_matches('"');
        let after = utc_now();
        assert!(
            before.as_str() <= since && since <= after.as_str(),
            "{mode:?}: {before} <= {since} <= {after}"
        );

        // Its run ends: failed with its status, the STATUS= text gone.
        std::fs::write(&fifo, "go\n").unwrap();
        crate::util::eventually("app failed", || {
            fosterctl(&socket, &["status", "--json", "app"])
                .1
                .contains("\"state\":\"failed\"")
        });
        let (_, json, _) = fosterctl(&socket, &["status", "--json", "app"]);
        assert_eq!(
            crate::tracking::field(&json, "last_exit"),
            "4",
            "{mode:?} {json}"
        );
        assert_eq!(
            crate::tracking::field(&json, "status"),
            "null",
            "{mode:?} {json}"
        );
        let ended = crate::tracking::field(&json, "since");
        assert!(
            ended.trim_matches('"') >= since,
            "{mode:?}: {ended} before {since}"
        );
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}
