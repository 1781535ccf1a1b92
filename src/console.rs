//! foster's two outputs, stdout and stderr, each behind one bounded,
//! non-blocking writer that foster's own log and the relay of `log: prefix`
//! services share.
//!
//! Nothing written here may stall PID 1. A slow reader, or a pipe nobody
//! reads at all, must not stop reaping, restarts or `fosterctl`: every
//! write is non-blocking (see [`Output`]), and what an output does not take
//! waits here, up to [`CAPACITY`] bytes, until the loop sees it writable.
//! Past half of that the relay stops reading the pipes that feed that
//! output, so the services writing to them wait instead (their lines are
//! never dropped); past all of it foster's own lines are dropped and
//! counted (one line says how many once the output takes lines again).
//!
//! Only whole lines go in, and the bytes of one output leave in the order
//! they went in, so a line of foster's never lands inside a relayed one.
//! Writes end at a line boundary and are at most `PIPE_BUF` bytes where
//! they can be, which a pipe takes whole or not at all: other writers to
//! the same pipe (services with `log: inherit`) interleave only between
//! lines.
//!
//! The writers are reached from the logger, which the `log` crate calls
//! from anywhere, so they live in one static behind a mutex (foster has
//! one thread; the lock is never contended). Code here never logs while
//! holding it, and the logger only ever tries the lock: a line logged from
//! inside would be counted as dropped, never deadlock.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys::{Output, Poller};

/// Bytes waiting for one output before foster's own lines are dropped.
pub const CAPACITY: usize = 64 * 1024;
/// Bytes waiting for one output before the relay pauses the pipes that
/// feed it: half, so that the other half (less one read's worth) is kept
/// for foster's own lines, which a flooding service never crowds out.
pub const RELAY_PAUSE_AT: usize = CAPACITY / 2;
/// Where the relay starts reading its paused pipes again.
pub const RESUME_BELOW: usize = CAPACITY / 4;
/// The most a pipe takes in one piece (`pipe(7)`: `PIPE_BUF`).
const PIPE_BUF: usize = 4096;

/// Tokens of foster's stdout and stderr in the poller.
pub const STDOUT_TOKEN: u64 = 5;
pub const STDERR_TOKEN: u64 = 6;

/// One of foster's two outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn fd(self) -> i32 {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    pub fn token(self) -> u64 {
        match self {
            Stream::Stdout => STDOUT_TOKEN,
            Stream::Stderr => STDERR_TOKEN,
        }
    }

    pub const BOTH: [Stream; 2] = [Stream::Stdout, Stream::Stderr];
}

/// The lines waiting for one output.
struct Writer {
    /// `None` until first used; then the output, or nothing when it could
    /// not be opened (everything for it is discarded).
    output: Option<Option<Output>>,
    buf: Vec<u8>,
    /// How much of `buf` is written already.
    start: usize,
    /// foster's own lines dropped since the last report.
    dropped: u64,
    /// Registered in the poller for room to write.
    watched: bool,
    /// The reader is gone for good (`EPIPE`): discard.
    dead: bool,
}

impl Writer {
    const fn new() -> Writer {
        Writer {
            output: None,
            buf: Vec::new(),
            start: 0,
            dropped: 0,
            watched: false,
            dead: false,
        }
    }

    fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    fn output(&mut self, stream: Stream) -> Option<&Output> {
        self.output
            .get_or_insert_with(|| Output::open(stream.fd()).ok())
            .as_ref()
    }

