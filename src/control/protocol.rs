//! The control protocol, as foster and `fosterctl` both speak it: defined
//! here once, for the two of them.
//!
//! One request per connection, on the socket at [`DEFAULT_SOCKET`] unless
//! `--socket` or [`SOCKET_VARIABLE`] says otherwise: a single line of
//! words (`status --json web`, `stop db`, `kill web USR1`, `shutdown`),
//! at most [`MAX_REQUEST`] bytes, its first word a [`Verb`]. One reply: a
//! first line `ok`, `down` (asked-about services are not all up) or
//! `error: REASON`, then the body ([`Outcome`]). Anything else (too long,
//! not UTF-8, unknown verb, unknown service) gets an error reply and
//! changes nothing.
//!
//! foster reads a request with [`parse`] and writes its answer with
//! [`Reply::render`]; fosterctl checks its command against [`Verb`], makes
//! the line with [`request_line`], reads the answer with [`Reply::read`]
//! and exits with [`Outcome::exit_code`]. `status --json` objects carry
//! the fields [`STATUS_FIELDS`].

/// Where the control socket is when `--socket` does not say (for foster)
/// and neither does [`SOCKET_VARIABLE`] (for both).
pub const DEFAULT_SOCKET: &str = "/run/foster/control.sock";

/// The environment variable that names the control socket.
pub const SOCKET_VARIABLE: &str = "FOSTER_SOCKET";

/// Longest request line accepted.
pub const MAX_REQUEST: usize = 4096;

/// The fields of each object in `status --json`'s list, in order: `name`,
/// `state`, `pid` (null when none), `restarts`, `last_exit` (the
/// shell-style status, null when none), `uptime_seconds`, `type`,
/// `pid_source` (`child`, `pidfile`, `guessed`, `notify`), `pids` (every
/// process watched: more than one for a guessed set), `status`, `since`
/// (when the current state began, RFC 3339 UTC), `command` (the argv
/// list), `problems` (why a unit is `invalid`; empty otherwise),
/// `sockets` (the sockets foster holds for it: `{name, listen, fd}`),
/// `stored_fds` (what its fd store keeps: `{name, count}`),
/// `last_exit_reason` (why its last run ended: `exited`, `signal`,
/// `watchdog`, `start-timeout`, `unhealthy`, `oom`; null when none ended
/// yet),
/// `health` (`starting`, `healthy`, `unhealthy`; null without a health
/// check or a run it is for), `failing_streak` (failed probes in a row),
/// `last_health_output` (the first 4 KiB of the last failed probe's
/// output; null when none failed), `limits_enforced` (whether the cgroup
/// limits of its unit were all in place at its latest start; null for a
/// unit without cgroup limits, or one not started yet).
pub const STATUS_FIELDS: [&str; 20] = [
    "name",
    "state",
    "pid",
    "restarts",
    "last_exit",
    "uptime_seconds",
    "type",
    "pid_source",
    "pids",
    "status",
    "since",
    "command",
    "problems",
    "sockets",
    "stored_fds",
    "last_exit_reason",
    "health",
    "failing_streak",
    "last_health_output",
    "limits_enforced",
];

/// The first word of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Status,
    Start,
    Stop,
    Restart,
    Reload,
    Kill,
    Shutdown,
    Poweroff,
    Reboot,
    Halt,
    Logs,
}

impl Verb {
    pub const ALL: [Verb; 11] = [
        Verb::Status,
        Verb::Start,
        Verb::Stop,
        Verb::Restart,
        Verb::Reload,
        Verb::Kill,
        Verb::Shutdown,
        Verb::Poweroff,
        Verb::Reboot,
        Verb::Halt,
        Verb::Logs,
    ];

