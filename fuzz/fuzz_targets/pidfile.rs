//! A pidfile's contents through `pidfile::parse`, against a plain
//! restatement of the rule: 1 to 10 decimal digits, at most one trailing
//! newline, a value from 1 to the largest PID type value.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = foster::pidfile::parse(data);
    let digits = data.strip_suffix(b"\n").unwrap_or(data);
    let expected =
        if !digits.is_empty() && digits.len() <= 10 && digits.iter().all(u8::is_ascii_digit) {
            let value = digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            i32::try_from(value).ok().filter(|&p| p > 0)
        } else {
            None
        };
    assert_eq!(parsed.map(foster::sys::Pid::get), expected);
    if let Some(pid) = parsed {
        assert_eq!(
            foster::pidfile::parse(pid.to_string().as_bytes()),
            Some(pid)
        );
        assert_eq!(
            foster::pidfile::parse(format!("{pid}\n").as_bytes()),
            Some(pid)
        );
    }
});
