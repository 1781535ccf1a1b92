//! The lines kept for `fosterctl logs`: each relayed service's last
//! `log_buffer` bytes of output, and foster's own last lines, each line
//! with the order and the time foster read it, so that the services' lines
//! can be shown interleaved as they came. Bounded by bytes: a service that
//! writes a gigabyte as fast as it can costs foster its buffer, no more.
//!
//! foster's own lines come from the logger (which runs wherever a line is
//! logged): they wait in a small queue of this thread's until the loop
//! takes them in ([`LogBook::take_own`]), at the end of each turn.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

/// The name foster's own lines are kept under.
pub const FOSTER: &str = "foster";
/// How much of foster's own lines is kept.
pub const OWN_BUFFER: usize = 64 * 1024;
/// The most of foster's own lines that wait for the loop between turns.
const OWN_PENDING: usize = 1024;

/// One line, as foster read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its place in the order foster read lines, across services.
    pub seq: u64,
    pub stamp: SystemTime,
    /// The service's name, or [`FOSTER`] (shared by its lines).
    pub source: std::rc::Rc<str>,
    /// Without its newline.
    pub text: Vec<u8>,
}

impl Line {
    /// As `fosterctl logs` shows it: `TIME NAME | TEXT`.
    pub fn render(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(crate::wall::stamp(self.stamp).as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.source.as_bytes());
        out.extend_from_slice(b" | ");
        out.extend_from_slice(&self.text);
        out.push(b'\n');
    }
}

/// One source's last lines, within `cap` bytes.
struct Ring {
    cap: usize,
    used: usize,
    lines: VecDeque<Line>,
    /// The source's name, shared by its lines.
    name: std::rc::Rc<str>,
}

/// What a kept line costs besides its text: its record, so that `cap`
/// bounds the memory the lines take, not their text alone.
const LINE_COST: usize = std::mem::size_of::<Line>();

impl Ring {
    fn push(&mut self, mut line: Line) {
        line.text.truncate(self.cap.saturating_sub(LINE_COST));
        line.text.shrink_to_fit();
        let size = line.text.len().saturating_add(LINE_COST);
        while self.used.saturating_add(size) > self.cap {
            match self.lines.pop_front() {
                Some(old) => self.used = self.used.saturating_sub(old.text.len() + LINE_COST),
                None => break,
            }
        }
        self.used = self.used.saturating_add(size);
        self.lines.push_back(line);
    }
}

/// Every source's last lines, and the lines read since the loop last
/// handed them to those following (`fosterctl logs -f`).
#[derive(Default)]
pub struct LogBook {
    rings: HashMap<String, Ring>,
    /// Someone follows: new lines are kept in `fresh` too.
    pub following: bool,
    fresh: Vec<Line>,
}

