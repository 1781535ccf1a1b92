//! Two keys every peer has: `env_file` (read at each start, before `env:`,
//! a missing file fails that start unless it is optional) and `autostart:
//! false` (loaded, shown stopped, started only on request; what depends on
//! it waits, the main command does not).

use crate::control::fosterctl;
use crate::util::{TempDir, foster, modes, start};

#[test]
fn env_files_are_read_at_each_start_before_env_and_a_missing_one_fails_that_start() {
    for mode in modes() {
        let dir = TempDir::new("envfile");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let file = dir.write(
            "web.env",
            "# settings\nA=from_file\nB=\"quoted value\"\n\nexport C=overridden\n",
        );
        let units = TempDir::new("envfile-units");
        units.write(
            "web.yaml",
            &format!(
                "env_file: [\"{file}\", \"-/nonexistent/optional.env\"]\nenv: {{C: from_env}}\n\
                 command: [\"/bin/sh\", \"-c\", \"echo \\\"web $A|$B|$C\\\"; exec sleep 1000\"]\n"
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        running.expect_line("web from_file|quoted value|from_env");

        // Edited: the next start reads it again.
        std::fs::write(&file, "A=changed\nB='single'\n").unwrap();
        let (code, out, err) = fosterctl(&socket, &["restart", "web"]);
        assert_eq!(code, 0, "{mode:?} {out} {err}");
        running.expect_line("web changed|single|from_env");

        // Gone, and not optional: that start fails, saying which file.
        std::fs::remove_file(&file).unwrap();
        let (code, out, err) = fosterctl(&socket, &["restart", "web"]);
        assert_eq!(code, 1, "{mode:?} {out} {err}");
        assert!(
            err.contains(&format!("env_file {file}: cannot open")),
            "{mode:?} {out} {err}"
        );
        // A line that is not KEY=VALUE fails it too, with the line.
        std::fs::write(&file, "A=1\nHOME\n").unwrap();
        let (code, out, err) = fosterctl(&socket, &["start", "web"]);
        assert_eq!(code, 1, "{mode:?} {out} {err}");
        assert!(
            err.contains(&format!("env_file {file}: line 2:")),
            "{mode:?} {err}"
        );
        let (code, out, _) = fosterctl(&socket, &["status", "web"]);
        assert_ne!(code, 0, "{mode:?} {out}");
        // on-failure, the default: it waits to be tried again, the file
        // read anew then.
        assert!(out.contains("backoff"), "{mode:?} {out}");
        assert!(out.contains("line 2: `HOME` has no `=`"), "{mode:?} {out}");
        fosterctl(&socket, &["shutdown"]);
        assert_eq!(running.finish().code(), 0, "{mode:?}");
    }
}

#[test]
fn an_autostart_false_service_is_shown_stopped_and_starts_on_request_with_what_waits_for_it() {
    for mode in modes() {
        let dir = TempDir::new("autostart");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("autostart-units");
        units.write(
            "manual.yaml",
            "autostart: false\ncommand: [\"/bin/sh\", \"-c\", \"echo manual up; exec sleep 1000\"]\n",
        );
        units.write(
            "after.yaml",
            "depends_on: [manual]\ncommand: [\"/bin/sh\", \"-c\", \"echo after up; exec sleep 1000\"]\n",
        );
        let mut running = start(foster(
            mode,
            &[
                "--socket",
                &socket,
                "--services",
                &units.path(),
                "--",
                "sh",
                "-c",
                "echo main up; exec sleep 1000",
            ],
        ));
        // The main command does not wait for the service held back.
        running.expect_line("main up");
        let (code, out, _) = fosterctl(&socket, &["status", "manual"]);
        assert_eq!(code, 3, "{mode:?} {out}");
        assert!(out.contains("stopped"), "{mode:?} {out}");
        let (code, out, err) = fosterctl(&socket, &["start", "manual"]);
        assert_eq!(code, 0, "{mode:?} {out} {err}");
        assert_eq!(running.line(), "manual up", "{mode:?}");
        assert_eq!(running.line(), "after up", "{mode:?}");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}
