//! Services from a directory: validation, dependencies, the main command,
//! restarts with backoff, ordered shutdown, exit statuses.

use crate::util::{Mode, TempDir, foster, modes, run, start};

#[test]
fn check_prints_every_problem_with_file_line_and_column() {
    let dir = TempDir::new("check");
    dir.write("good.yaml", "command: [\"/bin/true\"]\n");
    let bad = dir.write(
        "bad.yaml",
        "command: []\nrestrat: always\nstop_signal: SIGNOPE\ndepends_on: [ghost]\n",
    );
    dir.write("ignored.txt", "not a unit");
    let done = run(Mode::Subreaper, &["--check", "--services", &dir.path()]);
    assert_eq!(done.code(), 1, "{:?}", done.stdout);
    assert_eq!(
        done.stdout,
        [
            format!("{bad}:1:10: command: must not be empty"),
            format!("{bad}:2:1: unknown key `restrat` (did you mean `restart`?)"),
            format!(
                "{bad}:3:14: stop_signal: unknown signal \"SIGNOPE\" (expected a name such as TERM or SIGTERM, RTMIN+N, or a number)"
            ),
            format!(
                "warning: {}/ignored.txt: ignored: not a .yaml/.yml file",
                dir.path()
            ),
        ]
    );
    std::fs::remove_file(&bad).unwrap();
    let done = run(Mode::Subreaper, &["--check", "--services", &dir.path()]);
    assert_eq!(done.code(), 0, "{:?}", done.stdout);
}

#[test]
fn the_shipped_example_services_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/services.d");
    let done = run(Mode::Subreaper, &["--check", "--services", dir]);
    assert_eq!(done.code(), 0, "{:?}", done.stdout);
}

