//! Unit files: one YAML file per service in the services directory.
//!
//! Each file is read into a tree where every node keeps its line and column
//! (serde-saphyr's `Spanned`), and then checked by hand rather than by a
//! derived `Deserialize`: serde stops at the first error, while an operator
//! fixing a unit wants every problem at once, each as `FILE:LINE:COL:
//! message` pointing at the key or value at fault.

//!
//! `parse` checks one file's text, `check` a set of them together (names,
//! dependencies, cycles), `load` reads them from a directory, `env_file`
//! reads the text of an `env_file:`; this module
//! holds the types they share and re-exports what foster uses, so callers
//! write `unit::load_dir` whichever file it lives in.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::users::Credentials;

mod cgroup_limits;
mod check;
mod env_file;
mod health;
mod keys;
mod limits;
mod load;
mod parse;
mod sockets;
#[cfg(test)]
mod tests;
mod warnings;
mod yaml;

pub use cgroup_limits::{Amount, CgroupLimits, CpuMax, parse_cpu_max};
pub use check::{DEFAULT_PATH, Loaded, NoProbe, Probe, Probed, check_files};
pub use env_file::{EnvFileError, MAX_ENV_FILE, parse_env_file};
pub use health::{HealthCheck, HealthProbe, OnUnhealthy};
pub use limits::{Capabilities, INFINITY, Resource, Rlimit, parse_limit, parse_limit_value};
pub use load::{
    DirUnreadable, FileKind, HostProbe, MAX_UNIT_FILE, Unreadable, ignored_entry,
    is_unit_file_name, load_dir, load_dir_with, read_env_file, try_load_dir, try_load_dir_with,
};
pub use sockets::{DEFAULT_BACKLOG, Listen, SocketKind, SocketSpec, parse_listen, valid_fd_name};

/// How a service tells foster it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Ready once exec succeeded.
    Simple,
    /// Ready when it exited 0.
    Oneshot,
    /// Ready when it sends `READY=1` on `$NOTIFY_SOCKET`.
    Notify,
    /// Ready when the launcher exited 0 and the daemon's PID is known.
    Forking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

/// Where a service's output goes (`log:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// foster's own stdout and stderr, passed as they are: no copy.
    Inherit,
    /// Relayed line by line, each as `NAME | line`.
    Prefix,
    /// Relayed line by line, unchanged (timestamps aside).
    Plain,
    /// Discarded (`/dev/null`).
    None,
}

impl LogMode {
    /// foster reads the service's output (a pipe it relays).
    pub fn is_relayed(self) -> bool {
        matches!(self, LogMode::Prefix | LogMode::Plain)
    }
}

/// What is stopped when a service's main process ends, or it is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillMode {
    /// Everything of the service: its cgroup where foster made one, else
    /// its session, started since its launch (the default). A restart
    /// waits until it is all gone.
    All,
    /// The main process only; what it left keeps running.
    Main,
}

/// `restart_limit`: at most `restarts` restarts within `interval`; a
/// service that ends again goes to `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartLimit {
    pub restarts: u32,
    pub interval: Duration,
}

/// How `fosterctl restart` and a reload that changed the unit go about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// The old run stops, then the new one starts (the default).
    StopStart,
    /// The new run starts beside the old one, on the same sockets; the old
    /// one stops once the new one is ready.
    Overlap,
}

/// The most descriptors `fd_store:` may let a service park.
pub const MAX_FD_STORE: u32 = 1024;

