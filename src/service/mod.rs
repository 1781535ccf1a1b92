//! One service's life: where it is ([`Life`]), what is wanted of it
//! ([`Want`]), and what it has been through (restarts, last exit).
//!
//! Each [`Life`] variant carries exactly the data valid in it: a deadline
//! exists only where something is awaited, a process only where one runs,
//! the "already killed" mark only in a stop. What is *wanted* is kept apart
//! (as dinit keeps `service_state` and `desired_state`): a stop requested by
//! `fosterctl stop`, a restart once a stop completes, the removal of a unit
//! a reload dropped — so no combination of flags has to be thought about
//! in every place that changes a state. Pure data and small decisions; the
//! [`Supervisor`](crate::supervisor) drives these from events and turns the
//! results into actions.

use std::time::{Duration, Instant};

use crate::status::WaitStatus;
use crate::sys::Pid;
use crate::unit::{Kind, Restart, Unit};

mod life;
#[cfg(test)]
pub(crate) mod tests;

pub use life::{
    Ending, ExitReason, Health, HealthStatus, Launched, Life, Origin, Outcome, Outgoing,
    OutgoingState, PidSource, ProbeState, ServiceId, Stop, StopCause, Want, Watchdog, Watched,
};

/// How long a service must stay up for its next failure to count as the
/// first again (the backoff starts over from `restart_delay`).
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Service {
    pub id: ServiceId,
    pub unit: Unit,
    pub life: Life,
    pub want: Want,
    /// A reload changed the unit: this version applies from the next start.
    pub pending: Option<Unit>,
    pub restarts: u32,
    /// Failures in a row, for the backoff.
    pub failures: u32,
    /// When it was last restarted by its policy, within its
    /// `restart_limit_interval` (at most `restart_limit` of them).
    pub recent_restarts: std::collections::VecDeque<Instant>,
    pub last_exit: Option<WaitStatus>,
    /// Why the last run ended (set with `last_exit`).
    pub last_exit_reason: Option<ExitReason>,
    /// foster is ending the current run for a reason of its own (its
    /// watchdog, its start timeout): its end is then a failure for that
    /// reason, whatever its status. Cleared at each spawn.
    pub verdict: Option<ExitReason>,
    /// The OOM killer killed a process of the current run: its end is a
    /// failure for that (`last_exit_reason: oom`) unless foster ended it
    /// for a reason of its own first. Cleared at each spawn.
    pub oom_killed: bool,
    /// The current run's watchdog, when it has one (see
    /// `supervisor::watchdog`).
    pub watchdog: Option<Watchdog>,
    /// The current run's health, when its unit has `health:` (see
    /// `supervisor::health`).
    pub health: Option<Health>,
    /// The first 4 KiB of the output of the last probe that failed (kept
    /// across runs: why the last one was found unhealthy).
    pub last_health_output: Option<String>,
    /// Why the last start failed, for messages.
    pub reason: Option<String>,
    /// The last `STATUS=` the service sent.
    pub status_text: Option<String>,
    /// The state it last showed, and since when (noted after each event).
    pub shown: Option<(&'static str, Instant)>,
    /// How the latest run's main PID was learned (shown after it ended too).
    pub last_source: PidSource,
    /// The latest launch, kept until the next: what it left (its session,
    /// what it started) is this service's, never another's.
    pub launch: Option<Launched>,
    /// The followed daemon held a lock on its pidfile when foster adopted
    /// it: that daemon (the kernel's word on who owns the file).
    pub pidfile_locker: Option<Pid>,
    /// What its fd store holds, as the event loop last reported it.
    pub stored: Vec<crate::supervisor::StoredCount>,
    /// The run an overlapped restart is replacing, while it lives.
    pub outgoing: Option<Outgoing>,
}

impl Service {
    /// A service foster has just learned of: waiting to start, or, with
    /// `autostart: false`, stopped until a start request.
    pub fn new(id: ServiceId, unit: Unit) -> Service {
        let (life, want) = if unit.autostart {
            (Life::Waiting, Want::Up)
        } else {
            let stopped = Life::Done {
                ending: Ending::Stopped,
                ready: false,
            };
            (stopped, Want::Down)
        };
        Service {
            id,
            unit,
            life,
            want,
            pending: None,
            restarts: 0,
            failures: 0,
            last_exit: None,
            last_exit_reason: None,
            verdict: None,
            oom_killed: false,
            watchdog: None,
            health: None,
            last_health_output: None,
            reason: None,
            status_text: None,
            shown: None,
            recent_restarts: std::collections::VecDeque::new(),
            last_source: PidSource::Child,
            launch: None,
            pidfile_locker: None,
            stored: Vec::new(),
            outgoing: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.unit.name
    }

    /// The state `fosterctl status` shows.
    pub fn state_name(&self) -> &'static str {
        match &self.life {
            // The old run of an overlapped restart, stopped with the new
            // one, is still on its way down.
            Life::Done { .. } | Life::Backoff { .. } if self.outgoing.is_some() => "stopping",
            Life::Waiting
            | Life::Spawning { .. }
            | Life::Starting { .. }
            | Life::AwaitingDaemon { .. } => "starting",
            Life::Running { .. } | Life::Succession { .. } | Life::AwaitingSuccessor { .. } => {
                "running"
            }
            Life::Stopping(_) => "stopping",
            Life::Backoff { .. } => "backoff",
            Life::Done { ending, .. } => match ending {
                Ending::Stopped => "stopped",
                Ending::Exited => "exited",
                Ending::Failed => "failed",
            },
        }
    }

    /// The text `status` shows beside its state: while a successor is
    /// awaited, that; else the service's own `STATUS=`, or why it failed.
    pub fn status_line(&self) -> Option<String> {
        if let Some(out) = &self.outgoing {
            return Some(match out.state {
                OutgoingState::Serving => {
                    format!(
                        "overlapped restart: {} serves until this run is ready",
                        out.watched.main
                    )
                }
                OutgoingState::Stopping { .. } => {
                    format!(
                        "overlapped restart: stopping the old run {}",
                        out.watched.main
                    )
                }
            });
        }
        if let Life::AwaitingSuccessor { dead, .. } = &self.life {
            let file = self
                .unit
                .pidfile
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Some(format!(
                "PID {dead} exited; waiting for its successor in {file}"
            ));
        }
        self.status_text.clone().or_else(|| self.reason.clone())
    }

    /// Notes its state: a state other than the one it showed began `now`.
    pub fn note_state(&mut self, now: Instant) {
        let state = self.state_name();
        if self.shown.is_none_or(|(shown, _)| shown != state) {
            self.shown = Some((state, now));
        }
    }

    /// When the state it shows began, as last noted.
    pub fn state_since(&self) -> Option<Instant> {
        self.shown
            .filter(|(shown, _)| *shown == self.state_name())
            .map(|(_, since)| since)
    }

    /// Doing its job (for `status NAME` as a probe): running, or a oneshot
    /// that finished well.
    pub fn is_up(&self) -> bool {
        !self.is_unhealthy()
            && matches!(
                self.life,
                Life::Running { .. }
                    | Life::Succession { .. }
                    | Life::AwaitingSuccessor { .. }
                    | Life::Done {
                        ending: Ending::Exited,
                        ..
                    }
            )
    }

    /// The process foster watches as the service's main one, while there is one.
    pub fn main_pid(&self) -> Option<Pid> {
        match &self.life {
            Life::Starting { main, .. } => Some(*main),
            Life::Running { watched, .. } => Some(watched.main),
            Life::Stopping(stop) => stop.left.as_ref().map(|w| w.main),
            _ => None,
        }
    }

    /// The processes watched besides the main one (a guessed set, a
    /// daemon's monitor, what a stop waits for, what lives on while a
    /// successor is awaited).
    pub fn others(&self) -> &[Pid] {
        match &self.life {
            Life::Running { watched, .. }
            | Life::Stopping(Stop {
                left: Some(watched),
                ..
            }) => &watched.others,
            Life::Succession { others, .. } => others,
            Life::AwaitingSuccessor { left, .. } => left,
            _ => &[],
        }
    }

    /// The processes foster watches for this service.
    pub fn pids(&self) -> Vec<Pid> {
        self.main_pid()
            .into_iter()
            .chain(self.others().iter().copied())
            .chain(self.outgoing.iter().flat_map(|o| o.watched.pids()))
            .collect()
    }

    /// Whether `pid` is one of this service's watched processes (the run
    /// an overlapped restart replaces included).
    pub fn has(&self, pid: Pid) -> bool {
        self.main_pid() == Some(pid)
            || self.others().contains(&pid)
            || self.outgoing.as_ref().is_some_and(|o| o.watched.has(pid))
    }

    /// Whether `pid` is still named by this service: one of its watched
    /// processes, or the followed daemon whose exit is being accounted for
    /// (its successor looked for, or what it left).
    pub fn names(&self, pid: Pid) -> bool {
        self.has(pid)
            || match &self.life {
                Life::Succession { dead, .. } | Life::AwaitingSuccessor { dead, .. } => {
                    *dead == pid
                }
                Life::Stopping(stop) => stop.gone.is_some_and(|(p, _)| p == pid),
                _ => false,
            }
    }

    /// How the current run's processes are known, while it has any.
    pub fn origin(&self) -> Option<Origin> {
        match &self.life {
            Life::Starting { origin, .. }
            | Life::Running { origin, .. }
            | Life::Succession { origin, .. }
            | Life::AwaitingSuccessor { origin, .. } => Some(*origin),
            Life::Stopping(stop) => Some(stop.origin),
            _ => None,
        }
    }

    /// Followed, not started by foster: signals go to each process by
    /// pidfd, never to a process group.
    pub fn is_followed(&self) -> bool {
        self.origin().is_some_and(|o| o.is_followed())
    }

    /// The session of the daemon foster follows, if it follows one.
    pub fn session(&self) -> Option<Pid> {
        self.origin().and_then(|o| o.session)
    }

    /// The deadline of its life: restart (backoff), readiness
    /// (`start_timeout`) or SIGKILL (`stop_timeout`).
    pub fn deadline(&self) -> Option<Instant> {
        match &self.life {
            Life::Starting { deadline, .. } => *deadline,
            Life::AwaitingDaemon { deadline, .. } | Life::AwaitingSuccessor { deadline, .. } => {
                Some(*deadline)
            }
            Life::Stopping(stop) => stop.deadline,
            Life::Backoff { until } => Some(*until),
            _ => None,
        }
    }

    /// When the run an overlapped restart replaces is to be killed.
    pub fn outgoing_deadline(&self) -> Option<Instant> {
        match &self.outgoing {
            Some(Outgoing {
                state: OutgoingState::Stopping { deadline },
                ..
            }) => *deadline,
            _ => None,
        }
    }

    /// When the current run started.
    pub fn since(&self) -> Option<Instant> {
        match &self.life {
            Life::Spawning { since }
            | Life::Starting { since, .. }
            | Life::AwaitingDaemon { since, .. }
            | Life::Running { since, .. }
            | Life::Succession { since, .. }
            | Life::AwaitingSuccessor { since, .. } => Some(*since),
            Life::Stopping(stop) => Some(stop.since),
            _ => None,
        }
    }

    /// How long its process has been up, while it has one.
    pub fn uptime(&self, now: Instant) -> Option<Duration> {
        self.main_pid()?;
        self.since().map(|t| now.saturating_duration_since(t))
    }

    /// Readiness reached in this run (dependents may start).
    pub fn ready(&self) -> bool {
        if self
            .outgoing
            .as_ref()
            .is_some_and(|o| o.state == OutgoingState::Serving)
        {
            // The run being replaced serves until the new one is ready.
            return true;
        }
        match &self.life {
            Life::Running { .. } | Life::Succession { .. } | Life::AwaitingSuccessor { .. } => true,
            Life::Stopping(stop) => stop.ready,
            Life::Done { ready, .. } => *ready,
            _ => false,
        }
    }

    /// No process of this run is left to wait for.
    pub fn is_down(&self) -> bool {
        self.outgoing.is_none()
            && !matches!(
                self.life,
                Life::Starting { .. }
                    | Life::Running { .. }
                    | Life::AwaitingSuccessor { .. }
                    | Life::Stopping(_)
            )
    }

    /// Waiting for dependencies.
    pub fn is_waiting(&self) -> bool {
        self.life == Life::Waiting
    }

    /// Started, or given up on: no longer holds back a main command.
    pub fn is_settled(&self) -> bool {
        self.ready() || matches!(self.life, Life::Done { .. } | Life::Backoff { .. })
    }

    /// A forking service between its launch and its daemon being known,
    /// when a process of its may end before its pidfile is read.
    pub fn is_launching_daemon(&self) -> bool {
        self.unit.kind == Kind::Forking
            && matches!(
                self.life,
                Life::Spawning { .. } | Life::Starting { .. } | Life::AwaitingDaemon { .. }
            )
    }

    /// Not started and not running: a start request or a reload may start
    /// it afresh.
    pub fn is_idle(&self) -> bool {
        matches!(
            self.life,
            Life::Waiting | Life::Backoff { .. } | Life::Done { .. }
        )
    }

    /// The process was spawned.
    pub fn spawned(&mut self, launch: Launched, now: Instant) {
        self.launch = Some(launch);
        self.last_source = PidSource::Child;
        self.reason = None;
        self.verdict = None;
        self.oom_killed = false;
        let origin = Origin::child(launch.ticks);
        let main = launch.pid;
        // With a health check that decides readiness, a simple service
        // starts like a notify one: ready at its first successful probe.
        let probed = self.unit.health.as_ref().is_some_and(|h| h.readiness);
        self.life = match self.unit.kind {
            Kind::Simple if probed => Life::Starting {
                since: now,
                main,
                origin,
                deadline: Some(now + self.unit.start_timeout),
                emptied: false,
            },
            Kind::Simple => Life::Running {
                since: now,
                watched: Watched::one(main),
                origin,
            },
            Kind::Oneshot => Life::Starting {
                since: now,
                main,
                origin,
                deadline: None,
                emptied: false,
            },
            Kind::Notify | Kind::Forking => Life::Starting {
                since: now,
                main,
                origin,
                deadline: Some(now + self.unit.start_timeout),
                emptied: false,
            },
        };
    }

    /// Why the run that is ending failed, whatever status it ended with,
    /// if it did: foster's own reason first (its watchdog, …), else an OOM
    /// kill in it. Taken: the next run starts with neither.
    pub fn end_reason(&mut self) -> Option<ExitReason> {
        let oom = std::mem::take(&mut self.oom_killed);
        self.verdict.take().or(oom.then_some(ExitReason::Oom))
    }

    /// The service's run ended with `status` while it was meant to run.
    /// Decides between a restart (with its delay) and the end; a forking
    /// service's launcher that exited well leads to the daemon being
    /// looked for instead.
    pub fn ended(&mut self, status: WaitStatus, now: Instant) -> Outcome {
        let since = self.since().unwrap_or(now);
        let uptime = now.saturating_duration_since(since);
        let success = status == WaitStatus::Exited(0);
        if let Life::Starting {
            deadline, emptied, ..
        } = self.life
            && self.unit.kind == Kind::Forking
            && success
        {
            // The launcher forked its daemon and exited well; the daemon is
            // known once the pidfile names it (start_timeout keeps running),
            // or, without a pidfile, from the processes foster adopted. A
            // start timeout that fired as it exited is not the daemon's.
            self.verdict = None;
            self.life = Life::AwaitingDaemon {
                since,
                deadline: deadline.unwrap_or(now + self.unit.start_timeout),
                emptied,
            };
            // The launcher's 0 is not the service's exit: `last_exit` keeps
            // the previous run's (its daemon's real status) until the
            // daemon ends.
            return match self.unit.pidfile {
                Some(_) => Outcome::AwaitPidfile,
                None => Outcome::FindAdopted,
            };
        }
        self.last_exit = Some(status);
        // A run foster ended for a reason of its own failed, whatever
        // status it managed to exit with.
        let reason = self.end_reason();
        self.last_exit_reason = Some(reason.unwrap_or(ExitReason::of(status)));
        let success = success && reason.is_none();
        // What the run said of itself (`STATUS=`) ended with it.
        self.status_text = None;
        if self.unit.kind == Kind::Oneshot && success {
            self.life = Life::Done {
                ending: Ending::Exited,
                ready: true,
            };
            return Outcome::Done(Ending::Exited);
        }
        let restart = match self.unit.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        };
        if !restart {
            let ending = if success {
                Ending::Stopped
            } else {
                Ending::Failed
            };
            self.life = Life::Done {
                ending,
                ready: self.ready(),
            };
            return Outcome::Done(ending);
        }
        if let Some(limit) = self.unit.restart_limit {
            while self
                .recent_restarts
                .front()
                .is_some_and(|&t| now.saturating_duration_since(t) >= limit.interval)
            {
                self.recent_restarts.pop_front();
            }
            if self.recent_restarts.len() >= limit.restarts as usize {
                self.recent_restarts.clear();
                self.reason = Some(format!(
                    "gave up after {} restarts in {}",
                    limit.restarts,
                    crate::duration::format(limit.interval)
                ));
                self.life = Life::Done {
                    ending: Ending::Failed,
                    ready: self.ready(),
                };
                return Outcome::GaveUp(limit);
            }
            self.recent_restarts.push_back(now);
        }
        if uptime >= STABLE_AFTER {
            self.failures = 0;
        }
        let delay = backoff(
            self.unit.restart_delay,
            self.unit.restart_delay_max,
            self.failures,
        );
        self.failures = self.failures.saturating_add(1);
        self.life = Life::Backoff { until: now + delay };
        Outcome::RestartAfter(delay)
    }

    /// Its stop is complete: down, the new unit version (if any) in place.
    pub fn stopped(&mut self, status: WaitStatus) {
        self.last_exit = Some(status);
        self.last_exit_reason = Some(self.end_reason().unwrap_or(ExitReason::of(status)));
        self.status_text = None;
        self.life = Life::Done {
            ending: Ending::Stopped,
            ready: false,
        };
        if let Some(unit) = self.pending.take() {
            self.unit = unit;
        }
    }

    /// The stop sequence was sent: its processes are awaited until
    /// `deadline`. A service without processes has nothing to stop.
    /// `killed`: SIGKILL was sent already (the kill of everything), and
    /// there is no deadline. A stop in progress takes the new deadline; a
    /// service without processes has nothing to stop.
    pub fn begin_stop(&mut self, deadline: Option<Instant>, killed: bool) {
        let ready = self.ready();
        let (since, origin, left) = match &mut self.life {
            Life::Stopping(stop) => {
                stop.killed |= killed;
                stop.deadline = deadline;
                return;
            }
            Life::Starting {
                since,
                main,
                origin,
                ..
            } => (*since, *origin, Watched::one(*main)),
            Life::Running {
                since,
                watched,
                origin,
            } => (*since, *origin, watched.clone()),
            Life::AwaitingSuccessor {
                since,
                origin,
                left,
                ..
            } => match left.split_first() {
                Some((&main, others)) => (
                    *since,
                    *origin,
                    Watched {
                        main,
                        others: others.to_vec(),
                    },
                ),
                None => return,
            },
            _ => return,
        };
        self.life = Life::Stopping(Stop {
            since,
            origin,
            left: Some(left),
            gone: None,
            deadline,
            killed,
            ready,
            cause: StopCause::Asked,
        });
    }

    /// Its main process `pid` ended with `status` while starting or
    /// running: what it left is to be stopped by `deadline` (SIGKILL then)
    /// before its end counts. The session looked in is the one foster gave
    /// it (its first process is the leader), or a followed daemon's.
    pub fn begin_clearing(&mut self, pid: Pid, status: WaitStatus, deadline: Instant) {
        let ready = self.ready();
        let (since, mut origin, first) = match &self.life {
            Life::Starting {
                since,
                main,
                origin,
                ..
            } => (*since, *origin, *main),
            Life::Running {
                since,
                watched,
                origin,
            } => (*since, *origin, watched.main),
            Life::Succession {
                since,
                origin,
                dead,
                ..
            }
            | Life::AwaitingSuccessor {
                since,
                origin,
                dead,
                ..
            } => (*since, *origin, *dead),
            _ => return,
        };
        if !origin.is_followed() {
            origin.session = Some(self.launch.map(|l| l.pid).unwrap_or(first));
        }
        self.life = Life::Stopping(Stop {
            since,
            origin,
            left: None,
            gone: Some((pid, status)),
            deadline: Some(deadline),
            killed: false,
            ready,
            cause: StopCause::Ended,
        });
    }

    /// Its main process has ended and what it left is being stopped.
    pub fn is_clearing(&self) -> bool {
        matches!(
            &self.life,
            Life::Stopping(Stop {
                cause: StopCause::Ended,
                ..
            })
        )
    }
}

/// `delay`, doubled for each earlier failure in a row, capped at `max`.
pub fn backoff(delay: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
    delay.checked_mul(factor).unwrap_or(max).min(max)
}
