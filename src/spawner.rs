//! The spawner: the main command and each service's process, set up as
//! its unit says (environment, user, working directory, session, output
//! pipes for `log: prefix`, its cgroup joined before exec, a forking
//! service's pidfile watched before the launch) and started through
//! [`sys::spawn`]. What could not be started is a [`StartError`] for the
//! core to decide on.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::fd::AsFd;

use log::{error, info, warn};

use crate::event_loop::{Sources, World, describe, errno};
use crate::procfs;
use crate::relay::Stream;
use crate::service::{Launched, ServiceId};
use crate::supervisor::StartError;
use crate::sys::{self, ChildSpec, Pid};
use crate::unit::{Kind, LogMode, Unit};

pub fn start_main(sources: &Sources, world: &mut World) -> Result<Pid, StartError> {
    let Some(spec) = world.main.take() else {
        return Err(StartError::NoCommand);
    };
    let spawned = sys::spawn(&spec, &world.mask);
    world.start_dir = None;
    world.main_sockets.clear();
    if world.close_inherited_fds {
        sys::close_fds_except(&sources.raw_fds());
    }
    let child = spawned.map_err(spawn_error)?;
    match child.failure {
        Some(failure) if failure.stage == sys::Stage::Exec => error!(
            "cannot run {}: {}",
            world.main_name,
            describe(&failure.error)
        ),
        // A step before exec (a `--limit`): which one.
        Some(failure) => error!("cannot run {}: {failure}", world.main_name),
        None => info!("started {} as {}", world.main_name, child.pid),
    }
    world.main_pid = Some(child.pid);
    world.reaper.reused(child.pid);
    Ok(child.pid)
}

