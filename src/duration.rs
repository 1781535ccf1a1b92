//! Human durations: `500ms`, `3s`, `1.5s`, `2m`, `1m30s`, `1h`; a bare
//! number means seconds.

use std::fmt;
use std::time::Duration;

/// Text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDuration(pub String);

impl fmt::Display for BadDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration \"{}\" (expected e.g. 500ms, 3s, 1.5s, 2m, 1m30s)",
            self.0
        )
    }
}

/// Parses a duration. Units: `ms`, `s`, `m`, `h` (also `us`); several parts
/// add up (`1m30s`); a lone number is seconds. At most one day.
pub fn parse(text: &str) -> Result<Duration, BadDuration> {
    let bad = || BadDuration(text.to_string());
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs).ok_or_else(bad);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, after) = rest.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = next;
    }
    seconds(total).ok_or_else(bad)
}

/// Writes `d` the way [`parse`] reads it, shortest form first: `0s`,
/// `250us`, `500ms`, `1.5s`, `1m30s`, `2h`, `1h0m0.000000001s`. For
/// messages that quote a duration back to the user; any duration [`parse`]
/// accepts is read back exactly.
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 || (h > 0 && (s > 0 || nanos > 0)) {
        out.push_str(&format!("{m}m"));
    }
    if secs == 0 && nanos > 0 && nanos.is_multiple_of(1_000_000) {
        out.push_str(&format!("{}ms", nanos / 1_000_000));
    } else if secs == 0 && nanos > 0 && nanos.is_multiple_of(1_000) {
        out.push_str(&format!("{}us", nanos / 1_000));
    } else if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push_str(&format!("{s}.{}s", fraction.trim_end_matches('0')));
    } else if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..=86_400.0).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_forms() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn formats_the_usual_durations() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(3601), "1h0m1s"),
            (Duration::from_nanos(1), "0.000000001s"),
            (Duration::new(86_399, 999_999_999), "23h59m59.999999999s"),
        ] {
            assert_eq!(format(d), text);
            assert_eq!(parse(text), Ok(d), "{text}");
        }
    }

    #[test]
    fn every_duration_formats_to_text_that_parses_back_to_it() {
        // A walk through the whole range with steps of odd sizes, so that
        // every field (hours, minutes, seconds, each digit of the fraction)
        // takes many values.
        let max = Duration::from_secs(86_400);
        let mut d = Duration::ZERO;
        let step = Duration::new(7, 123_456_789);
        while d <= max {
            for near in [d, d + Duration::from_nanos(1), d + Duration::from_micros(3)] {
                if near <= max {
                    assert_eq!(parse(&format(near)), Ok(near), "{}", format(near));
                }
            }
            d += step;
        }
        for n in 0..200_000u64 {
            let d = Duration::from_nanos(n * 9_973);
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(parse(&format(max)), Ok(max));
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "", "soon", "3 s", "s", "-1s", "1x", "1.2.3s", "2d", "nan", "inf", "100000h",
        ] {
            assert!(parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            parse("soon").unwrap_err().to_string(),
            "invalid duration \"soon\" (expected e.g. 500ms, 3s, 1.5s, 2m, 1m30s)"
        );
    }
}
