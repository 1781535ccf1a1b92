//! The one loop that owns the world.
//!
//! A single thread blocks in `epoll_wait`, with no timeout, on a signalfd
//! and a timerfd. What it reads becomes [`Event`]s for the [`Supervisor`];
//! the [`Action`]s that come back are carried out here, and what carrying
//! them out produces (a spawned PID, a reaping pass) is fed back as events
//! in the same turn. The timer is re-armed for the supervisor's earliest
//! deadline after every turn, so an idle foster never wakes up.
//!
//! What it carries out, it hands to the pieces that own it: reaping to the
//! [`Reaper`] (the one place that reaps: every SIGCHLD starts a pass), what
//! foster follows of daemons to the [`Tracker`], control connections to
//! [`control::server`](crate::control::server). Here are the event
//! sources, the loop, `perform` and the spawning of the main command and
//! the services.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use log::{debug, error, warn};

use crate::cgroup::Cgroups;
use crate::control::Client;
use crate::control::server::{self, Connections};
use crate::fd_store::{self, FdStores, Parcels};
use crate::probes::Probes;
use crate::reaper::Reaper;
use crate::relay::{self, Relay, Stream};
use crate::service::ServiceId;
use crate::signal;
use crate::spawner::{CgroupRecords, start_main, start_probe, start_service};
use crate::supervisor::{Action, Errno, Event, Identity, StartError, Supervisor, Target};
use crate::sys::{
    self, ChildSpec, ControlListener, InheritedMask, NotifySocket, Pid, PidFd, Poller, Signals,
    Timer,
};
use crate::tracker::{self, Tracker};

const SIGNALS: u64 = 1;
const TIMER: u64 = 2;
const NOTIFY: u64 = 3;
const CONTROL: u64 = 4;
/// At most this many notify datagrams are read in one turn of the loop,
/// so that a flood of them cannot starve reaping and the rest.
const NOTIFY_PER_TURN: usize = 256;
/// The largest sd_notify datagram read whole; a longer one is refused
/// (systemd's limit too).
const NOTIFY_MAX: usize = 4096;

/// The event sources, opened before anything is spawned so that a failure
/// to open them stops foster before anything runs.
pub struct Sources {
    pub(crate) poller: Poller,
    signals: Signals,
    timer: Timer,
    /// Where notify services report readiness; `None` without notify
    /// services, or when it could not be bound (they then fail to start).
    notify: Option<(NotifySocket, String)>,
    control: Option<(ControlListener, std::path::PathBuf)>,
}

impl Sources {
    pub fn open() -> io::Result<Sources> {
        let sources = Sources {
            poller: Poller::new()?,
            signals: Signals::open()?,
            timer: Timer::new()?,
            notify: None,
            control: None,
        };
        sources.poller.watch(sources.signals.fd(), SIGNALS)?;
        sources.poller.watch(sources.timer.fd(), TIMER)?;
        Ok(sources)
    }

