//! foster's own log: stderr only, never stdout (stdout belongs to the
//! child). `-v` raises the level (warnings by default, then info, debug,
//! trace); `FOSTER_LOG` sets the filter outright, e.g. `FOSTER_LOG=debug`.
//! Each line goes through [`crate::console`], which never blocks: a stderr
//! nobody reads costs foster lines (counted), never its loop.
//!
//! A machine's init with no console at all logs to `/dev/kmsg` instead,
//! one record per line with its syslog priority, so that its messages land
//! in the kernel's log (and on whatever console the kernel has). It is
//! opened non-blocking; the kernel takes each record into its ring buffer
//! without waiting for any reader.

use std::io::Write;

use log::{Level, LevelFilter};

/// Where the log goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stderr,
    /// The kernel's log buffer, through `/dev/kmsg`.
    Kmsg,
}

/// `timestamps`: each line of foster's own begins with the time (RFC 3339
/// UTC, milliseconds); not in the kernel's log, which has its own.
pub fn init(verbosity: u8, target: Target, timestamps: bool) {
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .parse_env(env_logger::Env::new().filter("FOSTER_LOG"));
    let kmsg = match target {
        Target::Kmsg => {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open("/dev/kmsg")
                .ok()
        }
        Target::Stderr => None,
    };
    match kmsg {
        Some(file) => {
            // One write per record: the kernel takes each write as one
            // message, with the `<N>` priority in front.
            builder
                .target(env_logger::Target::Pipe(Box::new(file)))
                .format(|buf, record| {
                    let priority = match record.level() {
                        Level::Error => 3,
                        Level::Warn => 4,
                        Level::Info => 6,
                        Level::Debug | Level::Trace => 7,
                    };
                    crate::logbook::own_line(record.args().to_string());
                    writeln!(buf, "<{priority}>foster: {}", record.args())
                });
        }
        None => {
            builder
                .target(env_logger::Target::Pipe(Box::new(
                    crate::console::LogWriter,
                )))
                .format(move |buf, record| {
                    let level = match record.level() {
                        Level::Error => "error: ",
                        Level::Warn => "warning: ",
                        Level::Info => "",
                        Level::Debug => "debug: ",
                        Level::Trace => "trace: ",
                    };
                    if timestamps {
                        write!(buf, "{} ", crate::wall::now())?;
                    }
                    // Kept for `fosterctl logs` too, when it is kept.
                    crate::logbook::own_line(format!("{level}{}", record.args()));
                    writeln!(buf, "foster: {level}{}", record.args())
                });
        }
    }
    // Fails only if a logger is already installed: the first one stays.
    let _ = builder.try_init();
}
