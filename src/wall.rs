//! Wall-clock times as RFC 3339 UTC: log lines' timestamps
//! (`--log-timestamps`), with milliseconds, `2026-12-03T06:20:01.123Z`,
//! and `status --json`'s `since`, to the second. Pure but for
//! reading the clock (the vDSO's `clock_gettime`: no system call).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as a log line's timestamp.
pub fn now() -> String {
    stamp(SystemTime::now())
}

/// `t` as a log line's timestamp (a time before 1970 reads as 1970).
pub fn stamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}.{:03}Z",
        date_time(since.as_secs()),
        since.subsec_millis()
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`, in UTC, to the second (`status --json`'s
/// `since`; a time before 1970 shows as 1970).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{}Z", date_time(secs))
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` after the epoch.
fn date_time(secs: u64) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
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
    use std::time::Duration;

    #[test]
    fn stamps_are_rfc3339_utc_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_742_801_123);
        assert_eq!(stamp(t), "2025-12-03T06:20:01.123Z");
        assert_eq!(stamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // Leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 59);
        assert_eq!(stamp(t), "2000-02-29T00:00:59.000Z");
    }
}
