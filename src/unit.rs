//! Unit files: one YAML file per service in the services directory.
//!
//! Each file is read into a tree where every node keeps its line and column
//! (serde-saphyr's `Spanned`), and then checked by hand rather than by a
//! derived `Deserialize`: serde stops at the first error, while an operator
//! fixing a unit wants every problem at once, each as `FILE:LINE:COL:
//! message` pointing at the key or value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::users::{Credentials, UserDb};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    Inherit,
    Prefix,
}

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
    /// the file as a whole (line 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
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
struct Parsed {
    unit: Unit,
    deps: Vec<Spanned<String>>,
}

/// Checks one unit file's text. `name` is the service name (the file name
/// without its extension).
fn parse_unit(name: &str, path: &Path, text: &str, users: &UserDb) -> Result<Parsed, Vec<Problem>> {
    let mut c = Checker {
        file: path,
        problems: Vec::new(),
    };
    // YAML 1.2 booleans only: a service named `n` or `y` stays a name.
    let options = serde_saphyr::options! { strict_booleans: true };
    let root: Spanned<Node> = match serde_saphyr::from_str_with_options(text, options) {
        Ok(root) => root,
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let message = e.to_string();
            let message = message
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .trim_start_matches("error: ");
            // serde-saphyr puts the position in the text too; keep it once.
            let message = strip_position(message);
            return Err(vec![Problem {
                file: path.to_path_buf(),
                line,
                column,
                message: format!("invalid YAML: {message}"),
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
    let mut env = Vec::new();
    let mut critical = false;
    let mut log = LogMode::Inherit;

    for (key, value) in &entries {
        match key.value.as_str() {
            "command" => {
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
                let text = match &value.value {
                    Node::Str(s) if !s.is_empty() => Some(s.clone()),
                    Node::Int(n) if *n >= 0 => Some(n.to_string()),
                    other => {
                        let found = other.describe();
                        c.at(
                            value,
                            format!("{}: expected a name or a number, found {found}", key.value),
                        );
                        None
                    }
                };
                let slot = if key.value == "user" {
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
                    for (k, v) in vars {
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
            "log" => {
                if let Some(l) = c.choice(
                    "log",
                    value,
                    &[("inherit", LogMode::Inherit), ("prefix", LogMode::Prefix)],
                ) {
                    log = l;
                }
            }
            other => {
                let hint = closest(other)
                    .map(|k| format!(" (did you mean `{k}`?)"))
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
    let credentials = if user.is_some() || group.is_some() {
        let u = user.as_ref().map(|(t, _)| t.as_str());
        let g = group.as_ref().map(|(t, _)| t.as_str());
        match users.resolve(u, g) {
            Ok(creds) => Some(creds),
            Err(e) => {
                let node = match (&e, &user, &group) {
                    (crate::users::LookupError::UnknownUser(_), Some((_, n)), _) => *n,
                    (_, _, Some((_, n))) => *n,
                    (_, Some((_, n)), None) => *n,
                    (_, None, None) => &root,
                };
                c.at(node, e.to_string());
                None
            }
        }
    } else {
        None
    };
    for dep in &deps {
        if dep.value == name {
            c.at(
                dep,
                format!("depends_on: \"{name}\" cannot depend on itself"),
            );
        }
    }
    if !c.problems.is_empty() {
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
    };
    Ok(Parsed { unit, deps })
}

/// "line 3 column 13: illegal …" → "illegal …".
fn strip_position(message: &str) -> &str {
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
    {
        return after;
    }
    message
}

/// The known key nearest to a misspelt one, if it is close (at most 2
/// edits). Only keys whose length is within 2 of the misspelt one's are
/// compared: a file of a million bytes of unknown keys must not keep PID 1
/// computing hints.
fn closest(key: &str) -> Option<&'static str> {
    let len = key.chars().count();
    KEYS.iter()
        .filter(|k| k.len().abs_diff(len) <= 2)
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance in characters, with two rows reused for all of `a`.
fn edit_distance(a: &str, b: &str) -> usize {
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

/// What a services directory holds: the units that can run, in a stable
/// order, and every problem found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub units: BTreeMap<String, Unit>,
    pub problems: Vec<Problem>,
    /// Names whose file exists but has a problem: on a reload, their
    /// running version is kept rather than stopped as removed.
    pub invalid: BTreeSet<String>,
}

/// The largest unit file foster reads. A unit is a few lines; a stray
/// 50 MB file must not swell PID 1 (read whole, then parsed, it took foster
/// to 232 MB on a reload).
pub const MAX_UNIT_FILE: u64 = 1 << 20;

/// What a directory entry named like a unit file is, when it is not a
/// regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Symlink,
    Other,
}

impl FileKind {
    /// `None` for a regular file.
    pub fn of(file_type: std::fs::FileType) -> Option<FileKind> {
        use std::os::unix::fs::FileTypeExt;
        let kind = if file_type.is_file() {
            return None;
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else if file_type.is_socket() {
            FileKind::Socket
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        Some(kind)
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Symlink => "a symbolic link",
            FileKind::Other => "neither a file nor a directory",
        })
    }
}

/// Why an entry named like a unit file was not read as one.
#[derive(Debug)]
pub enum Unreadable {
    /// `open(2)` failed.
    Open(std::io::Error),
    /// A symbolic link whose target does not exist.
    DanglingSymlink,
    NotRegular(FileKind),
    /// Larger than [`MAX_UNIT_FILE`]: its size, or `None` when it grew
    /// past the limit while it was read.
    TooLarge(Option<u64>),
    /// `fstat(2)` or `read(2)` failed.
    Read(std::io::Error),
    /// The bytes are not UTF-8: the offset of the first bad one.
    NotUtf8(usize),
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::Open(e) => write!(f, "cannot open: {e}"),
            Unreadable::DanglingSymlink => {
                f.write_str("a symbolic link to nothing (its target does not exist)")
            }
            Unreadable::NotRegular(kind) => write!(f, "not a regular file ({kind})"),
            Unreadable::TooLarge(size) => {
                match size {
                    Some(size) => write!(f, "too large ({size} bytes")?,
                    None => write!(f, "too large (more than {MAX_UNIT_FILE} bytes")?,
                }
                f.write_str("; a unit file is at most 1 MiB)")
            }
            Unreadable::Read(e) => write!(f, "cannot read: {e}"),
            Unreadable::NotUtf8(at) => {
                write!(f, "not UTF-8 text (an invalid byte at offset {at})")
            }
        }
    }
}

/// Whether a services directory's entry of this name is a unit file:
/// `*.yaml` or `*.yml`, not hidden.
pub fn is_unit_file_name(name: &std::ffi::OsStr) -> bool {
    let path = Path::new(name);
    let hidden = name.as_encoded_bytes().starts_with(b".");
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    yaml && !hidden
}

/// Reads every unit file in `dir` (see [`is_unit_file_name`]). An entry
/// named like one that cannot be read as a unit (a directory, a FIFO, a
/// socket, a device, a dangling symlink, a file over [`MAX_UNIT_FILE`], an
/// unreadable one) is a problem, never skipped in silence.
pub fn load_dir(dir: &Path, users: &UserDb) -> Loaded {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return Loaded {
                problems: vec![Problem {
                    file: dir.to_path_buf(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read the services directory: {e}"),
                }],
                ..Loaded::default()
            };
        }
    };
    let mut found: Vec<(PathBuf, Option<std::fs::FileType>)> = entries
        .filter_map(Result::ok)
        .filter(|e| is_unit_file_name(&e.file_name()))
        .map(|e| (e.path(), e.file_type().ok()))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let files = found
        .into_iter()
        .map(|(path, file_type)| {
            // What the directory says the entry is: what is plainly not a
            // file (a FIFO, a device) is never opened. A regular file or a
            // symlink is opened, and judged by what was opened.
            let bytes = match file_type.and_then(FileKind::of) {
                Some(kind) if kind != FileKind::Symlink => Err(Unreadable::NotRegular(kind)),
                _ => read_unit_file(&path),
            };
            (path, bytes)
        })
        .collect();
    check_files(files, users)
}

/// A unit file's bytes, at most [`MAX_UNIT_FILE`] of them, from whatever
/// `path` names by the time it is opened.
///
/// The entry may have been replaced since the directory was read: a FIFO
/// renamed onto `x.yaml` in between would block a plain `open(2)` until
/// some writer came, and PID 1 with it. So: `O_NONBLOCK` (an open that
/// never waits; it has no effect on reading a regular file), `O_NOCTTY`
/// (a terminal never becomes foster's), then `fstat(2)` on the descriptor
/// itself, so that what is judged is what was opened, and a read of at
/// most one byte over the limit, so that a file growing meanwhile is still
/// refused. (std adds `O_CLOEXEC`.)
fn read_unit_file(path: &Path) -> Result<Vec<u8>, Unreadable> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| why_not_opened(path, e))?;
    let meta = file.metadata().map_err(Unreadable::Read)?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(Unreadable::NotRegular(kind));
    }
    if meta.len() > MAX_UNIT_FILE {
        return Err(Unreadable::TooLarge(Some(meta.len())));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_UNIT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Read)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_UNIT_FILE) {
        return Err(Unreadable::TooLarge(None));
    }
    Ok(bytes)
}

/// Tells an open that failed on what is not a file (a socket refuses
/// `open(2)` with ENXIO) or on a dangling symlink from other failures
/// (`stat(2)`, `lstat(2)`: neither blocks).
fn why_not_opened(path: &Path, e: std::io::Error) -> Unreadable {
    match std::fs::metadata(path) {
        Ok(meta) => match FileKind::of(meta.file_type()) {
            Some(kind) => Unreadable::NotRegular(kind),
            None => Unreadable::Open(e),
        },
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            Unreadable::DanglingSymlink
        }
        Err(_) => Unreadable::Open(e),
    }
}

/// Checks the unit files of a services directory, as read: each `(path,
/// its bytes or why they could not be had)`, in the directory's order.
/// The service name is the file name without its extension. Pure: this is
/// all of `foster --check` but the reading, and what the fuzz target runs.
pub fn check_files(files: Vec<(PathBuf, Result<Vec<u8>, Unreadable>)>, users: &UserDb) -> Loaded {
    let texts: Vec<(String, PathBuf, Result<String, Unreadable>)> = files
        .into_iter()
        .map(|(path, bytes)| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let text = bytes.and_then(|b| {
                String::from_utf8(b).map_err(|e| Unreadable::NotUtf8(e.utf8_error().valid_up_to()))
            });
            (name, path, text)
        })
        .collect();
    let (units, problems) = check_units(&texts, users);
    // Every name with a file that gave no unit: on a reload, the running
    // version of its service is kept.
    let invalid = texts
        .iter()
        .map(|(n, _, _)| n.clone())
        .filter(|n| !units.contains_key(n))
        .collect();
    Loaded {
        units,
        problems,
        invalid,
    }
}

