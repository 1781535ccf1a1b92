//! Overlapped restarts (`restart_mode: overlap`): `fosterctl restart` and
//! a reload that changed the unit start the new run beside the old one,
//! on the same held sockets, and stop the old one only once the new one
//! is ready; a new run that fails first (it exits, cannot be spawned, or
//! is not ready within `start_timeout`) is killed and the old one goes on
//! serving as the service's run. A crash still restarts stop-start: there
//! is no old run left to serve.
//!
//! The replaced run is an [`Outgoing`] beside the service's [`Life`]: the
//! life is the new run's, so everything else (readiness, status, the
//! restart policy once it is up) is as for any start. Only its own
//! processes are signalled, never the service's cgroup, which both runs
//! share.

use std::time::Instant;

use log::{info, warn};

use super::{Action, Phase, Supervisor, Target};
use crate::service::{ExitReason, Life, Outgoing, OutgoingState, Service, Want};
use crate::status::WaitStatus;
use crate::sys::Pid;
use crate::unit::{Kind, RestartMode, Unit};

impl Supervisor {
    /// Starts `name`'s new run beside the one that serves, when its unit
    /// (`unit`, the reload's new version, else its own) asks for an
    /// overlapped restart and it can have one: ready now, wanted up, no
    /// overlap already under way. `false`: it restarts stop-start.
    pub(super) fn begin_overlap(
        &mut self,
        name: &str,
        unit: Option<Unit>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> bool {
        if self.phase != Phase::Up {
            return false;
        }
        let Some(s) = self.services.get_mut(name) else {
            return false;
        };
        let next = unit.as_ref().unwrap_or(&s.unit);
        let able = next.restart_mode == RestartMode::Overlap
            && next.kind == Kind::Notify
            && s.want == Want::Up
            && s.outgoing.is_none();
        let Life::Running {
            since,
            watched,
            origin,
        } = &s.life
        else {
            return false;
        };
        if !able {
            return false;
        }
        info!(
            "{name}: overlapped restart: starting a new run beside {}",
            watched.main
        );
        let replaced = unit.map(|u| Box::new(std::mem::replace(&mut s.unit, u)));
        s.outgoing = Some(Outgoing {
            since: *since,
            watched: watched.clone(),
            origin: *origin,
            launch: s.launch,
            unit: replaced,
            state: OutgoingState::Serving,
        });
        s.restarts = s.restarts.saturating_add(1);
        s.life = Life::Spawning { since: now };
        actions.push(Action::Start(s.id));
        true
    }

    /// After each event: a new run that got ready retires the old one; a
    /// new run that ended, or could not start, gives the service back to
    /// the old one. Runs before anything is started in the turn (a failed
    /// new run must not be restarted meanwhile).
    pub(super) fn settle_overlaps(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let mut failed = Vec::new();
        let up = self.phase == Phase::Up;
        for s in self.services.values_mut() {
            let Some(out) = &s.outgoing else { continue };
            if out.state != OutgoingState::Serving {
                continue;
            }
            if !up {
                // Shutting down: the old run goes whatever the new one does.
                stop_outgoing(s, now, actions);
                continue;
            }
            match &s.life {
                Life::Spawning { .. } | Life::Starting { .. } => {}
                Life::Running { watched, .. } => {
                    info!(
                        "{}: the new run ({}) is ready; stopping the old one ({})",
                        s.name(),
                        watched.main,
                        out.watched.main
                    );
                    stop_outgoing(s, now, actions);
                }
                // Stopped with the new run (a stop, a shutdown): they
                // were both sent their stop sequence.
                Life::Stopping(_) => {}
                // It ended, or never started.
                _ => failed.push(s.name().to_string()),
            }
        }
        for name in failed {
            self.overlap_failed(&name, None, actions);
        }
    }

    /// The new run failed before it was ready (`ended`: its main process
    /// exited so): what is left of it is killed, and the old run is the
    /// service's again; those waiting on the restart are told it failed.
    pub(super) fn overlap_failed(
        &mut self,
        name: &str,
        ended: Option<(Pid, WaitStatus)>,
        actions: &mut Vec<Action>,
    ) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let Some(out) = s.outgoing.take() else {
            return;
        };
        if let Some((pid, status)) = ended {
            s.last_exit = Some(status);
            s.last_exit_reason = Some(s.end_reason().unwrap_or(ExitReason::of(status)));
            // Its process group: what the new run's leader left.
            actions.push(Action::Signal {
                target: Target::Group(pid),
                sig: libc::SIGKILL,
            });
        }
        let why = match (&s.reason, ended) {
            (Some(reason), _) => reason.clone(),
            (None, Some((_, status))) => format!("it {status} before it was ready"),
            (None, None) => "it did not get ready".to_string(),
        };
        warn!(
            "{name}: the new run failed ({why}); the old one ({}) keeps serving",
            out.watched.main
        );
        s.reason = Some(format!(
            "overlapped restart failed: {why}; the old run keeps serving"
        ));
        s.life = Life::Running {
            since: out.since,
            watched: out.watched,
            origin: out.origin,
        };
        s.launch = out.launch;
        if let Some(unit) = out.unit {
            warn!("{name}: its new unit is not applied; reload again to retry");
            s.unit = *unit;
        }
        s.failures = s.failures.saturating_add(1);
        let id = s.id;
        let why = format!("{name}: overlapped restart failed: {why}; the old run keeps serving");
        self.fail_waiting_starts(id, &why, actions);
    }

