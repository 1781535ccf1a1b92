//! One unit file's text into a [`Unit`]: the YAML read into a tree that
//! keeps every node's line and column, then each key checked by hand, every
//! problem collected with its position (see the parent module for why not
//! a derived `Deserialize`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::cgroup_limits::{parse_cpu, parse_pids, parse_size, parse_weight};
use super::check::Probe;
use super::health::parse_health;
use super::keys::key_hint;
use super::limits::{parse_bounded, parse_capabilities, parse_limits, parse_umask};
use super::sockets::parse_sockets;
use super::warnings::{Machine, shell_program};
use super::yaml::{Node, yaml_message};
use super::{
    EnvFile, KillMode, Kind, LogMode, MAX_FD_STORE, Problem, Restart, RestartLimit, RestartMode,
    Unit,
};
use crate::users::UserDb;

/// Collects problems for one file.
pub(super) struct Checker<'a> {
    file: &'a Path,
    pub(super) problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn at<T>(&mut self, node: &Spanned<T>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line: node.referenced.line(),
            column: node.referenced.column(),
            message: message.into(),
        });
    }

    pub(super) fn string(&mut self, key: &str, node: &Spanned<Node>) -> Option<String> {
        match &node.value {
            Node::Str(s) if !s.is_empty() => Some(s.clone()),
            Node::Str(_) => {
                self.at(node, format!("{key}: must not be empty"));
                None
            }
            other => {
                let found = other.describe();
                self.at(node, format!("{key}: expected a string, found {found}"));
                None
            }
        }
    }

    pub(super) fn choice<T: Copy>(
        &mut self,
        key: &str,
        node: &Spanned<Node>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let text = self.string(key, node)?;
        match choices.iter().find(|(name, _)| *name == text) {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.at(
                    node,
                    format!(
                        "{key}: unknown value \"{text}\" (expected {})",
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }

    pub(super) fn duration(&mut self, key: &str, node: &Spanned<Node>) -> Option<Duration> {
        let text = match &node.value {
            Node::Str(s) => s.clone(),
            Node::Int(n) => n.to_string(),
            Node::Float(x) => x.to_string(),
            other => {
                let found = other.describe();
                self.at(
                    node,
                    format!("{key}: expected a duration such as 5s, found {found}"),
                );
                return None;
            }
        };
        match crate::duration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(node, format!("{key}: {e}"));
                None
            }
        }
    }

    fn signal(&mut self, key: &str, node: &Spanned<Node>) -> Option<i32> {
        let Some(text) = node
            .value
            .scalar_text()
            .filter(|_| !matches!(node.value, Node::Bool(_)))
        else {
            let found = node.value.describe();
            self.at(
                node,
                format!("{key}: expected a signal such as TERM, found {found}"),
            );
            return None;
        };
        match crate::signal::parse(&text) {
            Ok(sig) if sig == libc::SIGKILL || sig == libc::SIGSTOP => {
                self.at(
                    node,
                    format!(
                        "{key}: {} cannot be caught, so it cannot ask a service anything",
                        crate::signal::name(sig)
                    ),
                );
                None
            }
            Ok(sig) => Some(sig),
            Err(e) => {
                self.at(node, format!("{key}: {e}"));
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, key: &str, node: &Spanned<Node>) -> Option<bool> {
        match node.value {
            Node::Bool(b) => Some(b),
            ref other => {
                let found = other.describe();
                self.at(
                    node,
                    format!("{key}: expected true or false, found {found}"),
                );
                None
            }
        }
    }

    fn strings(&mut self, key: &str, node: &Spanned<Node>) -> Option<Vec<Spanned<String>>> {
        match &node.value {
            Node::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    let value = self.string(key, item)?;
                    out.push(Spanned::new(value, item.referenced, item.defined));
                }
                Some(out)
            }
            Node::Str(_) => {
                let value = self.string(key, node)?;
                Some(vec![Spanned::new(value, node.referenced, node.defined)])
            }
            other => {
                let found = other.describe();
                self.at(
                    node,
                    format!("{key}: expected a list of strings, found {found}"),
                );
                None
            }
        }
    }
}

