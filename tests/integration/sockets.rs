//! Held sockets (issue 14): foster binds a service's `sockets:` before its
//! first start and keeps them across restarts, kills and reloads, so that
//! clients never see a refused connection; the service gets them as
//! `LISTEN_FDS` from 3 on, with `LISTEN_PID` its own PID.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::control::fosterctl;
use crate::tracking::field;
use crate::util::{TempDir, eventually, foster, modes, socket_server, start};

/// A port below 1024 in `range` that nobody listens on now (a `user:
/// nobody` service could never bind it itself). Each test has a range of
/// its own: tests run side by side, and a port found free is not bound
/// until foster binds it.
fn free_low_port(range: std::ops::Range<u16>) -> u16 {
    range
        .into_iter()
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One request: connect, read the line. `Err(true)`: refused.
fn ask(port: u16) -> Result<String, bool> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(n) if n > 0 => Ok(line.trim().to_string()),
        _ => Err(false),
    }
}

/// Clients asking one after another all along, counting answers (a line
/// that starts with `want`), refusals and failures.
struct ClientLoop {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientLoop {
    fn start(port: u16, want: &'static str) -> ClientLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let (answered, refused, failed) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let thread = {
            let (stop, answered, refused, failed) = (
                stop.clone(),
                answered.clone(),
                refused.clone(),
                failed.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match ask(port) {
                        Ok(line) if line.starts_with(want) => {
                            answered.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(_) | Err(false) => failed.fetch_add(1, Ordering::Relaxed),
                        Err(true) => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        };
        ClientLoop {
            stop,
            answered,
            refused,
            failed,
            thread: Some(thread),
        }
    }

    /// Waits until the loop has been answered once more.
    fn answered_again(&self) {
        let seen = self.answered.load(Ordering::Relaxed);
        eventually("the client is answered again", || {
            self.answered.load(Ordering::Relaxed) > seen
        });
    }

    /// Stops the loop: answered, refused, failed.
    fn stop(mut self) -> (usize, usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        (
            self.answered.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn held_sockets_refuse_no_connection_through_restarts_kills_and_a_reload() {
    if !is_root() {
        eprintln!("note: skipping: binding below 1024 as foster needs root");
        return;
    }
    for mode in modes() {
        let dir = TempDir::new("held");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let log = dir.0.join("server.log").to_string_lossy().into_owned();
        // The server runs as nobody and logs there.
        std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let port = free_low_port(900..960);
        let units = TempDir::new("held-units");
        let unit = |extra: &str| {
            format!(
                "command: [\"{}\", \"--log\", \"{log}\"]\nuser: nobody\nrestart: always\nrestart_delay: 0s\nsockets:\n  - listen: \"127.0.0.1:{port}\"\n    name: http\n{extra}",
                socket_server()
            )
        };
        units.write("web.yaml", &unit(""));
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("web serves", || ask(port).is_ok());
        let json = fosterctl(&socket, &["status", "--json", "web"]).1;
        assert!(
            json.contains(&format!(
                "\"sockets\":[{{\"name\":\"http\",\"listen\":\"127.0.0.1:{port}\",\"fd\":3}}]"
            )),
            "{mode:?}: {json}"
        );
        // A client loop all along.
        let client = ClientLoop::start(port, "http ");
        for round in 0..10 {
            let (code, out, err) = fosterctl(&socket, &["restart", "web"]);
            assert_eq!(code, 0, "{mode:?} restart {round}: {out}{err}");
        }
        for round in 0..5 {
            let before = field(&fosterctl(&socket, &["status", "--json", "web"]).1, "pid");
            assert_eq!(
                fosterctl(&socket, &["kill", "web", "KILL"]).0,
                0,
                "{mode:?} kill {round}"
            );
            eventually("web back after kill -9", || {
                let json = fosterctl(&socket, &["status", "--json", "web"]).1;
                field(&json, "state") == "running" && field(&json, "pid") != before
            });
        }
        // A reload that changes the unit (not its socket): restarted on the same socket.
        units.write("web.yaml", &unit("env: {CHANGED: \"yes\"}\n"));
        let (code, out, err) = fosterctl(&socket, &["reload"]);
        assert_eq!(code, 0, "{mode:?}: {out}{err}");
        assert!(out.contains("changed: web"), "{mode:?}: {out}");
        eventually("web serves after the reload", || ask(port).is_ok());
        // The client loop too sees the new run answer before it stops.
        client.answered_again();
        let (answered, refused, failed) = client.stop();
        assert_eq!(refused, 0, "{mode:?}: {answered} answered, {failed} failed");
        // Only a connection a killed process had accepted may fail.
        assert!(
            failed <= 5,
            "{mode:?}: {failed} failed, {answered} answered"
        );
        assert!(answered > 10, "{mode:?}: {answered} answered");
        // Every run that got as far as serving had LISTEN_PID right (the
        // fixture refuses, and says so, otherwise); a run stopped at once
        // by the next restart may not have got that far.
        let lines = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!lines.contains("refused"), "{mode:?}: {lines}");
        let runs = lines.lines().filter(|l| l.starts_with("serving ")).count();
        assert!(runs >= 2, "{mode:?}: {lines}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

/// A socket that cannot be bound fails that start with the reason; foster
/// and the other services go on.
#[test]
fn a_socket_that_cannot_be_bound_fails_the_start_and_nothing_else() {
    for mode in modes() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let dir = TempDir::new("held-busy");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("held-busy-units");
        units.write(
            "web.yaml",
            &format!(
                "command: [\"{}\"]\nrestart: never\nsockets:\n  - listen: \"127.0.0.1:{port}\"\n",
                socket_server()
            ),
        );
        units.write(
            "other.yaml",
            "command: [\"/bin/sh\", \"-c\", \"echo other up; exec sleep 1000\"]\n",
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        running.expect_line("other up");
        eventually("web failed", || {
            field(&fosterctl(&socket, &["status", "--json", "web"]).1, "state") == "failed"
        });
        let json = fosterctl(&socket, &["status", "--json", "web"]).1;
        assert!(
            json.contains(&format!("cannot listen on 127.0.0.1:{port} (stream): ")),
            "{mode:?}: {json}"
        );
        assert_eq!(fosterctl(&socket, &["status", "other"]).0, 0);
        fosterctl(&socket, &["shutdown"]);
        running.finish();
        drop(taken);
    }
}

/// One-command mode: `--listen` (or `FOSTER_LISTEN`) binds before the
/// command starts and gives it the socket as fd 3 with LISTEN_FDS, so an
/// unprivileged program serves a port below 1024.
#[test]
fn listen_gives_the_one_command_its_socket() {
    for mode in modes() {
        let port = if is_root() {
            free_low_port(960..1024)
        } else {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let listen = format!("web=127.0.0.1:{port}");
        let server = socket_server();
        let mut args = vec!["--listen", listen.as_str(), "--"];
        // As nobody where foster can switch to it (setpriv from util-linux).
        let nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        if is_root() {
            args.extend(nobody);
        }
        args.push(&server);
        let running = start(foster(mode, &args));
        eventually("the command serves", || ask(port).is_ok());
        let line = ask(port).unwrap();
        assert!(line.starts_with("web "), "{mode:?}: {line}");
        running.signal(libc::SIGTERM);
        assert_eq!(running.finish().code(), 0, "{mode:?}");
        // The variable, and a bad address.
        let mut cmd = foster(mode, &["--", &server]);
        cmd.env("FOSTER_LISTEN", format!("127.0.0.1:{port}"));
        let running = start(cmd);
        eventually("the command serves (FOSTER_LISTEN)", || {
            ask(port).is_ok_and(|l| l.starts_with("listen "))
        });
        running.signal(libc::SIGTERM);
        running.finish();
    }
    let done = crate::util::run(
        crate::util::Mode::Subreaper,
        &["--listen", "localhost:80", "--", "true"],
    );
    assert_eq!(done.code(), 2, "{:?}", done.stderr);
    assert!(
        done.stderr
            .iter()
            .any(|l| l.contains("--listen: \"localhost\" is not an IP address")),
        "{:?}",
        done.stderr
    );
}

/// `fosterctl stop` keeps the socket: a client that connects meanwhile is
/// not refused, it waits in the backlog and is answered by the next start.
#[test]
fn a_stopped_service_keeps_its_socket_and_the_next_start_answers_who_waited() {
    for mode in modes() {
        let dir = TempDir::new("held-stop");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let units = TempDir::new("held-stop-units");
        units.write(
            "web.yaml",
            &format!(
                "command: [\"{}\"]\nsockets:\n  - listen: \"127.0.0.1:{port}\"\n",
                socket_server()
            ),
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("web serves", || ask(port).is_ok());
        let (code, out, err) = fosterctl(&socket, &["stop", "web"]);
        assert_eq!(code, 0, "{mode:?}: {out}{err}");
        // Stopped, the port still takes the connection.
        let waiting = TcpStream::connect(("127.0.0.1", port)).expect("not refused while stopped");
        waiting.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let (code, out, err) = fosterctl(&socket, &["start", "web"]);
        assert_eq!(code, 0, "{mode:?}: {out}{err}");
        let mut line = String::new();
        BufReader::new(waiting).read_line(&mut line).unwrap();
        assert!(line.starts_with("web "), "{mode:?}: {line:?}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

/// `restart_mode: overlap`: `fosterctl restart` and a reload that changes
/// the unit start the new run beside the old one, which serves until the
/// new one is ready: no client is refused or fails. A new run that never
/// gets ready is killed at `start_timeout`, `fosterctl restart` exits 1,
/// and the old run goes on serving.
#[test]
fn overlapped_restarts_fail_no_request_and_a_new_run_never_ready_leaves_the_old_serving() {
    for mode in modes() {
        let dir = TempDir::new("overlap");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let env = dir.0.join("web.env").to_string_lossy().into_owned();
        std::fs::write(&env, "").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let units = TempDir::new("overlap-units");
        let unit = |extra: &str| {
            format!(
                "type: notify\ncommand: [\"{}\"]\nrestart_mode: overlap\nstart_timeout: 1s\nrestart_delay: 0s\nenv_file: [\"{env}\"]\nsockets:\n  - listen: \"127.0.0.1:{port}\"\n    name: http\n{extra}",
                socket_server()
            )
        };
        units.write("web.yaml", &unit(""));
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("web serves", || ask(port).is_ok());
        let status = || fosterctl(&socket, &["status", "--json", "web"]).1;
        let client = ClientLoop::start(port, "http ");
        for round in 0..10 {
            let before = field(&status(), "pid");
            let (code, out, err) = fosterctl(&socket, &["restart", "web"]);
            assert_eq!(code, 0, "{mode:?} restart {round}: {out}{err}");
            assert_ne!(field(&status(), "pid"), before, "{mode:?} restart {round}");
        }
        running.expect_stderr("web: overlapped restart: starting a new run beside");
        // A reload that changes the unit overlaps too.
        let before = field(&status(), "pid");
        units.write("web.yaml", &unit("env: {CHANGED: \"yes\"}\n"));
        let (code, out, err) = fosterctl(&socket, &["reload"]);
        assert_eq!(code, 0, "{mode:?}: {out}{err}");
        eventually("the reload's new run serves", || {
            let json = status();
            field(&json, "pid") != before && field(&json, "state") == "running"
        });
        let (answered, refused, failed) = client.stop();
        assert_eq!((refused, failed), (0, 0), "{mode:?}: {answered} answered");
        assert!(answered > 10, "{mode:?}: {answered} answered");
        // A new run that never gets ready: the old one serves on. (The new
        // run serves meanwhile, and a connection it had accepted when it
        // was killed may be reset: nothing else may fail.)
        let client = ClientLoop::start(port, "http ");
        let old = field(&status(), "pid");
        std::fs::write(&env, "NEVER_READY=1\n").unwrap();
        let (code, out, err) = fosterctl(&socket, &["restart", "web"]);
        assert_eq!(code, 1, "{mode:?}: {out}{err}");
        assert!(
            err.contains("overlapped restart failed"),
            "{mode:?}: {out}{err}"
        );
        let json = status();
        assert_eq!(field(&json, "pid"), old, "{mode:?}: {json}");
        assert_eq!(field(&json, "state"), "running", "{mode:?}: {json}");
        client.answered_again();
        let (answered, refused, failed) = client.stop();
        assert_eq!(refused, 0, "{mode:?}: {answered} answered, {failed} failed");
        assert!(
            failed <= 1,
            "{mode:?}: {answered} answered, {failed} failed"
        );
        let line = ask(port).unwrap();
        assert_eq!(line, format!("http {old}"), "{mode:?}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}
