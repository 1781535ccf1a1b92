//! The one loop that owns the world.
//!
//! A single thread blocks in `epoll_wait`, with no timeout, on a signalfd
//! and a timerfd. What it reads becomes [`Event`]s for the [`Supervisor`];
//! the [`Action`]s that come back are carried out here, and what carrying
//! them out produces (a spawned PID, a reaping pass) is fed back as events
//! in the same turn. The timer is re-armed for the supervisor's earliest
//! deadline after every turn, so an idle foster never wakes up.
//!
//! This is the only place that reaps: every SIGCHLD starts a pass that
//! reaps until nothing is left to reap, because SIGCHLDs coalesce and one
//! notification may stand for many exits (catatonit#4).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use log::{debug, error, info, warn};

use crate::connections::{self, Connections, Progress};
use crate::control::Reply;
use crate::relay::{self, Relay, Stream};
use crate::signal;
use crate::supervisor::{Action, Event, Supervisor, Target};
use crate::sys::{
    self, ChildSpec, ControlListener, InheritedMask, NotifySocket, Pid, Poller, Reaped, Signals,
    Timer,
};
use crate::unit::{Kind, LogMode, Unit};

const SIGNALS: u64 = 1;
const TIMER: u64 = 2;
const NOTIFY: u64 = 3;
const CONTROL: u64 = 4;
const INOTIFY: u64 = 7;
/// Tokens from here up are followed processes' pidfds, the PID added.
const FIRST_PIDFD: u64 = 1 << 48;
/// At most this many notify datagrams are read in one turn of the loop,
/// so that a flood of them cannot starve reaping and the rest.
const NOTIFY_PER_TURN: usize = 256;
/// The largest sd_notify datagram read whole; a longer one is refused
/// (systemd's limit too).
const NOTIFY_MAX: usize = 4096;

