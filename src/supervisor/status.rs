//! The status a `status` reply carries: a table, or with `--json` a list
//! of objects (the fields of [`STATUS_FIELDS`]).

use std::fmt::Write as _;
use std::time::Instant;

use crate::control::STATUS_FIELDS;
use crate::service::Service;

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
        // In the order of STATUS_FIELDS, which names them.
        let values = [
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
        ];
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
        let text = status_json(&[&service], std::time::Instant::now());
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
}
