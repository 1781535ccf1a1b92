//! One integration crate: every test runs the real foster binary, as a
//! subreaper and (when root, and always in CI) as PID 1 of a fresh PID
//! namespace, and asserts what a user would observe.

mod cgroup_limits;
mod control;
mod docker;
mod exit_status;
mod fd_store;
mod health;
mod hostile;
mod hygiene;
mod keys;
mod leftovers;
mod legacy;
mod limits;
mod logs;
mod real_daemons;
mod reaping;
mod services;
mod signals;
mod sockets;
mod tracking;
mod tty;
mod units;
mod util;
mod vm;
mod watchdog;
