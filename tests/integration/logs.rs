//! Logs users can read (issue 16, items 1 and 2): `log: plain` relays a
//! service's lines unchanged, `log: none` discards them, and
//! `--log-timestamps` (or `FOSTER_LOG_TIMESTAMPS=1`) puts an RFC 3339 UTC
//! time with milliseconds before foster's own lines and relayed lines,
//! which a unit's `log_timestamps:` can turn off for its own.

use crate::control::fosterctl;
use crate::tracking::field;
use crate::util::{TempDir, eventually, foster, modes, start};

/// `2026-12-03T06:20:01.123Z ` at the start of `line`: what follows it.
fn after_stamp(line: &str) -> Option<&str> {
    let (stamp, rest) = line.split_at_checked(25)?;
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shaped = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && &b[23..25] == b"Z ";
    shaped.then_some(rest)
}

fn units() -> TempDir {
    let units = TempDir::new("logs-units");
    units.write(
        "web.yaml",
        "command: \"echo hello from web; exec sleep 1000\"\nlog: prefix\n",
    );
    units.write(
        "quiet.yaml",
        "command: \"echo hello from quiet; exec sleep 1001\"\nlog: prefix\nlog_timestamps: false\n",
    );
    units.write(
        "raw.yaml",
        "command: \"echo hello raw; echo to stderr >&2; exec sleep 1002\"\nlog: plain\n",
    );
    units.write(
        "hush.yaml",
        "type: oneshot\ncommand: \"echo secret from hush; echo secret error >&2\"\nlog: none\n",
    );
    units
}

#[test]
fn timestamps_come_first_when_asked_and_plain_and_none_relay_unchanged_or_nothing() {
    for mode in modes() {
        for stamped in [true, false] {
            let dir = TempDir::new("logs");
            let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
            let units = units();
            let units_path = units.path();
            let mut args = vec!["--socket", &socket, "--services", &units_path];
            if stamped {
                args.insert(0, "--log-timestamps");
            }
            let mut running = start(foster(mode, &args));
            eventually("hush has run", || {
                field(
                    &fosterctl(&socket, &["status", "--json", "hush"]).1,
                    "state",
                ) == "exited"
            });
            let mut seen = Vec::new();
            while seen.len() < 3 {
                seen.push(running.line());
            }
            running.expect_stderr("to stderr");
            fosterctl(&socket, &["shutdown"]);
            let finished = running.finish();
            let stdout: Vec<String> = seen.into_iter().chain(finished.stdout).collect();
            let stderr = finished.stderr;
            let find = |lines: &[String], text: &str| {
                lines
                    .iter()
                    .find(|l| l.ends_with(text))
                    .cloned()
                    .unwrap_or_else(|| panic!("{mode:?}: no {text:?} in {lines:?}"))
            };
            let web = find(&stdout, "web | hello from web");
            let raw = find(&stdout, "hello raw");
            let quiet = find(&stdout, "quiet | hello from quiet");
            // A unit's `log_timestamps: false` wins over the flag.
            assert_eq!(quiet, "quiet | hello from quiet", "{mode:?}");
            let started = stderr
                .iter()
                .find(|l| l.contains("foster: web: started as"))
                .unwrap_or_else(|| panic!("{mode:?}: {stderr:?}"));
            if stamped {
                assert_eq!(after_stamp(&web), Some("web | hello from web"), "{mode:?}");
                assert_eq!(after_stamp(&raw), Some("hello raw"), "{mode:?}");
                assert!(
                    after_stamp(started).is_some_and(|r| r.starts_with("foster: ")),
                    "{mode:?}: {started}"
                );
            } else {
                assert_eq!(web, "web | hello from web", "{mode:?}");
                // plain: the line as the service wrote it.
                assert_eq!(raw, "hello raw", "{mode:?}");
                assert!(started.starts_with("foster: "), "{mode:?}: {started}");
            }
            // plain keeps stdout and stderr apart, unprefixed.
            assert!(
                stderr
                    .iter()
                    .any(|l| l.ends_with("to stderr") && !l.contains('|')),
                "{mode:?}: {stderr:?}"
            );
            // none: nothing of it anywhere.
            assert!(
                !stdout.iter().chain(&stderr).any(|l| l.contains("secret")),
                "{mode:?}: {stdout:?} {stderr:?}"
            );
        }
    }
}

#[test]
fn foster_log_timestamps_in_the_environment_stamps_one_commands_log_too() {
    for mode in modes() {
        let mut cmd = foster(mode, &["-v", "--", "true"]);
        cmd.env("FOSTER_LOG_TIMESTAMPS", "1");
        let finished = start(cmd).finish();
        assert_eq!(finished.code(), 0, "{mode:?}");
        let line = finished
            .stderr
            .iter()
            .find(|l| l.contains("foster: "))
            .unwrap_or_else(|| panic!("{mode:?}: {:?}", finished.stderr));
        assert!(
            after_stamp(line).is_some_and(|r| r.starts_with("foster: ")),
            "{mode:?}: {line}"
        );
        let mut cmd = foster(mode, &["-v", "--", "true"]);
        cmd.env("FOSTER_LOG_TIMESTAMPS", "maybe");
        assert_eq!(start(cmd).finish().code(), 2, "{mode:?}");
    }
}