/// Spawns a service's process: its own session, foster's environment plus
/// the unit's, its user and working directory.
pub fn start_service(
    id: ServiceId,
    unit: &Unit,
    world: &mut World,
    sources: &Sources,
) -> Result<Launched, StartError> {
    let argv: Vec<OsString> = unit.command.iter().map(OsString::from).collect();
    // Read at each start, so that an edited file applies at the next one.
    let from_files = env_files(unit).map_err(StartError::EnvFile)?;
    // A service with an fd store or a watchdog talks to the notify socket
    // too, whatever its type (as systemd gives it NOTIFY_SOCKET).
    // Readiness and the watchdog cannot do without it; the fd store can.
    let needs = unit.kind == Kind::Notify || unit.watchdog.is_some();
    let notify = match sources.notify_address() {
        None if needs => return Err(StartError::NoNotifySocket),
        Some(address) if needs || unit.fd_store > 0 => Some(address.to_string()),
        _ => None,
    };
    let sockets = hold_sockets(unit, &mut world.held)?;
    // Then what it stored, as sd_listen_fds(3) has it: after its sockets.
    let max = usize::try_from(unit.fd_store).unwrap_or(usize::MAX);
    let (stored, stored_names) = world
        .stores
        .for_start(&unit.name, max, &sources.poller)
        .map_err(|e| StartError::Stored(errno(e)))?;
    let mut env = service_env(&world.env, unit, from_files, notify);
    if !sockets.is_empty() || !stored.is_empty() {
        let names: Vec<&str> = unit
            .sockets
            .iter()
            .map(|s| s.name.as_str())
            .chain(stored_names.iter().map(String::as_str))
            .collect();
        listen_env(&mut env, &names, world.own_pid);
    }
    // foster's own watchdog variables (from a manager above it) are
    // never a service's; its own are the unit's, with WATCHDOG_PID the
    // PID that runs the program (the child writes it, as LISTEN_PID).
    env.retain(|(k, _)| k != "WATCHDOG_USEC" && k != "WATCHDOG_PID");
    if let Some(timeout) = unit.watchdog {
        env.push((
            "WATCHDOG_USEC".into(),
            timeout.as_micros().to_string().into(),
        ));
        env.push(("WATCHDOG_PID".into(), world.own_pid.to_string().into()));
    }
    if unit.fd_store > 0 {
        env.retain(|(k, _)| k != "FDSTORE");
        env.push(("FDSTORE".into(), unit.fd_store.to_string().into()));
    }
    let mut spec = ChildSpec::new(&argv, &env, false).map_err(spawn_error)?;
    spec.in_new_session();
    let passed: Vec<std::os::fd::BorrowedFd<'_>> = sockets
        .iter()
        .chain(stored.iter())
        .map(|fd| fd.as_fd())
        .collect();
    spec.pass_fds(&passed);
    if let Some(creds) = &unit.credentials {
        spec.run_as(creds.uid, creds.gid, &creds.groups);
    }
    spec.set_process(&process_settings(unit));
    match &unit.workdir {
        Some(dir) => spec.set_workdir(dir).map_err(spawn_error)?,
        None => spec
            .set_workdir(std::path::Path::new("/"))
            .map_err(spawn_error)?,
    }
    let pipes = if unit.log.is_relayed() {
        let out = sys::output_pipe().map_err(|e| StartError::OutputPipe(errno(e)))?;
        let err = sys::output_pipe().map_err(|e| StartError::OutputPipe(errno(e)))?;
        spec.redirect_output(out.1.as_fd(), err.1.as_fd());
        Some((out, err))
    } else {
        None
    };
    world.relay.set_file(
        &unit.name,
        unit.log_file.as_ref().map(|f| crate::logfile::FileSpec {
            path: f.path.clone(),
            max_size: f.max_size,
            keep: f.keep,
            owner: unit.credentials.as_ref().map(|c| (c.uid, c.gid)),
        }),
    );
    // `log: none`: its output goes nowhere, at no cost to foster.
    let null = match unit.log {
        LogMode::None => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .map_err(|e| StartError::DevNull(errno(e)))?,
        ),
        _ => None,
    };
    if let Some(null) = &null {
        spec.redirect_output(null.as_fd(), null.as_fd());
    }
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
    let joined = cgroup.is_some();
    let limits_enforced = apply_cgroup_limits(id, unit, joined, world);
    if let Some((procs, events)) = &cgroup {
        spec.join_cgroup(procs.as_fd());
        world
            .tracker
            .cgroup_made(id, &unit.name, events, &sources.poller);
    }
    // A forking service's pidfile: watched and noted before the launch.
    let pending = world.tracker.prepare_launch(unit, &sources.poller);
    let child = sys::spawn(&spec, &world.mask).map_err(spawn_error);
    // When it started: from the clock read around the spawn when that
    // tells, else from /proc (one read fewer per service, most of the time).
    let ticks = child.as_ref().ok().and_then(|spawned| {
        spawned
            .start_ticks
            .or_else(|| procfs::start_ticks(spawned.pid))
    });
    if let Ok(spawned) = &child {
        world.reaper.reused(spawned.pid);
    }
    if let (Some(pending), Ok(spawned)) = (pending, &child) {
        world.tracker.launched(id, pending, spawned.pid, ticks);
    }
    if let Some(((out_read, out_write), (err_read, err_write))) = pipes {
        // Our copies of the write ends go now: end of file comes when the
        // service and everything it started are done writing.
        drop((out_write, err_write));
        for (stream, fd) in [(Stream::Stdout, out_read), (Stream::Stderr, err_read)] {
            let label = crate::relay::Label {
                name: (unit.log == LogMode::Prefix).then(|| unit.name.clone()),
                timestamps: unit.log_timestamps.unwrap_or(world.log_timestamps),
                buffer: unit.log_buffer,
            };
            if let Err(e) = world
                .relay
                .add(&sources.poller, &unit.name, label, stream, fd)
            {
                warn!("{}: cannot relay its output: {e}", unit.name);
            }
        }
    }
    let child = child?;
    match child.failure {
        // The child exits by itself; its exit is reaped as an orphan's. A
        // cgroup that could not be joined is the supervisor's to decide on.
        Some(failure) => {
            let detail = match failure.stage {
                sys::Stage::Workdir => Some(
                    unit.workdir
                        .as_deref()
                        .unwrap_or(std::path::Path::new("/"))
                        .display()
                        .to_string(),
                ),
                sys::Stage::Exec => unit.command.first().cloned(),
                // The likely cause where foster runs with few capabilities
                // (a container started with most of them dropped).
                sys::Stage::Capabilities
                    if failure.error.raw_os_error() == Some(libc::EPERM) =>
                {
                    Some(
                        "taking the others out of the bounding set needs CAP_SETPCAP, which foster lacks here; list them in capabilities: too, or run foster with CAP_SETPCAP"
                            .to_string(),
                    )
                }
                _ => None,
            };
            Err(StartError::Child {
                stage: failure.stage,
                errno: errno(failure.error),
                detail: detail.filter(|d| !d.trim().is_empty()),
            })
        }
        None => Ok(Launched {
            pid: child.pid,
            ticks,
            cgroup: joined,
            limits_enforced,
        }),
    }
}

