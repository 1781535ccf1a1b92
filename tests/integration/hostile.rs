//! What an attacker or an unlucky operator does to a running foster: the
//! regression tests of the hostile-input run, each named after what broke.
//! Each asserts what a user observes: descriptors foster holds, who gets
//! killed by a stop, whether `fosterctl` answers, what stderr shows.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::control::{fosterctl, path_with_fosterctl};
use crate::tracking::field;
use crate::util::{KillOnDrop, Mode, Running, TempDir, eventually, foster, modes, start};

/// A foster running the units `units` (name, yaml) with a control socket,
/// `fosterctl` on the services' PATH.
struct Stack {
    _dir: TempDir,
    _units: TempDir,
    socket: String,
    running: Running,
}

fn stack(mode: Mode, tag: &str, units: &[(&str, &str)], extra: &[&str]) -> Stack {
    let dir = TempDir::new(tag);
    let socket = format!("{}/ctl.sock", dir.path());
    let unit_dir = TempDir::new(&format!("{tag}-units"));
    for (name, yaml) in units {
        unit_dir.write(&format!("{name}.yaml"), yaml);
    }
    let mut args = vec!["-v", "--socket", &socket, "--services"];
    let path = unit_dir.path();
    args.push(&path);
    args.extend_from_slice(extra);
    let mut cmd = foster(mode, &args);
    cmd.env("PATH", path_with_fosterctl());
    Stack {
        _dir: dir,
        _units: unit_dir,
        socket,
        running: start(cmd),
    }
}

impl Stack {
    fn status(&self, name: &str) -> String {
        fosterctl(&self.socket, &["status", "--json", name]).1
    }

    fn wait_field(&self, name: &str, key: &str, want: &str) {
        eventually(&format!("{name}: {key} is {want}"), || {
            field(&self.status(name), key) == want
        });
    }

    fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.running.foster_pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn stop(self) -> crate::util::Finished {
        self.running.signal(libc::SIGTERM);
        let done = self.running.finish();
        assert_eq!(done.code(), 0, "{:?}", done.stderr);
        done
    }
}

/// The NOTIFY_SOCKET a notify unit wrote to `file`, as a datagram address.
fn notify_address(file: &str) -> nix::sys::socket::UnixAddr {
    let mut name = String::new();
    eventually("the notify service wrote NOTIFY_SOCKET", || {
        name = std::fs::read_to_string(file)
            .unwrap_or_default()
            .trim()
            .to_string();
        !name.is_empty()
    });
    let abstract_name = name.strip_prefix('@').expect("an abstract socket");
    nix::sys::socket::UnixAddr::new_abstract(abstract_name.as_bytes()).expect("address")
}

fn send_with_fds(
    socket: &UnixDatagram,
    addr: &nix::sys::socket::UnixAddr,
    text: &[u8],
    fds: &[i32],
) {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let iov = [std::io::IoSlice::new(text)];
    let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
        vec![]
    } else {
        vec![ControlMessage::ScmRights(fds)]
    };
    sendmsg(
        socket.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::empty(),
        Some(addr),
    )
    .expect("sendmsg");
}

/// Waits until foster has read every datagram sent before: sd_notify's
/// barrier (foster closes the pipe's write end it was sent).
fn barrier(socket: &UnixDatagram, addr: &nix::sys::socket::UnixAddr) {
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
    send_with_fds(socket, addr, b"BARRIER=1", &[write_end.as_raw_fd()]);
    drop(write_end);
    let mut file = std::fs::File::from(read_end);
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).expect("barrier");
}

const NOTIFY_UNIT: &str = "type: notify\ncommand: [\"/bin/sh\", \"-c\", \"echo $NOTIFY_SOCKET > {FILE}; fosterctl notify READY=1; exec sleep 1000\"]\n";

