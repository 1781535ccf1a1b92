//! The status a `status` reply carries: a table, or with `--json` a list
//! of objects (the fields of [`STATUS_FIELDS`]).

use std::fmt::Write as _;
use std::time::{Instant, SystemTime};

use crate::control::STATUS_FIELDS;
use crate::service::Service;
use crate::unit::Loaded;
use crate::wall::rfc3339;

/// A unit file that could not be taken: shown as `invalid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Each as `FILE:LINE:COL: message`, the first first; never empty.
    pub problems: Vec<String>,
    /// Since when it has had these problems.
    pub since: Instant,
}

/// One line of a status: a service (with the problems of its unit file
/// when a reload found it invalid and kept the running version), or a
/// unit file that is invalid and runs nothing.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    Service(&'a Service, Option<&'a Invalid>),
    Invalid(&'a str, &'a Invalid),
}

impl Row<'_> {
    pub fn name(&self) -> &str {
        match self {
            Row::Service(s, _) => s.name(),
            Row::Invalid(name, _) => name,
        }
    }

    /// Up: running, or a oneshot that finished well.
    pub fn is_up(&self) -> bool {
        matches!(self, Row::Service(s, _) if s.is_up())
    }
}

/// The invalid units of a directory just read, each with its problems.
pub fn invalid_units(loaded: &Loaded) -> std::collections::BTreeMap<String, Vec<String>> {
    loaded
        .invalid
        .iter()
        .map(|name| {
            let mut problems: Vec<String> =
                loaded.problems_of(name).map(|p| p.to_string()).collect();
            if problems.is_empty() {
                problems.push(format!("{name}: its unit file is invalid"));
            }
            (name.clone(), problems)
        })
        .collect()
}

/// `NAME STATE PID UPTIME RESTARTS LAST-EXIT` (and the service's own
/// `STATUS=` text when it sent one).
pub fn status_table(rows: &[Row<'_>], now: Instant) -> String {
    let mut out = String::new();
    let width = rows
        .iter()
        .map(|r| r.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:width$}  {:8}  {:>7}  {:>8}  {:>8}  LAST-EXIT",
        "NAME", "STATE", "PID", "UPTIME", "RESTARTS"
    );
    for row in rows {
        let (s, invalid) = match *row {
            Row::Service(s, invalid) => (s, invalid),
            Row::Invalid(name, invalid) => {
                let first = invalid.problems.first().map(String::as_str).unwrap_or("");
                let _ = writeln!(
                    out,
                    "{name:width$}  {:8}  {:>7}  {:>8}  {:>8}  -  ({first})",
                    "invalid", "-", "-", "-"
                );
                continue;
            }
        };
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
        if s.last_exit_reason == Some(crate::service::ExitReason::Oom) {
            out.push_str("  (killed by the OOM killer)");
        }
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
        if let Some(health) = s.health {
            match health.status {
                crate::service::HealthStatus::Unhealthy => {
                    let _ = write!(out, "  (unhealthy: {} failed)", health.failing_streak);
                }
                status => {
                    let _ = write!(out, "  ({})", status.as_str());
                }
            }
        }
        if let Some(text) = s.status_line() {
            let _ = write!(out, "  ({text})");
        }
        if let Some(first) = invalid.and_then(|i| i.problems.first()) {
            let _ = write!(out, "  (its unit file is invalid now: {first})");
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
pub fn status_json(rows: &[Row<'_>], now: Instant, wall: SystemTime) -> String {
    let at = |t: Instant| {
        wall.checked_sub(now.saturating_duration_since(t))
            .map(|t| json_string(&rfc3339(t)))
            .unwrap_or_else(|| "null".into())
    };
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|w| json_string(w)).collect();
        format!("[{}]", quoted.join(","))
    };
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // In the order of STATUS_FIELDS, which names them.
        let values = match *row {
            Row::Invalid(name, invalid) => {
                let null = || "null".to_string();
                [
                    json_string(name),
                    json_string("invalid"),
                    null(),
                    "0".to_string(),
                    null(),
                    null(),
                    null(),
                    null(),
                    "[]".to_string(),
                    null(),
                    at(invalid.since),
                    "[]".to_string(),
                    list(&invalid.problems),
                    "[]".to_string(),
                    "[]".to_string(),
                    null(),
                    null(),
                    "0".to_string(),
                    null(),
                    null(),
                ]
            }
            Row::Service(s, invalid) => {
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
                    .status_line()
                    .map(|t| json_string(&t))
                    .unwrap_or_else(|| "null".into());
                let pids: Vec<String> = s.pids().iter().map(|p| p.to_string()).collect();
                [
                    json_string(s.name()),
                    json_string(s.state_name()),
                    pid,
                    s.restarts.to_string(),
                    last,
                    up,
                    json_string(kind_name(s)),
                    json_string(s.last_source.as_str()),
                    format!("[{}]", pids.join(",")),
                    status,
                    s.state_since().map(at).unwrap_or_else(|| "null".into()),
                    list(&s.unit.command),
                    list(invalid.map(|i| i.problems.as_slice()).unwrap_or_default()),
                    sockets_json(s),
                    stored_json(s),
                    s.last_exit_reason
                        .map(|r| json_string(r.as_str()))
                        .unwrap_or_else(|| "null".into()),
                    s.health
                        .map(|h| json_string(h.status.as_str()))
                        .unwrap_or_else(|| "null".into()),
                    s.health.map_or(0, |h| h.failing_streak).to_string(),
                    s.last_health_output
                        .as_deref()
                        .map(json_string)
                        .unwrap_or_else(|| "null".into()),
                    limits_enforced(s),
                ]
            }
        };
        out.push('{');
        for (n, (field, value)) in STATUS_FIELDS.iter().zip(values).enumerate() {
            if n > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{field}\":{value}");
        }
        out.push('}');
    }
    out.push_str("]\n");
    out
}