/// The event sources, opened before anything is spawned so that a failure
/// to open them stops foster before anything runs.
pub struct Sources {
    poller: Poller,
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
    fn notify_address(&self) -> Option<&str> {
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
    /// One-command mode: once the command holds what foster inherited,
    /// foster closes its own copies.
    pub close_inherited_fds: bool,
    /// The main command's PID, for the fallback when `/proc` is missing.
    pub main_pid: Option<Pid>,
    /// The services directory, re-read on reload.
    pub services_dir: Option<std::path::PathBuf>,
    /// Output of `log: prefix` services on its way to foster's own.
    pub relay: Relay,
    /// Daemons followed through their pidfiles, by PID.
    pub pidfds: std::collections::HashMap<Pid, sys::PidFd>,
    /// Watches the directories of pidfiles (created on first use).
    pub inotify: Option<sys::Inotify>,
    /// Each forking service's launch: launcher PID, its start time, and
    /// the pidfile as it was before (to tell a left-over file from news).
    pub launches: std::collections::HashMap<String, Launch>,
    /// Exits held unreaped while a forking service starts (see
    /// [`Supervisor::holding`]), with their statuses.
    pub held: std::collections::BTreeMap<Pid, crate::status::WaitStatus>,
    /// A cgroup per service, where cgroup v2 can be written.
    pub cgroups: Option<crate::cgroup::Cgroups>,
    /// Followed PIDs whose process is reaped and pidfd closed: never to be
    /// signalled by number (it may be recycled), until foster itself
    /// starts or follows a process with that number again.
    pub reaped: std::collections::HashSet<Pid>,
    /// foster's own session (it never makes another): the main command's,
    /// never a service's.
    pub own_session: Pid,
    /// The watches on services' `cgroup.events`, by watch.
    pub cgroup_watches: std::collections::HashMap<sys::Watch, String>,
}

/// At most this many exits are held at once; beyond, they are reaped at
/// once (a fork bomb must not fill foster's process table slot by slot).
const MAX_HELD: usize = 64;

/// What foster knows of a forking service's launch.
pub struct Launch {
    launcher: Pid,
    ticks: u64,
    before: Option<PidfileState>,
    watch: Option<sys::Watch>,
}

/// A pidfile's identity and content, to tell a rewritten file from an old one.
#[derive(PartialEq, Eq)]
struct PidfileState {
    dev: u64,
    ino: u64,
    modified: Option<std::time::SystemTime>,
    content: Vec<u8>,
}

/// Reads a pidfile without trusting it: only a regular file, opened
/// non-blocking (a FIFO put in its place must not stall PID 1), and at
/// most 64 bytes of it (a PID needs 11).
fn pidfile_state(path: &std::path::Path) -> Option<PidfileState> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut content = Vec::with_capacity(16);
    file.take(64).read_to_end(&mut content).ok()?;
    Some(PidfileState {
        dev: meta.dev(),
        ino: meta.ino(),
        modified: meta.modified().ok(),
        content,
    })
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
            let mut reload = false;
            for action in actions.drain(..) {
                if action == Action::ReloadUnits {
                    reload = true;
                } else if let Some(code) = perform(action, sources, world, &supervisor, &mut queue)
                {
                    return (code, supervisor.power());
                }
            }
            if reload {
                let reply = reload_units(world, &mut supervisor, &mut actions);
                for line in String::from_utf8_lossy(&reply.render()).lines().skip(1) {
                    info!("reload: {line}");
                }
                continue;
            }
            let Some(event) = queue.pop_front() else {
                if !world.held.is_empty() && !supervisor.holding() {
                    release_held(world, &mut queue);
                    reap_plain(world, &mut queue);
                    continue;
                }
                break;
            };
            supervisor.handle(event, Instant::now(), &mut actions);
        }
        prune(world, &supervisor);
        crate::console::watch(&sources.poller);
        world.relay.resume(&sources.poller);
        if let Some((listener, _)) = &sources.control {
            connections.recover(listener, CONTROL, &sources.poller);
        }
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
                INOTIFY => pidfiles_touched(world, &supervisor, &mut queue),
                CONTROL => {
                    if let Some((listener, _)) = &sources.control {
                        let own = sys::geteuid();
                        connections.accept(
                            listener,
                            &sources.poller,
                            |uid| uid == 0 || uid == own,
                            Instant::now(),
                        );
                    }
                }
                token if token >= FIRST_PIDFD => {
                    let pid = Pid::try_from(token - FIRST_PIDFD).unwrap_or(0);
                    followed_ended(pid, sources, world, &mut queue);
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
                    world.relay.readable(&sources.poller, token)
                }
                token if token >= connections::FIRST_TOKEN => {
                    serve(
                        token,
                        sources,
                        world,
                        &mut connections,
                        &mut supervisor,
                        &mut actions,
                    );
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
            let _ = send(world, target, sig);
        }
        Action::Reap => reap_all(world, supervisor, queue),
        Action::Release(pid) => {
            world.held.remove(&pid);
            forget(world, pid);
            if let Err(e) = sys::reap_pid(pid) {
                debug!("cannot reap {pid}: {e}");
            }
        }
        Action::ReloadUnits => {}
        Action::KillCgroup(name) => {
            if let Some(cgroups) = &world.cgroups {
                kill_cgroup(cgroups, &name);
            }
        }
        Action::SignalCgroup { name, sig } => {
            if let Some(cgroups) = &world.cgroups {
                signal_cgroup_members(cgroups, &name, sig);
            }
        }
        Action::FindAdopted(name) => {
            let found = adopted(world);
            let context = world.launches.get(&name).map(|l| crate::pidfile::Context {
                foster: world.own_pid,
                launcher: l.launcher,
                launched_ticks: l.ticks,
                foster_session: world.own_session,
            });
            let members = world.cgroups.as_ref().and_then(|c| c.members(&name).ok());
            queue.push_back(Event::Adopted {
                name,
                found,
                context,
                members,
            });
        }
        Action::ReadPidfile(name) => {
            if let Some(event) = read_pidfile(&name, world, supervisor) {
                queue.push_back(event);
            }
        }
        Action::Follow(pid) if world.pidfds.contains_key(&pid) => {}
        Action::Follow(pid) => match sys::PidFd::open(pid) {
            Ok(fd) => {
                world.reaped.remove(&pid);
                // Its end is seen through the pidfd even when foster is not
                // its parent (see `followed_ended`).
                if let Ok(token) = u64::try_from(pid)
                    && let Err(e) = sources.poller.watch(fd.fd(), FIRST_PIDFD + token)
                {
                    warn!("cannot watch the pidfd of {pid}: {e}");
                }
                world.pidfds.insert(pid, fd);
            }
            Err(e) => warn!("cannot open a pidfd on {pid}: {e}; it will be signalled by number"),
        },
        Action::Exit(code) => return Some(code),
        Action::StartMain => {
            let result = start_main(sources, world);
            queue.push_back(Event::MainSpawned(result));
        }
        Action::Start(name) => {
            let result = match supervisor.unit(&name) {
                Some(unit) => start_service(unit, world, sources),
                None => Err(format!("no unit named {name}")),
            };
            let result = result.map(|pid| crate::service::Launched {
                pid,
                ticks: crate::procfs::start_ticks(pid).unwrap_or(0),
            });
            queue.push_back(Event::ServiceSpawned { name, result });
        }
    }
    None
}

