//! The log relay for `log: prefix` services: each line a service writes
//! reaches foster's stdout or stderr (as it came) with `name | ` in front.
//!
//! Nothing here may stall the loop. Service pipes and foster's outputs are
//! all non-blocking; when an output cannot keep up, what is waiting for it
//! is buffered up to [`HIGH_WATER`], and past that foster stops reading the
//! pipes that feed it (backpressure: the services block on a full pipe)
//! until the output drains. Lines are never dropped, and reaping and
//! signals go on meanwhile. If an output is gone for good (its reader
//! closed), lines for it are discarded so that services never block.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use log::debug;

use crate::sys::{Output, Poller, read_pipe};

/// Bytes buffered for one output before its sources are paused.
pub const HIGH_WATER: usize = 64 * 1024;
/// A line longer than this is passed on in pieces.
pub const MAX_LINE: usize = 16 * 1024;

/// Tokens of foster's stdout and stderr in the poller.
pub const STDOUT_TOKEN: u64 = 5;
pub const STDERR_TOKEN: u64 = 6;
/// Tokens from here up are service pipes.
pub const FIRST_SOURCE: u64 = 1 << 40;

/// Appends `data` to the partial line in `partial`, and every line it
/// completes to `out` with the prefix. Pure: tested without descriptors.
pub fn frame(name: &str, partial: &mut Vec<u8>, data: &[u8], out: &mut Vec<u8>) {
    partial.extend_from_slice(data);
    let mut start = 0;
    while let Some(pos) = partial
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let end = start + pos;
        emit(name, partial.get(start..end).unwrap_or_default(), out);
        start = end + 1;
    }
    partial.drain(..start);
    while partial.len() >= MAX_LINE {
        let piece: Vec<u8> = partial.drain(..MAX_LINE).collect();
        emit(name, &piece, out);
    }
}

/// Passes on an unterminated last line (at end of file).
pub fn flush_partial(name: &str, partial: &mut Vec<u8>, out: &mut Vec<u8>) {
    if !partial.is_empty() {
        emit(name, partial, out);
        partial.clear();
    }
}

fn emit(name: &str, line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b" | ");
    out.extend_from_slice(line);
    out.push(b'\n');
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

struct Source {
    name: String,
    stream: Stream,
    fd: OwnedFd,
    partial: Vec<u8>,
    paused: bool,
}

struct Sink {
    output: Option<Output>,
    pending: Vec<u8>,
    /// Registered for EPOLLOUT.
    waiting: bool,
    /// Its reader is gone: discard.
    dead: bool,
}

impl Sink {
    fn open(fd: i32) -> Sink {
        let output = Output::open(fd).ok();
        Sink {
            dead: output.is_none(),
            output,
            pending: Vec::new(),
            waiting: false,
        }
    }
}

/// Every service pipe being relayed and foster's two outputs.
pub struct Relay {
    sources: BTreeMap<u64, Source>,
    next: u64,
    sinks: Option<[Sink; 2]>,
}

impl Default for Relay {
    fn default() -> Relay {
        Relay {
            sources: BTreeMap::new(),
            next: FIRST_SOURCE,
            sinks: None,
        }
    }
}

impl Relay {
    /// Relays `fd` (a pipe's read end) for service `name` to `stream`.
    pub fn add(
        &mut self,
        poller: &Poller,
        name: &str,
        stream: Stream,
        fd: OwnedFd,
    ) -> io::Result<()> {
        self.sinks
            .get_or_insert_with(|| [Sink::open(1), Sink::open(2)]);
        let token = self.next;
        self.next += 1;
        poller.watch(fd.as_fd(), token)?;
        self.sources.insert(
            token,
            Source {
                name: name.to_string(),
                stream,
                fd,
                partial: Vec::new(),
                paused: false,
            },
        );
        Ok(())
    }

