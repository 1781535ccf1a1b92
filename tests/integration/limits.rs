//! Issue 15 item 3: resource limits, umask, nice, oom_score_adj,
//! capabilities and no_new_privs, as `/proc` shows them for a service
//! running as another user, and `--limit` in the one-command mode.

use crate::control::fosterctl;
use crate::util::{Mode, Running, TempDir, foster, run, start};

/// Root, as every case here needs (another user, capabilities); in CI a
/// failure when not, elsewhere the case is skipped with a note.
fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but not root: the limits tests must run in CI"
        );
        eprintln!("note: skipping: the limits tests need root");
    }
    root
}

/// `field:` of `/proc/PID/status`, without the tab.
fn status_field(pid: i64, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// The line of `/proc/PID/limits` for `name` (such as "Max open files"),
/// its soft and hard values.
fn limit(pid: i64, name: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {limits}"));
    let mut values = line[name.len()..].split_whitespace();
    (
        values.next().unwrap_or_default().to_string(),
        values.next().unwrap_or_default().to_string(),
    )
}

/// Field 19 of `/proc/PID/stat`: the nice value.
fn nice(pid: i64) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, tail) = stat.rsplit_once(')').expect("stat has a comm");
    // Fields from 3 on; 19 is the 17th of them.
    tail.split_whitespace()
        .nth(16)
        .and_then(|n| n.parse().ok())
        .expect("nice")
}

fn oom_score_adj(pid: i64) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .expect("oom_score_adj")
        .trim()
        .parse()
        .expect("a number")
}

