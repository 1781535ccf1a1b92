//! One unit file's text into a [`Unit`]: the YAML read into a tree that
//! keeps every node's line and column, then each key checked by hand, every
//! problem collected with its position (see the parent module for why not
//! a derived `Deserialize`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::check::{Probe, Probed};
use super::{EnvFile, KillMode, Kind, LogMode, Problem, Restart, RestartLimit, Unit};
use crate::users::UserDb;

const KEYS: &[&str] = &[
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
];

/// A YAML value with the position of every node.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    fn describe(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// A scalar as text (for env values, signals, durations).
    fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(n) => Some(n.to_string()),
            Node::Float(x) => Some(x.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(i64::try_from(v)
                    .map(Node::Int)
                    .unwrap_or(Node::Float(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<Node>>()?;
                    entries.push((key, value));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

/// Collects problems for one file.
struct Checker<'a> {
    file: &'a Path,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at<T>(&mut self, node: &Spanned<T>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line: node.referenced.line(),
            column: node.referenced.column(),
            message: message.into(),
        });
    }

    fn string(&mut self, key: &str, node: &Spanned<Node>) -> Option<String> {
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

    fn choice<T: Copy>(
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

    fn duration(&mut self, key: &str, node: &Spanned<Node>) -> Option<Duration> {
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

    fn boolean(&mut self, key: &str, node: &Spanned<Node>) -> Option<bool> {
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
    let mut kind = Kind::Simple;
    let mut pidfile: Option<Spanned<PathBuf>> = None;
    let mut deps = Vec::new();
    let mut restart = None;
    let mut restart_delay = Duration::from_secs(1);
    let mut restart_delay_max = Duration::from_secs(30);
    let mut delay_max_node = None;
    let mut stop_signal = libc::SIGTERM;
    let mut stop_timeout = Duration::from_secs(5);
    let mut reload_signal = libc::SIGHUP;
    let mut start_timeout = Duration::from_secs(30);
    let mut user = None;
    let mut group = None;
    let mut workdir = None;
    let mut command_node = None;
    let mut workdir_node = None;
    let mut env = Vec::new();
    let mut critical = false;
    let mut log = LogMode::Inherit;
    let mut kill_mode = KillMode::All;
    let mut restart_limit: Option<(u32, &Spanned<Node>)> = None;
    let mut limit_interval: Option<(Duration, &Spanned<Node>)> = None;
    let mut env_files = Vec::new();
    let mut autostart = true;

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
                    &[("inherit", LogMode::Inherit), ("prefix", LogMode::Prefix)],
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
    };
    Ok(Parsed { unit, deps })
}

/// Collects the warnings of one file: what the machine checked says about
/// a unit (see [`Probe`]).
struct Machine<'a> {
    file: &'a Path,
    probe: &'a dyn Probe,
    warnings: &'a mut Vec<Problem>,
}

impl Machine<'_> {
    fn at<T>(&mut self, node: &Spanned<T>, message: String) {
        self.warnings.push(Problem {
            file: self.file.to_path_buf(),
            line: node.referenced.line(),
            column: node.referenced.column(),
            message,
        });
    }

    /// Warns when `program` is not what `execvp(3)` would run: a name with
    /// a `/` is that file (relative to the working directory); another is
    /// looked up in each directory of `search_path` (an empty or relative
    /// one is in the working directory). A file without execute
    /// permission is passed over, as execvp passes it over.
    fn program(&mut self, node: &Spanned<Node>, program: &str, search_path: &str, workdir: &Path) {
        if program.contains('/') {
            // `components` drops the `.` of `./run.sh`: `/srv/run.sh`.
            let file: PathBuf = workdir.join(program).components().collect();
            let shown = if Path::new(program).is_absolute() {
                String::new()
            } else {
                format!(" ({})", file.display())
            };
            match self.probe.executable(&file) {
                Probed::Executable => {}
                Probed::NotExecutable => self.at(
                    node,
                    format!("command \"{program}\" is not executable{shown}"),
                ),
                Probed::Missing => {
                    self.at(node, format!("command \"{program}\" does not exist{shown}"))
                }
            }
            return;
        }
        let mut not_executable = None;
        for dir in search_path.split(':') {
            let file: PathBuf = workdir.join(dir).join(program).components().collect();
            match self.probe.executable(&file) {
                Probed::Executable => return,
                Probed::NotExecutable => {
                    not_executable.get_or_insert(file);
                }
                Probed::Missing => {}
            }
        }
        let message = match not_executable {
            Some(file) => format!(
                "command \"{program}\" is not executable ({})",
                file.display()
            ),
            None => format!("command \"{program}\" not found on PATH"),
        };
        self.at(node, message);
    }
}

/// Words `/bin/sh` runs itself rather than as a program.
const SHELL_WORDS: &[&str] = &[
    "!", "{", "}", "[", "[[", ".", ":", "alias", "bg", "break", "case", "cd", "command",
    "continue", "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export",
    "false", "fc", "fg", "fi", "for", "getopts", "hash", "if", "in", "jobs", "kill", "local",
    "newgrp", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "then",
    "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while",
];

/// The program a shell command string starts, when that is plain to see:
/// its first word (after an `exec`), if it is a word made only of
/// characters that a shell takes literally and not one the shell runs
/// itself. `nginx -g 'daemon off;'` gives `nginx`; `FOO=1 app`, `$APP`,
/// `cd /srv && ./run` give nothing (not checked).
pub(super) fn shell_program(script: &str) -> Option<&str> {
    let mut words = script.split_whitespace();
    let mut first = words.next()?;
    if first == "exec" {
        first = words.next()?;
    }
    let literal = first
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/+-@%,:".contains(c));
    (literal && !first.starts_with('-') && !SHELL_WORDS.contains(&first)).then_some(first)
}

/// What serde-saphyr found wrong, in words for whoever wrote the file:
/// its own texts name its API ("set DuplicateKeyPolicy in Options", "use
/// from_str_multiple", "use Option<String>", Rust type names, a `Debug`
/// dump of its limits), which a user can do nothing with. The scanner's
/// messages about the text itself ("unclosed quote", "mapping values are
/// not allowed in this context") are YAML's own words and kept.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::{Error as E, MessageFormatter as _};
    let text: &str = match e.without_snippet() {
        E::AliasError { error, .. } => return yaml_message(error),
        E::WithSnippet { error, .. } => return yaml_message(error),
        E::MultipleDocuments { .. } => "a unit file holds one YAML document",
        // Not reached (duplicates are passed through and reported by
        // `unique`), but never with serde-saphyr's advice.
        E::DuplicateMappingKey { key: Some(k), .. } => return format!("duplicate key `{k}`"),
        E::DuplicateMappingKey { key: None, .. } => "duplicate key",
        E::NullIntoString { .. } | E::InvalidCharNull { .. } => {
            "a key is a name such as `command`, found nothing (`~` or `null`)"
        }
        // The tree asks for a string only for a mapping's key.
        E::Unexpected { .. } => "a key is a name such as `command`, not a list or a mapping",
        E::Budget { .. }
        | E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => {
            "too large or too complex for a unit file (too many values, aliases or levels of nesting)"
        }
        E::RecursiveReferencesRequireWeakTypes { .. } => {
            "an alias (*name) inside the value its anchor (&name) names"
        }
        E::UnknownAnchor { .. } => "an alias (*name) with no anchor (&name) before it",
        E::NonFiniteFloat { value, .. } => {
            return format!("`{value}` is not a finite number (quote it to use it as text)");
        }
        E::InvalidScalar { .. } => "a value that its tag (such as `!!int`) does not fit",
        E::BinaryNotUtf8 { .. } => "a `!!binary` value that is not UTF-8 text",
        E::InvalidBinaryBase64 { .. } => "a `!!binary` value that is not base64",
        E::MergeValueNotMapOrSeqOfMaps { .. } => {
            "a merge (`<<:`) takes a mapping or a list of mappings"
        }
        E::Eof { .. } => "the file ends in the middle of a value",
        E::IndentationError { .. } => "wrong indentation",
        E::InvalidUtf8Input => "not UTF-8 text",
        E::ExternalMessage { msg, .. } if msg == "recursion limit exceeded" => {
            "nested too deeply for a unit file"
        }
        other => {
            let message = serde_saphyr::UserMessageFormatter.format_message(other);
            return message.lines().next().unwrap_or("invalid YAML").to_string();
        }
    };
    text.to_string()
}

/// The entries of a mapping, each key once. A key given again is a problem
/// at the repeat, naming where it was first given; the repeat is then not
/// looked at (YAML requires unique keys: which one would win is a guess).
fn unique<'n>(
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
];

/// What an unknown key's message adds in parentheses, if anything.
pub(super) fn key_hint(key: &str) -> Option<String> {
    if key == "healthcheck" {
        return Some("health checks are not a foster key yet".into());
    }
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
    let len = key.chars().count();
    KEYS.iter()
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