    /// A service pipe is readable (or closed).
    pub fn readable(&mut self, poller: &Poller, token: u64) {
        let Some(sinks) = self.sinks.as_mut() else {
            return;
        };
        let Some(source) = self.sources.get_mut(&token) else {
            return;
        };
        let index = source.stream as usize;
        let Some(sink) = sinks.get_mut(index) else {
            return;
        };
        let mut buf = [0u8; 16 * 1024];
        let mut ended = false;
        loop {
            if sink.pending.len() >= HIGH_WATER && !sink.dead {
                // Backpressure: stop reading until the output drains.
                poller.unwatch(source.fd.as_fd());
                source.paused = true;
                break;
            }
            match read_pipe(source.fd.as_fd(), &mut buf) {
                Ok(Some(0)) | Err(_) => {
                    ended = true;
                    break;
                }
                Ok(Some(n)) => {
                    let data = buf.get(..n).unwrap_or_default();
                    if sink.dead {
                        continue;
                    }
                    frame(&source.name, &mut source.partial, data, &mut sink.pending);
                    flush(sink, poller, stream_token(index));
                }
                Ok(None) => break,
            }
        }
        if ended {
            if !sink.dead {
                flush_partial(&source.name, &mut source.partial, &mut sink.pending);
                flush(sink, poller, stream_token(index));
            }
            poller.unwatch(source.fd.as_fd());
            self.sources.remove(&token);
        }
    }

    /// foster's stdout or stderr has room again.
    pub fn writable(&mut self, poller: &Poller, token: u64) {
        let index = if token == STDOUT_TOKEN { 0 } else { 1 };
        let Some(sink) = self.sinks.as_mut().and_then(|s| s.get_mut(index)) else {
            return;
        };
        flush(sink, poller, token);
        if sink.pending.len() < HIGH_WATER / 2 || sink.dead {
            for (&t, source) in self.sources.iter_mut() {
                if source.paused && source.stream as usize == index {
                    source.paused = false;
                    if poller.watch(source.fd.as_fd(), t).is_err() {
                        debug!("cannot resume relaying {}", source.name);
                    }
                }
            }
        }
    }
}

fn stream_token(index: usize) -> u64 {
    if index == 0 {
        STDOUT_TOKEN
    } else {
        STDERR_TOKEN
    }
}

/// Writes what the output takes now; watches it for room when some is left.
fn flush(sink: &mut Sink, poller: &Poller, token: u64) {
    let Some(output) = &sink.output else {
        sink.pending.clear();
        return;
    };
    while !sink.pending.is_empty() {
        match output.write(&sink.pending) {
            Ok(0) => break,
            Ok(n) => {
                sink.pending.drain(..n.min(sink.pending.len()));
            }
            Err(_) => {
                // The reader is gone (EPIPE) or the output broke: discard.
                sink.dead = true;
                sink.pending.clear();
            }
        }
    }
    let want = !sink.pending.is_empty();
    if want && !sink.waiting {
        sink.waiting = poller.watch_writable(output.fd(), token).is_ok();
    } else if !want && sink.waiting {
        poller.unwatch(output.fd());
        sink.waiting = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(chunks: &[&[u8]]) -> (String, Vec<u8>) {
        let (mut partial, mut out) = (Vec::new(), Vec::new());
        for c in chunks {
            frame("web", &mut partial, c, &mut out);
        }
        (String::from_utf8_lossy(&out).into_owned(), partial)
    }

    #[test]
    fn lines_get_the_prefix_across_chunk_boundaries() {
        let (out, partial) = framed(&[b"hel", b"lo\nwor", b"ld\n\nlast"]);
        assert_eq!(out, "web | hello\nweb | world\nweb | \n");
        assert_eq!(partial, b"last");
        let (mut partial, mut out) = (partial, Vec::new());
        flush_partial("web", &mut partial, &mut out);
        assert_eq!(out, b"web | last\n");
    }

    #[test]
    fn overlong_lines_are_passed_on_in_pieces() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let (out, partial) = framed(&[&long]);
        assert_eq!(out.lines().count(), 2);
        assert_eq!(partial.len(), 10);
    }
}
