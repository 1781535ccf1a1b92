//! One service's life: its state, its process, its restarts and backoff.
//!
//! Pure data and small decisions; the [`Supervisor`](crate::supervisor)
//! drives these from events and turns the results into actions.

use std::time::{Duration, Instant};

use crate::status::WaitStatus;
use crate::sys::Pid;
use crate::unit::{Kind, Restart, Unit};

/// How long a service must stay up for its next failure to count as the
/// first again (the backoff starts over from `restart_delay`).
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Where a service is. The names are the ones `fosterctl status` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for its dependencies, or started and not yet ready.
    Starting,
    Running,
    /// Asked to stop; its stop signal was sent.
    Stopping,
    /// Not running, by request or because it ended cleanly for good.
    Stopped,
    /// Waiting out the restart delay.
    Backoff,
    /// A oneshot that finished well.
    Exited,
    /// Ended for good with a failure, or could not start.
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Backoff => "backoff",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }
}

/// What follows the end of a service's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Start it again after this delay.
    RestartAfter(Duration),
    /// It is done: `Exited` (oneshot success), `Stopped` or `Failed`.
    Done(State),
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
    /// Its start time in `/proc` clock ticks (0 when unknown): no process
    /// of this run can be older.
    pub ticks: u64,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub unit: Unit,
    pub state: State,
    /// The process foster watches, while there is one.
    pub pid: Option<Pid>,
    /// Readiness reached in this run (dependents may start).
    pub ready: bool,
    pub restarts: u32,
    pub last_exit: Option<WaitStatus>,
    /// Failures in a row, for the backoff.
    pub failures: u32,
    /// When the current process started.
    pub since: Option<Instant>,
    /// The one deadline this service has: restart (backoff), readiness
    /// (`start_timeout`) or SIGKILL (`stop_timeout`), by state.
    pub deadline: Option<Instant>,
    /// SIGKILL was already sent to this run.
    pub killed: bool,
    /// Why the last start failed, for messages.
    pub reason: Option<String>,
    /// The last `STATUS=` the service sent.
    pub status_text: Option<String>,
    /// Stopped on request (`fosterctl stop`): not restarted when it ends.
    pub held: bool,
    /// `fosterctl restart`: start again once this stop completes.
    pub start_after_stop: bool,
    /// A reload changed the unit: this version applies from the next start.
    pub pending: Option<Unit>,
    /// A reload removed the unit: forget the service once it is down.
    pub retired: bool,
    pub pid_source: PidSource,
    /// The launcher exited well; waiting to learn the daemon's PID (from
    /// the pidfile, or from the processes adopted when there is none).
    pub awaiting_pidfile: bool,
    /// The daemon read from the pidfile died (its PID and status): the
    /// pidfile is read again before the service counts as ended, in case
    /// it handed over to a new process.
    pub dead_main: Option<(Pid, WaitStatus)>,
    /// A guessed set: the processes besides `pid` that make up the
    /// service (it runs while any of them lives).
    pub others: Vec<Pid>,
    /// The session of the daemon foster follows (pidfile or guessed): its
    /// workers are the processes of that session, and get SIGKILL with it.
    pub session: Option<Pid>,
    /// When the launcher started, in `/proc` clock ticks: a process of the
    /// service cannot be older.
    pub launched_ticks: u64,
    /// The service's cgroup emptied while its pidfile was awaited: one
    /// last reading decides, then the start fails.
    pub emptied: bool,
    /// The latest launch, kept until the service is down for good: what it
    /// left (its session, what it started) is this service's, never
    /// another's.
    pub launch: Option<Launched>,
}

impl Service {
    pub fn new(unit: Unit) -> Service {
        Service {
            unit,
            state: State::Starting,
            pid: None,
            ready: false,
            restarts: 0,
            last_exit: None,
            failures: 0,
            since: None,
            deadline: None,
            killed: false,
            reason: None,
            status_text: None,
            held: false,
            start_after_stop: false,
            pending: None,
            retired: false,
            pid_source: PidSource::Child,
            awaiting_pidfile: false,
            dead_main: None,
            others: Vec::new(),
            session: None,
            launched_ticks: 0,
            emptied: false,
            launch: None,
        }
    }

    /// The processes foster watches for this service.
    pub fn pids(&self) -> Vec<Pid> {
        self.pid
            .into_iter()
            .chain(self.others.iter().copied())
            .collect()
    }

    /// Whether `pid` is one of this service's watched processes.
    pub fn has(&self, pid: Pid) -> bool {
        self.pid == Some(pid) || self.others.contains(&pid)
    }

    /// Followed, not started by foster: signals go to each process by
    /// pidfd, never to a process group.
    pub fn is_followed(&self) -> bool {
        self.pid_source != PidSource::Child
    }

