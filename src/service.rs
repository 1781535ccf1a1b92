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

/// How long a service must stay up for its next failure to count as the
/// first again (the backoff starts over from `restart_delay`).
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Where a service is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Life {
    /// Not started: waiting for its dependencies to be ready.
    Waiting,
    /// Its start was asked of the event loop; the spawn's result is not in.
    Spawning { since: Instant },
    /// Its process runs and it is not ready yet: a notify service until
    /// `READY=1`, a oneshot until it exits, a forking service's launcher
    /// until it exits. `deadline`: `start_timeout` (none for a oneshot).
    /// `emptied`: its cgroup emptied before the launcher's exit was seen.
    Starting {
        since: Instant,
        main: Pid,
        origin: Origin,
        deadline: Option<Instant>,
        emptied: bool,
    },
    /// A forking service's launcher exited well: its daemon is looked for
    /// (named by its pidfile, or among the processes foster adopted).
    /// `emptied`: no process of its cgroup is left, so one last reading of
    /// the pidfile decides.
    AwaitingDaemon {
        since: Instant,
        deadline: Instant,
        emptied: bool,
    },
    /// Up, and ready.
    Running {
        since: Instant,
        watched: Watched,
        origin: Origin,
    },
    /// The daemon foster followed exited: before the service counts as
    /// ended, its pidfile (or what foster adopted since) is looked at once
    /// more for a successor, as a daemon that hands over names it there.
    Succession {
        since: Instant,
        origin: Origin,
        dead: Pid,
        status: WaitStatus,
    },
    /// Its stop signal was sent; its processes are awaited.
    Stopping(Stop),
    /// Waiting out the restart delay.
    Backoff { until: Instant },
    /// Not running, and not about to. `ready`: it was ready in its last
    /// run (dependents may start on a service that finished or stopped on
    /// its own after being up).
    Done { ending: Ending, ready: bool },
}

/// How a service that is done ended (the state `fosterctl status` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Stopped, by request or because it ended cleanly for good.
    Stopped,
    /// A oneshot that finished well.
    Exited,
    /// Ended for good with a failure, or could not start.
    Failed,
}

/// A stop in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub since: Instant,
    pub origin: Origin,
    /// The processes still awaited; `None` while what a followed daemon
    /// left behind in its session is being looked for.
    pub left: Option<Watched>,
    /// A followed daemon's own exit, once it is gone: the stop reports it.
    pub gone: Option<(Pid, WaitStatus)>,
    /// SIGKILL at `stop_timeout` (none once it has been sent, or during
    /// the kill of everything).
    pub deadline: Option<Instant>,
    /// SIGKILL was sent to this run.
    pub killed: bool,
    /// It was ready when the stop began (dependents may still start).
    pub ready: bool,
    /// Why it stops, and so what its end is.
    pub cause: StopCause,
}

/// Why a run is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// Asked to (a request, a reload, the shutdown): once its processes
    /// are gone it is stopped.
    Asked,
    /// Its main process ended by itself (`kill_mode: all`): what it left
    /// behind gets the stop sequence, and once that is gone too the end
    /// counts as its exit (the restart policy decides), so that a restart
    /// never meets the old run's processes.
    Ended,
}

/// The processes foster watches for a run: the main process, and for a
/// guessed set the others (the run lasts while any of them lives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub main: Pid,
    pub others: Vec<Pid>,
}

impl Watched {
    pub fn one(main: Pid) -> Watched {
        Watched {
            main,
            others: Vec::new(),
        }
    }

    pub fn has(&self, pid: Pid) -> bool {
        self.main == pid || self.others.contains(&pid)
    }

    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        std::iter::once(self.main).chain(self.others.iter().copied())
    }
}

/// How a run's processes are known to be its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub source: PidSource,
    /// A followed daemon's session: its workers are the processes of that
    /// session started since the launch. `None` for foster's own child,
    /// whose process group is the service, and for a daemon whose session
    /// leader is outside foster's PID namespace (no session to follow).
    pub session: Option<Pid>,
    /// The launch's start time in `/proc` clock ticks (`None` when
    /// unknown): no process of this run can be older.
    pub ticks: Option<u64>,
}

impl Origin {
    /// foster started it.
    pub fn child(ticks: Option<u64>) -> Origin {
        Origin {
            source: PidSource::Child,
            session: None,
            ticks,
        }
    }

    /// Followed, not started by foster: signals go to each process by
    /// pidfd, never to a process group.
    pub fn is_followed(&self) -> bool {
        self.source != PidSource::Child
    }
}

/// What is wanted of a service, whatever its life is at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Running: started when it can be, restarted by its policy, started
    /// again once a stop in progress completes.
    Up,
    /// Stopped on request (`fosterctl stop`): not restarted when it ends.
    Down,
    /// Its unit was removed by a reload: forgotten once it is down.
    Remove,
}