#[test]
fn an_invalid_unit_is_reported_and_skipped_while_the_valid_ones_run() {
    for mode in modes() {
        let dir = TempDir::new("skip");
        let marker = dir.0.join("marker");
        dir.write("broken.yaml", "command: x\ntype: nonsense\n");
        dir.write(
            "setup.yaml",
            &format!("type: oneshot\ncommand: echo ran > {}\n", marker.display()),
        );
        let check = format!("test -f {} && exit 3", marker.display());
        let done = run(mode, &["--services", &dir.path(), "--", "sh", "-c", &check]);
        assert_eq!(done.code(), 3, "{mode:?}: {:?}", done.stderr);
        assert!(
            done.stderr.iter().any(
                |l| l.contains("broken.yaml:2:7: type: unknown value") && l.contains("skipped")
            ),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

#[test]
fn the_main_command_starts_once_dependencies_are_ready_and_gives_the_exit_status() {
    for mode in modes() {
        let dir = TempDir::new("order");
        let log = dir.0.join("log");
        let log = log.display();
        dir.write(
            "a.yaml",
            &format!("type: oneshot\ncommand: echo a >> {log}\n"),
        );
        dir.write(
            "b.yaml",
            &format!("type: oneshot\ndepends_on: [a]\ncommand: echo b >> {log}\n"),
        );
        // A simple service counts as ready once exec'd, before it has done
        // anything; a notify one only when it says so, so `c` is in the log
        // before the main command runs.
        dir.write(
            "c.yaml",
            &format!(
                "type: notify\ndepends_on: [b]\ncommand: [\"/bin/sh\", \"-c\", \"echo c >> {log}; fosterctl notify READY=1; exec sleep 1000\"]\n"
            ),
        );
        let main = format!("echo main >> {log}; cat {log}; exit 5");
        let mut cmd = foster(mode, &["--services", &dir.path(), "--", "sh", "-c", &main]);
        cmd.env("PATH", crate::control::path_with_fosterctl());
        let done = start(cmd).finish();
        assert_eq!(done.code(), 5, "{mode:?}: {:?}", done.stderr);
        assert_eq!(done.stdout, ["a", "b", "c", "main"], "{mode:?}");
    }
}

#[test]
fn sigterm_stops_services_in_reverse_dependency_order_and_kills_a_stubborn_one() {
    for mode in modes() {
        let dir = TempDir::new("stop");
        let log = dir.0.join("log");
        let log = log.display();
        let service = |name: &str| {
            format!(
                "command: [\"/bin/sh\", \"-c\", \"trap 'echo {name} stopped >> {log}; exit 0' TERM; echo {name} up; while :; do sleep 0.05; done\"]\n"
            )
        };
        dir.write("db.yaml", &service("db"));
        dir.write("web.yaml", &format!("{}depends_on: [db]\n", service("web")));
        dir.write(
            "proxy.yaml",
            &format!("{}depends_on: [web]\n", service("proxy")),
        );
        dir.write(
            "stubborn.yaml",
            "command: [\"/bin/sh\", \"-c\", \"trap '' TERM; echo stubborn up; exec sleep 1000\"]\nstop_timeout: 300ms\n",
        );
        let mut running = start(foster(mode, &["-v", "--services", &dir.path()]));
        let mut up: Vec<String> = (0..4).map(|_| running.line()).collect();
        up.sort();
        assert_eq!(
            up,
            ["db up", "proxy up", "stubborn up", "web up"],
            "{mode:?}"
        );
        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
        let stopped = std::fs::read_to_string(dir.0.join("log")).unwrap();
        assert_eq!(
            stopped, "proxy stopped\nweb stopped\ndb stopped\n",
            "{mode:?}"
        );
        assert!(
            done.stderr
                .iter()
                .any(|l| l.contains("stubborn: still running")),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

#[test]
fn a_crash_loop_backs_off_with_doubling_delays() {
    let dir = TempDir::new("crash");
    dir.write(
        "crash.yaml",
        "command: exit 1\nrestart_delay: 20ms\nrestart_delay_max: 80ms\n",
    );
    let mut running = start(foster(Mode::Subreaper, &["--services", &dir.path()]));
    for delay in ["20ms", "40ms", "80ms", "80ms"] {
        running.expect_stderr(&format!(
            "crash: exited with status 1; restarting in {delay}"
        ));
    }
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn a_critical_service_ending_stops_foster_with_its_status() {
    for mode in modes() {
        let dir = TempDir::new("critical");
        dir.write(
            "core.yaml",
            "command: exit 4\ncritical: true\nrestart: never\n",
        );
        dir.write("other.yaml", "command: [\"/bin/sleep\", \"1000\"]\n");
        let done = run(mode, &["--services", &dir.path()]);
        assert_eq!(done.code(), 4, "{mode:?}: {:?}", done.stderr);
    }
}

/// Issue 12: with a main command, a critical service that ends for good
/// ends the run with its own status, whether the main command had started
/// (it ends by foster's SIGTERM, 143, which does not count) or not (a
/// critical oneshot that failed), and the log names what ended it.
#[test]
fn a_critical_service_ends_the_run_with_its_status_beside_a_main_command() {
    for mode in modes() {
        let dir = TempDir::new("critical-main");
        dir.write(
            "setup.yaml",
            "type: oneshot\ncommand: exit 5\ncritical: true\n",
        );
        let done = run(mode, &["--services", &dir.path(), "--", "sleep", "1000"]);
        assert_eq!(done.code(), 5, "{mode:?}: {:?}", done.stderr);
        assert!(
            done.stderr.iter().any(|l| l
                .contains("setup is critical and has ended (exited with status 5): shutting down, foster exits 5")),
            "{mode:?}: {:?}",
            done.stderr
        );

        // The main command runs, then the critical service ends: the main
        // command's 143 after foster's SIGTERM is not the run's status.
        let dir = TempDir::new("critical-main");
        let fifo = dir.0.join("go");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()));
        dir.write(
            "core.yaml",
            &format!(
                "command: read line < {}; exit 6\ncritical: true\nrestart: never\n",
                fifo.display()
            ),
        );
        let main = format!("echo go > {}; exec sleep 1000", fifo.display());
        let done = run(mode, &["--services", &dir.path(), "--", "sh", "-c", &main]);
        assert_eq!(done.code(), 6, "{mode:?}: {:?}", done.stderr);
        assert!(
            done.stderr.iter().any(|l| l.contains(
                "core is critical and has ended (exited with status 6): shutting down, foster exits 6"
            )),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

#[test]
fn a_failed_oneshot_fails_its_dependents_and_the_main_command_still_runs() {
    let dir = TempDir::new("failed");
    dir.write("setup.yaml", "type: oneshot\ncommand: exit 2\n");
    dir.write(
        "app.yaml",
        "depends_on: [setup]\ncommand: [\"/bin/sleep\", \"1000\"]\n",
    );
    let done = run(
        Mode::Subreaper,
        &["--services", &dir.path(), "--", "sh", "-c", "exit 0"],
    );
    assert_eq!(done.code(), 0);
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("app: not starting: its dependency setup failed")),
        "{:?}",
        done.stderr
    );
}

#[test]
fn services_get_their_environment_user_and_directory() {
    let dir = TempDir::new("env");
    let out = dir.0.join("out");
    dir.write(
        "show.yaml",
        &format!(
            "type: oneshot\nworkdir: /tmp\nuser: nobody\nenv: {{GREETING: hello}}\ncommand: [\"/bin/sh\", \"-c\", \"echo $GREETING $(id -u) $USER $(pwd) > {}\"]\n",
            out.display()
        ),
    );
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let done = run(Mode::Subreaper, &["--services", &dir.path(), "--", "true"]);
    assert_eq!(done.code(), 0, "{:?}", done.stderr);
    if unsafe_is_root() {
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "hello 65534 nobody /tmp\n"
        );
    }
}

#[test]
fn a_service_that_cannot_start_fails_with_a_clear_reason() {
    let dir = TempDir::new("nostart");
    dir.write(
        "nowhere.yaml",
        "type: oneshot\nworkdir: /nonexistent/dir\ncommand: [\"/bin/true\"]\n",
    );
    dir.write(
        "missing.yaml",
        "type: oneshot\ncommand: [\"/no/such/program\"]\n",
    );
    let done = run(Mode::Subreaper, &["--services", &dir.path(), "--", "true"]);
    assert_eq!(done.code(), 0);
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("nowhere: cannot start: cannot enter the working directory")),
        "{:?}",
        done.stderr
    );
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("missing: cannot start: cannot execute the command")),
        "{:?}",
        done.stderr
    );
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Issue 12, item 9: with services, each service's life is in the log at
/// the default level (no -v), and a shutdown that waits says what for,
/// every few seconds, until it is over.
#[test]
fn with_services_the_default_log_tells_each_life_and_what_a_shutdown_waits_for() {
    for mode in modes() {
        let dir = TempDir::new("lifelog");
        dir.write(
            "stubborn.yaml",
            "command: trap '' TERM; echo up; exec sleep 1000\nstop_timeout: 7s\n",
        );
        dir.write("once.yaml", "type: oneshot\ncommand: exit 0\n");
        let mut running = start(foster(mode, &["--services", &dir.path()]));
        running.expect_stderr("stubborn: started as ");
        running.expect_stderr("once: exited with status 0");
        running.expect_line("up");
        running.signal(libc::SIGTERM);
        running.expect_stderr("stubborn: stopping with SIGTERM");
        running.expect_stderr("waiting for stubborn: SIGKILL in ");
        running.expect_stderr("stubborn: still running 7s after its stop signal; killing it");
        running.expect_stderr("stubborn: stopped (was killed by SIGKILL)");
        assert_eq!(running.finish().code(), 0, "{mode:?}");
    }
}

/// Issue 12, item 4: `restart_limit` restarts within
/// `restart_limit_interval`, then the service fails ("gave up"); for a
/// critical service that ends the run with its status.
#[test]
fn a_service_that_keeps_failing_is_given_up_on_after_its_restart_limit() {
    for mode in modes() {
        let dir = TempDir::new("limit");
        let count = dir.0.join("count");
        dir.write(
            "flaky.yaml",
            &format!(
                "command: echo run >> {}; exit 3\nrestart: always\nrestart_delay: 10ms\nrestart_limit: 2\nrestart_limit_interval: 1m\ncritical: true\n",
                count.display()
            ),
        );
        let done = run(mode, &["--services", &dir.path()]);
        assert_eq!(done.code(), 3, "{mode:?}: {:?}", done.stderr);
        assert!(
            done.stderr
                .iter()
                .any(|l| l.contains("flaky: exited with status 3; gave up after 2 restarts in 1m")),
            "{mode:?}: {:?}",
            done.stderr
        );
        // The first run and two restarts.
        let runs = std::fs::read_to_string(&count).unwrap_or_default();
        assert_eq!(runs.lines().count(), 3, "{mode:?}");
    }
}