/// What starts remember of cgroup limits, for foster's run.
#[derive(Debug, Default)]
pub struct CgroupRecords {
    /// Said once: no cgroup per service, so no limits at all.
    warned_unavailable: bool,
    /// A limit file of a service that could not be written, said once.
    warned: HashSet<(String, &'static str)>,
    /// The services whose cgroup was given limits: a later start resets
    /// what its unit no longer sets (the cgroup outlives the run).
    limited: HashSet<String>,
    /// The `oom_kill` count of each service's cgroup as last seen (at its
    /// start, and when foster last reported an OOM kill in it).
    pub oom_seen: HashMap<ServiceId, u64>,
}

/// Writes `unit`'s cgroup limits into its cgroup (`joined`: foster made it
/// one), before its first process joins it, enabling the controllers they
/// need first. `None` for a unit without any; `Some(false)` when one could
/// not be had, each reason warned about once, and the service then starts
/// without it. Notes the cgroup's OOM kills so far, to tell a new one.
fn apply_cgroup_limits(
    id: ServiceId,
    unit: &Unit,
    joined: bool,
    world: &mut World,
) -> Option<bool> {
    let limits = &unit.cgroup_limits;
    let records = &mut world.limits;
    let reset = records.limited.contains(&unit.name);
    let cgroups = match (world.cgroups.as_mut(), joined) {
        (Some(cgroups), true) => cgroups,
        _ if limits.is_empty() => return None,
        _ => {
            if !records.warned_unavailable {
                let why = world
                    .no_cgroups
                    .as_deref()
                    .unwrap_or("its cgroup could not be made");
                warn!("cgroup limits cannot be enforced here ({why}): services run without them");
                records.warned_unavailable = true;
            }
            return Some(false);
        }
    };
    let outcome = if limits.is_empty() && !reset {
        None
    } else {
        if let Err(why) = cgroups.delegate(&crate::cgroup::controllers_for(limits)) {
            warn!("cgroup limits cannot be enforced here ({why}): services run without them");
        }
        let failed = cgroups.write_limits(&unit.name, limits, reset);
        for (file, why) in &failed {
            if let Some(why) = why
                && records.warned.insert((unit.name.clone(), file))
            {
                warn!(
                    "{}: cannot set {file} in its cgroup ({why}): it runs without that limit",
                    unit.name
                );
            }
        }
        if !limits.is_empty() {
            records.limited.insert(unit.name.clone());
        }
        (!limits.is_empty()).then_some(failed.is_empty())
    };
    // Read before the spawn: an OOM kill right after it is this run's.
    match cgroups.oom_kills(&unit.name) {
        Some(n) => records.oom_seen.insert(id, n),
        None => records.oom_seen.remove(&id),
    };
    outcome
}

/// What `unit` says its process gets before exec besides its user.
pub fn process_settings(unit: &Unit) -> sys::ProcessSettings<'_> {
    sys::ProcessSettings {
        limits: &unit.limits,
        umask: unit.umask,
        nice: unit.nice,
        oom_score_adj: unit.oom_score_adj,
        capabilities: unit.capabilities,
        no_new_privs: unit.no_new_privs,
    }
}

