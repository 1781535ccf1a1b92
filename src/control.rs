//! The control protocol: what `fosterctl` and foster say to each other
//! ([`protocol`], re-exported here) and how foster serves the connections
//! that say it ([`server`]). It knows nothing of services: the decision
//! core answers every request (and renders the status a reply carries, in
//! `supervisor::status`), so the core depends on the protocol and never
//! the other way round.

pub mod protocol;
pub mod server;

pub use protocol::{
    Client, DEFAULT_SOCKET, MAX_REQUEST, Outcome, Reply, Request, SOCKET_VARIABLE, STATUS_FIELDS,
    Unexpected, Verb, WAIT_OPTION, Wait, parse, request_line,
};
