//! What the child inherits: the signal mask and dispositions foster was
//! given, no descriptor of foster's, LISTEN_PID pointing at itself; and
//! foster pins no directory.

use crate::util::{Mode, foster, modes, start};
use std::os::unix::process::CommandExt;

/// Signals 32 and 33 belong to glibc's threads implementation, which refuses
/// to change their dispositions from `pre_exec`; whatever the test runner
/// had there passes through untouched, so they are left out of comparisons.
const GLIBC_RESERVED: u64 = (1 << 31) | (1 << 32);

fn status_field(lines: &[String], field: &str) -> u64 {
    let line = lines
        .iter()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field}"));
    u64::from_str_radix(line[field.len()..].trim(), 16).expect("hex") & !GLIBC_RESERVED
}

/// Whatever the test runner inherited, start the case from all defaults.
fn reset_dispositions() {
    for sig in 1..=libc::SIGRTMAX() {
        // SAFETY: signal() is async-signal-safe; KILL and STOP just fail.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

#[test]
fn inherited_mask_and_ignored_signals_reach_the_child_and_foster_own_blocks_do_not() {
    for mode in modes() {
        let mut cmd = foster(mode, &["--", "cat", "/proc/self/status"]);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                reset_dispositions();
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR2);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
        let done = start(cmd).finish();
        assert_eq!(done.code(), 0);
        let hup_pipe = (1u64 << (libc::SIGHUP - 1)) | (1u64 << (libc::SIGPIPE - 1));
        let usr2 = 1u64 << (libc::SIGUSR2 - 1);
        if mode == Mode::Subreaper {
            assert_eq!(status_field(&done.stdout, "SigIgn:"), hup_pipe, "{mode:?}");
            assert_eq!(status_field(&done.stdout, "SigBlk:"), usr2, "{mode:?}");
        } else {
            // unshare sits in between and may add its own; ours must not leak.
            assert_eq!(
                status_field(&done.stdout, "SigIgn:") & hup_pipe,
                hup_pipe,
                "{mode:?}"
            );
            assert_eq!(
                status_field(&done.stdout, "SigBlk:") & !usr2,
                0,
                "{mode:?}: foster's blocked set leaked"
            );
        }
    }
}

#[test]
fn default_dispositions_stay_default() {
    // With nothing ignored or blocked by the parent, the child gets nothing
    // ignored or blocked: in particular not SIGPIPE, which Rust programs
    // ignore by default.
    let mut cmd = foster(Mode::Subreaper, &["--", "cat", "/proc/self/status"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            reset_dispositions();
            Ok(())
        });
    }
    let done = start(cmd).finish();
    assert_eq!(status_field(&done.stdout, "SigIgn:"), 0);
    assert_eq!(status_field(&done.stdout, "SigBlk:"), 0);
}

#[test]
fn no_descriptor_of_foster_leaks_and_listen_pid_is_the_child() {
    for mode in modes() {
        // fd 3 stands for a socket-activation descriptor; LISTEN_PID names
        // foster (the shell execs it, keeping its PID).
        let inner = r#"echo "pid=$$ listen=$LISTEN_PID"; for f in /proc/$$/fd/*; do echo "child ${f##*/} $(readlink $f)"; done; for f in /proc/$PPID/fd/*; do echo "foster ${f##*/} $(readlink $f)"; done"#;
        let outer = format!(
            "exec 3</dev/null; for f in /proc/$$/fd/*; do echo \"outer ${{f##*/}}\"; done; LISTEN_FDS=1 LISTEN_PID=$$ exec {} -- sh -c '{inner}'",
            crate::util::foster_bin()
        );
        let mut cmd = match mode {
            Mode::Subreaper => std::process::Command::new("sh"),
            Mode::Pid1 => {
                let mut c = std::process::Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc", "--kill-child", "sh"]);
                c
            }
        };
        cmd.args(["-c", &outer]);
        let done = start(cmd).finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
        let inherited: Vec<&str> = done
            .stdout
            .iter()
            .filter_map(|l| l.strip_prefix("outer "))
            .collect();
        assert!(inherited.contains(&"3"));
        let ids = done
            .stdout
            .iter()
            .find(|l| l.starts_with("pid="))
            .expect("pid line");
        let (pid, listen) = ids
            .strip_prefix("pid=")
            .and_then(|r| r.split_once(" listen="))
            .expect("pid line");
        assert_eq!(
            pid, listen,
            "{mode:?}: LISTEN_PID must be rewritten to the child's PID"
        );

        let child: Vec<&str> = done
            .stdout
            .iter()
            .filter_map(|l| l.strip_prefix("child "))
            .collect();
        let numbers: Vec<&str> = child
            .iter()
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            numbers, inherited,
            "{mode:?}: the child has exactly what foster inherited: {child:?}"
        );
        assert!(
            child.iter().all(|l| !l.contains("anon_inode")),
            "{mode:?}: {child:?}"
        );

        let own: Vec<&str> = done
            .stdout
            .iter()
            .filter_map(|l| l.strip_prefix("foster "))
            .collect();
        // foster keeps its three event descriptors and has closed the
        // inherited fd 3 (now one of its own anon inodes).
        let extra: Vec<&&str> = own
            .iter()
            .filter(|l| !["0 ", "1 ", "2 "].iter().any(|p| l.starts_with(p)))
            .collect();
        assert_eq!(extra.len(), 3, "{mode:?}: foster fds {own:?}");
        assert!(
            extra.iter().all(|l| l.contains("anon_inode")),
            "{mode:?}: foster fds {own:?}"
        );
    }
}

#[test]
fn foster_moves_to_root_and_the_child_keeps_its_directory() {
    for mode in modes() {
        let mut cmd = foster(mode, &["--", "sh", "-c", "readlink /proc/$PPID/cwd; pwd"]);
        cmd.current_dir("/tmp");
        let done = start(cmd).finish();
        assert_eq!(done.stdout, ["/", "/tmp"], "{mode:?}");
    }
}

#[test]
fn logs_go_to_stderr_never_stdout() {
    let done = start(foster(
        Mode::Subreaper,
        &["-vvv", "--", "sh", "-c", "echo out"],
    ))
    .finish();
    assert_eq!(done.stdout, ["out"]);
    assert!(done.stderr.iter().any(|l| l.starts_with("foster: ")));
}
