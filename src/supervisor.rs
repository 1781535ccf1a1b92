//! The decisions, without the syscalls.
//!
//! [`Supervisor`] is fed [`Event`]s (a signal arrived, a child was reaped,
//! a reaping pass ended, the timer fired, a spawn succeeded or failed) with
//! the current time, and answers with [`Action`]s (signal this, start that,
//! reap, exit). Its deadlines are plain instants it reports through
//! [`Supervisor::next_deadline`]; the event loop keeps one timer armed for
//! the earliest. It never touches the kernel, so every rule below is
//! unit-tested without forking or sleeping.
//!
//! The rules:
//! - Services start once their dependencies are ready (a failed dependency
//!   fails its dependents). A main command starts once every service is
//!   ready or has given up. With no services at all (one-command mode) the
//!   main command starts at once.
//! - One-command mode: every signal foster receives is forwarded to the
//!   command (or its process group with `-g`). With services, SIGTERM,
//!   SIGINT and SIGQUIT shut everything down, and other signals go to the
//!   main command when there is one.
//! - A service that ends is restarted or not by its policy, with a backoff
//!   that doubles on each failure in a row. A critical service that ends
//!   for good shuts everything down.
//! - Shutdown: the main command first, then each service once everything
//!   that depends on it is down (stop signal, SIGCONT, SIGKILL after its
//!   `stop_timeout`), then whatever is left gets SIGTERM and SIGCONT, the
//!   grace, and SIGKILL. foster exits the moment nothing is left, never
//!   sleeping out a timeout. A second SIGTERM, SIGINT or SIGQUIT during the
//!   shutdown kills everything at once.
//! - Exit status: the main command's (128+N for a death by signal N, `-e`
//!   statuses mapped to 0), else the critical service's that ended it all,
//!   else 0.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use crate::control::{Outcome as ReplyOutcome, Reply, Request, is_up, status_json, status_table};
use crate::pidfile::{Candidate, CgroupMembership, Claim, Refusal, Ties};
use crate::service::{Launched, Outcome, PidSource, Service, State};
use crate::signal;
use crate::status::{ExpectedStatuses, WaitStatus};
use crate::sys::Pid;
use crate::unit::{Kind, Loaded, Unit};

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
    MainSpawned(Result<Pid, String>),
    /// A service's process was spawned (`Err`: why it could not be).
    ServiceSpawned {
        name: String,
        result: Result<Launched, String>,
    },
    /// The pidfile of a forking service, as just read.
    Pidfile {
        name: String,
        reading: PidfileReading,
    },
    /// The processes foster has adopted (its children it did not start),
    /// looked at for a forking service without a pidfile; with a status
    /// for those whose exit is held.
    Adopted {
        name: String,
        found: Vec<(crate::pidfile::Candidate, Option<WaitStatus>)>,
        context: Option<crate::pidfile::Context>,
        /// The processes in the service's cgroup, when it has one: exact
        /// membership.
        members: Option<Vec<Pid>>,
    },
    /// The service's cgroup has no process left.
    CgroupEmpty(String),
    /// An sd_notify message from `sender`, whose session is `session` and
    /// whose cgroup is `cgroup`; `main` describes the process its
    /// `MAINPID=` names, if it names one.
    Notify {
        sender: Pid,
        session: Option<Pid>,
        cgroup: CgroupMembership,
        message: crate::notify::Message,
        main: Option<Named>,
    },
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
    pub candidate: Option<crate::pidfile::Candidate>,
    /// Who foster and the launcher are, for the validation.
    pub context: Option<crate::pidfile::Context>,
    /// The PID named has already ended: its exit was held (not reaped)
    /// while the service was starting, and this is its status.
    pub exited: Option<WaitStatus>,
    /// What ties the process named to a service.
    pub ties: Ties,
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
    /// after `since` (clock ticks): a followed daemon and its workers.
    Session {
        sid: Pid,
        since: u64,
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
    Start(String),
    /// Run a reaping pass (it ends with [`Event::ReapDone`]).
    Reap,
    /// Re-read the services directory and hand it to [`Supervisor::reload`].
    ReloadUnits,
    /// Read this service's pidfile and report [`Event::Pidfile`].
    ReadPidfile(String),
    /// Hold a pidfd on this process: every signal to it goes through it.
    Follow(Pid),
    /// Reap this held zombie; its exit has been accounted for.
    Release(Pid),
    /// List foster's adopted children and report [`Event::Adopted`].
    FindAdopted(String),
    /// SIGKILL every process in the service's cgroup, if it has one.
    KillCgroup(String),
    /// Send `sig` to every process in the service's cgroup, if it has one.
    SignalCgroup {
        name: String,
        sig: i32,
    },
    /// Exit foster with this status.
    Exit(u8),
}

/// Settings the supervisor decides with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub forward_to_group: bool,
    pub expected: ExpectedStatuses,
    pub grace: Duration,
    pub warn_on_reap: bool,
    /// foster is the init of a machine (see `system`): SIGTERM and SIGPWR
    /// power it off and SIGINT (Ctrl-Alt-Del) reboots it, whatever the mode.
    pub system: bool,
    /// foster's own PID and session, which no service's process may be.
    pub identity: Identity,
}

/// foster's own PID, and its session (the main command's; 0 when its
/// leader is outside foster's PID namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Identity {
    pub pid: Pid,
    pub session: Pid,
}

/// How a machine's init ends, once everything has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Power {
    #[default]
    Poweroff,
    Reboot,
    Halt,
}

