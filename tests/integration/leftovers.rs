//! What the main child leaves behind gets SIGTERM, the grace, then SIGKILL;
//! foster returns as soon as the last one is gone.

use crate::util::{Mode, foster, modes, recorder, start};

#[test]
fn leftovers_get_sigterm_and_foster_returns_without_sleeping_out_the_grace() {
    for mode in modes() {
        let rec = recorder();
        // The recorder exits after one signal; the grace is far longer than
        // the test's deadline, so sleeping it out fails the test.
        let script = format!("{rec} 1 & read x; exit 7");
        let mut running = start(foster(mode, &["--grace", "10m", "--", "sh", "-c", &script]));
        running.expect_line("ready");
        running.write("go\n");
        let done = running.finish();
        assert_eq!(done.code(), 7, "{mode:?}: {:?}", done.stderr);
        assert!(
            done.stdout.contains(&libc::SIGTERM.to_string()),
            "{mode:?}: {:?}",
            done.stdout
        );
    }
}

#[test]
fn leftovers_that_ignore_sigterm_are_killed_after_the_grace() {
    for mode in modes() {
        let script = "sh -c 'trap \"\" TERM; echo ready $$; exec sleep 1000' & read x; exit 7";
        let mut running = start(foster(
            mode,
            &["-v", "--grace", "300ms", "--", "sh", "-c", script],
        ));
        let ready = running.line();
        let pid: i32 = ready
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .expect("ready PID");
        running.write("go\n");
        let done = running.finish();
        assert_eq!(done.code(), 7, "{mode:?}");
        assert!(
            done.stderr.iter().any(|l| l.contains("grace period over")),
            "{mode:?}: {:?}",
            done.stderr
        );
        if mode == Mode::Subreaper {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "the sleeper {pid} survived"
            );
        }
    }
}

#[test]
fn second_sigterm_during_the_grace_kills_at_once() {
    for mode in modes() {
        let script = "sh -c 'trap \"\" TERM; echo ready; exec sleep 1000' & read x; exit 7";
        let mut running = start(foster(
            mode,
            &["-v", "--grace", "10m", "--", "sh", "-c", script],
        ));
        running.expect_line("ready");
        running.write("go\n");
        running.expect_stderr("sending SIGTERM to the processes left behind");
        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 7, "{mode:?}");
    }
}

#[test]
fn a_stopped_leftover_is_continued_so_it_can_act_on_sigterm() {
    let rec = recorder();
    // Two signals: SIGTERM and the SIGCONT that lets it act on it.
    let script = format!("{rec} 2 & pid=$!; read x; kill -STOP $pid; exit 3");
    let mut running = start(foster(
        Mode::Subreaper,
        &["--grace", "10m", "--", "sh", "-c", &script],
    ));
    running.expect_line("ready");
    running.write("go\n");
    let done = running.finish();
    assert_eq!(done.code(), 3);
    assert!(
        done.stdout.contains(&libc::SIGTERM.to_string()),
        "{:?}",
        done.stdout
    );
}

/// Issue 12, item 3: when a service's main process is killed, what it left
/// (here a background `sleep` its shell started before exec) is stopped
/// before the restart, so three kills leave one of each, not four
/// leftovers; `kill_mode: main` leaves them, as before.
#[test]
fn what_a_killed_service_left_is_stopped_before_it_restarts() {
    for (n, mode) in modes().into_iter().enumerate() {
        for kill_mode in ["all", "main"] {
            let dir = crate::util::TempDir::new("left");
            let (bg, main) = (
                format!("sleep {}", 7101 + 10 * n),
                format!("sleep {}", 7102 + 10 * n),
            );
            dir.write(
                "left.yaml",
                &format!(
                    "command: {bg} & exec {main}\nrestart: always\nrestart_delay: 50ms\nkill_mode: {kill_mode}\n"
                ),
            );
            let running = start(foster(mode, &["--services", &dir.path()]));
            let kills = if kill_mode == "all" { 3 } else { 1 };
            for _ in 0..kills {
                let mut mains = Vec::new();
                crate::util::eventually("the service runs", || {
                    mains = crate::util::running(&main);
                    mains.len() == 1
                });
                // SAFETY: kill takes two integers.
                unsafe { libc::kill(mains[0], libc::SIGKILL) };
                crate::util::eventually("it runs again", || {
                    let now = crate::util::running(&main);
                    now.len() == 1 && now != mains
                });
            }
            let expected = if kill_mode == "all" { 1 } else { 2 };
            crate::util::eventually("the leftovers are as expected", || {
                crate::util::running(&bg).len() == expected
            });
            let left = crate::util::running(&bg);
            assert_eq!(left.len(), expected, "{mode:?} {kill_mode}: {left:?}");
            running.signal(libc::SIGTERM);
            let done = running.finish();
            assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
            assert!(crate::util::running(&bg).is_empty(), "{mode:?} {kill_mode}");
            // The search for what it left knows the service's launch (it
            // used to warn on every end of a simple service, and not wait).
            assert!(
                !done
                    .stderr
                    .iter()
                    .any(|l| l.contains("the launch is unknown")),
                "{mode:?}: {:?}",
                done.stderr
            );
        }
    }
}