#[test]
fn notify_datagrams_carrying_more_than_eight_descriptors_leave_none_open_in_foster() {
    for mode in modes() {
        let dir = TempDir::new("notify-fds");
        let file = format!("{}/socket", dir.path());
        let unit = NOTIFY_UNIT.replace("{FILE}", &file);
        let stack = stack(mode, "notify-fds", &[("n", &unit)], &[]);
        stack.wait_field("n", "state", "running");
        let addr = notify_address(&file);
        let socket = UnixDatagram::unbound().unwrap();
        let spare: Vec<OwnedFd> = (0..253)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
            .collect();
        let raw: Vec<i32> = spare.iter().map(|f| f.as_raw_fd()).collect();
        let round = || {
            for n in [9, 9, 9, 1, 64, 253] {
                send_with_fds(&socket, &addr, b"STATUS=x", &raw[..n]);
            }
            // Oversized, with descriptors: refused whole, and closed.
            let mut long = vec![b'x'; 5000];
            long.extend_from_slice(b"\nMAINPID=1");
            send_with_fds(&socket, &addr, &long, &raw[..9]);
            send_with_fds(&socket, &addr, b"\xff\xfegarbage", &raw[..9]);
            barrier(&socket, &addr);
        };
        // The first round opens what foster opens once (its stderr writer,
        // on the first warning); every later one must leave the count as it was.
        round();
        let before = stack.fd_count();
        for _ in 0..10 {
            round();
        }
        let after = stack.fd_count();
        assert_eq!(
            before, after,
            "{mode:?}: foster went from {before} to {after} descriptors"
        );
        assert_eq!(fosterctl(&stack.socket, &["status", "n"]).0, 0);
        stack.stop();
    }
}

#[test]
fn mainpid_naming_foster_is_refused_so_a_stop_never_kills_foster() {
    for mode in modes() {
        let stack = stack(
            mode,
            "mainpid-foster",
            &[(
                "n",
                "type: notify\ncommand: [\"/bin/sh\", \"-c\", \"fosterctl notify READY=1 MAINPID=$PPID; exec sleep 1000\"]\n",
            )],
            &[],
        );
        let mut stack = stack;
        stack.wait_field("n", "state", "running");
        let json = stack.status("n");
        assert_eq!(field(&json, "pid_source"), "child", "{mode:?}: {json}");
        assert_eq!(fosterctl(&stack.socket, &["stop", "n"]).0, 0);
        stack.wait_field("n", "state", "stopped");
        // foster is alive and answers, and said why it refused.
        assert_eq!(fosterctl(&stack.socket, &["status"]).0, 0);
        stack.running.expect_stderr("n: refusing MAINPID=");
        stack.stop();
    }
}

#[test]
fn mainpid_naming_a_stranger_is_refused_and_the_stranger_survives_stop_and_shutdown() {
    for mode in modes() {
        // A process in a session of its own that is not foster's: a
        // stranger, visible in a PID 1 foster's namespace only as its own
        // child would be, so this runs as a subreaper.
        if mode == Mode::Pid1 {
            continue;
        }
        let mut stranger = Command::new("setsid")
            .args(["sleep", "1000"])
            .spawn()
            .unwrap();
        let mut guard = KillOnDrop(Some(stranger.id() as i32));
        let pid = stranger.id() as i32;
        eventually("the stranger runs sleep", || {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        });
        let mut stack = stack(
            mode,
            "mainpid-stranger",
            &[(
                "n",
                &format!(
                    "type: notify\ncommand: [\"/bin/sh\", \"-c\", \"fosterctl notify READY=1 MAINPID={pid}; exec sleep 1000\"]\n"
                ),
            )],
            &[],
        );
        stack.wait_field("n", "state", "running");
        assert_eq!(fosterctl(&stack.socket, &["stop", "n"]).0, 0);
        stack.wait_field("n", "state", "stopped");
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "the stranger was killed by the stop"
        );
        stack
            .running
            .expect_stderr(&format!("n: refusing MAINPID={pid}"));
        stack.stop();
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "the stranger was killed"
        );
        stranger.kill().unwrap();
        stranger.wait().unwrap();
        guard.0 = None;
    }
}

#[test]
fn a_mainpid_cut_short_by_a_long_datagram_is_refused_whole() {
    for mode in modes() {
        // STATUS= padded so that the datagram is 4,097 bytes: read into
        // 4,096 it would end "MAINPID=$P" (the real child, which passes
        // every check) instead of "MAINPID=${P}9".
        let script = "sleep 1000 & P=$!; n=$((4080 - ${#P})); pad=$(head -c $n /dev/zero | tr '\\\\0' x); \
                      fosterctl notify \\\"STATUS=$pad\\\" MAINPID=${P}9; fosterctl notify READY=1; echo $P > {FILE}; wait";
        let dir = TempDir::new("mainpid-cut");
        let file = format!("{}/child", dir.path());
        let unit = format!(
            "type: notify\ncommand: [\"/bin/sh\", \"-c\", \"{}\"]\n",
            script.replace("{FILE}", &file)
        );
        let mut stack = stack(mode, "mainpid-cut", &[("n", &unit)], &[]);
        stack.wait_field("n", "state", "running");
        let mut child = String::new();
        eventually("the child's PID is written", || {
            child = std::fs::read_to_string(&file)
                .unwrap_or_default()
                .trim()
                .to_string();
            !child.is_empty()
        });
        // The shell is still the main process; the cut MAINPID moved nothing.
        let json = stack.status("n");
        assert_eq!(field(&json, "pid_source"), "child", "{mode:?}: {json}");
        assert_ne!(field(&json, "pid"), child, "{mode:?}: {json}");
        assert_eq!(field(&json, "status"), "null", "{mode:?}: {json}");
        stack.running.expect_stderr("cut short");
        stack.stop();
    }
}

