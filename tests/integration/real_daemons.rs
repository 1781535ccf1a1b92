//! Real daemons that nobody here wrote, from Debian's packages (nginx,
//! redis-server, memcached), each run as a `type: forking` service and
//! followed through its pidfile: found, talked to, killed and restarted,
//! signalled, stopped, and nginx's binary upgrade followed with no restart;
//! and lighttpd, socket-activated, serving the socket foster holds.
//!
//! Each daemon gets its own files in a scratch directory and a free port on
//! 127.0.0.1, so a system instance the package may have started is never
//! what a test talks to. A missing daemon fails the test in CI (`.ci/run`
//! installs them) and skips it with a note elsewhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::tracking::field;
use crate::util::{DEADLINE, Mode, Running, TempDir, foster, modes, processes, start};

const NGINX: &str = "/usr/sbin/nginx";
const REDIS: &str = "/usr/bin/redis-server";
const MEMCACHED: &str = "/usr/bin/memcached";

/// Whether `bin` is installed; in CI its absence is a failure.
fn installed(bin: &str, package: &str) -> bool {
    if std::path::Path::new(bin).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI=true but {bin} is missing: .ci/run must install {package}"
    );
    eprintln!("note: skipping a real-daemon test: {bin} is missing (apt-get install {package})");
    false
}

/// A port on 127.0.0.1 that nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Sends `request` to 127.0.0.1:`port` and reads the answer: up to the end
/// of the stream (`to_end`) or its first line.
fn ask(port: u16, request: &str, to_end: bool) -> std::io::Result<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    if to_end {
        stream.read_to_string(&mut answer)?;
    } else {
        BufReader::new(stream).read_line(&mut answer)?;
    }
    Ok(answer)
}

