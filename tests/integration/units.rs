//! The services directory as foster reads it: every entry named like a unit
//! file is either read as one or reported, and none can block foster.

use std::os::unix::fs::symlink;

use crate::control::fosterctl;
use crate::util::{Mode, TempDir, foster, modes, run, start};

fn check(units: &TempDir) -> crate::util::Finished {
    run(Mode::Subreaper, &["--check", "--services", &units.path()])
}

fn mkfifo(path: &std::path::Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644))
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

#[test]
fn check_names_each_fifo_directory_dangling_link_and_oversized_file_named_like_a_unit() {
    let units = TempDir::new("check-odd");
    let elsewhere = TempDir::new("check-odd-target");
    units.write("good.yaml", "command: [\"/bin/true\"]\n");
    // A symlink to a regular file is a unit file like any other.
    let real = elsewhere.write("real", "command: [\"/bin/true\"]\n");
    symlink(&real, units.0.join("linked.yaml")).unwrap();
    mkfifo(&units.0.join("x.yaml"));
    // Through a symlink, the FIFO is only found out once opened: the open
    // must not wait for a writer.
    mkfifo(&elsewhere.0.join("pipe"));
    symlink(elsewhere.0.join("pipe"), units.0.join("y.yml")).unwrap();
    std::fs::create_dir(units.0.join("d.yaml")).unwrap();
    symlink(elsewhere.0.join("nothing"), units.0.join("gone.yaml")).unwrap();
    let big = format!("command: [\"/bin/true\"]\n#{}\n", "x".repeat(2 << 20));
    units.write("big.yaml", &big);
    // Not named like a unit: not read (a warning for the directory; a
    // hidden entry is nobody's unit).
    std::fs::create_dir(units.0.join("notes")).unwrap();
    mkfifo(&units.0.join(".hidden.yaml"));

    let done = run(Mode::Subreaper, &["--check", "--services", &units.path()]);
    let dir = units.path();
    assert_eq!(
        done.stdout,
        [
            format!(
                "{dir}/big.yaml: too large ({} bytes; a unit file is at most 1 MiB)",
                big.len()
            ),
            format!("{dir}/d.yaml: not a regular file (a directory)"),
            format!("{dir}/gone.yaml: a symbolic link to nothing (its target does not exist)"),
            format!("{dir}/x.yaml: not a regular file (a FIFO)"),
            format!("{dir}/y.yml: not a regular file (a FIFO)"),
            format!("warning: {dir}/notes: ignored: a directory"),
        ],
        "{:?}",
        done.stderr
    );
    assert_eq!(done.code(), 1);

    // Without them, the two real units check clean.
    for odd in ["big.yaml", "x.yaml", "y.yml", "gone.yaml"] {
        std::fs::remove_file(units.0.join(odd)).unwrap();
    }
    std::fs::remove_dir(units.0.join("d.yaml")).unwrap();
    let done = run(Mode::Subreaper, &["--check", "--services", &units.path()]);
    assert_eq!(
        done.stdout,
        [
            format!("warning: {dir}/notes: ignored: a directory"),
            format!("{dir}: 2 units, no problems, 1 warning"),
        ]
    );
    assert_eq!(done.code(), 0);
}

