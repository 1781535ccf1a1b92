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

use crate::service::{Ending, Life, Service, ServiceId, Want};
use crate::signal;
use crate::status::ExpectedStatuses;
use crate::sys::Pid;
use crate::unit::Unit;

mod claims;
mod events;
mod forking;
mod health;
mod lifecycle;
mod overlap;
mod requests;
mod shutdown;
pub mod status;
mod waiters;
mod watchdog;

pub use crate::control::Client;
pub use events::{
    Action, Errno, Event, Named, PROBE_OUTPUT_MAX, Parcel, PidfileLock, PidfileReading,
    ProbeResult, StartError, StoredCount, Target,
};

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

/// foster's own PID, and its session (the main command's; `None` when its
/// leader is outside foster's PID namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub pid: Pid,
    pub session: Option<Pid>,
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
    /// Each service's name, by the id events and actions name it by.
    ids: BTreeMap<ServiceId, String>,
    /// The id the next service learned of gets.
    next_id: u64,
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
    /// foster gave up on a cgroup per service (one could be made but not
    /// joined): it asks for that once.
    cgroups_dropped: bool,
    /// Clients awaiting the outcome of a `start`, `stop` or `restart`.
    waiters: Vec<waiters::Waiter>,
    /// During a shutdown, when to say next what it still waits for (a
    /// timer only then: an idle foster never wakes).
    progress_at: Option<Instant>,
    /// Unit files of the services directory that could not be taken, by
    /// name: listed by `status` as `invalid`, with their problems.
    invalid: BTreeMap<String, status::Invalid>,
    /// The id of the last health probe asked for.
    next_probe: u64,
}

/// How often a shutdown that waits says what for.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

impl Supervisor {
    /// `units`: the services; `main`: whether there is a main command;
    /// `services_mode`: started with a services directory.
    pub fn new(
        settings: Settings,
        units: Vec<Unit>,
        main: bool,
        services_mode: bool,
    ) -> Supervisor {
        let mut supervisor = Supervisor {
            settings,
            services: BTreeMap::new(),
            ids: BTreeMap::new(),
            next_id: 1,
            main: if main { Main::Waiting } else { Main::Absent },
            services_mode,
            phase: Phase::Up,
            exit_code: None,
            deadline: None,
            kill_all: false,
            follow: None,
            power: Power::default(),
            cgroups_dropped: false,
            waiters: Vec::new(),
            progress_at: None,
            invalid: BTreeMap::new(),
            next_probe: 0,
        };
        for unit in units {
            supervisor.add(unit);
        }
        supervisor
    }

    /// Notes the unit files that are invalid, each with its problems (as
    /// `FILE:LINE:COL: message`), from the services directory just read:
    /// at start, and on each reload. One whose problems are the same as
    /// before keeps its `since`.
    pub fn note_invalid(&mut self, invalid: BTreeMap<String, Vec<String>>, now: Instant) {
        let before = std::mem::take(&mut self.invalid);
        self.invalid = invalid
            .into_iter()
            .map(|(name, problems)| {
                let since = match before.get(&name) {
                    Some(old) if old.problems == problems => old.since,
                    _ => now,
                };
                (name, status::Invalid { problems, since })
            })
            .collect();
    }

    /// A service foster learns of (at start, or by a reload), with an id
    /// of its own.
    fn add(&mut self, unit: Unit) {
        let id = ServiceId(self.next_id);
        self.next_id = self.next_id.saturating_add(1);
        self.ids.insert(id, unit.name.clone());
        if !unit.autostart {
            info!(
                "{}: not started (autostart: false); `fosterctl start {}` starts it",
                unit.name, unit.name
            );
        }
        self.services
            .insert(unit.name.clone(), Service::new(id, unit));
    }

    /// A service foster forgets (its unit removed, and it is down).
    fn forget(&mut self, name: &str) -> Option<Service> {
        let service = self.services.remove(name)?;
        self.ids.remove(&service.id);
        Some(service)
    }

    /// The name of the service `id` names, while foster knows it.
    fn name_of(&self, id: ServiceId) -> Option<String> {
        self.ids.get(&id).cloned()
    }

    /// The id of the service called `name`.
    pub fn id(&self, name: &str) -> Option<ServiceId> {
        self.services.get(name).map(|s| s.id)
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
        self.main == Main::Running(pid) || self.services.values().any(|s| s.names(pid))
    }