impl Power {
    /// The control verb, and what the log says.
    pub fn verb(self) -> &'static str {
        match self {
            Power::Poweroff => "poweroff",
            Power::Reboot => "reboot",
            Power::Halt => "halt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Main {
    /// No main command (services only).
    Absent,
    /// Not started yet.
    Waiting,
    Running(Pid),
    /// Ended, or never started because of a shutdown.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Up,
    /// Stopping the main command and the services in order.
    Stopping,
    /// Everything supervised is down; waiting for a reaping pass to tell
    /// whether anything else is left.
    Settling,
    /// Leftovers got SIGTERM; SIGKILL follows at the deadline.
    Draining {
        killed: bool,
    },
}

/// The state machine of foster.
#[derive(Debug)]
pub struct Supervisor {
    settings: Settings,
    services: BTreeMap<String, Service>,
    main: Main,
    /// Services mode: SIGTERM/SIGINT/SIGQUIT shut down instead of being
    /// forwarded.
    services_mode: bool,
    phase: Phase,
    exit_code: Option<u8>,
    /// Main command's SIGKILL (shutdown) or the leftovers' SIGKILL (drain).
    deadline: Option<Instant>,
    /// A second shutdown signal arrived: no more grace for anything.
    kill_all: bool,
    /// `--pidfile`: the service whose daemon stands in for the main command
    /// (signals are forwarded to it; its end ends foster).
    follow: Option<String>,
    /// System mode: what the machine does once everything has stopped.
    power: Power,
}

impl Supervisor {
    /// `units`: the services; `main`: whether there is a main command;
    /// `services_mode`: started with a services directory.
    pub fn new(
        settings: Settings,
        units: Vec<Unit>,
        main: bool,
        services_mode: bool,
    ) -> Supervisor {
        Supervisor {
            settings,
            services: units
                .into_iter()
                .map(|u| (u.name.clone(), Service::new(u)))
                .collect(),
            main: if main { Main::Waiting } else { Main::Absent },
            services_mode,
            phase: Phase::Up,
            exit_code: None,
            deadline: None,
            kill_all: false,
            follow: None,
            power: Power::default(),
        }
    }

    /// One-command mode with `--pidfile`: `unit` launches a daemon that
    /// takes the main command's place.
    pub fn following(settings: Settings, unit: Unit) -> Supervisor {
        let name = unit.name.clone();
        let mut supervisor = Supervisor::new(settings, vec![unit], false, false);
        supervisor.follow = Some(name);
        supervisor
    }

    /// What a machine's init is to do once foster is done: power off unless
    /// a reboot or a halt was asked for.
    pub fn power(&self) -> Power {
        self.power
    }

    /// Whether `pid` is still named anywhere: the main command, or a
    /// process of a service.
    pub fn names(&self, pid: Pid) -> bool {
        self.main == Main::Running(pid)
            || self
                .services
                .values()
                .any(|s| s.has(pid) || s.dead_main.is_some_and(|(p, _)| p == pid))
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.services.get(name).map(|s| &s.unit)
    }

    /// The earliest deadline, for the event loop's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.services
            .values()
            .filter_map(|s| s.deadline)
            .chain(self.deadline)
            .min()
    }

    /// First actions: start what has no dependencies (and the main command
    /// when nothing holds it back).
    pub fn boot(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self.main == Main::Absent && self.services.is_empty() {
            info!("no services to run; waiting for a reload or a shutdown");
        }
        self.start_ready(now, actions);
    }

    /// Whether exits are being held: a forking service is starting, and a
    /// process of its may end before its pidfile is read. Such an exit is
    /// left unreaped (the zombie keeps its PID from being reused) until
    /// the pidfile names it or the start is over.
    pub fn holding(&self) -> bool {
        self.phase == Phase::Up
            && self.services.values().any(|s| {
                s.unit.kind == Kind::Forking && s.state == State::Starting && s.since.is_some()
            })
    }

    /// Whether the exit of `pid` is to be held (see [`Self::holding`]):
    /// never the main command's or a service's own process.
    pub fn holds(&self, pid: Pid) -> bool {
        self.holding()
            && self.main != Main::Running(pid)
            && !self.services.values().any(|s| s.has(pid))
    }

    /// Feeds one event; pushes what to do onto `actions`.
    pub fn handle(&mut self, event: Event, now: Instant, actions: &mut Vec<Action>) {
        let from_reaper = matches!(event, Event::Exited { .. });
        match event {
            Event::Signal(sig) => self.on_signal(sig, now, actions),
            Event::Exited { pid, status } => self.on_exit(pid, status, now, actions),
            Event::ReapDone { children_left } => self.on_reap_done(children_left, now, actions),
            Event::Tick => self.on_tick(now, actions),
            Event::MainSpawned(Ok(pid)) => {
                debug!("main command started as {pid}");
                self.main = Main::Running(pid);
            }
            Event::MainSpawned(Err(e)) => {
                error!("cannot start the main command: {e}");
                self.main = Main::Done;
                self.exit_code.get_or_insert(1);
                self.begin_shutdown(None, now, actions);
            }
            Event::ServiceSpawned { name, result } => self.on_spawned(&name, result, now, actions),
            Event::Notify {
                sender,
                session,
                cgroup,
                message,
                main,
            } => self.on_notify(sender, session, &cgroup, message, main, actions),
            Event::Pidfile { name, reading } => self.on_pidfile(&name, reading, now, actions),
            Event::Adopted {
                name,
                found,
                context,
                members,
            } => self.on_adopted(&name, found, context, members, now, actions),
            Event::CgroupEmpty(name) => self.on_cgroup_empty(&name, actions),
        }
        self.after(now, from_reaper, actions);
    }

    fn on_signal(&mut self, sig: i32, now: Instant, actions: &mut Vec<Action>) {
        if self.settings.system
            && self.phase == Phase::Up
            && [libc::SIGTERM, libc::SIGPWR, libc::SIGINT].contains(&sig)
        {
            self.power = if sig == libc::SIGINT {
                Power::Reboot
            } else {
                Power::Poweroff
            };
            info!(
                "{} received: shutting down to {}",
                signal::name(sig),
                self.power.verb()
            );
            // The main command is asked to end as in any shutdown: SIGINT
            // here is Ctrl-Alt-Del, not a keyboard interrupt meant for it.
            self.begin_shutdown(Some(libc::SIGTERM), now, actions);
            return;
        }
        let shutdown_signal = [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig);
        match self.phase {
            Phase::Up if self.services_mode && shutdown_signal => {
                info!("{} received: shutting down", signal::name(sig));
                self.begin_shutdown(Some(sig), now, actions);
            }
            Phase::Up if self.services_mode && sig == libc::SIGHUP => {
                info!("SIGHUP received: re-reading the services directory");
                actions.push(Action::ReloadUnits);
            }
            Phase::Up | Phase::Stopping => match self.main {
                Main::Running(pid) => {
                    let target = if self.settings.forward_to_group {
                        Target::Group(pid)
                    } else {
                        Target::Process(pid)
                    };
                    if shutdown_signal && self.phase == Phase::Stopping {
                        self.kill_everything(sig, actions);
                        return;
                    }
                    debug!("forwarding {} to {target:?}", signal::name(sig));
                    actions.push(Action::Signal { target, sig });
                }
                _ if shutdown_signal && self.phase == Phase::Stopping => {
                    self.kill_everything(sig, actions)
                }
                _ if self.follow.is_some() => self.forward_to_daemon(sig, actions),
                _ => debug!("ignoring {}: no main command is running", signal::name(sig)),
            },
            Phase::Settling | Phase::Draining { killed: false } if shutdown_signal => {
                self.kill_everything(sig, actions)
            }
            _ => debug!("ignoring {} while shutting down", signal::name(sig)),
        }
    }

