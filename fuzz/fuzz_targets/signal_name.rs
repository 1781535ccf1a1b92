//! Signal names: text through `signal::parse`, numbers through
//! `signal::name`, and each name back through `parse`.

#![no_main]

use foster::signal;
use libfuzzer_sys::fuzz_target;

/// `name(sig)` reads back as `sig`, except for the C library's reserved
/// real-time signals, which have a number and no name.
fn reads_back(sig: i32) {
    let name = signal::name(sig);
    if name == format!("signal {sig}") {
        return;
    }
    assert_eq!(signal::parse(&name), Ok(sig), "{name}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(sig) = signal::parse(text)
    {
        assert!(
            (1..=foster::sys::sigrtmax()).contains(&sig),
            "{text:?} gave {sig}"
        );
        reads_back(sig);
    }
    if let Some(bytes) = data.get(..4) {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(bytes);
        reads_back(i32::from_le_bytes(raw));
    }
});
