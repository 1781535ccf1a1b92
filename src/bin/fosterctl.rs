//! fosterctl: talks to a running foster over its control socket, and sends
//! sd_notify messages for services (`fosterctl notify READY=1`).
//!
//! Exit status: 0 done; 3 `status` found a named service not up; 1 foster
//! refused the request or could not be reached, or a `--timeout` passed
//! (one line on stderr says why); 2 a usage error, found here before
//! anything is sent. The protocol — the verbs, the socket's default path
//! and variable, the request line, the reply and what it means for the
//! exit status — is foster's own ([`foster::control::protocol`]): the
//! words are checked with foster's own parser, so what fosterctl accepts
//! is what foster would.
//!
//! `start`, `stop` and `restart` wait for their result by default, as
//! systemctl's do: fosterctl sends `start --wait NAME...`, and foster
//! answers once every service named is up, stopped, or failed.
//! `--no-block` sends the request without `--wait`: foster answers as soon
//! as it has taken it.

#![deny(unsafe_code)]

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use foster::control::{self, DEFAULT_SOCKET, Outcome, Reply, SOCKET_VARIABLE, Verb};

/// The usage lines: what a usage error prints after its problem.
const SYNOPSIS: &str = "\
usage: fosterctl [--socket PATH] COMMAND [ARG...]
       fosterctl [--socket PATH] [--no-block | --timeout DURATION] start|stop|restart NAME...
       fosterctl -h | --help | -V | --version
";

/// The help after [`SYNOPSIS`], but for its last line (see [`usage_text`]).
const USAGE: &str = "\
commands:
  status [--json] [NAME...]  a table of the services (--json: a list of objects);
                             exit 3 when a named service is not up
  start NAME...              start services (that were stopped or failed)
  stop NAME...               stop services; they stay stopped
  restart NAME...            stop, then start again
  reload                     re-read the services directory
  reload NAME...             send the services their reload_signal
  kill NAME SIGNAL           send a signal to a service's processes
  logs [-n N] [-f] [NAME...] the last N lines (default 100) of the services'
                             output, interleaved as foster read them (no
                             NAME: every service and foster's own lines);
                             -f: then new lines as they come
  shutdown                   stop everything, as SIGTERM to foster does
  poweroff | reboot | halt   stop everything; as a VM's init, then power off,
                             reboot or halt the machine (elsewhere: shutdown)
  notify KEY=VALUE...        send an sd_notify message (READY=1, STATUS=...)
                             to $NOTIFY_SOCKET, from inside a notify service

options:
  --socket PATH              foster's control socket
  --no-block                 start, stop, restart: return once foster has
                             taken the request, without waiting for the result
  --timeout DURATION         start, stop, restart: wait at most DURATION (500ms,
                             10s, 2m, 1h; a bare number is seconds), then exit 1
                             and leave the services as they are
  --                         what follows is names, even when it begins with -
  -h, --help                 this help
  -V, --version              fosterctl's version and commit

start, stop and restart wait until every service named is up (exited, for
a oneshot), stopped, or failed, and exit 1 if any failed. The options may
also come after the command (fosterctl restart --timeout 5s web).
";

/// The help: [`SYNOPSIS`], [`USAGE`], and where the socket is.
fn usage_text() -> String {
    format!(
        "{SYNOPSIS}\n{USAGE}\nThe socket is --socket PATH, else ${SOCKET_VARIABLE}, else {DEFAULT_SOCKET}.\n"
    )
}

/// What a command line asks fosterctl to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Invocation {
    Help,
    Version,
    /// `notify KEY=VALUE...`: the assignments.
    Notify(Vec<String>),
    Request(Request),
}

/// A request for foster, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    /// `--socket`, if given.
    socket: Option<String>,
    /// The words to send, the verb first (with `--wait` after it when
    /// [`Request::wait`] is `Some`).
    words: Vec<String>,
    /// For a `start`, `stop` or `restart` that waits for its result: how
    /// long at most (`None`: as long as it takes).
    wait: Option<Option<Duration>>,
}

impl Request {
    /// The services the request names (for the message when a wait times
    /// out).
    fn names(&self) -> Vec<&str> {
        self.words
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|w| *w != WAIT)
            .collect()
    }
}

/// The word that asks foster to answer only once the result is known.
const WAIT: &str = "--wait";

