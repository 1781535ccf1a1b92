//! The one module that talks to the kernel.
//!
//! Every raw system call foster makes, and every `unsafe` block in the
//! crate, lives here. Each function is a small safe wrapper that names the
//! call it makes and its man page; the rest of foster sees only safe
//! functions returning `io::Result`. The crate root denies `unsafe_code`;
//! this module alone allows it, and each block says why it is sound.
//!
//! Why not `std::process::Command` for spawning: it empties the child's
//! signal mask and resets SIGPIPE, while an init must hand its child exactly
//! the mask and dispositions it inherited itself (an ignored SIGHUP from
//! `nohup` stays ignored). It also cannot make the child take the terminal's
//! foreground or rewrite `LISTEN_PID` to the child's own PID. [`spawn`] does
//! all of that between `fork` and `exec`, touching nothing but async-signal-
//! safe calls on memory prepared before the fork.
//!
//! Why foster has its own C `main` (in `src/main.rs`, calling [`args`]):
//! Rust's usual start-up code sets SIGPIPE to "ignore" before `main` runs
//! and keeps no record of what it was, so the disposition foster inherited
//! would be lost. Entering through our own `main` leaves the process
//! exactly as the kernel and our parent made it.
//!
//! The submodules split the kernel's vocabulary by concern, and this one
//! re-exports all of it, so that callers write `sys::spawn` whatever file
//! it lives in: `pid` (a process ID: never 0 or negative), `process`
//! (foster's own identity and attributes, its signal mask and signalfd,
//! signalling others), `fds` (the standard and inherited descriptors),
//! `reap` (`waitpid`/`waitid`), `events` (epoll, the timer, pidfds,
//! inotify), `sockets` (the notify and control sockets), `output`
//! (service output pipes and foster's own stdout and stderr), `spawn`
//! (`clone` to `exec`), `locks` (who holds a POSIX lock on a file, asked
//! without taking one) and `machine` (mounts, hostname, `reboot`). The
//! `allow(unsafe_code)` below covers all of them, and nothing outside
//! `sys`.

#![allow(unsafe_code)]

mod connect;
mod events;
mod fds;
mod listen;
mod locks;
mod machine;
mod output;
mod pid;
mod process;
mod reap;
mod sockets;
mod spawn;

use std::ffi::{OsString, c_char, c_int};
use std::io;
use std::os::unix::ffi::OsStringExt;

pub use connect::{Connecting, connect_nonblocking, connect_result, recv_some, send_some};
pub use events::{Inotify, PidFd, Poller, Timer, Watch};
pub use fds::{
    close_fds_except, closed_standard_fds, ensure_standard_fds, file_identity, open_onto, same_file,
};
pub use listen::held_socket;
pub use locks::posix_lock_holder;
#[cfg(test)]
pub use locks::{TestLock, end_daemon, lock_taking_daemon};
pub use machine::{
    MountFlags, RebootCommand, ctrl_alt_del_to_sigint, mount, reboot, remount_read_only,
    set_hostname, sleep_forever, sync, unmount,
};
pub use output::{Output, output_pipe, read_pipe, wait_writable};
pub use pid::{NotAPid, Pid};
pub use process::{
    InheritedMask, Signals, block_all_signals, chdir_root, geteuid, getpid, getppid,
    open_current_dir, owns_terminal_foreground, set_child_subreaper, set_parent_death_signal,
    signal_everyone, signal_group, signal_process, sigrtmax, sigrtmin,
};
pub use reap::{Reaped, peek_exited, reap_one, reap_pid};
pub use sockets::{
    Accepted, ControlError, ControlListener, Datagram, MAX_PASSED_FDS, NotifySocket,
};
pub use spawn::{
    ChildFailure, ChildSpec, ProcessSettings, SpawnError, Spawned, Stage, exec_failure_status,
    spawn,
};

/// The arguments of C's `main(argc, argv)`, copied (see the module docs for
/// why foster has its own `main`; the binary's `main` calls this).
///
/// # Safety
///
/// `argv` must point to `argc` valid pointers, each to a NUL-terminated
/// string, as the C runtime passes them to `main`.
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let mut args = Vec::new();
    for i in 0..usize::try_from(argc).unwrap_or(0) {
        // SAFETY: the caller promises `argc` valid pointers in `argv`, each
        // to a NUL-terminated string (the C runtime's, which live for the
        // whole process).
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
        args.push(OsString::from_vec(arg.to_bytes().to_vec()));
    }
    args
}

fn errno_result(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
