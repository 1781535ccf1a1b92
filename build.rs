//! Links foster's binary with `link/hot-path.ld`, which puts the code a
//! one-command init runs side by side at the start of the text, so that an
//! idle foster keeps fewer pages of its binary resident (see
//! `link/gen-hot-path`). Only the order of functions changes.

fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/link/hot-path.ld");
    println!("cargo:rerun-if-changed=link/hot-path.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=foster=-Wl,-T,{script}");
    }
}
