//! Under a terminal: the child gets the foreground, an interactive shell
//! has job control, and Ctrl-C reaches the child (exit 130).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

use crate::util::{DEADLINE, KillOnDrop, foster, modes};

pub struct Pty {
    master: std::fs::File,
    output: Receiver<Vec<u8>>,
    pub seen: String,
}

/// Starts foster as the session leader of a new pseudo-terminal, the way a
/// terminal emulator or `docker run -t` would.
pub fn under_pty(mut cmd: Command) -> (std::process::Child, Pty) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let master = std::fs::File::from(pty.master);
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn under pty");
    drop(cmd); // close our copies of the slave
    let mut reader = master.try_clone().expect("dup master");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (
        child,
        Pty {
            master,
            output: rx,
            seen: String::new(),
        },
    )
}

impl Pty {
    pub fn wait_for(&mut self, text: &str) {
        self.wait_for_count(text, 1);
    }

    /// Waits until `text` has appeared `count` times in all.
    fn wait_for_count(&mut self, text: &str, count: usize) {
        while self.seen.matches(text).count() < count {
            match self.output.recv_timeout(DEADLINE) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!(
                    "terminal never showed {text:?} {count} times; it showed {:?}",
                    self.seen
                ),
            }
        }
    }

    pub fn type_keys(&mut self, keys: &str) {
        self.master
            .write_all(keys.as_bytes())
            .expect("write to pty");
    }
}

pub fn wait_code(mut child: std::process::Child) -> i32 {
    let (tx, rx) = channel();
    let pid = child.id() as i32;
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(status)) => status.code().expect("foster exited normally"),
        _ => {
            // SAFETY: kill takes two integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("foster did not exit under the terminal");
        }
    }
}

#[test]
fn ctrl_c_reaches_the_child_which_holds_the_foreground() {
    for mode in modes() {
        // Fields 5 and 8 of /proc/PID/stat: process group and the terminal's
        // foreground group.
        let script = r#"set -- $(cat /proc/$$/stat); if [ "$5" = "$8" ]; then echo FORE""GROUND; else echo BACK""GROUND; fi; exec sleep 1000"#;
        let (child, mut pty) = under_pty(foster(mode, &["--", "sh", "-c", script]));
        let mut guard = KillOnDrop(Some(child.id() as i32));
        pty.wait_for("GROUND");
        assert!(pty.seen.contains("FOREGROUND"), "{mode:?}: {:?}", pty.seen);
        pty.type_keys("\x03");
        guard.0 = None;
        assert_eq!(wait_code(child), 130, "{mode:?}");
    }
}

#[test]
fn interactive_shell_has_job_control_and_survives_ctrl_c() {
    for mode in modes() {
        let mut cmd = foster(mode, &["--", "sh", "-i"]);
        cmd.env("PS1", "PROMPT> ");
        let (child, mut pty) = under_pty(cmd);
        let mut guard = KillOnDrop(Some(child.id() as i32));
        pty.wait_for("PROMPT> ");
        // The quotes keep the echoed input from matching the output.
        pty.type_keys("echo \"fl\"\"ags=[$-]\"\n");
        pty.wait_for("flags=[");
        pty.wait_for("]");
        let flags = pty
            .seen
            .rsplit("flags=[")
            .next()
            .unwrap_or("")
            .split(']')
            .next()
            .unwrap_or("")
            .to_string();
        assert!(
            flags.contains('m'),
            "{mode:?}: job control off, flags {flags:?}"
        );
        // Ctrl-C discards typed-ahead input, so wait for the shell to show
        // a fresh prompt before typing on.
        pty.wait_for_count("PROMPT> ", 2);
        pty.type_keys("\x03");
        pty.wait_for_count("PROMPT> ", 3);
        pty.type_keys("echo still\"\"-here\n");
        pty.wait_for("still-here\r\n");
        pty.type_keys("exit 0\n");
        guard.0 = None;
        assert_eq!(wait_code(child), 0, "{mode:?}");
    }
}

#[test]
fn a_background_foster_does_not_steal_the_terminal() {
    // foster started from a shell in the background (its group is not the
    // foreground one) must leave the foreground where it is.
    let script = format!(
        r#"{} -- sh -c 'set -- $(cat /proc/$$/stat); [ "$5" = "$8" ] && echo STOLE || echo LEFT""ALONE' & wait"#,
        crate::util::foster_bin()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-m", "-c", &script]);
    let (child, mut pty) = under_pty(cmd);
    pty.wait_for("ALONE");
    assert!(!pty.seen.contains("STOLE"), "{:?}", pty.seen);
    assert_eq!(wait_code(child), 0);
}