/// A command line fosterctl cannot run (exit 2, with the usage).
#[derive(Debug, Clone, PartialEq, Eq)]
enum UsageError {
    NoCommand,
    UnknownCommand(String),
    /// An option that is none of fosterctl's, or none of this command's.
    UnknownOption(String),
    /// `--no-block` or `--timeout` with a command that does not wait.
    NotForCommand {
        option: &'static str,
        verb: String,
    },
    /// `--socket` or `--timeout` at the end of the line.
    MissingValue(&'static str),
    BadTimeout(String),
    NoBlockAndTimeout,
    /// A word foster could not receive as one word.
    BadWord,
    /// What foster's own parser says of the words.
    Refused(String),
    BadNotify,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NoCommand => write!(f, "no command given"),
            UsageError::UnknownCommand(word) => write!(f, "unknown command \"{word}\""),
            UsageError::UnknownOption(word) => write!(
                f,
                "unknown option \"{word}\" (a name that begins with - goes after --)"
            ),
            UsageError::NotForCommand { option, verb } => {
                write!(f, "{option} is for start, stop and restart, not {verb}")
            }
            UsageError::MissingValue(option) => write!(f, "{option} needs a value"),
            UsageError::BadTimeout(e) => write!(f, "--timeout: {e}"),
            UsageError::NoBlockAndTimeout => {
                write!(f, "--no-block does not wait, so it takes no --timeout")
            }
            UsageError::BadWord => write!(f, "arguments cannot be empty or contain spaces"),
            UsageError::Refused(reason) => write!(f, "{reason}"),
            UsageError::BadNotify => write!(f, "notify takes KEY=VALUE assignments, e.g. READY=1"),
        }
    }
}

/// The options that say how `start`, `stop` and `restart` wait.
#[derive(Debug, Default)]
struct WaitOptions {
    no_block: bool,
    timeout: Option<Duration>,
}

impl WaitOptions {
    /// Reads `word` (and, for `--timeout DURATION`, the word after it, from
    /// `rest`) if it is one of these options.
    fn take(
        &mut self,
        word: &str,
        rest: &mut impl Iterator<Item = String>,
    ) -> Result<bool, UsageError> {
        let text = match word.strip_prefix("--timeout=") {
            Some(text) => text.to_string(),
            None if word == "--timeout" => {
                rest.next().ok_or(UsageError::MissingValue("--timeout"))?
            }
            None if word == "--no-block" => {
                self.no_block = true;
                return Ok(true);
            }
            None => return Ok(false),
        };
        let timeout =
            foster::duration::parse(&text).map_err(|e| UsageError::BadTimeout(e.to_string()))?;
        if timeout.is_zero() {
            return Err(UsageError::BadTimeout("must be more than 0".into()));
        }
        self.timeout = Some(timeout);
        Ok(true)
    }

    /// The option given, if any (for [`UsageError::NotForCommand`]).
    fn given(&self) -> Option<&'static str> {
        if self.no_block {
            Some("--no-block")
        } else if self.timeout.is_some() {
            Some("--timeout")
        } else {
            None
        }
    }
}

