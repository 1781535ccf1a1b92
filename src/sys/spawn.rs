//! Spawning: a child prepared before `clone`, set up between `clone` and
//! `exec` with async-signal-safe calls only, and the report of the step
//! that failed when it could not become its program.

use std::ffi::{CString, OsString, c_char, c_int};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use super::{InheritedMask, Pid, getpid};
use crate::unit::{Capabilities, Resource, Rlimit};

/// What a child needs, prepared before the fork so that the child itself
/// only makes async-signal-safe calls on memory that already exists.
pub struct ChildSpec {
    argv: Vec<CString>,
    env: Vec<CString>,
    /// Indexes in `env` of the `LISTEN_PID=` and `WATCHDOG_PID=` entries
    /// to fill in with the child's own PID.
    pid_slots: Vec<usize>,
    /// Put the child's process group in the terminal's foreground.
    foreground: bool,
    /// A directory to enter (`fchdir`) before exec.
    dir: Option<RawFd>,
    /// A directory to enter by path (a service's `workdir`), after the
    /// user switch so that the user's own permissions apply.
    workdir: Option<CString>,
    /// `setsid` instead of `setpgid`: a service gets its own session.
    new_session: bool,
    /// User, group and supplementary groups to switch to.
    ids: Option<(u32, u32, Vec<libc::gid_t>)>,
    /// Descriptors to put on the child's stdout and stderr (`dup2`).
    output: Option<(RawFd, RawFd)>,
    /// A cgroup's `cgroup.procs`, open for writing: the child moves itself
    /// there (writes "0") before anything else can fork from it.
    cgroup: Option<RawFd>,
    /// `DIR/argv[0]` for each entry of the child's own `PATH`, in order,
    /// when that differs from foster's (a unit's `env: {PATH: …}`): the
    /// C library's `execvpe` searches the caller's PATH, and a service's
    /// command is looked up in the PATH it is given, as Docker does.
    /// Empty: `execvpe` searches foster's.
    search: Vec<CString>,
    /// Descriptors the program gets as 3, 4, … in this order (held
    /// sockets, then stored descriptors), without close-on-exec; they stay
    /// open in foster until [`spawn`] returns.
    pass: Vec<RawFd>,
    /// What the process is given before exec besides its user (see
    /// [`ChildSpec::set_process`]).
    process: Process,
}

/// The limits and attributes a child sets on itself before exec, in the
/// order it sets them, prepared for the child: resource limits, umask,
/// nice value and `oom_score_adj` while still root (so that raising a
/// hard limit, a negative nice value or a lower `oom_score_adj` are
/// allowed for a service of any user), then after the user switch its
/// capabilities, and `no_new_privs` last.
#[derive(Debug, Default)]
struct Process {
    /// `prlimit64` resource numbers and values, with each one's
    /// [`Resource`] for the report.
    limits: Vec<(c_int, libc::rlimit64)>,
    resources: Vec<Resource>,
    umask: Option<libc::mode_t>,
    nice: Option<i32>,
    /// The value, and its decimal text as written to `oom_score_adj`.
    oom_score_adj: Option<(i32, Vec<u8>)>,
    capabilities: Option<u64>,
    no_new_privs: bool,
}

/// What a child's process gets before exec; see [`ChildSpec::set_process`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSettings<'a> {
    pub limits: &'a [Rlimit],
    pub umask: Option<u32>,
    pub nice: Option<i32>,
    pub oom_score_adj: Option<i32>,
    pub capabilities: Option<Capabilities>,
    pub no_new_privs: bool,
}

/// The step of a child's set-up that failed, before or at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Groups,
    Group,
    User,
    Workdir,
    Exec,
    Cgroup,
    /// setrlimit of this resource.
    Limit(Resource),
    /// setpriority to this nice value.
    Nice(i32),
    /// Writing this to `/proc/self/oom_score_adj`.
    OomScoreAdj(i32),
    /// capset, the bounding set or the ambient set.
    Capabilities,
    NoNewPrivs,
}

/// The numbers the child reports a failed step with (`ChildArgs::failed`).
mod code {
    pub const GROUPS: i32 = 1;
    pub const GROUP: i32 = 2;
    pub const USER: i32 = 3;
    pub const WORKDIR: i32 = 4;
    pub const EXEC: i32 = 5;
    pub const CGROUP: i32 = 6;
    /// With the index of the limit in `Process::limits`.
    pub const LIMIT: i32 = 7;
    pub const NICE: i32 = 8;
    pub const OOM_SCORE_ADJ: i32 = 9;
    pub const CAPABILITIES: i32 = 10;
    pub const NO_NEW_PRIVS: i32 = 11;
}

impl std::fmt::Display for Stage {
    /// What failed, as messages say it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Groups => f.write_str("cannot set the supplementary groups"),
            Stage::Group => f.write_str("cannot switch group"),
            Stage::User => f.write_str("cannot switch user"),
            Stage::Workdir => f.write_str("cannot enter the working directory"),
            Stage::Cgroup => f.write_str("cannot join its cgroup"),
            Stage::Exec => f.write_str("cannot execute the command"),
            Stage::Limit(r) => write!(f, "cannot set the limit {}", r.name()),
            Stage::Nice(n) => write!(f, "cannot set nice {n}"),
            Stage::OomScoreAdj(n) => write!(f, "cannot set oom_score_adj {n}"),
            Stage::Capabilities => f.write_str("cannot set the capabilities"),
            Stage::NoNewPrivs => f.write_str("cannot set no_new_privs"),
        }
    }
}