/// A unit that parsed, with the positions of its dependencies kept for the
/// checks across units.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) unit: Unit,
    pub(super) deps: Vec<Spanned<String>>,
    /// Where each of `unit.sockets` is written (line, column).
    pub(super) socket_at: Vec<(u64, u64)>,
}

/// Checks one unit file's text. `name` is the service name (the file name
/// without its extension).
pub(super) fn parse_unit(
    name: &str,
    path: &Path,
    text: &str,
    users: &UserDb,
    probe: &dyn Probe,
    warnings: &mut Vec<Problem>,
) -> Result<Parsed, Vec<Problem>> {
    let mut c = Checker {
        file: path,
        problems: Vec::new(),
    };
    let options = serde_saphyr::options! {
        // YAML 1.2 booleans only: a service named `n` or `y` stays a name.
        strict_booleans: true,
        // Every entry reaches the tree, so that a repeated key is reported
        // here with where it was first given (see `unique`).
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // Only the message and its position are shown.
        with_snippet: false,
    };
    let root: Spanned<Node> = match serde_saphyr::from_str_with_options(text, options) {
        Ok(root) => root,
        Err(e) => {
            // No position: a problem with the file as a whole (line 0).
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            return Err(vec![Problem {
                file: path.to_path_buf(),
                line,
                column,
                message: format!("invalid YAML: {}", yaml_message(&e)),
            }]);
        }
    };
    let entries = match &root.value {
        Node::Map(entries) => entries.clone(),
        Node::Null => {
            c.at(&root, "empty unit: `command` is required");
            return Err(c.problems);
        }
        other => {
            let found = other.describe();
            c.at(
                &root,
                format!("a unit is a mapping of keys such as `command:`, found {found}"),
            );
            return Err(c.problems);
        }
    };

    let mut command = None;
    // Every key starts at its default (`Unit::new`).
    let defaults = Unit::new(name, path.to_path_buf(), Vec::new());
    let mut kind = defaults.kind;
    let mut pidfile: Option<Spanned<PathBuf>> = None;
    let mut deps = Vec::new();
    let mut restart = None;
    let mut restart_delay = defaults.restart_delay;
    let mut restart_delay_max = defaults.restart_delay_max;
    let mut delay_max_node = None;
    let mut stop_signal = defaults.stop_signal;
    let mut stop_timeout = defaults.stop_timeout;
    let mut reload_signal = defaults.reload_signal;
    let mut start_timeout = defaults.start_timeout;
    let mut user = None;
    let mut group = None;
    let mut workdir = None;
    let mut command_node = None;
    let mut workdir_node = None;
    let mut env = Vec::new();
    let mut critical = defaults.critical;
    let mut log = defaults.log;
    let mut kill_mode = defaults.kill_mode;
    let mut restart_limit: Option<(u32, &Spanned<Node>)> = None;
    let mut limit_interval: Option<(Duration, &Spanned<Node>)> = None;
    let mut env_files = Vec::new();
    let mut autostart = defaults.autostart;
    let mut sockets = Vec::new();
    let mut socket_at = Vec::new();
    let mut fd_store = defaults.fd_store;
    let mut restart_mode = defaults.restart_mode;
    let mut restart_mode_node = None;
    let mut watchdog = defaults.watchdog;
    let mut watchdog_node = None;
    let mut watchdog_signal = defaults.watchdog_signal;
    let mut health = None;
    let mut log_timestamps: Option<(bool, &Spanned<Node>)> = None;
    let mut log_buffer = defaults.log_buffer;
    let mut log_file: Option<(PathBuf, &Spanned<Node>)> = None;
    let mut log_max_size: Option<(u64, &Spanned<Node>)> = None;
    let mut log_keep: Option<(u32, &Spanned<Node>)> = None;
    let mut readiness_node = None;
    let mut limits = defaults.limits;
    let mut umask = defaults.umask;
    let mut nice = defaults.nice;
    let mut oom_score_adj = defaults.oom_score_adj;
    let mut no_new_privs = defaults.no_new_privs;
    let mut capabilities = defaults.capabilities;
    let mut cgroup_limits = defaults.cgroup_limits;

    for (key, value) in unique(&mut c, "", &entries) {
        match key.value.as_str() {
            "command" => {
                command_node = Some(value);
                command = match &value.value {
                    Node::Str(s) if !s.trim().is_empty() => {
                        Some(vec!["/bin/sh".to_string(), "-c".to_string(), s.clone()])
                    }
                    Node::Str(_) => {
                        c.at(value, "command: must not be empty");
                        None
                    }
                    Node::Seq(items) if items.is_empty() => {
                        c.at(value, "command: must not be empty");
                        None
                    }
                    Node::Seq(items) => {
                        let mut argv = Vec::new();
                        for (i, item) in items.iter().enumerate() {
                            match item.value.scalar_text() {
                                Some(s) if i > 0 || !s.is_empty() => argv.push(s),
                                Some(_) => {
                                    c.at(item, "command: the program name must not be empty")
                                }
                                None => {
                                    let found = item.value.describe();
                                    c.at(
                                        item,
                                        format!(
                                            "command: arguments must be strings, found {found}"
                                        ),
                                    );
                                }
                            }
                        }
                        (argv.len() == items.len()).then_some(argv)
                    }
                    other => {
                        let found = other.describe();
                        c.at(value, format!("command: expected a list of arguments or a shell command string, found {found}"));
                        None
                    }
                };
                if command.is_none() {
                    // Reported above; keep `command` marked as present.
                    command = Some(Vec::new());
                }
            }
            "type" => {
                let choices = [
                    ("simple", Kind::Simple),
                    ("oneshot", Kind::Oneshot),
                    ("notify", Kind::Notify),
                    ("forking", Kind::Forking),
                ];
                if let Some(k) = c.choice("type", value, &choices) {
                    kind = k;
                }
            }
            "pidfile" => {
                if let Some(p) = c.string("pidfile", value) {
                    if !p.starts_with('/') {
                        c.at(
                            value,
                            format!("pidfile: must be an absolute path, found \"{p}\""),
                        );
                    }
                    pidfile = Some(Spanned::new(
                        PathBuf::from(p),
                        value.referenced,
                        value.defined,
                    ));
                }
            }
            "depends_on" => {
                if let Some(d) = c.strings("depends_on", value) {
                    deps = d;
                }
            }
            "restart" => {
                let choices = [
                    ("always", Restart::Always),
                    ("on-failure", Restart::OnFailure),
                    ("never", Restart::Never),
                ];
                restart = c.choice("restart", value, &choices);
            }
            "restart_delay" => {
                restart_delay = c.duration("restart_delay", value).unwrap_or(restart_delay)
            }
            "restart_delay_max" => {
                restart_delay_max = c
                    .duration("restart_delay_max", value)
                    .unwrap_or(restart_delay_max);
                delay_max_node = Some(value);
            }
            "stop_signal" => stop_signal = c.signal("stop_signal", value).unwrap_or(stop_signal),
            "stop_timeout" => {
                stop_timeout = c.duration("stop_timeout", value).unwrap_or(stop_timeout)
            }
            "reload_signal" => {
                reload_signal = c.signal("reload_signal", value).unwrap_or(reload_signal)
            }
            "start_timeout" => {
                start_timeout = c.duration("start_timeout", value).unwrap_or(start_timeout)
            }
            "user" | "group" => {
                let what = key.value.as_str();
                let text = match &value.value {
                    Node::Str(s) if !s.is_empty() => Some(s.clone()),
                    Node::Str(_) => {
                        c.at(value, format!("{what}: must not be empty"));
                        None
                    }
                    // An ID is a u32, and -1 (4294967295) means "no
                    // change" to setuid(2): never a service's.
                    Node::Int(n) if (0..i64::from(u32::MAX)).contains(n) => Some(n.to_string()),
                    Node::Int(n) if *n > 0 => {
                        c.at(
                            value,
                            format!("{what}: {n} is too large for an ID (at most 4294967294)"),
                        );
                        None
                    }
                    Node::Int(n) => {
                        c.at(
                            value,
                            format!("{what}: a {what} is a name or a whole number, found {n}"),
                        );
                        None
                    }
                    Node::Float(x) => {
                        c.at(
                            value,
                            format!("{what}: a {what} is a name or a whole number, found {x}"),
                        );
                        None
                    }
                    other => {
                        let found = other.describe();
                        c.at(
                            value,
                            format!("{what}: a {what} is a name or a whole number, found {found}"),
                        );
                        None
                    }
                };
                let slot = if what == "user" {
                    &mut user
                } else {
                    &mut group
                };
                *slot = text.map(|t| (t, value));
            }
            "workdir" => {
                if let Some(w) = c.string("workdir", value) {
                    if w.starts_with('/') {
                        workdir = Some(PathBuf::from(w));
                        workdir_node = Some(value);
                    } else {
                        c.at(
                            value,
                            format!("workdir: must be an absolute path, found \"{w}\""),
                        );
                    }
                }
            }
            "env" => match &value.value {
                Node::Map(vars) => {
                    for (k, v) in unique(&mut c, "env: ", vars) {
                        if k.value.is_empty() || k.value.contains('=') || k.value.contains('\0') {
                            c.at(k, format!("env: invalid variable name \"{}\"", k.value));
                            continue;
                        }
                        match v.value.scalar_text() {
                            Some(text) if !text.contains('\0') => env.push((k.value.clone(), text)),
                            Some(_) => c.at(v, format!("env: {}: contains a NUL byte", k.value)),
                            None => {
                                let found = v.value.describe();
                                c.at(
                                    v,
                                    format!("env: {}: expected a string, found {found}", k.value),
                                );
                            }
                        }
                    }
                }
                other => {
                    let found = other.describe();
                    c.at(
                        value,
                        format!("env: expected a mapping of NAME: value, found {found}"),
                    );
                }
            },
            "critical" => critical = c.boolean("critical", value).unwrap_or(critical),
            "autostart" => autostart = c.boolean("autostart", value).unwrap_or(autostart),
            "sockets" => {
                let (specs, at) = parse_sockets(&mut c, value, name).into_iter().unzip();
                sockets = specs;
                socket_at = at;
            }
            "fd_store" => match value.value {
                Node::Int(n) if (0..=i64::from(MAX_FD_STORE)).contains(&n) => {
                    fd_store = u32::try_from(n).unwrap_or(0);
                }
                Node::Int(n) => c.at(
                    value,
                    format!("fd_store: {n} is out of range (0 to {MAX_FD_STORE})"),
                ),
                ref other => {
                    let found = other.describe();
                    c.at(
                        value,
                        format!("fd_store: expected how many descriptors, found {found}"),
                    );
                }
            },
            "log_buffer" => {
                let text = match &value.value {
                    Node::Int(n) => Some(n.to_string()),
                    _ => c.string("log_buffer", value),
                };
                if let Some(text) = text {
                    match log_buffer_size(&text) {
                        Some(n) if n <= super::MAX_LOG_BUFFER => log_buffer = n,
                        Some(_) => c.at(value, "log_buffer: at most 64M"),
                        None => c.at(
                            value,
                            format!(
                                "log_buffer: \"{text}\" is not a size such as 64K (bytes, or K, M)"
                            ),
                        ),
                    }
                }
            }
            "log_file" => {
                if let Some(text) = c.string("log_file", value) {
                    if text.starts_with('/') {
                        log_file = Some((PathBuf::from(text), value));
                    } else {
                        c.at(
                            value,
                            format!("log_file: \"{text}\" must be an absolute path"),
                        );
                    }
                }
            }
            "log_max_size" => {
                let text = match &value.value {
                    Node::Int(n) => Some(n.to_string()),
                    _ => c.string("log_max_size", value),
                };
                if let Some(text) = text {
                    match log_buffer_size(&text) {
                        Some(n) if n >= 1024 => {
                            log_max_size = Some((u64::try_from(n).unwrap_or(u64::MAX), value))
                        }
                        Some(_) => c.at(value, "log_max_size: at least 1K"),
                        None => c.at(
                            value,
                            format!("log_max_size: \"{text}\" is not a size such as 10M (bytes, or K, M, G)"),
                        ),
                    }
                }
            }
            "log_keep" => match value.value {
                Node::Int(n) if (0..=1000).contains(&n) => {
                    log_keep = Some((u32::try_from(n).unwrap_or(0), value))
                }
                Node::Int(n) => c.at(value, format!("log_keep: {n} is out of range (0 to 1000)")),
                ref other => {
                    let found = other.describe();
                    c.at(
                        value,
                        format!("log_keep: expected a number of files, found {found}"),
                    );
                }
            },
            "log_timestamps" => {
                if let Some(b) = c.boolean("log_timestamps", value) {
                    log_timestamps = Some((b, value));
                }
            }
            "health" => {
                if let Some((check, node)) = parse_health(&mut c, value) {
                    health = Some(check);
                    readiness_node = node;
                }
            }
            "watchdog" => {
                if let Some(d) = c.duration("watchdog", value) {
                    // As systemd's `WatchdogSec=0`: off.
                    watchdog = (!d.is_zero()).then_some(d);
                    watchdog_node = Some(value);
                }
            }
            "watchdog_signal" => {
                watchdog_signal = c
                    .signal("watchdog_signal", value)
                    .unwrap_or(watchdog_signal)
            }
            "restart_mode" => {
                let choices = [
                    ("stop-start", RestartMode::StopStart),
                    ("overlap", RestartMode::Overlap),
                ];
                if let Some(m) = c.choice("restart_mode", value, &choices) {
                    restart_mode = m;
                    restart_mode_node = Some(value);
                }
            }
            "limits" => limits = parse_limits(&mut c, value),
            "umask" => umask = parse_umask(&mut c, value),
            "nice" => nice = parse_bounded(&mut c, "nice", value, -20..=19),
            "oom_score_adj" => {
                oom_score_adj = parse_bounded(&mut c, "oom_score_adj", value, -1000..=1000)
            }
            "no_new_privs" => {
                no_new_privs = c.boolean("no_new_privs", value).unwrap_or(no_new_privs)
            }
            "capabilities" => capabilities = parse_capabilities(&mut c, value),
            "memory_max" => cgroup_limits.memory_max = parse_size(&mut c, "memory_max", value),
            "memory_high" => cgroup_limits.memory_high = parse_size(&mut c, "memory_high", value),
            "memory_swap_max" => {
                cgroup_limits.memory_swap_max = parse_size(&mut c, "memory_swap_max", value)
            }
            "cpu_max" => cgroup_limits.cpu_max = parse_cpu(&mut c, value),
            "cpu_weight" => cgroup_limits.cpu_weight = parse_weight(&mut c, "cpu_weight", value),
            "pids_max" => cgroup_limits.pids_max = parse_pids(&mut c, value),
            "io_weight" => cgroup_limits.io_weight = parse_weight(&mut c, "io_weight", value),
            "env_file" => {
                for entry in c.strings("env_file", value).unwrap_or_default() {
                    // `-/path`: systemd's EnvironmentFile= for "if it exists".
                    let (optional, path) = match entry.value.strip_prefix('-') {
                        Some(path) => (true, path),
                        None => (false, entry.value.as_str()),
                    };
                    if path.starts_with('/') {
                        env_files.push(EnvFile {
                            path: PathBuf::from(path),
                            optional,
                        });
                    } else {
                        c.at(
                            &entry,
                            format!("env_file: \"{path}\" must be an absolute path"),
                        );
                    }
                }
            }
            "log" => {
                if let Some(l) = c.choice(
                    "log",
                    value,
                    &[
                        ("inherit", LogMode::Inherit),
                        ("prefix", LogMode::Prefix),
                        ("plain", LogMode::Plain),
                        ("none", LogMode::None),
                    ],
                ) {
                    log = l;
                }
            }
            "kill_mode" => {
                if let Some(m) = c.choice(
                    "kill_mode",
                    value,
                    &[("all", KillMode::All), ("main", KillMode::Main)],
                ) {
                    kill_mode = m;
                }
            }
            "restart_limit" => match value.value {
                Node::Int(n) if n >= 1 => match u32::try_from(n) {
                    Ok(n) => restart_limit = Some((n, value)),
                    Err(_) => c.at(value, "restart_limit: too large"),
                },
                Node::Int(_) => c.at(
                    value,
                    "restart_limit: must be 1 or more (to never restart, use `restart: never`)",
                ),
                ref other => {
                    let found = other.describe();
                    c.at(
                        value,
                        format!(
                            "restart_limit: expected a whole number of restarts, found {found}"
                        ),
                    );
                }
            },
            "restart_limit_interval" => match c.duration("restart_limit_interval", value) {
                Some(d) if d.is_zero() => {
                    c.at(value, "restart_limit_interval: must be longer than 0")
                }
                Some(d) => limit_interval = Some((d, value)),
                None => {}
            },
            other => {
                let hint = key_hint(other)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                c.at(key, format!("unknown key `{other}`{hint}"));
            }
        }
    }

    if command.is_none() {
        c.at(&root, "`command` is required");
    }
    if let Some(p) = &pidfile
        && kind != Kind::Forking
    {
        c.at(p, "pidfile: only a `type: forking` service has a pidfile");
    }
    // The default cap (30s) never cuts a longer restart_delay short.
    if delay_max_node.is_none() {
        restart_delay_max = restart_delay_max.max(restart_delay);
    }
    if restart_delay_max < restart_delay
        && let Some(node) = delay_max_node
    {
        c.at(
            node,
            format!(
                "restart_delay_max: {} is shorter than restart_delay ({})",
                crate::duration::format(restart_delay_max),
                crate::duration::format(restart_delay)
            ),
        );
    }
    if let (None, Some((_, node))) = (restart_limit, limit_interval) {
        c.at(
            node,
            "restart_limit_interval: needs restart_limit (the number of restarts allowed within it)",
        );
    }
    let restart_limit = restart_limit.map(|(restarts, _)| RestartLimit {
        restarts,
        interval: limit_interval.map_or(Duration::from_secs(10), |(d, _)| d),
    });
    // The user and the group each on their own first, so that an unknown
    // user and an unknown group are both reported.
    let mut unknown = false;
    if let Some((u, node)) = &user
        && let Err(e) = users.resolve(Some(u), None)
    {
        c.at(*node, e.to_string());
        unknown = true;
    }
    if let Some((g, node)) = &group
        && let Err(e) = users.resolve(None, Some(g))
    {
        c.at(*node, e.to_string());
        unknown = true;
    }
    let credentials = match (&user, &group) {
        (None, None) => None,
        _ if unknown => None,
        _ => {
            let u = user.as_ref().map(|(t, _)| t.as_str());
            let g = group.as_ref().map(|(t, _)| t.as_str());
            match users.resolve(u, g) {
                Ok(creds) => Some(creds),
                // Each resolved alone: not expected, but reported.
                Err(e) => {
                    let node = user.as_ref().or(group.as_ref()).map_or(&root, |(_, n)| *n);
                    c.at(node, e.to_string());
                    None
                }
            }
        }
    };
    if let Some(node) = restart_mode_node
        && restart_mode == RestartMode::Overlap
        && kind != Kind::Notify
    {
        c.at(
            node,
            "restart_mode: overlap needs a readiness foster can see (type: notify): the old run is stopped once the new one is ready",
        );
    }
    if let Some((_, node)) = log_file
        && !log.is_relayed()
    {
        c.at(
            node,
            "log_file: needs log: prefix or plain (foster does not read the output of log: inherit or none)",
        );
    }
    for node in [log_max_size.map(|(_, n)| n), log_keep.map(|(_, n)| n)]
        .into_iter()
        .flatten()
    {
        if log_file.is_none() {
            c.at(node, "this key is for log_file: it needs one");
        }
    }
    if let Some((true, node)) = log_timestamps
        && !log.is_relayed()
    {
        c.at(
            node,
            "log_timestamps: needs log: prefix or plain (foster does not read the output of log: inherit or none)",
        );
    }
    if let Some(node) = readiness_node
        && kind != Kind::Simple
    {
        c.at(
            node,
            "health: readiness: true is for type: simple (a notify service says READY=1, a forking one is ready once its daemon is known, a oneshot once it exits)",
        );
    }
    if let Some(node) = watchdog_node
        && watchdog.is_some()
        && kind == Kind::Oneshot
    {
        c.at(
            node,
            "watchdog: a oneshot is never running and ready, so its watchdog would never be armed",
        );
    }
    if let Some(node) = watchdog_node
        && watchdog.is_some_and(|d| d < Duration::from_millis(1))
    {
        c.at(node, "watchdog: must be at least 1ms");
    }
    for dep in &deps {
        if dep.value == name {
            c.at(
                dep,
                format!("depends_on: \"{name}\" cannot depend on itself"),
            );
        }
    }
    let first_warning = warnings.len();
    let mut machine = Machine {
        file: path,
        probe,
        warnings,
    };
    if let (Some(argv), Some(node)) = (&command, command_node) {
        let search_path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or_else(|| probe.search_path(), |(_, v)| v.clone());
        let workdir = workdir.as_deref().unwrap_or(Path::new("/"));
        let script = match &node.value {
            Node::Str(script) => shell_program(script),
            _ => None,
        };
        for program in argv.first().map(String::as_str).into_iter().chain(script) {
            machine.program(node, program, &search_path, workdir);
        }
    }
    if let (Some(dir), Some(node)) = (&workdir, workdir_node)
        && !probe.directory_exists(dir)
    {
        machine.at(
            node,
            format!("workdir: directory \"{}\" does not exist", dir.display()),
        );
    }
    // Debian's users without a home have /nonexistent on purpose.
    if let (Some(creds), Some((_, node))) = (&credentials, &user)
        && creds.home != "/nonexistent"
        && !probe.directory_exists(Path::new(&creds.home))
    {
        machine.at(
            node,
            format!(
                "user: home directory \"{}\" of \"{}\" does not exist",
                creds.home, creds.name
            ),
        );
    }
    // In the order of the file, whichever check found them.
    if let Some(own) = warnings.get_mut(first_warning..) {
        own.sort_by_key(|p| (p.line, p.column));
    }
    if !c.problems.is_empty() {
        c.problems.sort_by_key(|p| (p.line, p.column));
        return Err(c.problems);
    }
    let restart = restart.unwrap_or(if kind == Kind::Oneshot {
        Restart::Never
    } else {
        Restart::OnFailure
    });
    let unit = Unit {
        name: name.to_string(),
        path: path.to_path_buf(),
        command: command.unwrap_or_default(),
        kind,
        pidfile: pidfile.map(|p| p.value),
        depends_on: deps.iter().map(|d| d.value.clone()).collect(),
        restart,
        restart_delay,
        restart_delay_max,
        stop_signal,
        stop_timeout,
        reload_signal,
        start_timeout,
        credentials,
        workdir,
        env,
        critical,
        log,
        kill_mode,
        restart_limit,
        env_files,
        autostart,
        sockets,
        fd_store,
        restart_mode,
        watchdog,
        watchdog_signal,
        health,
        log_timestamps: log_timestamps.map(|(b, _)| b),
        log_buffer,
        log_file: log_file.map(|(path, _)| super::LogFileSpec {
            path,
            max_size: log_max_size.map_or(super::DEFAULT_LOG_MAX_SIZE, |(n, _)| n),
            keep: log_keep.map_or(super::DEFAULT_LOG_KEEP, |(n, _)| n),
        }),
        limits,
        umask,
        nice,
        oom_score_adj,
        no_new_privs,
        capabilities,
        cgroup_limits,
    };
    Ok(Parsed {
        unit,
        deps,
        socket_at,
    })
}

