//! fosterctl: talks to a running foster over its control socket, and sends
//! sd_notify messages for services (`fosterctl notify READY=1`).
//!
//! Exit status: 0 done; 3 `status` found a named service not up; 1 foster
//! refused the request or could not be reached (one line on stderr says
//! why); 2 a usage error. The protocol — the verbs, the socket's default
//! path and variable, the request line, the reply and what it means for
//! the exit status — is foster's own ([`foster::control::protocol`]).

#![deny(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::ExitCode;

use foster::control::{self, DEFAULT_SOCKET, Outcome, Reply, SOCKET_VARIABLE, Verb};

/// The help, but for its last line (see [`usage_text`]).
const USAGE: &str = "\
usage: fosterctl [--socket PATH] COMMAND [ARG...]

commands:
  status [--json] [NAME...]  a table of the services (--json: a list of objects);
                             exit 3 when a named service is not up
  start NAME...              start services (that were stopped or failed)
  stop NAME...               stop services; they stay stopped
  restart NAME...            stop, then start again
  reload                     re-read the services directory
  reload NAME...             send the services their reload_signal
  kill NAME SIGNAL           send a signal to a service's processes
  shutdown                   stop everything, as SIGTERM to foster does
  poweroff | reboot | halt   stop everything; as a VM's init, then power off,
                             reboot or halt the machine (elsewhere: shutdown)
  notify KEY=VALUE...        send an sd_notify message (READY=1, STATUS=...)
                             to $NOTIFY_SOCKET, from inside a notify service
";

/// The help: [`USAGE`], and where the socket is.
fn usage_text() -> String {
    format!(
        "{USAGE}\nThe socket is --socket PATH, else ${SOCKET_VARIABLE}, else {DEFAULT_SOCKET}.\n"
    )
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut socket = std::env::var(SOCKET_VARIABLE)
        .ok()
        .filter(|s| !s.is_empty());
    while let Some(first) = args.first() {
        if first == "--socket" {
            if args.len() < 2 {
                return usage("--socket needs a path");
            }
            socket = Some(args.remove(1));
            args.remove(0);
        } else if let Some(path) = first.strip_prefix("--socket=") {
            socket = Some(path.to_string());
            args.remove(0);
        } else if first == "-h" || first == "--help" {
            print!("{}", usage_text());
            return ExitCode::SUCCESS;
        } else {
            break;
        }
    }
    let Some(verb) = args.first() else {
        return usage("no command given");
    };
    if verb == "notify" {
        return notify(args.get(1..).unwrap_or_default());
    }
    if Verb::from_word(verb).is_none() {
        return usage(&format!("unknown command \"{verb}\""));
    }
    let Some(line) = control::request_line(&args) else {
        return usage("arguments cannot be empty or contain spaces");
    };
    let path = socket.unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    let reply = match request(&path, &line) {
        Ok(reply) => reply,
        Err(e) => {
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

/// Sends one request (its line, newline included) and reads foster's reply. foster may answer before it
/// reads (a refusal, "busy") and close: then the write fails (`EPIPE`) or a
/// read ends in `ECONNRESET`, and the reply foster sent is still there to
/// read. So a failed write is not the end, and the reply read so far is
/// what counts; an error is reported only when there is no reply at all.
fn request(path: &str, line: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    // A foster that accepts but never answers must not hang a probe.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(std::time::Duration::from_secs(30)))?;
    let written = stream
        .write_all(line.as_bytes())
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write));
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    let read = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    if reply.is_empty() {
        written?;
        read?;
        return Err(std::io::Error::other(
            "foster closed the connection without a reply",
        ));
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
    if assignments.is_empty() || assignments.iter().any(|a| !a.contains('=')) {
        return usage("notify takes KEY=VALUE assignments, e.g. READY=1");
    }
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

fn usage(problem: &str) -> ExitCode {
    eprint!("fosterctl: {problem}\n{}", usage_text());
    ExitCode::from(2)
}
