//! The health probes the core asks for ([`Action::Probe`]), run inside the
//! one event loop without a thread and without blocking: an exec probe is
//! a child process whose output is read from a pipe as it comes (the
//! first [`PROBE_OUTPUT_MAX`] bytes kept) and whose exit the reaper
//! reports like any other (intercepted here: the core never takes it for
//! an orphan or a service's process); a `tcp:` probe is a non-blocking
//! connect whose result epoll reports; an `http:` one then sends its GET
//! and reads the status line of the answer. Each ends in an
//! [`Event::ProbeDone`]. A probe the core cancels at its timeout is killed
//! (its process group) or its connection closed, and its result dropped.
//!
//! [`Action::Probe`]: crate::supervisor::Action::Probe

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};

use log::debug;

use crate::service::ServiceId;
use crate::status::WaitStatus;
use crate::supervisor::{Event, PROBE_OUTPUT_MAX, ProbeResult};
use crate::sys::{self, Connecting, Pid, Poller};
use crate::unit::HealthProbe;

/// Tokens of the probes' descriptors: from here on, below the pidfds'.
pub const FIRST_TOKEN: u64 = 1 << 46;
/// Room for this many tokens (ids wrap within it).
const TOKENS: u64 = 1 << 46;

/// The probes running.
#[derive(Default)]
pub struct Probes {
    /// By token (from the probe's id).
    running: HashMap<u64, Running>,
    /// Exec probes by process, until reaped (a cancelled one's too).
    by_pid: HashMap<Pid, u64>,
}

struct Running {
    service: ServiceId,
    id: u64,
    work: Work,
    /// What it said so far (at most `PROBE_OUTPUT_MAX`).
    output: Vec<u8>,
}

enum Work {
    Exec {
        pid: Pid,
        /// Its output pipe, until end of file.
        pipe: Option<OwnedFd>,
        /// Cancelled: its exit is awaited only to be dropped.
        cancelled: bool,
    },
    Connect {
        socket: OwnedFd,
        /// The HTTP request still to send (`None` for `tcp:`).
        request: Option<Vec<u8>>,
        /// Connected (and, for HTTP, the request sent): reading.
        stage: Stage,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    Sending,
    Receiving,
}

fn token_of(id: u64) -> u64 {
    FIRST_TOKEN + id % TOKENS
}

impl Probes {
    /// Starts probe `id` of `service`; what it finds comes as an event
    /// (at once when it could not start). `child`: an exec probe's
    /// process, as the spawner started it (or why it could not).
    pub fn start(
        &mut self,
        service: ServiceId,
        id: u64,
        check: &HealthProbe,
        child: Option<Result<crate::spawner::ProbeChild, String>>,
        poller: &Poller,
        queue: &mut VecDeque<Event>,
    ) {
        let token = token_of(id);
        let done = |healthy: bool, output: String| Event::ProbeDone {
            service,
            probe: id,
            result: ProbeResult {
                healthy,
                output: cut(output.into_bytes()),
            },
        };
        match check {
            HealthProbe::Exec(_) => match child.unwrap_or_else(|| Err("not started".into())) {
                Ok(child) => {
                    let mut output = Vec::new();
                    if let Some(why) = child.failure {
                        output.extend_from_slice(why.as_bytes());
                    }
                    // Unwatched, it is read once the probe has exited.
                    if let Err(e) = poller.watch(child.output.as_fd(), token) {
                        debug!("cannot watch a probe's output: {e}");
                    }
                    let pipe = Some(child.output);
                    self.by_pid.insert(child.pid, token);
                    queue.push_back(Event::ProbeStarted {
                        service,
                        probe: id,
                        pid: child.pid,
                    });
                    self.running.insert(
                        token,
                        Running {
                            service,
                            id,
                            work: Work::Exec {
                                pid: child.pid,
                                pipe,
                                cancelled: false,
                            },
                            output,
                        },
                    );
                }
                Err(why) => queue.push_back(done(false, format!("cannot run the probe: {why}"))),
            },
            HealthProbe::Tcp(addr) | HealthProbe::Http { addr, .. } => {
                let request = match check {
                    HealthProbe::Http { host, path, .. } => Some(
                        format!(
                            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: foster\r\nConnection: close\r\n\r\n"
                        )
                        .into_bytes(),
                    ),
                    _ => None,
                };
                let (socket, stage) = match sys::connect_nonblocking(*addr) {
                    Ok(Connecting::Connected(fd)) => (fd, Stage::Sending),
                    Ok(Connecting::Pending(fd)) => (fd, Stage::Connecting),
                    Err(e) => {
                        let why = format!("connect {addr}: {}", crate::event_loop::describe(&e));
                        queue.push_back(done(false, why));
                        return;
                    }
                };
                if request.is_none() && stage == Stage::Sending {
                    queue.push_back(done(true, String::new()));
                    return;
                }
                if let Err(e) = poller.watch_writable(socket.as_fd(), token) {
                    queue.push_back(done(false, format!("cannot watch the connection: {e}")));
                    return;
                }
                self.running.insert(
                    token,
                    Running {
                        service,
                        id,
                        work: Work::Connect {
                            socket,
                            request,
                            stage,
                        },
                        output: Vec::new(),
                    },
                );
            }
        }
    }