fn http_get(port: u16) -> std::io::Result<String> {
    ask(port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n", true)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn pid_in(pidfile: &str) -> Option<i32> {
    read(pidfile).trim().parse().ok()
}

fn proc_text(pid: i32, what: &str) -> String {
    std::fs::read(format!("/proc/{pid}/{what}"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The processes of one of our daemons, found in `/proc` (host PIDs): named
/// `comm`, and either working in `dir` or naming it on their command line.
/// Unrelated instances of the same program are not counted.
fn daemon_processes(comm: &str, dir: &str) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.state != 'Z' && proc_text(p.pid, "comm").trim() == comm)
        .filter(|p| {
            let cwd = std::fs::read_link(format!("/proc/{}/cwd", p.pid)).unwrap_or_default();
            cwd.starts_with(dir) || proc_text(p.pid, "cmdline").contains(dir)
        })
        .map(|p| p.pid)
        .collect()
}

/// The host's PID of what foster (running as `running`) calls `pid`: the
/// same as a subreaper; as PID 1, found through `NSpid` among the
/// processes of foster's namespace.
fn host_pid(running: &Running, pid: i32) -> i32 {
    if running.mode == Mode::Subreaper {
        return pid;
    }
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let foster_ns = ns(running.foster_pid()).expect("foster's PID namespace");
    processes()
        .into_iter()
        .find(|p| {
            ns(p.pid).as_ref() == Some(&foster_ns)
                && proc_text(p.pid, "status")
                    .lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|l| l.split_whitespace().last())
                    .and_then(|n| n.parse::<i32>().ok())
                    == Some(pid)
        })
        .map(|p| p.pid)
        .unwrap_or_else(|| panic!("no process {pid} in foster's PID namespace"))
}

/// Kills what is left of one of our daemons when a test fails half-way
/// (after foster itself, killed by its own guard), so no daemon outlives it.
struct Cleanup {
    comm: &'static str,
    dir: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in daemon_processes(self.comm, &self.dir) {
            // SAFETY: kill takes two integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// One foster running one real daemon as a forking service.
struct Session {
    running: Running,
    _cleanup: Cleanup,
    socket: String,
    name: &'static str,
    comm: &'static str,
    pidfile: String,
    dir: TempDir,
    units: TempDir,
}

impl Session {
    /// Starts foster (with `-v`, for the failure messages) on one unit.
    fn new(
        mode: Mode,
        name: &'static str,
        comm: &'static str,
        dir: TempDir,
        pidfile: String,
        restart: &str,
        command: &[String],
    ) -> Session {
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new(&format!("{name}-units"));
        let command: Vec<String> = command.iter().map(|a| format!("{a:?}")).collect();
        units.write(
            &format!("{name}.yaml"),
            &format!(
                "type: forking\npidfile: {pidfile}\ncommand: [{}]\nworkdir: {}\nrestart: {restart}\nrestart_delay: 0s\nstart_timeout: 30s\nstop_timeout: 10s\n",
                command.join(", "),
                dir.path()
            ),
        );
        let running = start(foster(
            mode,
            &["-v", "--socket", &socket, "--services", &units.path()],
        ));
        Session {
            running,
            _cleanup: Cleanup {
                comm,
                dir: dir.path(),
            },
            socket,
            name,
            comm,
            pidfile,
            dir,
            units,
        }
    }

    fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        crate::control::fosterctl(&self.socket, args)
    }

    fn status(&self) -> String {
        self.ctl(&["status", "--json", self.name]).1
    }

    /// Polls until `check` holds; on timeout fails with foster's log.
    fn until(&mut self, what: &str, mut check: impl FnMut(&Session) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !check(self) {
            if Instant::now() > deadline {
                let status = self.status();
                let mode = self.running.mode;
                let log = self.running.drain_stderr();
                panic!(
                    "{mode:?}: never happened: {what}\nstatus: {status}\nfoster's log: {log:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until foster follows a daemon through its pidfile other than
    /// `not`, and checks that it is the one the pidfile names and the real
    /// daemon; returns its PID as foster (and the pidfile) sees it.
    fn followed(&mut self, not: Option<i32>) -> i32 {
        self.until("the daemon is followed through its pidfile", |s| {
            let json = s.status();
            field(&json, "state") == "running"
                && field(&json, "pid_source") == "pidfile"
                && field(&json, "pid").parse::<i32>().ok() != not
                && field(&json, "pid").parse::<i32>().ok() == pid_in(&s.pidfile)
        });
        let json = self.status();
        let pid: i32 = field(&json, "pid").parse().expect("a pid");
        assert_eq!(field(&json, "type"), "forking", "{json}");
        let host = self.host_pid(pid);
        assert_eq!(
            proc_text(host, "comm").trim(),
            self.comm,
            "{:?}: foster follows {pid} (host {host}), not the daemon: {json}",
            self.running.mode
        );
        pid
    }

    /// The host's PID of the process that foster (and the pidfile) calls
    /// `pid`: the same in subreaper mode; inside the namespace in PID 1
    /// mode, found through `NSpid` among the processes of foster's
    /// namespace.
    fn host_pid(&self, pid: i32) -> i32 {
        host_pid(&self.running, pid)
    }

    fn leftovers(&self) -> Vec<i32> {
        daemon_processes(self.comm, &self.dir.path())
    }

    /// SIGKILL to the daemon's true PID: foster starts a new one.
    fn kill_and_expect_restart(&mut self, pid: i32) -> i32 {
        let host = self.host_pid(pid);
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(host, libc::SIGKILL) }, 0);
        let new = self.followed(Some(pid));
        let json = self.status();
        assert_eq!(field(&json, "restarts"), "1", "{json}");
        new
    }

    /// `fosterctl reload` with the unit unchanged: kept, same PID, no restart.
    fn reload_units_keeps(&mut self, pid: i32) {
        let (code, out, err) = self.ctl(&["reload"]);
        assert_eq!(code, 0, "{out}{err}");
        // Neither added, changed nor removed.
        assert!(out.starts_with("added: "), "{out}");
        assert!(!out.contains(self.name), "{out}");
        let json = self.status();
        assert_eq!(field(&json, "pid"), pid.to_string(), "{json}");
        assert_eq!(field(&json, "state"), "running", "{json}");
    }

    /// `fosterctl stop`: stopped, and none of the daemon's processes left.
    fn stop(&mut self) {
        let (code, out, err) = self.ctl(&["stop", self.name]);
        assert_eq!(code, 0, "{out}{err}");
        self.until("the service is stopped", |s| {
            field(&s.status(), "state") == "stopped"
        });
        self.until("no process of the daemon is left", |s| {
            s.leftovers().is_empty()
        });
        let json = self.status();
        assert_eq!(field(&json, "pid"), "null", "{json}");
    }

    /// SIGTERM to foster: it exits 0 and leaves nothing behind.
    fn finish(self) {
        let mode = self.running.mode;
        self.running.signal(libc::SIGTERM);
        let done = self.running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:#?}", done.stderr);
        let left = daemon_processes(self.comm, &self.dir.path());
        assert!(left.is_empty(), "{mode:?}: left behind: {left:?}");
        drop(self.units);
    }
}

/// nginx's private configuration: everything in `dir`, listening on `port`,
/// answering `body` to every request.
fn nginx_conf(dir: &str, port: u16, body: &str) -> String {
    format!(
        "worker_processes 2;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 \"{body}\\n\"; }}
    }}
}}
"
    )
}

