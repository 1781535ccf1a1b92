//! foster: a mini init for containers and small VMs.
//!
//! How the pieces connect, for one command (`foster -- COMMAND`):
//! [`cli`] turns arguments and environment into options; every signal is
//! blocked so that it can only arrive through the signalfd; the event
//! sources are opened; [`sys::spawn`] starts the child with the mask and
//! dispositions foster inherited; then [`event_loop::run`] feeds what
//! happens to the [`supervisor::Supervisor`], which decides, and carries
//! out what it decides until it says to exit. [`sys`] is the only module
//! that makes system calls or uses `unsafe`; the entry point itself is
//! there too (see its docs for why foster has its own C `main`).

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

mod cli;
mod duration;
mod event_loop;
mod logging;
mod procfs;
mod signal;
mod status;
mod supervisor;
mod sys;
mod unit;
mod users;

use std::ffi::OsString;
use std::os::fd::AsFd;

use log::{error, info, warn};

use crate::cli::{Options, Request, UsageError};
use crate::supervisor::{Settings, Supervisor};

/// Everything after the C entry point; returns foster's exit status.
fn run(args: Vec<OsString>) -> i32 {
    sys::ensure_standard_fds();
    match cli::parse(args.get(1..).unwrap_or_default(), &|name| {
        std::env::var_os(name)
    }) {
        Ok(Request::Run(options)) => i32::from(run_command(options)),
        Ok(Request::Help) => {
            print!("{}", cli::USAGE);
            0
        }
        Ok(Request::Version) => {
            println!("foster {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Err(UsageError::NoCommand) => {
            eprint!("foster: no command given\n{}", cli::USAGE);
            2
        }
        Err(e) => {
            eprintln!("foster: {e}\nfoster: run 'foster --help' for usage");
            2
        }
    }
}

/// One-command mode. Returns the child's status, or 1 when foster could not
/// start it at all.
fn run_command(options: Options) -> u8 {
    logging::init(options.verbosity);
    let mask = match sys::block_all_signals() {
        Ok(mask) => mask,
        Err(e) => {
            error!("cannot block signals: {e}");
            return 1;
        }
    };
    let own_pid = sys::getpid();
    let pid1 = own_pid == 1;
    if !pid1 && let Err(e) = sys::set_child_subreaper() {
        warn!("cannot become a child subreaper ({e}): orphans will not be reaped by foster");
    }
    if let Some(sig) = options.pdeathsig {
        set_parent_death_signal(sig);
    }
    let sources = match event_loop::Sources::open() {
        Ok(sources) => sources,
        Err(e) => {
            error!("cannot set up the event loop: {e}");
            return 1;
        }
    };
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let mut spec =
        match sys::ChildSpec::new(&options.command, &env, sys::owns_terminal_foreground()) {
            Ok(spec) => spec,
            Err(e) => {
                error!("cannot run {}: {e}", display_command(&options.command));
                return 1;
            }
        };
    // foster moves to / so that it never pins a mount; the child starts
    // where foster was started. Moving first, and sending the child back
    // through a descriptor, means foster is never seen in the old directory.
    let cwd = sys::open_current_dir();
    match &cwd {
        Ok(dir) => spec.start_in(dir.as_fd()),
        Err(e) => warn!("cannot open the current directory ({e}); the child starts in /"),
    }
    if let Err(e) = sys::chdir_root() {
        warn!("cannot change directory to /: {e}");
    }
    let child = sys::spawn(&spec, &mask);
    drop(cwd);
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            error!("cannot run {}: {e}", display_command(&options.command));
            return 1;
        }
    };
    if let Some(e) = child.exec_error {
        // The child exits 127 or 126 by itself; the reaper reports it.
        error!(
            "cannot run {}: {}",
            display_command(&options.command),
            describe(&e)
        );
    } else {
        info!(
            "started {} as {}",
            display_command(&options.command),
            child.pid
        );
    }
    sys::close_fds_except(&sources.raw_fds());

    let settings = Settings {
        forward_to_group: options.process_group,
        expected: options.expected,
        grace: options.grace,
        warn_on_reap: options.warn_on_reap,
    };
    let world = event_loop::World {
        pid1,
        own_pid,
        main: child.pid,
    };
    event_loop::run(&sources, &world, Supervisor::new(child.pid, settings))
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
    if sys::getppid() != parent {
        let _ = sys::kill(sys::getpid(), sig);
    }
}

fn display_command(command: &[OsString]) -> String {
    command
        .first()
        .map(|c| format!("\"{}\"", c.to_string_lossy()))
        .unwrap_or_default()
}

/// `No such file or directory`, without Rust's "(os error 2)" suffix.
fn describe(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}
