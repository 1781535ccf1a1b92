//! Signal names: parsing what users write (`TERM`, `SIGTERM`, `sigterm`,
//! `15`, `RTMIN+3`) and naming numbers in messages.
//!
//! nix's `Signal` knows neither the bare `TERM` form nor real-time signals,
//! so foster keeps its own small table.

use std::fmt;

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// A signal name or number that is not a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSignal(pub String);

impl fmt::Display for UnknownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signal \"{}\" (expected a name such as TERM or SIGTERM, RTMIN+N, or a number)",
            self.0
        )
    }
}

/// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN`, `RTMIN+3`,
/// `SIGRTMAX-2` into a signal number. 0, SIGKILL and SIGSTOP are accepted
/// (callers that cannot use them say so).
pub fn parse(text: &str) -> Result<i32, UnknownSignal> {
    let unknown = || UnknownSignal(text.to_string());
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i32>() {
        return if (1..=crate::sys::sigrtmax()).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        };
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(known, _)| *known == name) {
        return Ok(n);
    }
    let (min, max) = (crate::sys::sigrtmin(), crate::sys::sigrtmax());
    // Checked: the offset is anybody's text (`kill web RTMIN+2147483647`
    // on the control socket), and an overflow must be a refusal.
    let rt = if let Some(rest) = name.strip_prefix("RTMIN") {
        offset(rest, '+').and_then(|o| min.checked_add(o))
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        offset(rest, '-').and_then(|o| max.checked_sub(o))
    } else {
        None
    };
    match rt {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(unknown()),
    }
}

/// The offset after `RTMIN`/`RTMAX`: `""` → 0, `"+3"` → 3 (when `sign` is
/// `'+'`), `"-2"` → 2 (when `sign` is `'-'`). Plain digits only after the
/// sign (`i32::from_str` would take a second sign).
fn offset(rest: &str, sign: char) -> Option<i32> {
    if rest.is_empty() {
        return Some(0);
    }
    let digits = rest.strip_prefix(sign)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i32>().ok()
}

/// `SIGTERM`, `SIGRTMIN+3`, or `signal 99` for anything else.
pub fn name(sig: i32) -> String {
    if let Some((n, _)) = NAMES
        .iter()
        .find(|(n, s)| *s == sig && *n != "IOT" && *n != "POLL")
    {
        return format!("SIG{n}");
    }
    let (min, max) = (crate::sys::sigrtmin(), crate::sys::sigrtmax());
    if sig == min {
        "SIGRTMIN".to_string()
    } else if sig > min && sig <= max {
        format!("SIGRTMIN+{}", sig - min)
    } else {
        format!("signal {sig}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_spelling() {
        for s in ["TERM", "SIGTERM", "sigterm", "term", "15", " SigTerm "] {
            assert_eq!(parse(s), Ok(15), "{s}");
        }
        assert_eq!(parse("KILL"), Ok(9));
        assert_eq!(parse("winch"), Ok(28));
    }

    #[test]
    fn realtime_signals() {
        let min = crate::sys::sigrtmin();
        let max = crate::sys::sigrtmax();
        assert_eq!(parse("RTMIN"), Ok(min));
        assert_eq!(parse("SIGRTMIN+3"), Ok(min + 3));
        assert_eq!(parse("rtmax-2"), Ok(max - 2));
        assert_eq!(parse("RTMAX"), Ok(max));
        assert!(parse("RTMIN+999").is_err());
        assert!(parse("RTMIN-1").is_err());
        assert_eq!(name(min + 3), "SIGRTMIN+3");
    }

    #[test]
    fn rejects_nonsense() {
        for s in ["", "NOPE", "SIGNOPE", "0", "-1", "65", "TERM+1", "RTMIN+x"] {
            assert!(parse(s).is_err(), "{s}");
        }
        assert_eq!(
            parse("SIGNOPE").unwrap_err().to_string(),
            "unknown signal \"SIGNOPE\" (expected a name such as TERM or SIGTERM, RTMIN+N, or a number)"
        );
    }

    #[test]
    fn rtmin_with_a_huge_offset_is_refused_not_a_panic() {
        for s in [
            "RTMIN+2147483647",
            "SIGRTMIN+2147483647",
            "RTMAX-2147483648",
            "RTMAX--2147483648",
            "RTMIN+99999999999999999999",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn offsets_are_plain_digits() {
        // `i32::from_str` takes a sign of its own: "RTMIN++3" and
        // "RTMAX--2" were read as RTMIN+3 and RTMAX+2 (out of range, then).
        for s in ["RTMIN++3", "RTMAX--2", "RTMAX-+2", "RTMIN+ 3", "RTMIN+"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn every_signal_name_parses_back_to_its_number() {
        let (min, max) = (crate::sys::sigrtmin(), crate::sys::sigrtmax());
        for sig in 1..=max {
            let n = name(sig);
            if (32..min).contains(&sig) {
                // Kept by the C library for its threads: no name, a number.
                assert_eq!(n, format!("signal {sig}"));
                assert_eq!(parse(&sig.to_string()), Ok(sig));
                continue;
            }
            assert_eq!(parse(&n), Ok(sig), "{n}");
            let bare = n.strip_prefix("SIG").unwrap_or(&n);
            assert_eq!(parse(bare), Ok(sig), "{bare}");
            assert_eq!(parse(&n.to_ascii_lowercase()), Ok(sig), "{n}");
            assert_eq!(parse(&sig.to_string()), Ok(sig));
        }
        // And RTMAX-N names the same numbers from the other end.
        for k in 0..=(max - min) {
            assert_eq!(parse(&format!("RTMAX-{k}")), Ok(max - k));
        }
    }

    #[test]
    fn names() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(6), "SIGABRT");
        assert_eq!(name(29), "SIGIO");
        assert_eq!(name(0), "signal 0");
    }
}