fn nginx_session(mode: Mode, tag: &str, restart: &str) -> (Session, u16) {
    let dir = TempDir::new(tag);
    let port = free_port();
    let conf = dir.write("nginx.conf", &nginx_conf(&dir.path(), port, "v1"));
    let pidfile = format!("{}/nginx.pid", dir.path());
    // The absolute path matters for the binary upgrade: nginx re-executes
    // its own argv[0].
    let command = [
        NGINX.to_string(),
        "-p".into(),
        dir.path(),
        "-e".into(),
        format!("{}/error.log", dir.path()),
        "-c".into(),
        conf,
        "-g".into(),
        "daemon on;".into(),
    ];
    (
        Session::new(mode, "nginx", "nginx", dir, pidfile, restart, &command),
        port,
    )
}

/// The host PIDs of nginx's workers under the master whose host PID is `master`.
fn nginx_workers(master: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == master && p.state != 'Z')
        .filter(|p| proc_text(p.pid, "cmdline").starts_with("nginx: worker process"))
        .map(|p| p.pid)
        .collect()
}

fn nginx_serves(s: &mut Session, port: u16, body: &str) {
    let want = format!("\r\n\r\n{body}\n");
    s.until(&format!("nginx answers {body:?}"), |_| {
        http_get(port).is_ok_and(|r| r.starts_with("HTTP/1.1 200") && r.ends_with(&want))
    });
}

#[test]
fn nginx_is_followed_restarted_reloaded_and_stopped() {
    if !installed(NGINX, "nginx") {
        return;
    }
    for mode in modes() {
        let (mut s, port) = nginx_session(mode, "nginx", "always");
        let pid = s.followed(None);
        let master = s.host_pid(pid);
        assert!(
            proc_text(master, "cmdline").starts_with("nginx: master process"),
            "{mode:?}: {}",
            proc_text(master, "cmdline")
        );
        s.until("nginx has its 2 workers", |_| {
            nginx_workers(master).len() == 2
        });
        nginx_serves(&mut s, port, "v1");

        // The true PID killed: foster starts a new nginx once the old
        // workers, left in the old master's session, are gone (so the port
        // is free again).
        let workers = nginx_workers(master);
        let pid = s.kill_and_expect_restart(pid);
        let left: Vec<i32> = workers
            .into_iter()
            .filter(|w| std::path::Path::new(&format!("/proc/{w}")).exists())
            .collect();
        assert!(left.is_empty(), "{mode:?}: old workers left: {left:?}");
        let master = s.host_pid(pid);
        assert!(proc_text(master, "cmdline").starts_with("nginx: master process"));
        nginx_serves(&mut s, port, "v1");

        // The units re-read, nginx's unchanged: kept.
        s.reload_units_keeps(pid);

        // `fosterctl kill nginx HUP` reaches the master: it re-reads its
        // configuration and its new workers serve the new answer.
        s.dir.write(
            "nginx.conf",
            &nginx_conf(&s.dir.path(), port, "v2 after SIGHUP"),
        );
        let (code, out, err) = s.ctl(&["kill", "nginx", "HUP"]);
        assert_eq!(code, 0, "{out}{err}");
        nginx_serves(&mut s, port, "v2 after SIGHUP");
        let log = read(&format!("{}/error.log", s.dir.path()));
        assert!(log.contains("signal 1 (SIGHUP) received"), "{log}");

        // `fosterctl reload nginx` (its reload_signal, HUP) reaches it too.
        s.dir.write(
            "nginx.conf",
            &nginx_conf(&s.dir.path(), port, "v3 after reload"),
        );
        let (code, out, err) = s.ctl(&["reload", "nginx"]);
        assert_eq!(code, 0, "{out}{err}");
        nginx_serves(&mut s, port, "v3 after reload");
        let json = s.status();
        assert_eq!(field(&json, "pid"), pid.to_string(), "{json}");
        assert_eq!(field(&json, "restarts"), "1", "{json}");

        s.stop();
        assert!(http_get(port).is_err(), "{mode:?}: nginx still answers");
        s.finish();
    }
}

