//! Timestamps for log lines (`--log-timestamps`): the wall clock as RFC
//! 3339 UTC with milliseconds, `2026-12-03T06:20:01.123Z`. Pure but for
//! reading the clock (the vDSO's `clock_gettime`: no system call).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as a log line's timestamp.
pub fn now() -> String {
    stamp(SystemTime::now())
}

/// `t` as a log line's timestamp (a time before 1970 reads as 1970).
pub fn stamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = crate::supervisor::status::civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
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