/// Why a forked child could not become the program.
#[derive(Debug)]
pub struct ChildFailure {
    pub stage: Stage,
    pub error: io::Error,
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errno = self.error.raw_os_error().unwrap_or(0);
        let what = self.stage;
        write!(f, "{what}: {}", nix::errno::Errno::from_raw(errno).desc())
    }
}

/// Why a spawn failed before any child existed.
#[derive(Debug)]
pub enum SpawnError {
    /// An argument or environment entry contains a NUL byte.
    Nul,
    /// `pipe2` or `fork` failed.
    Os(io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Nul => {
                f.write_str("an argument or environment variable contains a NUL byte")
            }
            SpawnError::Os(e) => write!(f, "fork failed: {e}"),
        }
    }
}

/// A child that was forked. `failure` is set when its set-up or `execve`
/// failed: the child then exits by itself (127 when the command was not
/// found, 126 otherwise) and the reaper collects that status like any other.
pub struct Spawned {
    pub pid: Pid,
    pub failure: Option<ChildFailure>,
    /// When the child started, in clock ticks since boot, as field 22 of
    /// `/proc/PID/stat` gives it, when that is known without reading
    /// `/proc` (see [`spawn`]); `None` now and then, and the caller reads
    /// `/proc` instead.
    pub start_ticks: Option<u64>,
}

/// `DIR/NAME` for each entry of the `PATH` in `env`, when `name` has no
/// `/` and that PATH is not foster's own; an empty entry is the working
/// directory, as execvp(3) reads it.
fn path_candidates(
    name: &CString,
    env: &[(OsString, OsString)],
) -> Result<Vec<CString>, SpawnError> {
    let name = name.as_bytes();
    if name.is_empty() || name.contains(&b'/') {
        return Ok(Vec::new());
    }
    let Some((_, path)) = env.iter().rev().find(|(key, _)| key == "PATH") else {
        return Ok(Vec::new());
    };
    if std::env::var_os("PATH").as_ref() == Some(path) {
        return Ok(Vec::new());
    }
    path.as_encoded_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let mut file = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            file.push(b'/');
            file.extend_from_slice(name);
            CString::new(file).map_err(|_| SpawnError::Nul)
        })
        .collect()
}

/// Exit status of a child whose `execve` failed with `errno`, as shells do:
/// 127 when the command does not exist, 126 when it exists but cannot run.
pub fn exec_failure_status(errno: i32) -> u8 {
    match errno {
        libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG | libc::ELOOP => 127,
        _ => 126,
    }
}

impl ChildSpec {
    /// `argv[0]` is looked up in `PATH` as `execvp(3)` does. `env` is the
    /// complete environment; a `LISTEN_PID` or `WATCHDOG_PID` equal to
    /// foster's own PID is rewritten to the child's.
    pub fn new(
        argv: &[OsString],
        env: &[(OsString, OsString)],
        foreground: bool,
    ) -> Result<ChildSpec, SpawnError> {
        let argv = argv
            .iter()
            .map(|a| CString::new(a.clone().into_vec()).map_err(|_| SpawnError::Nul))
            .collect::<Result<Vec<_>, _>>()?;
        if argv.is_empty() {
            return Err(SpawnError::Nul);
        }
        // Only an environment with one of those names has a PID to compare
        // with foster's own: no getpid for every service otherwise.
        let names_pid = |key: &OsString| key == "LISTEN_PID" || key == "WATCHDOG_PID";
        let own_pid = env
            .iter()
            .any(|(key, _)| names_pid(key))
            .then(getpid)
            .flatten()
            .map(|pid| pid.to_string());
        let mut pid_slots = Vec::new();
        let mut entries = Vec::with_capacity(env.len());
        for (key, value) in env {
            let mut entry = key.clone().into_vec();
            entry.push(b'=');
            if names_pid(key)
                && own_pid.as_ref().map(String::as_bytes) == Some(value.as_encoded_bytes())
            {
                pid_slots.push(entries.len());
                // Room for any PID; the child writes its own over the spaces
                // and NUL-terminates it.
                entry.extend_from_slice(b"                    ");
            } else {
                entry.extend_from_slice(value.as_encoded_bytes());
            }
            entries.push(CString::new(entry).map_err(|_| SpawnError::Nul)?);
        }
        let search = path_candidates(&argv[0], env)?;
        Ok(ChildSpec {
            argv,
            env: entries,
            search,
            pass: Vec::new(),
            pid_slots,
            foreground,
            dir: None,
            workdir: None,
            new_session: false,
            ids: None,
            output: None,
            cgroup: None,
            process: Process::default(),
        })
    }