#[test]
fn a_mainpid_child_of_the_service_shell_killed_ends_the_service_and_sigterm_completes() {
    for mode in modes() {
        let dir = TempDir::new("mainpid-kill");
        let file = format!("{}/child", dir.path());
        let unit = format!(
            "type: notify\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", \"sleep 1000 & fosterctl notify READY=1 MAINPID=$!; echo $! > {file}; wait\"]\n"
        );
        let stack = stack(mode, "mainpid-kill", &[("n", &unit)], &[]);
        stack.wait_field("n", "pid_source", "notify");
        let json = stack.status("n");
        assert_eq!(field(&json, "state"), "running", "{json}");
        let followed = field(&json, "pid");
        // The sleep's PID as the service sees it is the one foster follows.
        let mut written = String::new();
        eventually("the child's PID is written", || {
            written = std::fs::read_to_string(&file)
                .unwrap_or_default()
                .trim()
                .to_string();
            !written.is_empty()
        });
        assert_eq!(followed, written);
        // Kill it from the host: find it by its command line below foster.
        let host_pid = crate::util::running("sleep 1000")
            .into_iter()
            .find(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/environ"))
                    .is_ok_and(|e| e.contains("FOSTER_SERVICE_NAME=n"))
                    && std::fs::read_to_string(format!("/proc/{p}/status")).is_ok_and(|s| {
                        s.lines()
                            .find(|l| l.starts_with("NSpid:"))
                            .is_some_and(|l| l.split_whitespace().last() == Some(written.as_str()))
                    })
            })
            .expect("the followed sleep");
        // SAFETY: kill takes two integers.
        unsafe { libc::kill(host_pid, libc::SIGKILL) };
        // It was the shell's child, not foster's: its pidfd tells foster.
        stack.wait_field("n", "state", "failed");
        stack.stop();
    }
}