/// A valid unit, with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub path: PathBuf,
    pub command: Vec<String>,
    pub kind: Kind,
    pub pidfile: Option<PathBuf>,
    pub depends_on: Vec<String>,
    pub restart: Restart,
    pub restart_delay: Duration,
    pub restart_delay_max: Duration,
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub reload_signal: i32,
    pub start_timeout: Duration,
    /// `None`: run as foster's own user.
    pub credentials: Option<Credentials>,
    pub workdir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub critical: bool,
    pub log: LogMode,
    pub kill_mode: KillMode,
    /// `None`: no limit.
    pub restart_limit: Option<RestartLimit>,
    /// Read at each start, in order, before `env`.
    pub env_files: Vec<EnvFile>,
    /// `false`: loaded and shown stopped, started only when asked.
    pub autostart: bool,
    /// The sockets foster holds for it (`sockets:`), in their order: fds
    /// 3, 4, … of each start.
    pub sockets: Vec<SocketSpec>,
    /// How many descriptors it may park with `FDSTORE=1` (0: none).
    pub fd_store: u32,
    pub restart_mode: RestartMode,
    /// `watchdog:` (systemd's `WatchdogSec=`): once ready, the service must
    /// send `WATCHDOG=1` within this, again and again; `None`: no watchdog.
    pub watchdog: Option<Duration>,
    /// What it gets when its watchdog expires (SIGKILL follows after
    /// `stop_timeout`).
    pub watchdog_signal: i32,
    /// `health:`, its health check, if it has one.
    pub health: Option<HealthCheck>,
    /// `log_timestamps:`: whether its relayed lines get a timestamp;
    /// `None`: as foster's own (`--log-timestamps`).
    pub log_timestamps: Option<bool>,
    /// `log_buffer:`: how many bytes of its last lines foster keeps for
    /// `fosterctl logs` (0: none).
    pub log_buffer: usize,
    /// `log_file:`, `log_max_size:`, `log_keep:`: the file its relayed
    /// lines are also written to, rotated by size.
    pub log_file: Option<LogFileSpec>,
    /// Resource limits set before exec (`limits:`), in the file's order;
    /// those not named are inherited from foster.
    pub limits: Vec<Rlimit>,
    /// `None`: foster's umask (022 as a rule).
    pub umask: Option<u32>,
    /// `None`: foster's nice value.
    pub nice: Option<i32>,
    /// `None`: foster's `oom_score_adj`.
    pub oom_score_adj: Option<i32>,
    /// `PR_SET_NO_NEW_PRIVS`: no setuid bit or file capability raises it.
    pub no_new_privs: bool,
    /// `None`: its capabilities are left as a process of its user gets
    /// them; `Some`: exactly these, kept in its ambient and bounding sets.
    pub capabilities: Option<Capabilities>,
    /// cgroup limits (`memory_max`, `cpu_max`, `pids_max`, …), written
    /// into its cgroup before its first process joins it; a key not given
    /// is not written.
    pub cgroup_limits: CgroupLimits,
}

impl Unit {
    /// A unit of `name` (from `path`) running `command`, every other key
    /// at its default, as a unit file that gives no more says: the one
    /// place the defaults are written (the parser starts from it).
    pub fn new(name: &str, path: PathBuf, command: Vec<String>) -> Unit {
        Unit {
            name: name.to_string(),
            path,
            command,
            kind: Kind::Simple,
            pidfile: None,
            depends_on: Vec::new(),
            // Decided by the kind once it is known (oneshot: never).
            restart: Restart::OnFailure,
            restart_delay: Duration::from_secs(1),
            restart_delay_max: Duration::from_secs(30),
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(5),
            reload_signal: libc::SIGHUP,
            start_timeout: Duration::from_secs(30),
            credentials: None,
            workdir: None,
            env: Vec::new(),
            critical: false,
            log: LogMode::Inherit,
            kill_mode: KillMode::All,
            restart_limit: None,
            env_files: Vec::new(),
            autostart: true,
            sockets: Vec::new(),
            fd_store: 0,
            restart_mode: RestartMode::StopStart,
            watchdog: None,
            watchdog_signal: libc::SIGABRT,
            health: None,
            log_timestamps: None,
            log_buffer: DEFAULT_LOG_BUFFER,
            log_file: None,
            limits: Vec::new(),
            umask: None,
            nice: None,
            oom_score_adj: None,
            no_new_privs: false,
            capabilities: None,
            cgroup_limits: CgroupLimits::default(),
        }
    }
}

/// How many bytes of a service's last lines `fosterctl logs` can show,
/// unless its `log_buffer:` says.
pub const DEFAULT_LOG_BUFFER: usize = 64 * 1024;
/// The most `log_buffer:` may ask.
pub const MAX_LOG_BUFFER: usize = 64 * 1024 * 1024;

/// `log_file:` and its rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileSpec {
    /// Absolute.
    pub path: PathBuf,
    /// `log_max_size:` (default 10M): rotated before it would pass this.
    pub max_size: u64,
    /// `log_keep:` (default 5): `PATH.1` … `PATH.N` are kept.
    pub keep: u32,
}

/// `log_max_size:` unless a unit says.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// `log_keep:` unless a unit says.
pub const DEFAULT_LOG_KEEP: u32 = 5;

/// One `env_file:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// Absolute.
    pub path: PathBuf,
    /// Written `-/path` (as systemd's `EnvironmentFile=-/path`): a file
    /// that does not exist is no error.
    pub optional: bool,
}

/// One thing wrong with a unit, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Problem {
    /// `FILE:LINE:COLUMN: message`, or `FILE: message` for a problem with
    /// the file as a whole (line 0), `FILE:LINE: message` with no column:
    /// never a made-up `:0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        if self.column == 0 {
            return write!(f, "{}:{}: {}", self.file.display(), self.line, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}