fn start_main(sources: &Sources, world: &mut World) -> Result<Pid, String> {
    let Some(spec) = world.main.take() else {
        return Err("no main command".into());
    };
    let spawned = sys::spawn(&spec, &world.mask);
    world.start_dir = None;
    if world.close_inherited_fds {
        sys::close_fds_except(&sources.raw_fds());
    }
    let child = spawned.map_err(|e| e.to_string())?;
    match child.failure {
        Some(failure) => error!(
            "cannot run {}: {}",
            world.main_name,
            describe(&failure.error)
        ),
        None => info!("started {} as {}", world.main_name, child.pid),
    }
    world.main_pid = Some(child.pid);
    world.reaped.remove(&child.pid);
    Ok(child.pid)
}

/// Spawns a service's process: its own session, foster's environment plus
/// the unit's, its user and working directory.
fn start_service(unit: &Unit, world: &mut World, sources: &Sources) -> Result<Pid, String> {
    let notify = sources.notify_address();
    let argv: Vec<OsString> = unit.command.iter().map(OsString::from).collect();
    let mut env: Vec<(OsString, OsString)> = world
        .env
        .iter()
        .filter(|(k, _)| !unit.env.iter().any(|(uk, _)| k == uk.as_str()))
        .cloned()
        .collect();
    if let Some(creds) = &unit.credentials {
        env.retain(|(k, _)| k != "HOME" && k != "USER" && k != "LOGNAME");
        env.push(("HOME".into(), creds.home.clone().into()));
        env.push(("USER".into(), creds.name.clone().into()));
        env.push(("LOGNAME".into(), creds.name.clone().into()));
    }
    env.extend(
        unit.env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    // Which service a process was started for: a trace that survives its
    // forks, reparenting and new sessions (see `pidfile::Ties::marked`),
    // and the service's name for scripts (as supervisord's
    // SUPERVISOR_PROCESS_NAME).
    env.retain(|(k, _)| k != "NOTIFY_SOCKET" && k != "FOSTER_SERVICE_NAME");
    env.push(("FOSTER_SERVICE_NAME".into(), unit.name.clone().into()));
    if unit.kind == Kind::Notify {
        let Some(address) = notify else {
            return Err(
                "the notify socket could not be set up, so readiness cannot be reported".into(),
            );
        };
        env.push(("NOTIFY_SOCKET".into(), address.into()));
    }
    let mut spec = ChildSpec::new(&argv, &env, false).map_err(|e| e.to_string())?;
    spec.in_new_session();
    if let Some(creds) = &unit.credentials {
        spec.run_as(creds.uid, creds.gid, &creds.groups);
    }
    match &unit.workdir {
        Some(dir) => spec.set_workdir(dir).map_err(|e| e.to_string())?,
        None => spec
            .set_workdir(std::path::Path::new("/"))
            .map_err(|e| e.to_string())?,
    }
    let pipes = if unit.log == LogMode::Prefix {
        let out = sys::output_pipe().map_err(|e| format!("cannot create its output pipe: {e}"))?;
        let err = sys::output_pipe().map_err(|e| format!("cannot create its output pipe: {e}"))?;
        spec.redirect_output(out.1.as_fd(), err.1.as_fd());
        Some((out, err))
    } else {
        None
    };
    // Its own cgroup, joined by its first process before it can fork.
    let cgroup = world
        .cgroups
        .as_ref()
        .and_then(|c| match c.prepare(&unit.name) {
            Ok(procs) => Some((procs, c.events(&unit.name))),
            Err(e) => {
                warn!(
                    "{}: cannot make its cgroup {}: {e}; going without",
                    unit.name,
                    c.dir(&unit.name).display()
                );
                None
            }
        });
    if let Some((procs, events)) = &cgroup {
        spec.join_cgroup(procs.as_fd());
        if !world.cgroup_watches.values().any(|n| n == &unit.name)
            && let Some(inotify) = inotify(world, sources)
        {
            match inotify.watch_file(events) {
                Ok(watch) => {
                    world.cgroup_watches.insert(watch, unit.name.clone());
                }
                Err(e) => warn!("{}: cannot watch {}: {e}", unit.name, events.display()),
            }
        }
    }
    // Watch the pidfile's directory before the launch, and note the file
    // as it is: one written just after the launcher exits, or renamed into
    // place, is then seen at once, and a left-over one is told apart.
    let watch = match &unit.pidfile {
        Some(path) if unit.kind == Kind::Forking => {
            Some((watch_pidfile_dir(path, world, sources), pidfile_state(path)))
        }
        _ if unit.kind == Kind::Forking => Some((None, None)),
        _ => None,
    };
    let child = sys::spawn(&spec, &world.mask).map_err(|e| e.to_string());
    if let Ok(spawned) = &child {
        world.reaped.remove(&spawned.pid);
    }
    if let (Some((watch, before)), Ok(spawned)) = (watch, &child) {
        let ticks = crate::procfs::start_ticks(spawned.pid).unwrap_or(0);
        world.launches.insert(
            unit.name.clone(),
            Launch {
                launcher: spawned.pid,
                ticks,
                before,
                watch,
            },
        );
    }
    if let Some(((out_read, out_write), (err_read, err_write))) = pipes {
        // Our copies of the write ends go now: end of file comes when the
        // service and everything it started are done writing.
        drop((out_write, err_write));
        for (stream, fd) in [(Stream::Stdout, out_read), (Stream::Stderr, err_read)] {
            if let Err(e) = world.relay.add(&sources.poller, &unit.name, stream, fd) {
                warn!("{}: cannot relay its output: {e}", unit.name);
            }
        }
    }
    let child = child?;
    match child.failure {
        // A cgroup that can be made but not joined (a hierarchy delegated
        // in a way foster cannot use): go on without cgroups, and start
        // the service again. The failed child exits by itself.
        Some(failure) if failure.stage == sys::Stage::Cgroup && world.cgroups.is_some() => {
            warn!(
                "{}: {failure}; going on without a cgroup per service",
                unit.name
            );
            if let Some(cgroups) = world.cgroups.take() {
                cgroups.remove_all();
            }
            world.cgroup_watches.clear();
            start_service(unit, world, sources)
        }
        // The child exits by itself; its exit is reaped as an orphan's.
        Some(failure) => {
            let detail = match failure.stage {
                sys::Stage::Workdir => format!(
                    " {}",
                    unit.workdir
                        .as_deref()
                        .unwrap_or(std::path::Path::new("/"))
                        .display()
                ),
                sys::Stage::Exec => format!(
                    " {}",
                    unit.command.first().map(String::as_str).unwrap_or("")
                ),
                _ => String::new(),
            };
            Err(format!(
                "{failure}{}",
                if detail.trim().is_empty() {
                    String::new()
                } else {
                    format!(" ({})", detail.trim())
                }
            ))
        }
        None => Ok(child.pid),
    }
}

/// Watches the directory of `pidfile`; `None` when inotify is not to be had
/// (the pidfile is then read at the launcher's exit and at the deadline).
fn watch_pidfile_dir(
    pidfile: &std::path::Path,
    world: &mut World,
    sources: &Sources,
) -> Option<sys::Watch> {
    let dir = pidfile.parent()?;
    match inotify(world, sources)?.watch_dir(dir) {
        Ok(watch) => Some(watch),
        Err(e) => {
            warn!("cannot watch {}: {e}", dir.display());
            None
        }
    }
}

/// foster's inotify instance, made on first use.
fn inotify<'w>(world: &'w mut World, sources: &Sources) -> Option<&'w sys::Inotify> {
    if world.inotify.is_none() {
        match sys::Inotify::new() {
            Ok(inotify) => {
                if let Err(e) = sources.poller.watch(inotify.fd(), INOTIFY) {
                    warn!("cannot watch pidfiles and cgroups: {e}");
                    return None;
                }
                world.inotify = Some(inotify);
            }
            Err(e) => {
                warn!("cannot watch pidfiles and cgroups (inotify: {e})");
                return None;
            }
        }
    }
    world.inotify.as_ref()
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

