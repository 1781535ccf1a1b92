//! The control protocol spoken on foster's Unix socket by `fosterctl`.
//!
//! One request per connection: a single line of words (`status --json web`,
//! `stop db`, `kill web USR1`, `shutdown`), at most [`MAX_REQUEST`] bytes.
//! One reply: a first line `ok`, `down` (asked-about services are not all
//! up) or `error: REASON`, then the body. Anything else (too long, not
//! UTF-8, unknown verb, unknown service) gets an error reply and changes
//! nothing.

use std::fmt::Write as _;
use std::time::Instant;

use crate::service::Service;

/// Longest request line accepted.
pub const MAX_REQUEST: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Status {
        names: Vec<String>,
        json: bool,
    },
    Start(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
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
}

/// How a reply begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The request worked, and some service asked about is not up.
    Down,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub outcome: Outcome,
    /// For `Error`, the one-line reason; otherwise the body.
    pub text: String,
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
            Outcome::Ok => "ok\n".to_string(),
            Outcome::Down => "down\n".to_string(),
            Outcome::Error => format!("error: {}\n", self.text.replace('\n', " ")),
        };
        if self.outcome != Outcome::Error {
            out.push_str(&self.text);
        }
        out.into_bytes()
    }
}

/// Parses one request line.
pub fn parse(bytes: &[u8]) -> Result<Request, String> {
    let line = std::str::from_utf8(bytes).map_err(|_| "the request is not UTF-8".to_string())?;
    let mut words = line.split_ascii_whitespace();
    let verb = words.next().ok_or("empty request")?;
    let rest: Vec<String> = words.map(str::to_string).collect();
    let names = |rest: Vec<String>, verb: &str| -> Result<Vec<String>, String> {
        if rest.is_empty() {
            Err(format!("{verb} needs at least one service name"))
        } else {
            Ok(rest)
        }
    };
    match verb {
        "status" => {
            let json = rest.iter().any(|w| w == "--json");
            let names = rest.into_iter().filter(|w| w != "--json").collect();
            Ok(Request::Status { names, json })
        }
        "start" => Ok(Request::Start(names(rest, verb)?)),
        "stop" => Ok(Request::Stop(names(rest, verb)?)),
        "restart" => Ok(Request::Restart(names(rest, verb)?)),
        "reload" => Ok(Request::Reload(rest)),
        "kill" => match rest.as_slice() {
            [name, sig] => {
                let signal = crate::signal::parse(sig).map_err(|e| e.to_string())?;
                Ok(Request::Kill {
                    name: name.clone(),
                    signal,
                })
            }
            _ => Err("usage: kill NAME SIGNAL".into()),
        },
        "shutdown" if rest.is_empty() => Ok(Request::Shutdown),
        "shutdown" => Err("shutdown takes no arguments".into()),
        "poweroff" | "reboot" | "halt" if !rest.is_empty() => {
            Err(format!("{verb} takes no arguments"))
        }
        "poweroff" => Ok(Request::Power(crate::supervisor::Power::Poweroff)),
        "reboot" => Ok(Request::Power(crate::supervisor::Power::Reboot)),
        "halt" => Ok(Request::Power(crate::supervisor::Power::Halt)),
        other => Err(format!(
            "unknown request \"{}\"",
            other.chars().take(40).collect::<String>()
        )),
    }
}

/// `NAME STATE PID UPTIME RESTARTS LAST-EXIT` (and the service's own
/// `STATUS=` text when it sent one).
pub fn status_table(services: &[&Service], now: Instant) -> String {
    let mut out = String::new();
    let width = services
        .iter()
        .map(|s| s.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:width$}  {:8}  {:>7}  {:>8}  {:>8}  LAST-EXIT",
        "NAME", "STATE", "PID", "UPTIME", "RESTARTS"
    );
    for s in services {
        let pid = s
            .main_pid()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        let uptime = s.uptime(now).map(human).unwrap_or_else(|| "-".into());
        let last = s
            .last_exit
            .map(|e| e.shell_code().to_string())
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            out,
            "{:width$}  {:8}  {:>7}  {:>8}  {:>8}  {last}",
            s.name(),
            s.state_name(),
            pid,
            uptime,
            s.restarts
        );
        // How the PID was learned, when foster did not start it itself.
        match s.last_source {
            _ if s.main_pid().is_none() => {}
            crate::service::PidSource::Pidfile => out.push_str("  (pid from pidfile)"),
            crate::service::PidSource::Guessed if s.others().is_empty() => {
                out.push_str("  (pid guessed)")
            }
            crate::service::PidSource::Guessed => {
                let _ = write!(out, "  (pid guessed; a set with {} more)", s.others().len());
            }
            crate::service::PidSource::Notify => out.push_str("  (pid from MAINPID)"),
            crate::service::PidSource::Child => {}
        }
        if let Some(text) = s.status_text.as_ref().or(s.reason.as_ref()) {
            let _ = write!(out, "  ({text})");
        }
        out.push('\n');
    }
    out
}

/// A JSON list of objects: `name`, `state`, `pid` (null when none),
/// `restarts`, `last_exit` (the shell-style status, null when none),
/// `uptime_seconds`, `type`, `pid_source` (`child`, `pidfile`, `guessed`,
/// `notify`),
/// `pids` (every process watched: more than one for a guessed set),
/// `status`.
pub fn status_json(services: &[&Service], now: Instant) -> String {
    let mut out = String::from("[");
    for (i, s) in services.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let pid = s
            .main_pid()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "null".into());
        let last = s
            .last_exit
            .map(|e| e.shell_code().to_string())
            .unwrap_or_else(|| "null".into());
        let up = s
            .uptime(now)
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .unwrap_or_else(|| "null".into());
        let status = s
            .status_text
            .as_ref()
            .or(s.reason.as_ref())
            .map(|t| json_string(t))
            .unwrap_or_else(|| "null".into());
        let pids: Vec<String> = s.pids().iter().map(|p| p.to_string()).collect();
        let _ = write!(
            out,
            "{{\"name\":{},\"state\":\"{}\",\"pid\":{pid},\"restarts\":{},\"last_exit\":{last},\"uptime_seconds\":{up},\"type\":\"{}\",\"pid_source\":\"{}\",\"pids\":[{}],\"status\":{status}}}",
            json_string(s.name()),
            s.state_name(),
            s.restarts,
            kind_name(s),
            s.last_source.as_str(),
            pids.join(","),
        );
    }
    out.push_str("]\n");
    out
}

fn kind_name(s: &Service) -> &'static str {
    match s.unit.kind {
        crate::unit::Kind::Simple => "simple",
        crate::unit::Kind::Oneshot => "oneshot",
        crate::unit::Kind::Notify => "notify",
        crate::unit::Kind::Forking => "forking",
    }
}

fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86400, secs % 86400 / 3600),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

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
            Ok(Request::Stop(vec!["a".into(), "b".into()]))
        );
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
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn replies_render() {
        assert_eq!(Reply::ok("body\n").render(), b"ok\nbody\n");
        assert_eq!(
            Reply::error("no such\nservice").render(),
            b"error: no such service\n"
        );
    }
}