    /// `--pidfile`: signals go to the daemon, through its pidfd once known
    /// (before that, to the launcher).
    fn forward_to_daemon(&mut self, sig: i32, actions: &mut Vec<Action>) {
        let Some(s) = self.follow.as_ref().and_then(|n| self.services.get(n)) else {
            return;
        };
        let Some(pid) = s.pid else {
            debug!(
                "ignoring {}: the daemon is not known yet",
                signal::name(sig)
            );
            return;
        };
        let target = if self.settings.forward_to_group && s.pid_source == PidSource::Child {
            Target::Group(pid)
        } else {
            Target::Process(pid)
        };
        debug!("forwarding {} to the daemon {pid}", signal::name(sig));
        actions.push(Action::Signal { target, sig });
    }

    fn kill_everything(&mut self, sig: i32, actions: &mut Vec<Action>) {
        info!(
            "{} during the shutdown: killing what is left",
            signal::name(sig)
        );
        self.kill_all = true;
        if let Main::Running(pid) = self.main {
            actions.push(Action::Signal {
                target: Target::Group(pid),
                sig: libc::SIGKILL,
            });
        }
        for s in self.services.values_mut() {
            if s.pid.is_some() {
                kill_service(s, actions);
                s.killed = true;
                s.deadline = None;
            }
        }
        actions.push(Action::Signal {
            target: Target::Descendants,
            sig: libc::SIGKILL,
        });
        self.phase = match self.phase {
            Phase::Up | Phase::Stopping => Phase::Stopping,
            _ => Phase::Draining { killed: true },
        };
        self.deadline = None;
    }

    fn on_exit(&mut self, pid: Pid, status: WaitStatus, now: Instant, actions: &mut Vec<Action>) {
        if self.main == Main::Running(pid) {
            let code = self.settings.expected.map(status.shell_code());
            info!("main process {pid} {status}");
            self.main = Main::Done;
            self.exit_code = Some(code);
            self.deadline = None;
            self.begin_shutdown(None, now, actions);
            return;
        }
        let Some(service) = self.services.values_mut().find(|s| s.has(pid)) else {
            if self.settings.warn_on_reap {
                warn!("reaped orphan {pid}, which {status}");
            } else {
                debug!("reaped {pid}, which {status}");
            }
            return;
        };
        let name = service.name().to_string();
        // A guessed set runs while any of its processes lives.
        if service.pid != Some(pid) {
            service.others.retain(|&p| p != pid);
            info!(
                "{name}: process {pid} {status}; {} left",
                service.others.len() + 1
            );
            return;
        }
        if !service.others.is_empty() {
            let next = service.others.remove(0);
            info!(
                "{name}: process {pid} {status}; following {next} ({} left)",
                service.others.len() + 1
            );
            service.pid = Some(next);
            return;
        }
        if service.state == State::Stopping && service.is_followed() && service.session.is_some() {
            // The daemon is gone; its workers may not be. The stop ends when
            // the processes left in its session (adopted by foster now) are,
            // with the daemon's own status.
            service.pid = None;
            if service.dead_main.is_none() {
                service.dead_main = Some((pid, status));
            }
            actions.push(Action::FindAdopted(name));
            return;
        }
        if service.state == State::Stopping || self.phase != Phase::Up {
            self.stopped(&name, status);
            return;
        }
        if service.pid_source == PidSource::Pidfile && service.state == State::Running {
            // Before the daemon counts as dead, read its pidfile again: a
            // daemon that hands over to a new process (nginx's binary
            // upgrade) names the successor there.
            info!("{name}: main process {pid} {status}; reading its pidfile again");
            service.pid = None;
            service.dead_main = Some((pid, status));
            actions.push(Action::ReadPidfile(name));
            return;
        }
        if service.pid_source == PidSource::Guessed && service.state == State::Running {
            // The last of a guessed set: an intermediate process of a double
            // fork, say, whose child foster has adopted in the meantime.
            info!("{name}: process {pid} {status}; looking for what it left");
            service.pid = None;
            service.dead_main = Some((pid, status));
            actions.push(Action::FindAdopted(name));
            return;
        }
        if service.unit.kind == Kind::Forking
            && service.state == State::Starting
            && status != WaitStatus::Exited(0)
        {
            // The launcher failed: whatever it started is stopped.
            for sig in [service.unit.stop_signal, libc::SIGCONT] {
                actions.push(Action::Signal {
                    target: Target::Group(pid),
                    sig,
                });
            }
            actions.push(Action::KillCgroup(name.clone()));
        }
        self.service_ended(&name, status, now, actions);
    }