    /// The word as it is sent.
    pub fn word(self) -> &'static str {
        match self {
            Verb::Status => "status",
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
            Verb::Reload => "reload",
            Verb::Kill => "kill",
            Verb::Shutdown => "shutdown",
            Verb::Poweroff => "poweroff",
            Verb::Reboot => "reboot",
            Verb::Halt => "halt",
            Verb::Logs => "logs",
        }
    }

    /// The verb `word` is, if it is one (exactly: verbs are lower case).
    pub fn from_word(word: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.word() == word)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Status {
        names: Vec<String>,
        json: bool,
    },
    Start(Vec<String>, Wait),
    Stop(Vec<String>, Wait),
    Restart(Vec<String>, Wait),
    /// No names: re-read the services directory.
    Reload(Vec<String>),
    Kill {
        name: String,
        signal: i32,
    },
    Shutdown,
    /// `poweroff`, `reboot`, `halt`: shut down, then (as a machine's init)
    /// end with that `reboot(2)` call.
    Power(crate::supervisor::Power),
    /// `logs [-n N] [-f] [NAME...]`: the last `lines` lines of the named
    /// services (every service and foster's own when none is named); with
    /// `follow`, the connection stays open and new lines follow.
    Logs {
        names: Vec<String>,
        lines: usize,
        follow: bool,
    },
}

/// How many lines `logs` shows unless `-n` says.
pub const DEFAULT_LOG_LINES: usize = 100;
/// The most `logs -n` may ask for.
pub const MAX_LOG_LINES: usize = 100_000;

/// Whether a `start`, `stop` or `restart` is answered at once (`No`: the
/// request was taken) or once every named service has got where it was
/// sent, or failed to (`Yes`: the line's first word after the verb is
/// [`WAIT_OPTION`], as fosterctl sends by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    No,
    Yes,
}

/// The word after `start`, `stop` or `restart` that asks for [`Wait::Yes`].
pub const WAIT_OPTION: &str = "--wait";

/// How a reply begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The request worked, and some service asked about is not up.
    Down,
    Error,
}

impl Outcome {
    /// The word a reply's first line begins with (`error` is followed by
    /// `: REASON`).
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Down => "down",
            Outcome::Error => "error",
        }
    }

    /// fosterctl's exit status for a reply that begins so: 0, 3 for a
    /// service asked about that is not up (`fosterctl status web` as a
    /// probe), 1 for a refusal.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Down => 3,
            Outcome::Error => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub outcome: Outcome,
    /// For `Error`, the one-line reason; otherwise the body.
    pub text: String,
}

/// A reply whose first line begins in none of the ways a reply does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unexpected<'a> {
    pub first_line: &'a str,
    /// What followed the first line.
    pub body: &'a str,
}

impl Reply {
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply {
            outcome: Outcome::Ok,
            text: text.into(),
        }
    }

    pub fn error(reason: impl Into<String>) -> Reply {
        Reply {
            outcome: Outcome::Error,
            text: reason.into(),
        }
    }

    /// The bytes sent back.
    pub fn render(&self) -> Vec<u8> {
        let mut out = match self.outcome {
            Outcome::Ok | Outcome::Down => format!("{}\n", self.outcome.word()),
            Outcome::Error => format!(
                "{}: {}\n",
                Outcome::Error.word(),
                self.text.replace('\n', " ")
            ),
        };
        if self.outcome != Outcome::Error {
            out.push_str(&self.text);
        }
        out.into_bytes()
    }

    /// Reads back what [`Reply::render`] wrote (fosterctl's side). An
    /// error's reason is its first line; anything after it is not part of
    /// the reply.
    pub fn read(reply: &str) -> Result<Reply, Unexpected<'_>> {
        let (first, body) = reply.split_once('\n').unwrap_or((reply, ""));
        if let Some(reason) = first
            .strip_prefix(Outcome::Error.word())
            .and_then(|rest| rest.strip_prefix(": "))
        {
            return Ok(Reply::error(reason));
        }
        let outcome = [Outcome::Ok, Outcome::Down]
            .into_iter()
            .find(|o| o.word() == first);
        match outcome {
            Some(outcome) => Ok(Reply {
                outcome,
                text: body.to_string(),
            }),
            None => Err(Unexpected {
                first_line: first,
                body,
            }),
        }
    }
}