    pub fn name(&self) -> &str {
        &self.unit.name
    }

    /// No process of this run is left to wait for.
    pub fn is_down(&self) -> bool {
        self.pid.is_none() && self.state != State::Stopping
    }

    /// Waiting for dependencies (starting, no process yet).
    pub fn is_waiting(&self) -> bool {
        self.state == State::Starting && self.pid.is_none() && self.since.is_none()
    }

    /// Started, or given up on: no longer holds back a main command.
    pub fn is_settled(&self) -> bool {
        self.ready
            || matches!(
                self.state,
                State::Failed | State::Stopped | State::Exited | State::Backoff
            )
    }

    /// The process was spawned.
    pub fn spawned(&mut self, launch: Launched, now: Instant) {
        let pid = launch.pid;
        self.launch = Some(launch);
        self.launched_ticks = launch.ticks;
        self.pid = Some(pid);
        self.pid_source = PidSource::Child;
        self.awaiting_pidfile = false;
        self.dead_main = None;
        self.others.clear();
        self.session = None;
        self.emptied = false;
        self.since = Some(now);
        self.killed = false;
        self.reason = None;
        match self.unit.kind {
            Kind::Simple => {
                self.state = State::Running;
                self.ready = true;
                self.deadline = None;
            }
            Kind::Oneshot => self.deadline = None,
            Kind::Notify | Kind::Forking => self.deadline = Some(now + self.unit.start_timeout),
        }
    }

    /// The main process ended with `status` while the service was meant to
    /// run. Decides between a restart (with its delay) and the end.
    pub fn ended(&mut self, status: WaitStatus, now: Instant) -> Outcome {
        let uptime = self
            .since
            .map(|s| now.saturating_duration_since(s))
            .unwrap_or_default();
        self.pid = None;
        self.last_exit = Some(status);
        let success = status == WaitStatus::Exited(0);
        let launcher = self.unit.kind == Kind::Forking
            && self.state == State::Starting
            && !self.awaiting_pidfile;
        if launcher && success {
            // The launcher forked its daemon and exited well; the daemon is
            // known once the pidfile names it (start_timeout keeps running),
            // or, without a pidfile, from the processes foster adopted.
            self.awaiting_pidfile = true;
            return match self.unit.pidfile {
                Some(_) => Outcome::AwaitPidfile,
                None => Outcome::FindAdopted,
            };
        }
        self.deadline = None;
        self.awaiting_pidfile = false;
        self.others.clear();
        if self.unit.kind == Kind::Oneshot && success {
            self.ready = true;
            self.state = State::Exited;
            return Outcome::Done(State::Exited);
        }
        let restart = match self.unit.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        };
        if !restart {
            let state = if success {
                State::Stopped
            } else {
                State::Failed
            };
            self.state = state;
            return Outcome::Done(state);
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
        self.state = State::Backoff;
        self.ready = false;
        self.deadline = Some(now + delay);
        Outcome::RestartAfter(delay)
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
        }
    }

    pub fn launched(pid: Pid) -> Launched {
        Launched { pid, ticks: 0 }
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
        let mut s = Service::new(unit("a", Kind::Simple, Restart::OnFailure));
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
            let mut s = Service::new(unit("a", kind, restart));
            s.spawned(launched(1), now);
            s.ended(status, now)
        };
        assert!(matches!(
            run(Kind::Simple, Restart::Always, clean),
            Outcome::RestartAfter(_)
        ));
        assert_eq!(
            run(Kind::Simple, Restart::OnFailure, clean),
            Outcome::Done(State::Stopped)
        );
        assert!(matches!(
            run(Kind::Simple, Restart::OnFailure, crash),
            Outcome::RestartAfter(_)
        ));
        assert_eq!(
            run(Kind::Simple, Restart::Never, crash),
            Outcome::Done(State::Failed)
        );
        assert_eq!(
            run(Kind::Oneshot, Restart::Never, clean),
            Outcome::Done(State::Exited)
        );
        assert_eq!(
            run(Kind::Oneshot, Restart::Never, WaitStatus::Exited(2)),
            Outcome::Done(State::Failed)
        );
    }

    #[test]
    fn readiness_by_kind() {
        let now = Instant::now();
        let mut s = Service::new(unit("a", Kind::Simple, Restart::Never));
        s.spawned(launched(5), now);
        assert!(s.ready && s.state == State::Running);
        let mut n = Service::new(unit("n", Kind::Notify, Restart::Never));
        n.spawned(launched(6), now);
        assert!(!n.ready && n.state == State::Starting);
        assert_eq!(n.deadline, Some(now + Duration::from_secs(30)));
    }
}