fn pid_of(socket: &str, name: &str) -> i64 {
    let (_, json, _) = fosterctl(socket, &["status", "--json", name]);
    json.split("\"pid\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1)
}

/// Whether foster (and so this test, its parent) holds `cap` in its
/// effective set: this machine's root may lack some (a container's).
fn own_capability(cap: u32) -> bool {
    let eff = status_field(i64::from(std::process::id()), "CapEff");
    u64::from_str_radix(&eff, 16).is_ok_and(|set| set & (1 << cap) != 0)
}

const CAP_SYS_RESOURCE: u32 = 24;

/// A shell script nobody can run: it tries to bind 127.0.0.1:`port` (a
/// port below 1024 needs CAP_NET_BIND_SERVICE), says how that went, and
/// becomes `sleep`.
fn binder(dir: &TempDir, port: u16) -> String {
    let script = dir.write(
        "bind.sh",
        &format!(
            "#!/bin/sh\nif perl -MSocket -e 'socket(S, PF_INET, SOCK_STREAM, 0) or die; bind(S, pack_sockaddr_in({port}, inet_aton(\"127.0.0.1\"))) or die'; then echo \"$1 bound\"; else echo \"$1 refused\"; fi\nexec sleep 1000\n"
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Waits for a stderr line containing `part`, or finds it among those
/// read already (the services start in no set order).
fn said(running: &mut Running, part: &str) {
    if !running.drain_stderr().iter().any(|l| l.contains(part)) {
        running.expect_stderr(part);
    }
}

fn services(tag: &str, units: &[(&str, String)]) -> (TempDir, String, Running) {
    services_by(tag, units, |args| foster(Mode::Subreaper, args))
}

/// A foster, started by `command` with these arguments, running `units`
/// in a scratch directory, with its control socket there.
fn services_by(
    tag: &str,
    units: &[(&str, String)],
    command: impl FnOnce(&[&str]) -> std::process::Command,
) -> (TempDir, String, Running) {
    let dir = TempDir::new(tag);
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let unit_dir = dir.0.join("units");
    std::fs::create_dir(&unit_dir).unwrap();
    for (name, text) in units {
        std::fs::write(unit_dir.join(format!("{name}.yaml")), text).unwrap();
    }
    let unit_dir = unit_dir.to_string_lossy().into_owned();
    let running = start(command(&["--socket", &socket, "--services", &unit_dir]));
    (dir, socket, running)
}

#[test]
fn a_service_as_nobody_gets_its_limits_umask_nice_oom_score_adj_capability_and_no_new_privs() {
    if !root() {
        return;
    }
    let scripts = TempDir::new("limits-script");
    let script = binder(&scripts, 742);
    let (_dir, socket, mut running) = services(
        "limits",
        &[
            (
                "capable",
                format!(
                    "command: [{script}, capable]\nuser: nobody\nlimits: {{nofile: \"1024:4096\", core: 0, nproc: 100}}\numask: \"0027\"\nnice: 5\noom_score_adj: 500\nno_new_privs: true\ncapabilities: [NET_BIND_SERVICE]\n"
                ),
            ),
            // No `capabilities:`: nobody's own (none), the bounding set
            // untouched; a negative nice value, only allowed before the
            // user switch.
            (
                "plain",
                format!("command: [{script}, plain]\nuser: nobody\nnice: -3\n"),
            ),
        ],
    );
    let mut said = vec![running.line(), running.line()];
    said.sort();
    assert_eq!(said, ["capable bound", "plain refused"]);

    let pid = pid_of(&socket, "capable");
    assert!(pid > 0);
    assert_eq!(
        status_field(pid, "Uid").split_whitespace().next(),
        Some("65534")
    );
    assert_eq!(limit(pid, "Max open files"), ("1024".into(), "4096".into()));
    assert_eq!(limit(pid, "Max core file size"), ("0".into(), "0".into()));
    assert_eq!(limit(pid, "Max processes"), ("100".into(), "100".into()));
    assert_eq!(status_field(pid, "Umask"), "0027");
    assert_eq!(nice(pid), 5);
    assert_eq!(oom_score_adj(pid), 500);
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    for set in ["CapAmb", "CapBnd", "CapEff", "CapPrm", "CapInh"] {
        assert_eq!(status_field(pid, set), "0000000000000400", "{set}");
    }

    let plain = pid_of(&socket, "plain");
    assert!(plain > 0);
    assert_eq!(nice(plain), -3);
    assert_eq!(status_field(plain, "CapEff"), "0000000000000000");
    assert_eq!(status_field(plain, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(plain, "NoNewPrivs"), "0");
    let own = i64::from(running.foster_pid());
    assert_eq!(status_field(plain, "CapBnd"), status_field(own, "CapBnd"));
    assert_eq!(status_field(plain, "Umask"), status_field(own, "Umask"));
    assert_eq!(limit(plain, "Max open files"), limit(own, "Max open files"));

    // The child shares foster's memory until exec: what it set stays its
    // own (the kernel copies oom_score_adj to every process sharing the
    // writer's memory, but a vfork child's).
    let test = i64::from(std::process::id());
    assert_eq!(oom_score_adj(own), oom_score_adj(test));
    assert_eq!(nice(own), nice(test));
    assert_eq!(status_field(own, "NoNewPrivs"), "0");
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn a_limit_or_oom_score_adj_that_cannot_be_set_fails_that_start_and_foster_keeps_running() {
    if !root() {
        return;
    }
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let over = nr_open * 2;
    // Lowering oom_score_adj needs CAP_SYS_RESOURCE, which a container's
    // root may not have: then that start fails, else it is applied.
    let may_lower = own_capability(CAP_SYS_RESOURCE);
    let (_dir, socket, mut running) = services(
        "limits-fail",
        &[
            (
                "toomany",
                format!("command: [sleep, \"1000\"]\nrestart: never\nlimits: {{nofile: {over}}}\n"),
            ),
            (
                "lower",
                "command: [sh, -c, \"echo lower up; exec sleep 1000\"]\nrestart: never\nuser: nobody\noom_score_adj: -100\n".into(),
            ),
            (
                "fine",
                "command: [sh, -c, \"echo fine up; exec sleep 1000\"]\n".into(),
            ),
        ],
    );
    said(
        &mut running,
        "toomany: cannot start: cannot set the limit nofile: Operation not permitted",
    );
    if may_lower {
        running.expect_line("lower up");
        crate::util::eventually("lower running", || pid_of(&socket, "lower") > 0);
        assert_eq!(oom_score_adj(pid_of(&socket, "lower")), -100);
    } else {
        said(
            &mut running,
            "lower: cannot start: cannot set oom_score_adj -100: Permission denied",
        );
    }
    crate::util::eventually("toomany failed", || {
        fosterctl(&socket, &["status", "--json", "toomany"])
            .1
            .contains("\"state\":\"failed\"")
    });
    // foster is unharmed: it answers and runs the rest.
    crate::util::eventually("fine running", || pid_of(&socket, "fine") > 0);
    running.signal(libc::SIGTERM);
    assert_eq!(running.finish().code(), 0);
}

#[test]
fn one_command_limit_sets_the_commands_soft_and_hard_limits() {
    let done = run(
        Mode::Subreaper,
        &[
            "--limit",
            "nofile=1024:2048",
            "--limit=core=0",
            "--",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn; ulimit -c",
        ],
    );
    assert_eq!(done.code(), 0, "{:?}", done.stderr);
    assert_eq!(done.stdout, ["1024", "2048", "0"]);
}

#[test]
fn one_command_limit_that_cannot_be_set_says_which_and_a_bad_one_is_a_usage_error() {
    let done = run(Mode::Subreaper, &["--limit", "nofile=2:1", "--", "true"]);
    assert_eq!(done.code(), 2);
    assert!(
        done.stderr.iter().any(|l| l.contains(
            "--limit: nofile: the soft limit is above the hard one in \"2:1\" (SOFT:HARD)"
        )),
        "{:?}",
        done.stderr
    );
    let done = run(Mode::Subreaper, &["--limit", "files=1", "--", "true"]);
    assert_eq!(done.code(), 2);
    // No sensible limit is above the kernel's own ceiling.
    let done = run(
        Mode::Subreaper,
        &["--limit", "nofile=infinity", "--", "true"],
    );
    assert_ne!(done.code(), 0);
    assert!(
        done.stderr.iter().any(|l| l
            .contains("cannot run \"true\": cannot set the limit nofile: Operation not permitted")),
        "{:?}",
        done.stderr
    );
}

/// foster started under `setpriv` with only `bounding` in its bounding
/// set (so in its permitted set, as root): a container started with most
/// capabilities dropped.
fn services_with_caps(
    tag: &str,
    bounding: &str,
    units: &[(&str, String)],
) -> (TempDir, String, Running) {
    services_by(tag, units, |args| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.arg(format!("--bounding-set=-all,{bounding}"))
            .arg("--")
            .arg(crate::util::foster_bin())
            .arg("--no-cgroups")
            .args(args);
        cmd
    })
}

#[test]
fn capabilities_in_a_container_with_most_dropped_start_or_say_what_is_missing() {
    if !root() {
        return;
    }
    // Only NET_BIND_SERVICE left to foster, and asked for: nothing to take
    // out of the bounding set, so no CAP_SETPCAP is needed.
    let (_dir, socket, running) = services_with_caps(
        "caps-trimmed",
        "+net_bind_service",
        &[(
            "web",
            "command: [sleep, \"1000\"]\ncapabilities: [NET_BIND_SERVICE]\n".to_string(),
        )],
    );
    crate::util::eventually("web runs", || pid_of(&socket, "web") > 0);
    let pid = pid_of(&socket, "web");
    assert_eq!(status_field(pid, "CapEff"), "0000000000000400");
    assert_eq!(status_field(pid, "CapBnd"), "0000000000000400");
    fosterctl(&socket, &["shutdown"]);
    running.finish();
    // More left to foster than asked for, and no CAP_SETPCAP to take the
    // rest away: the start fails, saying why.
    let (_dir, socket, mut running) = services_with_caps(
        "caps-setpcap",
        "+net_bind_service,+setuid,+setgid",
        &[(
            "web",
            "command: [sleep, \"1000\"]\nuser: nobody\ncapabilities: [NET_BIND_SERVICE]\nrestart: never\n"
                .to_string(),
        )],
    );
    said(&mut running, "needs CAP_SETPCAP, which foster lacks here");
    fosterctl(&socket, &["shutdown"]);
    running.finish();
}
