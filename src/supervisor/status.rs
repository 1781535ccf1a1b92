//! The status a `status` reply carries: a table, or with `--json` a list
//! of objects (the fields of [`STATUS_FIELDS`]).

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
pub fn status_json(services: &[&Service], now: Instant, wall: SystemTime) -> String {
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
        let since = s
            .state_since()
            .and_then(|t| wall.checked_sub(now.saturating_duration_since(t)))
            .map(|t| json_string(&rfc3339(t)))
            .unwrap_or_else(|| "null".into());
        let command: Vec<String> = s.unit.command.iter().map(|w| json_string(w)).collect();
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
            since,
            format!("[{}]", command.join(",")),
            "[]".to_string(),
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

/// `YYYY-MM-DDTHH:MM:SSZ`, in UTC (a time before 1970 shows as 1970).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (the well-known
/// era algorithm: 400-year eras of 146 097 days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
            &[&service],
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
