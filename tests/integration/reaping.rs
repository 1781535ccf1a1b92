//! Reaping: orphan storms leave no zombie; coalesced SIGCHLDs never hang.

use crate::util::{eventually, foster, modes, processes, run, start};

#[test]
fn an_orphan_storm_leaves_no_zombie() {
    for mode in modes() {
        // 2000 orphans: each `( true & )` subshell exits at once, leaving
        // `true` to be reparented to foster.
        let script =
            "i=0; while [ $i -lt 2000 ]; do ( true & ); i=$((i+1)); done; echo stormed; read x";
        let mut running = start(foster(mode, &["--", "sh", "-c", script]));
        running.expect_line("stormed");
        let foster_pid = running.foster_pid();
        eventually("every orphan reaped", || {
            !processes()
                .iter()
                .any(|p| p.ppid == foster_pid && p.state == 'Z')
        });
        let zombies = processes()
            .iter()
            .filter(|p| p.state == 'Z' && p.ppid == foster_pid)
            .count();
        assert_eq!(zombies, 0, "{mode:?}");
        running.write("done\n");
        assert_eq!(running.finish().code(), 0, "{mode:?}");
    }
}

#[test]
fn main_child_exit_coalesced_with_another_never_hangs() {
    // catatonit#4: the main child and an orphan die together; one SIGCHLD
    // stands for both. Repeated to hit the coalescing often.
    for mode in modes() {
        for _ in 0..25 {
            let done = run(
                mode,
                &[
                    "--",
                    "sh",
                    "-c",
                    "sh -c 'sleep 0.01 & kill -9 $$'; sleep 0.0087",
                ],
            );
            assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
        }
    }
}

#[test]
fn child_exiting_127_does_not_hang() {
    // catatonit#5.
    for mode in modes() {
        assert_eq!(run(mode, &["--", "sh", "-c", "exit 127"]).code(), 127);
    }
}

#[test]
fn orphans_are_reaped_while_the_main_child_runs() {
    for mode in modes() {
        let script = "sh -c 'sleep 0.05 & echo orphan $!'; echo spawned; read x";
        let mut running = start(foster(mode, &["-w", "--", "sh", "-c", script]));
        running.expect_line("spawned");
        running.expect_stderr("reaped orphan");
        running.write("done\n");
        assert_eq!(running.finish().code(), 0);
    }
}
