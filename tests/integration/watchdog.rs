//! The watchdog (issue 15, item 2), as systemd's: a service that stops
//! sending `WATCHDOG=1` gets SIGABRT and is restarted, `WATCHDOG=trigger`
//! fires it at once, `WATCHDOG_USEC=` changes the timeout of the run, and
//! the service is given `WATCHDOG_USEC` and `WATCHDOG_PID` (its own PID)
//! whatever its type.

use crate::control::fosterctl;
use crate::tracking::field;
use crate::util::{TempDir, eventually, foster, modes, start, watchdog_pet};

fn lines(log: &str, prefix: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn status(socket: &str, name: &str) -> String {
    fosterctl(socket, &["status", "--json", name]).1
}

#[test]
fn a_service_that_stops_pinging_is_killed_with_sigabrt_and_restarted() {
    for mode in modes() {
        let dir = TempDir::new("watchdog");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let log = dir.0.join("pet.log").to_string_lossy().into_owned();
        let units = TempDir::new("watchdog-units");
        // Four pings half a second apart keep a 1 s watchdog happy for
        // 2 s; then it hangs.
        units.write(
            "pet.yaml",
            &format!(
                "command: [\"{}\", \"{log}\", ping, \"4\"]\nwatchdog: 1s\nrestart_delay: 0s\n",
                watchdog_pet()
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually(
            "the watchdog killed the first run and it was restarted",
            || lines(&log, "started ").len() >= 2,
        );
        let runs = lines(&log, "started ");
        // WATCHDOG_USEC in microseconds; WATCHDOG_PID the program's own.
        let first: Vec<&str> = runs[0].split(' ').collect();
        assert_eq!(first[2], "1000000", "{mode:?}: {runs:?}");
        assert_eq!(
            first[1], first[3],
            "{mode:?}: WATCHDOG_PID is not its PID: {runs:?}"
        );
        // Every ping was sent before the kill: the pings kept it alive
        // past its timeout, and the second run began after the last.
        let text = std::fs::read_to_string(&log).unwrap();
        let last_ping = text.find("ping 4").expect("four pings");
        assert!(last_ping < text.find(&runs[1]).unwrap(), "{mode:?}: {text}");
        let json = status(&socket, "pet");
        assert_eq!(field(&json, "last_exit"), "134", "{mode:?}: {json}");
        assert_eq!(
            field(&json, "last_exit_reason"),
            "watchdog",
            "{mode:?}: {json}"
        );
        assert_ne!(field(&json, "restarts"), "0", "{mode:?}: {json}");
        running.expect_stderr("pet: watchdog: no WATCHDOG=1 within 1s; sending SIGABRT");
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}

#[test]
fn watchdog_trigger_fires_at_once_and_watchdog_usec_retimes_the_run() {
    for mode in modes() {
        let dir = TempDir::new("watchdog-trigger");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let (trigger_log, usec_log) = (
            dir.0.join("trigger.log").to_string_lossy().into_owned(),
            dir.0.join("usec.log").to_string_lossy().into_owned(),
        );
        let units = TempDir::new("watchdog-trigger-units");
        // Watchdogs of an hour: only the trigger, or the shorter timeout
        // the run asks for, can fire within the test. A notify service
        // too, whose watchdog is armed once it is ready.
        units.write(
            "trigger.yaml",
            &format!(
                "command: [\"{}\", \"{trigger_log}\", trigger]\nwatchdog: 1h\nwatchdog_signal: TERM\nrestart: never\n",
                watchdog_pet()
            ),
        );
        units.write(
            "retimed.yaml",
            &format!(
                "command: [\"{}\", \"{usec_log}\", usec, \"300000\"]\nwatchdog: 1h\nrestart: never\n",
                watchdog_pet()
            ),
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        eventually("both watchdogs fired", || {
            field(&status(&socket, "trigger"), "state") == "failed"
                && field(&status(&socket, "retimed"), "state") == "failed"
        });
        let json = status(&socket, "trigger");
        // Its watchdog_signal, TERM: 143.
        assert_eq!(field(&json, "last_exit"), "143", "{mode:?}: {json}");
        assert_eq!(
            field(&json, "last_exit_reason"),
            "watchdog",
            "{mode:?}: {json}"
        );
        let json = status(&socket, "retimed");
        assert_eq!(field(&json, "last_exit"), "134", "{mode:?}: {json}");
        assert_eq!(
            field(&json, "last_exit_reason"),
            "watchdog",
            "{mode:?}: {json}"
        );
        running.expect_stderr("retimed: watchdog 300ms (WATCHDOG_USEC)");
        // Human status says why.
        let table = fosterctl(&socket, &["status", "trigger"]).1;
        assert!(
            table.contains("killed by its watchdog: WATCHDOG=trigger"),
            "{table}"
        );
        fosterctl(&socket, &["shutdown"]);
        running.finish();
    }
}