/// Reads a forking service's pidfile and gathers what the supervisor
/// judges it by.
fn read_pidfile(name: &str, world: &World, supervisor: &Supervisor) -> Option<Event> {
    let path = supervisor.unit(name)?.pidfile.clone()?;
    let launch = world.launches.get(name);
    let now = pidfile_state(&path);
    let stale = match (&now, launch.and_then(|l| l.before.as_ref())) {
        (Some(now), Some(before)) => now == before,
        _ => false,
    };
    let pid = now.as_ref().and_then(|s| crate::pidfile::parse(&s.content));
    // A held zombie is still described by /proc, and its PID is still its own.
    let exited = pid.and_then(|p| world.held.get(&p).copied());
    let candidate = match exited {
        Some(_) => pid
            .and_then(crate::procfs::stat_of)
            .map(|(candidate, _)| candidate),
        None => pid.and_then(crate::procfs::candidate),
    };
    let ties = candidate
        .as_ref()
        .map(|c| ties(world, c, exited.is_some()))
        .unwrap_or_default();
    let reading = crate::supervisor::PidfileReading {
        ties,
        pid,
        stale,
        exited,
        candidate,
        context: launch.map(|l| crate::pidfile::Context {
            foster: world.own_pid,
            launcher: l.launcher,
            launched_ticks: l.ticks,
            foster_session: world.own_session,
        }),
    };
    Some(Event::Pidfile {
        name: name.to_string(),
        reading,
    })
}

