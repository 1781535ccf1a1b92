//! The log relay for `log: prefix` and `log: plain` services: each line a
//! service writes reaches foster's stdout or stderr (as it came) with
//! `name | ` in front (`prefix`) or as it is (`plain`), and with the time
//! foster read it in front of that when timestamps are on.
//!
//! Nothing here may stall the loop. Service pipes are non-blocking, and
//! framed lines go to [`crate::console`], whose writers never block; when
//! an output cannot keep up and its writer is full, foster stops reading
//! the pipes that feed it (backpressure: the services block on a full
//! pipe) until the output drains. Relayed lines are never dropped, and
//! reaping and signals go on meanwhile. If an output is gone for good (its
//! reader closed), lines for it are discarded so that services never block.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use log::debug;

pub use crate::console::Stream;
use crate::logbook::LogBook;
use crate::logfile::{FileSpec, LogFile};
use crate::sys::{Poller, read_pipe};

/// A line longer than this is passed on in pieces.
pub const MAX_LINE: usize = 16 * 1024;

/// Tokens from here up are service pipes.
pub const FIRST_SOURCE: u64 = 1 << 40;

/// What goes in front of each relayed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// `NAME | ` (`log: prefix`); `None` for `log: plain`.
    pub name: Option<String>,
    /// The time the line was read (`--log-timestamps`, `log_timestamps:`).
    pub timestamps: bool,
    /// How many bytes of its last lines are kept for `fosterctl logs`
    /// (`log_buffer:`).
    pub buffer: usize,
}

/// Appends `data` to the partial line in `partial`, and every line it
/// completes to `out` with its label (and gives it, bare, to `each`);
/// `stamp` is the time it was read, when lines get one. Pure: tested
/// without descriptors.
pub fn frame(
    label: &Label,
    stamp: Option<&str>,
    partial: &mut Vec<u8>,
    data: &[u8],
    out: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]),
) {
    partial.extend_from_slice(data);
    let mut start = 0;
    while let Some(pos) = partial
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let end = start + pos;
        let line = partial.get(start..end).unwrap_or_default();
        emit(label, stamp, line, out);
        each(line);
        start = end + 1;
    }
    partial.drain(..start);
    while partial.len() >= MAX_LINE {
        let piece: Vec<u8> = partial.drain(..MAX_LINE).collect();
        emit(label, stamp, &piece, out);
        each(&piece);
    }
}

/// Passes on an unterminated last line (at end of file).
pub fn flush_partial(label: &Label, stamp: Option<&str>, partial: &mut Vec<u8>, out: &mut Vec<u8>) {
    if !partial.is_empty() {
        emit(label, stamp, partial, out);
        partial.clear();
    }
}

fn emit(label: &Label, stamp: Option<&str>, line: &[u8], out: &mut Vec<u8>) {
    if let Some(stamp) = stamp {
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
    }
    if let Some(name) = &label.name {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b" | ");
    }
    out.extend_from_slice(line);
    out.push(b'\n');
}

struct Source {
    name: String,
    label: Label,
    stream: Stream,
    fd: OwnedFd,
    partial: Vec<u8>,
    paused: bool,
}

/// Every service pipe being relayed.
pub struct Relay {
    sources: BTreeMap<u64, Source>,
    /// The log files of services with `log_file:`, by service name.
    files: std::collections::HashMap<String, LogFile>,
    next: u64,
    /// Some source is paused, waiting for its output to drain.
    paused: bool,
}

impl Default for Relay {
    fn default() -> Relay {
        Relay {
            sources: BTreeMap::new(),
            files: std::collections::HashMap::new(),
            next: FIRST_SOURCE,
            paused: false,
        }
    }
}

impl Relay {
    /// Relays `fd` (a pipe's read end) for service `name` to `stream`,
    /// each line with `label`.
    pub fn add(
        &mut self,
        poller: &Poller,
        name: &str,
        label: Label,
        stream: Stream,
        fd: OwnedFd,
    ) -> io::Result<()> {
        let token = self.next;
        self.next = self.next.saturating_add(1);
        poller.watch(fd.as_fd(), token)?;
        self.sources.insert(
            token,
            Source {
                name: name.to_string(),
                label,
                stream,
                fd,
                partial: Vec::new(),
                paused: false,
            },
        );
        Ok(())
    }

    /// The log file of service `name` from now on (`None`: none): one
    /// whose spec changed is closed, and the new one opened at its first
    /// line.
    pub fn set_file(&mut self, name: &str, spec: Option<FileSpec>) {
        match spec {
            None => {
                self.files.remove(name);
            }
            Some(spec) if self.files.get(name).is_some_and(|f| f.spec == spec) => {}
            Some(spec) => {
                self.files
                    .insert(name.to_string(), LogFile::new(name, spec));
            }
        }
    }