/// The request line for `words`, newline included; `None` when a word is
/// empty or holds whitespace, since it would not arrive as that one word.
pub fn request_line(words: &[String]) -> Option<String> {
    if words
        .iter()
        .any(|w| w.contains(char::is_whitespace) || w.is_empty())
    {
        return None;
    }
    Some(format!("{}\n", words.join(" ")))
}

/// Parses one request line.
pub fn parse(bytes: &[u8]) -> Result<Request, String> {
    let line = std::str::from_utf8(bytes).map_err(|_| "the request is not UTF-8".to_string())?;
    let mut words = line.split_ascii_whitespace();
    let first = words.next().ok_or("empty request")?;
    let rest: Vec<String> = words.map(str::to_string).collect();
    let Some(verb) = Verb::from_word(first) else {
        return Err(format!(
            "unknown request \"{}\"",
            first.chars().take(40).collect::<String>()
        ));
    };
    let names = |rest: Vec<String>| -> Result<Vec<String>, String> {
        if rest.is_empty() {
            Err(format!("{} needs at least one service name", verb.word()))
        } else {
            Ok(rest)
        }
    };
    let no_arguments = |request: Request| -> Result<Request, String> {
        if rest.is_empty() {
            Ok(request)
        } else {
            Err(format!("{} takes no arguments", verb.word()))
        }
    };
    match verb {
        Verb::Status => {
            let json = rest.iter().any(|w| w == "--json");
            let names = rest.into_iter().filter(|w| w != "--json").collect();
            Ok(Request::Status { names, json })
        }
        Verb::Start | Verb::Stop | Verb::Restart => {
            let (wait, rest) = match rest.split_first() {
                Some((first, others)) if first == WAIT_OPTION => (Wait::Yes, others.to_vec()),
                _ => (Wait::No, rest),
            };
            let names = names(rest)?;
            Ok(match verb {
                Verb::Start => Request::Start(names, wait),
                Verb::Stop => Request::Stop(names, wait),
                _ => Request::Restart(names, wait),
            })
        }
        Verb::Reload => Ok(Request::Reload(rest)),
        Verb::Kill => match rest.as_slice() {
            [name, sig] => {
                let signal = crate::signal::parse(sig).map_err(|e| e.to_string())?;
                Ok(Request::Kill {
                    name: name.clone(),
                    signal,
                })
            }
            _ => Err("usage: kill NAME SIGNAL".into()),
        },
        Verb::Shutdown => no_arguments(Request::Shutdown),
        Verb::Poweroff => no_arguments(Request::Power(crate::supervisor::Power::Poweroff)),
        Verb::Reboot => no_arguments(Request::Power(crate::supervisor::Power::Reboot)),
        Verb::Halt => no_arguments(Request::Power(crate::supervisor::Power::Halt)),
        Verb::Logs => {
            let (mut names, mut lines, mut follow) = (Vec::new(), DEFAULT_LOG_LINES, false);
            let mut words = rest.into_iter();
            while let Some(word) = words.next() {
                match word.as_str() {
                    "-f" | "--follow" => follow = true,
                    "-n" | "--lines" => {
                        let n = words.next().ok_or("logs: -n needs a number of lines")?;
                        lines = match n.parse::<usize>() {
                            Ok(n) if n <= MAX_LOG_LINES => n,
                            _ => {
                                return Err(format!(
                                    "logs: -n takes 0 to {MAX_LOG_LINES} lines, not \"{}\"",
                                    n.chars().take(20).collect::<String>()
                                ));
                            }
                        };
                    }
                    _ => names.push(word),
                }
            }
            Ok(Request::Logs {
                names,
                lines,
                follow,
            })
        }
    }
}