    /// Makes the child set these on itself before exec (see [`Process`]
    /// for the order).
    pub fn set_process(&mut self, settings: &ProcessSettings<'_>) {
        self.process = Process {
            limits: settings
                .limits
                .iter()
                .map(|l| {
                    let value = libc::rlimit64 {
                        rlim_cur: l.soft,
                        rlim_max: l.hard,
                    };
                    (resource_number(l.resource), value)
                })
                .collect(),
            resources: settings.limits.iter().map(|l| l.resource).collect(),
            umask: settings.umask.map(|m| m as libc::mode_t),
            nice: settings.nice,
            oom_score_adj: settings
                .oom_score_adj
                .map(|n| (n, n.to_string().into_bytes())),
            capabilities: settings.capabilities.map(|c| c.0),
            no_new_privs: settings.no_new_privs,
        };
    }

    /// Gives the child these descriptors as stdout and stderr; they must
    /// stay open until [`spawn`] returns.
    pub fn redirect_output(&mut self, stdout: BorrowedFd<'_>, stderr: BorrowedFd<'_>) {
        self.output = Some((stdout.as_raw_fd(), stderr.as_raw_fd()));
    }

    /// Gives the program `fds` as its descriptors 3, 4, … (the
    /// `LISTEN_FDS` convention), the only ones it inherits from foster
    /// besides 0, 1 and 2. The caller keeps them open until [`spawn`] has
    /// returned.
    pub fn pass_fds(&mut self, fds: &[std::os::fd::BorrowedFd<'_>]) {
        self.pass = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    }

    /// Gives the child a session of its own (`setsid`), as services get.
    pub fn in_new_session(&mut self) {
        self.new_session = true;
    }

    /// Makes the child join the cgroup whose `cgroup.procs` `procs` is,
    /// first thing after its new session. Only the number is kept: the
    /// caller keeps `procs` open (write-only, close-on-exec) until
    /// [`spawn`] has returned.
    pub fn join_cgroup(&mut self, procs: BorrowedFd<'_>) {
        self.cgroup = Some(procs.as_raw_fd());
    }

    /// Makes the child enter `path` before exec.
    pub fn set_workdir(&mut self, path: &std::path::Path) -> Result<(), SpawnError> {
        self.workdir =
            Some(CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| SpawnError::Nul)?);
        Ok(())
    }

    /// Makes the child switch to these IDs before exec.
    pub fn run_as(&mut self, uid: u32, gid: u32, groups: &[u32]) {
        self.ids = Some((uid, gid, groups.to_vec()));
    }

    /// Makes the child start in the directory `dir` refers to, which must
    /// stay open until [`spawn`] returns.
    pub fn start_in(&mut self, dir: BorrowedFd<'_>) {
        self.dir = Some(dir.as_raw_fd());
    }
}

/// Everything the child reads, laid out before `clone`, and where it
/// reports a failed set-up step. Raw pointers: the child shares foster's
/// memory (`CLONE_VM`) and may not touch anything Rust would manage.
struct ChildArgs {
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    mask: *const libc::sigset_t,
    new_session: bool,
    foreground: bool,
    /// The writable `LISTEN_PID=`/`WATCHDOG_PID=` entries, each with
    /// the length of its name and `=`, and its whole length.
    own_pid: [Option<(*mut u8, usize, usize)>; 2],
    ids: Option<(u32, u32, *const libc::gid_t, usize)>,
    workdir: Option<*const c_char>,
    dir: RawFd,
    output: Option<(RawFd, RawFd)>,
    cgroup: RawFd,
    /// Null-terminated `DIR/NAME` candidates to `execve` in turn instead of
    /// `execvpe`'s search; null when there are none.
    search: *const *const c_char,
    /// The descriptors to put on 3, 4, …, each already above the last of
    /// those numbers (see [`spawn`]), and how many.
    pass: (*const RawFd, usize),
    limits: (*const (c_int, libc::rlimit64), usize),
    umask: Option<libc::mode_t>,
    nice: Option<c_int>,
    oom_score_adj: Option<(*const u8, usize)>,
    /// The capabilities to keep, as the two words of capset(2)'s data.
    capabilities: Option<[u32; 2]>,
    no_new_privs: bool,
    /// Written by the child when a step fails: a [`code`], errno, and the
    /// index of the limit for [`code::LIMIT`].
    failed: (i32, i32, usize),
}