thread_local! {
    /// foster's own lines not taken in yet; `None` while they are not kept
    /// (one-command mode has no `fosterctl logs`).
    static OWN: RefCell<Option<VecDeque<(u64, SystemTime, String)>>> = const { RefCell::new(None) };
    /// The next line's place in the order lines were read, shared by
    /// foster's own lines and the services': a line logged in the middle
    /// of a turn comes between the lines relayed before and after it.
    static NEXT_SEQ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn next_seq() -> u64 {
    NEXT_SEQ.with(|n| {
        let seq = n.get();
        n.set(seq.wrapping_add(1));
        seq
    })
}

/// From now on, foster's own lines are kept.
pub fn keep_own_lines() {
    OWN.with(|own| *own.borrow_mut() = Some(VecDeque::new()));
}

/// One of foster's own lines (the logger's): kept if they are kept.
pub fn own_line(text: String) {
    OWN.with(|own| {
        if let Ok(mut own) = own.try_borrow_mut()
            && let Some(queue) = own.as_mut()
        {
            if queue.len() >= OWN_PENDING {
                queue.pop_front();
            }
            queue.push_back((next_seq(), SystemTime::now(), text));
        }
    });
}

impl LogBook {
    /// Keeps `text`, a line `source` wrote (read at `stamp`), within `cap`
    /// bytes of its lines (0: none kept, but followers still see it).
    pub fn push(&mut self, source: &str, cap: usize, text: &[u8], stamp: SystemTime) {
        self.keep(next_seq(), source, cap, text, stamp);
    }

    fn keep(&mut self, seq: u64, source: &str, cap: usize, text: &[u8], stamp: SystemTime) {
        let ring = self
            .rings
            .entry(source.to_string())
            .or_insert_with(|| Ring {
                cap,
                used: 0,
                lines: VecDeque::new(),
                name: std::rc::Rc::from(source),
            });
        ring.cap = cap;
        let line = Line {
            seq,
            stamp,
            source: ring.name.clone(),
            text: text.to_vec(),
        };
        if self.following {
            self.fresh.push(line.clone());
        }
        if cap > 0 {
            ring.push(line);
        }
    }

    /// Takes in foster's own lines logged since the last time.
    pub fn take_own(&mut self) {
        let lines: Vec<(u64, SystemTime, String)> = OWN.with(|own| {
            own.try_borrow_mut()
                .ok()
                .and_then(|mut own| own.as_mut().map(|q| q.drain(..).collect()))
                .unwrap_or_default()
        });
        for (seq, stamp, text) in lines {
            self.keep(seq, FOSTER, OWN_BUFFER, text.as_bytes(), stamp);
        }
        // Followers get lines in order, foster's own among the others.
        self.fresh.sort_by_key(|l| l.seq);
    }

    /// The lines read since the last call, for those following.
    pub fn take_fresh(&mut self) -> Vec<Line> {
        std::mem::take(&mut self.fresh)
    }

    /// The last `n` lines of `sources` (every source when empty), in the
    /// order they were read.
    pub fn tail(&self, sources: &[String], n: usize) -> Vec<&Line> {
        let mut lines: Vec<&Line> = self
            .rings
            .iter()
            .filter(|(name, _)| sources.is_empty() || sources.contains(*name))
            .flat_map(|(_, ring)| ring.lines.iter().rev().take(n))
            .collect();
        lines.sort_by_key(|l| l.seq);
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }

    /// Drops the lines of services foster no longer knows.
    pub fn retain(&mut self, known: impl Fn(&str) -> bool) {
        self.rings.retain(|name, _| name == FOSTER || known(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(n)
    }

    #[test]
    fn a_ring_keeps_its_last_lines_within_its_bytes() {
        let mut book = LogBook::default();
        for i in 0..100 {
            book.push(
                "web",
                3 * (LINE_COST + 7),
                format!("line {i:02}").as_bytes(),
                t(i),
            );
        }
        // Three lines and their records fit.
        let kept: Vec<String> = book
            .tail(&[], 100)
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect();
        assert_eq!(kept, ["line 97", "line 98", "line 99"]);
        // A line longer than the buffer is cut to it.
        book.push("big", LINE_COST + 4, b"0123456789", t(200));
        assert_eq!(book.tail(&["big".into()], 5)[0].text, b"0123");
        // 0: nothing kept.
        book.push("none", 0, b"gone", t(300));
        assert!(book.tail(&["none".into()], 5).is_empty());
    }

    #[test]
    fn the_tail_interleaves_sources_in_the_order_read() {
        let mut book = LogBook::default();
        book.push("a", 1024, b"a1", t(1));
        book.push("b", 1024, b"b1", t(2));
        book.push("a", 1024, b"a2", t(3));
        book.push("c", 1024, b"c1", t(4));
        book.push("b", 1024, b"b2", t(5));
        let texts = |lines: Vec<&Line>| -> Vec<String> {
            lines
                .iter()
                .map(|l| String::from_utf8_lossy(&l.text).into_owned())
                .collect()
        };
        assert_eq!(texts(book.tail(&[], 3)), ["a2", "c1", "b2"]);
        assert_eq!(
            texts(book.tail(&["a".into(), "b".into()], 10)),
            ["a1", "b1", "a2", "b2"]
        );
        let mut out = Vec::new();
        book.tail(&["c".into()], 1)[0].render(&mut out);
        assert_eq!(out, b"1970-01-01T00:00:04.000Z c | c1\n");
    }

    #[test]
    fn followers_get_every_new_line_even_of_an_unbuffered_source() {
        let mut book = LogBook::default();
        book.push("a", 1024, b"before", t(1));
        book.following = true;
        book.push("a", 0, b"after", t(2));
        let fresh = book.take_fresh();
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].text, b"after");
        assert!(book.take_fresh().is_empty());
    }
}
