//! Health checks (issue 15, item 1), with Docker's semantics: a server
//! that stops answering becomes unhealthy after `retries` and is
//! restarted; `readiness: true` holds dependents until the first success;
//! a probe that hangs is killed, with its process group, at `timeout`;
//! `on_unhealthy: shutdown` ends the run; `fosterctl status` exits 3 while
//! a service is unhealthy; exec probes run as the service's user.

use crate::control::fosterctl;
use crate::tracking::field;
use crate::util::{TempDir, eventually, foster, health_server, modes, processes, start};

fn status(socket: &str, name: &str) -> String {
    fosterctl(socket, &["status", "--json", name]).1
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn servings(log: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("serving "))
        .count()
}

#[test]
fn a_server_that_stops_answering_becomes_unhealthy_after_retries_and_is_restarted() {
    for mode in modes() {
        let dir = TempDir::new("health");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let log = dir.0.join("server.log").to_string_lossy().into_owned();
        let port = free_port();
        let units = TempDir::new("health-units");
        // Eight answers, then it hangs: probes every 200 ms time out after
        // 300 ms, and the second in a row makes it unhealthy.
        units.write(
            "web.yaml",
            &format!(
                "command: [\"{}\", \"{port}\", \"{log}\", \"8\"]\nrestart_delay: 0s\nhealth:\n  http: \"http://127.0.0.1:{port}/healthz\"\n  interval: 200ms\n  timeout: 300ms\n  retries: 2\n",
                health_server()
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("web is healthy", || {
            field(&status(&socket, "web"), "health") == "healthy"
        });
        assert_eq!(fosterctl(&socket, &["status", "web"]).0, 0, "{mode:?}");
        eventually("web was found unhealthy and restarted", || {
            servings(&log) >= 2
        });
        let json = status(&socket, "web");
        assert_eq!(
            field(&json, "last_exit_reason"),
            "unhealthy",
            "{mode:?}: {json}"
        );
        assert!(
            json.contains(r#""last_health_output":"the probe timed out after 300ms""#),
            "{mode:?}: {json}"
        );
        assert_ne!(field(&json, "restarts"), "0", "{mode:?}: {json}");
        running.expect_stderr("web: unhealthy: 2 health probes failed in a row");
        // The new run starts healthy over again.
        eventually("the new run is healthy", || {
            field(&status(&socket, "web"), "health") == "healthy"
        });
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

#[test]
fn readiness_holds_dependents_until_the_first_success_and_probes_run_as_the_services_user() {
    for mode in modes() {
        let dir = TempDir::new("health-ready");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let flag = dir.0.join("ready-now").to_string_lossy().into_owned();
        let units = TempDir::new("health-ready-units");
        // The probe passes once the file exists, and only as nobody.
        units.write(
            "db.yaml",
            &format!(
                "command: [sleep, \"1000\"]\nuser: nobody\nhealth:\n  exec: 'test \"$(id -u)\" = 65534 && test -e {flag}'\n  interval: 100ms\n  retries: 50\n  readiness: true\n"
            ),
        );
        units.write("app.yaml", "command: [sleep, \"1001\"]\ndepends_on: [db]\n");
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("db runs its probes, and they fail", || {
            field(&status(&socket, "db"), "failing_streak")
                .parse::<u32>()
                .is_ok_and(|n| n > 0)
        });
        let db = status(&socket, "db");
        assert_eq!(field(&db, "state"), "starting", "{mode:?}: {db}");
        let app = status(&socket, "app");
        assert_eq!(
            field(&app, "pid"),
            "null",
            "{mode:?}: app started early: {app}"
        );
        // The directory is the test's, so nobody may not see the file in it
        // yet: it is made readable to all.
        std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::write(&flag, "").unwrap();
        eventually("db is ready and app starts", || {
            field(&status(&socket, "app"), "state") == "running"
        });
        let db = status(&socket, "db");
        assert_eq!(field(&db, "state"), "running", "{mode:?}: {db}");
        assert_eq!(field(&db, "health"), "healthy", "{mode:?}: {db}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

#[test]
fn a_probe_that_hangs_is_killed_with_its_process_group_and_status_exits_3() {
    for mode in modes() {
        let dir = TempDir::new("health-hang");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("health-hang-units");
        // Sleeps of this test alone, whatever other runs left.
        let mark = format!("42{}{}", std::process::id(), mode as u8);
        units.write(
            "web.yaml",
            &format!("command: [sleep, \"1000\"]\nhealth:\n  exec: 'sleep {mark}1 & sleep {mark}2'\n  interval: 100ms\n  timeout: 300ms\n  retries: 1\n  on_unhealthy: none\n"),
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("web is unhealthy", || {
            field(&status(&socket, "web"), "health") == "unhealthy"
        });
        // Left running (on_unhealthy: none), but not up for `status`.
        let json = status(&socket, "web");
        assert_eq!(field(&json, "state"), "running", "{mode:?}: {json}");
        assert_eq!(fosterctl(&socket, &["status", "web"]).0, 3, "{mode:?}");
        assert_eq!(fosterctl(&socket, &["status"]).0, 3, "{mode:?}");
        assert!(
            json.contains("the probe timed out after 300ms"),
            "{mode:?}: {json}"
        );
        // Both sleeps of each timed-out probe were killed: none piles up.
        let hung = || {
            processes()
                .into_iter()
                .filter(|p| {
                    std::fs::read(format!("/proc/{}/cmdline", p.pid))
                        .is_ok_and(|c| c.starts_with(format!("sleep\0{mark}").as_bytes()))
                })
                .count()
        };
        // Three probes timed out by now; had their groups not been killed,
        // their background sleeps would be alive still.
        eventually("three probes failed", || {
            field(&status(&socket, "web"), "failing_streak")
                .parse::<u32>()
                .is_ok_and(|n| n >= 3)
        });
        assert!(hung() <= 2, "{mode:?}: {} probe sleeps alive", hung());
        fosterctl(&socket, &["shutdown"]);
        running.finish();
        assert_eq!(hung(), 0, "{mode:?}: a probe's process outlived foster");
    }
}

#[test]
fn on_unhealthy_shutdown_ends_the_run_with_1_and_a_tcp_probe_checks_a_held_socket() {
    for mode in modes() {
        let dir = TempDir::new("health-down");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let (held, nobody) = (free_port(), free_port());
        let units = TempDir::new("health-down-units");
        // A held socket accepts connections whoever serves it: healthy.
        units.write(
            "held.yaml",
            &format!(
                "command: [sleep, \"1000\"]\nsockets:\n  - listen: \"127.0.0.1:{held}\"\nhealth:\n  tcp: \"127.0.0.1:{held}\"\n  interval: 100ms\n"
            ),
        );
        // Nobody listens here: refused, unhealthy, and foster ends.
        units.write(
            "gone.yaml",
            &format!(
                "command: [sleep, \"1001\"]\nhealth:\n  tcp: \"127.0.0.1:{nobody}\"\n  interval: 1s\n  start_period: 2s\n  start_interval: 100ms\n  retries: 2\n  on_unhealthy: shutdown\n"
            ),
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("held is healthy", || {
            field(&status(&socket, "held"), "health") == "healthy"
        });
        let finished = running.finish();
        assert_eq!(finished.code(), 1, "{mode:?}: {:?}", finished.stderr);
        assert!(
            finished
                .stderr
                .iter()
                .any(|l| l
                    .contains("gone: unhealthy: 2 health probes failed in a row (last: connect")),
            "{mode:?}: {:?}",
            finished.stderr
        );
    }
}