    /// A process of the run an overlapped restart replaces ended. Its main
    /// process ending ends that run (whether it was retired or ended by
    /// itself meanwhile); what it left in its session gets the stop
    /// signal.
    pub(super) fn outgoing_exited(&mut self, name: &str, pid: Pid, status: WaitStatus) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let Some(out) = &mut s.outgoing else {
            return;
        };
        if out.watched.main != pid {
            out.watched.others.retain(|&p| p != pid);
            return;
        }
        match out.state {
            OutgoingState::Serving => {
                warn!("{name}: the old run's {pid} {status} while the new run starts")
            }
            OutgoingState::Stopping { .. } => {
                info!("{name}: the old run ({pid}) stopped ({status})")
            }
        }
        s.outgoing = None;
    }

    /// The old run of an overlapped restart is still there at its
    /// `stop_timeout`: SIGKILL.
    pub(super) fn outgoing_due(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for s in self.services.values_mut() {
            if s.outgoing_deadline().is_none_or(|due| due > now) {
                continue;
            }
            let Some(out) = &mut s.outgoing else { continue };
            warn!(
                "{}: the old run ({}) is still running {:?} after its stop signal; killing it",
                s.unit.name, out.watched.main, s.unit.stop_timeout
            );
            out.state = OutgoingState::Stopping { deadline: None };
            for target in outgoing_targets(out) {
                actions.push(Action::Signal {
                    target,
                    sig: libc::SIGKILL,
                });
            }
        }
    }
}

/// Sends the old run of an overlapped restart its stop sequence (stop
/// signal, SIGCONT, SIGKILL at `stop_timeout`), if it is still serving.
pub(super) fn stop_outgoing(s: &mut Service, now: Instant, actions: &mut Vec<Action>) {
    let (stop_signal, timeout) = (s.unit.stop_signal, s.unit.stop_timeout);
    let Some(out) = &mut s.outgoing else { return };
    if out.state != OutgoingState::Serving {
        return;
    }
    out.state = OutgoingState::Stopping {
        deadline: Some(now + timeout),
    };
    for sig in [stop_signal, libc::SIGCONT] {
        for target in outgoing_targets(out) {
            actions.push(Action::Signal { target, sig });
        }
    }
}

/// The old run's processes: the process group of the process foster
/// started (each process by pidfd for one named by `MAINPID=`), and the
/// session its launch leads (what it started and moved out of its
/// group).
fn outgoing_targets(out: &Outgoing) -> Vec<Target> {
    let mut targets: Vec<Target> = if out.origin.is_followed() {
        out.watched.pids().map(Target::Process).collect()
    } else {
        vec![Target::Group(out.watched.main)]
    };
    if let Some(launch) = out.launch {
        targets.push(Target::Session {
            sid: launch.pid,
            since: launch.ticks,
        });
    }
    targets
}