#[test]
fn nginx_binary_upgrade_is_followed_to_the_new_master_without_a_restart() {
    if !installed(NGINX, "nginx") {
        return;
    }
    for mode in modes() {
        let (mut s, port) = nginx_session(mode, "nginx-upgrade", "on-failure");
        let old = s.followed(None);
        let old_host = s.host_pid(old);
        nginx_serves(&mut s, port, "v1");

        // USR2: the old master starts a new one (its child), renames its
        // pidfile to .oldbin and the new master writes the pidfile.
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(old_host, libc::SIGUSR2) }, 0);
        let oldbin = format!("{}.oldbin", s.pidfile);
        s.until("the new master wrote the pidfile", |s| {
            pid_in(&oldbin) == Some(old) && pid_in(&s.pidfile).is_some_and(|p| p != old)
        });
        let new = pid_in(&s.pidfile).unwrap();
        // Both masters run; foster still follows the old one.
        let json = s.status();
        assert_eq!(field(&json, "pid"), old.to_string(), "{json}");

        // QUIT to the old master: it ends gracefully and foster follows
        // the new master, with no restart.
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(old_host, libc::SIGQUIT) }, 0);
        let followed = s.followed(Some(old));
        assert_eq!(followed, new, "{mode:?}");
        let json = s.status();
        assert_eq!(field(&json, "restarts"), "0", "{json}");
        assert_eq!(field(&json, "state"), "running", "{json}");
        assert_eq!(field(&json, "pid_source"), "pidfile", "{json}");
        let new_host = s.host_pid(new);
        assert!(
            proc_text(new_host, "cmdline").starts_with("nginx: master process"),
            "{mode:?}: {}",
            proc_text(new_host, "cmdline")
        );
        s.until("the old master is gone", |s| {
            !s.leftovers().contains(&old_host) && !std::path::Path::new(&oldbin).exists()
        });
        s.until("the new master has its 2 workers", |_| {
            nginx_workers(new_host).len() == 2
        });
        nginx_serves(&mut s, port, "v1");

        // The new master is signalled through foster: its reload_signal
        // (sent to the process itself) reaches it.
        s.dir.write(
            "nginx.conf",
            &nginx_conf(&s.dir.path(), port, "v2 from the new master"),
        );
        let (code, out, err) = s.ctl(&["reload", "nginx"]);
        assert_eq!(code, 0, "{out}{err}");
        nginx_serves(&mut s, port, "v2 from the new master");

        // The new master ends by itself (QUIT, sent here directly): foster reaps
        // it, takes its real status 0, and `on-failure` does not restart it.
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(new_host, libc::SIGQUIT) }, 0);
        s.until("nginx ended", |s| {
            let json = s.status();
            field(&json, "pid") == "null" && field(&json, "last_exit") == "0"
        });
        s.until("no process of nginx is left", |s| s.leftovers().is_empty());
        let json = s.status();
        assert_eq!(field(&json, "restarts"), "0", "{json}");
        s.finish();
    }
}