/// The variables of `unit`'s `env_file`s, in order; an optional one that
/// does not exist is skipped. `Err`: what is wrong, naming the file.
fn env_files(unit: &Unit) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for file in &unit.env_files {
        match crate::unit::read_env_file(&file.path) {
            Ok(found) => vars.extend(found),
            Err(_) if file.optional && !file.path.exists() => {}
            Err(why) => return Err(why),
        }
    }
    Ok(vars)
}

/// systemd's socket-activation variables for a program given the sockets
/// `names` as fds 3, …: `LISTEN_FDS`, `LISTEN_FDNAMES`, and `LISTEN_PID`
/// as foster's own PID, which the child writes its own over before exec
/// (see [`ChildSpec::new`]). Earlier values of them (foster's own, if it
/// was socket-activated) are dropped.
pub fn listen_env(env: &mut Vec<(OsString, OsString)>, names: &[&str], own_pid: Pid) {
    env.retain(|(k, _)| k != "LISTEN_FDS" && k != "LISTEN_FDNAMES" && k != "LISTEN_PID");
    env.push(("LISTEN_FDS".into(), names.len().to_string().into()));
    env.push(("LISTEN_FDNAMES".into(), names.join(":").into()));
    env.push(("LISTEN_PID".into(), own_pid.to_string().into()));
}

/// The sockets of `unit` (`sockets:`), as foster holds them in `held`:
/// an entry unchanged since the last start keeps its very socket (with the
/// connections waiting in its backlog), a new or changed one is bound now,
/// and one no longer in the unit is closed. Copies of the descriptors, in
/// the unit's order, for the start to pass; a socket that cannot be made
/// fails the start, and the sockets already held stay held.
fn hold_sockets(
    unit: &Unit,
    held: &mut std::collections::HashMap<
        String,
        Vec<(crate::unit::SocketSpec, std::os::fd::OwnedFd)>,
    >,
) -> Result<Vec<std::os::fd::OwnedFd>, StartError> {
    if unit.sockets.is_empty() && !held.contains_key(&unit.name) {
        return Ok(Vec::new());
    }
    let mut had = held.remove(&unit.name).unwrap_or_default();
    let owner = unit.credentials.as_ref().map(|c| (c.uid, c.gid));
    let mut now = Vec::with_capacity(unit.sockets.len());
    let mut failed = None;
    for spec in &unit.sockets {
        match had.iter().position(|(old, _)| old == spec) {
            Some(at) => now.push(had.swap_remove(at)),
            None if failed.is_none() => match sys::held_socket(spec, owner) {
                Ok(fd) => {
                    info!(
                        "{}: holding {} ({})",
                        unit.name,
                        spec.listen,
                        spec.kind.as_str()
                    );
                    now.push((spec.clone(), fd));
                }
                Err(e) => {
                    failed = Some(format!(
                        "cannot listen on {} ({}): {}",
                        spec.listen,
                        spec.kind.as_str(),
                        describe(&e)
                    ))
                }
            },
            None => {}
        }
    }
    // What no entry names any more is closed now; what could not be had
    // leaves the rest held for the next try.
    drop(had);
    let copies = match &failed {
        None => now
            .iter()
            .map(|(_, fd)| fd.try_clone())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StartError::Socket(format!("cannot pass its sockets: {}", describe(&e)))),
        Some(why) => Err(StartError::Socket(why.clone())),
    };
    if !now.is_empty() {
        held.insert(unit.name.clone(), now);
    }
    copies
}