    /// The service `pid` is a watched process of, if any.
    pub fn service_of(&self, pid: Pid) -> Option<ServiceId> {
        self.services.values().find(|s| s.has(pid)).map(|s| s.id)
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The processes watched for other services than `id`, the main
    /// command, and the health probes running: none of them is what `id`
    /// left or adopted.
    pub fn pids_elsewhere(&self, id: ServiceId) -> std::collections::HashSet<Pid> {
        let main = match self.main {
            Main::Running(pid) => Some(pid),
            _ => None,
        };
        self.services
            .values()
            .filter(|s| s.id != id)
            .flat_map(Service::pids)
            .chain(main)
            .chain(self.probe_pids())
            .collect()
    }

    /// The unit of the service `id`, while foster knows it.
    pub fn unit(&self, id: ServiceId) -> Option<&Unit> {
        let name = self.ids.get(&id)?;
        self.services.get(name).map(|s| &s.unit)
    }

    /// The earliest deadline, for the event loop's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.services
            .values()
            .flat_map(|s| {
                s.deadline()
                    .into_iter()
                    .chain(s.outgoing_deadline())
                    .chain(s.watchdog_due())
                    .chain(s.health_due())
            })
            .chain(self.deadline)
            .chain(
                self.progress_at
                    .filter(|_| matches!(self.phase, Phase::Stopping | Phase::Draining { .. })),
            )
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
        self.phase == Phase::Up && self.services.values().any(Service::is_launching_daemon)
    }

    /// Whether the exit of `pid` is to be held (see [`Self::holding`]):
    /// never the main command's or a service's own process.
    pub fn holds(&self, pid: Pid) -> bool {
        self.holding()
            && self.main != Main::Running(pid)
            && !self.services.values().any(|s| s.has(pid))
            && !self.probe_pids().any(|p| p == pid)
    }

