//! foster: a mini init for containers and small VMs.
//!
//! How the pieces connect, for one command (`foster -- COMMAND`):
//! [`cli`] turns arguments and environment into options; every signal is
//! blocked so that it can only arrive through the signalfd; the event
//! sources are opened; [`sys::spawn`] starts the child with the mask and
//! dispositions foster inherited; then [`event_loop::run`] feeds what
//! happens to the [`supervisor::Supervisor`], which decides, and carries
//! out what it decides until it says to exit. `supervise` is that wiring,
//! in order; the [`event_loop::World`] it builds holds the
//! [`foster::reaper::Reaper`] and the [`foster::tracker::Tracker`], and the
//! loop serves the control socket ([`foster::control`]). The modules are
//! the library crate (`src/lib.rs`); [`sys`] is the only one that makes
//! system calls or uses `unsafe`. The entry point is here: foster has its own C `main`
//! (see [`sys`] for why), which must be in the binary so that the linker
//! keeps it.

// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
// A panic in PID 1 ends the container or panics the VM's kernel.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use log::{debug, error, info, warn};

use foster::cli::{Options, Request, UsageError};
use foster::supervisor::{Power, Settings, Supervisor};
use foster::{
    cgroup, cli, console, control, event_loop, logging, procfs, supervisor, sys, system, unit,
    users,
};

/// `main(argc, argv)`: the process entry point. Collects the arguments and
/// hands over to [`run`], whose return value is the exit status.
#[cfg(not(test))]
// `no_mangle` is an unsafe attribute (two symbols of one name would clash);
// this is the one `main` the C runtime calls.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // SAFETY: the C runtime passes `argc` valid pointers in `argv`, each to
    // a NUL-terminated string that lives for the whole process.
    let args = unsafe { sys::args(argc, argv) };
    run(args)
}

/// Everything after the C entry point; returns foster's exit status. As
/// the init of a machine it never returns: it ends in `reboot(2)`.
fn run(args: Vec<OsString>) -> i32 {
    // A machine's init readies the machine first: the command line itself
    // can only be read once /proc is mounted.
    let (args, machine) = match system::detect(sys::getpid() == Some(sys::Pid::INIT)) {
        None => (args, None),
        Some(start) => {
            let mut prepared = system::prepare(start);
            let args = match start {
                system::Start::Kernel => match std::fs::read_to_string("/proc/cmdline") {
                    Ok(cmdline) => {
                        let (args, ignored) = system::kernel_args(args, &cmdline);
                        prepared.ignored_args = ignored;
                        args
                    }
                    Err(e) => {
                        prepared.problems.push(format!(
                            "cannot read /proc/cmdline ({e}); every argument is foster's"
                        ));
                        args
                    }
                },
                system::Start::Handover => args,
            };
            (args, Some(prepared))
        }
    };
    sys::ensure_standard_fds();
    let (code, power) = match cli::parse(args.get(1..).unwrap_or_default(), &|name| {
        std::env::var_os(name)
    }) {
        Ok(Request::Run(options)) => supervise(options, machine.as_ref()),
        Ok(Request::Check(dir)) => (check(&dir), Power::default()),
        Ok(Request::Help) => {
            print!("{}", cli::USAGE);
            (0, Power::default())
        }
        Ok(Request::Version) => {
            // The commit comes from build.rs.
            println!(
                "foster {} ({})",
                env!("CARGO_PKG_VERSION"),
                env!("FOSTER_COMMIT")
            );
            (0, Power::default())
        }
        Err(UsageError::NoCommand) => {
            eprint!("foster: no command given\n{}", cli::USAGE);
            (2, Power::default())
        }
        Err(e) => {
            eprintln!("foster: {e}\nfoster: run 'foster --help' for usage");
            (2, Power::default())
        }
    };
    match machine {
        Some(prepared) => {
            // Only the first logger installed counts: this one is for when
            // foster never got as far as supervising.
            logging::init(1, log_target(&prepared), true);
            system::power_down(power, code)
        }
        None => {
            // foster's last lines, if stderr is slow to take them: waited
            // for a moment, never for good.
            console::flush_before_exit(std::time::Duration::from_secs(1));
            i32::from(code)
        }
    }
}

fn log_target(prepared: &system::Prepared) -> logging::Target {
    if prepared.log_to_kmsg {
        logging::Target::Kmsg
    } else {
        logging::Target::Stderr
    }
}

