//! An sd_notify datagram's bytes through `notify::parse`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = foster::notify::parse(data);
    // sd_notify text: UTF-8 lines, each empty or an assignment.
    let is_text = std::str::from_utf8(data).is_ok_and(|t| {
        t.split('\n')
            .filter(|l| !l.is_empty())
            .all(|l| l.contains('='))
    });
    assert_eq!(parsed.is_some(), is_text);
    if let Some(m) = parsed {
        assert!(m.status.as_ref().is_none_or(|s| s.chars().count() <= 256));
        assert!(m.main_pid.is_none_or(|p| p.get() > 0));
        let last_ready = std::str::from_utf8(data).ok().and_then(|t| {
            t.split('\n')
                .filter_map(|l| l.strip_prefix("READY="))
                .next_back()
        });
        assert_eq!(m.ready, last_ready == Some("1"));
    }
});
