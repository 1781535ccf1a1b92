//! What the event loop tells the core ([`Event`]) and what the core asks
//! of it ([`Action`]).

use crate::control::{Client, Reply, Request};
use crate::pidfile::{Candidate, CgroupMembership, Ties};
use crate::service::{Launched, ServiceId};
use crate::status::WaitStatus;
use crate::sys::{Pid, Stage};

/// Something that happened, as the event loop saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A signal other than SIGCHLD was read from the signalfd.
    Signal(i32),
    /// A child was reaped.
    Exited { pid: Pid, status: WaitStatus },
    /// A reaping pass ended; `children_left` is false once foster has no
    /// child at all (which, for a subreaper or PID 1, means no descendant).
    ReapDone { children_left: bool },
    /// The timer fired: deadlines up to now are due.
    Tick,
    /// The main command was spawned (`Err`: it could not be).
    MainSpawned(Result<Pid, StartError>),
    /// A service's process was spawned (`Err`: why it could not be).
    ServiceSpawned {
        service: ServiceId,
        result: Result<Launched, StartError>,
    },
    /// The pidfile of a forking service, as just read.
    Pidfile {
        service: ServiceId,
        reading: PidfileReading,
    },
    /// The processes foster has adopted (its children it did not start),
    /// looked at for a forking service without a pidfile; with a status
    /// for those whose exit is held.
    Adopted {
        service: ServiceId,
        found: Vec<(Candidate, Option<WaitStatus>)>,
        context: Option<crate::pidfile::Context>,
        /// The processes in the service's cgroup, when it has one: exact
        /// membership.
        members: Option<Vec<Pid>>,
    },
    /// The service's cgroup has no process left.
    CgroupEmpty(ServiceId),
    /// The OOM killer killed a process of the service since it started
    /// (its cgroup's `memory.events`), as read just before the exit of one
    /// of its processes, or its cgroup's emptying, is fed.
    OomKilled(ServiceId),
    /// A control request, from a client awaiting its reply; `wall`: the
    /// wall clock when it came (`status --json` says since when each
    /// service is in its state, in UTC).
    Request {
        client: Client,
        request: Request,
        wall: std::time::SystemTime,
    },
    /// A client left before the reply it waited for: it gets none.
    ClientGone(Client),
    /// What became of a [`Action::Deliver`]: `refused` when no target
    /// took the signal (the first error the kernel gave).
    Delivered {
        client: Client,
        service: ServiceId,
        sig: i32,
        refused: Option<Errno>,
    },
    /// An sd_notify message from `sender`, whose session is `session` and
    /// whose cgroup is `cgroup`; `main` describes the process its
    /// `MAINPID=` names, if it names one.
    Notify {
        sender: Pid,
        session: Option<Pid>,
        cgroup: CgroupMembership,
        message: crate::notify::Message,
        main: Option<Named>,
        /// The descriptors that came with it, held by the event loop
        /// until the core says they are for a service's fd store (else
        /// they are closed once the message is handled).
        fds: Option<Parcel>,
    },
    /// What a service's fd store holds now, after a change.
    Stored {
        service: ServiceId,
        stored: Vec<StoredCount>,
    },
    /// An exec probe of `service`'s health check runs as `pid`: not one
    /// of the service's processes.
    ProbeStarted {
        service: ServiceId,
        probe: u64,
        pid: Pid,
    },
    /// A probe of `service`'s health check is over.
    ProbeDone {
        service: ServiceId,
        probe: u64,
        result: ProbeResult,
    },
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub healthy: bool,
    /// What it said (an exec probe's output, an HTTP answer's first
    /// bytes, why a connection failed), at most [`PROBE_OUTPUT_MAX`]
    /// bytes.
    pub output: String,
}

/// The most of a probe's output that is kept.
pub const PROBE_OUTPUT_MAX: usize = 4096;

/// Descriptors that came with a notify message, as the event loop holds
/// them: which parcel, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parcel {
    pub id: u64,
    pub count: usize,
}

/// How many descriptors a service keeps in its fd store under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCount {
    pub name: String,
    pub count: usize,
}