/// foster's children as `/proc` describes them, live ones and held
/// zombies (with their statuses); a zombie about to be reaped is left out.
fn adopted(world: &World) -> Vec<(crate::pidfile::Candidate, Option<crate::status::WaitStatus>)> {
    let children = match crate::procfs::own_children() {
        Ok(children) => children,
        Err(e) => {
            warn!("cannot list foster's children: {e}");
            return Vec::new();
        }
    };
    children
        .into_iter()
        .filter_map(|pid| {
            let (candidate, zombie) = crate::procfs::stat_of(pid)?;
            match (zombie, world.held.get(&pid)) {
                (false, _) => Some((candidate, None)),
                (true, Some(&status)) => Some((candidate, Some(status))),
                (true, None) => None,
            }
        })
        .collect()
}

/// Something changed in a watched directory: read the pidfiles there.
fn pidfiles_touched(world: &World, supervisor: &Supervisor, queue: &mut VecDeque<Event>) {
    let Some(inotify) = &world.inotify else {
        return;
    };
    let touched = inotify.read();
    for (watch, _) in &touched {
        if let Some(name) = world.cgroup_watches.get(watch)
            && world.cgroups.as_ref().and_then(|c| c.populated(name)) == Some(false)
            && !queue.contains(&Event::CgroupEmpty(name.clone()))
        {
            queue.push_back(Event::CgroupEmpty(name.clone()));
        }
    }
    for (name, launch) in &world.launches {
        let Some(file) = supervisor
            .unit(name)
            .and_then(|u| u.pidfile.as_ref())
            .and_then(|p| p.file_name())
        else {
            continue;
        };
        if touched
            .iter()
            .any(|(w, f)| Some(*w) == launch.watch && f.as_os_str() == file)
            && let Some(event) = read_pidfile(name, world, supervisor)
        {
            queue.push_back(event);
        }
    }
}

/// Re-reads the services directory and applies it (SIGHUP, `fosterctl
/// reload`). Problems are logged; the reply lists what changed.
fn reload_units(world: &World, supervisor: &mut Supervisor, actions: &mut Vec<Action>) -> Reply {
    let Some(dir) = &world.services_dir else {
        return Reply::error("foster runs no services directory to re-read");
    };
    let loaded = crate::unit::load_dir(dir, &crate::users::UserDb::load());
    for problem in &loaded.problems {
        error!("{problem}");
    }
    supervisor.reload(loaded, Instant::now(), actions)
}

/// Moves one control connection along: read the request until its newline
/// (or end of file), answer it, write the reply, close.
fn serve(
    token: u64,
    sources: &Sources,
    world: &World,
    connections: &mut Connections,
    supervisor: &mut Supervisor,
    actions: &mut Vec<Action>,
) {
    let now = Instant::now();
    if connections.replying(token) {
        connections.write(token, &sources.poller, now);
        return;
    }
    let reply = match connections.read(token, &sources.poller, now) {
        Progress::Waiting => return,
        Progress::TooLong => Reply::error("request too long"),
        Progress::Request(line) => match crate::control::parse(&line) {
            Ok(crate::control::Request::Reload(names))
                if names.is_empty() && world.services_dir.is_some() =>
            {
                reload_units(world, supervisor, actions)
            }
            Ok(crate::control::Request::Kill { name, signal }) => {
                kill_now(world, supervisor, name, signal, actions)
            }
            Ok(request) => supervisor.control(request, now, actions),
            Err(reason) => Reply::error(reason),
        },
    };
    connections.answer(token, reply.render(), &sources.poller, now);
}