/// A service's whole environment, each key once, later sources overriding
/// earlier ones in place: foster's own, then `HOME`, `USER` and `LOGNAME`
/// of its `user`, then its `env_file`s in order, then its `env:`, then
/// `FOSTER_SERVICE_NAME` and, for a notify service, `NOTIFY_SOCKET`
/// (foster's own `NOTIFY_SOCKET` is never passed on).
fn service_env(
    own: &[(OsString, OsString)],
    unit: &Unit,
    from_files: Vec<(String, String)>,
    notify: Option<String>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = own.to_vec();
    // Where each key is: an env file may hold many thousands of variables,
    // and a start must not take quadratic time in them.
    let mut at: std::collections::HashMap<OsString, usize> = env
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    let mut set = |key: OsString, value: OsString| match at.get(&key).and_then(|&i| env.get_mut(i))
    {
        Some(slot) => slot.1 = value,
        None => {
            at.insert(key.clone(), env.len());
            env.push((key, value));
        }
    };
    if let Some(creds) = &unit.credentials {
        set("HOME".into(), creds.home.clone().into());
        set("USER".into(), creds.name.clone().into());
        set("LOGNAME".into(), creds.name.clone().into());
    }
    for (k, v) in from_files {
        set(k.into(), v.into());
    }
    for (k, v) in &unit.env {
        set(k.into(), v.into());
    }
    // Which service a process was started for: a trace that survives its
    // forks, reparenting and new sessions (see `pidfile::Ties::marked`),
    // and the service's name for scripts (as supervisord's
    // SUPERVISOR_PROCESS_NAME).
    set("FOSTER_SERVICE_NAME".into(), unit.name.clone().into());
    env.retain(|(k, _)| k != "NOTIFY_SOCKET");
    if let Some(address) = notify {
        env.push(("NOTIFY_SOCKET".into(), address.into()));
    }
    env
}

/// A spawn that failed before any child existed, for the core.
fn spawn_error(e: sys::SpawnError) -> StartError {
    match e {
        sys::SpawnError::Nul => StartError::Nul,
        sys::SpawnError::Os(e) => StartError::Fork(errno(e)),
    }
}

/// Spawns an exec probe of `unit`'s health check: `argv` with the
/// service's user, group, environment (its env files read again), working
/// directory and cgroup, in a process group of its own (killed whole at
/// its timeout), stdout and stderr on one pipe whose read end is returned.
/// It gets neither `NOTIFY_SOCKET` nor `FOSTER_SERVICE_NAME`: it is not
/// the service, and nothing may take it for one of its processes. An `Err`
/// says why it could not start, for the probe's output.
pub fn start_probe(unit: &Unit, argv: &[String], world: &mut World) -> Result<ProbeChild, String> {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let mut env = service_env(&world.env, unit, env_files(unit)?, None);
    env.retain(|(k, _)| {
        ![
            "FOSTER_SERVICE_NAME",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "LISTEN_FDS",
            "LISTEN_FDNAMES",
            "LISTEN_PID",
        ]
        .iter()
        .any(|name| k == name)
    });
    let mut spec = ChildSpec::new(&argv, &env, false).map_err(|e| e.to_string())?;
    if let Some(creds) = &unit.credentials {
        spec.run_as(creds.uid, creds.gid, &creds.groups);
    }
    // No more privilege than the service: its limits, capabilities and
    // no_new_privs bind its probes too.
    spec.set_process(&process_settings(unit));
    let dir = unit.workdir.as_deref().unwrap_or(std::path::Path::new("/"));
    spec.set_workdir(dir).map_err(|e| e.to_string())?;
    let (read, write) = sys::output_pipe()
        .map_err(|e| format!("cannot create its output pipe: {}", describe(&e)))?;
    spec.redirect_output(write.as_fd(), write.as_fd());
    // In the service's cgroup, as Docker runs a check in the container.
    let procs = world
        .cgroups
        .as_ref()
        .and_then(|c| c.prepare(&unit.name).ok());
    if let Some(procs) = &procs {
        spec.join_cgroup(procs.as_fd());
    }
    let child = sys::spawn(&spec, &world.mask).map_err(|e| e.to_string())?;
    world.reaper.reused(child.pid);
    drop(write);
    // A child that could not become the probe exits by itself (126, 127);
    // what failed is its output.
    let failure = child.failure.map(|f| f.to_string());
    Ok(ProbeChild {
        pid: child.pid,
        output: read,
        failure,
    })
}

/// An exec probe's process, as [`start_probe`] started it.
pub struct ProbeChild {
    pub pid: Pid,
    /// The read end of its stdout and stderr (non-blocking).
    pub output: std::os::fd::OwnedFd,
    /// Why it could not run its command, when it could not.
    pub failure: Option<String>,
}