/// `foster --check`: every problem on stdout, one a line, then every
/// warning (`warning: ` before it); 1 if any problem. Warnings alone
/// leave it 0: the machine a unit runs on may not be the one checked.
fn check(dir: &Path) -> u8 {
    let loaded = unit::load_dir_with(dir, &users::UserDb::load(), &unit::HostProbe);
    for problem in &loaded.problems {
        println!("{problem}");
    }
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    if !loaded.problems.is_empty() {
        return 1;
    }
    let counted = |n: usize, one: &str, many: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    let warnings = match loaded.warnings.len() {
        0 => String::new(),
        n => format!(", {}", counted(n, "warning", "warnings")),
    };
    println!(
        "{}: {}, no problems{warnings}",
        dir.display(),
        counted(loaded.units.len(), "unit", "units")
    );
    0
}

/// Runs the command and the services. Returns the exit status (the main
/// command's, or 1 when foster could not set itself up at all) and, for a
/// machine's init (`machine`), how the machine is to end.
///
/// The order matters: the log first; every signal blocked before anything
/// could send one, so that each arrives through the signalfd; the event
/// sources before anything is spawned; the main command prepared before
/// foster leaves its directory for /.
fn supervise(mut options: Options, machine: Option<&system::Prepared>) -> (u8, Power) {
    // With services, `fosterctl logs` shows foster's own lines too.
    if options.services.is_some() {
        foster::logbook::keep_own_lines();
    }
    start_logging(&options, machine);
    // foster moves to / below: a relative services directory is read from
    // where foster was started, now and on every reload.
    options.services = options.services.map(resolve_services_dir);
    // With services, foster's outputs are opened now, so that the
    // descriptors it holds are the same from start-up on; a single command
    // leaves them to its first line (an idle tini-style init keeps fewer
    // pages resident that way).
    if options.services.is_some() {
        console::open();
    }
    let mask = match sys::block_all_signals() {
        Ok(mask) => mask,
        Err(e) => {
            error!("cannot block signals: {e}");
            return (1, Power::default());
        }
    };
    let Some(own_pid) = sys::getpid() else {
        error!("cannot tell foster's own PID: getpid(2) gave no positive number");
        return (1, Power::default());
    };
    if own_pid != sys::Pid::INIT
        && let Err(e) = sys::set_child_subreaper()
    {
        warn!("cannot become a child subreaper ({e}): orphans will not be reaped by foster");
    }
    if let Some(sig) = options.pdeathsig {
        set_parent_death_signal(sig);
    }
    let mut sources = match event_loop::Sources::open() {
        Ok(sources) => sources,
        Err(e) => {
            error!("cannot set up the event loop: {e}");
            return (1, Power::default());
        }
    };
    let (units, invalid) = load_units(&options);
    open_notify(&mut sources, &options, own_pid);
    open_control(&mut sources, &options, machine.is_some());
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let Ok(listening) = listen_for_main(&options) else {
        return (1, Power::default());
    };
    let Ok((main, main_name)) = prepare_main(&options, &env, &listening, own_pid) else {
        return (1, Power::default());
    };
    let (main, start_dir, start_path) = leave_start_dir(main);

    // No session when its leader is outside this PID namespace (or /proc
    // cannot say).
    let identity = supervisor::Identity {
        pid: own_pid,
        session: procfs::session_of(own_pid),
    };
    let (mut supervisor, main) = decide(&options, machine, identity, units, main, start_path);
    supervisor.note_invalid(invalid, std::time::Instant::now());
    let main = event_loop::MainCommand {
        spec: main,
        name: main_name,
        start_dir,
        sockets: listening,
    };
    let cgroups = open_cgroups(&options, own_pid);
    let services_dir = options.services.clone();
    let mut world = event_loop::World::new(identity, mask, env, main, services_dir, cgroups);
    world.log_timestamps = log_timestamps(&options, machine);
    let (code, power) = event_loop::run(&sources, &mut world, supervisor);
    sources.close_control();
    if let Some(cgroups) = &world.cgroups {
        cgroups.remove_all();
    }
    (code, power)
}

/// Whether log lines get timestamps: as asked, else on as a VM's init
/// (its console has none), off elsewhere (a container's engine adds them).
fn log_timestamps(options: &Options, machine: Option<&system::Prepared>) -> bool {
    options.log_timestamps.unwrap_or(machine.is_some())
}

/// `dir` against the directory foster was started in, if it is relative
/// (kept as given, with a warning, when that directory cannot be known).
fn resolve_services_dir(dir: PathBuf) -> PathBuf {
    if dir.is_absolute() {
        return dir;
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(dir),
        Err(e) => {
            warn!(
                "cannot tell the current directory ({e}): the services directory {} is read from /",
                dir.display()
            );
            dir
        }
    }
}

