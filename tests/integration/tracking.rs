//! `type: forking`: a self-daemonizing program followed to its true PID
//! through its pidfile, and a pidfile that names a stranger refused.

use std::process::Command;

use crate::util::{TempDir, foster, modes, start};

fn fosterctl(socket: &str, args: &[&str]) -> (i32, String) {
    let (code, out, _) = crate::control::fosterctl(socket, args);
    (code, out)
}

pub(crate) fn field(json: &str, key: &str) -> String {
    json.split(&format!("\"{key}\":"))
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .unwrap_or("")
        .trim_matches('"')
        .to_string()
}

/// A legacy daemon: the launcher starts a detached child and exits 0; the
/// child writes its pidfile a moment later, renamed into place.
fn daemon_unit(pidfile: &str, extra: &str) -> String {
    format!(
        "type: forking\npidfile: {pidfile}\nstart_timeout: 10s\n{extra}command: [\"/bin/sh\", \"-c\", \"setsid sh -c 'sleep 0.2; echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 1000' </dev/null >/dev/null 2>&1 & exit 0\"]\n"
    )
}

#[test]
fn a_self_daemonizing_program_is_followed_to_its_true_pid_and_restarted_when_it_dies() {
    for mode in modes() {
        let dir = TempDir::new("forking");
        let socket = dir.0.join("ctl.sock").to_string_lossy().into_owned();
        let pidfile = dir.0.join("daemon.pid").to_string_lossy().into_owned();
        let units = TempDir::new("forking-units");
        units.write(
            "daemon.yaml",
            &daemon_unit(&pidfile, "restart: always\nrestart_delay: 0s\n"),
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        crate::util::eventually("the daemon is followed", || {
            field(
                &fosterctl(&socket, &["status", "--json", "daemon"]).1,
                "pid_source",
            ) == "pidfile"
        });
        let json = fosterctl(&socket, &["status", "--json", "daemon"]).1;
        assert_eq!(field(&json, "state"), "running", "{json}");
        let table = fosterctl(&socket, &["status", "daemon"]).1;
        assert!(table.contains("(pid from pidfile)"), "{table}");
        let in_file = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .to_string();
        if mode == crate::util::Mode::Subreaper {
            // Same PID namespace: the PID foster follows is the one in the file.
            assert_eq!(field(&json, "pid"), in_file, "{json}");
            let first: i32 = in_file.parse().unwrap();
            // SAFETY: kill takes two integers.
            unsafe { libc::kill(first, libc::SIGKILL) };
            crate::util::eventually("restarted with a new daemon", || {
                let json = fosterctl(&socket, &["status", "--json", "daemon"]).1;
                field(&json, "pid_source") == "pidfile" && field(&json, "pid") != first.to_string()
            });
            let json = fosterctl(&socket, &["status", "--json", "daemon"]).1;
            assert_eq!(field(&json, "restarts"), "1", "{json}");
        }
        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
    }
}

#[test]
fn a_pidfile_naming_a_stranger_is_refused_and_the_stranger_never_signalled() {
    let dir = TempDir::new("stranger");
    let socket = dir.0.join("ctl.sock").to_string_lossy().into_owned();
    let pidfile = dir.0.join("liar.pid").to_string_lossy().into_owned();
    // A process that has nothing to do with the service.
    let mut stranger = Command::new("sleep").arg("1000").spawn().unwrap();
    let units = TempDir::new("stranger-units");
    units.write(
        "liar.yaml",
        &format!(
            "type: forking\npidfile: {pidfile}\nstart_timeout: 1s\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", \"echo {} > {pidfile}; exit 0\"]\n",
            stranger.id()
        ),
    );
    let mut running = start(foster(
        crate::util::Mode::Subreaper,
        &["-v", "--socket", &socket, "--services", &units.path()],
    ));
    running.expect_stderr(&format!(
        "liar: refusing PID {} from {pidfile}",
        stranger.id()
    ));
    running.expect_stderr("liar: never wrote a valid pidfile");
    crate::util::eventually("the start failed", || {
        field(
            &fosterctl(&socket, &["status", "--json", "liar"]).1,
            "state",
        ) == "failed"
    });
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the stranger was signalled"
    );
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[test]
fn a_launcher_that_fails_fails_the_start() {
    let dir = TempDir::new("badlaunch");
    let units = TempDir::new("badlaunch-units");
    let pidfile = dir.0.join("x.pid").to_string_lossy().into_owned();
    units.write(
        "bad.yaml",
        &format!("type: forking\npidfile: {pidfile}\nrestart: never\ncommand: exit 3\n"),
    );
    let done = start(foster(
        crate::util::Mode::Subreaper,
        &["--services", &units.path(), "--", "true"],
    ))
    .finish();
    assert_eq!(done.code(), 0);
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("bad: exited with status 3; not restarting")),
        "{:?}",
        done.stderr
    );
}

