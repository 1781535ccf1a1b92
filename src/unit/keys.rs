//! The keys a unit file may hold, and what to suggest for one it may not:
//! foster's name for a key brought from a peer, else the nearest known key.

/// Every key a unit file may hold.
pub(super) const KEYS: &[&str] = &[
    "command",
    "type",
    "pidfile",
    "depends_on",
    "restart",
    "restart_delay",
    "restart_delay_max",
    "stop_signal",
    "stop_timeout",
    "reload_signal",
    "start_timeout",
    "user",
    "group",
    "workdir",
    "env",
    "critical",
    "log",
    "kill_mode",
    "restart_limit",
    "restart_limit_interval",
    "env_file",
    "autostart",
    "sockets",
    "fd_store",
    "restart_mode",
    "watchdog",
    "watchdog_signal",
    "health",
    "log_timestamps",
    "log_buffer",
    "log_file",
    "log_max_size",
    "log_keep",
    "limits",
    "umask",
    "nice",
    "oom_score_adj",
    "no_new_privs",
    "capabilities",
    "memory_max",
    "memory_high",
    "memory_swap_max",
    "cpu_max",
    "cpu_weight",
    "pids_max",
    "io_weight",
];

/// Keys users bring from systemd, supervisord, Docker Compose and the
/// like, exactly as written there, with what foster calls them. Looked at
/// before the "did you mean" of [`closest`]: `Restart` is one edit from
/// `restart`, but `Environment` is no edit away from `env`.
const PEER_KEYS: &[(&str, &str)] = &[
    ("environment", "env"),
    ("Environment", "env"),
    ("EnvironmentFile", "env_file"),
    ("working_directory", "workdir"),
    ("WorkingDirectory", "workdir"),
    ("directory", "workdir"),
    ("after", "depends_on"),
    ("requires", "depends_on"),
    ("Requires", "depends_on"),
    ("autorestart", "restart"),
    ("Restart", "restart"),
    ("ExecStart", "command"),
    ("exec", "command"),
    ("PIDFile", "pidfile"),
    ("User", "user"),
    ("Group", "group"),
    ("WatchdogSec", "watchdog"),
    ("healthcheck", "health"),
    ("HEALTHCHECK", "health"),
    ("WatchdogSignal", "watchdog_signal"),
    ("LimitNOFILE", "limits"),
    ("LimitNPROC", "limits"),
    ("LimitCORE", "limits"),
    ("LimitMEMLOCK", "limits"),
    ("LimitSTACK", "limits"),
    ("LimitAS", "limits"),
    ("LimitCPU", "limits"),
    ("LimitFSIZE", "limits"),
    ("LimitDATA", "limits"),
    ("ulimits", "limits"),
    ("rlimits", "limits"),
    ("UMask", "umask"),
    ("Nice", "nice"),
    ("OOMScoreAdjust", "oom_score_adj"),
    ("oom_score_adjust", "oom_score_adj"),
    ("NoNewPrivileges", "no_new_privs"),
    ("no_new_privileges", "no_new_privs"),
    ("AmbientCapabilities", "capabilities"),
    ("CapabilityBoundingSet", "capabilities"),
    ("cap_add", "capabilities"),
    ("MemoryMax", "memory_max"),
    ("MemoryLimit", "memory_max"),
    ("mem_limit", "memory_max"),
    ("MemoryHigh", "memory_high"),
    ("MemorySwapMax", "memory_swap_max"),
    ("memswap_limit", "memory_swap_max"),
    ("CPUQuota", "cpu_max"),
    ("cpus", "cpu_max"),
    ("CPUWeight", "cpu_weight"),
    ("cpu_shares", "cpu_weight"),
    ("TasksMax", "pids_max"),
    ("pids_limit", "pids_max"),
    ("IOWeight", "io_weight"),
    ("blkio_weight", "io_weight"),
];

/// What an unknown key's message adds in parentheses, if anything.
pub(super) fn key_hint(key: &str) -> Option<String> {
    if let Some((_, ours)) = PEER_KEYS.iter().find(|(theirs, _)| *theirs == key) {
        return Some(format!("foster's key is `{ours}`"));
    }
    closest(key).map(|k| format!("did you mean `{k}`?"))
}

/// The known key nearest to a misspelt one, if it is close (at most 2
/// edits). Only keys whose length is within 2 of the misspelt one's are
/// compared: a file of a million bytes of unknown keys must not keep PID 1
/// computing hints.
pub(super) fn closest(key: &str) -> Option<&'static str> {
    closest_in(key, KEYS)
}

/// [`closest`] among `keys`.
pub(super) fn closest_in(key: &str, keys: &[&'static str]) -> Option<&'static str> {
    let len = key.chars().count();
    keys.iter()
        .filter(|k| k.len().abs_diff(len) <= 2)
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance in characters, with two rows reused for all of `a`.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur[j + 1] = best;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}