    /// Whether `token` is a probe's.
    pub fn owns_token(token: u64) -> bool {
        (FIRST_TOKEN..FIRST_TOKEN + TOKENS).contains(&token)
    }

    /// A probe's descriptor is ready: read its output, or carry its
    /// connection on.
    pub fn ready(&mut self, token: u64, poller: &Poller, queue: &mut VecDeque<Event>) {
        let Some(probe) = self.running.get_mut(&token) else {
            return;
        };
        let finished = match &mut probe.work {
            Work::Exec { pipe, .. } => {
                if let Some(fd) = pipe
                    && drain(fd.as_fd(), &mut probe.output)
                {
                    poller.unwatch(fd.as_fd());
                    *pipe = None;
                }
                None
            }
            Work::Connect {
                socket,
                request,
                stage,
            } => advance(socket, request, stage, &mut probe.output, token, poller),
        };
        if let Some(healthy) = finished
            && let Some(probe) = self.running.remove(&token)
        {
            if let Work::Connect { socket, .. } = &probe.work {
                poller.unwatch(socket.as_fd());
            }
            queue.push_back(Event::ProbeDone {
                service: probe.service,
                probe: probe.id,
                result: ProbeResult {
                    healthy,
                    output: cut(probe.output),
                },
            });
        }
    }

    /// An exit the reaper reported: a probe's becomes its result; any
    /// other, and a cancelled probe's, is given back for the core.
    pub fn exited(&mut self, event: Event, poller: &Poller) -> Event {
        let Event::Exited { pid, status } = event else {
            return event;
        };
        let Some(token) = self.by_pid.remove(&pid) else {
            return event;
        };
        let Some(mut probe) = self.running.remove(&token) else {
            return event;
        };
        let Work::Exec {
            pipe, cancelled, ..
        } = &mut probe.work
        else {
            return event;
        };
        // What it wrote before it exited is in the pipe (a child it left
        // may hold the pipe open: not waited for).
        if let Some(fd) = pipe.take() {
            drain(fd.as_fd(), &mut probe.output);
            poller.unwatch(fd.as_fd());
        }
        if *cancelled {
            // Nobody's result; but the core may have taken the dying probe
            // for what a run left (it no longer names it once cancelled),
            // and then awaits this exit.
            debug!("probe {} ({pid}) reaped after it was cancelled", probe.id);
            return event;
        }
        let healthy = status == WaitStatus::Exited(0);
        if !healthy && probe.output.is_empty() {
            probe.output = format!("the probe {status}").into_bytes();
        }
        Event::ProbeDone {
            service: probe.service,
            probe: probe.id,
            result: ProbeResult {
                healthy,
                output: cut(probe.output),
            },
        }
    }