/// The new master nginx starts on USR2 is its old master's child: it keeps
/// the old master's process group (and session) and leads none. Regression:
/// foster's `kill`, stop signal and stop-timeout SIGKILL went to the group
/// named by the followed PID, `kill(-new_master)`, which failed with ESRCH:
/// the signals reached nobody and the service stayed `stopping` for ever.
/// They now go to the process itself, by pidfd.
#[test]
fn nginx_after_binary_upgrade_can_be_stopped_and_signalled() {
    if !installed(NGINX, "nginx") {
        return;
    }
    for mode in modes() {
        let (mut s, port) = nginx_session(mode, "nginx-upgrade-stop", "always");
        let old = s.followed(None);
        let old_host = s.host_pid(old);
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(old_host, libc::SIGUSR2) }, 0);
        let oldbin = format!("{}.oldbin", s.pidfile);
        s.until("the new master wrote the pidfile", |s| {
            pid_in(&oldbin) == Some(old) && pid_in(&s.pidfile).is_some_and(|p| p != old)
        });
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(old_host, libc::SIGQUIT) }, 0);
        let new = s.followed(Some(old));
        s.until("the old master is gone", |s| {
            !s.leftovers().contains(&old_host)
        });
        nginx_serves(&mut s, port, "v1");

        // `fosterctl kill nginx HUP` must reach the new master.
        s.dir.write(
            "nginx.conf",
            &nginx_conf(&s.dir.path(), port, "v2 after SIGHUP"),
        );
        let (code, out, err) = s.ctl(&["kill", "nginx", "HUP"]);
        assert_eq!(code, 0, "{out}{err}");
        nginx_serves(&mut s, port, "v2 after SIGHUP");

        // `fosterctl stop nginx` stops it with its stop signal: nginx exits
        // 0 on SIGTERM, where the stop-timeout SIGKILL would show 137.
        s.stop();
        let json = s.status();
        assert_eq!(
            field(&json, "last_exit"),
            "0",
            "{mode:?}: nginx {new}: {json}"
        );
        s.finish();
    }
}

#[test]
fn redis_is_followed_restarted_signalled_and_stopped() {
    if !installed(REDIS, "redis-server") {
        return;
    }
    for mode in modes() {
        let dir = TempDir::new("redis");
        let port = free_port();
        let pidfile = format!("{}/redis.pid", dir.path());
        let command = [
            REDIS.to_string(),
            "--daemonize".into(),
            "yes".into(),
            "--pidfile".into(),
            pidfile.clone(),
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.path(),
            "--logfile".into(),
            format!("{}/redis.log", dir.path()),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
        ];
        let mut s = Session::new(
            mode,
            "redis",
            "redis-server",
            dir,
            pidfile,
            "always",
            &command,
        );
        let pong = |s: &mut Session| {
            s.until("redis answers PING", |_| {
                ask(port, "PING\r\n", false).is_ok_and(|a| a == "+PONG\r\n")
            })
        };
        let pid = s.followed(None);
        pong(&mut s);
        let pid = s.kill_and_expect_restart(pid);
        pong(&mut s);
        s.reload_units_keeps(pid);
        // redis ignores SIGHUP: sent through foster (by `reload NAME`, to
        // the process, and by `kill`, to its group) it changes nothing.
        for args in [&["reload", "redis"][..], &["kill", "redis", "HUP"]] {
            let (code, out, err) = s.ctl(args);
            assert_eq!(code, 0, "{args:?}: {out}{err}");
        }
        pong(&mut s);
        let json = s.status();
        assert_eq!(field(&json, "pid"), pid.to_string(), "{json}");
        assert_eq!(field(&json, "restarts"), "1", "{json}");
        s.stop();
        assert!(
            read(&format!("{}/redis.log", s.dir.path())).contains("ready to exit"),
            "{mode:?}: redis did not shut down cleanly"
        );
        s.finish();
    }
}