/// A size in bytes: a whole number, with `K`, `M` or `G` (1024-based).
fn log_buffer_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (number, shift) = match text.strip_suffix(['K', 'M', 'G']) {
        Some(n) if text.ends_with('K') => (n, 10),
        Some(n) if text.ends_with('M') => (n, 20),
        Some(n) => (n, 30),
        None => (text, 0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<usize>().ok()?.checked_mul(1usize << shift)
}

/// The entries of a mapping, each key once. A key given again is a problem
/// at the repeat, naming where it was first given; the repeat is then not
/// looked at (YAML requires unique keys: which one would win is a guess).
pub(super) fn unique<'n>(
    c: &mut Checker<'_>,
    context: &str,
    entries: &'n [(Spanned<String>, Spanned<Node>)],
) -> Vec<&'n (Spanned<String>, Spanned<Node>)> {
    let mut first: std::collections::HashMap<&str, &Spanned<String>> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for entry in entries {
        let key = &entry.0;
        match first.get(key.value.as_str()) {
            Some(earlier) => {
                let (line, column) = (earlier.referenced.line(), earlier.referenced.column());
                c.at(
                    key,
                    format!(
                        "{context}duplicate key `{}` (first at {line}:{column})",
                        key.value
                    ),
                );
            }
            None => {
                first.insert(key.value.as_str(), key);
                out.push(entry);
            }
        }
    }
    out
}