/// A process named by a pidfile or a `MAINPID=`, as `/proc` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub pid: Pid,
    /// `None` when it is not alive.
    pub candidate: Option<Candidate>,
    pub ties: Ties,
}

/// A pidfile as the event loop read it: the facts, judged here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidfileReading {
    /// The PID it names, if its content is a clean PID.
    pub pid: Option<Pid>,
    /// Same file and content as before the launch: left over, not news.
    pub stale: bool,
    /// What `/proc` says about that PID, if it is alive.
    pub candidate: Option<Candidate>,
    /// Who foster and the launcher are, for the validation.
    pub context: Option<crate::pidfile::Context>,
    /// The PID named has already ended: its exit was held (not reaped)
    /// while the service was starting, and this is its status.
    pub exited: Option<WaitStatus>,
    /// What ties the process named to a service.
    pub ties: Ties,
    /// Whether the kernel says a process holds a lock on the file, and
    /// whether it is the one the text names. With
    /// [`PidfileLock::HeldByOther`], `pid` and everything after it
    /// describe the holder, not the text's PID.
    pub lock: PidfileLock,
}

/// What the kernel says of a pidfile's lock, against its text. A daemon
/// that keeps its pidfile locked for life (`fcntl` or `lockf`, `flock`, an
/// OFD lock) gives a second witness, and a better one: the text may be
/// left over, half written, or rewritten by another, the lock dies with
/// its holder (P21 in `daemon-tracking.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PidfileLock {
    /// No lock, or none whose holder foster could name: a holder outside
    /// foster's PID namespace, an OFD or `flock` lock held by no process
    /// foster can find still holding it.
    #[default]
    Unlocked,
    /// Locked by the process the text names.
    HeldByNamed,
    /// Locked by another process than the text names (`text`: the text's
    /// PID, if it is a clean one): the reading describes the holder.
    HeldByOther { text: Option<Pid> },
}

/// Who a signal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Process(Pid),
    /// The process group led by this PID.
    Group(Pid),
    /// Every descendant of foster still alive.
    Descendants,
    /// Every descendant of foster in session `sid` that started at or
    /// after `since` (clock ticks; any time when unknown): a followed
    /// daemon and its workers.
    Session {
        sid: Pid,
        since: Option<u64>,
    },
}

/// Something for the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Signal {
        target: Target,
        sig: i32,
    },
    /// Spawn the main command and report [`Event::MainSpawned`].
    StartMain,
    /// Spawn this service and report [`Event::ServiceSpawned`].
    Start(ServiceId),
    /// Run a reaping pass (it ends with [`Event::ReapDone`]).
    Reap,
    /// Re-read the services directory and hand it to [`Supervisor::reload`],
    /// which replies to `client` (or logs, for SIGHUP).
    LoadUnits {
        client: Option<Client>,
    },
    /// Answer a control client.
    Reply {
        client: Client,
        reply: Reply,
    },
    /// Send `sig` to `targets` now, and report [`Event::Delivered`]: the
    /// reply to `fosterctl kill` says whether the kernel took it.
    Deliver {
        client: Client,
        service: ServiceId,
        sig: i32,
        targets: Vec<Target>,
    },
    /// Read this service's pidfile and report [`Event::Pidfile`].
    ReadPidfile(ServiceId),
    /// Hold a pidfd on this process: every signal to it goes through it.
    Follow(Pid),
    /// Reap this held zombie; its exit has been accounted for.
    Release(Pid),
    /// List foster's adopted children and report [`Event::Adopted`].
    FindAdopted(ServiceId),
    /// SIGKILL every process in the service's cgroup, if it has one.
    KillCgroup(ServiceId),
    /// Send `sig` to every process in the service's cgroup, if it has one.
    SignalCgroup {
        service: ServiceId,
        sig: i32,
    },
    /// Go on without a cgroup per service: remove them, forget their
    /// watches (after a cgroup could be made but not joined).
    DropCgroups,
    /// Keep the descriptors of `parcel` in the service's fd store under
    /// `name` (watched for hangup when `poll`), up to `max` in all, and
    /// report [`Event::Stored`].
    StoreFds {
        service: ServiceId,
        parcel: u64,
        name: String,
        poll: bool,
        max: usize,
    },
    /// Close what the service's fd store keeps under `name`, and report
    /// [`Event::Stored`].
    RemoveStoredFds {
        service: ServiceId,
        name: String,
    },
    /// Close everything in the service's fd store (stopped on request),
    /// and report [`Event::Stored`].
    DropStoredFds(ServiceId),
    /// Run probe `probe` of `service`'s health check, and report
    /// [`Event::ProbeDone`] (and, for an exec probe, [`Event::ProbeStarted`]).
    Probe {
        service: ServiceId,
        probe: u64,
        check: crate::unit::HealthProbe,
    },
    /// Probe `probe` ran past its timeout: kill it (an exec probe's
    /// process group) or close its connection; its result is not wanted.
    CancelProbe {
        probe: u64,
    },
    /// Answer `client`'s `logs` with the last `lines` lines of `sources`
    /// (every service and foster's own when empty), after `notes`; with
    /// `follow`, keep its connection and send it new lines as they come.
    SendLogs {
        client: Client,
        sources: Vec<String>,
        notes: Vec<String>,
        lines: usize,
        follow: bool,
    },
    /// Exit foster with this status.
    Exit(u8),
}