/// The log, at the verbosity asked for. A machine's console shows the boot
/// and shutdown steps by default, and what readying the machine did and
/// could not do comes first.
fn start_logging(options: &Options, machine: Option<&system::Prepared>) {
    let stamps = log_timestamps(options, machine);
    match machine {
        Some(prepared) => {
            logging::init(
                options.verbosity.saturating_add(1),
                log_target(prepared),
                stamps,
            );
            for step in &prepared.done {
                info!("{step}");
            }
            for problem in &prepared.problems {
                warn!("{problem}");
            }
            if !prepared.ignored_args.is_empty() {
                let words: Vec<_> = prepared
                    .ignored_args
                    .iter()
                    .map(|w| w.to_string_lossy())
                    .collect();
                warn!(
                    "ignoring kernel command-line words before \"--\": {}",
                    words.join(" ")
                );
            }
        }
        // With services, each one's life (started, ready, exited,
        // restarting, stopped, gave up) is logged by default, as
        // supervisord and s6-overlay users expect in `docker logs`; one
        // command stays silent, as tini does (FOSTER_LOG=warn quiets both).
        None if options.services.is_some() => logging::init(
            options.verbosity.saturating_add(1),
            logging::Target::Stderr,
            stamps,
        ),
        None => logging::init(options.verbosity, logging::Target::Stderr, stamps),
    }
}

/// The units of `--services`, and the invalid ones with their problems:
/// one with a problem is skipped, says so, and is listed as `invalid`.
fn load_units(options: &Options) -> (Vec<unit::Unit>, Invalid) {
    match &options.services {
        Some(dir) => {
            let loaded = unit::load_dir(dir, &users::UserDb::load());
            for problem in &loaded.problems {
                error!("{problem} (unit skipped)");
            }
            for warning in &loaded.warnings {
                warn!("{warning}");
            }
            let invalid = supervisor::status::invalid_units(&loaded);
            (loaded.units.into_values().collect(), invalid)
        }
        None => (Vec::new(), Invalid::new()),
    }
}

/// Invalid units by name, each with its problems.
type Invalid = std::collections::BTreeMap<String, Vec<String>>;

/// The sd_notify socket, wherever foster runs services: a notify service
/// or one with an fd store may come with a reload.
fn open_notify(sources: &mut event_loop::Sources, options: &Options, own_pid: sys::Pid) {
    if options.services.is_some()
        && let Err(e) = sources.open_notify(own_pid)
    {
        error!("cannot bind the notify socket ({e}): notify services cannot start");
    }
}

/// The control socket: with services or as a machine's init by default,
/// or wherever --socket says. Failing to open it costs the control,
/// never the services.
fn open_control(sources: &mut event_loop::Sources, options: &Options, machine: bool) {
    if options.services.is_some() || options.socket.is_some() || machine {
        let path = options
            .socket
            .clone()
            .unwrap_or_else(|| control::DEFAULT_SOCKET.into());
        if let Err(e) = sources.open_control(&path) {
            warn!(
                "cannot open the control socket {}: {e}; fosterctl will not reach this foster",
                path.display()
            );
        }
    }
}

/// The main command, ready to spawn (`None` without one), and the name
/// messages give it; `Err` (logged) when it cannot be run at all.
/// The sockets of `--listen`, bound now, before anything is started (as
/// root for an unprivileged command on a low port); a socket that cannot
/// be bound ends foster (1), as a command that cannot run does.
fn listen_for_main(options: &Options) -> Result<Vec<OwnedFd>, ()> {
    options
        .listen
        .iter()
        .map(|spec| {
            sys::held_socket(spec, None).map_err(|e| {
                error!("cannot listen on {}: {e}", spec.listen);
            })
        })
        .collect()
}

fn prepare_main(
    options: &Options,
    env: &[(OsString, OsString)],
    listening: &[OwnedFd],
    own_pid: sys::Pid,
) -> Result<(Option<sys::ChildSpec>, String), ()> {
    let main_name = options
        .command
        .first()
        .map(|c| format!("\"{}\"", c.to_string_lossy()))
        .unwrap_or_default();
    if options.command.is_empty() {
        return Ok((None, main_name));
    }
    // `--listen`: its sockets as fds 3, … with systemd's variables.
    let mut env = env.to_vec();
    if !listening.is_empty() {
        let names: Vec<&str> = options.listen.iter().map(|s| s.name.as_str()).collect();
        foster::spawner::listen_env(&mut env, &names, own_pid);
    }
    match sys::ChildSpec::new(&options.command, &env, sys::owns_terminal_foreground()) {
        Ok(mut spec) => {
            let fds: Vec<_> = listening.iter().map(|fd| fd.as_fd()).collect();
            spec.pass_fds(&fds);
            spec.set_process(&sys::ProcessSettings {
                limits: &options.limits,
                ..sys::ProcessSettings::default()
            });
            Ok((Some(spec), main_name))
        }
        Err(e) => {
            error!("cannot run {main_name}: {e}");
            Err(())
        }
    }
}

