//! The unit parser and the checks across units, on text: no directory,
//! no users database but a small parsed one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::check::check_units;
use super::keys::{closest, edit_distance, key_hint};
use super::warnings::shell_program;
use super::*;
use crate::users::UserDb;

fn check(files: &[(&str, &str)]) -> (BTreeMap<String, Unit>, Vec<String>) {
    let (units, problems, _) = check_on(files, &NoProbe);
    (units, problems)
}

fn users() -> UserDb {
    UserDb::parse("root:x:0:0::/root:/bin/sh\n", "")
}

#[test]
fn what_is_not_a_readable_unit_file_is_a_problem_with_its_path_not_skipped() {
    let files = vec![
        (PathBuf::from("s/a.yaml"), Ok(b"command: x\n".to_vec())),
        (
            PathBuf::from("s/big.yaml"),
            Err(Unreadable::TooLarge(Some(52_428_800))),
        ),
        (
            PathBuf::from("s/d.yaml"),
            Err(Unreadable::NotRegular(FileKind::Directory)),
        ),
        (
            PathBuf::from("s/grew.yaml"),
            Err(Unreadable::TooLarge(None)),
        ),
        (
            PathBuf::from("s/gone.yml"),
            Err(Unreadable::DanglingSymlink),
        ),
        (
            PathBuf::from("s/latin1.yaml"),
            Ok(b"command: caf\xe9\n".to_vec()),
        ),
        (
            PathBuf::from("s/x.yaml"),
            Err(Unreadable::NotRegular(FileKind::Fifo)),
        ),
    ];
    let loaded = check_files(files, &users(), &NoProbe);
    let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            "s/big.yaml: too large (52428800 bytes; a unit file is at most 1 MiB)",
            "s/d.yaml: not a regular file (a directory)",
            "s/grew.yaml: too large (more than 1048576 bytes; a unit file is at most 1 MiB)",
            "s/gone.yml: a symbolic link to nothing (its target does not exist)",
            "s/latin1.yaml: not UTF-8 text (an invalid byte at offset 12)",
            "s/x.yaml: not a regular file (a FIFO)",
        ]
    );
    assert_eq!(loaded.units.keys().collect::<Vec<_>>(), ["a"]);
    // Each exists with a problem: a running version is kept on reload.
    assert_eq!(
        loaded.invalid.iter().collect::<Vec<_>>(),
        ["big", "d", "gone", "grew", "latin1", "x"]
    );
}

#[test]
fn an_unreadable_file_still_claims_its_name_so_another_of_that_name_is_a_duplicate() {
    // Found by the unit_file fuzz target: `c` was loaded from c.yml and
    // listed as invalid for c.yaml, both at once. Two files naming one
    // service are refused whatever the first one holds, as when it is
    // readable but wrong.
    let files = vec![
        (PathBuf::from("s/c.yaml"), Ok(b"command: \x81\n".to_vec())),
        (PathBuf::from("s/c.yml"), Ok(b"command: x\n".to_vec())),
        (
            PathBuf::from("s/d.yaml"),
            Err(Unreadable::NotRegular(FileKind::Fifo)),
        ),
        (PathBuf::from("s/d.yml"), Ok(b"command: x\n".to_vec())),
        (
            PathBuf::from("s/e.yaml"),
            Ok(b"command: x\ndepends_on: [d]\n".to_vec()),
        ),
    ];
    let loaded = check_files(files, &users(), &NoProbe);
    let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            "s/c.yaml: not UTF-8 text (an invalid byte at offset 9)",
            "s/c.yml: a unit named \"c\" is also defined by s/c.yaml",
            "s/d.yaml: not a regular file (a FIFO)",
            "s/d.yml: a unit named \"d\" is also defined by s/d.yaml",
        ]
    );
    // e depends on d, which has a file: not an unknown service.
    assert_eq!(loaded.units.keys().collect::<Vec<_>>(), ["e"]);
    assert_eq!(loaded.invalid.iter().collect::<Vec<_>>(), ["c", "d"]);
}

#[test]
fn every_kind_of_entry_is_named_in_the_problem() {
    for (kind, text) in [
        (FileKind::Directory, "not a regular file (a directory)"),
        (FileKind::Fifo, "not a regular file (a FIFO)"),
        (FileKind::Socket, "not a regular file (a socket)"),
        (
            FileKind::CharDevice,
            "not a regular file (a character device)",
        ),
        (FileKind::BlockDevice, "not a regular file (a block device)"),
    ] {
        assert_eq!(Unreadable::NotRegular(kind).to_string(), text);
    }
}

#[test]
fn unit_file_names() {
    for yes in ["web.yaml", "web.yml", "a.b.yaml", "x@1.yaml"] {
        assert!(is_unit_file_name(std::ffi::OsStr::new(yes)), "{yes}");
    }
    for no in [
        ".web.yaml",
        ".yaml",
        "web.json",
        "web",
        "web.yaml~",
        "web.YAML",
    ] {
        assert!(!is_unit_file_name(std::ffi::OsStr::new(no)), "{no}");
    }
}

#[test]
fn a_problem_with_a_whole_file_has_no_position() {
    let p = Problem {
        file: PathBuf::from("services.d"),
        line: 0,
        column: 0,
        message: "cannot read the services directory: gone".into(),
    };
    assert_eq!(
        p.to_string(),
        "services.d: cannot read the services directory: gone"
    );
}