/// `fosterctl kill`: the signal is sent before the reply is written, so
/// that the reply says whether the kernel took it.
fn kill_now(
    world: &World,
    supervisor: &mut Supervisor,
    name: String,
    sig: i32,
    actions: &mut Vec<Action>,
) -> Reply {
    let from = actions.len();
    let request = crate::control::Request::Kill {
        name: name.clone(),
        signal: sig,
    };
    let reply = supervisor.control(request, Instant::now(), actions);
    let mut failure = None;
    let mut delivered = false;
    for action in actions.split_off(from) {
        match action {
            Action::Signal { target, sig } => match send(world, target, sig) {
                Ok(()) => delivered = true,
                Err(e) => failure = Some(e),
            },
            other => actions.push(other),
        }
    }
    match failure {
        Some(e) if !delivered => Reply::error(format!(
            "{name}: {} was not delivered: {e}",
            signal::name(sig)
        )),
        _ => reply,
    }
}

/// Reads the waiting sd_notify datagrams (at most [`NOTIFY_PER_TURN`]).
/// The sender's session and cgroup, and what the `MAINPID=` it names is,
/// are looked up at once, while a sender waiting on `BARRIER=1` is sure to
/// be alive; descriptors that came along are closed only after that, which
/// is what releases such a sender. Every descriptor is closed: foster keeps
/// none (a datagram carrying them is read like any other). A datagram cut
/// short (too long, or more descriptors than fit) is refused whole.
fn read_notifications(sources: &Sources, world: &World, queue: &mut VecDeque<Event>) {
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
                        let cgroup = membership(world, sender);
                        let main = message.main_pid.map(|pid| named(world, pid));
                        queue.push_back(Event::Notify {
                            sender,
                            session,
                            cgroup,
                            message,
                            main,
                        });
                    }
                    None => debug!("ignoring a malformed notification from {sender}"),
                }
                drop(datagram.fds);
            }
            Ok(None) => return,
            Err(e) => {
                warn!("reading the notify socket failed: {e}");
                return;
            }
        }
    }
}

/// Whose cgroup `pid` is in, where foster makes cgroups.
fn membership(world: &World, pid: Pid) -> crate::pidfile::CgroupMembership {
    match &world.cgroups {
        Some(cgroups) => cgroups.membership(pid),
        None => crate::pidfile::CgroupMembership::Unknown,
    }
}

/// What ties the process `c` describes to a service: its ancestry, its
/// cgroup, the `FOSTER_SERVICE_NAME` it was started with, and when the leader
/// of its session started. `exited`: it is a held zombie, which has left
/// its cgroup already.
fn ties(world: &World, c: &crate::pidfile::Candidate, exited: bool) -> crate::pidfile::Ties {
    crate::pidfile::Ties {
        ancestors: crate::procfs::ancestors(c.pid, world.own_pid),
        cgroup: if exited {
            crate::pidfile::CgroupMembership::Unknown
        } else {
            membership(world, c.pid)
        },
        marked: crate::procfs::service_marker(c.pid),
        leader_ticks: (c.session > 0)
            .then(|| crate::procfs::start_ticks(c.session))
            .flatten(),
    }
}

/// The process a `MAINPID=` names, as `/proc` describes it.
fn named(world: &World, pid: Pid) -> crate::supervisor::Named {
    let candidate = crate::procfs::candidate(pid);
    let ties = candidate
        .as_ref()
        .map(|c| ties(world, c, false))
        .unwrap_or_default();
    crate::supervisor::Named {
        pid,
        candidate,
        ties,
    }
}

