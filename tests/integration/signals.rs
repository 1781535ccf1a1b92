//! Signal forwarding: every catchable signal reaches the child, real-time
//! ones included; `-g` reaches the whole group; `-p`; SIGTERM to PID 1.

use crate::util::{Mode, foster, modes, recorder, start};

/// 1..=31 without SIGKILL and SIGSTOP (uncatchable) and SIGCHLD (foster's own).
fn forwardable() -> Vec<i32> {
    (1..=31)
        .filter(|s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(s))
        .collect()
}

#[test]
fn every_catchable_signal_and_a_realtime_one_reach_the_child() {
    let rt = libc::SIGRTMIN() + 3;
    let mut signals = forwardable();
    signals.push(rt);
    for mode in modes() {
        let count = signals.len().to_string();
        let rec = recorder();
        let mut running = start(foster(mode, &["--", &rec, &count]));
        running.expect_line("ready");
        for &sig in &signals {
            running.signal(sig);
            assert_eq!(running.line(), sig.to_string(), "{mode:?}: signal {sig}");
        }
        let done = running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
    }
}

#[test]
fn process_group_option_reaches_a_grandchild() {
    for mode in modes() {
        let rec = recorder();
        // The shell ignores USR1 and waits; only its process group, not the
        // shell itself, can pass USR1 on to the recorder.
        let script = format!("trap '' USR1; {rec} 1 & wait");
        let mut running = start(foster(mode, &["-g", "--", "sh", "-c", &script]));
        running.expect_line("ready");
        running.signal(libc::SIGUSR1);
        assert_eq!(running.line(), libc::SIGUSR1.to_string());
        assert_eq!(running.finish().code(), 0, "{mode:?}");
    }
}

#[test]
fn process_group_from_the_environment_like_tini() {
    let rec = recorder();
    let script = format!("trap '' USR2; {rec} 1 & wait");
    let mut cmd = foster(Mode::Subreaper, &["--", "sh", "-c", &script]);
    cmd.env("FOSTER_KILL_PROCESS_GROUP", "1");
    let mut running = start(cmd);
    running.expect_line("ready");
    running.signal(libc::SIGUSR2);
    assert_eq!(running.line(), libc::SIGUSR2.to_string());
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn sigterm_to_pid1_from_outside_reaches_the_child_and_gives_143() {
    for mode in modes() {
        let mut running = start(foster(
            mode,
            &["--", "sh", "-c", "echo ready; exec sleep 1000"],
        ));
        running.expect_line("ready");
        running.signal(libc::SIGTERM);
        assert_eq!(running.finish().code(), 143, "{mode:?}");
    }
}

#[test]
fn parent_death_signal_is_forwarded() {
    // A shell starts foster -p USR1 in the background and exits when its
    // stdin closes; its death makes the kernel send USR1 to foster, which
    // forwards it to the recorder.
    let rec = recorder();
    let script = format!("{} -p USR1 -- {rec} 1 & read x", crate::util::foster_bin());
    let mut running = start({
        let mut c = std::process::Command::new("sh");
        c.args(["-c", &script]);
        c
    });
    running.expect_line("ready");
    drop(running.stdin.take());
    assert_eq!(running.line(), libc::SIGUSR1.to_string());
}