#[test]
fn one_command_mode_follows_a_daemon_through_pidfile_and_exits_with_its_status() {
    for mode in modes() {
        let dir = TempDir::new("pidproxy");
        let pidfile = dir.0.join("d.pid").to_string_lossy().into_owned();
        // The launcher exits at once; the daemon writes its pidfile a moment
        // later and exits 9 on SIGUSR1.
        let launcher = format!(
            "setsid sh -c 'trap \"exit 9\" USR1; sleep 0.1; echo $$ > {pidfile}; while :; do sleep 0.05; done' </dev/null >/dev/null 2>&1 & exit 0"
        );
        let mut running = start(foster(
            mode,
            &["-v", "--pidfile", &pidfile, "--", "sh", "-c", &launcher],
        ));
        running.expect_stderr(&format!("(from {pidfile})"));
        running.signal(libc::SIGUSR1);
        let done = running.finish();
        assert_eq!(done.code(), 9, "{mode:?}: {:?}", done.stderr);
    }
}

#[test]
fn regression_pidfile_mode_exits_when_the_daemon_exits_0() {
    // The daemon ending well used to be taken for a quiet stop, and foster
    // never exited.
    let dir = TempDir::new("pidproxy0");
    let pidfile = dir.0.join("d.pid").to_string_lossy().into_owned();
    let launcher = format!(
        "setsid sh -c 'echo $$ > {pidfile}; read x < /dev/null; sleep 0.3; exit 0' </dev/null >/dev/null 2>&1 & exit 0"
    );
    let done = start(foster(
        crate::util::Mode::Subreaper,
        &["--pidfile", &pidfile, "--", "sh", "-c", &launcher],
    ))
    .finish();
    assert_eq!(done.code(), 0, "{:?}", done.stderr);
}

#[test]
fn a_fifo_or_a_huge_file_as_pidfile_never_stalls_foster() {
    let dir = TempDir::new("hostile-pidfile");
    let fifo = dir.0.join("fifo.pid").to_string_lossy().into_owned();
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = dir.0.join("huge.pid").to_string_lossy().into_owned();
    std::fs::write(&huge, vec![b'7'; 10_000_000]).unwrap();
    let units = TempDir::new("hostile-pidfile-units");
    for (name, path) in [("fifo", &fifo), ("huge", &huge)] {
        units.write(
            &format!("{name}.yaml"),
            &format!("type: forking\npidfile: {path}\nstart_timeout: 300ms\nrestart: never\ncommand: exit 0\n"),
        );
    }
    // Both starts fail at their timeout; foster goes on to run the main command.
    let done = start(foster(
        crate::util::Mode::Subreaper,
        &["--services", &units.path(), "--", "sh", "-c", "exit 4"],
    ))
    .finish();
    assert_eq!(done.code(), 4, "{:?}", done.stderr);
    for name in ["fifo", "huge"] {
        assert!(
            done.stderr
                .iter()
                .any(|l| l.contains(&format!("{name}: never wrote a valid pidfile"))),
            "{:?}",
            done.stderr
        );
    }
}

