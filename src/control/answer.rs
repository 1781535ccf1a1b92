//! The shell's part in the two verbs whose answer waits on the kernel or
//! the disk. The decision core answers every request
//! ([`Event::Request`](crate::supervisor::Event::Request)); for these two it
//! asks the loop for something first:
//! - `reload` without names, and SIGHUP ([`reload_units`]): the services
//!   directory is read again (files, users) and handed to
//!   [`Supervisor::units_loaded`], which applies it and replies (or logs);
//! - `kill NAME SIGNAL` ([`deliver`]): the signal is sent before the reply
//!   is written, so that the reply says whether the kernel took it.

use std::path::Path;
use std::time::Instant;

use log::error;

use crate::service::ServiceId;
use crate::supervisor::{Action, Client, Errno, Event, Supervisor, Target};

/// Re-reads the services directory and hands it to the supervisor, which
/// replies to `client` (or logs what changed, for SIGHUP). Problems are
/// logged.
pub fn reload_units(
    services_dir: Option<&Path>,
    supervisor: &mut Supervisor,
    client: Option<Client>,
    actions: &mut Vec<Action>,
) {
    let Some(dir) = services_dir else {
        return;
    };
    let loaded = crate::unit::load_dir(dir, &crate::users::UserDb::load());
    for problem in &loaded.problems {
        error!("{problem}");
    }
    supervisor.units_loaded(client, loaded, Instant::now(), actions);
}

/// Sends `sig` to every target now; the event says whether any took it
/// (else the first error the kernel gave).
pub fn deliver(
    client: Client,
    service: ServiceId,
    sig: i32,
    targets: Vec<Target>,
    send: impl Fn(Target, i32) -> Result<(), Errno>,
) -> Event {
    let mut refused = None;
    let mut delivered = false;
    for target in targets {
        match send(target, sig) {
            Ok(()) => delivered = true,
            Err(e) => refused = refused.or(Some(e)),
        }
    }
    Event::Delivered {
        client,
        service,
        sig,
        refused: refused.filter(|_| !delivered),
    }
}