/// An error number the kernel returned, as the core reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Errno {}

/// Why a process could not be started, as the event loop reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// There is no main command to start (or it was started already).
    NoCommand,
    /// The service is not known any more.
    NoUnit,
    /// A notify service, or one with a watchdog, and the notify socket
    /// could not be set up.
    NoNotifySocket,
    /// An argument, environment entry or path holds a NUL byte.
    Nul,
    /// The output pipe of a `log: prefix` service could not be made.
    OutputPipe(Errno),
    /// `/dev/null`, for a `log: none` service's output, could not be opened.
    DevNull(Errno),
    /// `clone(2)` failed: there is no child.
    Fork(Errno),
    /// An `env_file` that is not optional could not be read or parsed:
    /// what is wrong, naming the file (and the line).
    EnvFile(String),
    /// A socket of its `sockets:` could not be made: which, and why.
    Socket(String),
    /// Its stored descriptors could not be copied for it (foster's
    /// descriptor table is full).
    Stored(Errno),
    /// The child failed in its set-up or at exec, and exits by itself;
    /// `detail` names the path or the command concerned.
    Child {
        stage: Stage,
        errno: Errno,
        detail: Option<String>,
    },
}

impl StartError {
    /// The status a start that failed this way counts as, as a shell
    /// reports a command it could not run: 127 when the program was not
    /// found, 126 when it was but could not be run (permission, set-up).
    pub fn exit_status(&self) -> u8 {
        match self {
            StartError::Child {
                stage: Stage::Exec,
                errno,
                ..
            } => crate::sys::exec_failure_status(errno.0),
            _ => 126,
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NoCommand => f.write_str("no main command"),
            StartError::NoUnit => f.write_str("its unit is gone"),
            StartError::NoNotifySocket => f.write_str(
                "the notify socket could not be set up, so readiness and watchdog pings cannot be reported",
            ),
            StartError::Nul => {
                f.write_str("an argument or environment variable contains a NUL byte")
            }
            StartError::OutputPipe(e) => write!(f, "cannot create its output pipe: {e}"),
            StartError::DevNull(e) => write!(f, "cannot open /dev/null for its output (log: none): {e}"),
            StartError::Fork(e) => write!(f, "fork failed: {e}"),
            StartError::EnvFile(why) | StartError::Socket(why) => f.write_str(why),
            StartError::Stored(errno) => write!(f, "cannot pass its stored descriptors: {errno}"),
            StartError::Child {
                stage,
                errno,
                detail,
            } => {
                write!(f, "{stage}: {}", errno.describe())?;
                match detail {
                    Some(detail) => write!(f, " ({detail})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for StartError {}

impl Errno {
    /// What the error number means, without its number (`No such file or
    /// directory`).
    pub fn describe(self) -> &'static str {
        nix::errno::Errno::from_raw(self.0).desc()
    }
}
