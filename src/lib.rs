//! foster's modules, as a library: the binary (`src/main.rs`, which shows
//! how they connect) and the fuzz targets (`fuzz/`) use them.
//!
//! [`sys`] is the only module that makes system calls or uses `unsafe`.
//! The decision core ([`supervisor`], [`service`]) and the parsers
//! ([`unit`], [`control`], [`notify`], [`pidfile`], [`cli`], [`signal`],
//! [`duration`]) make none, which is what lets the fuzz targets run them
//! by the million.

#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
// A panic in PID 1 ends the container or panics the VM's kernel.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cgroup;
pub mod cli;
pub mod console;
pub mod control;
pub mod duration;
pub mod event_loop;
pub mod fd_store;
pub mod logbook;
pub mod logfile;
pub mod logging;
pub mod notify;
pub mod pidfile;
pub mod probes;
pub mod procfs;
pub mod reaper;
pub mod relay;
pub mod service;
pub mod signal;
pub mod spawner;
pub mod status;
pub mod supervisor;
pub mod sys;
pub mod system;
pub mod tracker;
pub mod unit;
pub mod users;
pub mod wall;