    /// The core gave up on probe `id` (its timeout): an exec probe's
    /// process group is killed (its exit is reaped and dropped), a
    /// connection closed.
    pub fn cancel(&mut self, id: u64, poller: &Poller) {
        let token = token_of(id);
        let Some(probe) = self.running.get_mut(&token) else {
            return;
        };
        match &mut probe.work {
            Work::Exec {
                pid,
                pipe,
                cancelled,
            } => {
                *cancelled = true;
                if let Some(fd) = pipe.take() {
                    poller.unwatch(fd.as_fd());
                }
                debug!("killing the process group of probe {id} ({pid}) at its timeout");
                let _ = sys::signal_group(*pid, libc::SIGKILL);
            }
            Work::Connect { socket, .. } => {
                poller.unwatch(socket.as_fd());
                self.running.remove(&token);
            }
        }
    }
}

/// Reads what `fd` holds into `output` (beyond the first
/// `PROBE_OUTPUT_MAX` bytes, read and dropped); `true` at end of file or
/// on an error.
fn drain(fd: std::os::fd::BorrowedFd<'_>, output: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    // Bounded: a probe writing without end is read a turn at a time.
    for _ in 0..16 {
        match sys::read_pipe(fd, &mut buf) {
            Ok(Some(0)) | Err(_) => return true,
            Ok(Some(n)) => {
                let room = PROBE_OUTPUT_MAX.saturating_sub(output.len());
                output.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            }
            Ok(None) => return false,
        }
    }
    false
}

/// Carries a connection probe on; `Some(healthy)` once it has its answer.
fn advance(
    socket: &OwnedFd,
    request: &mut Option<Vec<u8>>,
    stage: &mut Stage,
    output: &mut Vec<u8>,
    token: u64,
    poller: &Poller,
) -> Option<bool> {
    let fail = |output: &mut Vec<u8>, why: String| {
        output.clear();
        output.extend_from_slice(why.as_bytes());
        Some(false)
    };
    if *stage == Stage::Connecting {
        if let Err(e) = sys::connect_result(socket.as_fd()) {
            return fail(
                output,
                format!("connect: {}", crate::event_loop::describe(&e)),
            );
        }
        let Some(_) = request else {
            return Some(true);
        };
        *stage = Stage::Sending;
    }
    if *stage == Stage::Sending {
        let Some(left) = request else {
            return Some(true);
        };
        match sys::send_some(socket.as_fd(), left) {
            Ok(n) => {
                left.drain(..n.min(left.len()));
            }
            Err(e) => return fail(output, format!("send: {}", crate::event_loop::describe(&e))),
        }
        if !left.is_empty() {
            return None;
        }
        *stage = Stage::Receiving;
        if let Err(e) = poller.rewatch(socket.as_fd(), token, false) {
            return fail(output, format!("cannot watch the connection: {e}"));
        }
        return None;
    }
    let mut buf = [0u8; 4096];
    match sys::recv_some(socket.as_fd(), &mut buf) {
        Ok(None) => None,
        Ok(Some(n)) => {
            let room = PROBE_OUTPUT_MAX.saturating_sub(output.len());
            output.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            let ended = n == 0;
            match http_verdict(output) {
                Some(healthy) => Some(healthy),
                None if ended || output.len() >= PROBE_OUTPUT_MAX => {
                    let answer = String::from_utf8_lossy(output).into_owned();
                    fail(
                        output,
                        format!("no HTTP status line in the answer: {answer:?}"),
                    )
                }
                None => None,
            }
        }
        Err(e) => fail(output, format!("recv: {}", crate::event_loop::describe(&e))),
    }
}

/// The verdict of an HTTP answer once its status line is in: a 2xx or
/// 3xx status is healthy.
fn http_verdict(answer: &[u8]) -> Option<bool> {
    let end = answer.windows(2).position(|w| w == b"\r\n")?;
    // A whole first line: an answer that is not HTTP fails.
    let line = answer.get(..end).unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let version = words.next().unwrap_or_default();
    let code = words
        .next()
        .and_then(|w| std::str::from_utf8(w).ok())
        .and_then(|w| w.parse::<u16>().ok());
    Some(version.starts_with(b"HTTP/") && code.is_some_and(|c| (200..400).contains(&c)))
}

/// At most `PROBE_OUTPUT_MAX` bytes, as text.
fn cut(mut bytes: Vec<u8>) -> String {
    bytes.truncate(PROBE_OUTPUT_MAX);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_answer_is_healthy_for_2xx_and_3xx_only() {
        assert_eq!(http_verdict(b"HTTP/1.1 200 OK\r\n"), Some(true));
        assert_eq!(
            http_verdict(b"HTTP/1.0 302 Found\r\nLocation: /\r\n"),
            Some(true)
        );
        assert_eq!(
            http_verdict(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some(false)
        );
        assert_eq!(http_verdict(b"HTTP/1.1 404 Not Found\r\n"), Some(false));
        assert_eq!(http_verdict(b"SSH-2.0-OpenSSH\r\n"), Some(false));
        // Not yet a whole line.
        assert_eq!(http_verdict(b"HTTP/1.1 200"), None);
    }
}