#[test]
fn a_stderr_nobody_reads_never_stops_reaping_restarts_or_status() {
    for mode in modes() {
        let dir = TempDir::new("stuck-stderr");
        let socket = format!("{}/ctl.sock", dir.path());
        let units = TempDir::new("stuck-stderr-units");
        units.write(
            "crash.yaml",
            "command: [\"/bin/sh\", \"-c\", \"exit 1\"]\nrestart: always\nrestart_delay: 0s\nrestart_delay_max: 0s\n",
        );
        units.write("steady.yaml", "command: [\"sleep\", \"1000\"]\n");
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let mut child = foster(
            mode,
            &["-vv", "--socket", &socket, "--services", &units.path()],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write_end))
        .spawn()
        .expect("spawn foster");
        let _guard = KillOnDrop(Some(child.id() as i32));
        // Nobody reads: the pipe fills with foster's restart messages.
        let restarts = |socket: &str| -> u64 {
            field(
                &fosterctl(socket, &["status", "--json", "crash"]).1,
                "restarts",
            )
            .parse()
            .unwrap_or(0)
        };
        eventually("the crash loop has filled stderr many times over", || {
            restarts(&socket) > 2000
        });
        // foster still answers, and restarts go on.
        let first = restarts(&socket);
        eventually("restarts go on", || restarts(&socket) > first + 100);
        assert_eq!(fosterctl(&socket, &["status", "steady"]).0, 0);
        assert_eq!(fosterctl(&socket, &["stop", "crash"]).0, 0);
        eventually("crash is stopped", || {
            field(
                &fosterctl(&socket, &["status", "--json", "crash"]).1,
                "state",
            ) == "stopped"
        });
        // No zombie is left among foster's children.
        let foster_pid = host_foster_pid(mode, &child);
        eventually("no zombie child of foster", || {
            crate::util::processes()
                .iter()
                .all(|p| !(p.ppid == foster_pid && p.state == 'Z'))
        });
        // Once the pipe is read, foster says how many lines it dropped.
        let mut reader = std::fs::File::from(read_end);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&text).contains("log lines dropped") {
                    let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
                    return;
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
        });
        // Something for foster to log once the pipe has room.
        assert_eq!(fosterctl(&socket, &["restart", "steady"]).0, 0);
        let text = rx.recv_timeout(crate::util::DEADLINE).expect("stderr read");
        assert!(
            text.lines()
                .any(|l| l.starts_with("foster: ") && l.ends_with(" log lines dropped")),
            "{mode:?}: no drop count in what foster wrote: {}",
            &text[text.len().saturating_sub(2000)..]
        );
        // SAFETY: kill takes two integers.
        unsafe { libc::kill(foster_pid, libc::SIGTERM) };
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn foster_lines_never_land_inside_relayed_lines_and_a_killed_service_comes_back() {
    for mode in modes() {
        let dir = TempDir::new("interleave");
        let socket = format!("{}/ctl.sock", dir.path());
        let units = TempDir::new("interleave-units");
        let line = "x".repeat(700);
        units.write(
            "flood.yaml",
            &format!(
                "log: prefix\ncommand: [\"/bin/sh\", \"-c\", \"while :; do echo {line} >&2; done\"]\n"
            ),
        );
        units.write(
            "victim.yaml",
            "command: [\"sleep\", \"1000\"]\nrestart: always\nrestart_delay: 0s\n",
        );
        let mut child = foster(
            mode,
            &["-v", "--socket", &socket, "--services", &units.path()],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn foster");
        let _guard = KillOnDrop(Some(child.id() as i32));
        let mut stderr = child.stderr.take().unwrap();
        // A slow reader: small reads with pauses, so the pipe stays full and
        // the relay and foster's own lines compete for it.
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let foster_pid = host_foster_pid(mode, &child);
        let victim_pid =
            |socket: &str| field(&fosterctl(socket, &["status", "--json", "victim"]).1, "pid");
        for round in 1..=5 {
            eventually("victim runs", || victim_pid(&socket).parse::<i32>().is_ok());
            let before = victim_pid(&socket);
            // Looked for until found: /proc is read entry by entry while
            // other tests start and end processes.
            let find = || {
                crate::util::running("sleep 1000").into_iter().find(|&p| {
                    std::fs::read_to_string(format!("/proc/{p}/environ"))
                        .is_ok_and(|e| e.contains("FOSTER_SERVICE_NAME=victim"))
                        && crate::util::processes()
                            .iter()
                            .any(|q| q.pid == p && q.ppid == foster_pid)
                })
            };
            eventually("the victim's sleep is found", || find().is_some());
            let host = find().expect("the victim's sleep");
            // SAFETY: kill takes two integers.
            unsafe { libc::kill(host, libc::SIGKILL) };
            eventually(&format!("victim back (round {round})"), || {
                let now = victim_pid(&socket);
                now != before && now.parse::<i32>().is_ok()
            });
        }
        assert_eq!(fosterctl(&socket, &["stop", "flood"]).0, 0);
        // SAFETY: kill takes two integers.
        unsafe { libc::kill(foster_pid, libc::SIGTERM) };
        let mut all = Vec::new();
        while let Ok(chunk) = rx.recv_timeout(crate::util::DEADLINE) {
            all.extend_from_slice(&chunk);
        }
        assert_eq!(child.wait().unwrap().code(), Some(0));
        let text = String::from_utf8_lossy(&all);
        let want = format!("flood | {line}");
        let mut kills = 0;
        for l in text.lines() {
            if l.starts_with("foster: ") {
                assert!(
                    !l.contains("xxxx"),
                    "{mode:?}: a relayed line inside foster's: {l:.200}"
                );
                if l.contains("victim: was killed by SIGKILL; restarting") {
                    kills += 1;
                }
                continue;
            }
            assert_eq!(l, want, "{mode:?}: a split or mixed line");
        }
        assert_eq!(kills, 5, "{mode:?}: foster's restart lines");
    }
}

#[test]
fn a_client_opening_connections_in_a_loop_never_evicts_a_status_request() {
    let mut stack = stack(
        Mode::Subreaper,
        "churn",
        &[("web", "command: [\"sleep\", \"1000\"]\n")],
        &[],
    );
    stack.wait_field("web", "state", "running");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let socket = stack.socket.clone();
        std::thread::spawn(move || {
            let mut open = std::collections::VecDeque::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(conn) = UnixStream::connect(&socket) {
                    open.push_back(conn);
                }
                if open.len() > 64 {
                    open.pop_front();
                }
            }
        })
    };
    let mut failures = Vec::new();
    for _ in 0..20 {
        let (code, _, err) = fosterctl(&stack.socket, &["status", "web"]);
        if code != 0 {
            failures.push(err);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    assert!(
        failures.is_empty(),
        "status failed under churn: {failures:?}"
    );
    let _ = stack.running.drain_stderr();
    stack.stop();
}

#[test]
fn five_hundred_idle_connections_neither_stop_status_nor_keep_their_descriptors() {
    let stack = stack(
        Mode::Subreaper,
        "held",
        &[("web", "command: [\"sleep\", \"1000\"]\n")],
        &[],
    );
    stack.wait_field("web", "state", "running");
    assert_eq!(fosterctl(&stack.socket, &["status"]).0, 0);
    let before = stack.fd_count();
    let mut held = Vec::new();
    for i in 0..500 {
        let mut conn = UnixStream::connect(&stack.socket).expect("connect");
        if i % 2 == 0 {
            // Half a request, never finished.
            conn.write_all(b"status w").unwrap();
        }
        held.push(conn);
    }
    for _ in 0..5 {
        assert_eq!(fosterctl(&stack.socket, &["status", "web"]).0, 0);
    }
    drop(held);
    eventually("foster closed the held connections", || {
        stack.fd_count() == before
    });
    stack.stop();
}

#[test]
fn out_of_descriptors_foster_turns_connections_away_without_spinning() {
    let dir = TempDir::new("emfile");
    let socket = format!("{}/ctl.sock", dir.path());
    let units = TempDir::new("emfile-units");
    units.write("web.yaml", "command: [\"sleep\", \"1000\"]\n");
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=24:24", "--", crate::util::foster_bin()])
        .args(["--socket", &socket, "--services", &units.path()]);
    let running = start(cmd);
    let status = |socket: &str| fosterctl(socket, &["status", "web"]);
    eventually("web is up", || status(&socket).0 == 0);
    // Fill foster's table with connections that never speak.
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(UnixStream::connect(&socket).expect("connect"));
    }
    let (code, _, err) = status(&socket);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("out of file descriptors"), "{err}");
    drop(held);
    eventually("status answers again", || status(&socket).0 == 0);
    running.signal(libc::SIGTERM);
    let done = running.finish();
    assert_eq!(done.code(), 0);
    let spins = done
        .stderr
        .iter()
        .filter(|l| l.contains("accepting a control connection failed"))
        .count();
    assert_eq!(spins, 0, "{:?}", &done.stderr[..done.stderr.len().min(20)]);
}

