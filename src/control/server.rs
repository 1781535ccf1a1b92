//! foster's side of the control socket: the connections `fosterctl` opens,
//! accepted, read and answered without ever blocking, within bounds a
//! client cannot push foster past. The event loop hands over the
//! listener's and the connections' readiness ([`Connections::accept`],
//! [`Connections::serve`]); what a request is answered with is
//! [`super::answer`]'s.
//!
//! One request per connection (see [`super::protocol`]). Every connection
//! is non-blocking; a request is read as it comes, the reply written as the
//! client takes it. Only root and foster's own user may connect. The
//! bounds, and why:
//! - at most [`MAX_CONNECTIONS`] at once. When all places are taken, a
//!   newcomer takes the place of the connection that has been idle longest,
//!   but only if it has been idle for [`EVICTABLE_AFTER`]: a client that
//!   connects and never speaks cannot shut others out, and one that opens
//!   connections in a loop cannot evict a `fosterctl status` that is being
//!   answered (each is served within the turn it speaks in). With no such
//!   place, the newcomer is told foster is busy.
//! - a connection that makes no progress (no byte read or written) for
//!   [`IDLE_TIMEOUT`] is closed. Its deadline is part of the loop's timer,
//!   so an idle foster with no connection still never wakes up.
//! - a request is at most [`MAX_REQUEST`] bytes.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::protocol::{Client, MAX_REQUEST, Reply, Request};
use crate::sys::{self, Accepted, ControlListener, Poller};

/// Tokens from here up are control connections.
pub const FIRST_TOKEN: u64 = 1 << 32;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// A connection idle this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection idle this long may give its place to a newcomer.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(1);
/// Connections accepted in one turn of the loop: the rest wait in the
/// listener's queue while the loop serves (and closes) the ones it has, so
/// a client that connects in a loop cannot fill every place before foster
/// sees the ones it already closed.
pub const ACCEPT_PER_TURN: usize = 8;

struct Connection {
    stream: UnixStream,
    stage: Stage,
    /// The last time a byte was read from it or written to it.
    active: Instant,
}

/// Where a connection is in its one exchange.
enum Stage {
    /// Reading the request line, as far as it came.
    Reading(Vec<u8>),
    /// The request went to the core, whose reply is awaited (a reload
    /// being read, a signal being sent, a `--wait` for services to get
    /// where they were sent). Watched for its hangup only: such a client
    /// is not idle, and one that leaves is [`Served::Gone`].
    Handed,
    /// Writing the reply; `written` bytes of it are out.
    Replying { reply: Vec<u8>, written: usize },
    /// `logs -f`: new lines of `sources` (every one's when empty) are sent
    /// as they come; `out` holds what the client has not taken yet (at
    /// most [`FOLLOW_MAX`]), and lines that did not fit are counted in
    /// `skipped` until there is room to say so.
    Following {
        sources: Vec<String>,
        out: Vec<u8>,
        written: usize,
        skipped: u64,
    },
}

/// The most a `logs -f` client may leave unread before new lines are
/// skipped (and counted) for it: a slow reader never slows foster.
pub const FOLLOW_MAX: usize = 64 * 1024;

/// What [`Connections::serve`] found on a connection.
#[derive(Debug)]
pub enum Served {
    /// Nothing for the core (a part of a request, a reply written, a
    /// request refused here).
    Nothing,
    /// A complete request, for the core to answer.
    Request(Client, Request),
    /// A client whose request the core holds has hung up: what it waited
    /// for is not to be answered.
    Gone(Client),
}

/// What a readable connection has for [`Connections::serve`].
enum Progress {
    /// Nothing to answer yet (or the connection is gone).
    Waiting,
    /// The request line, complete (without its newline).
    Request(Vec<u8>),
    /// More than [`MAX_REQUEST`] bytes and no newline.
    TooLong,
}

/// Every open control connection.
pub struct Connections {
    open: BTreeMap<u64, Connection>,
    next: u64,
    /// The listener is not watched: foster ran out of descriptors, even
    /// the spare one (see [`ControlListener`]).
    paused: bool,
    /// Connections turned away since the last warning about it.
    turned_away: u64,
}

impl Default for Connections {
    fn default() -> Connections {
        Connections {
            open: BTreeMap::new(),
            next: FIRST_TOKEN,
            paused: false,
            turned_away: 0,
        }
    }
}

