//! A services directory's unit files, as bytes, through everything
//! `foster --check` and a reload do once the files are read
//! (`unit::check_files`): YAML, every key's checks, names, dependencies
//! and cycles.
//!
//! Input: one or more files in `head`'s format (`==> NAME <==` lines, each
//! followed by that file's bytes); input without such a line is one file,
//! `fuzz.yaml`. Names that `load_dir` would not read (hidden, not
//! `*.yaml`/`*.yml`) are left out, as there.

#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use foster::unit::{self, Kind};
use foster::users::UserDb;
use libfuzzer_sys::fuzz_target;

/// `(file name, bytes)` for each `==> NAME <==` section.
fn sections(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at < data.len() {
        if data[at..].starts_with(b"==> ") {
            starts.push(at);
        }
        match data[at..].iter().position(|&b| b == b'\n') {
            Some(n) => at += n + 1,
            None => break,
        }
    }
    if starts.first() != Some(&0) {
        return vec![(b"fuzz.yaml", data)];
    }
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(data.len());
        let section = &data[start + 4..end];
        let (header, body) = match section.iter().position(|&b| b == b'\n') {
            Some(n) => (&section[..n], &section[n + 1..]),
            None => (section, &b""[..]),
        };
        let path = header.strip_suffix(b" <==").unwrap_or(header);
        // `head` names files by path: the directory entry is the last part.
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        out.push((name, body));
    }
    out
}

fn users() -> UserDb {
    UserDb::parse(
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        "root:x:0:\nwww:x:33:\nnogroup:x:65534:\n",
    )
}

fuzz_target!(|data: &[u8]| {
    let mut files: Vec<(PathBuf, Result<Vec<u8>, unit::Unreadable>)> = sections(data)
        .into_iter()
        .filter(|(name, _)| !name.contains(&0) && unit::is_unit_file_name(OsStr::from_bytes(name)))
        .map(|(name, body)| {
            let path = PathBuf::from("services.d").join(OsStr::from_bytes(name));
            (path, Ok(body.to_vec()))
        })
        .collect();
    // load_dir reads a directory's entries sorted; a directory has each
    // name once.
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let loaded = unit::check_files(files, &users(), &unit::NoProbe);

    for problem in loaded.problems.iter().chain(&loaded.warnings) {
        assert!(paths.contains(&problem.file), "{problem}");
        let _ = problem.to_string();
    }
    // NoProbe finds nothing wrong with the machine.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // A file that does not give a unit is a problem, and the name it
    // stands for is kept running as it was on a reload.
    assert!(loaded.invalid.is_empty() || !loaded.problems.is_empty());
    for path in &paths {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert!(
            loaded.units.contains_key(name) != loaded.invalid.contains(name),
            "{name}: units {:?}, invalid {:?}",
            loaded.units.keys(),
            loaded.invalid
        );
    }
    let day = Duration::from_secs(86_400);
    let max_signal = foster::sys::sigrtmax();
    for (name, u) in &loaded.units {
        assert_eq!(name, &u.name);
        assert!(paths.contains(&u.path));
        assert!(!u.command.is_empty() && !u.command[0].is_empty(), "{u:?}");
        for sig in [u.stop_signal, u.reload_signal] {
            assert!((1..=max_signal).contains(&sig), "{u:?}");
            assert!(sig != libc::SIGKILL && sig != libc::SIGSTOP, "{u:?}");
        }
        for d in [
            u.restart_delay,
            u.restart_delay_max,
            u.stop_timeout,
            u.start_timeout,
        ] {
            assert!(d <= day, "{u:?}");
        }
        assert!(u.restart_delay <= u.restart_delay_max, "{u:?}");
        assert!(u.pidfile.is_none() || u.kind == Kind::Forking, "{u:?}");
        assert!(!u.depends_on.contains(&u.name), "{u:?}");
        for (k, v) in &u.env {
            assert!(
                !k.is_empty() && !k.contains('=') && !k.contains('\0'),
                "{u:?}"
            );
            assert!(!v.contains('\0'), "{u:?}");
        }
    }
});