#[test]
fn full_unit_with_every_key() {
    let (units, problems) = check(&[
        ("db", "command: [\"/bin/true\"]\n"),
        (
            "web",
            "command: [\"/usr/bin/python3\", \"-m\", \"http.server\", 8080]\ntype: notify\ndepends_on: [db]\nrestart: always\nrestart_delay: 500ms\nrestart_delay_max: 1m\nstop_signal: sigint\nstop_timeout: 2\nreload_signal: USR1\nstart_timeout: 10s\nuser: www\nworkdir: /srv\nenv: {PORT: 8080, DEBUG: true}\ncritical: true\nlog: prefix\n",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let web = &units["web"];
    assert_eq!(
        web.command,
        ["/usr/bin/python3", "-m", "http.server", "8080"]
    );
    assert_eq!(web.kind, Kind::Notify);
    assert_eq!(web.depends_on, ["db"]);
    assert_eq!(web.restart, Restart::Always);
    assert_eq!(web.restart_delay, Duration::from_millis(500));
    assert_eq!(web.restart_delay_max, Duration::from_secs(60));
    assert_eq!(web.stop_signal, libc::SIGINT);
    assert_eq!(web.stop_timeout, Duration::from_secs(2));
    assert_eq!(web.reload_signal, libc::SIGUSR1);
    assert_eq!(
        web.credentials.as_ref().map(|c| (c.uid, c.gid)),
        Some((33, 33))
    );
    assert_eq!(
        web.env,
        [
            ("PORT".to_string(), "8080".to_string()),
            ("DEBUG".to_string(), "true".to_string())
        ]
    );
    assert!(web.critical);
    assert_eq!(web.log, LogMode::Prefix);
}

#[test]
fn defaults() {
    let (units, problems) = check(&[
        ("a", "command: sleep 1\n"),
        ("b", "command: [x]\ntype: oneshot\n"),
    ]);
    assert!(problems.is_empty());
    let a = &units["a"];
    assert_eq!(a.command, ["/bin/sh", "-c", "sleep 1"]);
    assert_eq!(
        (a.kind, a.restart, a.stop_signal),
        (Kind::Simple, Restart::OnFailure, libc::SIGTERM)
    );
    assert_eq!(
        (a.stop_timeout, a.start_timeout),
        (Duration::from_secs(5), Duration::from_secs(30))
    );
    assert_eq!(units["b"].restart, Restart::Never);
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let (units, problems) = check(&[(
        "bad",
        "command: []\nrestrat: always\ntype: daemon\nstop_signal: SIGNOPE\nstop_timeout: soon\npidfile: /run/x.pid\ncritical: maybe\nuser: nobody-here\n",
    )]);
    assert!(units.is_empty());
    assert_eq!(
        problems,
        [
            "bad.yaml:1:10: command: must not be empty",
            "bad.yaml:2:1: unknown key `restrat` (did you mean `restart`?)",
            "bad.yaml:3:7: type: unknown value \"daemon\" (expected simple, oneshot, notify, forking)",
            "bad.yaml:4:14: stop_signal: unknown signal \"SIGNOPE\" (expected a name such as TERM or SIGTERM, RTMIN+N, or a number)",
            "bad.yaml:5:15: stop_timeout: invalid duration \"soon\" (expected e.g. 500ms, 3s, 1.5s, 2m, 1m30s)",
            "bad.yaml:6:10: pidfile: only a `type: forking` service has a pidfile",
            "bad.yaml:7:11: critical: expected true or false, found a string",
            "bad.yaml:8:7: unknown user \"nobody-here\" (not in /etc/passwd)",
        ]
    );
}

#[test]
fn a_restart_delay_over_the_default_max_is_kept_not_capped_at_30s() {
    // Found by the unit_file fuzz target: `restart_delay: 80s` alone
    // left the default cap of 30s under it, so every restart came after
    // 30s, not 80s.
    let (units, problems) = check(&[
        ("slow", "command: x\nrestart_delay: 80s\n"),
        ("fast", "command: x\nrestart_delay: 2s\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let slow = &units["slow"];
    assert_eq!(slow.restart_delay, Duration::from_secs(80));
    assert_eq!(slow.restart_delay_max, Duration::from_secs(80));
    assert_eq!(units["fast"].restart_delay_max, Duration::from_secs(30));
}

#[test]
fn a_restart_delay_max_below_restart_delay_quotes_both() {
    let (_, problems) = check(&[(
        "d",
        "command: x\nrestart_delay: 2s\nrestart_delay_max: 1500ms\n",
    )]);
    assert_eq!(
        problems,
        ["d.yaml:3:20: restart_delay_max: 1.5s is shorter than restart_delay (2s)"]
    );
}

#[test]
fn hints_for_misspelt_keys() {
    assert_eq!(closest("restrat"), Some("restart"));
    assert_eq!(closest("comand"), Some("command"));
    assert_eq!(closest("stop_signals"), Some("stop_signal"));
    assert_eq!(closest("dependson"), Some("depends_on"));
    assert_eq!(closest("x"), None);
    assert_eq!(closest(&"restart".repeat(100)), None);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("héllo", "hello"), 1);
}

#[test]
fn syntax_errors_point_at_the_spot() {
    let (_, problems) = check(&[("s", "command: [a, b\nrestart: 3\n")]);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("s.yaml:2:"), "{problems:?}");
    assert!(problems[0].contains("invalid YAML"), "{problems:?}");
}

#[test]
fn missing_command_empty_file_and_wrong_shape() {
    let (_, problems) = check(&[
        ("a", "type: simple\n"),
        ("b", ""),
        ("c", "- just\n- a list\n"),
    ]);
    assert_eq!(problems[0], "a.yaml:1:1: `command` is required");
    assert_eq!(problems[1], "b.yaml:1:1: empty unit: `command` is required");
    assert!(
        problems[2].starts_with("c.yaml:1:1: a unit is a mapping"),
        "{problems:?}"
    );
}

#[test]
fn unknown_dependencies_and_cycles() {
    let (units, problems) = check(&[
        ("a", "command: x\ndepends_on: [b]\n"),
        ("b", "command: x\ndepends_on:\n  - c\n"),
        ("c", "command: x\ndepends_on: [a]\n"),
        ("d", "command: x\ndepends_on: [ghost, a]\n"),
        ("e", "command: x\ndepends_on: [e]\n"),
    ]);
    assert_eq!(
        problems,
        [
            "e.yaml:2:14: depends_on: \"e\" cannot depend on itself",
            "d.yaml:2:14: depends_on: unknown service \"ghost\"",
            "a.yaml:2:14: depends_on: dependency cycle: a -> b -> c -> a",
            "b.yaml:3:5: depends_on: dependency cycle: b -> c -> a -> b",
            "c.yaml:2:14: depends_on: dependency cycle: c -> a -> b -> c",
        ]
    );
    // d itself is valid (it will fail at run time, its dependencies never
    // being ready); the cycle and the self-dependency are not.
    assert_eq!(units.keys().collect::<Vec<_>>(), ["d"]);
}

#[test]
fn services_named_like_yaml_1_1_booleans_stay_names() {
    let (units, problems) = check(&[
        ("n", "command: x\n"),
        ("y", "command: x\ndepends_on: [n]\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(units["y"].depends_on, ["n"]);
}

#[test]
fn bad_names_and_signals_that_cannot_be_caught() {
    let (_, problems) = check(&[
        ("bad name", "command: x\n"),
        ("k", "command: x\nstop_signal: KILL\n"),
    ]);
    assert!(problems[0].contains("invalid service name"));
    assert!(
        problems[1].starts_with("k.yaml:2:14: stop_signal: SIGKILL cannot be caught"),
        "{problems:?}"
    );
}

#[test]
fn kill_mode_and_restart_limit() {
    let (units, problems) = check(&[
        ("a", "command: x\n"),
        (
            "b",
            "command: x\nkill_mode: main\nrestart_limit: 3\nrestart_limit_interval: 1m\n",
        ),
        ("c", "command: x\nrestart_limit: 5\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(units["a"].kill_mode, KillMode::All);
    assert_eq!(units["a"].restart_limit, None);
    assert_eq!(units["b"].kill_mode, KillMode::Main);
    assert_eq!(
        units["b"].restart_limit,
        Some(RestartLimit {
            restarts: 3,
            interval: std::time::Duration::from_secs(60)
        })
    );
    assert_eq!(
        units["c"].restart_limit.map(|l| l.interval),
        Some(std::time::Duration::from_secs(10))
    );
    let (_, problems) = check(&[
        ("d", "command: x\nkill_mode: some\n"),
        ("e", "command: x\nrestart_limit: 0\n"),
        ("f", "command: x\nrestart_limit: many\n"),
        ("g", "command: x\nrestart_limit_interval: 5s\n"),
        (
            "h",
            "command: x\nrestart_limit: 1\nrestart_limit_interval: 0s\n",
        ),
    ]);
    assert_eq!(
        problems,
        [
            "d.yaml:2:12: kill_mode: unknown value \"some\" (expected all, main)",
            "e.yaml:2:16: restart_limit: must be 1 or more (to never restart, use `restart: never`)",
            "f.yaml:2:16: restart_limit: expected a whole number of restarts, found a string",
            "g.yaml:2:25: restart_limit_interval: needs restart_limit (the number of restarts allowed within it)",
            "h.yaml:3:25: restart_limit_interval: must be longer than 0",
        ]
    );
}

#[test]
fn env_file_and_autostart() {
    let (units, problems) = check(&[
        ("a", "command: x\n"),
        (
            "b",
            "command: x\nenv_file: [/etc/web.env, -/etc/web.local.env]\nautostart: false\n",
        ),
        ("c", "command: x\nenv_file: /etc/one.env\nautostart: true\n"),
        ("d", "command: x\nenv_file: []\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(units["a"].env_files, []);
    assert!(units["a"].autostart);
    assert_eq!(
        units["b"].env_files,
        [
            EnvFile {
                path: PathBuf::from("/etc/web.env"),
                optional: false
            },
            EnvFile {
                path: PathBuf::from("/etc/web.local.env"),
                optional: true
            },
        ]
    );
    assert!(!units["b"].autostart);
    assert_eq!(
        units["c"].env_files,
        [EnvFile {
            path: PathBuf::from("/etc/one.env"),
            optional: false
        }]
    );
    assert!(units["c"].autostart);
    assert_eq!(units["d"].env_files, []);

    let (units, problems) = check(&[
        (
            "e",
            "command: x\nenv_file: [etc/web.env, -web.env, \"-\"]\n",
        ),
        ("f", "command: x\nenv_file: {a: b}\n"),
        ("g", "command: x\nenv_file: [\"\"]\n"),
        ("h", "command: x\nautostart: no\n"),
        ("i", "command: x\nautostart: 1\n"),
    ]);
    assert!(units.is_empty(), "{units:?}");
    assert_eq!(
        problems,
        [
            "e.yaml:2:12: env_file: \"etc/web.env\" must be an absolute path",
            "e.yaml:2:25: env_file: \"web.env\" must be an absolute path",
            "e.yaml:2:35: env_file: \"\" must be an absolute path",
            "f.yaml:2:11: env_file: expected a list of strings, found a mapping",
            "g.yaml:2:12: env_file: must not be empty",
            "h.yaml:2:12: autostart: expected true or false, found a string",
            "i.yaml:2:12: autostart: expected true or false, found a number",
        ]
    );
}

/// A machine with exactly these executables, other files and directories.
struct FakeProbe {
    executables: Vec<&'static str>,
    files: Vec<&'static str>,
    dirs: Vec<&'static str>,
}

impl Probe for FakeProbe {
    fn executable(&self, path: &std::path::Path) -> Probed {
        let path = path.to_str().unwrap();
        if self.executables.contains(&path) {
            Probed::Executable
        } else if self.files.contains(&path) || self.dirs.contains(&path) {
            Probed::NotExecutable
        } else {
            Probed::Missing
        }
    }
    fn directory_exists(&self, path: &std::path::Path) -> bool {
        self.dirs.contains(&path.to_str().unwrap())
    }
    fn search_path(&self) -> String {
        "/usr/bin:/bin".into()
    }
}

fn machine() -> FakeProbe {
    FakeProbe {
        executables: vec![
            "/bin/sh",
            "/usr/bin/nginx",
            "/opt/app/bin/app",
            "/srv/run.sh",
        ],
        files: vec!["/etc/passwd", "/usr/bin/notes"],
        dirs: vec!["/", "/srv", "/root", "/usr/bin/subdir"],
    }
}

/// Units, problems and warnings, each as shown.
fn check_on(
    files: &[(&str, &str)],
    probe: &dyn Probe,
) -> (BTreeMap<String, Unit>, Vec<String>, Vec<String>) {
    let texts: Vec<(String, PathBuf, Result<String, Unreadable>)> = files
        .iter()
        .map(|(n, t)| {
            (
                n.to_string(),
                PathBuf::from(format!("{n}.yaml")),
                Ok(t.to_string()),
            )
        })
        .collect();
    let users = UserDb::parse(
        "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n",
        "www:x:33:\n",
    );
    let checked = check_units(&texts, &users, probe);
    let shown = |ps: &[Problem]| ps.iter().map(|p| p.to_string()).collect();
    (
        checked.units,
        shown(&checked.problems),
        shown(&checked.warnings),
    )
}

#[test]
fn keys_from_peers_are_named_with_fosters_key() {
    for (theirs, ours) in [
        ("environment", "env"),
        ("Environment", "env"),
        ("EnvironmentFile", "env_file"),
        ("working_directory", "workdir"),
        ("WorkingDirectory", "workdir"),
        ("directory", "workdir"),
        ("after", "depends_on"),
        ("requires", "depends_on"),
        ("Requires", "depends_on"),
        ("autorestart", "restart"),
        ("Restart", "restart"),
        ("ExecStart", "command"),
        ("exec", "command"),
        ("PIDFile", "pidfile"),
        ("User", "user"),
    ] {
        let (_, problems) = check(&[("p", &format!("command: x\n{theirs}: y\n"))]);
        assert_eq!(
            problems,
            [format!(
                "p.yaml:2:1: unknown key `{theirs}` (foster's key is `{ours}`)"
            )]
        );
    }
    let (_, problems) = check(&[("h", "command: x\nhealthcheck: {test: curl}\n")]);
    assert_eq!(
        problems,
        ["h.yaml:2:1: unknown key `healthcheck` (foster's key is `health`)"]
    );
    // A peer's key before the nearest by spelling: `Restart` is one edit
    // from `restart` as well, `exec` two from `env`.
    assert_eq!(
        key_hint("Restart").as_deref(),
        Some("foster's key is `restart`")
    );
    assert_eq!(
        key_hint("exec").as_deref(),
        Some("foster's key is `command`")
    );
    assert_eq!(
        key_hint("comand").as_deref(),
        Some("did you mean `command`?")
    );
    assert_eq!(key_hint("xyzzy"), None);
}

#[test]
fn a_repeated_key_is_reported_at_the_repeat_with_where_it_was_first() {
    let (units, problems) = check(&[(
        "d",
        "command: x\nrestart: always\nrestart: never\nenv:\n  A: 1\n  B: 2\n  A: 3\nrestart: bogus\n",
    )]);
    assert!(units.is_empty());
    assert_eq!(
        problems,
        [
            "d.yaml:3:1: duplicate key `restart` (first at 2:1)",
            "d.yaml:7:3: env: duplicate key `A` (first at 5:3)",
            // The repeat is not looked at: no problem for "bogus".
            "d.yaml:8:1: duplicate key `restart` (first at 2:1)",
        ]
    );
}

#[test]
fn yaml_errors_are_in_plain_words_never_serde_saphyrs_api() {
    let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
    let deep = format!("command: {}x{}\n", "[".repeat(3000), "]".repeat(3000));
    let cases: &[(&str, &str)] = &[
        (
            "command: x\n---\ncommand: y\n",
            "m.yaml:3:1: invalid YAML: a unit file holds one YAML document",
        ),
        (
            "~: x\n",
            "m.yaml:1:1: invalid YAML: a key is a name such as `command`, found nothing (`~` or `null`)",
        ),
        (
            "[a]: x\n",
            "m.yaml:1:1: invalid YAML: a key is a name such as `command`, not a list or a mapping",
        ),
        (
            "command: .nan\n",
            "m.yaml:1:10: invalid YAML: `.nan` is not a finite number (quote it to use it as text)",
        ),
        (
            "&a [*a]\n",
            "m.yaml:1:5: invalid YAML: an alias (*name) inside the value its anchor (&name) names",
        ),
        (
            "command: *nope\n",
            "m.yaml:1:10: invalid YAML: an alias (*name) with no anchor (&name) before it",
        ),
        (
            "command: !!int x\n",
            "m.yaml:1:16: invalid YAML: a value that its tag (such as `!!int`) does not fit",
        ),
        (
            "command: \"open\n",
            "m.yaml:1:10: invalid YAML: unclosed quote",
        ),
        (
            bomb,
            "m.yaml:6:14: invalid YAML: too large or too complex for a unit file (too many values, aliases or levels of nesting)",
        ),
        (
            &deep,
            "m.yaml:1:265: invalid YAML: nested too deeply for a unit file",
        ),
    ];
    for (text, expected) in cases {
        let (_, problems) = check(&[("m", text)]);
        assert_eq!(problems, [expected.to_string()], "{text:?}");
    }
    // Whatever else: no API, type or option names.
    for text in [
        "command: !!binary zz\n",
        "<<: 5\n",
        "command: x\n%YAML 1.2\n",
        "command: @x\n",
        "a: b: c\n",
        "- a\nb: c\n",
        "{a: 1}: 2\n",
        "k: 1e999\n",
        "command: x\n\tfoo: y\n",
    ] {
        let (_, problems) = check(&[("m", text)]);
        assert_eq!(problems.len(), 1, "{text:?}: {problems:?}");
        for leak in [
            "Options", "Policy", "policy", "from_str", "Option<", "u64", "budget", "{ ", "error:",
            ":0",
        ] {
            assert!(!problems[0].contains(leak), "{text:?}: {problems:?}");
        }
    }
}

#[test]
fn an_unknown_user_and_an_unknown_group_are_both_reported() {
    let (_, problems) = check(&[("u", "command: x\nuser: nobody-here\ngroup: no-group\n")]);
    assert_eq!(
        problems,
        [
            "u.yaml:2:7: unknown user \"nobody-here\" (not in /etc/passwd)",
            "u.yaml:3:8: unknown group \"no-group\" (not in /etc/group)",
        ]
    );
}

#[test]
fn a_user_or_group_is_a_name_or_a_whole_number() {
    let (units, problems) = check(&[
        ("a", "command: x\nuser: 1.5\n"),
        ("b", "command: x\ngroup: 2.5\n"),
        ("c", "command: x\nuser: -1\n"),
        ("d", "command: x\nuser: 4294967295\n"),
        ("e", "command: x\nuser: [www]\n"),
        ("f", "command: x\nuser: \"\"\n"),
        ("g", "command: x\nuser: 4294967294\ngroup: 33\n"),
    ]);
    assert_eq!(
        problems,
        [
            "a.yaml:2:7: user: a user is a name or a whole number, found 1.5",
            "b.yaml:2:8: group: a group is a name or a whole number, found 2.5",
            "c.yaml:2:7: user: a user is a name or a whole number, found -1",
            "d.yaml:2:7: user: 4294967295 is too large for an ID (at most 4294967294)",
            "e.yaml:2:7: user: a user is a name or a whole number, found a list",
            "f.yaml:2:7: user: must not be empty",
        ]
    );
    let g = units["g"].credentials.as_ref().map(|c| (c.uid, c.gid));
    assert_eq!(g, Some((4_294_967_294, 33)));
}

#[test]
fn file_level_problems_have_no_position_and_a_duplicate_name_names_both_files() {
    let files = vec![
        (
            PathBuf::from("s/bad name.yaml"),
            Ok(b"command: x\n".to_vec()),
        ),
        (PathBuf::from("s/web.yaml"), Ok(b"command: x\n".to_vec())),
        (PathBuf::from("s/web.yml"), Ok(b"command: y\n".to_vec())),
    ];
    let loaded = check_files(files, &users(), &NoProbe);
    let problems: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            "s/bad name.yaml: invalid service name \"bad name\" (use letters, digits, '-', '_', '.' and '@')",
            "s/web.yml: a unit named \"web\" is also defined by s/web.yaml",
        ]
    );
    assert!(loaded.problems.iter().all(|p| p.line == 0 && p.column == 0));
    let no_column = Problem {
        file: PathBuf::from("x.yaml"),
        line: 3,
        column: 0,
        message: "m".into(),
    };
    assert_eq!(no_column.to_string(), "x.yaml:3: m");
}

#[test]
fn first_problem_of_an_invalid_unit() {
    let files = vec![
        (PathBuf::from("s/a.yaml"), Ok(b"command: x\n".to_vec())),
        (
            PathBuf::from("s/b.yaml"),
            Ok(b"command: []\ntype: nope\n".to_vec()),
        ),
        (
            PathBuf::from("s/c.yml"),
            Err(Unreadable::NotRegular(FileKind::Fifo)),
        ),
    ];
    let loaded = check_files(files, &users(), &NoProbe);
    assert_eq!(
        loaded
            .problems_of("b")
            .next()
            .map(|p| p.to_string())
            .as_deref(),
        Some("s/b.yaml:1:10: command: must not be empty")
    );
    assert_eq!(
        loaded
            .problems_of("c")
            .next()
            .map(|p| p.to_string())
            .as_deref(),
        Some("s/c.yml: not a regular file (a FIFO)")
    );
    assert!(loaded.problems_of("a").next().is_none());
    assert!(loaded.problems_of("ghost").next().is_none());
    // The directory's own problem belongs to no unit.
    let dir = Loaded {
        problems: vec![Problem {
            file: PathBuf::from("services.d"),
            line: 0,
            column: 0,
            message: "cannot read the services directory: gone".into(),
        }],
        ..Loaded::default()
    };
    assert!(dir.problems_of("services").next().is_none());
}

#[test]
fn entries_that_are_not_unit_files_are_warned_about_hidden_ones_skipped() {
    let os = std::ffi::OsStr::new;
    for (name, is_dir, expected) in [
        ("web.yaml", false, None),
        ("web.yml", false, None),
        (".git", true, None),
        (".web.yaml.swp", false, None),
        ("README", false, Some("ignored: not a .yaml/.yml file")),
        ("web.conf", false, Some("ignored: not a .yaml/.yml file")),
        (
            "web.yaml.bak",
            false,
            Some("ignored: not a .yaml/.yml file"),
        ),
        ("web.yaml~", false, Some("ignored: not a .yaml/.yml file")),
        (
            "web.YAML",
            false,
            Some("ignored: not a .yaml/.yml file (the extension is lower case)"),
        ),
        (
            "web.Yml",
            false,
            Some("ignored: not a .yaml/.yml file (the extension is lower case)"),
        ),
        ("conf.d", true, Some("ignored: a directory")),
        // Named like a unit: read, and a problem if it is a directory.
        ("d.yaml", true, None),
    ] {
        assert_eq!(ignored_entry(os(name), is_dir), expected, "{name}");
    }
}

#[test]
fn a_command_not_found_on_path_is_a_warning_and_the_unit_still_valid() {
    let (units, problems, warnings) = check_on(
        &[
            ("ok", "command: [nginx, -g, daemon off;]\n"),
            ("typo", "command: [nginxx]\n"),
            ("shell", "command: nginxx -g 'daemon off;'\n"),
            ("exec", "command: exec nginxx\n"),
            ("notes", "command: [notes]\n"),
            ("abs", "command: [/usr/sbin/gone]\n"),
            ("passwd", "command: [/etc/passwd]\n"),
            ("rel", "command: [./run.sh]\nworkdir: /srv\n"),
            ("relmissing", "command: [bin/app]\n"),
            (
                "path",
                "command: [app]\nenv: {PATH: \"/opt/app/bin:/usr/bin\"}\n",
            ),
            ("nopath", "command: [app]\n"),
        ],
        &machine(),
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(units.len(), 11);
    assert_eq!(
        warnings,
        [
            "typo.yaml:1:10: command \"nginxx\" not found on PATH",
            "shell.yaml:1:10: command \"nginxx\" not found on PATH",
            "exec.yaml:1:10: command \"nginxx\" not found on PATH",
            // A file there but not executable; a directory too.
            "notes.yaml:1:10: command \"notes\" is not executable (/usr/bin/notes)",
            "abs.yaml:1:10: command \"/usr/sbin/gone\" does not exist",
            "passwd.yaml:1:10: command \"/etc/passwd\" is not executable",
            "relmissing.yaml:1:10: command \"bin/app\" does not exist (/bin/app)",
            "nopath.yaml:1:10: command \"app\" not found on PATH",
        ]
    );
}

#[test]
fn what_a_shell_command_string_plainly_runs() {
    for (script, program) in [
        ("nginx -g 'daemon off;'", Some("nginx")),
        ("  exec /usr/bin/app --x", Some("/usr/bin/app")),
        ("./run.sh", Some("./run.sh")),
        ("FOO=1 app", None),
        ("$APP", None),
        ("cd /srv && ./run", None),
        ("echo hi", None),
        ("exec -a name app", None),
        ("exec", None),
        ("'quoted' x", None),
        ("while true; do x; done", None),
    ] {
        assert_eq!(shell_program(script), program, "{script}");
    }
}

#[test]
fn a_missing_workdir_or_home_is_a_warning() {
    let (units, problems, warnings) = check_on(
        &[
            ("w", "command: [/bin/sh]\nworkdir: /nope\n"),
            ("h", "command: [/bin/sh]\nuser: www\n"),
            ("root", "command: [/bin/sh]\nuser: root\nworkdir: /srv\n"),
            // Debian's "no home" on purpose.
            ("nobody", "command: [/bin/sh]\nuser: nobody\n"),
            // A group alone: foster's own user's home is not in question.
            ("g", "command: [/bin/sh]\ngroup: www\n"),
        ],
        &machine(),
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(units.len(), 5);
    assert_eq!(
        warnings,
        [
            "w.yaml:2:10: workdir: directory \"/nope\" does not exist",
            "h.yaml:2:7: user: home directory \"/var/www\" of \"www\" does not exist",
        ]
    );
}

#[test]
fn no_probe_finds_nothing_wrong() {
    let (_, problems, warnings) = check_on(
        &[("w", "command: [nginxx]\nworkdir: /nope\nuser: www\n")],
        &NoProbe,
    );
    assert!(problems.is_empty() && warnings.is_empty(), "{warnings:?}");
}

#[test]
fn held_sockets_fd_store_and_restart_mode_are_read_with_their_defaults() {
    let (units, problems) = check(&[(
        "web",
        "type: notify\ncommand: [web]\nsockets:\n  - listen: \"127.0.0.1:8080\"\n  - listen: 443\n    name: https\n    backlog: 128\n  - listen: /run/web.sock\n    type: datagram\n    mode: 0660\nfd_store: 16\nrestart_mode: overlap\n",
    )]);
    assert_eq!(problems, Vec::<String>::new());
    let web = &units["web"];
    assert_eq!(web.fd_store, 16);
    assert_eq!(web.restart_mode, RestartMode::Overlap);
    assert_eq!(
        web.sockets,
        vec![
            SocketSpec {
                listen: Listen::Inet("127.0.0.1:8080".parse().unwrap()),
                kind: SocketKind::Stream,
                name: "web".into(),
                backlog: DEFAULT_BACKLOG,
                mode: None,
            },
            SocketSpec {
                listen: Listen::Port(443),
                kind: SocketKind::Stream,
                name: "https".into(),
                backlog: 128,
                mode: None,
            },
            SocketSpec {
                listen: Listen::Path("/run/web.sock".into()),
                kind: SocketKind::Datagram,
                name: "web".into(),
                backlog: DEFAULT_BACKLOG,
                mode: Some(0o660),
            },
        ]
    );
    let (units, _) = check(&[("plain", "command: [x]\n")]);
    let plain = &units["plain"];
    assert!(plain.sockets.is_empty());
    assert_eq!(
        (plain.fd_store, plain.restart_mode),
        (0, RestartMode::StopStart)
    );
}

#[test]
fn bad_sockets_are_problems_at_their_position() {
    let (_, problems) = check(&[(
        "web",
        "command: [web]\nsockets:\n  - listen: \"70000\"\n  - listen: \"8080\"\n    type: stream-ish\n  - listen: \"127.0.0.1:81\"\n    mode: \"0600\"\n  - listen: \"82\"\n    type: seqpacket\n  - listen: \"83\"\n  - listen: \"83\"\n  - name: \"a:b\"\n    listen: \"84\"\n  - lisen: \"85\"\n  - 86\nfd_store: 5000\nrestart_mode: overlap\n",
    )]);
    assert_eq!(
        problems,
        [
            "web.yaml:3:13: sockets: listen: port 70000 is out of range (1 to 65535)",
            "web.yaml:5:11: sockets: type: unknown value \"stream-ish\" (expected stream, datagram, seqpacket)",
            "web.yaml:7:11: sockets: 127.0.0.1:81: `mode` is for unix path sockets only",
            "web.yaml:9:11: sockets: 82: seqpacket is for unix sockets (/path or @name)",
            "web.yaml:11:5: sockets: 83 (stream) is listed twice (first at 10:5)",
            "web.yaml:12:11: sockets: name \"a:b\" is not a LISTEN_FDNAMES name (ASCII, no `:` or control characters, at most 255 bytes)",
            "web.yaml:14:5: sockets: unknown key `lisen` (did you mean `listen`?) (a socket has listen, type, name, backlog, mode)",
            "web.yaml:15:5: sockets: each socket is a mapping such as `listen: \"8080\"`, found a number",
            "web.yaml:16:11: fd_store: 5000 is out of range (0 to 1024)",
            "web.yaml:17:15: restart_mode: overlap needs a readiness foster can see (type: notify): the old run is stopped once the new one is ready",
        ]
    );
    // Two units, one address.
    let (_, problems) = check(&[
        ("a", "command: [a]\nsockets:\n  - listen: \"9000\"\n"),
        ("b", "command: [b]\nsockets:\n  - listen: \"9000\"\n"),
    ]);
    assert_eq!(
        problems,
        ["b.yaml:3:5: sockets: 9000 (stream) is already held for service \"a\""]
    );
}

#[test]
fn the_fd_store_and_overlap_are_run() {
    let file = |text: &str| (PathBuf::from("s/web.yaml"), Ok(text.as_bytes().to_vec()));
    for text in [
        "command: [x]\nfd_store: 4\n",
        "type: notify\ncommand: [x]\nrestart_mode: overlap\n",
    ] {
        let loaded = check_files(vec![file(text)], &users(), &NoProbe);
        assert!(loaded.problems.is_empty(), "{text}: {:?}", loaded.problems);
        assert_eq!(loaded.units.len(), 1, "{text}");
    }
}

#[test]
fn the_watchdog_keys_are_read_with_their_defaults_and_checked() {
    let (units, problems) = check(&[
        ("a", "command: [a]\nwatchdog: 30s\nwatchdog_signal: USR2\n"),
        ("b", "command: [b]\nwatchdog: 0s\n"),
        ("c", "command: [c]\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(units["a"].watchdog, Some(Duration::from_secs(30)));
    assert_eq!(units["a"].watchdog_signal, libc::SIGUSR2);
    // 0s is off, as systemd's WatchdogSec=0.
    assert_eq!(units["b"].watchdog, None);
    assert_eq!(
        (units["c"].watchdog, units["c"].watchdog_signal),
        (None, libc::SIGABRT)
    );
    let (_, problems) = check(&[
        ("d", "type: oneshot\ncommand: [d]\nwatchdog: 5s\n"),
        (
            "e",
            "command: [e]\nwatchdog: soon\nwatchdog_signal: SIGNOPE\n",
        ),
        ("f", "command: [f]\nWatchdogSec: 5\n"),
    ]);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems[0].starts_with("d.yaml:3:11: watchdog: a oneshot is never running"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("e.yaml:2:11: watchdog: "),
        "{problems:?}"
    );
    assert!(problems[2].starts_with("e.yaml:3:18: "), "{problems:?}");
    assert!(problems[2].contains("SIGNOPE"), "{problems:?}");
    assert!(
        problems[3].contains("foster's key is `watchdog`"),
        "{problems:?}"
    );
}

#[test]
fn limits_umask_nice_oom_score_adj_no_new_privs_and_capabilities_are_read() {
    let (units, problems) = check(&[
        ("a", "command: x\n"),
        (
            "b",
            "command: x\nlimits: {nofile: \"1024:524288\", nproc: 512, core: 0, memlock: 64M, stack: 8MiB, as: infinity, cpu: \"10:unlimited\"}\numask: \"0027\"\nnice: -20\noom_score_adj: 1000\nno_new_privs: true\ncapabilities: [NET_BIND_SERVICE, cap_chown, Cap_Sys_Nice]\n",
        ),
        (
            "c",
            "command: x\nnice: 19\noom_score_adj: -1000\ncapabilities: []\numask: \"0\"\n",
        ),
        ("d", "command: x\ncapabilities: KILL\numask: \"777\"\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let a = &units["a"];
    assert!(a.limits.is_empty());
    assert_eq!(
        (
            a.umask,
            a.nice,
            a.oom_score_adj,
            a.no_new_privs,
            a.capabilities
        ),
        (None, None, None, false, None)
    );
    let b = &units["b"];
    let limit = |resource, soft, hard| Rlimit {
        resource,
        soft,
        hard,
    };
    assert_eq!(
        b.limits,
        [
            limit(Resource::Nofile, 1024, 524288),
            limit(Resource::Nproc, 512, 512),
            limit(Resource::Core, 0, 0),
            limit(Resource::Memlock, 64 << 20, 64 << 20),
            limit(Resource::Stack, 8 << 20, 8 << 20),
            limit(Resource::As, INFINITY, INFINITY),
            limit(Resource::Cpu, 10, INFINITY),
        ]
    );
    assert_eq!(b.umask, Some(0o027));
    assert_eq!(b.nice, Some(-20));
    assert_eq!(b.oom_score_adj, Some(1000));
    assert!(b.no_new_privs);
    assert_eq!(b.capabilities, Some(Capabilities(1 << 10 | 1 | 1 << 23)));
    let c = &units["c"];
    assert_eq!(
        (c.nice, c.oom_score_adj, c.umask),
        (Some(19), Some(-1000), Some(0))
    );
    // An empty list: no capabilities at all (not "untouched").
    assert_eq!(c.capabilities, Some(Capabilities(0)));
    assert_eq!(units["d"].capabilities, Some(Capabilities(1 << 5)));
    assert_eq!(units["d"].umask, Some(0o777));
}

#[test]
fn each_bad_limit_umask_nice_oom_score_adj_or_capability_is_reported_where_it_is() {
    let (_, problems) = check(&[
        (
            "a",
            "command: x\nlimits:\n  nofile: \"4096:1024\"\n  files: 1\n  core: -1\n  stack: 8X\n  nproc: \"99999999999999999999\"\n  memlock: [1]\n  nofile: 5\n",
        ),
        ("b", "command: x\nlimits: 1024\n"),
        ("c", "command: x\numask: 0027\n"),
        ("d", "command: x\numask: \"0800\"\n"),
        ("e", "command: x\numask: \"1777\"\n"),
        ("f", "command: x\nnice: 20\n"),
        ("g", "command: x\nnice: -21\n"),
        ("h", "command: x\nnice: high\n"),
        ("i", "command: x\noom_score_adj: 1001\n"),
        ("j", "command: x\noom_score_adj: -5000000000\n"),
        ("k", "command: x\nno_new_privs: yes\n"),
        (
            "l",
            "command: x\ncapabilities: [NET_BIND_SERVCE, CAP_NOPE, 3]\n",
        ),
        ("m", "command: x\ncapabilities: {a: 1}\n"),
        ("n", "command: x\nlimits: {nofile: 16777216T}\n"),
    ]);
    assert_eq!(
        problems,
        [
            "a.yaml:3:11: limits: nofile: the soft limit is above the hard one in \"4096:1024\" (SOFT:HARD)",
            "a.yaml:4:3: limits: unknown limit `files` (known: as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)",
            "a.yaml:5:9: limits: core: expected a whole number of 0 or more, or infinity",
            "a.yaml:6:10: limits: stack: \"8X\" is not a limit (a whole number, optionally with K, M, G or T, or infinity)",
            "a.yaml:7:10: limits: nproc: \"99999999999999999999\" is too large (for no limit, write infinity)",
            "a.yaml:8:12: limits: memlock: expected a number or \"SOFT:HARD\", found a list",
            "a.yaml:9:3: limits: duplicate key `nofile` (first at 3:3)",
            "b.yaml:2:9: limits: expected a mapping such as {nofile: 1024}, found a number",
            "c.yaml:2:8: umask: quote it, as in umask: \"0027\" (an unquoted 0027 is a number whose digits YAML readers disagree on)",
            "d.yaml:2:8: umask: \"0800\" is not an octal mask from \"0000\" to \"0777\"",
            "e.yaml:2:8: umask: \"1777\" is not an octal mask from \"0000\" to \"0777\"",
            "f.yaml:2:7: nice: 20 is out of range (-20 to 19)",
            "g.yaml:2:7: nice: -21 is out of range (-20 to 19)",
            "h.yaml:2:7: nice: expected a whole number from -20 to 19, found a string",
            "i.yaml:2:16: oom_score_adj: 1001 is out of range (-1000 to 1000)",
            "j.yaml:2:16: oom_score_adj: -5000000000 is out of range (-1000 to 1000)",
            "k.yaml:2:15: no_new_privs: expected true or false, found a string",
            "l.yaml:2:16: capabilities: unknown capability \"NET_BIND_SERVCE\" (did you mean NET_BIND_SERVICE?)",
            "l.yaml:2:33: capabilities: unknown capability \"CAP_NOPE\"",
            "l.yaml:2:43: capabilities: expected a name such as NET_BIND_SERVICE, found a number",
            "m.yaml:2:15: capabilities: expected a list of names such as [NET_BIND_SERVICE], found a mapping",
            "n.yaml:2:18: limits: nofile: \"16777216T\" is too large (for no limit, write infinity)",
        ]
    );
}

#[test]
fn peers_names_for_limits_and_privileges_point_at_fosters_keys() {
    for (theirs, ours) in [
        ("LimitNOFILE", "limits"),
        ("UMask", "umask"),
        ("Nice", "nice"),
        ("OOMScoreAdjust", "oom_score_adj"),
        ("NoNewPrivileges", "no_new_privs"),
        ("AmbientCapabilities", "capabilities"),
        ("CapabilityBoundingSet", "capabilities"),
    ] {
        assert_eq!(
            key_hint(theirs),
            Some(format!("foster's key is `{ours}`")),
            "{theirs}"
        );
    }
    assert_eq!(closest("limit"), Some("limits"));
}

#[test]
fn a_changed_limit_or_capability_makes_a_changed_unit() {
    let (before, _) = check(&[("a", "command: x\nlimits: {nofile: 1024}\n")]);
    let (after, _) = check(&[("a", "command: x\nlimits: {nofile: 2048}\n")]);
    assert_ne!(before["a"], after["a"]);
    let (before, _) = check(&[("a", "command: x\ncapabilities: [KILL]\n")]);
    let (after, _) = check(&[("a", "command: x\ncapabilities: []\n")]);
    assert_ne!(before["a"], after["a"]);
}

#[test]
fn cgroup_limits_are_read_as_typed_values_and_default_to_none() {
    let (units, problems) = check(&[
        (
            "a",
            "command: x\nmemory_max: 32M\nmemory_high: 1073741824\nmemory_swap_max: 0\ncpu_max: \"50%\"\ncpu_weight: 200\npids_max: 20\nio_weight: 10000\n",
        ),
        (
            "b",
            "command: x\nmemory_max: max\nmemory_swap_max: infinity\ncpu_max: \"20000 50000\"\npids_max: max\nio_weight: 1\ncpu_weight: 1\n",
        ),
        ("c", "command: x\ncpu_max: 150%\nmemory_high: 2GiB\n"),
        ("d", "command: x\ncpu_max: max\n"),
        ("e", "command: x\n"),
    ]);
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(
        units["a"].cgroup_limits,
        CgroupLimits {
            memory_max: Some(Amount::Value(32 << 20)),
            memory_high: Some(Amount::Value(1 << 30)),
            memory_swap_max: Some(Amount::Value(0)),
            cpu_max: Some(CpuMax {
                quota: Some(50_000),
                period: 100_000
            }),
            cpu_weight: Some(200),
            pids_max: Some(Amount::Value(20)),
            io_weight: Some(10_000),
        }
    );
    assert_eq!(
        units["b"].cgroup_limits,
        CgroupLimits {
            memory_max: Some(Amount::Max),
            memory_high: None,
            memory_swap_max: Some(Amount::Max),
            cpu_max: Some(CpuMax {
                quota: Some(20_000),
                period: 50_000
            }),
            cpu_weight: Some(1),
            pids_max: Some(Amount::Max),
            io_weight: Some(1),
        }
    );
    let c = &units["c"].cgroup_limits;
    assert_eq!(
        c.cpu_max,
        Some(CpuMax {
            quota: Some(150_000),
            period: 100_000
        })
    );
    assert_eq!(c.memory_high, Some(Amount::Value(2 << 30)));
    assert_eq!(
        units["d"].cgroup_limits.cpu_max,
        Some(CpuMax {
            quota: None,
            period: 100_000
        })
    );
    assert!(units["e"].cgroup_limits.is_empty());
    assert_eq!(
        units["e"].cgroup_limits,
        Unit::new("e", PathBuf::new(), Vec::new()).cgroup_limits
    );
}

#[test]
fn each_bad_cgroup_limit_is_reported_where_it_is() {
    let (_, problems) = check(&[
        (
            "a",
            "command: x\nmemory_max: 32MB\nmemory_high: 0\nmemory_swap_max: -1\ncpu_max: 50\ncpu_weight: 0\npids_max: 0\nio_weight: 10001\n",
        ),
        (
            "b",
            "command: x\nmemory_max: 1.5G\ncpu_max: \"0%\"\ncpu_weight: high\npids_max: lots\nio_weight: [1]\nmemory_high: 99999999T\n",
        ),
        (
            "c",
            "command: x\ncpu_max: \"500 100000\"\npids_max: 5000000\nmemory_swap_max: true\n",
        ),
        (
            "d",
            "command: x\ncpu_max: \"50000 100\"\nmemory_max: {}\nmemory_high: 1.5\n",
        ),
    ]);
    assert_eq!(
        problems,
        [
            "a.yaml:2:13: memory_max: \"32MB\" is not a size (whole bytes, or a whole number with K, M, G or T, or max)",
            "a.yaml:3:14: memory_high: 0 would leave it no memory at all (for no limit, write max)",
            "a.yaml:4:18: memory_swap_max: -1 is negative (expected a size such as 512M, or max)",
            "a.yaml:5:10: cpu_max: \"50\" is not a CPU limit (a percentage such as 50%, \"QUOTA PERIOD\" in microseconds such as \"50000 100000\", or max)",
            "a.yaml:6:13: cpu_weight: 0 is out of range (1 to 10000; the default is 100)",
            "a.yaml:7:11: pids_max: 0 would not let it start at all (at least 1, or max)",
            "a.yaml:8:12: io_weight: 10001 is out of range (1 to 10000; the default is 100)",
            "b.yaml:2:13: memory_max: \"1.5G\" is not a size (whole bytes, or a whole number with K, M, G or T, or max)",
            "b.yaml:3:10: cpu_max: 0% would never let it run (for no limit, write max)",
            "b.yaml:4:13: cpu_weight: expected a whole number from 1 to 10000, found a string",
            "b.yaml:5:11: pids_max: \"lots\" is not a number of processes (at least 1, or max)",
            "b.yaml:6:12: io_weight: expected a whole number from 1 to 10000, found a list",
            "b.yaml:7:14: memory_high: \"99999999T\" is too large (for no limit, write max)",
            "c.yaml:2:10: cpu_max: the quota 500 is out of range (1000 to 4096000000 microseconds)",
            "c.yaml:3:11: pids_max: 5000000 is more than the kernel allows (4194304; for no limit, write max)",
            "c.yaml:4:18: memory_swap_max: expected a size such as 512M, or max, found a boolean",
            "d.yaml:2:10: cpu_max: the period 100 is out of range (1000 to 1000000 microseconds)",
            "d.yaml:3:13: memory_max: expected a size such as 512M, or max, found a mapping",
            "d.yaml:4:14: memory_high: expected a size such as 512M, or max, found a number",
        ]
    );
}

#[test]
fn peers_names_for_cgroup_limits_point_at_fosters_keys() {
    for (theirs, ours) in [
        ("MemoryMax", "memory_max"),
        ("mem_limit", "memory_max"),
        ("MemoryHigh", "memory_high"),
        ("MemorySwapMax", "memory_swap_max"),
        ("CPUQuota", "cpu_max"),
        ("CPUWeight", "cpu_weight"),
        ("TasksMax", "pids_max"),
        ("pids_limit", "pids_max"),
        ("IOWeight", "io_weight"),
    ] {
        assert_eq!(
            key_hint(theirs),
            Some(format!("foster's key is `{ours}`")),
            "{theirs}"
        );
    }
    assert_eq!(closest("memory_maxx"), Some("memory_max"));
    assert_eq!(closest("pid_max"), Some("pids_max"));
}

#[test]
fn a_changed_cgroup_limit_makes_a_changed_unit() {
    let (before, _) = check(&[("a", "command: x\nmemory_max: 32M\n")]);
    let (after, _) = check(&[("a", "command: x\nmemory_max: 64M\n")]);
    assert_ne!(before["a"], after["a"]);
    let (same, _) = check(&[("a", "command: x\nmemory_max: 33554432\n")]);
    assert_eq!(before["a"], same["a"]);
    let (removed, _) = check(&[("a", "command: x\n")]);
    assert_ne!(before["a"], removed["a"]);
}

#[test]
fn log_modes_and_log_timestamps_are_read_and_checked() {
    let (units, problems) = check(&[
        ("a", "command: [a]\nlog: plain\nlog_timestamps: true\n"),
        ("b", "command: [b]\nlog: none\n"),
        ("c", "command: [c]\nlog: prefix\nlog_timestamps: false\n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        (units["a"].log, units["a"].log_timestamps),
        (LogMode::Plain, Some(true))
    );
    assert_eq!(
        (units["b"].log, units["b"].log_timestamps),
        (LogMode::None, None)
    );
    assert_eq!(units["c"].log_timestamps, Some(false));
    let (_, problems) = check(&[
        ("d", "command: [d]\nlog_timestamps: true\n"),
        ("e", "command: [e]\nlog: loud\nlog_timestamps: 1\n"),
    ]);
    assert_eq!(
        problems,
        [
            "d.yaml:2:17: log_timestamps: needs log: prefix or plain (foster does not read the output of log: inherit or none)",
            "e.yaml:2:6: log: unknown value \"loud\" (expected inherit, prefix, plain, none)",
            "e.yaml:3:17: log_timestamps: expected true or false, found a number",
        ]
    );
}

#[test]
fn log_file_its_rotation_and_log_buffer_are_read_and_checked() {
    let (units, problems) = check(&[
        (
            "a",
            "command: [a]\nlog: prefix\nlog_file: /var/log/a.log\nlog_max_size: 1M\nlog_keep: 3\nlog_buffer: 16K\n",
        ),
        (
            "b",
            "command: [b]\nlog: plain\nlog_file: /var/log/b.log\nlog_buffer: 0\n",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let a = units["a"].log_file.clone().unwrap();
    assert_eq!(
        (a.path.to_str(), a.max_size, a.keep),
        (Some("/var/log/a.log"), 1 << 20, 3)
    );
    assert_eq!(units["a"].log_buffer, 16 * 1024);
    let b = units["b"].log_file.clone().unwrap();
    assert_eq!((b.max_size, b.keep), (10 << 20, 5));
    assert_eq!(units["b"].log_buffer, 0);
    let (_, problems) = check(&[
        ("c", "command: [c]\nlog_file: /var/log/c.log\n"),
        (
            "d",
            "command: [d]\nlog: prefix\nlog_file: logs/d.log\nlog_max_size: 10\nlog_keep: -1\nlog_buffer: 1T\n",
        ),
        ("e", "command: [e]\nlog: prefix\nlog_keep: 2\n"),
    ]);
    assert_eq!(
        problems,
        [
            "c.yaml:2:11: log_file: needs log: prefix or plain (foster does not read the output of log: inherit or none)",
            "d.yaml:3:11: log_file: \"logs/d.log\" must be an absolute path",
            "d.yaml:4:15: log_max_size: at least 1K",
            "d.yaml:5:11: log_keep: -1 is out of range (0 to 1000)",
            "d.yaml:6:13: log_buffer: \"1T\" is not a size such as 64K (bytes, or K, M)",
            "e.yaml:3:11: this key is for log_file: it needs one",
        ]
    );
}