    /// Closes the log files of services foster no longer knows.
    pub fn retain_files(&mut self, known: impl Fn(&str) -> bool) {
        self.files.retain(|name, _| known(name));
    }

    /// A service pipe is readable (or closed): its lines go on, into
    /// `book`, and into its log file.
    pub fn readable(&mut self, poller: &Poller, token: u64, book: &mut LogBook) {
        let Some(source) = self.sources.get_mut(&token) else {
            return;
        };
        let mut buf = [0u8; 16 * 1024];
        let mut out = Vec::new();
        let mut ended = false;
        loop {
            if !crate::console::has_room(source.stream) {
                // Backpressure: stop reading until the output drains.
                poller.unwatch(source.fd.as_fd());
                source.paused = true;
                self.paused = true;
                break;
            }
            match read_pipe(source.fd.as_fd(), &mut buf) {
                Ok(Some(0)) | Err(_) => {
                    ended = true;
                    break;
                }
                Ok(Some(n)) => {
                    let data = buf.get(..n).unwrap_or_default();
                    out.clear();
                    // When foster read them: one clock read per chunk.
                    let read_at = std::time::SystemTime::now();
                    let stamp = source.label.timestamps.then(|| crate::wall::stamp(read_at));
                    let stamp = stamp.as_deref();
                    let (name, cap) = (&source.name, source.label.buffer);
                    frame(
                        &source.label,
                        stamp,
                        &mut source.partial,
                        data,
                        &mut out,
                        |l| book.push(name, cap, l, read_at),
                    );
                    if let Some(file) = self.files.get_mut(&source.name) {
                        file.append(&out);
                    }
                    crate::console::relay_lines(source.stream, &out);
                }
                Ok(None) => break,
            }
        }
        if ended {
            out.clear();
            let read_at = std::time::SystemTime::now();
            if !source.partial.is_empty() {
                book.push(&source.name, source.label.buffer, &source.partial, read_at);
            }
            let stamp = source.label.timestamps.then(|| crate::wall::stamp(read_at));
            flush_partial(
                &source.label,
                stamp.as_deref(),
                &mut source.partial,
                &mut out,
            );
            if let Some(file) = self.files.get_mut(&source.name) {
                file.append(&out);
            }
            crate::console::relay_lines(source.stream, &out);
            poller.unwatch(source.fd.as_fd());
            self.sources.remove(&token);
        }
    }

    /// After an output drained: read the pipes paused for it again.
    pub fn resume(&mut self, poller: &Poller) {
        if !self.paused {
            return;
        }
        let mut still = false;
        for (&token, source) in self.sources.iter_mut().filter(|(_, s)| s.paused) {
            if crate::console::drained(source.stream) {
                source.paused = false;
                if poller.watch(source.fd.as_fd(), token).is_err() {
                    debug!("cannot resume relaying {}", source.name);
                }
            } else {
                still = true;
            }
        }
        self.paused = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Label {
        Label {
            name: Some("web".into()),
            timestamps: false,
            buffer: 0,
        }
    }

    fn framed(chunks: &[&[u8]]) -> (String, Vec<u8>) {
        let (mut partial, mut out) = (Vec::new(), Vec::new());
        for c in chunks {
            frame(&web(), None, &mut partial, c, &mut out, |_| {});
        }
        (String::from_utf8_lossy(&out).into_owned(), partial)
    }

    #[test]
    fn lines_get_the_prefix_across_chunk_boundaries() {
        let (out, partial) = framed(&[b"hel", b"lo\nwor", b"ld\n\nlast"]);
        assert_eq!(out, "web | hello\nweb | world\nweb | \n");
        assert_eq!(partial, b"last");
        let (mut partial, mut out) = (partial, Vec::new());
        flush_partial(&web(), None, &mut partial, &mut out);
        assert_eq!(out, b"web | last\n");
    }

    #[test]
    fn plain_lines_have_no_prefix_and_a_stamp_goes_first() {
        let plain = Label {
            name: None,
            timestamps: true,
            buffer: 0,
        };
        let (mut partial, mut out) = (Vec::new(), Vec::new());
        let stamp = Some("2026-12-03T06:20:01.123Z");
        let mut bare = Vec::new();
        frame(
            &plain,
            stamp,
            &mut partial,
            b"one
two
",
            &mut out,
            |l| bare.push(l.to_vec()),
        );
        assert_eq!(bare, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(
            out,
            b"2026-12-03T06:20:01.123Z one\n2026-12-03T06:20:01.123Z two\n"
        );
        out.clear();
        frame(&web(), stamp, &mut partial, b"three\n", &mut out, |_| {});
        assert_eq!(out, b"2026-12-03T06:20:01.123Z web | three\n");
    }

    #[test]
    fn overlong_lines_are_passed_on_in_pieces() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let (out, partial) = framed(&[&long]);
        assert_eq!(out.lines().count(), 2);
        assert_eq!(partial.len(), 10);
    }
}
