//! Checking a set of units together: each file on its own (`parse`), then
//! what only the whole set shows — invalid and duplicate names, unknown
//! dependencies, dependency cycles. Pure: no file system, so `foster
//! --check`, the fuzz target and the tests all run it on text. What the
//! machine says about a unit (is its command there, its working
//! directory?) is asked of a [`Probe`]: `foster --check` asks the host,
//! the fuzz target, the tests and a reload a stand-in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::load::Unreadable;
use super::parse::{Parsed, parse_unit};
use super::{Problem, Unit};
use crate::users::UserDb;

/// What a services directory holds: the units that can run, in a stable
/// order, and every problem found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub units: BTreeMap<String, Unit>,
    pub problems: Vec<Problem>,
    /// Names whose file exists but has a problem: on a reload, their
    /// running version is kept rather than stopped as removed.
    pub invalid: BTreeSet<String>,
    /// What may be wrong but does not make a unit invalid (the machine it
    /// runs on may differ from the one checked): a command not found, a
    /// missing working directory, an entry of the directory that is not a
    /// unit file. In file order, each file's in line order.
    pub warnings: Vec<Problem>,
}

impl Loaded {
    /// Every problem of the unit named `name` (in a file `NAME.yaml` or
    /// `NAME.yml`), in order: what an invalid unit is shown with.
    pub fn problems_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Problem> + 'a {
        self.problems.iter().filter(move |p| {
            p.file.file_name().is_some_and(super::is_unit_file_name)
                && p.file.file_stem().and_then(|s| s.to_str()) == Some(name)
        })
    }
}

/// The PATH searched when neither the unit nor the environment gives one,
/// as `execvp(3)` would.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a file-system path is, as far as running a program goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probed {
    /// A file with execute permission.
    Executable,
    /// There, but not an executable file (no execute bit, a directory, or
    /// not reachable).
    NotExecutable,
    /// Nothing there.
    Missing,
}

/// What the checks ask of the machine. [`HostProbe`](super::HostProbe)
/// asks the file system; [`NoProbe`] finds nothing wrong.
pub trait Probe {
    /// What `path` (absolute) is, following symbolic links.
    fn executable(&self, path: &Path) -> Probed;
    /// Whether `path` is a directory, following symbolic links.
    fn directory_exists(&self, path: &Path) -> bool;
    /// The PATH a command is looked up in when its unit's `env:` has none.
    fn search_path(&self) -> String {
        DEFAULT_PATH.to_string()
    }
}

/// A probe that finds every program and every directory: for the fuzz
/// target, the tests, and a reload, where PID 1 does not walk the PATH or
/// touch a remote mount that might hang (the start itself reports what is
/// missing).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {
    fn executable(&self, _: &Path) -> Probed {
        Probed::Executable
    }
    fn directory_exists(&self, _: &Path) -> bool {
        true
    }
}

/// Checks the unit files of a services directory, as read: each `(path,
/// its bytes or why they could not be had)`, in the directory's order.
/// The service name is the file name without its extension. Pure: this is
/// all of `foster --check` but the reading, and what the fuzz target runs;
/// `probe` answers what the machine has (see [`Probe`]).
pub fn check_files(
    files: Vec<(PathBuf, Result<Vec<u8>, Unreadable>)>,
    users: &UserDb,
    probe: &dyn Probe,
) -> Loaded {
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
    let Checked {
        units,
        problems,
        warnings,
    } = check_units(&texts, users, probe);
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
        warnings,
    }
}

/// What [`check_units`] found.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub(super) units: BTreeMap<String, Unit>,
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
}

/// Checks a set of unit texts `(name, path, text)` together: each one on
/// its own, then dependencies across them (unknown names, cycles). A file
/// that could not be read (`Err`) is a problem and still claims its name:
/// a second file of that name is a duplicate, and a dependency on it is
/// not unknown. Pure, so it is tested without a directory.
pub(super) fn check_units(
    texts: &[(String, PathBuf, Result<String, Unreadable>)],
    users: &UserDb,
    probe: &dyn Probe,
) -> Checked {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
    // Each name claimed, with the file that claimed it first.
    let mut names: BTreeMap<String, &Path> = BTreeMap::new();
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
                    names.entry(name.clone()).or_insert(path);
                }
                continue;
            }
        };
        if !valid_name(name) {
            problems.push(Problem {
                file: path.clone(),
                line: 0,
                column: 0,
                message: format!(
                    "invalid service name \"{name}\" (use letters, digits, '-', '_', '.' and '@')"
                ),
            });
            continue;
        }
        if let Some(first) = names.get(name) {
            problems.push(Problem {
                file: path.clone(),
                line: 0,
                column: 0,
                message: format!(
                    "a unit named \"{name}\" is also defined by {}",
                    first.display()
                ),
            });
            continue;
        }
        names.insert(name.clone(), path);
        match parse_unit(name, path, text, users, probe, &mut warnings) {
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
            if !names.contains_key(&dep.value) {
                problems.push(Problem {
                    file: p.unit.path.clone(),
                    line: dep.referenced.line(),
                    column: dep.referenced.column(),
                    message: format!("depends_on: unknown service \"{}\"", dep.value),
                });
            }
        }
    }
    // A socket is held for one service: the same address and type in two
    // units is reported at the second (in name order).
    let mut held: BTreeMap<(String, &'static str), &str> = BTreeMap::new();
    for (name, p) in &parsed {
        for (spec, &(line, column)) in p.unit.sockets.iter().zip(&p.socket_at) {
            let key = (spec.listen.to_string(), spec.kind.as_str());
            match held.get(&key) {
                Some(first) => problems.push(Problem {
                    file: p.unit.path.clone(),
                    line,
                    column,
                    message: format!(
                        "sockets: {} ({}) is already held for service \"{first}\"",
                        key.0, key.1
                    ),
                }),
                None => {
                    held.insert(key, name.as_str());
                }
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
    Checked {
        units,
        problems,
        warnings,
    }
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
