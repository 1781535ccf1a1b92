//! The states a service goes through and what they carry: its [`Life`],
//! what is [`Want`]ed of it, a [`Stop`] in progress, the processes it is
//! [`Watched`] by, where its main PID came from ([`Origin`],
//! [`PidSource`]), and what follows an end ([`Outcome`]).

use std::time::{Duration, Instant};

use crate::status::WaitStatus;
use crate::sys::Pid;

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
    /// `others`: the processes watched beside it (a daemon's monitor)
    /// go on being watched.
    Succession {
        since: Instant,
        origin: Origin,
        dead: Pid,
        status: WaitStatus,
        others: Vec<Pid>,
    },
    /// A followed daemon `dead` exited and its pidfile names no successor
    /// yet, but processes of the service live on (`left`: a monitor that
    /// starts daemons, or the child a re-daemonizing daemon forked): the
    /// pidfile is watched until it names a valid successor, which is
    /// followed with no restart. At `deadline` (`start_timeout`), or once
    /// no process of the service is left, the service has ended with
    /// `status`, the dead daemon's.
    AwaitingSuccessor {
        since: Instant,
        origin: Origin,
        dead: Pid,
        status: WaitStatus,
        deadline: Instant,
        left: Vec<Pid>,
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

/// The run an overlapped restart replaces (`restart_mode: overlap`): it
/// serves beside the new run, on the same held sockets, until that one is
/// ready, and is stopped then; if the new run fails first, it is the
/// service's run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// When it became ready.
    pub since: Instant,
    pub watched: Watched,
    pub origin: Origin,
    /// Its launch: the session it leads is its own.
    pub launch: Option<Launched>,
    /// The unit it runs, when a reload replaced the service's: it is
    /// the service's again if the new run fails.
    pub unit: Option<Box<crate::unit::Unit>>,
    pub state: OutgoingState,
}

/// Where the replaced run of an overlapped restart is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingState {
    /// Serving while the new run starts.
    Serving,
    /// The new run is ready: its stop signal was sent; SIGKILL at
    /// `deadline` (`None` once sent).
    Stopping { deadline: Option<Instant> },
}

impl Outgoing {
    /// Whether a process (`pid`, in session `session`) is of this run:
    /// one it watches, or in the session its launch leads.
    pub fn owns(&self, pid: Pid, session: Option<Pid>) -> bool {
        self.watched.has(pid)
            || session.is_some_and(|sid| self.launch.is_some_and(|l| l.pid == sid))
            || session.is_some_and(|sid| self.origin.session == Some(sid))
    }
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
    /// foster found it failing (its watchdog expired, it is unhealthy)
    /// and signalled it: once its processes are gone its end counts as a
    /// failure (the restart policy decides), whatever status it ended
    /// with (the service's `verdict` says why).
    Failure,
}

/// A run's health (`health:`), as its probes found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The run it is for (when that run started).
    pub run: Instant,
    pub status: HealthStatus,
    /// Failed probes in a row (not counting those of the start period).
    pub failing_streak: u32,
    /// Until then failures do not count (`start_period`); `None` once it
    /// is over or a success ended it.
    pub period_ends: Option<Instant>,
    pub probe: ProbeState,
}

impl Health {
    /// Whether `at` is within the start period.
    pub fn in_period(&self, at: Instant) -> bool {
        self.period_ends.is_some_and(|end| at < end)
    }
}

/// What the health checks say of a run (`health` in `status --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// No probe has succeeded yet, and not `retries` failed in a row.
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// A run's probe: the next one's time, or the one running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeState {
    /// The next probe starts then.
    Due(Instant),
    /// Probe `id` runs (`pid`: an exec probe's process, once the loop has
    /// said); past `deadline` (`timeout`) it is killed and failed.
    Running {
        id: u64,
        pid: Option<Pid>,
        deadline: Instant,
    },
}

/// A run's watchdog (`watchdog:`, systemd's `WatchdogSec=`): armed once
/// the run is ready, re-armed by each `WATCHDOG=1`, fired at its due time
/// or by `WATCHDOG=trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    /// The run it is for (when that run started): a new run gets its own.
    pub run: Instant,
    /// The unit's, or what the run asked for with `WATCHDOG_USEC=`; zero
    /// when it asked for none.
    pub timeout: Duration,
    /// When it fires; `None` until the run is ready (and while the
    /// timeout is zero).
    pub due: Option<Instant>,
}

/// Why a service's last run ended (`last_exit_reason` in `status --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Its process exited by itself (with any status).
    Exited,
    /// A signal ended it (foster's stop signal included).
    Signal,
    /// Killed by foster for its watchdog.
    Watchdog,
    /// Killed (or given up on) by foster: not ready within `start_timeout`.
    StartTimeout,
    /// Stopped by foster because its health checks failed.
    Unhealthy,
    /// The OOM killer killed a process of the run (its cgroup's
    /// `memory.events` says so).
    Oom,
}

impl ExitReason {
    /// What `last_exit_reason` says.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Exited => "exited",
            ExitReason::Signal => "signal",
            ExitReason::Watchdog => "watchdog",
            ExitReason::StartTimeout => "start-timeout",
            ExitReason::Unhealthy => "unhealthy",
            ExitReason::Oom => "oom",
        }
    }

    /// How a run that ended with `status` ended, when foster did not end it
    /// for a reason of its own.
    pub fn of(status: WaitStatus) -> ExitReason {
        match status {
            WaitStatus::Signaled { .. } => ExitReason::Signal,
            _ => ExitReason::Exited,
        }
    }
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
    /// Its first process joined a cgroup of the service's own: everything
    /// it starts is there, so what it leaves is found and signalled there
    /// alone (no walk of `/proc` for its session).
    pub cgroup: bool,
    /// Whether its unit's cgroup limits were all written into its cgroup
    /// before it joined (`None`: its unit sets none).
    pub limits_enforced: Option<bool>,
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
