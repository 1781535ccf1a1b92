//! `type: forking` against a legacy self-daemonizing program (the
//! `legacy_daemon` fixture): one test per legacy behaviour, asserting what a
//! user sees in `fosterctl status --json`, on foster's stderr, in the
//! process table and in foster's exit status.
//!
//! PIDs: the fixture logs its PIDs as it sees them, which is also how
//! foster (in the same PID namespace) reports them, so `pid` from status is
//! compared with the log in both modes. The process table is read from the
//! host's `/proc`, where the service's processes are recognised by their
//! command line (it names the case's own log file), not by number.
//!
//! Where cgroup v2 is writable (as root on most machines) foster gives each
//! service a cgroup; these tests then exercise that path, and the ones in
//! `tracking.rs` that pass `--no-cgroups` the path without it.

use std::process::{Command, Stdio};

use crate::control::fosterctl;
use crate::tracking::field;
use crate::util::{Mode, Proc, Running, TempDir, eventually, foster, legacy_daemon, modes, start};

/// One foster run with forking services in scratch directories.
struct Case {
    mode: Mode,
    dir: TempDir,
    units: TempDir,
    socket: String,
}

impl Case {
    fn new(mode: Mode, tag: &str) -> Case {
        let dir = TempDir::new(tag);
        let socket = format!("{}/ctl.sock", dir.path());
        Case {
            mode,
            dir,
            units: TempDir::new(&format!("{tag}-units")),
            socket,
        }
    }

    /// A path in the scratch directory.
    fn file(&self, name: &str) -> String {
        format!("{}/{name}", self.dir.path())
    }

    fn pidfile(&self, service: &str) -> String {
        self.file(&format!("{service}.pid"))
    }

    fn log_path(&self, service: &str) -> String {
        self.file(&format!("{service}.log"))
    }

    /// Writes unit `service`: `type: forking` with its pidfile, `yaml`
    /// (more keys, each line ending in `\n`), and the fixture run with
    /// `--pidfile`, `--log` and `args`.
    fn daemon(&self, service: &str, yaml: &str, args: &[&str]) {
        let pidfile = self.pidfile(service);
        self.unit_without_pidfile(service, &format!("pidfile: {pidfile}\n{yaml}"), args);
    }

    /// As [`Case::daemon`] with no `pidfile:` key (the fixture still gets
    /// `--pidfile`, which it needs unless `--never-write`).
    fn unit_without_pidfile(&self, service: &str, yaml: &str, args: &[&str]) {
        let mut command = vec![
            legacy_daemon(),
            "--pidfile".into(),
            self.pidfile(service),
            "--log".into(),
            self.log_path(service),
        ];
        command.extend(args.iter().map(|a| a.to_string()));
        let list: Vec<String> = command.iter().map(|a| format!("\"{a}\"")).collect();
        self.units.write(
            &format!("{service}.yaml"),
            &format!("type: forking\n{yaml}command: [{}]\n", list.join(", ")),
        );
    }

    fn start(&self) -> Running {
        self.start_with(&[])
    }

    /// As [`Case::start`], with more options for foster.
    fn start_with(&self, extra: &[&str]) -> Running {
        let units = self.units.path();
        let mut args = vec!["-v", "--socket", &self.socket, "--services", &units];
        args.extend_from_slice(extra);
        start(foster(self.mode, &args))
    }

    fn status(&self, service: &str) -> String {
        fosterctl(&self.socket, &["status", "--json", service]).1
    }

    fn field(&self, service: &str, key: &str) -> String {
        field(&self.status(service), key)
    }

    /// Waits until `key` of `service` reads `want`.
    fn wait_field(&self, service: &str, key: &str, want: &str) {
        eventually(&format!("{service}: {key} is {want}"), || {
            self.field(service, key) == want
        });
    }