/// Checks a set of unit texts `(name, path, text)` together: each one on
/// its own, then dependencies across them (unknown names, cycles). A file
/// that could not be read (`Err`) is a problem and still claims its name:
/// a second file of that name is a duplicate, and a dependency on it is
/// not unknown. Pure, so it is tested without a directory.
fn check_units(
    texts: &[(String, PathBuf, Result<String, Unreadable>)],
    users: &UserDb,
) -> (BTreeMap<String, Unit>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (name, path, text) in texts {
        let text = match text {
            Ok(text) => text,
            Err(why) => {
                problems.push(Problem {
                    file: path.clone(),
                    line: 0,
                    column: 0,
                    message: why.to_string(),
                });
                if valid_name(name) {
                    names.insert(name.clone());
                }
                continue;
            }
        };
        if !valid_name(name) {
            problems.push(Problem {
                file: path.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "invalid service name \"{name}\" (use letters, digits, '-', '_', '.' and '@')"
                ),
            });
            continue;
        }
        if !names.insert(name.clone()) {
            problems.push(Problem {
                file: path.clone(),
                line: 1,
                column: 1,
                message: format!("a unit named \"{name}\" is already defined by another file"),
            });
            continue;
        }
        match parse_unit(name, path, text, users) {
            Ok(p) => {
                parsed.insert(name.clone(), p);
            }
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    // Unknown dependencies: a name with no file at all. (A dependency whose
    // file is invalid was reported there; at run time it never becomes
    // ready, and the services that need it fail.)
    for p in parsed.values() {
        for dep in &p.deps {
            if !names.contains(&dep.value) {
                problems.push(Problem {
                    file: p.unit.path.clone(),
                    line: dep.referenced.line(),
                    column: dep.referenced.column(),
                    message: format!("depends_on: unknown service \"{}\"", dep.value),
                });
            }
        }
    }
    // Cycles: every unit on one is reported at the dependency that closes it.
    let graph: BTreeMap<&str, Vec<&str>> = parsed
        .iter()
        .map(|(n, p)| {
            (
                n.as_str(),
                p.unit.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut in_cycle = BTreeSet::new();
    for start in graph.keys() {
        if let Some(path) = find_cycle(start, &graph) {
            for n in &path {
                in_cycle.insert(n.to_string());
            }
        }
    }
    for name in &in_cycle {
        if let Some(p) = parsed.get(name)
            && let Some(path) = find_cycle(name, &graph)
        {
            let next = path.get(1).copied().unwrap_or(name.as_str());
            if let Some(dep) = p.deps.iter().find(|d| d.value == next) {
                problems.push(Problem {
                    file: p.unit.path.clone(),
                    line: dep.referenced.line(),
                    column: dep.referenced.column(),
                    message: format!("depends_on: dependency cycle: {}", path.join(" -> ")),
                });
            }
        }
    }
    let units = parsed
        .into_iter()
        .filter(|(n, _)| !in_cycle.contains(n))
        .map(|(n, p)| (n, p.unit))
        .collect();
    (units, problems)
}

/// A path `start -> … -> start` through the graph, if `start` is on a cycle.
fn find_cycle<'a>(start: &'a str, graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
    let mut seen = BTreeSet::new();
    while let Some(&(node, i)) = stack.last() {
        let deps = graph.get(node).map(Vec::as_slice).unwrap_or_default();
        match deps.get(i) {
            None => {
                stack.pop();
            }
            Some(&next) => {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                if next == start {
                    let mut path: Vec<&str> = stack.iter().map(|(n, _)| *n).collect();
                    path.push(start);
                    return Some(path);
                }
                if seen.insert(next) {
                    stack.push((next, 0));
                }
            }
        }
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(files: &[(&str, &str)]) -> (BTreeMap<String, Unit>, Vec<String>) {
        let texts: Vec<(String, PathBuf, Result<String, Unreadable>)> = files
            .iter()
            .map(|(n, t)| {
                (
                    n.to_string(),
                    PathBuf::from(format!("{n}.yaml")),
                    Ok(t.to_string()),
                )
            })
            .collect();
        let users = UserDb::parse(
            "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n",
            "www:x:33:\n",
        );
        let (units, problems) = check_units(&texts, &users);
        (units, problems.iter().map(|p| p.to_string()).collect())
    }

    fn users() -> UserDb {
        UserDb::parse("root:x:0:0::/root:/bin/sh\n", "")
    }

    #[test]
    fn what_is_not_a_readable_unit_file_is_a_problem_with_its_path_not_skipped() {
        let files = vec![
            (PathBuf::from("s/a.yaml"), Ok(b"command: x\n".to_vec())),
            (
                PathBuf::from("s/big.yaml"),
                Err(Unreadable::TooLarge(Some(52_428_800))),
            ),
            (
                PathBuf::from("s/d.yaml"),
                Err(Unreadable::NotRegular(FileKind::Directory)),
            ),
            (
                PathBuf::from("s/grew.yaml"),
                Err(Unreadable::TooLarge(None)),
            ),
            (
                PathBuf::from("s/gone.yml"),
                Err(Unreadable::DanglingSymlink),
            ),
            (
                PathBuf::from("s/latin1.yaml"),
                Ok(b"command: caf\xe9\n".to_vec()),
            ),
            (
                PathBuf::from("s/x.yaml"),
                Err(Unreadable::NotRegular(FileKind::Fifo)),
            ),
        ];
        let loaded = check_files(files, &users());
        let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems,
            [
                "s/big.yaml: too large (52428800 bytes; a unit file is at most 1 MiB)",
                "s/d.yaml: not a regular file (a directory)",
                "s/grew.yaml: too large (more than 1048576 bytes; a unit file is at most 1 MiB)",
                "s/gone.yml: a symbolic link to nothing (its target does not exist)",
                "s/latin1.yaml: not UTF-8 text (an invalid byte at offset 12)",
                "s/x.yaml: not a regular file (a FIFO)",
            ]
        );
        assert_eq!(loaded.units.keys().collect::<Vec<_>>(), ["a"]);
        // Each exists with a problem: a running version is kept on reload.
        assert_eq!(
            loaded.invalid.iter().collect::<Vec<_>>(),
            ["big", "d", "gone", "grew", "latin1", "x"]
        );
    }

    #[test]
    fn an_unreadable_file_still_claims_its_name_so_another_of_that_name_is_a_duplicate() {
        // Found by the unit_file fuzz target: `c` was loaded from c.yml and
        // listed as invalid for c.yaml, both at once. Two files naming one
        // service are refused whatever the first one holds, as when it is
        // readable but wrong.
        let files = vec![
            (PathBuf::from("s/c.yaml"), Ok(b"command: \x81\n".to_vec())),
            (PathBuf::from("s/c.yml"), Ok(b"command: x\n".to_vec())),
            (
                PathBuf::from("s/d.yaml"),
                Err(Unreadable::NotRegular(FileKind::Fifo)),
            ),
            (PathBuf::from("s/d.yml"), Ok(b"command: x\n".to_vec())),
            (
                PathBuf::from("s/e.yaml"),
                Ok(b"command: x\ndepends_on: [d]\n".to_vec()),
            ),
        ];
        let loaded = check_files(files, &users());
        let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems,
            [
                "s/c.yaml: not UTF-8 text (an invalid byte at offset 9)",
                "s/c.yml:1:1: a unit named \"c\" is already defined by another file",
                "s/d.yaml: not a regular file (a FIFO)",
                "s/d.yml:1:1: a unit named \"d\" is already defined by another file",
            ]
        );
        // e depends on d, which has a file: not an unknown service.
        assert_eq!(loaded.units.keys().collect::<Vec<_>>(), ["e"]);
        assert_eq!(loaded.invalid.iter().collect::<Vec<_>>(), ["c", "d"]);
    }

    #[test]
    fn every_kind_of_entry_is_named_in_the_problem() {
        for (kind, text) in [
            (FileKind::Directory, "not a regular file (a directory)"),
            (FileKind::Fifo, "not a regular file (a FIFO)"),
            (FileKind::Socket, "not a regular file (a socket)"),
            (
                FileKind::CharDevice,
                "not a regular file (a character device)",
            ),
            (FileKind::BlockDevice, "not a regular file (a block device)"),
        ] {
            assert_eq!(Unreadable::NotRegular(kind).to_string(), text);
        }
    }

    #[test]
    fn unit_file_names() {
        for yes in ["web.yaml", "web.yml", "a.b.yaml", "x@1.yaml"] {
            assert!(is_unit_file_name(std::ffi::OsStr::new(yes)), "{yes}");
        }
        for no in [
            ".web.yaml",
            ".yaml",
            "web.json",
            "web",
            "web.yaml~",
            "web.YAML",
        ] {
            assert!(!is_unit_file_name(std::ffi::OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn a_problem_with_a_whole_file_has_no_position() {
        let p = Problem {
            file: PathBuf::from("services.d"),
            line: 0,
            column: 0,
            message: "cannot read the services directory: gone".into(),
        };
        assert_eq!(
            p.to_string(),
            "services.d: cannot read the services directory: gone"
        );
    }

    #[test]
    fn full_unit_with_every_key() {
        let (units, problems) = check(&[
            ("db", "command: [\"/bin/true\"]\n"),
            (
                "web",
                "command: [\"/usr/bin/python3\", \"-m\", \"http.server\", 8080]\ntype: notify\ndepends_on: [db]\nrestart: always\nrestart_delay: 500ms\nrestart_delay_max: 1m\nstop_signal: sigint\nstop_timeout: 2\nreload_signal: USR1\nstart_timeout: 10s\nuser: www\nworkdir: /srv\nenv: {PORT: 8080, DEBUG: true}\ncritical: true\nlog: prefix\n",
            ),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let web = &units["web"];
        assert_eq!(
            web.command,
            ["/usr/bin/python3", "-m", "http.server", "8080"]
        );
        assert_eq!(web.kind, Kind::Notify);
        assert_eq!(web.depends_on, ["db"]);
        assert_eq!(web.restart, Restart::Always);
        assert_eq!(web.restart_delay, Duration::from_millis(500));
        assert_eq!(web.restart_delay_max, Duration::from_secs(60));
        assert_eq!(web.stop_signal, libc::SIGINT);
        assert_eq!(web.stop_timeout, Duration::from_secs(2));
        assert_eq!(web.reload_signal, libc::SIGUSR1);
        assert_eq!(
            web.credentials.as_ref().map(|c| (c.uid, c.gid)),
            Some((33, 33))
        );
        assert_eq!(
            web.env,
            [
                ("PORT".to_string(), "8080".to_string()),
                ("DEBUG".to_string(), "true".to_string())
            ]
        );
        assert!(web.critical);
        assert_eq!(web.log, LogMode::Prefix);
    }

    #[test]
    fn defaults() {
        let (units, problems) = check(&[
            ("a", "command: sleep 1\n"),
            ("b", "command: [x]\ntype: oneshot\n"),
        ]);
        assert!(problems.is_empty());
        let a = &units["a"];
        assert_eq!(a.command, ["/bin/sh", "-c", "sleep 1"]);
        assert_eq!(
            (a.kind, a.restart, a.stop_signal),
            (Kind::Simple, Restart::OnFailure, libc::SIGTERM)
        );
        assert_eq!(
            (a.stop_timeout, a.start_timeout),
            (Duration::from_secs(5), Duration::from_secs(30))
        );
        assert_eq!(units["b"].restart, Restart::Never);
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let (units, problems) = check(&[(
            "bad",
            "command: []\nrestrat: always\ntype: daemon\nstop_signal: SIGNOPE\nstop_timeout: soon\npidfile: /run/x.pid\ncritical: maybe\nuser: nobody-here\n",
        )]);
        assert!(units.is_empty());
        assert_eq!(
            problems,
            [
                "bad.yaml:1:10: command: must not be empty",
                "bad.yaml:2:1: unknown key `restrat` (did you mean `restart`?)",
                "bad.yaml:3:7: type: unknown value \"daemon\" (expected simple, oneshot, notify, forking)",
                "bad.yaml:4:14: stop_signal: unknown signal \"SIGNOPE\" (expected a name such as TERM or SIGTERM, RTMIN+N, or a number)",
                "bad.yaml:5:15: stop_timeout: invalid duration \"soon\" (expected e.g. 500ms, 3s, 1.5s, 2m, 1m30s)",
                "bad.yaml:7:11: critical: expected true or false, found a string",
                "bad.yaml:6:10: pidfile: only a `type: forking` service has a pidfile",
                "bad.yaml:8:7: unknown user \"nobody-here\" (not in /etc/passwd)",
            ]
        );
    }

    #[test]
    fn a_restart_delay_over_the_default_max_is_kept_not_capped_at_30s() {
        // Found by the unit_file fuzz target: `restart_delay: 80s` alone
        // left the default cap of 30s under it, so every restart came after
        // 30s, not 80s.
        let (units, problems) = check(&[
            ("slow", "command: x\nrestart_delay: 80s\n"),
            ("fast", "command: x\nrestart_delay: 2s\n"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let slow = &units["slow"];
        assert_eq!(slow.restart_delay, Duration::from_secs(80));
        assert_eq!(slow.restart_delay_max, Duration::from_secs(80));
        assert_eq!(units["fast"].restart_delay_max, Duration::from_secs(30));
    }

    #[test]
    fn a_restart_delay_max_below_restart_delay_quotes_both() {
        let (_, problems) = check(&[(
            "d",
            "command: x\nrestart_delay: 2s\nrestart_delay_max: 1500ms\n",
        )]);
        assert_eq!(
            problems,
            ["d.yaml:3:20: restart_delay_max: 1.5s is shorter than restart_delay (2s)"]
        );
    }

    #[test]
    fn hints_for_misspelt_keys() {
        assert_eq!(closest("restrat"), Some("restart"));
        assert_eq!(closest("comand"), Some("command"));
        assert_eq!(closest("stop_signals"), Some("stop_signal"));
        assert_eq!(closest("dependson"), Some("depends_on"));
        assert_eq!(closest("x"), None);
        assert_eq!(closest(&"restart".repeat(100)), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("héllo", "hello"), 1);
    }

    #[test]
    fn syntax_errors_point_at_the_spot() {
        let (_, problems) = check(&[("s", "command: [a, b\nrestart: 3\n")]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("s.yaml:2:"), "{problems:?}");
        assert!(problems[0].contains("invalid YAML"), "{problems:?}");
    }

    #[test]
    fn missing_command_empty_file_and_wrong_shape() {
        let (_, problems) = check(&[
            ("a", "type: simple\n"),
            ("b", ""),
            ("c", "- just\n- a list\n"),
        ]);
        assert_eq!(problems[0], "a.yaml:1:1: `command` is required");
        assert_eq!(problems[1], "b.yaml:1:1: empty unit: `command` is required");
        assert!(
            problems[2].starts_with("c.yaml:1:1: a unit is a mapping"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_dependencies_and_cycles() {
        let (units, problems) = check(&[
            ("a", "command: x\ndepends_on: [b]\n"),
            ("b", "command: x\ndepends_on:\n  - c\n"),
            ("c", "command: x\ndepends_on: [a]\n"),
            ("d", "command: x\ndepends_on: [ghost, a]\n"),
            ("e", "command: x\ndepends_on: [e]\n"),
        ]);
        assert_eq!(
            problems,
            [
                "e.yaml:2:14: depends_on: \"e\" cannot depend on itself",
                "d.yaml:2:14: depends_on: unknown service \"ghost\"",
                "a.yaml:2:14: depends_on: dependency cycle: a -> b -> c -> a",
                "b.yaml:3:5: depends_on: dependency cycle: b -> c -> a -> b",
                "c.yaml:2:14: depends_on: dependency cycle: c -> a -> b -> c",
            ]
        );
        // d itself is valid (it will fail at run time, its dependencies never
        // being ready); the cycle and the self-dependency are not.
        assert_eq!(units.keys().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn services_named_like_yaml_1_1_booleans_stay_names() {
        let (units, problems) = check(&[
            ("n", "command: x\n"),
            ("y", "command: x\ndepends_on: [n]\n"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(units["y"].depends_on, ["n"]);
    }

    #[test]
    fn bad_names_and_signals_that_cannot_be_caught() {
        let (_, problems) = check(&[
            ("bad name", "command: x\n"),
            ("k", "command: x\nstop_signal: KILL\n"),
        ]);
        assert!(problems[0].contains("invalid service name"));
        assert!(
            problems[1].starts_with("k.yaml:2:14: stop_signal: SIGKILL cannot be caught"),
            "{problems:?}"
        );
    }
}
