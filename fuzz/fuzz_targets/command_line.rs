//! foster's command line and environment through `cli::parse`.
//!
//! Input: NUL-separated words. A first word `D` says the default services
//! directory exists. Then `NAME=VALUE` words (NAME in capitals) are the
//! environment; every word from the first other one on is an argument
//! (bytes, not necessarily UTF-8, as argv is).

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use foster::cli::{self, Request};
use libfuzzer_sys::fuzz_target;

fn is_variable(word: &[u8]) -> bool {
    match word.iter().position(|&b| b == b'=') {
        Some(n) if n > 0 => word[..n]
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut words: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let default_exists = words.first() == Some(&&b"D"[..]);
    if default_exists {
        words.remove(0);
    }
    let env_len = words.iter().take_while(|w| is_variable(w)).count();
    let env: Vec<(String, OsString)> = words[..env_len]
        .iter()
        .filter_map(|w| {
            let n = w.iter().position(|&b| b == b'=')?;
            let name = String::from_utf8(w[..n].to_vec()).ok()?;
            Some((name, OsString::from_vec(w[n + 1..].to_vec())))
        })
        .collect();
    let args: Vec<OsString> = words[env_len..]
        .iter()
        .map(|w| OsString::from_vec(w.to_vec()))
        .collect();
    // The first value of a variable counts, as getenv(3) finds it.
    let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());

    let parsed = cli::parse_with_default(&args, &lookup, default_exists);
    assert_eq!(
        parsed,
        cli::parse_with_default(&args, &lookup, default_exists)
    );
    match parsed {
        Ok(Request::Run(o)) => {
            assert!(!o.command.is_empty() || o.services.is_some(), "{o:?}");
            assert!(o.grace <= Duration::from_secs(86_400), "{o:?}");
            if let Some(sig) = o.pdeathsig {
                assert!((1..=foster::sys::sigrtmax()).contains(&sig), "{o:?}");
            }
            if let Some(pidfile) = &o.pidfile {
                assert!(pidfile.is_absolute() && !o.command.is_empty(), "{o:?}");
                assert!(o.services.is_none(), "{o:?}");
            }
            // The command is the tail of the arguments, untouched.
            assert!(args.ends_with(&o.command), "{o:?}");
        }
        Ok(Request::Check(_) | Request::Help | Request::Version) => {}
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
        }
    }
});
