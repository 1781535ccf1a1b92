//! The watchdog (`watchdog:`, systemd's `WatchdogSec=`; sd_notify(3),
//! sd_watchdog_enabled(3)): a run that is ready must send `WATCHDOG=1`
//! within its timeout, again and again. One that does not, or sends
//! `WATCHDOG=trigger`, gets its `watchdog_signal` (SIGABRT, so that it
//! dumps core where it hangs), SIGKILL after `stop_timeout`, and its end
//! is a failure whatever status it managed (`last_exit_reason:
//! "watchdog"`): the restart policy decides. `WATCHDOG_USEC=N` changes
//! the timeout of the run that sends it, from now on.
//!
//! An armed watchdog is one more deadline among the core's
//! ([`Supervisor::next_deadline`]): no timer of its own, no wakeup until
//! one is due, and a ping only moves an instant.
//!
//! `EXTEND_TIMEOUT_USEC=N` is here too: it moves the deadline of the start
//! or the stop under way to at least N microseconds from now.

use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::{Action, Supervisor, signal_service};
use crate::notify::{Message, WatchdogRequest};
use crate::service::{ExitReason, Life, Service, StopCause, Watchdog};
use crate::signal;
use crate::unit::KillMode;

impl Supervisor {
    /// After each event: every live run has the watchdog its unit asks for
    /// (or its `WATCHDOG_USEC=` set), armed from the moment it is ready;
    /// a run that ended, or is being stopped, has none.
    pub(super) fn settle_watchdogs(&mut self, now: Instant) {
        for s in self.services.values_mut() {
            settle(s, now);
        }
    }

    /// The watchdogs due by `now` fire.
    pub(super) fn watchdogs_due(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for s in self.services.values_mut() {
            if s.watchdog_due().is_some_and(|due| due <= now) {
                let timeout = s.watchdog.map(|w| w.timeout).unwrap_or_default();
                let why = format!("no WATCHDOG=1 within {}", crate::duration::format(timeout));
                fire(s, &why, now, actions);
            }
        }
    }
}

impl Service {
    /// When its watchdog fires, while it is running and its watchdog is
    /// armed.
    pub fn watchdog_due(&self) -> Option<Instant> {
        match self.life {
            Life::Running { .. } => self.watchdog.and_then(|w| w.due),
            _ => None,
        }
    }
}

/// The watchdog's and the timeouts' part of a message from one of `s`'s
/// processes (the new run's, never the old run of an overlapped restart).
pub(super) fn notify_request(
    s: &mut Service,
    message: &Message,
    now: Instant,
    actions: &mut Vec<Action>,
) {
    if let Some(usec) = message.extend_timeout_usec {
        extend_timeout(s, usec, now);
    }
    if let Some(usec) = message.watchdog_usec {
        set_timeout(s, usec, now);
    }
    match message.watchdog {
        Some(WatchdogRequest::Ping) => {
            if let Some(w) = &mut s.watchdog
                && w.due.is_some()
            {
                w.due = now.checked_add(w.timeout);
            }
        }
        Some(WatchdogRequest::Trigger) if matches!(s.life, Life::Running { .. }) => {
            fire(s, "WATCHDOG=trigger", now, actions)
        }
        Some(WatchdogRequest::Trigger) => {
            debug!("{}: WATCHDOG=trigger before it is ready: ignored", s.name())
        }
        None => {}
    }
}

/// The run's start, while it has a run that a watchdog may be for.
fn live_run(s: &Service) -> Option<Instant> {
    match &s.life {
        Life::Starting { since, .. }
        | Life::AwaitingDaemon { since, .. }
        | Life::Running { since, .. }
        | Life::Succession { since, .. }
        | Life::AwaitingSuccessor { since, .. } => Some(*since),
        _ => None,
    }
}

fn settle(s: &mut Service, now: Instant) {
    let Some(run) = live_run(s) else {
        s.watchdog = None;
        return;
    };
    if s.watchdog.is_none_or(|w| w.run != run) {
        s.watchdog = s.unit.watchdog.map(|timeout| Watchdog {
            run,
            timeout,
            due: None,
        });
    }
    let running = matches!(s.life, Life::Running { .. });
    if let Some(w) = &mut s.watchdog {
        if !running {
            // A daemon handing over to its successor: the watchdog is
            // armed again, afresh, once the successor is followed.
            w.due = None;
        } else if w.due.is_none() && !w.timeout.is_zero() {
            w.due = now.checked_add(w.timeout);
        }
    }
}

/// `WATCHDOG_USEC=N`: the run's timeout is N from now on (0: none), armed
/// at once if the run is ready, as systemd does; also for a unit without
/// `watchdog:`.
fn set_timeout(s: &mut Service, usec: u64, now: Instant) {
    let Some(run) = live_run(s) else {
        return;
    };
    let timeout = Duration::from_micros(usec);
    let ready = matches!(s.life, Life::Running { .. });
    let due = (ready && !timeout.is_zero())
        .then(|| now.checked_add(timeout))
        .flatten();
    info!(
        "{}: watchdog {} (WATCHDOG_USEC)",
        s.name(),
        if timeout.is_zero() {
            "off".to_string()
        } else {
            crate::duration::format(timeout)
        }
    );
    s.watchdog = Some(Watchdog { run, timeout, due });
}

/// `EXTEND_TIMEOUT_USEC=N`: the start (`start_timeout`) or the stop
/// (`stop_timeout`) under way ends no sooner than N from now.
fn extend_timeout(s: &mut Service, usec: u64, now: Instant) {
    // At most a day, as any duration a unit may write: a service cannot
    // put off its SIGKILL for ever.
    let extension = Duration::from_micros(usec).min(Duration::from_secs(86_400));
    let Some(until) = now.checked_add(extension) else {
        return;
    };
    let deadline = match &mut s.life {
        Life::Starting { deadline, .. } => deadline.as_mut(),
        Life::AwaitingDaemon { deadline, .. } => Some(deadline),
        Life::Stopping(stop) => stop.deadline.as_mut(),
        _ => None,
    };
    match deadline {
        Some(d) if *d < until => {
            debug!("{}: timeout extended by {usec} µs", s.unit.name);
            *d = until;
        }
        Some(_) => {}
        None => debug!(
            "{}: EXTEND_TIMEOUT_USEC with no start or stop timeout running: ignored",
            s.unit.name
        ),
    }
}

/// The watchdog fires: `watchdog_signal` (and SIGCONT, so that a stopped
/// process can act on it) to the run, SIGKILL at `stop_timeout`; its end
/// will count as a failure.
fn fire(s: &mut Service, why: &str, now: Instant, actions: &mut Vec<Action>) {
    let sig = s.unit.watchdog_signal;
    warn!(
        "{}: watchdog: {why}; sending {}",
        s.name(),
        signal::name(sig)
    );
    s.verdict = Some(ExitReason::Watchdog);
    s.reason = Some(format!("killed by its watchdog: {why}"));
    s.watchdog = None;
    signal_service(s, sig, actions);
    signal_service(s, libc::SIGCONT, actions);
    s.begin_stop(Some(now + s.unit.stop_timeout), false);
    let launch = s.launch.map(|l| l.pid);
    let kill_all = s.unit.kill_mode == KillMode::All;
    if let Life::Stopping(stop) = &mut s.life {
        stop.cause = StopCause::Failure;
        // What the run leaves behind is awaited (and stopped) before its
        // end counts, as for a main process that ended by itself: the
        // restart must not meet it.
        if kill_all && !stop.origin.is_followed() {
            stop.origin.session = launch.or(stop.left.as_ref().map(|w| w.main));
        }
    }
}