/// Starts `spec` as a new process (`clone(2)` with `CLONE_VM |
/// CLONE_VFORK`, then `execvpe(3)`), the way `posix_spawn` does.
///
/// Sharing memory until exec, instead of `fork`, spares copying foster's
/// page tables and the copy-on-write faults that follow, for every one of
/// possibly thousands of services; `CLONE_VFORK` suspends foster until the
/// child has exec'd or exited, so the child's report of a failed step is in
/// memory when `clone` returns, and no pipe is needed.
///
/// In the child, before exec: its own process group (`setpgid`) or session
/// (`setsid`), the terminal's foreground when asked (`tcsetpgrp`; SIGTTOU is
/// still blocked here, so this cannot stop it), `LISTEN_PID` and
/// `WATCHDOG_PID` filled in, stdout and stderr redirected when asked,
/// its cgroup joined, its resource limits, umask, nice value and
/// `oom_score_adj`, its user and groups, its capabilities, its working
/// directory, its passed descriptors, `no_new_privs`, and last the
/// inherited signal mask. Dispositions are
/// never touched by foster, so the child inherits them as foster did.
/// foster's own descriptors are all close-on-exec.
pub fn spawn(spec: &ChildSpec, mask: &InheritedMask) -> Result<Spawned, SpawnError> {
    // Writable copies of the entries the child writes its PID into (the
    // CStrings of `spec` are not to be written through).
    let mut own_pid_entries: Vec<(usize, Vec<u8>)> = spec
        .pid_slots
        .iter()
        .take(2)
        .filter_map(|&i| Some((i, spec.env.get(i)?.as_bytes_with_nul().to_vec())))
        .collect();
    let mut argv_ptrs: Vec<*const c_char> = spec.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const c_char> = spec.env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let mut search_ptrs: Vec<*const c_char> = spec.search.iter().map(|c| c.as_ptr()).collect();
    search_ptrs.push(std::ptr::null());
    // Each descriptor to pass is moved above 3 + their count first (a copy,
    // close-on-exec, closed when this returns), so that putting one on
    // its number in the child never overwrites another still to be put.
    let first_free = c_int::try_from(spec.pass.len())
        .ok()
        .and_then(|n| n.checked_add(3))
        .ok_or_else(|| SpawnError::Os(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let mut lifted: Vec<OwnedFd> = Vec::new();
    let mut pass: Vec<RawFd> = Vec::with_capacity(spec.pass.len());
    for &fd in &spec.pass {
        if fd >= first_free {
            pass.push(fd);
            continue;
        }
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, first_free) };
        if copy < 0 {
            return Err(SpawnError::Os(io::Error::last_os_error()));
        }
        // SAFETY: `copy` is a new descriptor no one else owns.
        lifted.push(unsafe { OwnedFd::from_raw_fd(copy) });
        pass.push(copy);
    }
    let mut own_pid = [None, None];
    for ((slot, entry), out) in own_pid_entries.iter_mut().zip(own_pid.iter_mut()) {
        if let Some(p) = env_ptrs.get_mut(*slot) {
            *p = entry.as_ptr().cast();
        }
        let name = entry.iter().position(|&b| b == b'=').map_or(0, |at| at + 1);
        *out = Some((entry.as_mut_ptr(), name, entry.len()));
    }
    let mut args = ChildArgs {
        file: argv_ptrs.first().copied().unwrap_or(std::ptr::null()),
        argv: argv_ptrs.as_ptr(),
        envp: env_ptrs.as_ptr(),
        mask: mask.0.as_ref(),
        new_session: spec.new_session,
        foreground: spec.foreground,
        own_pid,
        ids: spec
            .ids
            .as_ref()
            .map(|(u, g, groups)| (*u, *g, groups.as_ptr(), groups.len())),
        workdir: spec.workdir.as_ref().map(|w| w.as_ptr()),
        dir: spec.dir.unwrap_or(-1),
        output: spec.output,
        cgroup: spec.cgroup.unwrap_or(-1),
        search: if spec.search.is_empty() {
            std::ptr::null()
        } else {
            search_ptrs.as_ptr()
        },
        pass: (pass.as_ptr(), pass.len()),
        limits: (spec.process.limits.as_ptr(), spec.process.limits.len()),
        umask: spec.process.umask,
        nice: spec.process.nice,
        oom_score_adj: spec
            .process
            .oom_score_adj
            .as_ref()
            .map(|(_, text)| (text.as_ptr(), text.len())),
        capabilities: spec
            .process
            .capabilities
            .map(|c| [c as u32, (c >> 32) as u32]),
        no_new_privs: spec.process.no_new_privs,
        failed: (0, 0, 0),
    };
    let mut stack = STACK
        .take()
        .unwrap_or_else(|| vec![0u8; STACK_SIZE].into_boxed_slice());
    let top = stack.as_mut_ptr_range().end;
    let before = boot_time();
    // SAFETY: `child_main` runs on `stack` (which outlives the child's use
    // of it: CLONE_VFORK suspends us until it has exec'd or exited) with a
    // pointer to `args`, which also outlives it. It shares our memory but
    // only reads what `args` points to, writes `args.failed` and the
    // LISTEN_PID buffer, and calls async-signal-safe functions; it never
    // returns into Rust code: it execs or calls _exit.
    let pid = unsafe {
        libc::clone(
            child_main,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw mut args).cast(),
        )
    };
    let cloned = match Pid::new(pid) {
        Some(pid) => Ok(pid),
        None => Err(SpawnError::Os(io::Error::last_os_error())),
    };
    let after = boot_time();
    STACK.set(Some(stack));
    drop(lifted);
    let pid = cloned?;
    drop(own_pid_entries);
    let failure = (args.failed.0 != 0).then(|| {
        let p = &spec.process;
        let stage = match args.failed.0 {
            code::GROUPS => Stage::Groups,
            code::GROUP => Stage::Group,
            code::USER => Stage::User,
            code::WORKDIR => Stage::Workdir,
            code::CGROUP => Stage::Cgroup,
            code::LIMIT => match p.resources.get(args.failed.2) {
                Some(r) => Stage::Limit(*r),
                None => Stage::Exec,
            },
            code::NICE => Stage::Nice(p.nice.unwrap_or(0)),
            code::OOM_SCORE_ADJ => Stage::OomScoreAdj(p.oom_score_adj.as_ref().map_or(0, |o| o.0)),
            code::CAPABILITIES => Stage::Capabilities,
            code::NO_NEW_PRIVS => Stage::NoNewPrivs,
            _ => Stage::Exec,
        };
        ChildFailure {
            stage,
            error: io::Error::from_raw_os_error(args.failed.1),
        }
    });
    Ok(Spawned {
        pid,
        failure,
        start_ticks: same_tick(before, after),
    })
}