/// Reads fosterctl's command line (without the program's name). Pure: the
/// socket's environment variable is the caller's business.
///
/// fosterctl's own options come before the command, and `--no-block`,
/// `--timeout` and `--help` may also come among its words; `--` ends the
/// options, so that a service named `-x` can be stopped (`stop -- -x`).
/// Any other word that begins with `-` before `--` is an unknown option:
/// `status --json` is the only option foster itself reads.
fn parse_args(args: &[String]) -> Result<Invocation, UsageError> {
    let mut args = args.iter().cloned();
    let mut socket = None;
    let mut wait = WaitOptions::default();
    let mut options_ended = false;
    let verb = loop {
        let Some(word) = args.next() else {
            return Err(UsageError::NoCommand);
        };
        if options_ended || !word.starts_with('-') {
            break word;
        }
        match word.as_str() {
            "--" => options_ended = true,
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "--socket" => socket = Some(args.next().ok_or(UsageError::MissingValue("--socket"))?),
            _ => {
                if let Some(path) = word.strip_prefix("--socket=") {
                    socket = Some(path.to_string());
                } else if !wait.take(&word, &mut args)? {
                    return Err(UsageError::UnknownOption(word));
                }
            }
        }
    };
    if verb == "notify" {
        if let Some(option) = wait.given() {
            return Err(UsageError::NotForCommand { option, verb });
        }
        let assignments: Vec<String> = args.collect();
        if assignments.is_empty() || assignments.iter().any(|a| !a.contains('=')) {
            return Err(UsageError::BadNotify);
        }
        return Ok(Invocation::Notify(assignments));
    }
    let Some(parsed_verb) = Verb::from_word(&verb) else {
        return Err(UsageError::UnknownCommand(verb));
    };
    let waits = matches!(parsed_verb, Verb::Start | Verb::Stop | Verb::Restart);
    let mut words = vec![verb.clone()];
    while let Some(word) = args.next() {
        if options_ended || !word.starts_with('-') {
            words.push(word);
            continue;
        }
        match word.as_str() {
            "--" => options_ended = true,
            "-h" | "--help" => return Ok(Invocation::Help),
            "--json" if parsed_verb == Verb::Status => words.push(word),
            "-f" | "--follow" if parsed_verb == Verb::Logs => words.push("-f".into()),
            "-n" | "--lines" if parsed_verb == Verb::Logs => {
                let n = args.next().ok_or(UsageError::MissingValue("-n"))?;
                words.push("-n".into());
                words.push(n);
            }
            _ => {
                if !wait.take(&word, &mut args)? {
                    return Err(UsageError::UnknownOption(word));
                }
            }
        }
    }
    if let (false, Some(option)) = (waits, wait.given()) {
        return Err(UsageError::NotForCommand { option, verb });
    }
    if wait.no_block && wait.timeout.is_some() {
        return Err(UsageError::NoBlockAndTimeout);
    }
    let line = control::request_line(&words).ok_or(UsageError::BadWord)?;
    control::parse(line.trim_end().as_bytes()).map_err(UsageError::Refused)?;
    let wait = (waits && !wait.no_block).then_some(wait.timeout);
    if wait.is_some() {
        words.insert(1, WAIT.to_string());
    }
    Ok(Invocation::Request(Request {
        socket,
        words,
        wait,
    }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let request = match parse_args(&args) {
        Ok(Invocation::Help) => {
            print!("{}", usage_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            // The commit comes from build.rs.
            println!(
                "fosterctl {} ({})",
                env!("CARGO_PKG_VERSION"),
                env!("FOSTER_COMMIT")
            );
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Notify(assignments)) => return notify(&assignments),
        Ok(Invocation::Request(request)) => request,
        Err(e) => return usage(&e),
    };
    let path = request
        .socket
        .clone()
        .or_else(|| {
            std::env::var(SOCKET_VARIABLE)
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    // `parse_args` made the line from these words once already.
    let Some(line) = control::request_line(&request.words) else {
        return usage(&UsageError::BadWord);
    };
    // `logs -f`: what comes is printed as it comes, until foster ends it
    // (or the user does).
    if request.words.first().map(String::as_str) == Some("logs")
        && request.words.iter().any(|w| w == "-f")
    {
        return follow(&path, &line);
    }
    // A waiting request takes as long as the services take, unless
    // --timeout says; any other is answered at once, and the 30 s only
    // keeps a foster that accepts and never answers from hanging a probe.
    let read_timeout = match request.wait {
        Some(timeout) => timeout,
        None => Some(Duration::from_secs(30)),
    };
    let reply = match send(&path, &line, read_timeout) {
        Ok(reply) => reply,
        Err(RequestError::TimedOut) => {
            let after = read_timeout.map(foster::duration::format);
            let after = after.as_deref().unwrap_or_default();
            if request.wait.is_some() {
                eprintln!(
                    "fosterctl: timed out after {after} waiting for {}",
                    request.names().join(" ")
                );
            } else {
                eprintln!("fosterctl: foster at {path} did not answer within {after}");
            }
            return ExitCode::from(1);
        }
        Err(RequestError::Io(e)) => {
            eprintln!("fosterctl: foster is not reachable at {path}: {e}");
            return ExitCode::from(1);
        }
    };
    match Reply::read(&reply) {
        Ok(Reply {
            outcome: Outcome::Error,
            text: reason,
        }) => {
            eprintln!("fosterctl: {reason}");
            ExitCode::from(Outcome::Error.exit_code())
        }
        Ok(reply) => {
            print!("{}", reply.text);
            ExitCode::from(reply.outcome.exit_code())
        }
        Err(unexpected) => {
            print!("{}", unexpected.body);
            eprintln!("fosterctl: unexpected reply \"{}\"", unexpected.first_line);
            ExitCode::from(1)
        }
    }
}

/// `logs -f`: sends the request, then copies the reply's lines to stdout
/// as foster sends them, for as long as it does.
fn follow(path: &str, line: &str) -> ExitCode {
    let mut stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("fosterctl: foster is not reachable at {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    if let Err(e) = stream.write_all(line.as_bytes()) {
        eprintln!("fosterctl: cannot send the request to {path}: {e}");
        return ExitCode::from(1);
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let mut out = std::io::stdout();
    let mut started = false;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("fosterctl: reading from foster failed: {e}");
                return ExitCode::from(1);
            }
        };
        let data = buf.get(..n).unwrap_or_default();
        if started {
            if out.write_all(data).and_then(|()| out.flush()).is_err() {
                // Whoever reads our output has gone.
                return ExitCode::SUCCESS;
            }
            continue;
        }
        head.extend_from_slice(data);
        let Some(end) = head.iter().position(|&b| b == b'\n') else {
            continue;
        };
        let first = String::from_utf8_lossy(head.get(..end).unwrap_or_default()).into_owned();
        if first != Outcome::Ok.word() {
            let text = String::from_utf8_lossy(&head).into_owned();
            return match Reply::read(&text) {
                Ok(reply) => {
                    eprintln!("fosterctl: {}", reply.text);
                    ExitCode::from(reply.outcome.exit_code())
                }
                Err(unexpected) => {
                    eprintln!("fosterctl: unexpected reply \"{}\"", unexpected.first_line);
                    ExitCode::from(1)
                }
            };
        }
        started = true;
        let rest = head.get(end + 1..).unwrap_or_default();
        if out.write_all(rest).and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}

/// Why a request got no reply.
#[derive(Debug)]
enum RequestError {
    /// A waiting request's `--timeout` passed first.
    TimedOut,
    Io(std::io::Error),
}

impl From<std::io::Error> for RequestError {
    fn from(e: std::io::Error) -> RequestError {
        RequestError::Io(e)
    }
}

/// Sends one request (its line, newline included) and reads foster's reply. foster may answer before it
/// reads (a refusal, "busy") and close: then the write fails (`EPIPE`) or a
/// read ends in `ECONNRESET`, and the reply foster sent is still there to
/// read. So a failed write is not the end, and the reply read so far is
/// what counts; an error is reported only when there is no reply at all.
fn send(path: &str, line: &str, timeout: Option<Duration>) -> Result<String, RequestError> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let written = stream
        .write_all(line.as_bytes())
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write));
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    let read = loop {
        if let Some(deadline) = deadline {
            // What is left of the wait, for this read: a reply that comes
            // in pieces does not stretch it.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RequestError::TimedOut);
            }
            stream.set_read_timeout(Some(left))?;
        }
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && deadline.is_some() =>
            {
                return Err(RequestError::TimedOut);
            }
            Err(e) => break Err(e),
        }
    };
    if reply.is_empty() {
        written?;
        read?;
        return Err(RequestError::Io(std::io::Error::other(
            "foster closed the connection without a reply",
        )));
    }
    // Every reply ends with a newline: one cut short by an error is not
    // taken for a whole one.
    if !reply.ends_with(b"\n") {
        read?;
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// `fosterctl notify READY=1 STATUS=...`: one datagram to `$NOTIFY_SOCKET`
/// (a path, or `@name` in the abstract namespace), as sd_notify(3) sends.
fn notify(assignments: &[String]) -> ExitCode {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        eprintln!("fosterctl: NOTIFY_SOCKET is not set (is this a `type: notify` service?)");
        return ExitCode::from(1);
    };
    let message = assignments.join("\n");
    let target_text = target.to_string_lossy().into_owned();
    let sent = send_notification(&target_text, &message);
    match sent {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fosterctl: cannot notify {}: {e}", target.to_string_lossy());
            ExitCode::from(1)
        }
    }
}