#[test]
fn a_refused_client_sees_fosters_reason_not_a_broken_pipe() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: skipping: needs root to run fosterctl as another user");
        return;
    }
    let stack = stack(
        Mode::Subreaper,
        "refused",
        &[("web", "command: [\"sleep\", \"1000\"]\n")],
        &[],
    );
    stack.wait_field("web", "state", "running");
    // An admin opened the socket to everyone; foster still refuses others.
    std::fs::set_permissions(
        std::path::Path::new(&stack.socket).parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        &stack.socket,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    for _ in 0..20 {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_fosterctl"))
            .args(["--socket", &stack.socket, "stop", "web"])
            .output()
            .expect("setpriv");
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "fosterctl: permission denied\n"
        );
    }
    assert_eq!(field(&stack.status("web"), "state"), "running");
    stack.stop();
}

#[test]
fn foster_lines_after_the_command_starts_survive_one_logged_before_it() {
    // The writer of foster's stderr opens with the first line logged; in
    // one-command mode foster closes what it inherited once the command
    // runs, and closed that writer too: every later line was lost (as a
    // VM's init, where the boot steps are logged first, all of them).
    for mode in modes() {
        let done = crate::util::run(
            mode,
            &[
                "-v",
                "--socket",
                "/proc/no/such/dir/ctl.sock",
                "--",
                "sh",
                "-c",
                "exit 3",
            ],
        );
        assert_eq!(done.code(), 3);
        crate::util::assert_in_order(
            &done.stderr.join("\n"),
            &[
                "cannot open the control socket",
                "started \"sh\"",
                "exited with status 3",
            ],
        );
    }
}

/// foster's PID from the host, for a `foster(mode, …)` spawned by hand: the
/// child itself, or (PID 1 mode) unshare's only child once it is there.
fn host_foster_pid(mode: Mode, child: &std::process::Child) -> i32 {
    match mode {
        Mode::Subreaper => child.id() as i32,
        Mode::Pid1 => {
            let mut pid = 0;
            eventually("unshare started foster", || {
                pid = crate::util::children_of(child.id() as i32)
                    .first()
                    .copied()
                    .unwrap_or(0);
                pid != 0
            });
            pid
        }
    }
}
