//! Durations: text through `duration::parse`, and every duration it can
//! give through `duration::format` and back.

#![no_main]

use std::time::Duration;

use foster::duration;
use libfuzzer_sys::fuzz_target;

const DAY: Duration = Duration::from_secs(86_400);

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(d) = duration::parse(text)
    {
        assert!(d <= DAY, "{text:?} gave {d:?}");
        assert_eq!(duration::parse(&duration::format(d)), Ok(d), "{text:?}");
    }
    // The first 8 bytes as a duration up to a day, formatted and read back.
    if let Some(bytes) = data.get(..8) {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        let nanos = u64::from_le_bytes(raw) % (DAY.as_nanos() as u64 + 1);
        let d = Duration::from_nanos(nanos);
        let text = duration::format(d);
        assert_eq!(duration::parse(&text), Ok(d), "{text}");
    }
});
