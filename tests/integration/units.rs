//! The services directory as foster reads it: every entry named like a unit
//! file is either read as one or reported, and none can block foster.

use std::os::unix::fs::symlink;

use crate::control::fosterctl;
use crate::util::{Mode, TempDir, foster, modes, run, start};

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
    // Not named like a unit: not looked at.
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
    assert_eq!(done.stdout, [format!("{dir}: 2 units, no problems")]);
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