    /// The lines the service's fixture logged so far.
    fn log(&self, service: &str) -> Vec<String> {
        std::fs::read_to_string(self.log_path(service))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits for a log line starting with `prefix`; returns the rest of
    /// the last such line.
    fn wait_log(&self, service: &str, prefix: &str) -> String {
        let mut found = String::new();
        eventually(&format!("{service} logs {prefix:?}"), || {
            match self
                .log(service)
                .iter()
                .rev()
                .find(|l| l.starts_with(prefix))
            {
                Some(line) => {
                    found = line[prefix.len()..].trim().to_string();
                    true
                }
                None => false,
            }
        });
        found
    }

    /// Every live process of `service` (zombies are no longer processes).
    fn procs(&self, service: &str) -> Vec<Proc> {
        let marker = self.log_path(service);
        crate::util::processes()
            .into_iter()
            .filter(|p| p.state != 'Z')
            .filter(|p| {
                std::fs::read(format!("/proc/{}/cmdline", p.pid))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
            })
            .collect()
    }

    fn wait_no_procs(&self, service: &str) {
        eventually(&format!("no process of {service} is left"), || {
            self.procs(service).is_empty()
        });
    }

    /// SIGKILLs every process of `service` (as an outside event: the OOM
    /// killer, an admin).
    fn kill_all(&self, service: &str) {
        for p in self.procs(service) {
            // SAFETY: kill takes two integers.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
    }

    /// The service is running, followed through its pidfile, and its PID is
    /// the master's as the fixture logged it; returns that PID.
    fn assert_followed(&self, service: &str) -> String {
        let master = self.wait_log(service, "master ");
        self.wait_field(service, "pid_source", "pidfile");
        let json = self.status(service);
        assert_eq!(field(&json, "state"), "running", "{:?}: {json}", self.mode);
        assert_eq!(field(&json, "pid"), master, "{:?}: {json}", self.mode);
        assert_eq!(field(&json, "restarts"), "0", "{:?}: {json}", self.mode);
        master
    }

    /// `fosterctl stop`: the service ends up stopped with nothing left.
    fn assert_stop_leaves_nothing(&self, service: &str) {
        assert_eq!(fosterctl(&self.socket, &["stop", service]).0, 0);
        self.wait_field(service, "state", "stopped");
        self.wait_no_procs(service);
    }

    /// SIGTERM to foster: it exits 0 and no process of `services` is left.
    fn finish(&self, running: Running, services: &[&str]) -> crate::util::Finished {
        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 0, "{:?}: {:?}", self.mode, done.stderr);
        for s in services {
            assert!(
                self.procs(s).is_empty(),
                "{:?}: {s} outlived foster: {:?}",
                self.mode,
                self.procs(s)
            );
        }
        done
    }
}

/// A failed test leaves no daemon behind: foster may have been killed
/// before it could stop them. Processes of the case name its directory in
/// their command line or, for units that are not the fixture, in their
/// environment (`FOSTER_TEST_CASE`).
impl Drop for Case {
    fn drop(&mut self) {
        let marker = format!("{}/", self.dir.path());
        for p in crate::util::processes() {
            let names = |file: &str| {
                std::fs::read(format!("/proc/{}/{file}", p.pid))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
            };
            if p.state != 'Z' && (names("cmdline") || names("environ")) {
                // SAFETY: kill takes two integers.
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
        }
    }
}

fn has_line(lines: &[String], part: &str) -> bool {
    lines.iter().any(|l| l.contains(part))
}

// ---------------------------------------------------------------------
// Forking styles

#[test]
fn a_double_forked_daemon_is_followed_to_its_real_pid_and_its_death_reported() {
    for mode in modes() {
        let case = Case::new(mode, "double");
        case.daemon("d", "restart: never\n", &["--workers", "2"]);
        let mut running = case.start();
        case.assert_followed("d");
        eventually("2 workers logged", || {
            case.log("d")
                .iter()
                .filter(|l| l.starts_with("worker "))
                .count()
                == 2
        });
        case.kill_all("d");
        case.wait_field("d", "state", "failed");
        assert_eq!(case.field("d", "last_exit"), "137");
        running.expect_stderr("d: was killed by SIGKILL; not restarting");
        case.finish(running, &["d"]);
    }
}

#[test]
fn stopping_a_double_forked_daemon_ends_it_and_its_workers() {
    for mode in modes() {
        let case = Case::new(mode, "double-stop");
        case.daemon("d", "stop_timeout: 1s\n", &["--workers", "2"]);
        let running = case.start();
        case.assert_followed("d");
        // `fosterctl kill` takes the same road as the stop signal.
        assert_eq!(fosterctl(&case.socket, &["kill", "d", "HUP"]).0, 0);
        case.wait_log("d", "signal 1");
        case.assert_stop_leaves_nothing("d");
        assert!(has_line(&case.log("d"), "signal 15"), "{:?}", case.log("d"));
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_daemon_leading_its_own_session_is_stopped_with_its_workers() {
    for mode in modes() {
        let case = Case::new(mode, "single");
        case.daemon("d", "", &["--single-fork", "--workers", "3"]);
        let running = case.start();
        case.assert_followed("d");
        eventually("3 workers run", || case.procs("d").len() == 4);
        case.assert_stop_leaves_nothing("d");
        // Stopped on request: the master's SIGTERM exit is no failure.
        assert_eq!(case.field("d", "last_exit"), "0");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_daemon_whose_master_is_a_subreaper_is_followed_and_stopped() {
    for mode in modes() {
        let case = Case::new(mode, "subreaper");
        case.daemon("d", "", &["--single-fork", "--subreaper", "--workers", "2"]);
        let running = case.start();
        case.assert_followed("d");
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

// ---------------------------------------------------------------------
// How and when the pidfile is written

#[test]
fn a_pidfile_written_after_the_launcher_exited_is_followed() {
    for mode in modes() {
        let case = Case::new(mode, "after-exit");
        case.daemon(
            "d",
            "",
            &["--single-fork", "--write-after-exit", "--delay", "100"],
        );
        let running = case.start();
        case.assert_followed("d");
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_daemon_slow_to_write_its_pidfile_is_starting_until_it_does() {
    for mode in modes() {
        let case = Case::new(mode, "slow");
        let gate = case.file("gate");
        let content = format!("file:{gate}");
        case.daemon(
            "d",
            "",
            &["--single-fork", "--write-after-exit", "--content", &content],
        );
        let mut running = case.start();
        // The fixture writes only once the test names the PID in the gate.
        let master = case.wait_log("d", "master ");
        // (The launcher's 0 is not the service's last_exit: the log says.)
        running.expect_stderr("d: launcher exited well; waiting for its pidfile");
        eventually("the launcher has exited", || case.procs("d").len() == 1);
        let json = case.status("d");
        assert_eq!(field(&json, "state"), "starting", "{mode:?}: {json}");
        assert_eq!(field(&json, "pid"), "null", "{mode:?}: {json}");
        std::fs::write(&gate, format!("{master}\n")).unwrap();
        case.assert_followed("d");
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_service_stopped_while_waiting_for_its_pidfile_stays_stopped() {
    for mode in modes() {
        let case = Case::new(mode, "stop-starting");
        let gate = case.file("gate");
        let content = format!("file:{gate}");
        case.daemon(
            "d",
            "",
            &["--single-fork", "--write-after-exit", "--content", &content],
        );
        let mut running = case.start();
        let master = case.wait_log("d", "master ");
        running.expect_stderr("d: launcher exited well; waiting for its pidfile");
        eventually("the launcher has exited", || case.procs("d").len() == 1);
        assert_eq!(case.field("d", "state"), "starting");
        assert_eq!(fosterctl(&case.socket, &["stop", "d"]).0, 0);
        case.wait_field("d", "state", "stopped");
        // The daemon, if still there, names itself now: that is no start.
        std::fs::write(&gate, format!("{master}\n")).unwrap();
        // (Or it is killed meanwhile, with its cgroup: then it never writes.)
        eventually("the daemon wrote its pidfile or is gone", || {
            has_line(&case.log("d"), "wrote ") || case.procs("d").is_empty()
        });
        // The inotify event is pending in foster's loop before these
        // requests: a few round trips through the loop see it handled.
        for _ in 0..20 {
            let json = case.status("d");
            assert_eq!(field(&json, "state"), "stopped", "{mode:?}: {json}");
            assert_eq!(field(&json, "pid"), "null", "{mode:?}: {json}");
        }
        case.wait_no_procs("d");
        case.finish(running, &["d"]);
    }
}

/// Writes that pass through states that are no PID yet: foster waits
/// them out and follows the PID finally written.
fn a_pidfile_written_as(how: &str) {
    for mode in modes() {
        let case = Case::new(mode, how);
        case.daemon(
            "d",
            "",
            &["--single-fork", "--write-after-exit", "--write", how],
        );
        let running = case.start();
        let master = case.assert_followed("d");
        assert_eq!(case.wait_log("d", "wrote "), master, "{mode:?}");
        // Whatever foster read on the way, it followed the final PID.
        assert_eq!(case.assert_followed("d"), master);
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_torn_pidfile_write_is_waited_out() {
    a_pidfile_written_as("torn");
}

#[test]
fn an_empty_pidfile_later_filled_is_waited_out() {
    a_pidfile_written_as("empty-first");
}

#[test]
fn a_garbage_pidfile_later_fixed_is_waited_out() {
    a_pidfile_written_as("garbage-first");
}

#[test]
fn a_pidfile_renamed_into_place_is_followed() {
    a_pidfile_written_as("rename");
}

#[test]
fn a_pidfile_kept_open_and_rewritten_on_reload_keeps_the_same_main_process() {
    for mode in modes() {
        let case = Case::new(mode, "keep-open");
        case.daemon("d", "", &["--single-fork", "--write", "keep-open"]);
        let running = case.start();
        let master = case.assert_followed("d");
        assert_eq!(fosterctl(&case.socket, &["reload", "d"]).0, 0);
        // SIGHUP makes the fixture truncate and rewrite the file it holds.
        eventually("the pidfile was rewritten", || {
            case.log("d")
                .iter()
                .filter(|l| **l == format!("wrote {master}"))
                .count()
                == 2
        });
        assert_eq!(case.assert_followed("d"), master);
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_daemon_that_never_writes_its_pidfile_fails_at_start_timeout() {
    for mode in modes() {
        let case = Case::new(mode, "never");
        case.daemon(
            "d",
            "start_timeout: 500ms\nrestart: never\n",
            &["--never-write"],
        );
        let mut running = case.start();
        running.expect_stderr("d: never wrote a valid pidfile within 500ms");
        case.wait_field("d", "state", "failed");
        assert_eq!(case.field("d", "pid"), "null");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_pidfile_that_stays_empty_or_garbage_fails_at_start_timeout() {
    for mode in modes() {
        for content in ["empty", "garbage"] {
            let case = Case::new(mode, content);
            case.daemon(
                "d",
                "start_timeout: 500ms\nrestart: never\n",
                &["--content", content],
            );
            let mut running = case.start();
            case.wait_log("d", "wrote");
            running.expect_stderr("d: never wrote a valid pidfile within 500ms");
            case.wait_field("d", "state", "failed");
            case.finish(running, &["d"]);
        }
    }
}

// ---------------------------------------------------------------------
// Pidfiles naming the wrong process

#[test]
fn a_pidfile_naming_pid_1_foster_or_the_launcher_is_refused() {
    for mode in modes() {
        for content in ["pid1", "foster", "launcher"] {
            let case = Case::new(mode, content);
            case.daemon(
                "d",
                "start_timeout: 500ms\nrestart: never\n",
                &["--single-fork", "--content", content],
            );
            let mut running = case.start();
            let written = case.wait_log("d", "wrote ");
            let pidfile = case.pidfile("d");
            match (content, mode) {
                ("pid1", _) | ("foster", Mode::Pid1) => {
                    running
                        .expect_stderr(&format!("d: refusing PID 1 from {pidfile}: it is PID 1"));
                }
                ("foster", Mode::Subreaper) => {
                    assert_eq!(written, running.foster_pid().to_string());
                    running.expect_stderr(&format!(
                        "d: refusing PID {written} from {pidfile}: it is foster itself"
                    ));
                }
                // The launcher has exited (and was reaped) by the time the
                // file is read: its number names no live process.
                _ => {}
            }
            running.expect_stderr("d: never wrote a valid pidfile within 500ms");
            case.wait_field("d", "state", "failed");
            assert_eq!(case.field("d", "pid"), "null");
            // The master is left running, untracked; foster's exit ends it.
            case.finish(running, &["d"]);
        }
    }
}

#[test]
fn a_pidfile_naming_a_foreign_process_is_refused_and_it_survives_everything() {
    // The foreign process is the test's own child: same PID namespace as
    // foster only in the subreaper mode.
    let case = Case::new(Mode::Subreaper, "foreign");
    let mut stranger = Command::new("sleep").arg("1000").spawn().unwrap();
    let mut guard = crate::util::KillOnDrop(Some(stranger.id() as i32));
    let content = format!("pid:{}", stranger.id());
    case.daemon(
        "d",
        "start_timeout: 500ms\nrestart: never\n",
        &["--content", &content],
    );
    let mut running = case.start();
    for _ in 0..2 {
        running.expect_stderr(&format!("d: refusing PID {}", stranger.id()));
        running.expect_stderr("d: never wrote a valid pidfile within 500ms");
        case.wait_field("d", "state", "failed");
        assert_eq!(fosterctl(&case.socket, &["stop", "d"]).0, 0);
        assert_eq!(fosterctl(&case.socket, &["kill", "d", "KILL"]).0, 1);
        // Once more, from a fresh launch (which fails again: a waiting
        // restart says so).
        let (code, _, err) = fosterctl(&case.socket, &["restart", "d"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("d failed"), "{err}");
    }
    case.finish(running, &["d"]);
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the stranger was signalled"
    );
    stranger.kill().unwrap();
    stranger.wait().unwrap();
    guard.0 = None;
}

#[test]
fn a_pidfile_naming_another_services_process_is_refused() {
    for mode in modes() {
        let case = Case::new(mode, "other-service");
        let gate = case.file("gate");
        let content = format!("file:{gate}");
        case.daemon(
            "liar",
            "start_timeout: 2s\nrestart: never\n",
            &["--single-fork", "--write-after-exit", "--content", &content],
        );
        case.units.write(
            "victim.yaml",
            &format!(
                "env: {{FOSTER_TEST_CASE: \"{}/\"}}\ncommand: [\"sleep\", \"1000\"]\n",
                case.dir.path()
            ),
        );
        let mut running = case.start();
        case.wait_log("liar", "master ");
        // The victim's new main process starts after the liar's launch.
        case.wait_field("victim", "state", "running");
        assert_eq!(fosterctl(&case.socket, &["restart", "victim"]).0, 0);
        eventually("victim restarted", || {
            case.field("victim", "restarts") == "1" && case.field("victim", "state") == "running"
        });
        let victim = case.field("victim", "pid");
        std::fs::write(&gate, format!("{victim}\n")).unwrap();
        case.wait_log("liar", "wrote ");
        running.expect_stderr(&format!("liar: refusing PID {victim}"));
        case.wait_field("liar", "state", "failed");
        assert_eq!(fosterctl(&case.socket, &["stop", "liar"]).0, 0);
        let json = case.status("victim");
        assert_eq!(field(&json, "state"), "running", "{mode:?}: {json}");
        assert_eq!(field(&json, "pid"), victim, "{mode:?}: {json}");
        case.finish(running, &["liar"]);
    }
}

#[test]
fn a_pidfile_naming_another_services_worker_in_a_session_of_its_own_is_refused() {
    for mode in modes() {
        for cgroups in [true, false] {
            let case = Case::new(mode, "other-worker");
            let gate = case.file("gate");
            let content = format!("file:{gate}");
            case.daemon(
                "liar",
                "start_timeout: 3s\nrestart: never\n",
                &["--single-fork", "--write-after-exit", "--content", &content],
            );
            // The victim's worker makes a session of its own and, its
            // parent gone, is reparented to foster: to the old checks, a
            // young process of foster's that is no service's main process.
            case.units.write(
                "victim.yaml",
                &format!(
                    "env: {{FOSTER_TEST_CASE: \"{}/\"}}\ncommand: [\"/bin/sh\", \"-c\", \"(setsid sleep 1001 </dev/null >/dev/null 2>&1 &); exec sleep 1000\"]\n",
                    case.dir.path()
                ),
            );
            let extra: &[&str] = if cgroups { &[] } else { &["--no-cgroups"] };
            let mut running = case.start_with(extra);
            case.wait_log("liar", "master ");
            case.wait_field("victim", "state", "running");
            // Units start in name order, so the worker starts after the
            // liar's launch and passes the age check.
            let marker = format!("FOSTER_TEST_CASE={}/", case.dir.path());
            let mut worker = None;
            eventually("the victim's worker of the second run", || {
                worker = crate::util::running("sleep 1001").into_iter().find(|p| {
                    std::fs::read(format!("/proc/{p}/environ"))
                        .is_ok_and(|e| String::from_utf8_lossy(&e).contains(&marker))
                });
                worker.is_some()
            });
            let worker = worker.unwrap();
            // Its number as foster's namespace sees it.
            let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
            let inner = status
                .lines()
                .find(|l| l.starts_with("NSpid:"))
                .and_then(|l| l.split_whitespace().last())
                .unwrap()
                .to_string();
            std::fs::write(&gate, format!("{inner}\n")).unwrap();
            case.wait_log("liar", "wrote ");
            running.expect_stderr(&format!("liar: refusing PID {inner}"));
            case.wait_field("liar", "state", "failed");
            assert_eq!(fosterctl(&case.socket, &["stop", "liar"]).0, 0);
            // Nothing of the victim was touched.
            assert!(
                crate::util::running("sleep 1001").contains(&worker),
                "{mode:?} cgroups={cgroups}: the victim's worker was killed"
            );
            let json = case.status("victim");
            assert_eq!(field(&json, "state"), "running", "{mode:?}: {json}");
            case.finish(running, &["liar"]);
        }
    }
}

// ---------------------------------------------------------------------
// The daemon's life after it was adopted

#[test]
fn a_daemon_exit_status_is_reported_and_its_restart_policy_applied() {
    for mode in modes() {
        let case = Case::new(mode, "term-exit");
        case.daemon(
            "d",
            "restart: never\n",
            &["--single-fork", "--term-exit", "5"],
        );
        let mut running = case.start();
        case.assert_followed("d");
        // SIGTERM sent by hand, not a stop: the service failed.
        assert_eq!(fosterctl(&case.socket, &["kill", "d", "TERM"]).0, 0);
        running.expect_stderr("d: exited with status 5; not restarting");
        case.wait_field("d", "state", "failed");
        assert_eq!(case.field("d", "last_exit"), "5");
        case.wait_no_procs("d");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_critical_daemon_ending_ends_foster_with_its_status() {
    for mode in modes() {
        let case = Case::new(mode, "critical");
        case.daemon(
            "d",
            "critical: true\nrestart: never\n",
            &["--single-fork", "--term-exit", "6", "--workers", "1"],
        );
        let running = case.start();
        case.assert_followed("d");
        assert_eq!(fosterctl(&case.socket, &["kill", "d", "TERM"]).0, 0);
        let done = running.finish();
        assert_eq!(done.code(), 6, "{mode:?}: {:?}", done.stderr);
        assert!(
            case.procs("d").is_empty(),
            "{mode:?}: {:?}",
            case.procs("d")
        );
    }
}

#[test]
fn a_daemon_ignoring_sigterm_is_killed_at_stop_timeout() {
    for mode in modes() {
        let case = Case::new(mode, "ignore-term");
        case.daemon(
            "d",
            "stop_timeout: 300ms\n",
            &["--single-fork", "--ignore-term", "--workers", "1"],
        );
        let mut running = case.start();
        case.assert_followed("d");
        case.assert_stop_leaves_nothing("d");
        assert!(has_line(&case.log("d"), "signal 15"), "{:?}", case.log("d"));
        assert_eq!(case.field("d", "last_exit"), "137");
        running.expect_stderr("d: still running 300ms after its stop signal; killing it");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_daemon_that_stopped_itself_with_sigstop_is_still_stopped_cleanly() {
    for mode in modes() {
        let case = Case::new(mode, "sigstop");
        case.daemon("d", "stop_timeout: 30s\n", &["--single-fork", "--sigstop"]);
        let running = case.start();
        case.assert_followed("d");
        case.wait_log("d", "stopping");
        eventually("the master is stopped", || {
            case.procs("d").iter().any(|p| p.state == 'T')
        });
        assert_eq!(case.field("d", "state"), "running");
        // The stop signal, then SIGCONT: it ends well before stop_timeout.
        case.assert_stop_leaves_nothing("d");
        assert_eq!(case.field("d", "last_exit"), "0");
        assert!(has_line(&case.log("d"), "continued"), "{:?}", case.log("d"));
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_daemon_that_reexecs_itself_in_place_keeps_being_followed() {
    for mode in modes() {
        let case = Case::new(mode, "reexec");
        case.daemon(
            "d",
            "",
            &["--single-fork", "--reexec-on-usr1", "--workers", "1"],
        );
        let running = case.start();
        let master = case.assert_followed("d");
        assert_eq!(fosterctl(&case.socket, &["kill", "d", "USR1"]).0, 0);
        assert_eq!(case.wait_log("d", "reexeced "), master);
        assert_eq!(case.assert_followed("d"), master);
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

/// `--upgrade-on-usr2`: the master forks a new master, which rewrites the
/// pidfile; the old one exits. Returns the new master's PID.
fn hand_over(case: &Case) -> String {
    let old = case.assert_followed("d");
    assert_eq!(fosterctl(&case.socket, &["kill", "d", "USR2"]).0, 0);
    case.wait_log("d", "exit 0");
    let new = case.wait_log("d", "master ");
    assert_ne!(new, old);
    eventually("the new master is followed", || {
        case.field("d", "pid") == new
    });
    let json = case.status("d");
    assert_eq!(field(&json, "state"), "running", "{json}");
    assert_eq!(field(&json, "pid_source"), "pidfile", "{json}");
    assert_eq!(field(&json, "restarts"), "0", "no restart: {json}");
    new
}

#[test]
fn a_master_handing_over_to_a_new_master_is_followed_without_a_restart() {
    for mode in modes() {
        let case = Case::new(mode, "handover");
        case.daemon(
            "d",
            "restart: never\n",
            &["--single-fork", "--upgrade-on-usr2", "--workers", "2"],
        );
        let mut running = case.start();
        hand_over(&case);
        running.expect_stderr("d: handed over from");
        // Only the new master's own workers are left with it.
        eventually("the old workers are gone", || case.procs("d").len() == 3);
        // The new master is the one watched: its death ends the service.
        case.kill_all("d");
        case.wait_field("d", "state", "failed");
        assert_eq!(case.field("d", "last_exit"), "137");
        case.finish(running, &["d"]);
    }
}

#[test]
fn a_service_stopped_after_a_handover_leaves_nothing() {
    for mode in modes() {
        let case = Case::new(mode, "handover-stop");
        case.daemon(
            "d",
            "stop_timeout: 1s\n",
            &["--single-fork", "--upgrade-on-usr2", "--workers", "2"],
        );
        let running = case.start();
        hand_over(&case);
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

// ---------------------------------------------------------------------
// PID reuse

/// An unrelated process holding a recycled PID: the `signal_recorder`
/// fixture, which prints `ready`, then every signal it gets.
struct Holder {
    /// The process the test started (in the PID 1 mode, `nsenter`).
    child: std::process::Child,
    /// The recorder's PID in the test's `/proc`.
    host_pid: i32,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Holder {
    /// Alive, and received no signal at all.
    fn untouched(&self) -> bool {
        let alive = crate::util::processes()
            .iter()
            .any(|p| p.pid == self.host_pid && p.state != 'Z');
        alive && self.lines.try_recv().is_err()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // Subreaper mode: the recorder itself. PID 1 mode: `nsenter`; the
        // recorder goes with foster's namespace (a failed test kills
        // foster), and its number is not ours to signal afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the recorder with PID `pid` in foster's PID namespace, through
/// `ns_last_pid` (retried while other processes take the number first);
/// `None` when the number cannot be had here.
fn occupy_pid(mode: Mode, foster_host_pid: i32, pid: i32) -> Option<Holder> {
    use std::io::BufRead;
    let recorder = crate::util::recorder();
    for _ in 0..200 {
        let mut cmd = match mode {
            Mode::Subreaper => {
                if std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).is_err() {
                    return None;
                }
                Command::new(&recorder)
            }
            Mode::Pid1 => {
                // The shell enters the namespace; the recorder is its child.
                let mut c = Command::new("nsenter");
                c.args([
                    "-t",
                    &foster_host_pid.to_string(),
                    "--pid",
                    "--",
                    "sh",
                    "-c",
                ])
                .arg(format!(
                    "echo {} > /proc/sys/kernel/ns_last_pid; {recorder} & echo $!; wait",
                    pid - 1
                ));
                c
            }
        };
        let mut child = cmd.stdout(Stdio::piped()).spawn().ok()?;
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take()?;
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let next = || {
            lines
                .recv_timeout(crate::util::DEADLINE)
                .unwrap_or_default()
        };
        let (got, host_pid) = match mode {
            Mode::Subreaper => {
                assert_eq!(next(), "ready");
                (child.id() as i32, child.id() as i32)
            }
            Mode::Pid1 => {
                // `$!` and the recorder's `ready`, in either order.
                let (a, b) = (next(), next());
                let got = if a == "ready" { b } else { a };
                let shell = crate::util::children_of(child.id() as i32);
                let host = shell
                    .first()
                    .and_then(|&sh| crate::util::children_of(sh).first().copied())
                    .unwrap_or(-1);
                (got.parse().unwrap_or(-1), host)
            }
        };
        let holder = Holder {
            child,
            host_pid,
            lines,
        };
        if got == pid {
            return Some(holder);
        }
    }
    None
}

#[test]
fn a_recycled_pid_of_a_dead_daemon_is_never_signalled() {
    for mode in modes() {
        let case = Case::new(mode, "reuse");
        case.daemon("d", "restart: never\n", &["--single-fork"]);
        let mut running = case.start();
        let old: i32 = case.assert_followed("d").parse().unwrap();
        case.kill_all("d");
        case.wait_field("d", "state", "failed");
        running.expect_stderr("d: was killed by SIGKILL");
        let Some(holder) = occupy_pid(mode, running.foster_pid(), old) else {
            eprintln!("note: skipping {mode:?}: cannot get PID {old} again (ns_last_pid)");
            case.finish(running, &["d"]);
            continue;
        };
        let json = case.status("d");
        assert_eq!(field(&json, "pid"), "null", "{mode:?}: {json}");
        for sig in ["KILL", "TERM"] {
            let (code, _, err) = fosterctl(&case.socket, &["kill", "d", sig]);
            assert_eq!((code, err.trim()), (1, "fosterctl: d is not running"));
        }
        assert_eq!(fosterctl(&case.socket, &["stop", "d"]).0, 0);
        assert_eq!(fosterctl(&case.socket, &["reload", "d"]).0, 0);
        // One more round trip: foster has acted on every request above.
        assert_eq!(case.field("d", "state"), "failed");
        assert!(
            holder.untouched(),
            "{mode:?}: the process now holding PID {old} was signalled"
        );
        case.finish(running, &["d"]);
        if mode == Mode::Subreaper {
            // Not foster's: it outlives foster, never signalled.
            assert!(holder.untouched(), "foster's exit signalled PID {old}");
        }
    }
}

// ---------------------------------------------------------------------
// Contracts foster does not meet yet

#[test]
fn a_daemon_dying_right_after_writing_its_pidfile_is_reported_with_its_status() {
    for mode in modes() {
        let case = Case::new(mode, "die-after-write");
        case.daemon(
            "d",
            "restart: never\nstart_timeout: 10s\n",
            &["--single-fork", "--die-after-write", "7"],
        );
        let mut running = case.start();
        // The launcher exits once the master is dead, so the master's exit
        // is either held before the pidfile is read ("started, then exited
        // with status 7") or, when the reparented zombie's exit arrives
        // right after the reading, seen as the followed daemon's end: the
        // status is 7 either way.
        running.expect_stderr("exited with status 7");
        case.wait_field("d", "state", "failed");
        assert_eq!(case.field("d", "last_exit"), "7");
        let done = case.finish(running, &["d"]);
        assert!(
            !has_line(&done.stderr, "never wrote a valid pidfile"),
            "{mode:?}: {:?}",
            done.stderr
        );
    }
}

#[test]
fn without_a_pidfile_the_one_adopted_process_is_the_guessed_main_pid() {
    for mode in modes() {
        let case = Case::new(mode, "guessed");
        case.unit_without_pidfile("d", "restart: never\n", &["--never-write"]);
        let running = case.start();
        let master = case.wait_log("d", "master ");
        case.wait_field("d", "pid_source", "guessed");
        let json = case.status("d");
        assert_eq!(field(&json, "state"), "running", "{mode:?}: {json}");
        assert_eq!(field(&json, "pid"), master, "{mode:?}: {json}");
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

#[test]
fn without_a_pidfile_several_adopted_processes_are_supervised_as_a_set() {
    for mode in modes() {
        let case = Case::new(mode, "set");
        // One launcher starting two daemons (each logging to its own file),
        // exiting 0 once both are up.
        let one = |log: &str| {
            format!(
                "{} --single-fork --never-write --log {}",
                legacy_daemon(),
                case.log_path(log)
            )
        };
        case.units.write(
            "d.yaml",
            &format!(
                "type: forking\nrestart: never\ncommand: [\"/bin/sh\", \"-c\", \"{} & {} & wait\"]\n",
                one("a"),
                one("b")
            ),
        );
        let running = case.start();
        case.wait_log("a", "master ");
        case.wait_log("b", "master ");
        eventually("both launchers are gone", || {
            case.procs("a").len() == 1 && case.procs("b").len() == 1
        });
        case.wait_field("d", "state", "running");
        case.kill_all("a");
        case.wait_no_procs("a");
        // Still running while one of the set lives.
        assert_eq!(case.field("d", "state"), "running");
        case.kill_all("b");
        eventually("the set has ended", || {
            matches!(case.field("d", "state").as_str(), "failed" | "stopped")
        });
        case.finish(running, &["a", "b"]);
    }
}

#[test]
fn a_stop_kills_workers_that_ignore_sigterm_after_stop_timeout() {
    for mode in modes() {
        let case = Case::new(mode, "stop-all");
        case.daemon(
            "d",
            "stop_timeout: 300ms\n",
            &["--single-fork", "--workers", "2", "--workers-ignore-term"],
        );
        let running = case.start();
        case.assert_followed("d");
        eventually("2 workers run", || case.procs("d").len() == 3);
        // The master exits on SIGTERM; its workers ignore it. foster must
        // not leave them behind, though it is still running.
        case.assert_stop_leaves_nothing("d");
        case.finish(running, &["d"]);
    }
}

/// `fosterctl restart`, then a reload that changed the unit, while foster
/// still waits for the daemon's pidfile: each launches the service again
/// (the first launch is dropped, and killed with its cgroup where there is
/// one), and nothing is left at the end.
#[test]
fn restart_and_a_changed_unit_while_awaiting_the_pidfile_launch_again() {
    for mode in modes() {
        let case = Case::new(mode, "await-again");
        case.daemon("d", "start_timeout: 60s\n", &["--never-write"]);
        let running = case.start();
        case.wait_log("d", "master ");
        let launches = |case: &Case| {
            case.log("d")
                .iter()
                .filter(|l| l.starts_with("launcher "))
                .count()
        };
        // (It never becomes ready: a waiting restart would wait out its
        // start_timeout.)
        assert_eq!(
            fosterctl(&case.socket, &["restart", "--no-block", "d"]).0,
            0
        );
        eventually("a second launch", || launches(&case) == 2);
        case.daemon("d", "start_timeout: 59s\n", &["--never-write"]);
        let (code, out, _) = fosterctl(&case.socket, &["reload"]);
        assert_eq!(code, 0, "{:?}: {out}", case.mode);
        assert!(out.contains("changed: d"), "{:?}: {out}", case.mode);
        eventually("a third launch", || launches(&case) == 3);
        assert_eq!(case.field("d", "state"), "starting", "{:?}", case.mode);
        case.finish(running, &["d"]);
    }
}

// ---------------------------------------------------------------------
// Daemons that manage themselves (issue 13)

/// With cgroups where the machine lets foster make them, and without.
fn cgroup_choices() -> [&'static [&'static str]; 2] {
    [&[], &["--no-cgroups"]]
}

/// The `pids` list of a status object.
fn pids_of(json: &str) -> Vec<String> {
    json.split("\"pids\":[")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .map(|list| {
            list.split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A daemon that re-executes itself on SIGHUP and daemonizes again (the old
/// PID exits 0, its fresh child writes the pidfile 20 ms later) is followed
/// to each successor: `restarts` stays 0 across ten reloads, and the
/// process table agrees with `fosterctl status`.
#[test]
fn a_daemon_that_redaemonizes_on_sighup_keeps_restarts_at_0_across_ten_reloads() {
    for mode in modes() {
        for cgroups in cgroup_choices() {
            let case = Case::new(mode, "redaemonize");
            case.daemon(
                "d",
                "restart: always\n",
                &["--redaemonize-on-hup", "--successor-delay", "20"],
            );
            let running = case.start_with(cgroups);
            let mut master = case.assert_followed("d");
            for round in 0..10 {
                let (code, out, err) = fosterctl(&case.socket, &["reload", "d"]);
                assert_eq!(code, 0, "{mode:?} {cgroups:?} round {round}: {out}{err}");
                let old = master.clone();
                eventually(&format!("round {round}: a new master"), || {
                    master = case.wait_log("d", "master ");
                    master != old
                });
                case.wait_field("d", "pid", &master);
                let json = case.status("d");
                assert_eq!(
                    field(&json, "state"),
                    "running",
                    "{mode:?} {cgroups:?}: {json}"
                );
                assert_eq!(
                    field(&json, "restarts"),
                    "0",
                    "{mode:?} {cgroups:?}: {json}"
                );
                // ps agrees: one process of the daemon, the one foster follows.
                eventually("the old master is gone", || case.procs("d").len() == 1);
                if mode == Mode::Subreaper {
                    assert_eq!(case.procs("d")[0].pid.to_string(), master, "{json}");
                }
            }
            let launches = case
                .log("d")
                .iter()
                .filter(|l| l.starts_with("launcher "))
                .count();
            assert_eq!(launches, 1, "{mode:?}: launched again: {:?}", case.log("d"));
            case.assert_stop_leaves_nothing("d");
            case.finish(running, &["d"]);
        }
    }
}

/// A daemon with its own monitor (launcher → monitor in a session of its
/// own → daemon; the monitor restarts the daemon when it crashes and
/// rewrites the pidfile): the daemon is accepted, the monitor is in `pids`,
/// five crashes are followed with `restarts` 0, and a stop leaves nothing.
#[test]
fn a_daemon_with_its_own_monitor_is_followed_through_five_crashes_with_restarts_at_0() {
    for mode in modes() {
        for cgroups in cgroup_choices() {
            let case = Case::new(mode, "monitor");
            case.daemon("d", "restart: always\n", &["--monitor"]);
            let running = case.start_with(cgroups);
            let mut master = case.assert_followed("d");
            let monitor = case.wait_log("d", "monitor ");
            let json = case.status("d");
            assert_eq!(
                pids_of(&json),
                [master.clone(), monitor.clone()],
                "{mode:?}: {json}"
            );
            for round in 0..5 {
                // A crash, as the kernel would deliver it.
                assert_eq!(fosterctl(&case.socket, &["kill", "d", "SEGV"]).0, 0);
                let old = master.clone();
                eventually(&format!("round {round}: the monitor's new daemon"), || {
                    master = case.wait_log("d", "master ");
                    master != old
                });
                case.wait_field("d", "pid", &master);
                let json = case.status("d");
                assert_eq!(
                    field(&json, "state"),
                    "running",
                    "{mode:?} {cgroups:?}: {json}"
                );
                assert_eq!(
                    field(&json, "restarts"),
                    "0",
                    "{mode:?} {cgroups:?}: {json}"
                );
                assert_eq!(pids_of(&json), [master.clone(), monitor.clone()], "{json}");
            }
            case.assert_stop_leaves_nothing("d");
            assert!(has_line(&case.log("d"), "exit "), "{:?}", case.log("d"));
            case.finish(running, &["d"]);
        }
    }
}

/// The kernel's word on pidfiles: a daemon that holds a lock on its
/// pidfile (POSIX, flock or OFD) while the text names another process (its
/// worker) is followed as the lock holder, and foster says both numbers.
#[test]
fn a_locked_pidfile_is_judged_by_its_lock_holder_not_its_text() {
    for mode in modes() {
        for cgroups in cgroup_choices() {
            for kind in ["posix", "flock", "ofd"] {
                let case = Case::new(mode, "locked");
                case.daemon(
                    "d",
                    "restart: never\n",
                    &["--lock", kind, "--workers", "1", "--content", "worker"],
                );
                let mut running = case.start_with(cgroups);
                let master = case.wait_log("d", "master ");
                let worker = case.wait_log("d", "worker ");
                case.wait_field("d", "pid_source", "pidfile");
                let json = case.status("d");
                assert_eq!(
                    field(&json, "pid"),
                    master,
                    "{mode:?} {cgroups:?} {kind}: {json}"
                );
                running.expect_stderr(&format!(
                    "says PID {worker}, but its lock is held by {master}: judging {master}"
                ));
                case.assert_stop_leaves_nothing("d");
                case.finish(running, &["d"]);
            }
        }
    }
}

/// A daemon that held its pidfile's lock and released it while running is
/// suspicious: foster says so at the next reading and goes on following it.
#[test]
fn a_daemon_that_lets_go_of_its_pidfile_lock_is_reported_and_still_followed() {
    for mode in modes() {
        let case = Case::new(mode, "unlocked");
        case.daemon(
            "d",
            "restart: never\n",
            &["--lock", "posix", "--unlock-after", "100"],
        );
        let mut running = case.start();
        let master = case.assert_followed("d");
        case.wait_log("d", "unlocked ");
        // Something rewrites the file (same text): foster reads it again.
        std::fs::write(case.pidfile("d"), format!("{master}\n")).unwrap();
        running.expect_stderr(&format!(
            "suspicious: {} is no longer locked by {master}, which held it",
            case.pidfile("d")
        ));
        assert_eq!(case.field("d", "pid"), master, "{mode:?}");
        case.finish(running, &["d"]);
    }
}
