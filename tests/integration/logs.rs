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

fn logs(socket: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    fosterctl(socket, &all)
}

#[test]
fn logs_shows_the_last_lines_of_every_service_in_the_order_read_with_fosters_own() {
    for mode in modes() {
        let dir = TempDir::new("logs-n");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("logs-n-units");
        // Each starts once the one before has exited: their lines come in
        // this order.
        units.write(
            "first.yaml",
            "type: oneshot\ncommand: \"echo one\"\nlog: prefix\n",
        );
        units.write(
            "second.yaml",
            "type: oneshot\ncommand: \"echo two; echo two-err >&2\"\nlog: plain\ndepends_on: [first]\n",
        );
        units.write(
            "third.yaml",
            "type: oneshot\ncommand: \"echo three\"\nlog: prefix\ndepends_on: [second]\n",
        );
        units.write("quiet.yaml", "command: [sleep, \"1000\"]\n");
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("third has run", || {
            field(
                &fosterctl(&socket, &["status", "--json", "third"]).1,
                "state",
            ) == "exited"
        });
        let (code, all, _) = logs(&socket, &[]);
        assert_eq!(code, 0, "{mode:?}");
        let relayed: Vec<&str> = all
            .lines()
            .filter_map(after_stamp)
            .filter(|l| !l.starts_with("foster | "))
            .collect();
        assert_eq!(
            relayed,
            [
                "first | one",
                "second | two",
                "second | two-err",
                "third | three"
            ],
            "{mode:?}: {all}"
        );
        // foster's own lines are there too, among them.
        assert!(
            all.lines()
                .filter_map(after_stamp)
                .any(|l| l.starts_with("foster | second: started as ")),
            "{mode:?}: {all}"
        );
        // One service; the last line only.
        let (_, second, _) = logs(&socket, &["second"]);
        let second: Vec<&str> = second.lines().filter_map(after_stamp).collect();
        assert_eq!(second, ["second | two", "second | two-err"], "{mode:?}");
        let (_, last, _) = logs(&socket, &["-n", "1", "first", "third"]);
        assert_eq!(
            last.lines().filter_map(after_stamp).collect::<Vec<_>>(),
            ["third | three"],
            "{mode:?}"
        );
        // What foster does not read, it says it cannot show; an unknown
        // name is refused.
        assert_eq!(
            logs(&socket, &["quiet"]).1,
            "quiet: not captured (log: inherit)\n"
        );
        let (code, _, err) = logs(&socket, &["nobody"]);
        assert_eq!(code, 1, "{mode:?}");
        assert!(err.contains("unknown service \"nobody\""), "{err}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

#[test]
fn logs_f_streams_new_lines_and_a_follower_that_never_reads_slows_nothing() {
    use std::io::{BufRead, Read, Write};
    for mode in modes() {
        let dir = TempDir::new("logs-f");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let go = dir.0.join("go").to_string_lossy().into_owned();
        let units = TempDir::new("logs-f-units");
        // Floods its output once `go` exists.
        units.write(
            "chatty.yaml",
            &format!(
                "command: \"while [ ! -e {go} ]; do sleep 0.05; done; i=0; while [ $i -lt 20000 ]; do echo \\\"line $i of a flood of lines\\\"; i=$((i+1)); done; echo flood-done; exec sleep 1000\"\nlog: prefix\n"
            ),
        );
        units.write(
            "echoer.yaml",
            "command: \"trap 'echo fresh-line' USR1; echo echoer-up; while :; do sleep 0.05; done\"\nlog: prefix\n",
        );
        units.write(
            "web.yaml",
            "command: [sleep, \"1000\"]\nrestart_delay: 0s\n",
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("echoer is up", || {
            logs(&socket, &["echoer"]).1.contains("echoer | echoer-up")
        });
        // A follower that never reads.
        let mut slow = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        slow.write_all(b"logs -f -n 0 chatty\n").unwrap();
        // A follower that does, through fosterctl.
        let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_fosterctl"))
            .args(["--socket", &socket, "logs", "-f", "-n", "0", "echoer"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
        std::fs::write(&go, "").unwrap();
        eventually("the flood is over", || {
            logs(&socket, &["-n", "1", "chatty"])
                .1
                .contains("chatty | flood-done")
        });
        // foster went on: a restart is done and status answers.
        let before = field(&fosterctl(&socket, &["status", "--json", "web"]).1, "pid");
        assert_eq!(fosterctl(&socket, &["restart", "web"]).0, 0, "{mode:?}");
        let after = field(&fosterctl(&socket, &["status", "--json", "web"]).1, "pid");
        assert_ne!(before, after, "{mode:?}");
        // A new line reaches the follower that reads.
        assert_eq!(fosterctl(&socket, &["kill", "echoer", "USR1"]).0, 0);
        // (The shell may first report its `sleep`, killed by the signal.)
        let got: Vec<String> = lines
            .by_ref()
            .take(3)
            .map(|l| l.expect("readable"))
            .take_while(|l| after_stamp(l) != Some("echoer | fresh-line"))
            .collect();
        assert!(got.len() < 3, "{mode:?}: no fresh line, but {got:?}");
        // The one that never read: what did not fit was skipped, and said.
        slow.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        while !String::from_utf8_lossy(&seen).contains(" lines skipped]\n") {
            let n = slow.read(&mut buf).expect("the follower's lines");
            assert!(n > 0, "{mode:?}: the follower was closed");
            seen.extend_from_slice(&buf[..n]);
        }
        let seen = String::from_utf8_lossy(&seen);
        assert!(seen.starts_with("ok\n"), "{mode:?}");
        // What it got before the skip is whole lines, in order.
        let first = seen.lines().nth(1).unwrap_or_default();
        assert_eq!(
            after_stamp(first),
            Some("chatty | line 0 of a flood of lines"),
            "{mode:?}"
        );
        let _ = follower.kill();
        let _ = follower.wait();
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

#[test]
fn a_service_switched_from_inherit_to_prefix_by_a_reload_is_captured_from_its_next_start() {
    for mode in modes() {
        let dir = TempDir::new("logs-reload");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("logs-reload-units");
        units.write(
            "web.yaml",
            "command: \"echo run-output; exec sleep 1000\"\n",
        );
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("web runs", || {
            field(&fosterctl(&socket, &["status", "--json", "web"]).1, "state") == "running"
        });
        assert_eq!(
            logs(&socket, &["web"]).1,
            "web: not captured (log: inherit)\n",
            "{mode:?}"
        );
        units.write(
            "web.yaml",
            "command: \"echo run-output; exec sleep 1000\"\nlog: prefix\n",
        );
        assert_eq!(fosterctl(&socket, &["reload"]).0, 0, "{mode:?}");
        eventually("the new run is captured", || {
            logs(&socket, &["web"])
                .1
                .lines()
                .filter_map(after_stamp)
                .any(|l| l == "web | run-output")
        });
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

/// The numbered lines of a log file, in order.
fn numbers_in(path: &std::path::Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.strip_prefix("web | line ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{}: a line cut or foreign: {l:?}", path.display()))
        })
        .collect()
}

#[test]
fn log_files_rotate_at_their_size_keeping_log_keep_files_of_whole_lines() {
    use std::os::unix::fs::MetadataExt;
    for mode in modes() {
        let dir = TempDir::new("logs-rotate");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let file = dir.0.join("web.log");
        let units = TempDir::new("logs-rotate-units");
        // 400 lines of about 40 bytes (16 KB) into files of at most 2 KiB:
        // the current one and two rotated ones are kept.
        units.write(
            "web.yaml",
            &format!(
                "command: \"i=0; while [ $i -lt 400 ]; do echo \\\"line $i of the web service\\\"; i=$((i+1)); done; echo last-line; exec sleep 1000\"\nlog: prefix\nlog_file: {}\nlog_max_size: 2K\nlog_keep: 2\nuser: nobody\n",
                file.display()
            ),
        );
        std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("the last line is written", || {
            std::fs::read_to_string(&file).is_ok_and(|t| t.contains("web | last-line"))
        });
        fosterctl(&socket, &["shutdown"]);
        running.finish();
        let (one, two, three) = (
            dir.0.join("web.log.1"),
            dir.0.join("web.log.2"),
            dir.0.join("web.log.3"),
        );
        assert!(!three.exists(), "{mode:?}: more than log_keep files");
        for path in [&file, &one, &two] {
            let meta = std::fs::metadata(path).unwrap();
            assert!(
                meta.len() <= 2048,
                "{mode:?}: {} is {} bytes",
                path.display(),
                meta.len()
            );
            // 0640, the service's user's.
            assert_eq!(meta.mode() & 0o777, 0o640, "{mode:?}");
            assert_eq!(meta.uid(), 65534, "{mode:?}");
        }
        // Oldest to newest, the numbers run on without a gap, and each
        // file but the current one ends where the next begins: no line
        // lost or split.
        let mut kept = numbers_in(&two);
        kept.extend(numbers_in(&one));
        let current = std::fs::read_to_string(&file).unwrap();
        let (before_last, _) = current.split_once("web | last-line").unwrap();
        let tmp = dir.0.join("current");
        std::fs::write(&tmp, before_last).unwrap();
        kept.extend(numbers_in(&tmp));
        assert!(!kept.is_empty(), "{mode:?}");
        let first = kept[0];
        assert_eq!(
            kept,
            (first..400).collect::<Vec<_>>(),
            "{mode:?}: lines lost or out of order"
        );
    }
}

#[test]
fn a_full_disk_drops_and_counts_the_files_lines_and_the_service_goes_on() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "CI=true but not root");
        eprintln!("note: skipping: mounting a small tmpfs needs root");
        return;
    }
    for mode in modes() {
        let dir = TempDir::new("logs-full");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let disk = dir.0.join("disk");
        std::fs::create_dir(&disk).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&disk)
            .status()
            .unwrap();
        assert!(mounted.success(), "cannot mount a tmpfs");
        let file = disk.join("web.log");
        let go = dir.0.join("go");
        let units = TempDir::new("logs-full-units");
        // 3,000 lines (about 100 KB) fill the 64 KB disk; once `go` exists
        // it says it is still there, again and again.
        units.write(
            "web.yaml",
            &format!(
                "command: \"i=0; while [ $i -lt 3000 ]; do echo \\\"line $i of a service filling the disk\\\"; i=$((i+1)); done; echo flood-over; while [ ! -e {} ]; do sleep 0.05; done; while :; do echo still-here; sleep 0.2; done\"\nlog: prefix\nlog_file: {}\n",
                go.display(),
                file.display()
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        running.expect_line("web | flood-over");
        running.expect_stderr("web: log file");
        // The file holds whole lines only, fewer than were written.
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.ends_with('\n'), "{mode:?}: a line cut");
        assert!(text.lines().count() < 3000, "{mode:?}");
        // Room again: writing resumes, and the drop is counted.
        std::fs::remove_file(&file).unwrap();
        // It says so every 200 ms: the file takes it once foster tries it
        // again (a second after it failed).
        std::fs::write(&go, "").unwrap();
        running.expect_line("web | still-here");
        running.expect_stderr("lines were dropped)");
        eventually("the file is written again", || {
            std::fs::read_to_string(&file).is_ok_and(|t| t.contains("web | still-here"))
        });
        assert_eq!(
            field(&fosterctl(&socket, &["status", "--json", "web"]).1, "state"),
            "running"
        );
        fosterctl(&socket, &["shutdown"]);
        running.finish();
        let _ = std::process::Command::new("umount").arg(&disk).status();
    }
}