impl Connections {
    /// When the connection idle longest times out, if any is open.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .filter(|c| !c.handed() && !c.following())
            .map(|c| c.active)
            .min()
            .map(|t| t + IDLE_TIMEOUT)
    }

    /// Accepts the waiting connections (the listener is readable). Only
    /// root and foster's own user may use the control socket; others are
    /// told no and closed.
    pub fn accept(&mut self, listener: &ControlListener, poller: &Poller, now: Instant) {
        let own = sys::geteuid();
        self.accept_from(listener, poller, |uid| uid == 0 || uid == own, now);
    }

    /// Accepts every waiting connection. `allowed` says whether a peer's
    /// user may use the control socket; others are told no and closed.
    fn accept_from(
        &mut self,
        listener: &ControlListener,
        poller: &Poller,
        allowed: impl Fn(u32) -> bool,
        now: Instant,
    ) {
        for _ in 0..ACCEPT_PER_TURN {
            match listener.accept() {
                Ok(Some(Accepted::Client(stream, uid))) => {
                    if !allowed(uid) {
                        warn!("refusing a control connection from uid {uid}");
                        refuse(stream, "permission denied");
                        continue;
                    }
                    if self.open.len() >= MAX_CONNECTIONS && !self.evict_idlest(poller, now) {
                        self.turned_away = self.turned_away.saturating_add(1);
                        if self.turned_away == 1 {
                            warn!(
                                "{MAX_CONNECTIONS} control connections are open and none is idle; turning new ones away"
                            );
                        }
                        refuse(stream, "foster is busy: too many control connections");
                        continue;
                    }
                    let token = self.next;
                    self.next = self.next.saturating_add(1);
                    if let Err(e) = poller.watch(stream.as_fd(), token) {
                        warn!("cannot watch a control connection: {e}");
                        continue;
                    }
                    self.open.insert(
                        token,
                        Connection {
                            stream,
                            stage: Stage::Reading(Vec::new()),
                            active: now,
                        },
                    );
                }
                Ok(Some(Accepted::Shed)) => {
                    self.turned_away = self.turned_away.saturating_add(1);
                    if self.turned_away == 1 {
                        warn!("out of file descriptors: turning control connections away");
                    }
                }
                Ok(Some(Accepted::Exhausted)) => {
                    warn!("out of file descriptors: not accepting control connections for now");
                    poller.unwatch(listener.fd());
                    self.paused = true;
                    return;
                }
                Ok(None) => return,
                Err(e) => {
                    warn!("accepting a control connection failed: {e}");
                    return;
                }
            }
        }
    }

    /// After a turn of the loop: watch the listener again if it was paused
    /// and a spare descriptor can be had now; note when connections stop
    /// being turned away.
    pub fn recover(&mut self, listener: &ControlListener, listener_token: u64, poller: &Poller) {
        if self.paused && listener.recover() && poller.watch(listener.fd(), listener_token).is_ok()
        {
            debug!("accepting control connections again");
            self.paused = false;
        }
        if self.turned_away > 0 && self.open.len() < MAX_CONNECTIONS / 2 {
            warn!("{} control connections were turned away", self.turned_away);
            self.turned_away = 0;
        }
    }

    /// Makes room by closing the connection idle longest, if it has been
    /// idle for [`EVICTABLE_AFTER`]. A connection whose request the core
    /// holds is not idle: it is never evicted.
    fn evict_idlest(&mut self, poller: &Poller, now: Instant) -> bool {
        let Some((&token, _)) = self
            .open
            .iter()
            .filter(|(_, c)| !c.handed() && !c.following())
            .filter(|(_, c)| now.saturating_duration_since(c.active) >= EVICTABLE_AFTER)
            .min_by_key(|(_, c)| c.active)
        else {
            return false;
        };
        debug!("closing the control connection idle longest to make room");
        self.close(token, poller);
        true
    }

    /// Closes every connection idle for [`IDLE_TIMEOUT`] (one whose
    /// request the core holds is not idle).
    pub fn expire(&mut self, poller: &Poller, now: Instant) {
        let stale: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, c)| !c.handed() && !c.following())
            .filter(|(_, c)| now.saturating_duration_since(c.active) >= IDLE_TIMEOUT)
            .map(|(&t, _)| t)
            .collect();
        for token in stale {
            debug!("closing a control connection idle for {IDLE_TIMEOUT:?}");
            self.close(token, poller);
        }
    }

    /// Moves one control connection along (it is readable or writable):
    /// read the request until its newline (or end of file) and hand it on
    /// (the core answers it, through [`Connections::reply`]); a request
    /// that cannot be parsed is answered here. Then write the reply, and
    /// close.
    pub fn serve(&mut self, token: u64, poller: &Poller) -> Served {
        let now = Instant::now();
        match self.open.get(&token).map(|c| &c.stage) {
            None => return Served::Nothing,
            Some(Stage::Replying { .. }) => {
                self.write(token, poller, now);
                return Served::Nothing;
            }
            // Writable with lines to send; else watched for its hangup
            // alone: the follower left.
            Some(Stage::Following { out, written, .. }) => {
                if *written < out.len() {
                    self.write_following(token, poller, now);
                } else {
                    debug!("a logs -f client left");
                    self.close(token, poller);
                }
                return Served::Nothing;
            }
            // Watched for nothing but its hangup (or an error): the client
            // is gone before its answer.
            Some(Stage::Handed) => {
                debug!("a control client left before its reply");
                self.close(token, poller);
                return Served::Gone(Client(token));
            }
            Some(Stage::Reading(_)) => {}
        }
        let reply = match self.read(token, poller, now) {
            Progress::Waiting => return Served::Nothing,
            Progress::TooLong => Reply::error("request too long"),
            Progress::Request(line) => match super::parse(&line) {
                Ok(request) => {
                    self.hand_over(token, poller);
                    return Served::Request(Client(token), request);
                }
                Err(reason) => Reply::error(reason),
            },
        };
        self.answer(token, reply.render(), poller, now);
        Served::Nothing
    }

    /// The request went to the core: until its reply, the connection is
    /// watched for its hangup alone (its end of file, which came with the
    /// request, would make it readable for ever).
    fn hand_over(&mut self, token: u64, poller: &Poller) {
        let Some(conn) = self.open.get_mut(&token) else {
            return;
        };
        conn.stage = Stage::Handed;
        if poller.watch_hangup(conn.stream.as_fd(), token).is_err() {
            // Left watched for input: its end of file shows as a hangup
            // at once, which only ends the wait early.
            debug!("cannot watch a control connection for its hangup alone");
        }
    }

    /// Reads what a readable connection sent; `Request` once the line is
    /// complete (a newline, or end of file).
    fn read(&mut self, token: u64, poller: &Poller, now: Instant) -> Progress {
        let Some(conn) = self.open.get_mut(&token) else {
            return Progress::Waiting;
        };
        let Stage::Reading(request) = &mut conn.stage else {
            return Progress::Waiting;
        };
        let mut buf = [0u8; 1024];
        let complete = loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    conn.active = now;
                    request.extend_from_slice(buf.get(..n).unwrap_or_default());
                    if request.contains(&b'\n') || request.len() > MAX_REQUEST {
                        break true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(token, poller);
                    return Progress::Waiting;
                }
            }
        };
        if !complete {
            return Progress::Waiting;
        }
        if request.len() > MAX_REQUEST {
            return Progress::TooLong;
        }
        let line = request
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default()
            .to_vec();
        Progress::Request(line)
    }

    /// The core's reply to `client`, if its connection is still open
    /// (written as far as the client takes it now).
    pub fn reply(&mut self, client: Client, reply: &Reply, poller: &Poller) {
        self.answer(client.0, reply.render(), poller, Instant::now());
    }

    /// Sets the reply of a connection whose request was complete, and
    /// writes what the client takes now.
    fn answer(&mut self, token: u64, reply: Vec<u8>, poller: &Poller, now: Instant) {
        let Some(conn) = self.open.get_mut(&token) else {
            return;
        };
        conn.stage = Stage::Replying { reply, written: 0 };
        if poller.rewatch(conn.stream.as_fd(), token, true).is_err() {
            self.close(token, poller);
            return;
        }
        self.write(token, poller, now);
    }

    /// Writes more of a reply (the connection is writable).
    fn write(&mut self, token: u64, poller: &Poller, now: Instant) {
        let Some(conn) = self.open.get_mut(&token) else {
            return;
        };
        let Stage::Replying { reply, written } = &mut conn.stage else {
            return;
        };
        let done = loop {
            match conn.stream.write(reply.get(*written..).unwrap_or_default()) {
                Ok(0) => break true,
                Ok(n) => {
                    conn.active = now;
                    *written = written.saturating_add(n);
                    if *written >= reply.len() {
                        break true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        if done {
            self.close(token, poller);
        }
    }

    /// The answer to `logs`: `text` (the lines asked for); with
    /// `follow: Some(sources)`, the connection then stays open for the new
    /// lines of those sources (see [`Connections::feed`]).
    pub fn send_logs(
        &mut self,
        client: Client,
        text: Vec<u8>,
        follow: Option<Vec<String>>,
        poller: &Poller,
    ) {
        let mut reply = Reply::ok("").render();
        reply.extend_from_slice(&text);
        let Some(sources) = follow else {
            self.answer(client.0, reply, poller, Instant::now());
            return;
        };
        let token = client.0;
        let Some(conn) = self.open.get_mut(&token) else {
            return;
        };
        conn.stage = Stage::Following {
            sources,
            out: reply,
            written: 0,
            skipped: 0,
        };
        if poller.rewatch(conn.stream.as_fd(), token, true).is_err() {
            self.close(token, poller);
            return;
        }
        self.write_following(token, poller, Instant::now());
    }

    /// Whether some client follows the logs.
    pub fn following(&self) -> bool {
        self.open.values().any(Connection::following)
    }

    /// New lines for those following: each gets those of its sources, as
    /// far as its room goes; what does not fit is skipped and counted.
    pub fn feed(&mut self, lines: &[crate::logbook::Line], poller: &Poller) {
        if lines.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut woken = Vec::new();
        for (&token, conn) in self.open.iter_mut() {
            let Stage::Following {
                sources,
                out,
                written,
                skipped,
            } = &mut conn.stage
            else {
                continue;
            };
            let idle = *written >= out.len();
            for line in lines {
                if !sources.is_empty() && !sources.iter().any(|s| **s == *line.source) {
                    continue;
                }
                if out.len().saturating_sub(*written) >= FOLLOW_MAX {
                    *skipped = skipped.saturating_add(1);
                    continue;
                }
                if *skipped > 0 {
                    out.extend_from_slice(format!("[{skipped} lines skipped]\n").as_bytes());
                    *skipped = 0;
                }
                line.render(out);
            }
            if idle && *written < out.len() {
                woken.push(token);
            }
        }
        for token in woken {
            let watched = self
                .open
                .get(&token)
                .map(|c| poller.rewatch(c.stream.as_fd(), token, true).is_ok());
            match watched {
                Some(true) => self.write_following(token, poller, now),
                Some(false) => self.close(token, poller),
                None => {}
            }
        }
    }

    /// Writes what a follower takes now; once it has taken everything, it
    /// is watched for its hangup alone until more comes.
    fn write_following(&mut self, token: u64, poller: &Poller, now: Instant) {
        let Some(conn) = self.open.get_mut(&token) else {
            return;
        };
        let Stage::Following {
            out,
            written,
            skipped,
            ..
        } = &mut conn.stage
        else {
            return;
        };
        let gone = loop {
            if *written >= out.len() {
                // It has caught up: what it missed is said at once.
                if *skipped == 0 {
                    break false;
                }
                out.clear();
                *written = 0;
                out.extend_from_slice(format!("[{skipped} lines skipped]\n").as_bytes());
                *skipped = 0;
            }
            match conn.stream.write(out.get(*written..).unwrap_or_default()) {
                Ok(0) => break true,
                Ok(n) => {
                    conn.active = now;
                    *written = written.saturating_add(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        if gone {
            self.close(token, poller);
            return;
        }
        out.clear();
        *written = 0;
        if poller.watch_hangup(conn.stream.as_fd(), token).is_err() {
            self.close(token, poller);
        }
    }

    fn close(&mut self, token: u64, poller: &Poller) {
        if let Some(conn) = self.open.remove(&token) {
            poller.unwatch(conn.stream.as_fd());
        }
    }
}

impl Connection {
    /// Its request is with the core.
    fn handed(&self) -> bool {
        matches!(self.stage, Stage::Handed)
    }

    /// It follows the logs (`logs -f`): not idle, whatever it reads.
    fn following(&self) -> bool {
        matches!(self.stage, Stage::Following { .. })
    }
}

/// Tells a connection it is not served, without waiting for it: what it
/// sent so far is read first (closing a Unix socket with unread data makes
/// the peer's read fail with `ECONNRESET` instead of showing the reason),
/// then one short non-blocking write, then close.
fn refuse(mut stream: UnixStream, reason: &str) {
    let mut buf = [0u8; 1024];
    for _ in 0..8 {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = stream.write(&Reply::error(reason).render());
}