#[test]
fn a_fifo_renamed_onto_a_unit_file_is_reported_by_a_reload_and_never_blocks_foster() {
    for mode in modes() {
        let dir = TempDir::new("fifo-reload-sock");
        let socket = dir.0.join("control.sock").to_string_lossy().into_owned();
        let units = TempDir::new("fifo-reload");
        units.write(
            "web.yaml",
            "command: [\"/bin/sh\", \"-c\", \"echo web up; exec sleep 1000\"]\n",
        );
        let mut running = start(foster(
            mode,
            &["--socket", &socket, "--services", &units.path()],
        ));
        running.expect_line("web up");

        // Made elsewhere and renamed into place, as an editor or a
        // deployment tool puts a file there.
        mkfifo(&dir.0.join("x.yaml.new"));
        std::fs::rename(dir.0.join("x.yaml.new"), units.0.join("x.yaml")).unwrap();
        mkfifo(&dir.0.join("pipe"));
        symlink(dir.0.join("pipe"), units.0.join("y.yaml")).unwrap();

        let (code, out, err) = fosterctl(&socket, &["reload"]);
        assert_eq!(code, 0, "{mode:?}: {err}");
        let dir_path = units.path();
        assert!(
            out.contains(&format!("{dir_path}/x.yaml: not a regular file (a FIFO)\n")),
            "{mode:?}: {out}"
        );
        assert!(
            out.contains(&format!("{dir_path}/y.yaml: not a regular file (a FIFO)\n")),
            "{mode:?}: {out}"
        );
        assert!(
            out.contains("added: -\nchanged: -\nremoved: -\n"),
            "{mode:?}: {out}"
        );

        // foster goes on answering, its service untouched.
        let (code, out, err) = fosterctl(&socket, &["status", "web"]);
        assert_eq!(code, 0, "{mode:?}: {out} {err}");
        assert!(out.contains("running"), "{mode:?}: {out}");

        running.signal(libc::SIGTERM);
        let done = running.finish();
        assert_eq!(done.code(), 0, "{mode:?}: {:?}", done.stderr);
    }
}

#[test]
fn check_says_what_to_write_instead_in_its_own_words() {
    let units = TempDir::new("check-words");
    units.write(
        "web.yaml",
        "command: [\"/bin/true\"]\nrestart: always\nEnvironment: {A: 1}\nrestart: never\nWorkingDirectory: /srv\nhealthcheck: {test: curl}\n",
    );
    units.write("web.yml", "command: [\"/bin/true\"]\n");
    units.write(
        "two.yaml",
        "command: [\"/bin/true\"]\n---\ncommand: [\"/bin/false\"]\n",
    );
    units.write(
        "who.yaml",
        "command: [\"/bin/true\"]\nuser: nobody-foster-test\ngroup: nogroup-foster-test\n",
    );
    units.write("half.yaml", "command: [\"/bin/true\"]\nuser: 1.5\n");
    let dir = units.path();
    let done = check(&units);
    assert_eq!(
        done.stdout,
        [
            format!("{dir}/half.yaml:2:7: user: a user is a name or a whole number, found 1.5"),
            format!("{dir}/two.yaml:3:1: invalid YAML: a unit file holds one YAML document"),
            format!("{dir}/web.yaml:3:1: unknown key `Environment` (foster's key is `env`)"),
            format!("{dir}/web.yaml:4:1: duplicate key `restart` (first at 2:1)"),
            format!(
                "{dir}/web.yaml:5:1: unknown key `WorkingDirectory` (foster's key is `workdir`)"
            ),
            format!("{dir}/web.yaml:6:1: unknown key `healthcheck` (foster's key is `health`)"),
            format!("{dir}/web.yml: a unit named \"web\" is also defined by {dir}/web.yaml"),
            format!("{dir}/who.yaml:2:7: unknown user \"nobody-foster-test\" (not in /etc/passwd)"),
            format!(
                "{dir}/who.yaml:3:8: unknown group \"nogroup-foster-test\" (not in /etc/group)"
            ),
        ],
        "{:?}",
        done.stderr
    );
    assert_eq!(done.code(), 1);
    for line in &done.stdout {
        assert!(!line.contains(":0:"), "{line}");
    }
}

