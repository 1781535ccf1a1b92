//! The fd store (issue 14, item 4): what a service parks with `FDSTORE=1`
//! comes back at its next start after its sockets, survives `kill -9`
//! and restarts, and is closed when it is stopped on request; names are
//! checked as systemd checks them, a hung-up descriptor is dropped, the
//! store holds no more than `fd_store:`, and descriptors from anyone else
//! are closed at once.

use crate::control::fosterctl;
use crate::tracking::field;
use crate::util::{TempDir, eventually, fd_keeper, foster, modes, start};

/// How many memfds made by the fixture foster holds open now.
fn memfds_in(foster: i32) -> usize {
    std::fs::read_dir(format!("/proc/{foster}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("/memfd:fd_keeper"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// The `started …` lines of the fixture's log.
fn starts(log: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("started "))
        .map(str::to_string)
        .collect()
}

fn stored_fds(socket: &str, name: &str) -> String {
    let json = fosterctl(socket, &["status", "--json", name]).1;
    let at = json.find("\"stored_fds\":").expect("a stored_fds field");
    let rest = &json[at + "\"stored_fds\":".len()..];
    rest[..=rest.find(']').expect("a list")].to_string()
}

#[test]
fn a_stored_memfd_survives_kill_9_and_is_gone_after_a_stop() {
    for mode in modes() {
        let dir = TempDir::new("fdstore");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let log = dir.0.join("keeper.log").to_string_lossy().into_owned();
        // A held socket too: the stored descriptors come after it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let units = TempDir::new("fdstore-units");
        units.write(
            "keeper.yaml",
            &format!(
                "type: notify\ncommand: [\"{}\", \"--log\", \"{log}\", \"--store\", \"state\", \"hello\", \"--pipe\", \"gone\", \"--pipe-nopoll\", \"kept\", \"--bad-name\"]\nrestart: always\nrestart_delay: 0s\nfd_store: 8\nsockets:\n  - listen: \"127.0.0.1:{port}\"\n    name: http\n",
                fd_keeper()
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let foster_pid = running.foster_pid();
        eventually("keeper is running", || {
            field(
                &fosterctl(&socket, &["status", "--json", "keeper"]).1,
                "state",
            ) == "running"
        });
        assert_eq!(starts(&log).len(), 1, "{mode:?}");
        assert!(
            starts(&log)[0].ends_with(" 1 http=-"),
            "{mode:?}: {:?}",
            starts(&log)
        );
        // The pipe whose writer is gone hung up and was dropped; the one
        // stored with FDPOLL=0 was kept; the bad name was ignored and its
        // memfd kept as "stored".
        eventually("the hung-up pipe is dropped", || {
            stored_fds(&socket, "keeper")
                == r#"[{"name":"state","count":1},{"name":"kept","count":1},{"name":"stored","count":1}]"#
        });
        assert_eq!(memfds_in(foster_pid), 2, "{mode:?}");
        running.expect_stderr("keeper: ignoring FDNAME=\"a:b\"");
        // kill -9: the next run gets them back, after its socket, with
        // LISTEN_PID its own (the fixture exits 3 otherwise).
        let before = field(
            &fosterctl(&socket, &["status", "--json", "keeper"]).1,
            "pid",
        );
        assert_eq!(fosterctl(&socket, &["kill", "keeper", "KILL"]).0, 0);
        eventually("keeper is back", || {
            let json = fosterctl(&socket, &["status", "--json", "keeper"]).1;
            field(&json, "state") == "running" && field(&json, "pid") != before
        });
        let runs = starts(&log);
        assert_eq!(runs.len(), 2, "{mode:?}: {runs:?}");
        let pid = field(
            &fosterctl(&socket, &["status", "--json", "keeper"]).1,
            "pid",
        );
        assert_eq!(
            runs[1],
            format!("started {pid} 4 http=-,state=hello,kept=-,stored=bad"),
            "{mode:?}"
        );
        // Taken back, not stored twice.
        assert_eq!(memfds_in(foster_pid), 2, "{mode:?}");
        // A restart on request keeps them too.
        assert_eq!(fosterctl(&socket, &["restart", "keeper"]).0, 0);
        eventually("keeper restarted", || starts(&log).len() == 3);
        assert!(
            starts(&log)[2].contains(" 4 http=-,state=hello,"),
            "{mode:?}"
        );
        // A stop closes them; the next start has nothing.
        assert_eq!(fosterctl(&socket, &["stop", "keeper"]).0, 0);
        eventually("the stop closed the stored memfds", || {
            memfds_in(foster_pid) == 0
        });
        assert_eq!(stored_fds(&socket, "keeper"), "[]");
        assert_eq!(fosterctl(&socket, &["start", "keeper"]).0, 0);
        eventually("keeper started afresh", || starts(&log).len() == 4);
        assert!(
            starts(&log)[3].ends_with(" 1 http=-"),
            "{mode:?}: {:?}",
            starts(&log)
        );
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

/// 254 descriptors: more than one message can carry (the kernel refuses
/// the sender), so they come as 253 and 1; all are kept and handed back,
/// none leaks, and a service with a smaller store keeps only its share.
/// A reload that lowers `fd_store` closes what is over it.
#[test]
fn the_store_holds_254_fds_from_two_messages_and_never_more_than_fd_store() {
    for mode in modes() {
        let dir = TempDir::new("fdflood");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let log = dir.0.join("big.log").to_string_lossy().into_owned();
        let small_log = dir.0.join("small.log").to_string_lossy().into_owned();
        let units = TempDir::new("fdflood-units");
        let big = |store: u32| {
            format!(
                "type: notify\ncommand: [\"{}\", \"--log\", \"{log}\", \"--flood\", \"254\"]\nrestart: always\nrestart_delay: 0s\nfd_store: {store}\n",
                fd_keeper()
            )
        };
        units.write("big.yaml", &big(300));
        units.write(
            "small.yaml",
            &format!(
                "type: notify\ncommand: [\"{}\", \"--log\", \"{small_log}\", \"--flood\", \"253\"]\nfd_store: 16\n",
                fd_keeper()
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let foster_pid = running.foster_pid();
        for name in ["big", "small"] {
            eventually("running", || {
                field(&fosterctl(&socket, &["status", "--json", name]).1, "state") == "running"
            });
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains(&format!("kernel-refused 254 {}", libc::EINVAL)),
            "{mode:?}: {text}"
        );
        assert_eq!(
            stored_fds(&socket, "big"),
            r#"[{"name":"flood","count":254}]"#
        );
        assert_eq!(
            stored_fds(&socket, "small"),
            r#"[{"name":"flood","count":16}]"#
        );
        assert_eq!(memfds_in(foster_pid), 270, "{mode:?}");
        running.expect_stderr("small: its fd store is full (16): closed 237 descriptor(s)");
        // Handed back whole, in order.
        assert_eq!(fosterctl(&socket, &["kill", "big", "KILL"]).0, 0);
        eventually("big is back", || starts(&log).len() == 2);
        let again = &starts(&log)[1];
        assert!(
            again.contains(" 254 flood=flood 0,flood=flood 1,")
                && again.ends_with(",flood=flood 253"),
            "{mode:?}: {again}"
        );
        assert_eq!(memfds_in(foster_pid), 270, "{mode:?}");
        // A lower fd_store: what is over it is closed at the next start.
        units.write("big.yaml", &big(10));
        let (code, out, err) = fosterctl(&socket, &["reload"]);
        assert_eq!(code, 0, "{mode:?}: {out}{err}");
        eventually("big restarted with 10", || starts(&log).len() == 3);
        assert!(starts(&log)[2].contains(" 10 flood=flood 0,"), "{mode:?}");
        eventually("the rest closed", || memfds_in(foster_pid) == 26);
        assert_eq!(
            stored_fds(&socket, "big"),
            r#"[{"name":"flood","count":10}]"#
        );
        // Removed by a reload: its store goes with it.
        std::fs::remove_file(units.0.join("small.yaml")).unwrap();
        assert_eq!(fosterctl(&socket, &["reload"]).0, 0);
        eventually("small's store closed", || memfds_in(foster_pid) == 10);
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

/// Descriptors from a process that is none of a service's are closed at
/// once, FDSTORE=1 or not.
#[test]
fn fds_from_a_stranger_are_closed_at_once() {
    for mode in modes() {
        let dir = TempDir::new("fdstranger");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let log = dir.0.join("keeper.log").to_string_lossy().into_owned();
        let units = TempDir::new("fdstranger-units");
        units.write(
            "keeper.yaml",
            &format!(
                "type: notify\ncommand: [\"{}\", \"--log\", \"{log}\"]\nfd_store: 8\n",
                fd_keeper()
            ),
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        let foster_pid = running.foster_pid();
        eventually("keeper is running", || {
            field(
                &fosterctl(&socket, &["status", "--json", "keeper"]).1,
                "state",
            ) == "running"
        });
        // Its PID as this test sees it (foster's only child).
        let pid = crate::util::children_of(foster_pid)[0];
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let address = environ
            .split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(b"NOTIFY_SOCKET=@"))
            .expect("NOTIFY_SOCKET in the service's environment")
            .to_vec();
        // The test itself (no service's process) sends ten memfds.
        let keeper = fd_keeper();
        let mut sent = std::process::Command::new(&keeper)
            .args(["--log", &log, "--flood", "10"])
            .env(
                "NOTIFY_SOCKET",
                format!("@{}", String::from_utf8_lossy(&address)),
            )
            .env_remove("LISTEN_FDS")
            .spawn()
            .unwrap();
        // Its datagrams are in foster's queue once it logs `sent`; a
        // process of foster's namespace is named and refused, one outside
        // it comes without a PID foster can know, and is refused too.
        eventually("the stranger has sent", || {
            std::fs::read_to_string(&log)
                .is_ok_and(|t| t.lines().filter(|l| l.starts_with("sent ")).count() == 2)
        });
        eventually("nothing of the stranger's is kept", || {
            fosterctl(&socket, &["status", "keeper"]).0 == 0 && memfds_in(foster_pid) == 0
        });
        assert_eq!(stored_fds(&socket, "keeper"), "[]");
        let _ = sent.kill();
        let _ = sent.wait();
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}