#[test]
fn memcached_is_followed_restarted_signalled_and_stopped() {
    if !installed(MEMCACHED, "memcached") {
        return;
    }
    for mode in modes() {
        let dir = TempDir::new("memcached");
        let port = free_port();
        let pidfile = format!("{}/memcached.pid", dir.path());
        let command = [
            MEMCACHED.to_string(),
            "-d".into(),
            "-P".into(),
            pidfile.clone(),
            "-p".into(),
            port.to_string(),
            "-l".into(),
            "127.0.0.1".into(),
            "-U".into(),
            "0".into(),
            "-u".into(),
            "root".into(),
            "-m".into(),
            "16".into(),
        ];
        let mut s = Session::new(
            mode,
            "memcached",
            "memcached",
            dir,
            pidfile,
            "always",
            &command,
        );
        let version = |s: &mut Session| {
            s.until("memcached answers version", |_| {
                ask(port, "version\r\n", false).is_ok_and(|a| a.starts_with("VERSION "))
            })
        };
        let pid = s.followed(None);
        version(&mut s);
        // A value stored now is gone after the restart: a new memcached.
        assert_eq!(
            ask(port, "set k 0 0 2\r\nv1\r\n", false).unwrap(),
            "STORED\r\n"
        );
        let pid = s.kill_and_expect_restart(pid);
        version(&mut s);
        assert_eq!(ask(port, "get k\r\n", false).unwrap(), "END\r\n");
        s.reload_units_keeps(pid);
        // memcached ignores SIGHUP: through foster it changes nothing.
        for args in [&["reload", "memcached"][..], &["kill", "memcached", "HUP"]] {
            let (code, out, err) = s.ctl(args);
            assert_eq!(code, 0, "{args:?}: {out}{err}");
        }
        version(&mut s);
        let json = s.status();
        assert_eq!(field(&json, "pid"), pid.to_string(), "{json}");
        assert_eq!(field(&json, "restarts"), "1", "{json}");
        s.stop();
        s.finish();
    }
}