    /// Writes what the output takes now.
    fn flush(&mut self, stream: Stream) {
        if self.dead {
            self.buf.clear();
            self.start = 0;
            return;
        }
        if self.dropped > 0 && self.pending() < RESUME_BELOW {
            let note = format!("foster: {} log lines dropped\n", self.dropped);
            self.dropped = 0;
            self.buf.extend_from_slice(note.as_bytes());
        }
        if self.pending() > 0 && self.output(stream).is_none() {
            self.dead = true;
        }
        while self.pending() > 0 && !self.dead {
            let Some(Some(output)) = &self.output else {
                break;
            };
            let rest = self.buf.get(self.start..).unwrap_or_default();
            match output.write(line_piece(rest)) {
                Ok(0) => break,
                Ok(n) => self.start = self.start.saturating_add(n).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The reader is gone (EPIPE) or the output broke: discard.
                Err(_) => self.dead = true,
            }
        }
        if self.dead || self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= CAPACITY {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// The first piece of `rest` to write: at most `PIPE_BUF` bytes, ending
/// after a newline when one is in reach (a pipe takes such a write whole).
fn line_piece(rest: &[u8]) -> &[u8] {
    if rest.len() <= PIPE_BUF {
        return rest;
    }
    let head = rest.get(..PIPE_BUF).unwrap_or(rest);
    match head.iter().rposition(|&b| b == b'\n') {
        Some(end) => head.get(..=end).unwrap_or(head),
        None => head,
    }
}

struct Console {
    writers: [Writer; 2],
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    writers: [Writer::new(), Writer::new()],
});

/// Lines foster logged while the console was in use (a log call from
/// inside it): dropped rather than waited for.
static LOST: AtomicU64 = AtomicU64::new(0);

fn with<T>(f: impl FnOnce(&mut Console) -> T) -> T {
    let mut console = CONSOLE.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut console)
}

/// Opens both outputs now rather than with their first line, so that the
/// descriptors foster holds are the same from start-up on. (Opened either
/// way, they are among those foster keeps when it closes what it
/// inherited: see `Sources::raw_fds`.)
pub fn open() {
    with(|console| {
        for stream in Stream::BOTH {
            if let Some(writer) = console.writers.get_mut(stream.index()) {
                let _ = writer.output(stream);
            }
        }
    });
}

/// One of foster's own log lines (whole, with its newline), for stderr.
/// Dropped and counted when stderr already holds [`CAPACITY`] bytes.
pub fn log_line(line: &[u8]) {
    let Ok(mut console) = CONSOLE.try_lock() else {
        LOST.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(writer) = console.writers.get_mut(Stream::Stderr.index()) else {
        return;
    };
    let lost = LOST.swap(0, Ordering::Relaxed);
    writer.dropped = writer.dropped.saturating_add(lost);
    if writer.pending() >= CAPACITY {
        writer.dropped = writer.dropped.saturating_add(1);
        return;
    }
    writer.buf.extend_from_slice(line);
    writer.flush(Stream::Stderr);
}

/// Whole lines relayed from services, for `stream`. The relay asks
/// [`has_room`] before reading more, so this never grows without bound.
pub fn relay_lines(stream: Stream, lines: &[u8]) {
    if lines.is_empty() {
        return;
    }
    with(|console| {
        if let Some(writer) = console.writers.get_mut(stream.index()) {
            if writer.dead {
                return;
            }
            writer.buf.extend_from_slice(lines);
            writer.flush(stream);
        }
    });
}

/// Whether `stream` takes more relayed lines now (below
/// [`RELAY_PAUSE_AT`], or its reader is gone and everything is discarded).
pub fn has_room(stream: Stream) -> bool {
    with(|console| {
        console
            .writers
            .get(stream.index())
            .is_some_and(|w| w.dead || w.pending() < RELAY_PAUSE_AT)
    })
}

/// Whether the relay may read the pipes it paused for `stream` again.
pub fn drained(stream: Stream) -> bool {
    with(|console| {
        console
            .writers
            .get(stream.index())
            .is_some_and(|w| w.dead || w.pending() < RESUME_BELOW)
    })
}

/// `stream` has room again: write what is waiting.
pub fn writable(stream: Stream) {
    with(|console| {
        if let Some(writer) = console.writers.get_mut(stream.index()) {
            writer.flush(stream);
        }
    });
}

/// After a turn of the loop: write what can be written, and watch each
/// output for room exactly while something waits for it.
pub fn watch(poller: &Poller) {
    with(|console| {
        for stream in Stream::BOTH {
            let Some(writer) = console.writers.get_mut(stream.index()) else {
                continue;
            };
            if stream == Stream::Stderr {
                let lost = LOST.swap(0, Ordering::Relaxed);
                writer.dropped = writer.dropped.saturating_add(lost);
            }
            if writer.dropped > 0 {
                writer.flush(stream);
            }
            let want = writer.pending() > 0 && !writer.dead;
            if want == writer.watched {
                continue;
            }
            let Some(Some(output)) = &writer.output else {
                continue;
            };
            if want {
                writer.watched = poller.watch_writable(output.fd(), stream.token()).is_ok();
            } else {
                poller.unwatch(output.fd());
                writer.watched = false;
            }
        }
    });
}

/// At exit: writes what is waiting, waiting at most `limit` in all for
/// outputs to take it (then it is given up).
pub fn flush_before_exit(limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    for stream in Stream::BOTH {
        loop {
            let waiting = with(|console| {
                let writer = console.writers.get_mut(stream.index())?;
                writer.flush(stream);
                if writer.pending() == 0 || writer.dead {
                    return None;
                }
                let Some(Some(output)) = &writer.output else {
                    return None;
                };
                output.fd().try_clone_to_owned().ok()
            });
            let Some(fd) = waiting else {
                break;
            };
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !crate::sys::wait_writable(std::os::fd::AsFd::as_fd(&fd), left) {
                return;
            }
        }
    }
}

/// The descriptors of the outputs opened so far (foster's own: never to
/// be closed with what it inherited).
pub fn raw_fds() -> Vec<i32> {
    use std::os::fd::AsRawFd;
    with(|console| {
        console
            .writers
            .iter()
            .filter_map(|w| w.output.as_ref()?.as_ref().map(|o| o.fd().as_raw_fd()))
            .collect()
    })
}

/// A writer for the logger: each record arrives in one `write` (the
/// logger formats it whole first) and goes to [`log_line`].
pub struct LogWriter;

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        log_line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_at_a_line_boundary_within_pipe_buf() {
        let short = b"a\nb\n";
        assert_eq!(line_piece(short), short);
        let mut long = vec![b'x'; 3000];
        long.push(b'\n');
        long.extend(vec![b'y'; 3000]);
        long.push(b'\n');
        assert_eq!(line_piece(&long).len(), 3001);
        let one_line = vec![b'z'; PIPE_BUF * 2];
        assert_eq!(line_piece(&one_line).len(), PIPE_BUF);
    }
}
