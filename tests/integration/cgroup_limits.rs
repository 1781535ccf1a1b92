//! Issue 15 item 4 on this machine: where a unit's cgroup limits cannot be
//! enforced (`--no-cgroups`, or a cgroup v2 hierarchy without the
//! controllers, or foster's cgroup shared with other processes), the
//! service still runs, foster says so once, and `status --json` says
//! `limits_enforced: false`. Where they can, the VM test checks them
//! (`vm::vm_cgroup_limits_are_in_place_an_oom_kill_is_reported_and_a_fork_bomb_held`).

use crate::control::fosterctl;
use crate::util::{Mode, TempDir, eventually, foster, start};

/// Two services with limits, the first printing a line once it runs.
fn units(dir: &TempDir) -> String {
    let units = dir.0.join("units");
    std::fs::create_dir(&units).unwrap();
    std::fs::write(
        units.join("limited.yaml"),
        "command: \"echo limited runs; exec sleep 1000\"\nmemory_max: 32M\npids_max: 20\n",
    )
    .unwrap();
    std::fs::write(
        units.join("other.yaml"),
        "command: [sleep, \"1000\"]\nmemory_max: 64M\n",
    )
    .unwrap();
    units.to_string_lossy().into_owned()
}

fn field<'j>(json: &'j str, name: &str) -> &'j str {
    json.split(&format!("\"{name}\":"))
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

#[test]
fn with_no_cgroups_limited_services_run_foster_warns_once_and_limits_are_not_enforced() {
    let dir = TempDir::new("cglimits-none");
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let units = units(&dir);
    let mut running = start(foster(
        Mode::Subreaper,
        &["--socket", &socket, "--services", &units, "--no-cgroups"],
    ));
    running.expect_line("limited runs");
    for name in ["limited", "other"] {
        eventually(&format!("{name} running"), || {
            let (_, json, _) = fosterctl(&socket, &["status", "--json", name]);
            field(&json, "state") == "\"running\""
        });
        let (_, json, _) = fosterctl(&socket, &["status", "--json", name]);
        assert_eq!(field(&json, "limits_enforced"), "false", "{json}");
    }
    running.signal(libc::SIGTERM);
    let finished = running.finish();
    assert_eq!(finished.code(), 0);
    let warnings: Vec<&String> = finished
        .stderr
        .iter()
        .filter(|l| l.contains("cannot be enforced"))
        .collect();
    assert_eq!(
        warnings,
        [
            "foster: warning: cgroup limits cannot be enforced here (--no-cgroups): services run without them"
        ],
        "{:?}",
        finished.stderr
    );
}

/// With cgroups as this machine has them: the limits are enforced, and
/// then in the service's cgroup, or they are not, and foster said why
/// once. (A subreaper shares its cgroup with the test, which keeps it
/// from delegating memory there unless it is the root cgroup.)
#[test]
fn limits_are_enforced_where_this_machine_allows_and_said_once_where_not() {
    let dir = TempDir::new("cglimits-here");
    let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
    let units = units(&dir);
    let mut running = start(foster(
        Mode::Subreaper,
        &["--socket", &socket, "--services", &units],
    ));
    running.expect_line("limited runs");
    let mut enforced = Vec::new();
    for name in ["limited", "other"] {
        eventually(&format!("{name} running"), || {
            let (_, json, _) = fosterctl(&socket, &["status", "--json", name]);
            field(&json, "state") == "\"running\""
        });
        let (_, json, _) = fosterctl(&socket, &["status", "--json", name]);
        enforced.push(field(&json, "limits_enforced").to_string());
    }
    assert!(
        enforced == ["true", "true"] || enforced == ["false", "false"],
        "{enforced:?}"
    );
    running.signal(libc::SIGTERM);
    let finished = running.finish();
    assert_eq!(finished.code(), 0);
    let warnings = finished
        .stderr
        .iter()
        .filter(|l| l.contains("cannot be enforced"))
        .count();
    let expected = if enforced[0] == "true" { 0 } else { 1 };
    assert_eq!(warnings, expected, "{:?}", finished.stderr);
}