/// A followed process's pidfd became readable: it has ended. foster's own
/// child is left to the reaper, which has its status (its pidfd is no
/// longer watched, so a held zombie does not keep waking the loop). A
/// process whose parent is someone else — a `MAINPID=` naming a child of
/// the service's shell, a daemon not yet reparented — is never reaped by
/// foster: its end is reported here, with its status unknown.
fn followed_ended(pid: Pid, sources: &Sources, world: &mut World, queue: &mut VecDeque<Event>) {
    let Some(fd) = world.pidfds.get(&pid) else {
        return;
    };
    match sys::peek_exited(Some(pid)) {
        Ok(Reaped::NoChildren) => {
            debug!("followed process {pid}, not foster's child, has ended");
            forget(world, pid);
            queue.push_back(Event::Exited {
                pid,
                status: crate::status::WaitStatus::Unknown,
            });
        }
        _ => sources.poller.unwatch(fd.fd()),
    }
}

/// Drops the records of processes that are gone: a reaped PID is kept (so
/// that it is never signalled by number) only while the supervisor still
/// names it; the launch records and cgroup watches of services that no
/// longer exist go. Cheap when there is nothing to drop.
fn prune(world: &mut World, supervisor: &Supervisor) {
    prune_records(
        &mut world.reaped,
        &mut world.launches,
        &mut world.cgroup_watches,
        supervisor,
    );
}

fn prune_records<L, W>(
    reaped: &mut std::collections::HashSet<Pid>,
    launches: &mut std::collections::HashMap<String, L>,
    watches: &mut std::collections::HashMap<W, String>,
    supervisor: &Supervisor,
) {
    if !reaped.is_empty() {
        reaped.retain(|&pid| supervisor.names(pid));
    }
    if launches.len() > supervisor.service_count() {
        launches.retain(|name, _| supervisor.unit(name).is_some());
    }
    if watches.len() > supervisor.service_count() {
        watches.retain(|_, name| supervisor.unit(name).is_some());
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
            Ok(Some((libc::SIGCHLD, _))) => reap_all(world, supervisor, queue),
            // A write of foster's own to an output whose reader is gone:
            // the relay handles it; it is nobody's signal to forward.
            Ok(Some((libc::SIGPIPE, sender))) if sender == own_pid => {}
            Ok(Some((sig, _))) => queue.push_back(Event::Signal(sig)),
            Ok(None) => return,
            Err(e) => {
                error!("reading the signalfd failed: {e}");
                return;
            }
        }
    }
}

/// Reaps until nothing is left to reap, then says whether children remain. While the supervisor holds exits, each one is
/// looked at first (`WNOWAIT`) and those it holds stay zombies.
fn reap_all(world: &mut World, supervisor: &Supervisor, queue: &mut VecDeque<Event>) {
    if supervisor.holding() || !world.held.is_empty() {
        return reap_holding(world, supervisor, queue);
    }
    reap_plain(world, queue);
}

/// What a wait that found no ended child means for the pass: whether
/// children are left (`None` when it found one).
fn pass_over(found: &io::Result<Reaped>, call: &str) -> Option<bool> {
    match found {
        Ok(Reaped::Child(..)) => None,
        Ok(Reaped::NoneReady) => Some(true),
        Ok(Reaped::NoChildren) => Some(false),
        Err(e) => {
            error!("{call} failed: {e}");
            Some(true)
        }
    }
}

/// Reaps every ended child as it comes.
fn reap_plain(world: &mut World, queue: &mut VecDeque<Event>) {
    loop {
        let found = sys::reap_one();
        if let Some(children_left) = pass_over(&found, "waitpid") {
            queue.push_back(Event::ReapDone { children_left });
            return;
        }
        if let Ok(Reaped::Child(pid, status)) = found {
            forget(world, pid);
            queue.push_back(Event::Exited { pid, status });
        }
    }
}

/// The reaping pass while exits are held. `waitid(P_ALL, WNOWAIT)` keeps
/// answering with the first zombie in the kernel's list, so once that one
/// is held the others are found child by child.
fn reap_holding(world: &mut World, supervisor: &Supervisor, queue: &mut VecDeque<Event>) {
    loop {
        let found = sys::peek_exited(None);
        if let Some(children_left) = pass_over(&found, "waitid") {
            queue.push_back(Event::ReapDone { children_left });
            return;
        }
        match found {
            Ok(Reaped::Child(pid, status)) if !world.held.contains_key(&pid) => {
                take_or_hold(pid, status, world, supervisor, queue);
            }
            _ => break,
        }
    }
    // A held zombie is first in line: look at the other children one by one.
    match crate::procfs::own_children() {
        Ok(children) => {
            for pid in children {
                if world.held.contains_key(&pid) {
                    continue;
                }
                if let Ok(Reaped::Child(pid, status)) = sys::peek_exited(Some(pid)) {
                    take_or_hold(pid, status, world, supervisor, queue);
                }
            }
        }
        Err(e) => {
            // Without the list, holding would stall reaping: stop holding.
            warn!("cannot list foster's children ({e}); no longer holding exits");
            release_held(world, queue);
            return reap_plain(world, queue);
        }
    }
    queue.push_back(Event::ReapDone {
        children_left: true,
    });
}

