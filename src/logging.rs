//! foster's own log: stderr only, never stdout (stdout belongs to the
//! child). `-v` raises the level (warnings by default, then info, debug,
//! trace); `FOSTER_LOG` sets the filter outright, e.g. `FOSTER_LOG=debug`.

use std::io::Write;

use log::{Level, LevelFilter};

pub fn init(verbosity: u8) {
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .parse_env(env_logger::Env::new().filter("FOSTER_LOG"))
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            let level = match record.level() {
                Level::Error => "error: ",
                Level::Warn => "warning: ",
                Level::Info => "",
                Level::Debug => "debug: ",
                Level::Trace => "trace: ",
            };
            writeln!(buf, "foster: {level}{}", record.args())
        });
    // Fails only if a logger is already installed, which cannot happen.
    let _ = builder.try_init();
}