/// Sends `message`, then waits for foster to have read it: a second
/// datagram, `BARRIER=1`, carries the write end of a pipe, and foster
/// closes its copy once it has handled what came before (sd_notify's
/// barrier). Without the wait, fosterctl could exit before foster looked
/// at who sent the message, and the message would count for nobody.
fn send_notification(target: &str, message: &str) -> std::io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
    use std::os::fd::AsRawFd;
    let socket = UnixDatagram::unbound()?;
    let addr = match target.strip_prefix('@') {
        Some(name) => UnixAddr::new_abstract(name.as_bytes())?,
        None => UnixAddr::new(target)?,
    };
    let send = |bytes: &[u8], fds: &[i32]| -> std::io::Result<()> {
        let iov = [std::io::IoSlice::new(bytes)];
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            vec![]
        } else {
            vec![ControlMessage::ScmRights(fds)]
        };
        sendmsg(
            socket.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::empty(),
            Some(&addr),
        )?;
        Ok(())
    };
    send(message.as_bytes(), &[])?;
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    send(b"BARRIER=1", &[write_end.as_raw_fd()])?;
    drop(write_end);
    // EOF once foster closed its copy; bounded, so a foster that vanished
    // cannot hang a service's start-up script.
    let mut poll = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&read_end),
        nix::poll::PollFlags::POLLIN,
    )];
    let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(5000u16));
    Ok(())
}

