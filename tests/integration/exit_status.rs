//! Exit statuses: the child's, 128+N, 126/127, `-e`, usage errors.

use crate::util::{Mode, modes, run};

#[test]
fn every_exit_status_passes_through() {
    for mode in modes() {
        // All 256 as a subreaper; a spread as PID 1 (each run makes a namespace).
        let codes: Vec<i32> = match mode {
            Mode::Subreaper => (0..=255).collect(),
            Mode::Pid1 => vec![0, 1, 2, 7, 32, 64, 126, 127, 128, 143, 254, 255],
        };
        for code in codes {
            let script = format!("exit {code}");
            let done = run(mode, &["--", "sh", "-c", &script]);
            assert_eq!(done.code(), code, "{mode:?}: sh -c '{script}'");
        }
    }
}

#[test]
fn death_by_signal_gives_128_plus_n() {
    for mode in modes() {
        for (sig, name) in [
            (1, "HUP"),
            (2, "INT"),
            (3, "QUIT"),
            (9, "KILL"),
            (10, "USR1"),
            (15, "TERM"),
        ] {
            let script = format!("kill -{name} $$");
            let done = run(mode, &["--", "sh", "-c", &script]);
            assert_eq!(
                done.code(),
                128 + sig,
                "{mode:?}: child killed by SIG{name}"
            );
        }
    }
}

#[test]
fn command_not_found_is_127_with_one_line() {
    for mode in modes() {
        for cmd in ["foster-no-such-command", "/nonexistent/bin/x"] {
            let done = run(mode, &["--", cmd]);
            assert_eq!(done.code(), 127, "{mode:?} {cmd}");
            let errors: Vec<_> = done.stderr.iter().filter(|l| l.contains(cmd)).collect();
            assert_eq!(errors.len(), 1, "{mode:?}: {:?}", done.stderr);
            assert!(
                errors[0].contains("No such file or directory"),
                "{:?}",
                errors[0]
            );
        }
    }
}

#[test]
fn not_executable_is_126_with_one_line() {
    for mode in modes() {
        let done = run(mode, &["/etc"]);
        assert_eq!(done.code(), 126, "{mode:?}");
        assert_eq!(
            done.stderr
                .iter()
                .filter(|l| l.contains("\"/etc\""))
                .count(),
            1,
            "{:?}",
            done.stderr
        );
    }
}

#[test]
fn expected_statuses_map_to_zero() {
    for mode in modes() {
        assert_eq!(
            run(mode, &["-e", "143", "--", "sh", "-c", "kill -TERM $$"]).code(),
            0
        );
        assert_eq!(
            run(mode, &["-e", "3", "-e", "5", "--", "sh", "-c", "exit 5"]).code(),
            0
        );
        assert_eq!(
            run(mode, &["-e", "3", "--", "sh", "-c", "exit 4"]).code(),
            4
        );
    }
    let mut cmd = crate::util::foster(Mode::Subreaper, &["sh", "-c", "exit 130"]);
    cmd.env("FOSTER_EXPECT_EXIT", "143,130");
    assert_eq!(crate::util::start(cmd).finish().code(), 0);
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let done = run(Mode::Subreaper, &[]);
    assert_eq!(done.code(), 2);
    assert!(
        done.stderr.iter().any(|l| l.starts_with("usage: foster")),
        "{:?}",
        done.stderr
    );

    let done = run(Mode::Subreaper, &["--grace", "soon", "true"]);
    assert_eq!(done.code(), 2);
    assert!(
        done.stderr[0].contains("--grace") && done.stderr[0].contains("soon"),
        "{:?}",
        done.stderr
    );

    let done = run(Mode::Subreaper, &["--yolo", "true"]);
    assert_eq!(done.code(), 2);
    assert!(done.stderr[0].contains("--yolo"), "{:?}", done.stderr);

    let mut cmd = crate::util::foster(Mode::Subreaper, &["true"]);
    cmd.env("FOSTER_GRACE", "later");
    let done = crate::util::start(cmd).finish();
    assert_eq!(done.code(), 2);
    assert!(done.stderr[0].contains("FOSTER_GRACE"), "{:?}", done.stderr);
}

#[test]
fn help_and_version_go_to_stdout_and_exit_0() {
    let done = run(Mode::Subreaper, &["--help"]);
    assert_eq!(done.code(), 0);
    assert!(done.stdout.iter().any(|l| l.contains("--grace")));
    let done = run(Mode::Subreaper, &["--version"]);
    assert_eq!(done.code(), 0);
    // `foster VERSION (COMMIT)`: the commit it was built from.
    assert_eq!(done.stdout.len(), 1, "{:?}", done.stdout);
    assert!(
        done.stdout[0].starts_with(&format!("foster {} (", env!("CARGO_PKG_VERSION")))
            && done.stdout[0].ends_with(')'),
        "{:?}",
        done.stdout
    );
}

#[test]
fn stdin_reaches_the_child() {
    let mut running = crate::util::start(crate::util::foster(Mode::Subreaper, &["sh"]));
    running.write("exit 9\n");
    assert_eq!(running.finish().code(), 9);
}

#[test]
fn double_dash_twice_runs_a_command_named_double_dash() {
    assert_eq!(run(Mode::Subreaper, &["--", "--", "true"]).code(), 127);
}

/// A critical service that cannot be executed ends the run as the
/// one-command mode does: 127 for a program that is not there, 126 for one
/// that is there but cannot run, beside a main command that would wait.
#[test]
fn a_critical_service_that_cannot_be_executed_ends_the_run_with_126_or_127() {
    use std::os::unix::fs::PermissionsExt;
    for mode in modes() {
        for (program, code) in [("missing", 127), ("plain", 126)] {
            let dir = crate::util::TempDir::new("noexec");
            let plain = dir.write("plain", "not a program\n");
            std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
            let path = format!("{}/{program}", dir.path());
            let units = dir.0.join("units");
            std::fs::create_dir(&units).unwrap();
            std::fs::write(
                units.join("app.yaml"),
                format!("command: [\"{path}\"]\ncritical: true\nrestart: never\n"),
            )
            .unwrap();
            let done = run(
                mode,
                &["--services", units.to_str().unwrap(), "--", "sleep", "1000"],
            );
            assert_eq!(done.code(), code, "{mode:?} {program}: {:?}", done.stderr);
            assert!(
                done.stderr
                    .iter()
                    .any(|l| l.contains(&format!("foster exits {code}"))),
                "{mode:?} {program}: {:?}",
                done.stderr
            );
        }
    }
}