/// foster moves to / so that it never pins a mount; the main command
/// starts where foster was started. Moving first, and sending the child
/// back through a descriptor, means foster is never seen in the old
/// directory. Returns the command, the directory kept open for it, and
/// that directory's path.
fn leave_start_dir(
    main: Option<sys::ChildSpec>,
) -> (Option<sys::ChildSpec>, Option<OwnedFd>, Option<PathBuf>) {
    let start_path = std::env::current_dir().ok();
    let start_dir = match sys::open_current_dir() {
        Ok(dir) => Some(dir),
        Err(e) => {
            warn!("cannot open the current directory ({e}); the command starts in /");
            None
        }
    };
    let main = main.map(|mut spec| {
        if let Some(dir) = &start_dir {
            spec.start_in(dir.as_fd());
        }
        spec
    });
    if let Err(e) = sys::chdir_root() {
        warn!("cannot change directory to /: {e}");
    }
    (main, start_dir, start_path)
}

/// The decision core, set up for what foster runs: the units and the main
/// command, or with `--pidfile` the daemon COMMAND launches (the command
/// is then a unit, and no main command is left). `start_path` is where a
/// `--pidfile` launcher starts.
fn decide(
    options: &Options,
    machine: Option<&system::Prepared>,
    identity: supervisor::Identity,
    units: Vec<unit::Unit>,
    main: Option<sys::ChildSpec>,
    start_path: Option<PathBuf>,
) -> (Supervisor, Option<sys::ChildSpec>) {
    let settings = Settings {
        identity,
        forward_to_group: options.process_group,
        expected: options.expected.clone(),
        grace: options.grace,
        warn_on_reap: options.warn_on_reap,
        system: machine.is_some(),
    };
    match &options.pidfile {
        Some(pidfile) => {
            let unit = daemon_unit(options, pidfile, start_path);
            (Supervisor::following(settings, unit), None)
        }
        None => {
            let services_mode = options.services.is_some();
            let supervisor = Supervisor::new(settings, units, main.is_some(), services_mode);
            (supervisor, main)
        }
    }
}

/// A cgroup per service, for services and `--pidfile`, unless
/// `--no-cgroups`; `Err` says why not (where cgroup v2 cannot be
/// written), for the warning of a unit's cgroup limits.
fn open_cgroups(options: &Options, own_pid: sys::Pid) -> Result<cgroup::Cgroups, String> {
    if options.no_cgroups {
        return Err("--no-cgroups".into());
    }
    if options.services.is_none() && options.pidfile.is_none() {
        return Err("a single command has no cgroup of its own".into());
    }
    cgroup::Cgroups::open(own_pid).inspect_err(|why| debug!("no cgroup per service: {why}"))
}

/// `--pidfile FILE -- COMMAND`: COMMAND launches a daemon that writes FILE.
/// It runs as a forking service whose end is foster's end, and whose daemon
/// receives the signals foster gets (what pidproxy and s6-background-watch
/// do, with the pidfile checks and pidfds of `type: forking`).
fn daemon_unit(options: &Options, pidfile: &Path, workdir: Option<PathBuf>) -> unit::Unit {
    let name = options
        .command
        .first()
        .and_then(|c| Path::new(c).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "daemon".into());
    let command = options
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    unit::Unit {
        kind: unit::Kind::Forking,
        pidfile: Some(pidfile.to_path_buf()),
        restart: unit::Restart::Never,
        stop_timeout: options.grace,
        // The launcher starts where foster was started, as a command does.
        workdir,
        critical: true,
        limits: options.limits.clone(),
        ..unit::Unit::new(&name, pidfile.to_path_buf(), command)
    }
}

/// `-p`: the signal arrives through the signalfd like any other and is
/// forwarded. If the parent died before the request took effect, the kernel
/// will never send it, so foster sends it to itself.
fn set_parent_death_signal(sig: i32) {
    let parent = sys::getppid();
    if let Err(e) = sys::set_parent_death_signal(sig) {
        warn!("cannot set the parent-death signal: {e}");
        return;
    }
    if sys::getppid() != parent
        && let Some(own_pid) = sys::getpid()
    {
        let _ = sys::signal_process(own_pid, sig);
    }
}
