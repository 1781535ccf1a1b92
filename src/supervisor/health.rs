//! Health checks (`health:`), with Docker's semantics: once a run is
//! ready (or, with `readiness: true`, from its start) a probe runs
//! `start_interval` later within `start_period`, else `interval` later,
//! and each next one that long after the previous finished; at most one at
//! a time; one past `timeout` is killed and failed. Exit 0 (a connection,
//! a 2xx/3xx answer) is a success, which ends the start period and makes
//! the run healthy; `retries` failures in a row outside the start period
//! make it unhealthy, and `on_unhealthy` decides what follows. An unhealthy
//! run stopped for it counts as a failure (`last_exit_reason:
//! "unhealthy"`) for the restart policy, its backoff and `restart_limit`.
//!
//! The core only keeps times: each probe's start and timeout are deadlines
//! among the others ([`Supervisor::next_deadline`]), so nothing wakes while
//! no probe is due and no thread waits on one. The event loop runs what
//! [`Action::Probe`] asks (a process, a connection, an HTTP request, all
//! without blocking) and reports [`Event::ProbeDone`].

use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::{Action, Phase, ProbeResult, Supervisor, send_stop_sequence};
use crate::service::{
    ExitReason, Health, HealthStatus, Life, ProbeState, Service, StopCause, Want, Watched,
};
use crate::sys::Pid;
use crate::unit::{HealthCheck, OnUnhealthy};

impl Supervisor {
    /// After each event: every run its health check is for has a health
    /// of its own, from the moment probes begin for it; a run that ended
    /// has none (its probe, if one runs, is cancelled).
    pub(super) fn settle_health(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for s in self.services.values_mut() {
            let Some(check) = &s.unit.health else {
                if let Some(id) = s.health.take().and_then(running_probe) {
                    actions.push(Action::CancelProbe { probe: id });
                }
                continue;
            };
            match probed_run(s, check) {
                Some(run) if s.health.is_some_and(|h| h.run == run) => {}
                Some(run) => {
                    if let Some(id) = s.health.and_then(running_probe) {
                        actions.push(Action::CancelProbe { probe: id });
                    }
                    let period_ends =
                        (!check.start_period.is_zero()).then(|| now + check.start_period);
                    let mut health = Health {
                        run,
                        status: HealthStatus::Starting,
                        failing_streak: 0,
                        period_ends,
                        probe: ProbeState::Due(now),
                    };
                    health.probe = ProbeState::Due(now + gap(check, &health, now));
                    s.health = Some(health);
                }
                None => {
                    if let Some(id) = s.health.take().and_then(running_probe) {
                        actions.push(Action::CancelProbe { probe: id });
                    }
                }
            }
        }
    }

    /// Probes due by `now` start; those past their timeout are cancelled
    /// and failed.
    pub(super) fn probes_due(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let mut timed_out = Vec::new();
        for s in self.services.values_mut() {
            let (Some(check), Some(health)) = (&s.unit.health, &mut s.health) else {
                continue;
            };
            // A run foster is ending is not probed any more.
            if s.verdict.is_some() && matches!(health.probe, ProbeState::Due(_)) {
                continue;
            }
            match health.probe {
                ProbeState::Due(at) if at <= now => {
                    self.next_probe = self.next_probe.wrapping_add(1);
                    let id = self.next_probe;
                    health.probe = ProbeState::Running {
                        id,
                        pid: None,
                        deadline: now + check.timeout,
                    };
                    debug!("{}: health probe {id}: {}", s.unit.name, check.probe);
                    actions.push(Action::Probe {
                        service: s.id,
                        probe: id,
                        check: check.probe.clone(),
                    });
                }
                ProbeState::Running { id, deadline, .. } if deadline <= now => {
                    actions.push(Action::CancelProbe { probe: id });
                    let why = format!(
                        "the probe timed out after {}",
                        crate::duration::format(check.timeout)
                    );
                    timed_out.push((s.unit.name.clone(), id, why));
                }
                _ => {}
            }
        }
        for (name, id, output) in timed_out {
            let result = ProbeResult {
                healthy: false,
                output,
            };
            self.probe_done(&name, id, result, now, actions);
        }
    }

    /// The loop says which process runs an exec probe.
    pub(super) fn on_probe_started(&mut self, name: &str, probe: u64, pid: Pid) {
        if let Some(Health {
            probe: ProbeState::Running { id, pid: slot, .. },
            ..
        }) = self.services.get_mut(name).and_then(|s| s.health.as_mut())
            && *id == probe
        {
            *slot = Some(pid);
        }
    }