/// `[{"name":…,"listen":…,"fd":3},…]`: the descriptor each held socket is
/// in the service's process (3, 4, … in the unit's order).
fn sockets_json(s: &Service) -> String {
    let items: Vec<String> = s
        .unit
        .sockets
        .iter()
        .enumerate()
        .map(|(i, socket)| {
            format!(
                "{{\"name\":{},\"listen\":{},\"fd\":{}}}",
                json_string(&socket.name),
                json_string(&socket.listen.to_string()),
                i.saturating_add(3)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// `[{"name":…,"count":…},…]`: what the service's fd store keeps, by
/// name, in the order first stored.
fn stored_json(s: &Service) -> String {
    let items: Vec<String> = s
        .stored
        .iter()
        .map(|c| {
            format!(
                "{{\"name\":{},\"count\":{}}}",
                json_string(&c.name),
                c.count
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// `true` or `false` when its unit has cgroup limits and it was started
/// (whether they were all written at its latest start); `null` otherwise.
fn limits_enforced(s: &Service) -> String {
    match s.launch.and_then(|l| l.limits_enforced) {
        Some(enforced) if !s.unit.cgroup_limits.is_empty() => enforced.to_string(),
        _ => "null".to_string(),
    }
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
    fn status_json_objects_carry_the_protocol_fields_in_order() {
        let unit = crate::service::tests::unit(
            "d",
            crate::unit::Kind::Forking,
            crate::unit::Restart::Always,
        );
        let service = crate::service::Service::new(crate::service::ServiceId(1), unit);
        let text = status_json(
            &[Row::Service(&service, None)],
            std::time::Instant::now(),
            std::time::SystemTime::now(),
        );
        // The keys: each quoted string that follows `{` or `,` and is
        // followed by `:` (the values here hold neither).
        let keys: Vec<&str> = text
            .split(['{', ','])
            .skip(1)
            .filter_map(|part| part.strip_prefix('"')?.split_once("\":"))
            .map(|(key, _)| key)
            .collect();
        assert_eq!(keys, STATUS_FIELDS, "{text}");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |secs| super::rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_213_045), "2026-12-02T12:04:05Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
