//! A unit's warnings: what the machine `--check` runs on says about it (a
//! command not found or not executable), through a [`Probe`].

use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use super::Problem;
use super::check::{Probe, Probed};
use super::yaml::Node;

/// Collects the warnings of one file: what the machine checked says about
/// a unit (see [`Probe`]).
pub(super) struct Machine<'a> {
    pub(super) file: &'a Path,
    pub(super) probe: &'a dyn Probe,
    pub(super) warnings: &'a mut Vec<Problem>,
}

impl Machine<'_> {
    pub(super) fn at<T>(&mut self, node: &Spanned<T>, message: String) {
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
    pub(super) fn program(
        &mut self,
        node: &Spanned<Node>,
        program: &str,
        search_path: &str,
        workdir: &Path,
    ) {
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
