//! Links foster's binary with `link/hot-path.ld`, which puts the code a
//! one-command init runs side by side at the start of the text, so that an
//! idle foster keeps fewer pages of its binary resident (see
//! `link/gen-hot-path`). Only the order of functions changes.
//!
//! Also names the commit the binaries are built from, for `foster
//! --version` and `fosterctl --version`: `FOSTER_COMMIT`, the first 12
//! digits of `git rev-parse HEAD` in the source tree, or `unknown` where
//! there is no git or no repository (a source tarball). A `FOSTER_COMMIT`
//! in the build's environment wins, for builds from a copy of the tree
//! without its `.git`.

use std::path::Path;
use std::process::Command;

fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/link/hot-path.ld");
    println!("cargo:rerun-if-changed=link/hot-path.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=foster=-Wl,-T,{script}");
    }
    println!("cargo:rustc-env=FOSTER_COMMIT={}", commit());
}

/// The commit, and a `rerun-if-changed` for each file that changes with a
/// new commit or checkout: HEAD, the branch it points to (a loose ref, or
/// `packed-refs` once git packed it). In a worktree these live in two
/// places (the worktree's own git directory and the common one), which
/// `git rev-parse --git-path` resolves. (No `-dirty` mark: the script reruns
/// on these files only, so a mark set by an edit would outlive the edit.)
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=FOSTER_COMMIT");
    if let Some(given) = std::env::var("FOSTER_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
    {
        return given;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        let text = text.trim();
        (out.status.success() && !text.is_empty()).then(|| text.to_string())
    };
    // Only a repository whose top is this crate's directory: a tarball
    // unpacked inside some other repository must not take its commit.
    let top = git(&["rev-parse", "--show-toplevel"]);
    let ours = top
        .as_deref()
        .and_then(|t| Path::new(t).canonicalize().ok())
        .zip(Path::new(root).canonicalize().ok())
        .is_some_and(|(top, root)| top == root);
    if !ours {
        return "unknown".into();
    }
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = Path::new(root).join(path);
            // A path that does not exist would make cargo rerun this
            // script on every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
}