fn usage(problem: &UsageError) -> ExitCode {
    eprint!("fosterctl: {problem}\n{SYNOPSIS}(fosterctl --help lists the commands)\n");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Invocation, UsageError> {
        parse_args(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    /// The request `words` make, or a panic naming the usage error.
    fn request(words: &[&str]) -> Request {
        match parse(words) {
            Ok(Invocation::Request(r)) => r,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn sent(words: &[&str]) -> Vec<String> {
        request(words).words
    }

    #[test]
    fn start_stop_and_restart_wait_unless_no_block() {
        assert_eq!(sent(&["stop", "web"]), ["stop", "--wait", "web"]);
        assert_eq!(sent(&["start", "a", "b"]), ["start", "--wait", "a", "b"]);
        assert_eq!(request(&["restart", "web"]).wait, Some(None));
        assert_eq!(sent(&["--no-block", "stop", "web"]), ["stop", "web"]);
        assert_eq!(sent(&["stop", "web", "--no-block"]), ["stop", "web"]);
        assert_eq!(request(&["stop", "--no-block", "web"]).wait, None);
        // The others never wait.
        assert_eq!(
            sent(&["status", "--json", "web"]),
            ["status", "--json", "web"]
        );
        assert_eq!(sent(&["kill", "web", "USR1"]), ["kill", "web", "USR1"]);
        assert_eq!(request(&["reload"]).wait, None);
    }

    #[test]
    fn timeout_before_or_after_the_verb() {
        let five = Some(Some(Duration::from_secs(5)));
        for words in [
            &["--timeout", "5s", "restart", "web"][..],
            &["restart", "--timeout", "5s", "web"],
            &["restart", "web", "--timeout=5"],
            &["--timeout=5000ms", "restart", "web"],
        ] {
            let r = request(words);
            assert_eq!(r.wait, five, "{words:?}");
            assert_eq!(r.words, ["restart", "--wait", "web"], "{words:?}");
            assert_eq!(r.names(), ["web"]);
        }
        assert_eq!(
            request(&["start", "--timeout", "2m", "a"]).wait,
            Some(Some(Duration::from_secs(120)))
        );
    }

    #[test]
    fn double_dash_ends_the_options() {
        assert_eq!(sent(&["stop", "--", "-x"]), ["stop", "--wait", "-x"]);
        assert_eq!(sent(&["--no-block", "stop", "--", "-x"]), ["stop", "-x"]);
        assert_eq!(
            sent(&["stop", "a", "--", "--no-block"]),
            ["stop", "--wait", "a", "--no-block"]
        );
        assert_eq!(sent(&["--", "stop", "-x"]), ["stop", "--wait", "-x"]);
        assert_eq!(request(&["stop", "--", "-x"]).names(), ["-x"]);
    }

    #[test]
    fn socket_help_and_version() {
        assert_eq!(
            request(&["--socket", "/s", "status"]).socket.as_deref(),
            Some("/s")
        );
        assert_eq!(
            request(&["--socket=/t", "status"]).socket.as_deref(),
            Some("/t")
        );
        assert_eq!(request(&["status"]).socket, None);
        assert_eq!(
            parse(&["--socket"]),
            Err(UsageError::MissingValue("--socket"))
        );
        for help in [
            &["-h"][..],
            &["--help"],
            &["status", "--help"],
            &["--socket", "/s", "-h"],
        ] {
            assert_eq!(parse(help), Ok(Invocation::Help), "{help:?}");
        }
        assert_eq!(parse(&["-V"]), Ok(Invocation::Version));
        assert_eq!(parse(&["--version", "status"]), Ok(Invocation::Version));
    }

    #[test]
    fn notify_takes_assignments() {
        assert_eq!(
            parse(&["notify", "READY=1", "STATUS=ok"]),
            Ok(Invocation::Notify(vec![
                "READY=1".into(),
                "STATUS=ok".into()
            ]))
        );
        assert_eq!(parse(&["notify"]), Err(UsageError::BadNotify));
        assert_eq!(parse(&["notify", "READY"]), Err(UsageError::BadNotify));
        assert!(matches!(
            parse(&["--no-block", "notify", "READY=1"]),
            Err(UsageError::NotForCommand { .. })
        ));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(&[]), Err(UsageError::NoCommand));
        assert_eq!(parse(&["--socket", "/s"]), Err(UsageError::NoCommand));
        assert_eq!(
            parse(&["frobnicate"]),
            Err(UsageError::UnknownCommand("frobnicate".into()))
        );
        assert_eq!(
            parse(&["--bogus", "status"]),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            parse(&["status", "--bogus"]),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        // --json is status's alone; a name beginning with - needs --.
        assert_eq!(
            parse(&["stop", "--json", "web"]),
            Err(UsageError::UnknownOption("--json".into()))
        );
        assert_eq!(
            parse(&["stop", "-x"]),
            Err(UsageError::UnknownOption("-x".into()))
        );
        for verb in ["start", "stop", "restart"] {
            assert_eq!(
                parse(&[verb]),
                Err(UsageError::Refused(format!(
                    "{verb} needs at least one service name"
                )))
            );
            assert!(matches!(
                parse(&[verb, "--no-block"]),
                Err(UsageError::Refused(_))
            ));
        }
        assert_eq!(
            parse(&["kill", "web"]),
            Err(UsageError::Refused("usage: kill NAME SIGNAL".into()))
        );
        assert_eq!(
            parse(&["kill", "web", "TERM", "extra"]),
            Err(UsageError::Refused("usage: kill NAME SIGNAL".into()))
        );
        assert!(matches!(
            parse(&["kill", "web", "NOPE"]),
            Err(UsageError::Refused(_))
        ));
        assert!(matches!(
            parse(&["kill", "web", "-9"]),
            Err(UsageError::UnknownOption(_))
        ));
        assert!(matches!(
            parse(&["shutdown", "now"]),
            Err(UsageError::Refused(_))
        ));
        assert_eq!(parse(&["stop", ""]), Err(UsageError::BadWord));
        assert_eq!(
            parse(&["--no-block", "status"]),
            Err(UsageError::NotForCommand {
                option: "--no-block",
                verb: "status".into()
            })
        );
        assert_eq!(
            parse(&["reload", "--timeout", "5s"]),
            Err(UsageError::NotForCommand {
                option: "--timeout",
                verb: "reload".into()
            })
        );
        assert_eq!(
            parse(&["stop", "web", "--timeout"]),
            Err(UsageError::MissingValue("--timeout"))
        );
        assert!(matches!(
            parse(&["stop", "web", "--timeout", "soon"]),
            Err(UsageError::BadTimeout(_))
        ));
        assert!(matches!(
            parse(&["stop", "web", "--timeout", "0"]),
            Err(UsageError::BadTimeout(_))
        ));
        assert_eq!(
            parse(&["--no-block", "--timeout", "1s", "stop", "web"]),
            Err(UsageError::NoBlockAndTimeout)
        );
    }

    #[test]
    fn usage_errors_say_what_to_do() {
        assert_eq!(
            UsageError::UnknownOption("-x".into()).to_string(),
            "unknown option \"-x\" (a name that begins with - goes after --)"
        );
        assert!(
            UsageError::BadTimeout("x".into())
                .to_string()
                .starts_with("--timeout:")
        );
    }
}