#[test]
fn check_warns_of_what_this_machine_lacks_and_of_files_it_ignores_but_passes() {
    let units = TempDir::new("check-warn");
    units.write("web.yaml", "command: nginxx-foster-test -g 'daemon off;'\n");
    units.write(
        "api.yaml",
        "command: [\"/bin/true\"]\nworkdir: /nonexistent-foster-test\n",
    );
    // The unit's own PATH is where its command is looked for.
    units.write(
        "tool.yaml",
        "command: [true]\nenv: {PATH: /nonexistent-foster-test}\n",
    );
    units.write("fine.yaml", "command: [true]\n");
    units.write("README", "notes\n");
    units.write("db.conf", "x\n");
    units.write("old.yaml~", "command: x\n");
    units.write("web.YAML", "command: x\n");
    units.write(".hidden", "x\n");
    std::fs::create_dir(units.0.join("conf.d")).unwrap();
    let dir = units.path();
    let done = check(&units);
    assert_eq!(
        done.stdout,
        [
            format!("warning: {dir}/README: ignored: not a .yaml/.yml file"),
            format!(
                "warning: {dir}/api.yaml:2:10: workdir: directory \"/nonexistent-foster-test\" does not exist"
            ),
            format!("warning: {dir}/conf.d: ignored: a directory"),
            format!("warning: {dir}/db.conf: ignored: not a .yaml/.yml file"),
            format!("warning: {dir}/old.yaml~: ignored: not a .yaml/.yml file"),
            format!("warning: {dir}/tool.yaml:1:10: command \"true\" not found on PATH"),
            format!(
                "warning: {dir}/web.YAML: ignored: not a .yaml/.yml file (the extension is lower case)"
            ),
            format!(
                "warning: {dir}/web.yaml:1:10: command \"nginxx-foster-test\" not found on PATH"
            ),
            format!("{dir}: 4 units, no problems, 8 warnings"),
        ],
        "{:?}",
        done.stderr
    );
    assert_eq!(done.code(), 0);
}

#[test]
fn check_counts_one_unit_and_one_warning_in_the_singular() {
    let units = TempDir::new("check-one");
    units.write("only.yaml", "command: [\"/bin/true\"]\n");
    let dir = units.path();
    let done = check(&units);
    assert_eq!(done.stdout, [format!("{dir}: 1 unit, no problems")]);
    assert_eq!(done.code(), 0);
    units.write("NOTES", "x\n");
    let done = check(&units);
    assert_eq!(
        done.stdout,
        [
            format!("warning: {dir}/NOTES: ignored: not a .yaml/.yml file"),
            format!("{dir}: 1 unit, no problems, 1 warning"),
        ]
    );
    assert_eq!(done.code(), 0);
    std::fs::remove_file(units.0.join("only.yaml")).unwrap();
    std::fs::remove_file(units.0.join("NOTES")).unwrap();
    assert_eq!(
        check(&units).stdout,
        [format!("{dir}: 0 units, no problems")]
    );
}

#[test]
fn check_takes_env_file_and_autostart() {
    let units = TempDir::new("check-env-file");
    units.write(
        "web.yaml",
        "command: [\"/bin/true\"]\nenv_file: [/etc/web.env, -/etc/web.local.env]\nautostart: false\n",
    );
    let dir = units.path();
    let done = check(&units);
    assert_eq!(done.stdout, [format!("{dir}: 1 unit, no problems")]);
    assert_eq!(done.code(), 0);
    units.write(
        "bad.yaml",
        "command: [\"/bin/true\"]\nenv_file: -web.env\nautostart: maybe\n",
    );
    let done = check(&units);
    assert_eq!(
        done.stdout,
        [
            format!("{dir}/bad.yaml:2:11: env_file: \"web.env\" must be an absolute path"),
            format!("{dir}/bad.yaml:3:12: autostart: expected true or false, found a string"),
        ]
    );
    assert_eq!(done.code(), 1);
}

#[test]
fn a_directory_with_warnings_only_runs_its_units() {
    for mode in modes() {
        let units = TempDir::new("warn-runs");
        let marker = units.0.join("marker");
        units.write("README", "not a unit\n");
        units.write(
            "setup.yaml",
            &format!("type: oneshot\ncommand: echo ran > {}\n", marker.display()),
        );
        let check = format!("test -f {} && exit 3", marker.display());
        let done = run(
            mode,
            &["--services", &units.path(), "--", "sh", "-c", &check],
        );
        assert_eq!(done.code(), 3, "{mode:?}: {:?}", done.stderr);
    }
}