    /// Binds the sd_notify socket, in the abstract namespace under a name
    /// unique to this foster. The PID alone is not unique: abstract names
    /// belong to the network namespace, which many PID 1s in separate PID
    /// namespaces can share; a random part settles it.
    pub fn open_notify(&mut self, own_pid: Pid) -> io::Result<()> {
        use std::hash::{BuildHasher, Hasher};
        let mut attempt = 0;
        let (socket, name) = loop {
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let name = format!("foster/notify/{own_pid}/{random:016x}");
            match NotifySocket::bind(&name) {
                Ok(socket) => break (socket, name),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < 8 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        self.poller.watch(socket.fd(), NOTIFY)?;
        self.notify = Some((socket, format!("@{name}")));
        Ok(())
    }

    /// Listens for `fosterctl` on `path`.
    pub fn open_control(&mut self, path: &std::path::Path) -> Result<(), sys::ControlError> {
        let listener = ControlListener::bind(path)?;
        self.poller
            .watch(listener.fd(), CONTROL)
            .map_err(sys::ControlError::Os)?;
        self.control = Some((listener, path.to_path_buf()));
        Ok(())
    }

    /// Removes the control socket's file (at exit).
    pub fn close_control(&mut self) {
        if let Some((_, path)) = self.control.take() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The descriptors foster keeps for itself: everything it has opened
    /// by the time the main command starts, so that closing the rest (what
    /// foster inherited) closes nothing of its own.
    pub fn raw_fds(&self) -> Vec<i32> {
        let mut fds = vec![
            self.poller.fd().as_raw_fd(),
            self.signals.fd().as_raw_fd(),
            self.timer.fd().as_raw_fd(),
        ];
        fds.extend(self.notify.as_ref().map(|(s, _)| s.fd().as_raw_fd()));
        if let Some((listener, _)) = &self.control {
            fds.extend(listener.raw_fds());
        }
        // The writers of foster's stdout and stderr, opened with the first
        // line logged (a closed one would make every later line EBADF, or
        // land in whatever file took its number).
        fds.extend(crate::console::raw_fds());
        fds
    }

    /// `NOTIFY_SOCKET` for notify services.
    pub fn notify_address(&self) -> Option<&str> {
        self.notify.as_ref().map(|(_, name)| name.as_str())
    }
}

/// What the loop needs to carry out actions.
pub struct World {
    /// As PID 1, `kill(-1, …)` reaches exactly everything else in the
    /// namespace; otherwise descendants are found through `/proc`.
    pub pid1: bool,
    pub own_pid: Pid,
    pub mask: InheritedMask,
    /// The environment foster was given, the base of every service's.
    pub env: Vec<(OsString, OsString)>,
    /// The main command, prepared; taken when it is started.
    pub main: Option<ChildSpec>,
    /// The name shown in messages about the main command.
    pub main_name: String,
    /// The directory foster started in, kept open until the main command
    /// (which starts there) has been spawned.
    pub start_dir: Option<OwnedFd>,
    /// The sockets of `--listen`, held until the main command (which gets
    /// them as fds 3, …) has been spawned; then it alone holds them.
    pub main_sockets: Vec<OwnedFd>,
    /// One-command mode: once the command holds what foster inherited,
    /// foster closes its own copies.
    pub close_inherited_fds: bool,
    /// The main command's PID, for the fallback when `/proc` is missing.
    pub main_pid: Option<Pid>,
    /// The services directory, re-read on reload.
    pub services_dir: Option<PathBuf>,
    /// Output of `log: prefix` services on its way to foster's own.
    pub relay: Relay,
    /// A cgroup per service, where cgroup v2 can be written.
    pub cgroups: Option<Cgroups>,
    /// Why there is no cgroup per service, when there is none.
    pub no_cgroups: Option<String>,
    /// What starts remember of cgroup limits (see [`CgroupRecords`]).
    pub limits: CgroupRecords,
    /// Held exits, and the numbers of followed processes that are reaped.
    pub reaper: Reaper,
    /// Launches, pidfile and cgroup watches, followed processes.
    pub tracker: Tracker,
    /// The sockets foster holds for each service (`sockets:`), by its
    /// name, in the unit's order: bound before its first start, kept
    /// across its restarts and stops, closed when its entry changes (at
    /// the next start) or its service is forgotten.
    pub held: std::collections::HashMap<String, Vec<(crate::unit::SocketSpec, OwnedFd)>>,
    /// The descriptors services have parked (`FDSTORE=1`).
    pub stores: FdStores,
    /// Descriptors that came with notify messages, until the core has
    /// decided on them (see [`Parcels`]).
    pub parcels: Parcels,
    /// The health probes running.
    pub probes: Probes,
    /// Relayed lines get the time they were read (`--log-timestamps`),
    /// unless their unit says otherwise.
    pub log_timestamps: bool,
    /// The lines kept for `fosterctl logs`.
    pub logbook: crate::logbook::LogBook,
}

/// The main command as `main.rs` prepared it.
pub struct MainCommand {
    /// `None` without a command, or when foster follows the daemon it
    /// launches instead (`--pidfile`).
    pub spec: Option<ChildSpec>,
    /// The name shown in messages about it.
    pub name: String,
    /// The directory it starts in (see [`World::start_dir`]).
    pub start_dir: Option<OwnedFd>,
    /// The sockets of `--listen` it gets (see [`World::main_sockets`]).
    pub sockets: Vec<OwnedFd>,
}

impl World {
    /// The world of the foster that `identity` describes, given `env`,
    /// running the services in `services_dir` (if any) with a cgroup each
    /// in `cgroups` (if it can).
    pub fn new(
        identity: Identity,
        mask: InheritedMask,
        env: Vec<(OsString, OsString)>,
        main: MainCommand,
        services_dir: Option<PathBuf>,
        cgroups: Result<Cgroups, String>,
    ) -> World {
        let (cgroups, no_cgroups) = match cgroups {
            Ok(cgroups) => (Some(cgroups), None),
            Err(why) => (None, Some(why)),
        };
        World {
            pid1: identity.pid == Pid::INIT,
            own_pid: identity.pid,
            mask,
            env,
            main: main.spec,
            main_name: main.name,
            start_dir: main.start_dir,
            main_sockets: main.sockets,
            // One-command mode (a single command, or `--pidfile`).
            close_inherited_fds: services_dir.is_none(),
            main_pid: None,
            services_dir,
            relay: Relay::default(),
            cgroups,
            no_cgroups,
            limits: CgroupRecords::default(),
            reaper: Reaper::default(),
            tracker: Tracker::new(identity.pid, identity.session),
            held: std::collections::HashMap::new(),
            stores: FdStores::default(),
            parcels: Parcels::default(),
            probes: Probes::default(),
            log_timestamps: false,
            logbook: crate::logbook::LogBook::default(),
        }
    }

    /// What signalling reads of the world.
    fn recipients(&self) -> Recipients<'_> {
        Recipients {
            pid1: self.pid1,
            own_pid: self.own_pid,
            main_pid: self.main_pid,
            pidfds: self.tracker.followed(),
            reaped: self.reaper.reaped(),
        }
    }
}

/// What sending a signal reads: which processes foster holds a pidfd on,
/// which numbers are reaped processes', and how to find its descendants.
struct Recipients<'w> {
    pid1: bool,
    own_pid: Pid,
    main_pid: Option<Pid>,
    pidfds: &'w HashMap<Pid, PidFd>,
    reaped: &'w HashSet<Pid>,
}

/// Runs until the supervisor says to exit; returns the exit status and how
/// a machine's init is to end.
pub fn run(
    sources: &Sources,
    world: &mut World,
    mut supervisor: Supervisor,
) -> (u8, crate::supervisor::Power) {
    let mut ready = Vec::with_capacity(4);
    let mut queue: VecDeque<Event> = VecDeque::with_capacity(16);
    let mut actions = Vec::with_capacity(8);
    let mut connections = Connections::default();
    supervisor.boot(Instant::now(), &mut actions);
    loop {
        // Carry out actions and feed back what they produce until both run dry.
        loop {
            let mut reloads = Vec::new();
            for action in actions.drain(..) {
                match action {
                    Action::LoadUnits { client } => reloads.push(client),
                    Action::Reply { client, reply } => {
                        connections.reply(client, &reply, &sources.poller)
                    }
                    Action::SendLogs {
                        client,
                        sources: names,
                        notes,
                        lines,
                        follow,
                    } => {
                        world.logbook.take_own();
                        let mut text = Vec::new();
                        for note in notes {
                            text.extend_from_slice(note.as_bytes());
                            text.push(b'\n');
                        }
                        for line in world.logbook.tail(&names, lines) {
                            line.render(&mut text);
                        }
                        let follow = follow.then_some(names);
                        connections.send_logs(client, text, follow, &sources.poller);
                        world.logbook.following = connections.following();
                    }
                    action => {
                        if let Some(code) = perform(action, sources, world, &supervisor, &mut queue)
                        {
                            return (code, supervisor.power());
                        }
                    }
                }
            }
            if !reloads.is_empty() {
                for client in reloads {
                    let dir = world.services_dir.as_deref();
                    reload_units(dir, &mut supervisor, client, &mut actions);
                }
                continue;
            }
            let Some(event) = queue.pop_front() else {
                if world.reaper.holds_exits() && !supervisor.holding() {
                    world.reaper.stop_holding(&mut world.tracker, &mut queue);
                    continue;
                }
                break;
            };
            // A health probe's exit is its result, never a service's news.
            let exit = matches!(event, Event::Exited { .. });
            let event = world.probes.exited(event, &sources.poller);
            // An OOM kill is the core's news before the exit it caused
            // (an exec probe's exit, as its result, included).
            let ended = exit || !matches!(event, Event::ProbeDone { .. });
            if let Some(oom) = ended
                .then(|| oom_killed(&event, &supervisor, world))
                .flatten()
            {
                supervisor.handle(oom, Instant::now(), &mut actions);
            }
            supervisor.handle(event, Instant::now(), &mut actions);
        }
        world.reaper.prune(&supervisor);
        world.tracker.prune(&supervisor);
        if world.limits.oom_seen.len() > supervisor.service_count() {
            world
                .limits
                .oom_seen
                .retain(|&id, _| supervisor.unit(id).is_some());
        }
        // What came with notify messages and is not kept is closed.
        world.parcels.close_unclaimed();
        // The sockets and stored descriptors of a service foster has
        // forgotten (its unit removed, its run stopped) are closed.
        if !world.held.is_empty() {
            world.held.retain(|name, _| supervisor.id(name).is_some());
        }
        let known = |name: &str| supervisor.id(name).is_some();
        world.stores.retain(known, &sources.poller);
        world.logbook.retain(known);
        world.relay.retain_files(known);
        crate::console::watch(&sources.poller);
        world.relay.resume(&sources.poller);
        if let Some((listener, _)) = &sources.control {
            connections.recover(listener, CONTROL, &sources.poller);
        }
        // foster's own lines of this turn, and every new line, go to those
        // following the logs before the loop sleeps.
        world.logbook.take_own();
        connections.feed(&world.logbook.take_fresh(), &sources.poller);
        world.logbook.following = connections.following();
        let next = match (supervisor.next_deadline(), connections.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let armed = match next {
            Some(at) => sources
                .timer
                .arm(at.saturating_duration_since(Instant::now())),
            None => sources.timer.disarm(),
        };
        if let Err(e) = armed {
            error!("cannot arm the timer: {e}");
        }
        if let Err(e) = sources.poller.wait(&mut ready) {
            error!("epoll_wait failed: {e}");
            continue;
        }
        for &token in &ready {
            match token {
                SIGNALS => read_signals(&sources.signals, world, &supervisor, &mut queue),
                TIMER if sources.timer.acknowledge() => {
                    connections.expire(&sources.poller, Instant::now());
                    queue.push_back(Event::Tick);
                }
                NOTIFY => read_notifications(sources, world, &mut queue),
                tracker::INOTIFY_TOKEN => world.tracker.pidfiles_touched(
                    &supervisor,
                    &world.reaper,
                    world.cgroups.as_ref(),
                    &mut queue,
                ),
                CONTROL => {
                    if let Some((listener, _)) = &sources.control {
                        connections.accept(listener, &sources.poller, Instant::now());
                    }
                }
                token if token >= tracker::FIRST_PIDFD_TOKEN => {
                    let pid = i32::try_from(token - tracker::FIRST_PIDFD_TOKEN).ok();
                    // Only a followed PID's pidfd has a token up here.
                    if let Some(pid) = pid.and_then(Pid::new) {
                        let poller = &sources.poller;
                        let reaper = &mut world.reaper;
                        world
                            .tracker
                            .followed_ended(pid, poller, reaper, &mut queue);
                    }
                }
                token if Probes::owns_token(token) => {
                    world.probes.ready(token, &sources.poller, &mut queue)
                }
                token if token >= fd_store::FIRST_TOKEN => {
                    if let Some((name, fd_name)) = world.stores.hung_up(token, &sources.poller) {
                        debug!("{name}: a stored descriptor ({fd_name}) hung up: closed");
                        stored_changed(&supervisor, world, &name, &mut queue);
                    }
                }
                crate::console::STDOUT_TOKEN => {
                    crate::console::writable(Stream::Stdout);
                    world.relay.resume(&sources.poller);
                }
                crate::console::STDERR_TOKEN => {
                    crate::console::writable(Stream::Stderr);
                    world.relay.resume(&sources.poller);
                }
                token if token >= relay::FIRST_SOURCE => {
                    world
                        .relay
                        .readable(&sources.poller, token, &mut world.logbook)
                }
                token if token >= server::FIRST_TOKEN => {
                    match connections.serve(token, &sources.poller) {
                        server::Served::Request(client, request) => {
                            queue.push_back(Event::Request {
                                client,
                                request,
                                wall: std::time::SystemTime::now(),
                            });
                        }
                        server::Served::Gone(client) => queue.push_back(Event::ClientGone(client)),
                        server::Served::Nothing => {}
                    }
                }
                _ => {}
            }
        }
    }
}

/// Carries out one action; `Some(status)` when foster is to exit.
fn perform(
    action: Action,
    sources: &Sources,
    world: &mut World,
    supervisor: &Supervisor,
    queue: &mut VecDeque<Event>,
) -> Option<u8> {
    match action {
        Action::Signal { target, sig } => {
            let _ = send(&world.recipients(), target, sig);
        }
        Action::Reap => world.reaper.reap(&mut world.tracker, supervisor, queue),
        Action::Release(pid) => world.reaper.release(&mut world.tracker, pid),
        // Carried out by the loop itself, which holds what they need.
        Action::LoadUnits { .. } | Action::Reply { .. } | Action::SendLogs { .. } => {}
        Action::Deliver {
            client,
            service,
            sig,
            targets,
        } => {
            let recipients = world.recipients();
            let send = |target, sig| send(&recipients, target, sig);
            queue.push_back(deliver(client, service, sig, targets, send));
        }
        Action::KillCgroup(service) => {
            if let (Some(cgroups), Some(name)) = (&world.cgroups, world.tracker.cgroup_of(service))
            {
                kill_cgroup(cgroups, name);
            }
        }
        Action::SignalCgroup { service, sig } => {
            if let (Some(cgroups), Some(name)) = (&world.cgroups, world.tracker.cgroup_of(service))
            {
                signal_cgroup_members(cgroups, name, sig);
            }
        }
        Action::FindAdopted(service) => {
            let cgroups = world.cgroups.as_ref();
            let elsewhere = supervisor.pids_elsewhere(service);
            let event = world
                .tracker
                .find_adopted(service, &world.reaper, cgroups, &elsewhere);
            queue.push_back(event);
        }
        Action::ReadPidfile(service) => {
            let cgroups = world.cgroups.as_ref();
            if let Some(event) =
                world
                    .tracker
                    .read_pidfile(service, supervisor, &world.reaper, cgroups)
            {
                queue.push_back(event);
            }
        }
        Action::Follow(pid) => {
            if world.tracker.follow(pid, &sources.poller) {
                world.reaper.reused(pid);
            }
        }
        Action::DropCgroups => {
            if let Some(cgroups) = world.cgroups.take() {
                cgroups.remove_all();
                world.no_cgroups = Some("a service's cgroup could not be joined".into());
            }
            world.tracker.forget_cgroups();
        }
        Action::StoreFds {
            service,
            parcel,
            name,
            poll,
            max,
        } => {
            let fds = world.parcels.take(parcel);
            if let Some(unit) = supervisor.unit(service) {
                let service = unit.name.as_str();
                let stowed = world
                    .stores
                    .store(service, fds, &name, poll, max, &sources.poller);
                if stowed.kept > 0 {
                    debug!("{service}: stored {} descriptor(s) as {name}", stowed.kept);
                }
                if stowed.duplicates > 0 {
                    debug!(
                        "{service}: {} descriptor(s) already stored: closed the copies",
                        stowed.duplicates
                    );
                }
                if stowed.over_limit > 0 {
                    warn!(
                        "{service}: its fd store is full ({max}): closed {} descriptor(s)",
                        stowed.over_limit
                    );
                }
                stored_changed(supervisor, world, service, queue);
            }
        }
        Action::RemoveStoredFds { service, name } => {
            if let Some(unit) = supervisor.unit(service) {
                let n = world.stores.remove(&unit.name, &name, &sources.poller);
                debug!(
                    "{}: removed {n} stored descriptor(s) named {name}",
                    unit.name
                );
                stored_changed(supervisor, world, &unit.name, queue);
            }
        }
        Action::DropStoredFds(service) => {
            if let Some(unit) = supervisor.unit(service) {
                world.stores.drop_service(&unit.name, &sources.poller);
                stored_changed(supervisor, world, &unit.name, queue);
            }
        }
        Action::Probe {
            service,
            probe,
            check,
        } => {
            let child = match (&check, supervisor.unit(service)) {
                (crate::unit::HealthProbe::Exec(argv), Some(unit)) => {
                    Some(start_probe(unit, argv, world))
                }
                (crate::unit::HealthProbe::Exec(_), None) => Some(Err("its unit is gone".into())),
                _ => None,
            };
            world
                .probes
                .start(service, probe, &check, child, &sources.poller, queue);
        }
        Action::CancelProbe { probe } => world.probes.cancel(probe, &sources.poller),
        Action::Exit(code) => return Some(code),
        Action::StartMain => {
            let result = start_main(sources, world);
            queue.push_back(Event::MainSpawned(result));
        }
        Action::Start(service) => {
            let stored = world.stores.total();
            let result = match supervisor.unit(service) {
                Some(unit) => start_service(service, unit, world, sources),
                None => Err(StartError::NoUnit),
            };
            queue.push_back(Event::ServiceSpawned { service, result });
            // A lowered `fd_store:` closed what was over it.
            if world.stores.total() != stored
                && let Some(unit) = supervisor.unit(service)
            {
                stored_changed(supervisor, world, &unit.name, queue);
            }
        }
    }
    None
}

/// An [`Event::OomKilled`] to feed before `event`, when `event` is the
/// exit of a service's process (or its cgroup's emptying) and its
/// cgroup's `oom_kill` count has grown since its start. The kernel counts
/// the kill before it sends the SIGKILL (`__oom_kill_process`), so the
/// count is up to date by the time the victim's exit is reaped.
fn oom_killed(event: &Event, supervisor: &Supervisor, world: &mut World) -> Option<Event> {
    if world.limits.oom_seen.is_empty() {
        return None;
    }
    let (id, probe) = match event {
        Event::Exited { pid, .. } => (supervisor.service_of(*pid)?, false),
        Event::CgroupEmpty(id) => (*id, false),
        // An exec probe runs in the service's cgroup: a kill that came
        // with its end was the probe's (which failed for it), not the
        // service's.
        Event::ProbeDone { service, .. } => (*service, true),
        _ => return None,
    };
    let seen = world.limits.oom_seen.get_mut(&id)?;
    let name = world.tracker.cgroup_of(id)?;
    let now = world.cgroups.as_ref()?.oom_kills(name)?;
    if now <= *seen {
        return None;
    }
    *seen = now;
    (!probe).then_some(Event::OomKilled(id))
}

/// Tells the core what `name`'s fd store holds now.
fn stored_changed(supervisor: &Supervisor, world: &World, name: &str, queue: &mut VecDeque<Event>) {
    if let Some(service) = supervisor.id(name) {
        queue.push_back(Event::Stored {
            service,
            stored: world.stores.summary(name),
        });
    }
}

/// The loop's part in a reload (SIGHUP, `fosterctl reload`): re-reads the
/// services directory (files, users) and hands it to the supervisor, which
/// applies it and replies to `client` (or logs what changed). Problems are
/// logged.
fn reload_units(
    services_dir: Option<&Path>,
    supervisor: &mut Supervisor,
    client: Option<Client>,
    actions: &mut Vec<Action>,
) {
    let Some(dir) = services_dir else {
        return;
    };
    let loaded = crate::unit::try_load_dir(dir, &crate::users::UserDb::load());
    for problem in loaded.iter().flat_map(|l| &l.problems) {
        error!("{problem}");
    }
    for warning in loaded.iter().flat_map(|l| &l.warnings) {
        warn!("{warning}");
    }
    supervisor.units_loaded(client, loaded, Instant::now(), actions);
}

/// The loop's part in `fosterctl kill`: sends `sig` to every target now,
/// before the reply is written; the event says whether any took it (else
/// the first error the kernel gave), and the supervisor replies.
fn deliver(
    client: Client,
    service: ServiceId,
    sig: i32,
    targets: Vec<Target>,
    send: impl Fn(Target, i32) -> Result<(), Errno>,
) -> Event {
    let mut refused = None;
    let mut delivered = false;
    for target in targets {
        match send(target, sig) {
            Ok(()) => delivered = true,
            Err(e) => refused = refused.or(Some(e)),
        }
    }
    Event::Delivered {
        client,
        service,
        sig,
        refused: refused.filter(|_| !delivered),
    }
}

/// SIGKILL for everything in a service's cgroup: `cgroup.kill`, or, on a
/// kernel without it, each member through a pidfd.
fn kill_cgroup(cgroups: &crate::cgroup::Cgroups, name: &str) {
    if cgroups.populated(name) != Some(true) {
        return;
    }
    match cgroups.kill(name) {
        Ok(()) => debug!("{name}: killed everything in its cgroup"),
        Err(_) => signal_cgroup_members(cgroups, name, libc::SIGKILL),
    }
}

/// `sig` to each process in a service's cgroup, through a pidfd opened on
/// it (a member that exits meanwhile is skipped, never a recycled PID hit).
fn signal_cgroup_members(cgroups: &crate::cgroup::Cgroups, name: &str, sig: i32) {
    for pid in cgroups.members(name).unwrap_or_default() {
        if let Ok(fd) = sys::PidFd::open(pid) {
            debug!("sending {} to {pid} of {name}'s cgroup", signal::name(sig));
            let _ = fd.signal(sig);
        }
    }
}

/// Reads the waiting sd_notify datagrams (at most [`NOTIFY_PER_TURN`]).
/// The sender's session and cgroup, and what the `MAINPID=` it names is,
/// are looked up at once, while a sender waiting on `BARRIER=1` is sure to
/// be alive. Descriptors that came along are held as a parcel until the
/// core has decided on the message: those it puts in a service's fd store
/// are kept, the rest are closed at the end of the turn, which is what
/// releases such a sender. A datagram cut short (too long, or more
/// descriptors than fit) is refused whole, and its descriptors closed.
fn read_notifications(sources: &Sources, world: &mut World, queue: &mut VecDeque<Event>) {
    let Some((socket, _)) = &sources.notify else {
        return;
    };
    let mut buf = [0u8; NOTIFY_MAX];
    for _ in 0..NOTIFY_PER_TURN {
        match socket.recv(&mut buf) {
            Ok(Some(datagram)) => {
                let Some(sender) = datagram.sender else {
                    debug!("ignoring a notification without credentials");
                    continue;
                };
                if datagram.truncated {
                    warn!(
                        "ignoring a notification from {sender}: it was cut short (longer than {NOTIFY_MAX} bytes, or more than {} descriptors)",
                        sys::MAX_PASSED_FDS
                    );
                    continue;
                }
                let bytes = buf.get(..datagram.len).unwrap_or_default();
                match crate::notify::parse(bytes) {
                    Some(message) => {
                        let session = crate::procfs::session_of(sender);
                        let cgroups = world.cgroups.as_ref();
                        let cgroup = tracker::membership(cgroups, sender);
                        let main = message
                            .main_pid
                            .map(|pid| world.tracker.named(cgroups, pid));
                        let fds = world.parcels.hold(datagram.fds);
                        queue.push_back(Event::Notify {
                            sender,
                            session,
                            cgroup,
                            message,
                            main,
                            fds,
                        });
                    }
                    None => debug!("ignoring a malformed notification from {sender}"),
                }
            }
            Ok(None) => return,
            Err(e) => {
                warn!("reading the notify socket failed: {e}");
                return;
            }
        }
    }
}

fn read_signals(
    signals: &Signals,
    world: &mut World,
    supervisor: &Supervisor,
    queue: &mut VecDeque<Event>,
) {
    let own_pid = world.own_pid;
    loop {
        match signals.read() {
            Ok(Some((libc::SIGCHLD, _))) => {
                world.reaper.reap(&mut world.tracker, supervisor, queue)
            }
            // A write of foster's own to an output whose reader is gone:
            // the relay handles it; it is nobody's signal to forward.
            Ok(Some((libc::SIGPIPE, sender))) if sender == Some(own_pid) => {}
            Ok(Some((sig, _))) => queue.push_back(Event::Signal(sig)),
            Ok(None) => return,
            Err(e) => {
                error!("reading the signalfd failed: {e}");
                return;
            }
        }
    }
}

fn send(world: &Recipients, target: Target, sig: i32) -> Result<(), Errno> {
    let result = match target {
        Target::Process(pid) => send_to_process(world, pid, sig),
        Target::Group(pgid) => sys::signal_group(pgid, sig).map_err(errno),
        Target::Descendants => {
            signal_descendants(world, sig);
            Ok(())
        }
        Target::Session { sid, since } => {
            signal_session(world, sid, since, sig);
            Ok(())
        }
    };
    if let Err(e) = &result {
        debug!("cannot send {} to {target:?}: {e}", signal::name(sig));
    }
    result
}

/// Signals one process: through its pidfd when foster holds one, never
/// once foster has reaped it (its number may belong to a stranger now).
fn send_to_process(world: &Recipients, pid: Pid, sig: i32) -> Result<(), Errno> {
    match world.pidfds.get(&pid) {
        Some(fd) => fd.signal(sig).map_err(errno),
        // It has ended: as the kernel would say of a process gone.
        None if world.reaped.contains(&pid) => Err(Errno(libc::ESRCH)),
        None => sys::signal_process(pid, sig).map_err(errno),
    }
}

/// The kernel's error number, for the core.
pub(crate) fn errno(e: io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Signals a followed daemon's session: each member found in `/proc` gets a
/// pidfd, is checked again through it (still in the session, same start
/// time: not a PID recycled meanwhile), and is signalled through it.
fn signal_session(world: &Recipients, sid: Pid, since: Option<u64>, sig: i32) {
    let root = (!world.pid1).then_some(world.own_pid);
    let members = match crate::procfs::session_members(sid, since, root) {
        Ok(members) => members,
        Err(e) => {
            warn!(
                "cannot list session {sid} in /proc ({e}); cannot send {}",
                signal::name(sig)
            );
            return;
        }
    };
    for pid in members {
        let Some(before) = crate::procfs::candidate(pid) else {
            continue;
        };
        let Ok(fd) = sys::PidFd::open(pid) else {
            continue;
        };
        if crate::procfs::candidate(pid) != Some(before) || before.session != Some(sid) {
            continue;
        }
        debug!("sending {} to {pid} of session {sid}", signal::name(sig));
        if let Err(e) = fd.signal(sig) {
            debug!("cannot send {} to {pid}: {e}", signal::name(sig));
        }
    }
}

fn signal_descendants(world: &Recipients, sig: i32) {
    if world.pid1 {
        // ESRCH only means nobody else is left.
        let _ = sys::signal_everyone(sig);
        return;
    }
    match crate::procfs::descendants(world.own_pid) {
        Ok(pids) => {
            debug!(
                "sending {} to {} descendants",
                signal::name(sig),
                pids.len()
            );
            for pid in pids {
                let _ = sys::signal_process(pid, sig);
            }
        }
        Err(e) => match world.main_pid {
            Some(main) => {
                warn!(
                    "cannot list descendants in /proc ({e}); signalling only the main process group with {}",
                    signal::name(sig)
                );
                let _ = sys::signal_group(main, sig);
            }
            None => warn!(
                "cannot list descendants in /proc ({e}); cannot send {}",
                signal::name(sig)
            ),
        },
    }
}

/// `No such file or directory`, without Rust's "(os error 2)" suffix.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}