/// What follows the end of a service's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Start it again after this delay.
    RestartAfter(Duration),
    /// It is done.
    Done(Ending),
    /// It would restart, but it has been restarted `restarts` times
    /// within `interval` (`restart_limit`): it failed.
    GaveUp(crate::unit::RestartLimit),
    /// A forking service's launcher exited well: read the pidfile.
    AwaitPidfile,
    /// A forking service without a pidfile: its launcher exited well; look
    /// for the processes foster adopted since the launch.
    FindAdopted,
}

/// How the main PID was learned (`pid_source` in `fosterctl status --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidSource {
    /// foster started it.
    Child,
    /// Read from the unit's pidfile, and validated.
    Pidfile,
    /// No pidfile: the process (or set of processes) adopted by foster
    /// since the launch, once the launcher exited.
    Guessed,
    /// Named by the service's `MAINPID=`, and validated.
    Notify,
}

impl PidSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PidSource::Child => "child",
            PidSource::Pidfile => "pidfile",
            PidSource::Guessed => "guessed",
            PidSource::Notify => "notify",
        }
    }
}

/// A service's launch: the process foster spawned, which leads the
/// service's first session, and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launched {
    pub pid: Pid,
    /// Its start time in `/proc` clock ticks (`None` when unknown): no
    /// process of this run can be older.
    pub ticks: Option<u64>,
}

/// A service as events and actions name it: given when foster learns of
/// the service (at start or by a reload), never given to another during
/// foster's run, so that a late event about a service removed and added
/// again under its name is not taken for the new one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub u64);

