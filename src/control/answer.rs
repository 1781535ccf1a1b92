//! What a control request is answered with. The decision core answers
//! almost every one ([`Supervisor::control`]); two are answered here, on
//! the shell's side, for now:
//! - `kill NAME SIGNAL` (`kill_now`): the signal is sent before the reply
//!   is written, so that the reply says whether the kernel took it;
//! - `reload` without names ([`reload_units`]): the services directory is
//!   read again (files, users) and handed to [`Supervisor::reload`]. SIGHUP
//!   takes the same path.
//!
//! Each is one small function, so that it can move into the core whole.

use std::path::Path;
use std::time::Instant;

use log::error;

use super::protocol::{Reply, Request};
use crate::signal;
use crate::supervisor::{Action, Supervisor, Target};

/// What the requests answered here need of the event loop's world.
pub struct Shell<'a> {
    /// The services directory, re-read on `reload`; `None` without one.
    pub services_dir: Option<&'a Path>,
    /// Sends a signal at once, saying why the kernel did not take it.
    pub send: &'a dyn Fn(Target, i32) -> Result<(), String>,
}

/// Answers one request (`Err`: why it could not be parsed), read at `now`.
pub fn answer(
    request: Result<Request, String>,
    now: Instant,
    shell: &Shell,
    supervisor: &mut Supervisor,
    actions: &mut Vec<Action>,
) -> Reply {
    match request {
        Ok(Request::Reload(names)) if names.is_empty() && shell.services_dir.is_some() => {
            reload_units(shell.services_dir, supervisor, actions)
        }
        Ok(Request::Kill { name, signal }) => kill_now(shell, supervisor, name, signal, actions),
        Ok(request) => supervisor.control(request, now, actions),
        Err(reason) => Reply::error(reason),
    }
}

/// Re-reads the services directory and applies it (SIGHUP, `fosterctl
/// reload`). Problems are logged; the reply lists what changed.
pub fn reload_units(
    services_dir: Option<&Path>,
    supervisor: &mut Supervisor,
    actions: &mut Vec<Action>,
) -> Reply {
    let Some(dir) = services_dir else {
        return Reply::error("foster runs no services directory to re-read");
    };
    let loaded = crate::unit::load_dir(dir, &crate::users::UserDb::load());
    for problem in &loaded.problems {
        error!("{problem}");
    }
    supervisor.reload(loaded, Instant::now(), actions)
}

/// `fosterctl kill`: the signal is sent before the reply is written, so
/// that the reply says whether the kernel took it.
fn kill_now(
    shell: &Shell,
    supervisor: &mut Supervisor,
    name: String,
    sig: i32,
    actions: &mut Vec<Action>,
) -> Reply {
    let from = actions.len();
    let request = Request::Kill {
        name: name.clone(),
        signal: sig,
    };
    let reply = supervisor.control(request, Instant::now(), actions);
    let mut failure = None;
    let mut delivered = false;
    for action in actions.split_off(from) {
        match action {
            Action::Signal { target, sig } => match (shell.send)(target, sig) {
                Ok(()) => delivered = true,
                Err(e) => failure = Some(e),
            },
            other => actions.push(other),
        }
    }
    match failure {
        Some(e) if !delivered => Reply::error(format!(
            "{name}: {} was not delivered: {e}",
            signal::name(sig)
        )),
        _ => reply,
    }
}