    /// A probe is over: its result counts if it is the run's current probe
    /// (a cancelled one's, or one of a run that ended, does not).
    pub(super) fn probe_done(
        &mut self,
        name: &str,
        probe: u64,
        result: ProbeResult,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        let (Some(check), Some(health)) = (s.unit.health.clone(), &mut s.health) else {
            return;
        };
        if running_probe(*health) != Some(probe) {
            debug!("{name}: health probe {probe} is not awaited any more");
            return;
        }
        let before = health.status;
        if result.healthy {
            health.failing_streak = 0;
            health.period_ends = None;
            health.status = HealthStatus::Healthy;
        } else if health.in_period(now) {
            debug!("{name}: health probe failed within the start period (not counted)");
        } else {
            health.failing_streak = health.failing_streak.saturating_add(1);
            if health.failing_streak >= check.retries {
                health.status = HealthStatus::Unhealthy;
            }
        }
        health.probe = ProbeState::Due(now + gap(&check, health, now));
        let (after, streak) = (health.status, health.failing_streak);
        if !result.healthy {
            s.last_health_output = Some(result.output.clone());
        }
        match (before, after) {
            (HealthStatus::Healthy, HealthStatus::Healthy)
            | (HealthStatus::Starting, HealthStatus::Starting)
            | (HealthStatus::Unhealthy, HealthStatus::Unhealthy) => {}
            (_, HealthStatus::Healthy) => {
                info!("{name}: healthy");
                becomes_ready(s, &check);
            }
            (_, HealthStatus::Unhealthy) => {
                let first = result.output.lines().next().unwrap_or("").trim();
                let why = format!("{streak} health probes failed in a row");
                let why = if first.is_empty() {
                    why
                } else {
                    format!("{why} (last: {first})")
                };
                warn!(
                    "{name}: unhealthy: {why}; on_unhealthy: {}",
                    check.on_unhealthy.as_str()
                );
                self.unhealthy(name, &why, check.on_unhealthy, now, actions);
            }
            (_, HealthStatus::Starting) => {}
        }
    }

    /// What `on_unhealthy` says to do with a run found unhealthy.
    fn unhealthy(
        &mut self,
        name: &str,
        why: &str,
        on: OnUnhealthy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let up = self.phase == Phase::Up;
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if !up || on == OnUnhealthy::None {
            return;
        }
        s.verdict = Some(ExitReason::Unhealthy);
        s.reason = Some(format!("unhealthy: {why}"));
        match on {
            OnUnhealthy::Restart => {
                send_stop_sequence(s, now, actions);
                let launch = s.launch.map(|l| l.pid);
                let kill_all = s.unit.kill_mode == crate::unit::KillMode::All;
                if let Life::Stopping(stop) = &mut s.life {
                    // Its end counts (a failure), once what it left is gone.
                    stop.cause = StopCause::Failure;
                    if kill_all && !stop.origin.is_followed() {
                        stop.origin.session = launch.or(stop.left.as_ref().map(|w| w.main));
                    }
                }
            }
            OnUnhealthy::Stop => {
                s.want = Want::Down;
                send_stop_sequence(s, now, actions);
            }
            OnUnhealthy::Shutdown => {
                let code = *self.exit_code.get_or_insert(1);
                warn!("{name}: unhealthy: shutting down, foster exits {code}");
                self.begin_shutdown(None, now, actions);
            }
            OnUnhealthy::None => {}
        }
    }

    /// The processes that run probes: none of them is a service's.
    pub(super) fn probe_pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.services
            .values()
            .filter_map(|s| match s.health?.probe {
                ProbeState::Running { pid, .. } => pid,
                ProbeState::Due(_) => None,
            })
    }
}

impl Service {
    /// When its health check next needs the core: the next probe's start,
    /// or the running one's timeout.
    pub fn health_due(&self) -> Option<Instant> {
        let check = self.unit.health.as_ref()?;
        let health = self.health?;
        probed_run(self, check)?;
        // A run foster is ending is probed no more (its probe in flight
        // may still time out).
        if self.verdict.is_some() && matches!(health.probe, ProbeState::Due(_)) {
            return None;
        }
        Some(match health.probe {
            ProbeState::Due(at) => at,
            ProbeState::Running { deadline, .. } => deadline,
        })
    }

    /// Found unhealthy in this run.
    pub fn is_unhealthy(&self) -> bool {
        self.health
            .is_some_and(|h| h.status == HealthStatus::Unhealthy)
    }
}

/// The run probes are for, while probes are to run for it: a ready run;
/// with `readiness: true`, a starting one too (its first success makes it
/// ready).
fn probed_run(s: &Service, check: &HealthCheck) -> Option<Instant> {
    match &s.life {
        Life::Running { since, .. } => Some(*since),
        Life::Starting { since, .. } if check.readiness => Some(*since),
        _ => None,
    }
}

/// The probe running, if one does.
fn running_probe(health: Health) -> Option<u64> {
    match health.probe {
        ProbeState::Running { id, .. } => Some(id),
        ProbeState::Due(_) => None,
    }
}

/// How long from `now` until the next probe: `start_interval` within the
/// start period, and while a run whose readiness the probes decide is not
/// ready yet (its `start_timeout` is likely shorter than `interval`).
fn gap(check: &HealthCheck, health: &Health, now: Instant) -> Duration {
    let unready = check.readiness && health.status == HealthStatus::Starting;
    if health.in_period(now) || unready {
        check.start_interval
    } else {
        check.interval
    }
}

/// `readiness: true`: the first success makes a starting run ready.
fn becomes_ready(s: &mut Service, check: &HealthCheck) {
    // A run foster is ending does not become ready.
    if !check.readiness || s.verdict.is_some() {
        return;
    }
    if let Life::Starting {
        since,
        main,
        origin,
        ..
    } = s.life
    {
        info!("{}: ready (its first health probe succeeded)", s.unit.name);
        s.life = Life::Running {
            since,
            watched: Watched::one(main),
            origin,
        };
    }
}