    /// Feeds one event; pushes what to do onto `actions`.
    pub fn handle(&mut self, event: Event, now: Instant, actions: &mut Vec<Action>) {
        let from_reaper = matches!(event, Event::Exited { .. });
        // Events about a service name it by its id; one foster has
        // forgotten since (removed by a reload) is not news.
        let service = match &event {
            Event::ServiceSpawned { service, .. }
            | Event::Pidfile { service, .. }
            | Event::Adopted { service, .. }
            | Event::CgroupEmpty(service)
            | Event::OomKilled(service)
            | Event::Stored { service, .. }
            | Event::ProbeStarted { service, .. }
            | Event::ProbeDone { service, .. }
            | Event::Delivered { service, .. } => Some(*service),
            _ => None,
        };
        let name = match service.map(|id| self.name_of(id)) {
            Some(None) => {
                debug!("ignoring news of a service foster no longer has: {event:?}");
                return;
            }
            Some(Some(name)) => name,
            None => String::new(),
        };
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
            Event::ServiceSpawned { result, .. } => self.on_spawned(&name, result, now, actions),
            Event::Notify {
                sender,
                session,
                cgroup,
                message,
                main,
                fds,
            } => self.on_notify((sender, session, &cgroup), message, main, fds, now, actions),
            Event::Stored { stored, .. } => {
                if let Some(s) = self.services.get_mut(&name) {
                    s.stored = stored;
                }
            }
            Event::ProbeStarted { probe, pid, .. } => self.on_probe_started(&name, probe, pid),
            Event::ProbeDone { probe, result, .. } => {
                self.probe_done(&name, probe, result, now, actions)
            }
            Event::Pidfile { reading, .. } => self.on_pidfile(&name, reading, now, actions),
            Event::Adopted {
                found,
                context,
                members,
                ..
            } => self.on_adopted(&name, found, context, members, now, actions),
            Event::CgroupEmpty(_) => self.on_cgroup_empty(&name, now, actions),
            Event::OomKilled(_) => self.on_oom_killed(&name),
            Event::Request {
                client,
                request,
                wall,
            } => self.on_request(client, request, now, wall, actions),
            Event::ClientGone(client) => self.forget_client(client),
            Event::Delivered {
                client,
                sig,
                refused,
                ..
            } => self.on_delivered(client, &name, sig, refused, actions),
        }
        self.after(now, from_reaper, actions);
        self.settle_watchdogs(now);
        self.settle_health(now, actions);
        self.release_stores(actions);
        self.answer_waiters(now, actions);
        self.note_states(now);
    }

    /// A service stopped on request keeps no stored descriptors (as
    /// systemd: a restart, a crash or a failed start keeps them, a stop
    /// does not); one removed by a reload loses them with its unit.
    fn release_stores(&mut self, actions: &mut Vec<Action>) {
        for s in self.services.values_mut() {
            if s.want == Want::Down && matches!(s.life, Life::Done { .. }) && !s.stored.is_empty() {
                let n: usize = s.stored.iter().map(|c| c.count).sum();
                info!(
                    "{}: stopped on request: closing its {n} stored descriptor(s)",
                    s.name()
                );
                s.stored.clear();
                actions.push(Action::DropStoredFds(s.id));
            }
        }
    }

    /// Notes when each service entered the state it shows (status's
    /// `since`), after every event: a state is whatever the event left.
    fn note_states(&mut self, now: Instant) {
        for s in self.services.values_mut() {
            s.note_state(now);
        }
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
                actions.push(Action::LoadUnits { client: None });
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
        let Some(pid) = s.main_pid() else {
            debug!(
                "ignoring {}: the daemon is not known yet",
                signal::name(sig)
            );
            return;
        };
        let target = if self.settings.forward_to_group && !s.is_followed() {
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
            if s.main_pid().is_some() {
                kill_service(s, actions);
                s.begin_stop(None, true);
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

    /// Starts every waiting service whose dependencies are all ready, and
    /// the main command once every service has settled.
    fn start_ready(&mut self, now: Instant, actions: &mut Vec<Action>) {
        // Called after every event: cheap when nothing waits (the usual
        // case once everything is up), and never quadratic in services.
        if self.services.values().any(Service::is_waiting) {
            self.start_waiting(now, actions);
        }
        if self.main == Main::Waiting && self.all_settled() {
            self.main = Main::Done; // until MainSpawned says otherwise
            actions.push(Action::StartMain);
        }
    }

    /// Whether nothing holds back the main command: every service started
    /// or given up on, but for those not wanted up that were never asked
    /// to start (`autostart: false`, or stopped on request) and the
    /// services that wait for them: they wait as long as those are down,
    /// and the main command does not wait with them.
    fn all_settled(&self) -> bool {
        if self.services.values().all(Service::is_settled) {
            return true;
        }
        let mut held: std::collections::BTreeSet<&str> = self
            .services
            .values()
            .filter(|s| s.want == Want::Down && s.is_idle())
            .map(Service::name)
            .collect();
        // Each pass adds the waiting services a held one holds back; at
        // most one pass per service.
        loop {
            let more: Vec<&str> = self
                .services
                .values()
                .filter(|s| s.is_waiting() && !held.contains(s.name()))
                .filter(|s| s.unit.depends_on.iter().any(|d| held.contains(d.as_str())))
                .map(Service::name)
                .collect();
            if more.is_empty() {
                break;
            }
            held.extend(more);
        }
        self.services
            .values()
            .all(|s| s.is_settled() || held.contains(s.name()))
    }

    fn start_waiting(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let ready: std::collections::BTreeSet<String> = self
            .services
            .values()
            .filter(|s| s.ready())
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
                s.life = Life::Spawning { since: now };
                actions.push(Action::Start(s.id));
            }
        }
        for (name, dep) in missing {
            if let Some(s) = self.services.get_mut(&name) {
                warn!("{name}: not starting: its dependency {dep} is not a valid service");
                s.life = Life::Done {
                    ending: Ending::Failed,
                    ready: false,
                };
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
    match s.main_pid() {
        None => Vec::new(),
        Some(pid) if !s.is_followed() => vec![Target::Group(pid)],
        Some(_) => s.pids().into_iter().map(Target::Process).collect(),
    }
}

/// Every process of a service, for SIGKILL: its targets, and for a followed
/// daemon the rest of its session too (its workers).
fn kill_targets(s: &Service) -> Vec<Target> {
    let mut targets = service_targets(s);
    if let Some(origin) = s.origin()
        && (origin.is_followed() || s.is_clearing())
        && !s.launch.is_some_and(|l| l.cgroup)
        && let Some(sid) = origin.session
    {
        targets.push(Target::Session {
            sid,
            since: origin.ticks,
        });
    }
    targets
}

/// A forking service whose launcher is gone and whose daemon is not known
/// yet: foster stops waiting for it, and its cgroup, if it has one, is
/// killed (the daemon with it). The caller moves the service on.
fn abandon_launch(s: &Service, actions: &mut Vec<Action>) {
    if matches!(s.life, Life::AwaitingDaemon { .. }) {
        actions.push(Action::KillCgroup(s.id));
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
    actions.push(Action::KillCgroup(s.id));
}

/// A run's main process is gone (a followed daemon for good, or an ended
/// main process being cleared): what it left in its cgroup and its session
/// gets the stop signal (and SIGCONT).
fn stop_what_is_left(s: &Service, actions: &mut Vec<Action>) {
    // Its cgroup, where it has one, holds exactly what it left, whatever
    // sessions that made (or had not made yet when the pidfile was read).
    for sig in [s.unit.stop_signal, libc::SIGCONT] {
        actions.push(Action::SignalCgroup { service: s.id, sig });
    }
    // Then nothing of it is outside: no walk of /proc for its session.
    if s.launch.is_some_and(|l| l.cgroup) {
        return;
    }
    if let Some(origin) = s.origin()
        && let Some(sid) = origin.session
    {
        for sig in [s.unit.stop_signal, libc::SIGCONT] {
            actions.push(Action::Signal {
                target: Target::Session {
                    sid,
                    since: origin.ticks,
                },
                sig,
            });
        }
    }
}

/// A service's stop: its `stop_signal` and SIGCONT (so a stopped process
/// can act on it), SIGKILL at the deadline.
fn send_stop_sequence(s: &mut Service, now: Instant, actions: &mut Vec<Action>) {
    // The run an overlapped restart was replacing goes with it.
    overlap::stop_outgoing(s, now, actions);
    signal_service(s, s.unit.stop_signal, actions);
    signal_service(s, libc::SIGCONT, actions);
    s.begin_stop(Some(now + s.unit.stop_timeout), false);
}

#[cfg(test)]
mod tests;