    /// A service's stop is complete.
    fn stopped(&mut self, name: &str, status: WaitStatus) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        info!("{name}: stopped ({status})");
        service.pid = None;
        service.others.clear();
        service.dead_main = None;
        service.last_exit = Some(status);
        service.deadline = None;
        service.ready = false;
        service.state = State::Stopped;
        if let Some(unit) = service.pending.take() {
            service.unit = unit;
        }
        if service.retired {
            info!("{name}: removed");
            self.services.remove(name);
            return;
        }
        if service.start_after_stop && self.phase == Phase::Up {
            service.start_after_stop = false;
            service.restarts = service.restarts.saturating_add(1);
            service.state = State::Starting;
            service.since = None;
        }
    }

    /// A service's main process is gone for good: restart it or not.
    fn service_ended(
        &mut self,
        name: &str,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        let was_ready = service.ready;
        match service.ended(status, now) {
            Outcome::RestartAfter(delay) => {
                warn!("{name}: {status}; restarting in {delay:?}");
            }
            Outcome::AwaitPidfile => {
                info!("{name}: launcher exited well; waiting for its pidfile");
                actions.push(Action::ReadPidfile(name.to_string()));
            }
            Outcome::Done(State::Exited) => info!("{name}: finished"),
            Outcome::FindAdopted => {
                debug!("{name}: launcher exited well; looking for the processes it left");
                actions.push(Action::FindAdopted(name.to_string()));
            }
            Outcome::Done(state) => {
                if state == State::Failed {
                    warn!("{name}: {status}; not restarting");
                } else {
                    info!("{name}: {status}");
                }
                if !was_ready {
                    self.fail_dependents(name);
                }
                self.critical_ended(name, status, now, actions);
            }
        }
    }

    /// A forking service's pidfile was read: adopt a valid PID as the main
    /// process, see a handover through, or keep waiting.
    fn on_pidfile(
        &mut self,
        name: &str,
        reading: PidfileReading,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        // Processes that are someone else's: the main command's, other
        // services'. Reparented to foster and young, they would pass the
        // checks below.
        let foreign = reading
            .candidate
            .as_ref()
            .and_then(|c| self.owner_elsewhere(name, c, &reading.ties));
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if (!s.awaiting_pidfile && s.dead_main.is_none()) || s.state == State::Stopping {
            return;
        }
        let path = s
            .unit
            .pidfile
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let verdict = match (
            reading.pid,
            reading.stale,
            reading.candidate,
            reading.context,
            foreign,
        ) {
            (None, ..) => Err("it holds no PID yet".to_string()),
            (Some(_), true, ..) => Err("it is left over from before the launch".to_string()),
            (Some(pid), _, None, ..) => Err(format!("PID {pid} is not alive")),
            (Some(pid), _, Some(_), ..) if s.dead_main.is_some_and(|(dead, _)| dead == pid) => {
                Err(format!("it still names {pid}, which has exited"))
            }
            (Some(pid), _, Some(_), _, Some(refusal)) => {
                warn!("{name}: refusing PID {pid} from {path}: {refusal}");
                Err(format!("refused PID {pid}: {refusal}"))
            }
            (Some(pid), _, Some(c), Some(ctx), None) => match crate::pidfile::validate(
                &c,
                &reading.ties,
                &ctx,
                name,
                &s.pids(),
                Claim::Pidfile,
            ) {
                Ok(()) => {
                    s.session = Some(c.session);
                    s.launched_ticks = ctx.launched_ticks;
                    Ok((pid, reading.exited))
                }
                Err(refusal) => {
                    warn!("{name}: refusing PID {pid} from {path}: {refusal}");
                    Err(format!("refused PID {pid}: {refusal}"))
                }
            },
            (Some(_), _, Some(_), None, None) => Err("the launch is unknown".to_string()),
        };
        match verdict {
            Ok((pid, Some(status))) => {
                // The daemon wrote its pidfile and was gone before it was
                // read: its held exit gives the real status.
                match s.dead_main.take() {
                    Some((old, _)) => {
                        info!("{name}: handed over from {old} to {pid}, which {status}")
                    }
                    None => warn!("{name}: daemon {pid} (from {path}) started, then {status}"),
                }
                actions.push(Action::Release(pid));
                s.awaiting_pidfile = false;
                s.pid_source = PidSource::Pidfile;
                s.state = State::Running;
                s.deadline = None;
                s.reason = Some(format!("daemon {pid} started, then {status}"));
                self.service_ended(name, status, now, actions);
            }
            Ok((pid, None)) => {
                match s.dead_main.take() {
                    Some((old, _)) => {
                        info!("{name}: handed over from {old} to {pid} (pidfile {path})")
                    }
                    None => info!("{name}: main process {pid} (from {path})"),
                }
                s.pid = Some(pid);
                s.pid_source = PidSource::Pidfile;
                s.awaiting_pidfile = false;
                s.state = State::Running;
                s.ready = true;
                s.deadline = None;
                actions.push(Action::Follow(pid));
            }
            Err(why) if s.awaiting_pidfile && s.emptied => {
                warn!(
                    "{name}: never wrote a valid pidfile, and no process of it is left ({path}: {why})"
                );
                s.awaiting_pidfile = false;
                s.deadline = None;
                s.reason = Some("never wrote a valid pidfile, and no process of it is left".into());
                self.service_ended(name, WaitStatus::Exited(1), now, actions);
            }
            Err(why) if s.awaiting_pidfile => debug!("{name}: pidfile {path}: {why}; waiting"),
            Err(_) => {
                let Some((_, status)) = s.dead_main.take() else {
                    return;
                };
                // Whatever the daemon left gets the stop sequence.
                stop_what_is_left(s, actions);
                self.service_ended(name, status, now, actions);
            }
        }
    }

    /// A forking service without a pidfile: its processes are the ones
    /// foster adopted since the launch. One is the main PID; several are
    /// supervised as a set. Each is told apart from other services' by PID
    /// and session; a cgroup would make it exact.
    fn on_adopted(
        &mut self,
        name: &str,
        found: Vec<(crate::pidfile::Candidate, Option<WaitStatus>)>,
        context: Option<crate::pidfile::Context>,
        members: Option<Vec<Pid>>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let mut known = Vec::new();
        let mut sessions = Vec::new();
        if let Main::Running(pid) = self.main {
            known.push(pid);
        }
        for (other, s) in &self.services {
            if other == name {
                continue;
            }
            known.extend(s.pid);
            known.extend(s.others.iter().copied());
            match s.pid {
                Some(pid) if !s.is_followed() => sessions.push(pid),
                _ => sessions.extend(s.session),
            }
        }
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if !s.awaiting_pidfile && s.dead_main.is_none() {
            return;
        }
        let Some(ctx) = context else {
            warn!("{name}: the launch is unknown; cannot tell its processes");
            if s.state == State::Stopping
                && let Some((_, status)) = s.dead_main
            {
                self.stopped(name, status);
            }
            return;
        };
        if s.state == State::Stopping {
            // A followed daemon stopped: wait for what is left of its session.
            let left: Vec<Pid> = found
                .iter()
                .filter(|(c, st)| {
                    st.is_none()
                        && c.ppid == ctx.foster
                        && c.start_ticks >= s.launched_ticks
                        && match &members {
                            Some(members) => members.contains(&c.pid),
                            None => Some(c.session) == s.session && !known.contains(&c.pid),
                        }
                })
                .map(|(c, _)| c.pid)
                .collect();
            let status = s.dead_main.map(|(_, st)| st);
            match (left.split_first(), status) {
                (Some((&first, rest)), _) => {
                    info!(
                        "{name}: main process gone; waiting for {} more of its processes {left:?}",
                        left.len()
                    );
                    s.pid = Some(first);
                    s.others = rest.to_vec();
                    actions.extend(left.iter().copied().map(Action::Follow));
                    // They get the stop signal too, and SIGKILL at the
                    // deadline (at once if it has passed).
                    signal_service(s, s.unit.stop_signal, actions);
                    signal_service(s, libc::SIGCONT, actions);
                    if s.killed {
                        kill_service(s, actions);
                    } else if s.deadline.is_none() {
                        s.deadline = Some(now + s.unit.stop_timeout);
                    }
                }
                (None, Some(status)) => self.stopped(name, status),
                (None, None) => {}
            }
            return;
        }
        let mut ours: Vec<_> = found
            .into_iter()
            .filter(|(c, st)| {
                c.ppid == ctx.foster
                    && c.session != ctx.foster_session
                    && ![1, ctx.foster, ctx.launcher].contains(&c.pid)
                    && c.start_ticks >= ctx.launched_ticks
                    && match &members {
                        // A held zombie has left its cgroup already.
                        Some(members) => {
                            (members.contains(&c.pid) || st.is_some()) && !known.contains(&c.pid)
                        }
                        None => !known.contains(&c.pid) && !sessions.contains(&c.session),
                    }
            })
            .collect();
        ours.sort_by_key(|(c, _)| (c.start_ticks, c.pid));
        let live: Vec<_> = ours.iter().filter(|(_, st)| st.is_none()).collect();
        if let Some((first, _)) = live.first() {
            let pids: Vec<Pid> = live.iter().map(|(c, _)| c.pid).collect();
            match s.dead_main.take() {
                Some((old, _)) => info!("{name}: {old} is gone; following {pids:?}, adopted since"),
                None if pids.len() == 1 => info!(
                    "{name}: main process {} (guessed: the one process adopted since the launch)",
                    pids[0]
                ),
                None => info!(
                    "{name}: {} processes adopted since the launch {pids:?}; supervised as a set",
                    pids.len()
                ),
            }
            s.session = Some(first.session);
            s.launched_ticks = ctx.launched_ticks;
            s.pid = Some(first.pid);
            s.others = pids[1..].to_vec();
            s.pid_source = PidSource::Guessed;
            s.awaiting_pidfile = false;
            s.state = State::Running;
            s.ready = true;
            s.deadline = None;
            actions.extend(pids.into_iter().map(Action::Follow));
            return;
        }
        let status = match (s.dead_main.take(), ours.as_slice()) {
            (Some((_, status)), _) => {
                stop_what_is_left(s, actions);
                status
            }
            (None, [(c, Some(status))]) => {
                warn!("{name}: daemon {} started, then {status}", c.pid);
                actions.push(Action::Release(c.pid));
                s.reason = Some(format!("daemon {} started, then {status}", c.pid));
                *status
            }
            _ => {
                warn!("{name}: the launcher exited well but left no process behind");
                s.reason = Some("the launcher left no process behind".into());
                WaitStatus::Exited(0)
            }
        };
        s.awaiting_pidfile = false;
        s.pid_source = PidSource::Guessed;
        s.state = State::Running;
        s.deadline = None;
        self.service_ended(name, status, now, actions);
    }

    /// No process of the service is left. A forking service still waiting
    /// for its pidfile gets one last reading, which then decides.
    fn on_cgroup_empty(&mut self, name: &str, actions: &mut Vec<Action>) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if s.unit.kind != Kind::Forking || s.state != State::Starting || s.emptied {
            return;
        }
        // Noted even before the launcher's exit is reaped (the cgroup may
        // empty first): its pidfile then gets one reading, which decides.
        s.emptied = true;
        if s.awaiting_pidfile && s.unit.pidfile.is_some() {
            debug!("{name}: no process of it is left; reading its pidfile one last time");
            actions.push(Action::ReadPidfile(name.to_string()));
        }
    }

    fn on_spawned(
        &mut self,
        name: &str,
        result: Result<Launched, String>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        match result {
            Ok(launch) => {
                info!("{name}: started as {}", launch.pid);
                service.spawned(launch, now);
            }
            Err(reason) => {
                error!("{name}: cannot start: {reason}");
                service.reason = Some(reason);
                service.since.get_or_insert(now);
                // As if it had exited 127: the restart policy decides.
                self.service_ended(name, WaitStatus::Exited(127), now, actions);
            }
        }
    }

    /// Whose message it is: the service whose cgroup the sender is in,
    /// where foster makes cgroups (exact); else the service the sender is a
    /// process of, or whose session it is in (the session its launch led,
    /// or the session of the daemon it follows) — a shell script calling
    /// `fosterctl notify` or `systemd-notify` counts.
    fn sender_service(
        &self,
        sender: Pid,
        session: Option<Pid>,
        cgroup: &CgroupMembership,
    ) -> Option<String> {
        let live = |s: &&Service| s.pid.is_some();
        match cgroup {
            CgroupMembership::Service(name) => self
                .services
                .get(name)
                .filter(live)
                .map(|s| s.name().to_string()),
            CgroupMembership::NoService => None,
            CgroupMembership::Unknown => self
                .services
                .values()
                .filter(live)
                .find(|s| {
                    s.has(sender)
                        || session.is_some_and(|sid| {
                            s.pid == Some(sid)
                                || s.launch.is_some_and(|l| l.pid == sid)
                                || s.session == Some(sid)
                        })
                })
                .map(|s| s.name().to_string()),
        }
    }

    /// The main command or another service than `name` to which the process
    /// `c` belongs: it is one of their processes, in the session one of
    /// them leads or follows, or started by one of them (`ties`). The
    /// cgroup and `FOSTER_SERVICE_NAME` tell it too, and [`crate::pidfile::validate`]
    /// checks those.
    fn owner_elsewhere(&self, name: &str, c: &Candidate, ties: &Ties) -> Option<Refusal> {
        if let Main::Running(main) = self.main
            && (c.pid == main || ties.ancestors.contains(&main))
        {
            return Some(Refusal::MainCommand);
        }
        self.services
            .iter()
            .filter(|(other, _)| other.as_str() != name)
            .find(|(_, s)| {
                // The session its launch led, unless that number now leads
                // a session of someone else's (its leader started later).
                let launch_session = s.launch.is_some_and(|l| {
                    l.pid == c.session
                        && (l.ticks == 0 || ties.leader_ticks.is_none_or(|t| t == l.ticks))
                });
                // A watched process is not reaped yet, so its number is
                // still its own: an ancestor with that number is it.
                s.has(c.pid)
                    || launch_session
                    || (s.pid.is_some() && s.session == Some(c.session))
                    || ties.ancestors.iter().any(|&a| s.has(a))
            })
            .map(|(other, _)| Refusal::OtherService(other.clone()))
    }

    /// An sd_notify message, from a process of the service it counts for.
    fn on_notify(
        &mut self,
        sender: Pid,
        session: Option<Pid>,
        cgroup: &CgroupMembership,
        message: crate::notify::Message,
        main: Option<Named>,
        actions: &mut Vec<Action>,
    ) {
        let Some(name) = self.sender_service(sender, session, cgroup) else {
            debug!("ignoring a notification from {sender}, which belongs to no service");
            return;
        };
        let refusal = main.as_ref().and_then(|named| {
            let c = named.candidate.as_ref()?;
            self.owner_elsewhere(&name, c, &named.ties)
        });
        let identity = self.settings.identity;
        let Some(s) = self.services.get_mut(&name) else {
            return;
        };
        if let Some(text) = message.status {
            debug!("{name}: status: {text}");
            s.status_text = Some(text);
        }
        if let Some(named) = main
            && s.pid != Some(named.pid)
            && matches!(s.state, State::Starting | State::Running)
        {
            let pid = named.pid;
            let verdict = match (named.candidate, refusal, s.launch) {
                (None, ..) => Err(format!("PID {pid} is not alive")),
                (Some(_), Some(refusal), _) => Err(refusal.to_string()),
                (Some(_), None, None) => Err("the launch is unknown".to_string()),
                (Some(c), None, Some(launch)) => {
                    let ctx = crate::pidfile::Context {
                        foster: identity.pid,
                        launcher: launch.pid,
                        launched_ticks: launch.ticks,
                        foster_session: identity.session,
                    };
                    crate::pidfile::validate(
                        &c,
                        &named.ties,
                        &ctx,
                        &name,
                        &s.pids(),
                        Claim::MainPid,
                    )
                    .map(|()| c)
                    .map_err(|r| r.to_string())
                }
            };
            match verdict {
                Ok(c) => {
                    info!("{name}: main process is now {pid} (MAINPID from {sender})");
                    s.pid = Some(pid);
                    s.others.clear();
                    s.pid_source = PidSource::Notify;
                    s.session = Some(c.session);
                    actions.push(Action::Follow(pid));
                }
                Err(why) => warn!("{name}: refusing MAINPID={pid} from {sender}: {why}"),
            }
        }
        if message.ready && s.state == State::Starting && s.unit.kind == Kind::Notify {
            info!("{name}: ready");
            s.ready = true;
            s.state = State::Running;
            s.deadline = None;
        }
    }

    fn on_tick(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let mut to_start = Vec::new();
        let mut timed_out = Vec::new();
        for s in self.services.values_mut() {
            let Some(due) = s.deadline else { continue };
            if due > now {
                continue;
            }
            s.deadline = None;
            match (s.state, s.pid) {
                (State::Backoff, _) if self.phase == Phase::Up => {
                    s.restarts = s.restarts.saturating_add(1);
                    s.state = State::Starting;
                    to_start.push(s.name().to_string());
                }
                (State::Starting, None) if s.awaiting_pidfile => {
                    warn!(
                        "{}: never wrote a valid pidfile within {:?}",
                        s.name(),
                        s.unit.start_timeout
                    );
                    timed_out.push(s.name().to_string());
                }
                (State::Starting, Some(pid)) => {
                    warn!(
                        "{}: not ready within {:?}; killing it",
                        s.name(),
                        s.unit.start_timeout
                    );
                    actions.push(Action::Signal {
                        target: Target::Group(pid),
                        sig: libc::SIGKILL,
                    });
                }
                (State::Stopping, Some(_)) => {
                    warn!(
                        "{}: still running {:?} after its stop signal; killing it",
                        s.name(),
                        s.unit.stop_timeout
                    );
                    kill_service(s, actions);
                    s.killed = true;
                }
                _ => {}
            }
        }
        for name in to_start {
            actions.push(Action::Start(name));
        }
        for name in timed_out {
            if let Some(s) = self.services.get_mut(&name) {
                s.awaiting_pidfile = false;
                s.reason = Some("never wrote a valid pidfile".into());
                // What the launch left is not to pile up with each retry.
                actions.push(Action::KillCgroup(name.clone()));
            }
            self.service_ended(&name, WaitStatus::Exited(1), now, actions);
        }
        if let Some(due) = self.deadline
            && due <= now
        {
            self.deadline = None;
            match (self.phase, self.main) {
                (Phase::Stopping, Main::Running(pid)) => {
                    warn!(
                        "main command still running {:?} after the shutdown signal; killing it",
                        self.settings.grace
                    );
                    actions.push(Action::Signal {
                        target: Target::Group(pid),
                        sig: libc::SIGKILL,
                    });
                }
                (Phase::Draining { killed: false }, _) => {
                    info!("grace period over: killing what is left");
                    actions.push(Action::Signal {
                        target: Target::Descendants,
                        sig: libc::SIGKILL,
                    });
                    self.phase = Phase::Draining { killed: true };
                }
                _ => {}
            }
        }
    }

    fn on_reap_done(&mut self, children_left: bool, now: Instant, actions: &mut Vec<Action>) {
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

    /// Answers a control request; state changes show up as actions.
    pub fn control(&mut self, request: Request, now: Instant, actions: &mut Vec<Action>) -> Reply {
        let reply = self.answer(request, now, actions);
        self.after(now, false, actions);
        reply
    }

    fn answer(&mut self, request: Request, now: Instant, actions: &mut Vec<Action>) -> Reply {
        let names = match &request {
            Request::Status { names, .. }
            | Request::Start(names)
            | Request::Stop(names)
            | Request::Restart(names)
            | Request::Reload(names) => names.clone(),
            Request::Kill { name, .. } => vec![name.clone()],
            Request::Shutdown | Request::Power(_) => vec![],
        };
        if let Some(unknown) = names.iter().find(|n| !self.services.contains_key(*n)) {
            return Reply::error(format!(
                "unknown service \"{}\"",
                unknown.chars().take(64).collect::<String>()
            ));
        }
        let changing = !matches!(request, Request::Status { .. });
        if changing && self.phase != Phase::Up {
            return Reply::error("foster is shutting down");
        }
        match request {
            Request::Status { names, json } => {
                let list: Vec<&Service> = if names.is_empty() {
                    self.services.values().collect()
                } else {
                    names.iter().filter_map(|n| self.services.get(n)).collect()
                };
                let text = if json {
                    status_json(&list, now)
                } else {
                    status_table(&list, now)
                };
                let all_up = names.is_empty() || list.iter().all(|s| is_up(s));
                Reply {
                    outcome: if all_up {
                        ReplyOutcome::Ok
                    } else {
                        ReplyOutcome::Down
                    },
                    text,
                }
            }
            Request::Start(names) => {
                for name in &names {
                    if let Some(s) = self.services.get_mut(name) {
                        s.held = false;
                        s.start_after_stop = s.state == State::Stopping;
                        if s.pid.is_none() && s.state != State::Stopping && !s.awaiting_pidfile {
                            info!("{name}: start requested");
                            s.state = State::Starting;
                            s.since = None;
                            s.deadline = None;
                            s.failures = 0;
                        }
                    }
                }
                self.start_ready(now, actions);
                Reply::ok("")
            }
            Request::Stop(names) => {
                for name in &names {
                    self.stop_service(name, now, actions);
                }
                Reply::ok("")
            }
            Request::Restart(names) => {
                for name in &names {
                    if self
                        .services
                        .get(name)
                        .is_some_and(|s| s.pid.is_some() || s.awaiting_pidfile)
                    {
                        self.stop_service(name, now, actions);
                        if let Some(s) = self.services.get_mut(name) {
                            s.held = false;
                            if s.state == State::Stopping {
                                s.start_after_stop = true;
                            } else {
                                // Only a launch awaited its pidfile: nothing
                                // to wait for before launching again.
                                s.state = State::Starting;
                                s.since = None;
                            }
                        }
                    } else if let Some(s) = self.services.get_mut(name) {
                        s.held = false;
                        s.state = State::Starting;
                        s.since = None;
                        s.deadline = None;
                    }
                }
                self.start_ready(now, actions);
                Reply::ok("")
            }
            Request::Reload(names) if names.is_empty() => Reply::error(
                "re-reading the services directory is not supported yet; name the services to signal",
            ),
            Request::Reload(names) => {
                for name in &names {
                    if let Some(s) = self.services.get(name)
                        && let Some(pid) = s.pid
                    {
                        info!(
                            "{name}: reloading with {}",
                            signal::name(s.unit.reload_signal)
                        );
                        actions.push(Action::Signal {
                            target: Target::Process(pid),
                            sig: s.unit.reload_signal,
                        });
                    }
                }
                Reply::ok("")
            }
            Request::Kill { name, signal: sig } => {
                match self.services.get(&name).filter(|s| s.pid.is_some()) {
                    Some(s) => {
                        info!("{name}: sending {} on request", signal::name(sig));
                        signal_service(s, sig, actions);
                        Reply::ok("")
                    }
                    None => Reply::error(format!("{name} is not running")),
                }
            }
            Request::Shutdown => {
                info!("shutdown requested");
                self.begin_shutdown(None, now, actions);
                Reply::ok("")
            }
            Request::Power(power) => {
                if self.settings.system {
                    info!("{} requested: shutting down", power.verb());
                    self.power = power;
                } else {
                    info!(
                        "{} requested: foster is not a machine's init, so it only shuts down",
                        power.verb()
                    );
                }
                self.begin_shutdown(None, now, actions);
                Reply::ok("")
            }
        }
    }

    /// Applies a re-read services directory: added units start, removed
    /// ones stop (and are forgotten), changed ones restart with their new
    /// version, unchanged ones are not touched. A unit whose file became
    /// invalid keeps running as it was.
    pub fn reload(&mut self, loaded: Loaded, now: Instant, actions: &mut Vec<Action>) -> Reply {
        if self.phase != Phase::Up {
            return Reply::error("foster is shutting down");
        }
        let mut added = Vec::new();
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let listed: std::collections::BTreeSet<String> = loaded.units.keys().cloned().collect();
        for (name, unit) in loaded.units {
            match self.services.get_mut(&name) {
                None => {
                    info!("{name}: added");
                    self.services.insert(name.clone(), Service::new(unit));
                    added.push(name);
                }
                Some(s) if s.unit == unit && s.pending.is_none() && !s.retired => {}
                Some(s) => {
                    info!("{name}: changed; restarting it");
                    s.retired = false;
                    if s.pid.is_some() {
                        s.pending = Some(unit);
                        let held = s.held;
                        self.stop_service(&name, now, actions);
                        if let Some(s) = self.services.get_mut(&name) {
                            s.held = held;
                            s.start_after_stop = !held;
                        }
                    } else {
                        abandon_launch(s, actions);
                        s.unit = unit;
                        s.pending = None;
                        if !s.held {
                            s.state = State::Starting;
                            s.since = None;
                            s.deadline = None;
                            s.failures = 0;
                            s.ready = false;
                        }
                    }
                    changed.push(name);
                }
            }
        }
        let gone: Vec<String> = self
            .services
            .iter()
            .filter(|(n, s)| !listed.contains(*n) && !s.retired)
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            if loaded.invalid.contains(&name) {
                warn!("{name}: its unit is now invalid; keeping the running version");
                kept.push(name);
                continue;
            }
            if self
                .services
                .get(&name)
                .is_some_and(|s| s.pid.is_none() && s.state != State::Stopping)
            {
                info!("{name}: removed");
                if let Some(mut s) = self.services.remove(&name) {
                    abandon_launch(&mut s, actions);
                }
            } else {
                self.stop_service(&name, now, actions);
                if let Some(s) = self.services.get_mut(&name) {
                    s.retired = true;
                }
            }
            removed.push(name);
        }
        self.start_ready(now, actions);
        let mut text = String::new();
        for problem in &loaded.problems {
            text.push_str(&format!("{problem}\n"));
        }
        let list = |names: &[String]| {
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join(" ")
            }
        };
        text.push_str(&format!(
            "added: {}\nchanged: {}\nremoved: {}\nkept (invalid): {}\n",
            list(&added),
            list(&changed),
            list(&removed),
            list(&kept)
        ));
        Reply::ok(text)
    }

    /// Stops one service on request: stop signal, SIGCONT, SIGKILL after
    /// its `stop_timeout`; not restarted when it ends.
    fn stop_service(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        s.held = true;
        s.start_after_stop = false;
        match s.pid {
            Some(_) if s.state != State::Stopping => {
                info!(
                    "{name}: stopping with {} on request",
                    signal::name(s.unit.stop_signal)
                );
                send_stop_sequence(s, now, actions);
            }
            Some(_) => {}
            None => {
                s.deadline = None;
                abandon_launch(s, actions);
                if matches!(s.state, State::Starting | State::Backoff) {
                    s.state = State::Stopped;
                }
            }
        }
    }

    /// Starts the shutdown. `sig`: the signal that asked for it, passed on to
    /// the main command.
    fn begin_shutdown(&mut self, sig: Option<i32>, now: Instant, actions: &mut Vec<Action>) {
        if self.phase != Phase::Up {
            return;
        }
        self.phase = Phase::Stopping;
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
        for s in self.services.values_mut() {
            if s.pid.is_none() && s.state != State::Stopping {
                s.deadline = None;
                abandon_launch(s, actions);
                if matches!(s.state, State::Starting | State::Backoff) {
                    s.state = State::Stopped;
                }
            }
        }
    }

    /// A critical service ended for good: shut down with its status.
    fn critical_ended(
        &mut self,
        name: &str,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let critical = self.services.get(name).is_some_and(|s| s.unit.critical);
        if critical && self.phase == Phase::Up {
            if self.follow.is_some() {
                info!("the daemon has ended ({status})");
            } else {
                warn!("{name} is critical and has ended ({status}): shutting down");
            }
            if self.main == Main::Absent {
                self.exit_code = Some(self.settings.expected.map(status.shell_code()));
            }
            self.begin_shutdown(None, now, actions);
        }
    }

    /// Fails every service that waits, directly or not, on `name`.
    fn fail_dependents(&mut self, name: &str) {
        let mut failed = vec![name.to_string()];
        while let Some(dep) = failed.pop() {
            for s in self.services.values_mut() {
                if s.is_waiting() && s.unit.depends_on.contains(&dep) {
                    warn!("{}: not starting: its dependency {dep} failed", s.name());
                    s.state = State::Failed;
                    s.reason = Some(format!("dependency {dep} failed"));
                    failed.push(s.name().to_string());
                }
            }
        }
    }

    /// Work that follows any event: start what became startable, advance
    /// the shutdown.
    fn after(&mut self, now: Instant, from_reaper: bool, actions: &mut Vec<Action>) {
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
            if s.pid.is_none() || s.state == State::Stopping {
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
            if let Some(s) = self.services.get_mut(&name)
                && s.pid.is_some()
            {
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

    /// Starts every waiting service whose dependencies are all ready, and
    /// the main command once every service has settled.
    fn start_ready(&mut self, now: Instant, actions: &mut Vec<Action>) {
        // Called after every event: cheap when nothing waits (the usual
        // case once everything is up), and never quadratic in services.
        if self.services.values().any(Service::is_waiting) {
            self.start_waiting(now, actions);
        }
        if self.main == Main::Waiting && self.services.values().all(Service::is_settled) {
            self.main = Main::Done; // until MainSpawned says otherwise
            actions.push(Action::StartMain);
        }
    }

    fn start_waiting(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let ready: std::collections::BTreeSet<String> = self
            .services
            .values()
            .filter(|s| s.ready)
            .map(|s| s.name().to_string())
            .collect();
        let known: std::collections::BTreeSet<String> = self.services.keys().cloned().collect();
        let mut missing: Vec<(String, String)> = Vec::new();
        for s in self.services.values_mut() {
            if !s.is_waiting() {
                continue;
            }
            if let Some(dep) = s.unit.depends_on.iter().find(|d| !known.contains(*d)) {
                missing.push((s.name().to_string(), dep.clone()));
                continue;
            }
            if s.unit.depends_on.iter().all(|d| ready.contains(d)) {
                s.since = Some(now);
                actions.push(Action::Start(s.name().to_string()));
            }
        }
        for (name, dep) in missing {
            if let Some(s) = self.services.get_mut(&name) {
                warn!("{name}: not starting: its dependency {dep} is not a valid service");
                s.state = State::Failed;
                s.reason = Some(format!("dependency {dep} is not available"));
            }
            self.fail_dependents(&name);
        }
    }
}

/// Where a signal meant for a service goes: the process group of the
/// process foster started; for a followed daemon, the daemon itself (each
/// process of a guessed set), through its pidfd, never by a group number.
fn service_targets(s: &Service) -> Vec<Target> {
    match s.pid {
        None => Vec::new(),
        Some(pid) if !s.is_followed() => vec![Target::Group(pid)],
        Some(pid) => std::iter::once(pid)
            .chain(s.others.iter().copied())
            .map(Target::Process)
            .collect(),
    }
}

/// Every process of a service, for SIGKILL: its targets, and for a followed
/// daemon the rest of its session too (its workers).
fn kill_targets(s: &Service) -> Vec<Target> {
    let mut targets = service_targets(s);
    if s.is_followed()
        && let Some(sid) = s.session
    {
        targets.push(Target::Session {
            sid,
            since: s.launched_ticks,
        });
    }
    targets
}

/// A forking service whose launcher is gone and whose daemon is not known
/// yet: foster stops waiting for its pidfile, and its cgroup, if it has
/// one, is killed (the daemon with it).
fn abandon_launch(s: &mut Service, actions: &mut Vec<Action>) {
    if s.awaiting_pidfile {
        s.awaiting_pidfile = false;
        actions.push(Action::KillCgroup(s.name().to_string()));
    }
}

fn signal_service(s: &Service, sig: i32, actions: &mut Vec<Action>) {
    for target in service_targets(s) {
        actions.push(Action::Signal { target, sig });
    }
}

fn kill_service(s: &Service, actions: &mut Vec<Action>) {
    for target in kill_targets(s) {
        actions.push(Action::Signal {
            target,
            sig: libc::SIGKILL,
        });
    }
    actions.push(Action::KillCgroup(s.name().to_string()));
}

/// A followed daemon is gone for good: what it left in its cgroup and its
/// session gets the stop signal (and SIGCONT); the shutdown's drain sees
/// to the rest.
fn stop_what_is_left(s: &Service, actions: &mut Vec<Action>) {
    // Its cgroup, where it has one, holds exactly what it left, whatever
    // sessions that made (or had not made yet when the pidfile was read).
    for sig in [s.unit.stop_signal, libc::SIGCONT] {
        actions.push(Action::SignalCgroup {
            name: s.name().to_string(),
            sig,
        });
    }
    if let Some(sid) = s.session {
        for sig in [s.unit.stop_signal, libc::SIGCONT] {
            actions.push(Action::Signal {
                target: Target::Session {
                    sid,
                    since: s.launched_ticks,
                },
                sig,
            });
        }
    }
}

/// A service's stop: its `stop_signal` and SIGCONT (so a stopped process
/// can act on it), SIGKILL at the deadline.
fn send_stop_sequence(s: &mut Service, now: Instant, actions: &mut Vec<Action>) {
    signal_service(s, s.unit.stop_signal, actions);
    signal_service(s, libc::SIGCONT, actions);
    s.state = State::Stopping;
    s.deadline = Some(now + s.unit.stop_timeout);
}

#[cfg(test)]
mod tests;