/// nginx in the foreground (`daemon off;`, a simple service, as in most
/// images), its master killed with SIGKILL: its workers, left in its
/// session and holding its port, are stopped before the restart, so the
/// new master binds the port at its first try and serves (without that it
/// would loop on "Address already in use").
#[test]
fn nginx_in_the_foreground_killed_leaves_no_worker_holding_its_port() {
    if !installed(NGINX, "nginx") {
        return;
    }
    for mode in modes() {
        let dir = TempDir::new("nginx-fg");
        let port = free_port();
        let conf = dir.write("nginx.conf", &nginx_conf(&dir.path(), port, "fg"));
        let error_log = format!("{}/error.log", dir.path());
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("nginx-fg-units");
        units.write(
            "web.yaml",
            &format!(
                "command: [{NGINX:?}, \"-p\", {:?}, \"-e\", {error_log:?}, \"-c\", {conf:?}, \"-g\", \"daemon off;\"]\nrestart: always\nrestart_delay: 0s\nstop_timeout: 10s\n",
                dir.path()
            ),
        );
        let _cleanup = Cleanup {
            comm: "nginx",
            dir: dir.path(),
        };
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let status = || crate::control::fosterctl(&socket, &["status", "--json", "web"]).1;
        let serving =
            || http_get(port).is_ok_and(|r| r.starts_with("HTTP/1.1 200") && r.ends_with("fg\n"));
        let until = |running: &mut Running, what: &str, check: &dyn Fn(&Running) -> bool| {
            let deadline = Instant::now() + DEADLINE;
            while !check(running) {
                assert!(
                    Instant::now() < deadline,
                    "{mode:?}: never happened: {what}\nstatus: {}\nlog: {:#?}",
                    status(),
                    running.drain_stderr()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let master_pid = || field(&status(), "pid").parse::<i32>().ok();
        until(&mut running, "nginx serves with its 2 workers", &|r| {
            serving() && master_pid().is_some_and(|p| nginx_workers(host_pid(r, p)).len() == 2)
        });
        let first = master_pid().expect("a pid");
        let master = host_pid(&running, first);
        let workers = nginx_workers(master);
        // SAFETY: kill takes two integers.
        assert_eq!(unsafe { libc::kill(master, libc::SIGKILL) }, 0);
        until(&mut running, "a new nginx serves", &|_| {
            field(&status(), "state") == "running"
                && master_pid().is_some_and(|p| p != first)
                && serving()
        });
        let json = status();
        assert_eq!(field(&json, "restarts"), "1", "{mode:?} {json}");
        // The old workers are gone (not even zombies: foster reaped them).
        let left: Vec<i32> = workers
            .iter()
            .copied()
            .filter(|w| std::path::Path::new(&format!("/proc/{w}")).exists())
            .collect();
        assert!(left.is_empty(), "{mode:?}: old workers left: {left:?}");
        let log = std::fs::read_to_string(&error_log).unwrap_or_default();
        assert!(
            !log.contains("Address already in use"),
            "{mode:?}: the new master met the old workers: {log}"
        );
        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:#?}", done.stderr);
    }
}

const LIGHTTPD: &str = "/usr/sbin/lighttpd";

/// The inode of the socket descriptor `fd` of process `pid` is, as
/// `/proc/PID/fd` names it (`socket:[N]`).
fn socket_of(pid: i32, fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("socket:"))
}

/// lighttpd from Debian speaks socket activation
/// (`server.systemd-socket-activation`): as `user: www-data` it serves a
/// port below 1024 that foster bound as root, from the very socket foster
/// holds, and five restarts and a `kill -9` under a client loop refuse no
/// connection.
#[test]
fn lighttpd_serves_the_socket_foster_holds_through_restarts_and_a_kill() {
    if !installed(LIGHTTPD, "lighttpd") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    for mode in modes() {
        let dir = TempDir::new("lighttpd");
        std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        dir.write("index.html", "from lighttpd\n");
        let port = if root {
            (700..760)
                .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
                .expect("a free port below 1024")
        } else {
            free_port()
        };
        let conf = dir.write(
            "lighttpd.conf",
            &format!(
                "server.document-root = {:?}\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\nserver.systemd-socket-activation = \"enable\"\nindex-file.names = (\"index.html\")\n",
                dir.path()
            ),
        );
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("lighttpd-units");
        let user = if root { "user: www-data\n" } else { "" };
        units.write(
            "web.yaml",
            &format!(
                "command: [{LIGHTTPD:?}, \"-D\", \"-f\", {conf:?}]\n{user}restart: always\nrestart_delay: 0s\nstop_signal: INT\nsockets:\n  - listen: \"127.0.0.1:{port}\"\n    name: http\n"
            ),
        );
        let _cleanup = Cleanup {
            comm: "lighttpd",
            dir: dir.path(),
        };
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let status = || crate::control::fosterctl(&socket, &["status", "--json", "web"]).1;
        let serving = || {
            http_get(port)
                .is_ok_and(|r| r.starts_with("HTTP/1.0 200") && r.ends_with("from lighttpd\n"))
        };
        crate::util::eventually("lighttpd serves", serving);
        // Its fd 3 is the socket foster holds, and it runs as www-data.
        let pid = host_pid(&running, field(&status(), "pid").parse().unwrap());
        let held = socket_of(pid, 3).expect("lighttpd's fd 3 is a socket");
        let foster_fds: Vec<String> =
            std::fs::read_dir(format!("/proc/{}/fd", running.foster_pid()))
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|l| l.to_string_lossy().into_owned())
                .collect();
        assert!(
            foster_fds.contains(&held),
            "{mode:?}: {held} not in {foster_fds:?}"
        );
        if root {
            let uid = proc_text(pid, "status")
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next().unwrap_or_default().to_string());
            assert_eq!(uid.as_deref(), Some("33"), "{mode:?}");
        }
        // Requests one after another all along.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut answered, mut refused, mut failed) = (0, 0, 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match http_get(port) {
                        Ok(r) if r.ends_with("from lighttpd\n") => answered += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                        _ => failed += 1,
                    }
                }
                (answered, refused, failed)
            })
        };
        for round in 0..5 {
            let (code, out, err) = crate::control::fosterctl(&socket, &["restart", "web"]);
            assert_eq!(code, 0, "{mode:?} restart {round}: {out}{err}");
        }
        let before = field(&status(), "pid");
        assert_eq!(
            crate::control::fosterctl(&socket, &["kill", "web", "KILL"]).0,
            0
        );
        crate::util::eventually("lighttpd back after kill -9", || {
            let json = status();
            field(&json, "state") == "running" && field(&json, "pid") != before && serving()
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (answered, refused, failed) = client.join().unwrap();
        assert_eq!(refused, 0, "{mode:?}: {answered} answered, {failed} failed");
        // Only what the killed process had accepted may fail.
        assert!(
            failed <= 2,
            "{mode:?}: {answered} answered, {failed} failed"
        );
        assert!(answered > 5, "{mode:?}: {answered} answered");
        let pid = host_pid(&running, field(&status(), "pid").parse().unwrap());
        assert_eq!(
            socket_of(pid, 3).as_ref(),
            Some(&held),
            "{mode:?}: the same socket"
        );
        crate::control::fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}