/// Holds the exit of `pid` if the supervisor wants it held and there is
/// room; otherwise reaps it and reports it.
fn take_or_hold(
    pid: Pid,
    status: crate::status::WaitStatus,
    world: &mut World,
    supervisor: &Supervisor,
    queue: &mut VecDeque<Event>,
) {
    if world.held.len() < MAX_HELD && supervisor.holds(pid) {
        debug!("holding the exit of {pid} ({status}) while a forking service starts");
        world.held.insert(pid, status);
        return;
    }
    match sys::reap_pid(pid) {
        Ok(Some(status)) => {
            forget(world, pid);
            queue.push_back(Event::Exited { pid, status });
        }
        Ok(None) => {}
        Err(e) => debug!("cannot reap {pid}: {e}"),
    }
}

/// Reaps every held exit and reports it as an ordinary one.
fn release_held(world: &mut World, queue: &mut VecDeque<Event>) {
    for (pid, held) in std::mem::take(&mut world.held) {
        forget(world, pid);
        let status = match sys::reap_pid(pid) {
            Ok(Some(status)) => status,
            _ => held,
        };
        queue.push_back(Event::Exited { pid, status });
    }
}

/// A followed process is gone: close its pidfd, and remember not to
/// signal its number.
fn forget(world: &mut World, pid: Pid) {
    if world.pidfds.remove(&pid).is_some() {
        world.reaped.insert(pid);
    }
}

fn send(world: &World, target: Target, sig: i32) -> Result<(), String> {
    let result = match target {
        Target::Process(pid) => send_to_process(world, pid, sig),
        Target::Group(pgid) => sys::signal_group(pgid, sig).map_err(|e| e.to_string()),
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
fn send_to_process(world: &World, pid: Pid, sig: i32) -> Result<(), String> {
    match world.pidfds.get(&pid) {
        Some(fd) => fd.signal(sig).map_err(|e| e.to_string()),
        None if world.reaped.contains(&pid) => Err("it has ended".into()),
        None => sys::signal_process(pid, sig).map_err(|e| e.to_string()),
    }
}

/// Signals a followed daemon's session: each member found in `/proc` gets a
/// pidfd, is checked again through it (still in the session, same start
/// time: not a PID recycled meanwhile), and is signalled through it.
fn signal_session(world: &World, sid: Pid, since: u64, sig: i32) {
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
        if crate::procfs::candidate(pid) != Some(before) || before.session != sid {
            continue;
        }
        debug!("sending {} to {pid} of session {sid}", signal::name(sig));
        if let Err(e) = fd.signal(sig) {
            debug!("cannot send {} to {pid}: {e}", signal::name(sig));
        }
    }
}

fn signal_descendants(world: &World, sig: i32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_processes_and_services_that_are_gone_are_dropped() {
        // The forking crash loop of the soak run: every round a followed
        // daemon is reaped, and its number used to be kept for good.
        let settings = crate::supervisor::Settings {
            forward_to_group: false,
            expected: crate::status::ExpectedStatuses::default(),
            grace: std::time::Duration::from_secs(1),
            warn_on_reap: false,
            system: false,
            identity: crate::supervisor::Identity::default(),
        };
        let unit = crate::service::tests::unit("d", Kind::Forking, crate::unit::Restart::Always);
        let supervisor = Supervisor::new(settings, vec![unit], false, true);
        let mut reaped: std::collections::HashSet<Pid> = (1000..6000).collect();
        let mut launches: std::collections::HashMap<String, ()> =
            [("d".to_string(), ()), ("removed".to_string(), ())].into();
        let mut watches: std::collections::HashMap<u32, String> =
            [(1, "d".to_string()), (2, "removed".to_string())].into();
        prune_records(&mut reaped, &mut launches, &mut watches, &supervisor);
        assert!(reaped.is_empty());
        assert_eq!(launches.keys().collect::<Vec<_>>(), ["d"]);
        assert_eq!(watches.values().collect::<Vec<_>>(), ["d"]);
    }
}