impl std::fmt::Display for ServiceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service #{}", self.0)
    }
}

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
            reason: None,
            status_text: None,
            shown: None,
            recent_restarts: std::collections::VecDeque::new(),
            last_source: PidSource::Child,
            launch: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.unit.name
    }

    /// The state `fosterctl status` shows.
    pub fn state_name(&self) -> &'static str {
        match &self.life {
            Life::Waiting
            | Life::Spawning { .. }
            | Life::Starting { .. }
            | Life::AwaitingDaemon { .. } => "starting",
            Life::Running { .. } | Life::Succession { .. } => "running",
            Life::Stopping(_) => "stopping",
            Life::Backoff { .. } => "backoff",
            Life::Done { ending, .. } => match ending {
                Ending::Stopped => "stopped",
                Ending::Exited => "exited",
                Ending::Failed => "failed",
            },
        }
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
        matches!(
            self.life,
            Life::Running { .. }
                | Life::Succession { .. }
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

    /// The processes watched besides the main one (a guessed set, or what
    /// a stop waits for).
    pub fn others(&self) -> &[Pid] {
        match &self.life {
            Life::Running { watched, .. }
            | Life::Stopping(Stop {
                left: Some(watched),
                ..
            }) => &watched.others,
            _ => &[],
        }
    }

    /// The processes foster watches for this service.
    pub fn pids(&self) -> Vec<Pid> {
        self.main_pid()
            .into_iter()
            .chain(self.others().iter().copied())
            .collect()
    }

    /// Whether `pid` is one of this service's watched processes.
    pub fn has(&self, pid: Pid) -> bool {
        self.main_pid() == Some(pid) || self.others().contains(&pid)
    }

    /// Whether `pid` is still named by this service: one of its watched
    /// processes, or the followed daemon whose exit is being accounted for
    /// (its successor looked for, or what it left).
    pub fn names(&self, pid: Pid) -> bool {
        self.has(pid)
            || match &self.life {
                Life::Succession { dead, .. } => *dead == pid,
                Life::Stopping(stop) => stop.gone.is_some_and(|(p, _)| p == pid),
                _ => false,
            }
    }

    /// How the current run's processes are known, while it has any.
    pub fn origin(&self) -> Option<Origin> {
        match &self.life {
            Life::Starting { origin, .. }
            | Life::Running { origin, .. }
            | Life::Succession { origin, .. } => Some(*origin),
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
            Life::AwaitingDaemon { deadline, .. } => Some(*deadline),
            Life::Stopping(stop) => stop.deadline,
            Life::Backoff { until } => Some(*until),
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
            | Life::Succession { since, .. } => Some(*since),
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
        match &self.life {
            Life::Running { .. } | Life::Succession { .. } => true,
            Life::Stopping(stop) => stop.ready,
            Life::Done { ready, .. } => *ready,
            _ => false,
        }
    }

    /// No process of this run is left to wait for.
    pub fn is_down(&self) -> bool {
        !matches!(
            self.life,
            Life::Starting { .. } | Life::Running { .. } | Life::Stopping(_)
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
        let origin = Origin::child(launch.ticks);
        let main = launch.pid;
        self.life = match self.unit.kind {
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
            // or, without a pidfile, from the processes foster adopted.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::unit::LogMode;

    pub fn unit(name: &str, kind: Kind, restart: Restart) -> Unit {
        Unit {
            name: name.into(),
            path: format!("{name}.yaml").into(),
            command: vec!["x".into()],
            kind,
            pidfile: None,
            depends_on: vec![],
            restart,
            restart_delay: Duration::from_secs(1),
            restart_delay_max: Duration::from_secs(8),
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(5),
            reload_signal: libc::SIGHUP,
            start_timeout: Duration::from_secs(30),
            credentials: None,
            workdir: None,
            env: vec![],
            critical: false,
            log: LogMode::Inherit,
            kill_mode: crate::unit::KillMode::All,
            restart_limit: None,
            env_files: Vec::new(),
            autostart: true,
        }
    }

    /// The launch of process `pid`, its start time unknown.
    pub fn launched(pid: i32) -> Launched {
        let pid = Pid::new(pid).expect("a positive PID");
        Launched { pid, ticks: None }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (d, m) = (Duration::from_secs(1), Duration::from_secs(8));
        let delays: Vec<u64> = (0..6).map(|f| backoff(d, m, f).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff(d, m, u32::MAX), m);
    }

    #[test]
    fn crash_loop_backs_off_and_a_stable_run_resets_it() {
        let t0 = Instant::now();
        let mut s = Service::new(ServiceId(1), unit("a", Kind::Simple, Restart::OnFailure));
        let mut now = t0;
        let mut delays = vec![];
        for _ in 0..4 {
            s.spawned(launched(1), now);
            match s.ended(WaitStatus::Exited(1), now + Duration::from_millis(10)) {
                Outcome::RestartAfter(d) => delays.push(d.as_secs()),
                other => panic!("{other:?}"),
            }
            now += Duration::from_secs(20);
        }
        assert_eq!(delays, [1, 2, 4, 8]);
        s.spawned(launched(1), now);
        assert_eq!(
            s.ended(WaitStatus::Exited(1), now + STABLE_AFTER),
            Outcome::RestartAfter(Duration::from_secs(1))
        );
    }

    #[test]
    fn restart_policies() {
        let now = Instant::now();
        let clean = WaitStatus::Exited(0);
        let crash = WaitStatus::Signaled {
            sig: 9,
            core: false,
        };
        let run = |kind, restart, status| {
            let mut s = Service::new(ServiceId(1), unit("a", kind, restart));
            s.spawned(launched(1), now);
            s.ended(status, now)
        };
        assert!(matches!(
            run(Kind::Simple, Restart::Always, clean),
            Outcome::RestartAfter(_)
        ));
        assert_eq!(
            run(Kind::Simple, Restart::OnFailure, clean),
            Outcome::Done(Ending::Stopped)
        );
        assert!(matches!(
            run(Kind::Simple, Restart::OnFailure, crash),
            Outcome::RestartAfter(_)
        ));
        assert_eq!(
            run(Kind::Simple, Restart::Never, crash),
            Outcome::Done(Ending::Failed)
        );
        assert_eq!(
            run(Kind::Oneshot, Restart::Never, clean),
            Outcome::Done(Ending::Exited)
        );
        assert_eq!(
            run(Kind::Oneshot, Restart::Never, WaitStatus::Exited(2)),
            Outcome::Done(Ending::Failed)
        );
    }

    #[test]
    fn readiness_by_kind() {
        let now = Instant::now();
        let mut s = Service::new(ServiceId(1), unit("a", Kind::Simple, Restart::Never));
        s.spawned(launched(5), now);
        assert!(s.ready() && s.state_name() == "running");
        let mut n = Service::new(ServiceId(1), unit("n", Kind::Notify, Restart::Never));
        n.spawned(launched(6), now);
        assert!(!n.ready() && n.state_name() == "starting");
        assert_eq!(n.deadline(), Some(now + Duration::from_secs(30)));
    }

    #[test]
    fn a_forking_launcher_that_exits_well_leads_to_the_daemon_being_awaited() {
        let now = Instant::now();
        let mut f = unit("f", Kind::Forking, Restart::Never);
        f.pidfile = Some("/run/f.pid".into());
        let mut s = Service::new(ServiceId(1), f);
        s.spawned(launched(7), now);
        assert_eq!(s.ended(WaitStatus::Exited(0), now), Outcome::AwaitPidfile);
        assert_eq!(
            s.life,
            Life::AwaitingDaemon {
                since: now,
                deadline: now + Duration::from_secs(30),
                emptied: false
            }
        );
        assert!(s.is_down() && !s.ready() && s.main_pid().is_none());
        // The daemon died before it was known: the end, not the launcher.
        assert_eq!(
            s.ended(WaitStatus::Exited(3), now),
            Outcome::Done(Ending::Failed)
        );
    }

    #[test]
    fn a_stop_keeps_the_processes_and_readiness_of_the_run() {
        let now = Instant::now();
        let mut s = Service::new(ServiceId(1), unit("a", Kind::Simple, Restart::Always));
        s.spawned(launched(9), now);
        s.begin_stop(Some(now + Duration::from_secs(5)), false);
        assert_eq!(s.state_name(), "stopping");
        assert!(s.has(launched(9).pid) && s.ready() && !s.is_down());
        assert_eq!(s.deadline(), Some(now + Duration::from_secs(5)));
        s.begin_stop(None, true);
        assert!(matches!(&s.life, Life::Stopping(stop) if stop.killed && stop.deadline.is_none()));
        s.stopped(WaitStatus::Exited(0));
        assert_eq!(s.state_name(), "stopped");
        assert!(!s.ready() && s.is_down());
    }
}
