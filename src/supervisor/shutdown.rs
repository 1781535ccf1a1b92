//! The shutdown: the main command first, then each service once what
//! depends on it is down, then whatever is left (SIGTERM, the grace,
//! SIGKILL); a critical service's end and a failed dependency's.

use std::time::Instant;

use log::{info, warn};

use super::{Action, Main, Phase, Supervisor, Target, abandon_launch, send_stop_sequence};
use crate::service::{Ending, Life, Service};
use crate::signal;
use crate::status::WaitStatus;

impl Supervisor {
    pub(super) fn on_reap_done(
        &mut self,
        children_left: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        match self.phase {
            Phase::Settling | Phase::Draining { .. } if !children_left => {
                actions.push(Action::Exit(self.exit_code.unwrap_or(0)));
            }
            Phase::Settling if self.settings.grace.is_zero() || self.kill_all => {
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGKILL,
                });
                self.phase = Phase::Draining { killed: true };
            }
            Phase::Settling => {
                info!(
                    "sending SIGTERM to the processes left behind, SIGKILL in {:?}",
                    self.settings.grace
                );
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGTERM,
                });
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGCONT,
                });
                self.phase = Phase::Draining { killed: false };
                self.deadline = Some(now + self.settings.grace);
            }
            Phase::Draining { killed: true } => {
                // Something forked while being killed: kill again.
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGKILL,
                });
            }
            _ => {}
        }
    }

    /// Starts the shutdown. `sig`: the signal that asked for it, passed on to
    /// the main command.
    pub(super) fn begin_shutdown(
        &mut self,
        sig: Option<i32>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if self.phase != Phase::Up {
            return;
        }
        self.phase = Phase::Stopping;
        // With services, the log says what a long shutdown waits for; one
        // command stays silent, as tini does.
        if self.services_mode {
            self.progress_at = Some(now + super::PROGRESS_EVERY);
        }
        match self.main {
            Main::Running(pid) => {
                let sig = sig.unwrap_or(libc::SIGTERM);
                let target = if self.settings.forward_to_group {
                    Target::Group(pid)
                } else {
                    Target::Process(pid)
                };
                actions.push(Action::Signal { target, sig });
                actions.push(Action::Signal {
                    target,
                    sig: libc::SIGCONT,
                });
                self.deadline = Some(now + self.settings.grace);
            }
            Main::Waiting => self.main = Main::Done,
            _ => {}
        }
        // What is not running is not started any more; a launch that
        // awaits its daemon is dropped.
        for s in self.services.values_mut() {
            if matches!(
                s.life,
                Life::Waiting
                    | Life::Spawning { .. }
                    | Life::AwaitingDaemon { .. }
                    | Life::Backoff { .. }
            ) {
                abandon_launch(s, actions);
                s.life = Life::Done {
                    ending: Ending::Stopped,
                    ready: false,
                };
            }
        }
    }

    /// A shutdown that waits says what for: one line for the main command
    /// and for each service still stopping, then for what is left behind.
    pub(super) fn report_waits(&self, now: Instant) {
        let until = |deadline: Option<Instant>| match deadline {
            Some(due) => format!(
                "SIGKILL in {}s",
                due.saturating_duration_since(now).as_secs_f64().ceil()
            ),
            None => "SIGKILL sent".to_string(),
        };
        match (self.phase, self.main) {
            (Phase::Stopping, Main::Running(pid)) => {
                info!(
                    "waiting for the main command ({pid}): {}",
                    until(self.deadline)
                );
            }
            (Phase::Draining { .. }, _) => {
                info!(
                    "waiting for the processes left behind: {}",
                    until(self.deadline)
                );
            }
            _ => {}
        }
        for s in self.services.values() {
            if let Life::Stopping(stop) = &s.life {
                info!("waiting for {}: {}", s.name(), until(stop.deadline));
            }
        }
    }

    /// A critical service ended for good: shut down with its status.
    pub(super) fn critical_ended(
        &mut self,
        name: &str,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let critical = self.services.get(name).is_some_and(|s| s.unit.critical);
        if critical && self.phase == Phase::Up {
            // The run's status is the first ender's: this service's, even
            // with a main command (started or not), whose own end after
            // foster's SIGTERM does not change it.
            let code = *self
                .exit_code
                .get_or_insert(self.settings.expected.map(status.shell_code()));
            if self.follow.is_some() {
                info!("the daemon has ended ({status})");
            } else {
                warn!(
                    "{name} is critical and has ended ({status}): shutting down, foster exits {code}"
                );
            }
            self.begin_shutdown(None, now, actions);
        }
    }

    /// Fails every service that waits, directly or not, on `name`.
    pub(super) fn fail_dependents(&mut self, name: &str) {
        let mut failed = vec![name.to_string()];
        while let Some(dep) = failed.pop() {
            for s in self.services.values_mut() {
                if s.is_waiting() && s.unit.depends_on.contains(&dep) {
                    warn!("{}: not starting: its dependency {dep} failed", s.name());
                    s.life = Life::Done {
                        ending: Ending::Failed,
                        ready: false,
                    };
                    s.reason = Some(format!("dependency {dep} failed"));
                    failed.push(s.name().to_string());
                }
            }
        }
    }

    /// Work that follows any event: start what became startable, advance
    /// the shutdown.
    pub(super) fn after(&mut self, now: Instant, from_reaper: bool, actions: &mut Vec<Action>) {
        self.settle_overlaps(now, actions);
        if self.phase == Phase::Up {
            self.start_ready(now, actions);
            return;
        }
        if self.phase != Phase::Stopping {
            return;
        }
        // The main command goes first.
        if let Main::Running(_) = self.main {
            return;
        }
        // Then each service once everything depending on it is down.
        let down: Vec<String> = self
            .services
            .values()
            .filter(|s| s.is_down())
            .map(|s| s.name().to_string())
            .collect();
        let mut stop = Vec::new();
        for s in self.services.values() {
            if !matches!(
                s.life,
                Life::Starting { .. } | Life::Running { .. } | Life::AwaitingSuccessor { .. }
            ) {
                continue;
            }
            let dependents_down = self
                .services
                .values()
                .filter(|d| d.unit.depends_on.iter().any(|n| n == s.name()))
                .all(|d| down.iter().any(|n| n == d.name()));
            if dependents_down {
                stop.push(s.name().to_string());
            }
        }
        for name in stop {
            if let Some(s) = self.services.get_mut(&name) {
                info!("{name}: stopping with {}", signal::name(s.unit.stop_signal));
                send_stop_sequence(s, now, actions);
            }
        }
        if self.services.values().all(Service::is_down) {
            self.phase = Phase::Settling;
            if !from_reaper {
                actions.push(Action::Reap);
            }
        }
    }
}