/// A control client awaiting its reply: the server's name for its
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Client(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            parse(b"status\n"),
            Ok(Request::Status {
                names: vec![],
                json: false
            })
        );
        assert_eq!(
            parse(b"status --json web db"),
            Ok(Request::Status {
                names: vec!["web".into(), "db".into()],
                json: true
            })
        );
        assert_eq!(
            parse(b"stop a b"),
            Ok(Request::Stop(vec!["a".into(), "b".into()], Wait::No))
        );
        assert_eq!(
            parse(b"restart --wait a --wait"),
            Ok(Request::Restart(
                vec!["a".into(), "--wait".into()],
                Wait::Yes
            ))
        );
        assert!(parse(b"start --wait").is_err());
        assert_eq!(parse(b"reload"), Ok(Request::Reload(vec![])));
        assert_eq!(
            parse(b"kill web usr1"),
            Ok(Request::Kill {
                name: "web".into(),
                signal: libc::SIGUSR1
            })
        );
        assert_eq!(parse(b"shutdown"), Ok(Request::Shutdown));
    }

    #[test]
    fn refuses_malformed_requests() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"start").is_err());
        assert!(parse(b"kill web").is_err());
        assert!(parse(b"kill web NOPE").is_err());
        assert!(parse(b"shutdown now").is_err());
        assert_eq!(
            parse(b"reboot\n"),
            Ok(Request::Power(crate::supervisor::Power::Reboot))
        );
        assert_eq!(
            parse(b"poweroff"),
            Ok(Request::Power(crate::supervisor::Power::Poweroff))
        );
        assert_eq!(
            parse(b"halt"),
            Ok(Request::Power(crate::supervisor::Power::Halt))
        );
        assert!(parse(b"reboot now").is_err());
        assert_eq!(parse(b"rm -rf /"), Err("unknown request \"rm\"".into()));
    }

    #[test]
    fn refusals_name_the_verb() {
        assert_eq!(
            parse(b"restart"),
            Err("restart needs at least one service name".into())
        );
        assert_eq!(
            parse(b"shutdown now"),
            Err("shutdown takes no arguments".into())
        );
        assert_eq!(parse(b"halt now"), Err("halt takes no arguments".into()));
        assert_eq!(parse(b"Status"), Err("unknown request \"Status\"".into()));
    }

    #[test]
    fn replies_render() {
        assert_eq!(Reply::ok("body\n").render(), b"ok\nbody\n");
        assert_eq!(
            Reply::error("no such\nservice").render(),
            b"error: no such service\n"
        );
    }

    #[test]
    fn replies_read_back_as_rendered() {
        let down = Reply {
            outcome: Outcome::Down,
            text: "web stopped\n".into(),
        };
        for reply in [Reply::ok("body\n"), Reply::ok(""), down, Reply::error("no")] {
            let text = String::from_utf8(reply.render()).expect("UTF-8");
            assert_eq!(Reply::read(&text), Ok(reply));
        }
        // An error's reason is its line; what follows is no part of it.
        assert_eq!(Reply::read("error: x\nmore\n"), Ok(Reply::error("x")));
        assert_eq!(
            Reply::read("error:x\nbody\n"),
            Err(Unexpected {
                first_line: "error:x",
                body: "body\n"
            })
        );
        assert_eq!(Reply::read("ok"), Ok(Reply::ok("")));
    }

    #[test]
    fn request_lines_keep_their_words() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            request_line(&words(&["kill", "web", "USR1"])).as_deref(),
            Some("kill web USR1\n")
        );
        assert_eq!(request_line(&words(&["stop", "a b"])), None);
        assert_eq!(request_line(&words(&["stop", ""])), None);
        let line = request_line(&words(&["status", "--json", "web"])).expect("a line");
        assert_eq!(
            parse(line.trim_end().as_bytes()),
            Ok(Request::Status {
                names: vec!["web".into()],
                json: true
            })
        );
    }

    #[test]
    fn every_verb_parses_from_its_word() {
        for verb in Verb::ALL {
            assert_eq!(Verb::from_word(verb.word()), Some(verb));
            let refused = parse(verb.word().as_bytes())
                .err()
                .unwrap_or_default()
                .starts_with("unknown request");
            assert!(!refused, "{}", verb.word());
        }
    }

    #[test]
    fn the_help_texts_name_the_default_socket() {
        assert!(crate::cli::USAGE.contains(DEFAULT_SOCKET));
        assert!(crate::cli::USAGE.contains(SOCKET_VARIABLE));
    }
}