/// The size of a child's stack: execvpe's PATH search needs a few KiB.
const STACK_SIZE: usize = 128 * 1024;

thread_local! {
    /// The child's stack, kept from one spawn to the next: a fresh one
    /// would cost every spawn an `mmap`, a `munmap` and the page faults of
    /// the child's first touches, for each of possibly thousands of
    /// services. Only the few pages a child touches are ever resident.
    static STACK: std::cell::Cell<Option<Box<[u8]>>> = const { std::cell::Cell::new(None) };
}

/// `CLOCK_BOOTTIME` in nanoseconds (`clock_gettime(2)`, from the vDSO: no
/// system call).
fn boot_time() -> Option<u64> {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let secs = u64::try_from(now.tv_sec()).ok()?;
    let nanos = u64::try_from(now.tv_nsec()).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// The clock tick both times fall in, if it is the same one.
///
/// The kernel stamps a new process with `CLOCK_BOOTTIME` inside `clone`
/// (`start_boottime`), and `/proc/PID/stat` shows that stamp in ticks of
/// `sysconf(_SC_CLK_TCK)`, rounded down. A stamp taken just before `clone`
/// and one just after that fall in the same tick therefore name the tick
/// the child started in: foster need not open, read and parse `/proc` for
/// every process it starts (a time namespace shifts both alike).
fn same_tick(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    // SAFETY: sysconf only returns a number.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    let per_tick = 1_000_000_000u64.checked_div(hz)?;
    if per_tick == 0 || 1_000_000_000 % hz != 0 {
        return None;
    }
    let (before, after) = (before? / per_tick, after? / per_tick);
    (before == after).then_some(before)
}

/// The child side of [`spawn`]: set-up, then exec.
extern "C" fn child_main(arg: *mut libc::c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` that `spawn` passed, alive and not
    // otherwise used while foster is suspended by CLONE_VFORK; every pointer
    // in it refers to memory `spawn` keeps alive, and only async-signal-safe
    // functions are called.
    unsafe {
        let a = &mut *arg.cast::<ChildArgs>();
        if a.new_session {
            libc::setsid();
        } else {
            libc::setpgid(0, 0);
        }
        let me = libc::getpid();
        if a.foreground {
            let tty = libc::open(
                c"/dev/tty".as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if tty >= 0 {
                libc::tcsetpgrp(tty, me);
                libc::close(tty);
            }
        }
        for (entry, at, len) in a.own_pid.iter().flatten().copied() {
            // Write the decimal PID after "NAME=", then NUL.
            let mut digits = [0u8; 12];
            let mut n = me as u32;
            let mut count = 0;
            for slot in digits.iter_mut() {
                *slot = b'0' + (n % 10) as u8;
                count += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if at + count < len {
                for (i, d) in digits.iter().take(count).rev().enumerate() {
                    *entry.add(at + i) = *d;
                }
                *entry.add(at + count) = 0;
            }
        }
        if let Some((out, err)) = a.output {
            // dup2 leaves the copies on 1 and 2 without close-on-exec.
            libc::dup2(out, 1);
            libc::dup2(err, 2);
        }
        let mut stage = code::EXEC;
        let mut detail = 0;
        let mut ok = true;
        if a.cgroup >= 0 && libc::write(a.cgroup, c"0".as_ptr().cast(), 1) != 1 {
            (stage, ok) = (code::CGROUP, false);
        }
        // `oom_score_adj` is opened before the limits are set: a small
        // `nofile` would leave no descriptor free for it (the child holds
        // copies of all foster's).
        let mut oom_open_errno = 0;
        let oom_fd = match (ok, a.oom_score_adj) {
            (true, Some(_)) => {
                let fd = libc::open(
                    c"/proc/self/oom_score_adj".as_ptr(),
                    libc::O_WRONLY | libc::O_CLOEXEC,
                );
                if fd < 0 {
                    oom_open_errno = *libc::__errno_location();
                }
                fd
            }
            _ => -1,
        };
        // Limits, umask, nice and oom_score_adj while still root: a hard
        // limit can be raised, a nice value or oom_score_adj lowered, only
        // with privileges the user switch gives up.
        if ok {
            let (limits, count) = a.limits;
            for i in 0..count {
                let (resource, value) = &*limits.add(i);
                if libc::syscall(
                    libc::SYS_prlimit64,
                    0 as libc::pid_t,
                    *resource,
                    value as *const libc::rlimit64,
                    std::ptr::null_mut::<libc::rlimit64>(),
                ) != 0
                {
                    (stage, detail, ok) = (code::LIMIT, i, false);
                    break;
                }
            }
        }
        if let (true, Some(mask)) = (ok, a.umask) {
            libc::umask(mask);
        }
        if let (true, Some(nice)) = (ok, a.nice)
            && libc::syscall(
                libc::SYS_setpriority,
                libc::PRIO_PROCESS as c_int,
                0 as c_int,
                nice,
            ) != 0
        {
            (stage, ok) = (code::NICE, false);
        }
        // The kernel copies a value written here to every process sharing
        // the writer's memory, foster included, except for a vfork child
        // such as this one (`task->vfork_done`, fs/proc/base.c): the value
        // stays the child's.
        if let (true, Some((text, len))) = (ok, a.oom_score_adj) {
            let written = oom_fd >= 0 && libc::write(oom_fd, text.cast(), len) == len as isize;
            if !written {
                if oom_fd < 0 {
                    *libc::__errno_location() = oom_open_errno;
                }
                (stage, ok) = (code::OOM_SCORE_ADJ, false);
            }
        }
        if oom_fd >= 0 {
            let errno = *libc::__errno_location();
            libc::close(oom_fd);
            *libc::__errno_location() = errno;
        }
        // Permitted capabilities survive the user switch only so.
        if let (true, Some(_), Some(_)) = (ok, a.capabilities, a.ids)
            && prctl(libc::PR_SET_KEEPCAPS, 1) != 0
        {
            (stage, ok) = (code::CAPABILITIES, false);
        }
        if let (true, Some((uid, gid, groups, count))) = (ok, a.ids) {
            // Raw system calls: the C libraries' wrappers may try to apply
            // the change to every thread of the process they believe they
            // are in, which, sharing foster's memory, would be foster's.
            if libc::syscall(libc::SYS_setgroups, count, groups) != 0 {
                (stage, ok) = (code::GROUPS, false);
            } else if libc::syscall(libc::SYS_setgid, gid) != 0 {
                (stage, ok) = (code::GROUP, false);
            } else if libc::syscall(libc::SYS_setuid, uid) != 0 {
                (stage, ok) = (code::USER, false);
            }
        }
        if let (true, Some(wanted)) = (ok, a.capabilities)
            && !keep_capabilities(wanted)
        {
            (stage, ok) = (code::CAPABILITIES, false);
        }
        if ok {
            let entered = match a.workdir {
                Some(path) => libc::chdir(path) == 0,
                None => a.dir < 0 || libc::fchdir(a.dir) == 0,
            };
            if !entered {
                (stage, ok) = (code::WORKDIR, false);
            }
        }
        if ok {
            // The descriptors passed, last of all (a `dir` descriptor may
            // have had one of their numbers): each is above 3 + their count,
            // so no dup2 overwrites one still to come; dup2 leaves the copy
            // without close-on-exec.
            let (fds, count) = a.pass;
            for i in 0..count {
                let target = 3 + i as c_int;
                if libc::dup2(*fds.add(i), target) != target {
                    (stage, ok) = (code::EXEC, false);
                    break;
                }
            }
        }
        if ok && a.no_new_privs && prctl(libc::PR_SET_NO_NEW_PRIVS, 1) != 0 {
            (stage, ok) = (code::NO_NEW_PRIVS, false);
        }
        if ok {
            libc::sigprocmask(libc::SIG_SETMASK, a.mask, std::ptr::null_mut());
            if a.search.is_null() {
                libc::execvpe(a.file, a.argv, a.envp);
            } else {
                exec_each(a.search, a.argv, a.envp);
            }
        }
        let errno = *libc::__errno_location();
        a.failed = (stage, errno, detail);
        let status = if stage == code::EXEC {
            exec_failure_status(errno)
        } else {
            126
        };
        libc::_exit(c_int::from(status))
    }
}

/// `prctl(2)` of `option` with one argument, the unused ones zero as whole
/// words: the kernel refuses some options (`PR_SET_NO_NEW_PRIVS`) when
/// they are not, and a variadic `0` is only an `int`.
///
/// # Safety
/// Async-signal-safe; `option` takes a number, not a pointer.
unsafe fn prctl(option: c_int, arg: libc::c_ulong) -> c_int {
    let zero: libc::c_ulong = 0;
    // SAFETY: as the function's contract says.
    unsafe { libc::prctl(option, arg, zero, zero, zero) }
}

/// The `prlimit64` number of `resource`.
fn resource_number(resource: Resource) -> c_int {
    let number = match resource {
        Resource::As => libc::RLIMIT_AS,
        Resource::Core => libc::RLIMIT_CORE,
        Resource::Cpu => libc::RLIMIT_CPU,
        Resource::Data => libc::RLIMIT_DATA,
        Resource::Fsize => libc::RLIMIT_FSIZE,
        Resource::Locks => libc::RLIMIT_LOCKS,
        Resource::Memlock => libc::RLIMIT_MEMLOCK,
        Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
        Resource::Nice => libc::RLIMIT_NICE,
        Resource::Nofile => libc::RLIMIT_NOFILE,
        Resource::Nproc => libc::RLIMIT_NPROC,
        Resource::Rss => libc::RLIMIT_RSS,
        Resource::Rtprio => libc::RLIMIT_RTPRIO,
        Resource::Rttime => libc::RLIMIT_RTTIME,
        Resource::Sigpending => libc::RLIMIT_SIGPENDING,
        Resource::Stack => libc::RLIMIT_STACK,
    };
    // A small number whatever the C library's type for it.
    number as c_int
}

/// `_LINUX_CAPABILITY_VERSION_3` of capget(2): two 32-bit data words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// `CAP_SETPCAP`, needed in the effective set to drop from the bounding set.
const CAP_SETPCAP: u32 = 8;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `capset(2)` of the calling thread: `words` (low, high) as its
/// effective, permitted and inheritable sets.
///
/// # Safety
/// Async-signal-safe: a raw system call on stack memory.
unsafe fn set_capabilities(words: [u32; 2]) -> bool {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = words.map(|w| CapData {
        effective: w,
        permitted: w,
        inheritable: w,
    });
    // SAFETY: capset reads the header (and may write its version) and two
    // data structs, all alive on this stack.
    unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) == 0 }
}

/// After the user switch (with `PR_SET_KEEPCAPS`, so the permitted set
/// survived it): exactly the capabilities `wanted` (low, high word) in
/// the permitted, effective, inheritable, ambient and bounding sets. The
/// ambient set is what carries them across exec for a user other than
/// root; the bounding set what takes the rest from root.
///
/// # Safety
/// Async-signal-safe (it runs in a vforked child); the raw capset and
/// prctl change the calling thread only.
unsafe fn keep_capabilities(wanted: [u32; 2]) -> bool {
    let has = |cap: u32| {
        let word = wanted
            .get(usize::try_from(cap / 32).unwrap_or(2))
            .copied()
            .unwrap_or(0);
        word & (1 << (cap % 32)) != 0
    };
    // SAFETY: raw system calls on stack memory, as the contract says.
    unsafe {
        // Is anything not wanted in the bounding set? (PR_CAPBSET_READ
        // says 1 for a capability in it, fails past the kernel's last.)
        // Where the bounding set is already what is wanted — a container
        // started with every capability dropped but these — there is
        // nothing to drop, and no need for CAP_SETPCAP, which foster may
        // not have there.
        let mut extra = false;
        let mut cap: u32 = 0;
        loop {
            let held = prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap));
            if cap >= 64 || held < 0 {
                break;
            }
            extra |= held == 1 && !has(cap);
            cap += 1;
        }
        if extra {
            // CAP_SETPCAP for as long as the bounding set is reduced.
            let mut with_setpcap = wanted;
            with_setpcap[0] |= 1 << CAP_SETPCAP;
            if !set_capabilities(with_setpcap) {
                return false;
            }
            let mut cap: u32 = 0;
            while cap < 64 && prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap)) >= 0 {
                if !has(cap) && prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap)) != 0 {
                    return false;
                }
                cap += 1;
            }
        }
        if !set_capabilities(wanted) {
            return false;
        }
        for cap in 0..64 {
            if has(cap)
                && libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    libc::c_ulong::from(cap),
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                ) != 0
            {
                return false;
            }
        }
        true
    }
}

/// `execve` of each candidate in turn, as execvp(3) walks its PATH: on
/// to the next while a file is missing or cannot be run; a file found but
/// not executable (EACCES) leaves that errno at the end, as the shells
/// report 126 for it. Returns only if every one failed, with errno set.
///
/// # Safety
/// `search` is a null-terminated array of C strings, `argv` and `envp` as
/// `execve` takes them; async-signal-safe (it runs in a vforked child).
unsafe fn exec_each(
    search: *const *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) {
    // SAFETY: as the function's contract says.
    unsafe {
        let mut denied = false;
        let mut at = search;
        while !(*at).is_null() {
            libc::execve(*at, argv, envp);
            let errno = *libc::__errno_location();
            match errno {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => return,
            }
            at = at.add(1);
        }
        if denied {
            *libc::__errno_location() = libc::EACCES;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_tick_known_at_spawn_is_the_one_proc_shows() {
        let mask = super::super::block_all_signals().unwrap();
        let argv = [OsString::from("/bin/sleep"), OsString::from("5")];
        let mut seen = 0;
        for _ in 0..20 {
            let spec = ChildSpec::new(&argv, &[], false).unwrap();
            let child = spawn(&spec, &mask).unwrap();
            assert!(child.failure.is_none());
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.pid)).unwrap();
            let (_, tail) = stat.rsplit_once(')').unwrap();
            let proc_ticks: u64 = tail.split_whitespace().nth(19).unwrap().parse().unwrap();
            super::super::signal_process(child.pid, libc::SIGKILL).unwrap();
            while super::super::reap_pid(child.pid).unwrap().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if let Some(ticks) = child.start_ticks {
                assert_eq!(ticks, proc_ticks);
                seen += 1;
            }
        }
        assert!(seen > 0, "no spawn fell within one clock tick");
    }

    /// Runs `name` with `PATH=path` as its whole environment; its status.
    fn run_with_path(name: &str, path: &str) -> crate::status::WaitStatus {
        let mask = super::super::block_all_signals().unwrap();
        let env = [(OsString::from("PATH"), OsString::from(path))];
        let spec = ChildSpec::new(&[OsString::from(name)], &env, false).unwrap();
        let child = spawn(&spec, &mask).unwrap();
        loop {
            if let Some(status) = super::super::reap_pid(child.pid).unwrap() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_command_is_found_in_the_path_it_is_given_not_fosters() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("foster-path-{}", std::process::id()));
        let (found, denied) = (dir.join("found"), dir.join("denied"));
        std::fs::create_dir_all(&found).unwrap();
        std::fs::create_dir_all(&denied).unwrap();
        let script = found.join("foster-test-cmd");
        std::fs::write(&script, "#!/bin/sh\nexit 7\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = denied.join("foster-test-cmd");
        std::fs::write(&plain, "not a program\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (found, denied) = (found.display(), denied.display());
        use crate::status::WaitStatus::Exited;
        // Past a missing directory and a file that cannot run, to the one that can.
        assert_eq!(
            run_with_path("foster-test-cmd", &format!("/nonexistent:{denied}:{found}")),
            Exited(7)
        );
        // Only a file that cannot run: 126, as the shells say.
        assert_eq!(
            run_with_path("foster-test-cmd", &format!("{denied}")),
            Exited(126)
        );
        // Nowhere on the given PATH, though foster's has `true`: 127.
        assert_eq!(run_with_path("true", "/nonexistent"), Exited(127));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Spawns `sleep 5` with `settings`; its PID, or the failure.
    fn spawn_with(settings: &ProcessSettings<'_>) -> Result<Pid, ChildFailure> {
        let mask = super::super::block_all_signals().unwrap();
        let argv = [OsString::from("/bin/sleep"), OsString::from("5")];
        let mut spec = ChildSpec::new(&argv, &[], false).unwrap();
        spec.set_process(settings);
        let child = spawn(&spec, &mask).unwrap();
        match child.failure {
            None => Ok(child.pid),
            Some(failure) => {
                while super::super::reap_pid(child.pid).unwrap().is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(failure)
            }
        }
    }

    fn end(pid: Pid) {
        super::super::signal_process(pid, libc::SIGKILL).unwrap();
        while super::super::reap_pid(pid).unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn status_line(pid: Pid, field: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:\t")))
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_child_gets_its_limits_umask_nice_and_no_new_privs_and_foster_keeps_its_own() {
        let limits = [Rlimit {
            resource: Resource::Nofile,
            soft: 100,
            hard: 200,
        }];
        let before = std::fs::read_to_string("/proc/self/limits").unwrap();
        let pid = spawn_with(&ProcessSettings {
            limits: &limits,
            umask: Some(0o077),
            nice: Some(7),
            no_new_privs: true,
            ..ProcessSettings::default()
        })
        .unwrap();
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let nice = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(16);
        let (umask, nnp) = (status_line(pid, "Umask"), status_line(pid, "NoNewPrivs"));
        end(pid);
        let open_files = limits.lines().find(|l| l.starts_with("Max open files"));
        let values: Vec<&str> = open_files.unwrap().split_whitespace().collect();
        assert_eq!(values.get(3..5), Some(&["100", "200"][..]));
        assert_eq!(nice, Some("7"));
        assert_eq!((umask.as_str(), nnp.as_str()), ("0077", "1"));
        // The child shared foster's memory, not its limits or its thread.
        assert_eq!(
            std::fs::read_to_string("/proc/self/limits").unwrap(),
            before
        );
        assert_eq!(status_line(getpid().unwrap(), "NoNewPrivs"), "0");
    }

    #[test]
    fn a_limit_that_cannot_be_set_is_reported_with_its_name() {
        let limits = [
            Rlimit {
                resource: Resource::Core,
                soft: 0,
                hard: 0,
            },
            // Above fs.nr_open whoever asks.
            Rlimit {
                resource: Resource::Nofile,
                soft: crate::unit::INFINITY,
                hard: crate::unit::INFINITY,
            },
        ];
        let failure = spawn_with(&ProcessSettings {
            limits: &limits,
            ..ProcessSettings::default()
        })
        .err()
        .unwrap();
        assert_eq!(failure.stage, Stage::Limit(Resource::Nofile));
        assert_eq!(
            failure.to_string(),
            "cannot set the limit nofile: Operation not permitted"
        );
        let failure = spawn_with(&ProcessSettings {
            oom_score_adj: Some(5000),
            ..ProcessSettings::default()
        })
        .err()
        .unwrap();
        assert_eq!(
            failure.to_string(),
            "cannot set oom_score_adj 5000: Invalid argument"
        );
    }

    #[test]
    fn a_root_child_keeps_exactly_its_capabilities_in_every_set() {
        if super::super::geteuid() != 0 {
            eprintln!("note: skipping: capabilities need root");
            return;
        }
        let pid = spawn_with(&ProcessSettings {
            capabilities: Some(Capabilities(1 << 5)),
            ..ProcessSettings::default()
        })
        .unwrap();
        let sets: Vec<String> = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
            .iter()
            .map(|f| status_line(pid, f))
            .collect();
        end(pid);
        assert_eq!(sets, vec!["0000000000000020"; 5]);
        assert_ne!(status_line(getpid().unwrap(), "CapBnd"), "0000000000000020");
    }

    #[test]
    fn same_tick_only_within_one_tick() {
        // SAFETY: sysconf only returns a number.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let per_tick = 1_000_000_000 / hz;
        assert_eq!(
            same_tick(Some(5 * per_tick + 1), Some(6 * per_tick - 1)),
            Some(5)
        );
        assert_eq!(same_tick(Some(6 * per_tick - 1), Some(6 * per_tick)), None);
        assert_eq!(same_tick(None, Some(1)), None);
    }
}