#[test]
fn a_daemon_that_dies_before_its_pidfile_is_read_keeps_its_real_status() {
    for mode in modes() {
        let dir = TempDir::new("diedearly");
        let pidfile = dir.0.join("d.pid").to_string_lossy().into_owned();
        let units = TempDir::new("diedearly-units");
        // The daemon writes its pidfile and exits 7 at once; the launcher
        // waits until the daemon is a zombie (so foster cannot have read the
        // pidfile while the daemon lived: it reads it when the launcher
        // exits), then exits 0. If foster reaped the zombie instead of
        // holding it, /proc loses it and the launcher exits too.
        let script = format!(
            "(setsid sh -c 'echo $$ > {pidfile}; exit 7' </dev/null >/dev/null 2>&1 &); \
             while [ ! -s {pidfile} ]; do sleep 0.01; done; p=$(cat {pidfile}); \
             while [ -e /proc/$p/stat ] && ! grep -q ') Z' /proc/$p/stat; do sleep 0.01; done; exit 0"
        );
        units.write(
            "early.yaml",
            &format!(
                "type: forking\npidfile: {pidfile}\nstart_timeout: 20s\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", {script:?}]\n"
            ),
        );
        let done = start(foster(mode, &["--services", &units.path(), "--", "true"])).finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
        assert!(
            done.stderr
                .iter()
                .any(|l| l.contains("early: daemon")
                    && l.contains("started, then exited with status 7")),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

fn pids(json: &str) -> Vec<i32> {
    json.split("\"pids\":[")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or("")
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn without_a_pidfile_the_one_adopted_process_is_followed_as_guessed() {
    for mode in modes() {
        let dir = TempDir::new("guessed");
        let socket = dir.0.join("ctl.sock").to_string_lossy().into_owned();
        let units = TempDir::new("guessed-units");
        // A double fork (the intermediate lives a moment) and no pidfile.
        units.write(
            "guess.yaml",
            "type: forking\nrestart: never\ncommand: (setsid sh -c 'sleep 0.2 & exec sleep 3001' </dev/null >/dev/null 2>&1 &); exit 0\n",
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let status = || fosterctl(&socket, &["status", "--json", "guess"]).1;
        crate::util::eventually("the daemon is guessed", || {
            let json = status();
            field(&json, "pid_source") == "guessed" && field(&json, "state") == "running"
        });
        let daemon = crate::util::running("sleep 3001");
        assert_eq!(daemon.len(), 1, "{daemon:?}");
        if mode == crate::util::Mode::Subreaper {
            // The intermediate shell exec'd sleep: the same process.
            crate::util::eventually("the guess settles on the daemon", || {
                pids(&status()) == daemon
            });
        }
        let table = fosterctl(&socket, &["status", "guess"]).1;
        assert!(table.contains("(pid guessed"), "{table}");
        assert_eq!(fosterctl(&socket, &["stop", "guess"]).0, 0);
        crate::util::eventually("stopped", || field(&status(), "state") == "stopped");
        assert!(crate::util::running("sleep 3001").is_empty());
        running.signal(libc::SIGTERM);
        assert_eq!(running.finish().code(), 0);
    }
}

#[test]
fn without_a_pidfile_several_adopted_processes_are_a_set_running_while_any_lives() {
    let dir = TempDir::new("set");
    let socket = dir.0.join("ctl.sock").to_string_lossy().into_owned();
    let units = TempDir::new("set-units");
    units.write(
        "pair.yaml",
        "type: forking\nrestart: never\ncommand: (setsid sleep 3002 </dev/null >/dev/null 2>&1 &); (setsid sleep 3003 </dev/null >/dev/null 2>&1 &); sleep 0.2; exit 0\n",
    );
    let running = start(foster(
        crate::util::Mode::Subreaper,
        &["--socket", &socket, "--services", &units.path()],
    ));
    let status = || fosterctl(&socket, &["status", "--json", "pair"]).1;
    crate::util::eventually("the set is followed", || {
        field(&status(), "state") == "running"
    });
    let mut want = [
        crate::util::running("sleep 3002"),
        crate::util::running("sleep 3003"),
    ]
    .concat();
    want.sort();
    let mut got = pids(&status());
    got.sort();
    assert_eq!(got, want);
    assert_eq!(field(&status(), "pid_source"), "guessed");
    // One dies: still running, following the other.
    // SAFETY: kill takes two integers.
    unsafe { libc::kill(want[0], libc::SIGKILL) };
    crate::util::eventually("one left", || pids(&status()) == vec![want[1]]);
    assert_eq!(field(&status(), "state"), "running");
    // SAFETY: as above.
    unsafe { libc::kill(want[1], libc::SIGKILL) };
    crate::util::eventually("ended", || field(&status(), "state") == "failed");
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn a_stop_kills_every_process_of_the_daemon_at_stop_timeout_workers_too() {
    for (mode, cgroups) in modes().into_iter().flat_map(|m| [(m, true), (m, false)]) {
        let dir = TempDir::new("workers");
        let socket = dir.0.join("ctl.sock").to_string_lossy().into_owned();
        let pidfile = dir.0.join("w.pid").to_string_lossy().into_owned();
        let units = TempDir::new("workers-units");
        // The daemon starts two workers that ignore SIGTERM (an ignored
        // signal stays ignored across exec), then ignores it itself.
        let script = dir.write(
            "daemon.sh",
            &format!(
                "trap '' TERM\nsh -c 'exec sleep 3004' &\nsh -c 'exec sleep 3004' &\necho $$ > {pidfile}\nexec sleep 3005\n"
            ),
        );
        units.write(
            "w.yaml",
            &format!(
                "type: forking\npidfile: {pidfile}\nstop_timeout: 300ms\ncommand: (setsid sh {script} </dev/null >/dev/null 2>&1 &); exit 0\n"
            ),
        );
        let units_path = units.path();
        let mut args = vec!["--socket", &socket, "--services", &units_path];
        if !cgroups {
            args.push("--no-cgroups");
        }
        let running = start(foster(mode, &args));
        let status = || fosterctl(&socket, &["status", "--json", "w"]).1;
        crate::util::eventually("followed", || field(&status(), "pid_source") == "pidfile");
        crate::util::eventually("workers up", || {
            crate::util::running("sleep 3004").len() == 2
        });
        assert_eq!(fosterctl(&socket, &["stop", "w"]).0, 0);
        crate::util::eventually("stopped", || field(&status(), "state") == "stopped");
        assert!(
            crate::util::running("sleep 3005").is_empty(),
            "{mode:?} {cgroups}"
        );
        assert!(
            crate::util::running("sleep 3004").is_empty(),
            "{mode:?} {cgroups}"
        );
        running.signal(libc::SIGTERM);
        assert_eq!(running.finish().code(), 0);
    }
}

/// Whether foster can make cgroups here: cgroup v2 mounted and writable.
fn cgroups_writable() -> bool {
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
        return false;
    };
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Some(mount) = mounts.lines().find_map(|l| {
        let (head, tail) = l.split_once(" - ")?;
        (tail.split_whitespace().next()? == "cgroup2").then(|| head.split_whitespace().nth(4))?
    }) else {
        return false;
    };
    let probe = format!(
        "{mount}{}/foster-test-probe-{}",
        path.trim_end_matches('/'),
        std::process::id()
    );
    let ok = std::fs::create_dir(&probe).is_ok();
    let _ = std::fs::remove_dir(&probe);
    ok
}

#[test]
fn with_cgroups_a_worker_that_left_the_daemons_session_is_killed_too() {
    if !cgroups_writable() {
        eprintln!("note: skipping: cgroup v2 is not writable here");
        return;
    }
    for mode in modes() {
        let dir = TempDir::new("escaped");
        let socket = dir.0.join("ctl.sock").to_string_lossy().into_owned();
        let pidfile = dir.0.join("e.pid").to_string_lossy().into_owned();
        let units = TempDir::new("escaped-units");
        // A worker that makes a session of its own and ignores SIGTERM: only
        // the service's cgroup still knows it belongs to the service.
        let script = dir.write(
            "daemon.sh",
            &format!(
                "setsid sh -c \"trap '' TERM; exec sleep 3006\" &\necho $$ > {pidfile}\nexec sleep 3007\n"
            ),
        );
        units.write(
            "e.yaml",
            &format!(
                "type: forking\npidfile: {pidfile}\nstop_timeout: 300ms\ncommand: (setsid sh {script} </dev/null >/dev/null 2>&1 &); exit 0\n"
            ),
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let status = || fosterctl(&socket, &["status", "--json", "e"]).1;
        crate::util::eventually("followed", || field(&status(), "pid_source") == "pidfile");
        crate::util::eventually("worker up", || {
            crate::util::running("sleep 3006").len() == 1
        });
        let worker = crate::util::running("sleep 3006")[0];
        let cgroup = std::fs::read_to_string(format!("/proc/{worker}/cgroup")).unwrap();
        assert!(
            cgroup.contains("/foster-") && cgroup.trim_end().ends_with("/e"),
            "{cgroup}"
        );
        assert_eq!(fosterctl(&socket, &["stop", "e"]).0, 0);
        crate::util::eventually("stopped", || field(&status(), "state") == "stopped");
        crate::util::eventually("the escaped worker is gone", || {
            crate::util::running("sleep 3006").is_empty()
        });
        assert!(crate::util::running("sleep 3007").is_empty());
        running.signal(libc::SIGTERM);
        assert_eq!(running.finish().code(), 0);
    }
}

/// Issue 13 item 1 in one-command mode: `foster --pidfile` follows a
/// daemon that re-daemonizes on SIGHUP (forwarded to it) to its successor,
/// and exits with the successor's status, not when the old PID exits 0.
#[test]
fn one_command_mode_follows_a_daemon_that_redaemonizes_to_its_successor() {
    for mode in modes() {
        let dir = TempDir::new("pidproxy-successor");
        let pidfile = dir.0.join("d.pid").to_string_lossy().into_owned();
        let log = dir.0.join("d.log").to_string_lossy().into_owned();
        let fixture = crate::util::legacy_daemon();
        let mut running = start(foster(
            mode,
            &[
                "-v",
                "--pidfile",
                &pidfile,
                "--",
                &fixture,
                "--pidfile",
                &pidfile,
                "--log",
                &log,
                "--redaemonize-on-hup",
                "--successor-delay",
                "50",
                "--term-exit",
                "7",
            ],
        ));
        running.expect_stderr(&format!("(from {pidfile})"));
        running.signal(libc::SIGHUP);
        running.expect_stderr("handed over from ");
        let masters = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("master "))
            .count();
        assert_eq!(masters, 2, "{mode:?}");
        // SIGTERM reaches the successor, whose status foster exits with.
        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 7, "{mode:?}: {:?}", done.stderr);
    }
}
