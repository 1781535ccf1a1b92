//! The one loop that owns the world.
//!
//! A single thread blocks in `epoll_wait`, with no timeout, on a signalfd
//! and a timerfd. What it reads becomes [`Event`]s for the
//! [`Supervisor`]; the [`Action`]s that come back are carried out here.
//! This is the only place that reaps: every SIGCHLD starts a pass that
//! reaps until nothing is left to reap, because SIGCHLDs coalesce and one
//! notification may stand for many exits (catatonit#4).

use std::io;
use std::os::fd::AsRawFd;

use log::{debug, error, warn};

use crate::signal;
use crate::supervisor::{Action, Event, Supervisor, Target};
use crate::sys::{self, Pid, Poller, Reaped, Signals, Timer};

const SIGNALS: u64 = 1;
const TIMER: u64 = 2;

/// The event sources, opened before the child is spawned so that a failure
/// to open them stops foster before anything runs.
pub struct Sources {
    poller: Poller,
    signals: Signals,
    timer: Timer,
}

impl Sources {
    pub fn open() -> io::Result<Sources> {
        let sources = Sources {
            poller: Poller::new()?,
            signals: Signals::open()?,
            timer: Timer::new()?,
        };
        sources.poller.watch(sources.signals.fd(), SIGNALS)?;
        sources.poller.watch(sources.timer.fd(), TIMER)?;
        Ok(sources)
    }

    /// The descriptors foster keeps; every other one is closed after spawning.
    pub fn raw_fds(&self) -> [i32; 3] {
        [
            self.poller.fd().as_raw_fd(),
            self.signals.fd().as_raw_fd(),
            self.timer.fd().as_raw_fd(),
        ]
    }
}

/// How foster reaches "every descendant".
pub struct World {
    /// As PID 1, `kill(-1, …)` reaches exactly everything else in the
    /// namespace; otherwise descendants are found through `/proc`.
    pub pid1: bool,
    pub own_pid: Pid,
    /// Fallback when `/proc` cannot be read: the main child's process group.
    pub main: Pid,
}

/// Runs until the supervisor says to exit; returns the exit status.
pub fn run(sources: &Sources, world: &World, mut supervisor: Supervisor) -> u8 {
    let mut ready = Vec::with_capacity(4);
    let mut events = Vec::with_capacity(16);
    let mut actions = Vec::with_capacity(8);
    loop {
        if let Err(e) = sources.poller.wait(&mut ready) {
            // Nothing sensible is left to do if epoll itself fails; keep
            // reaping what we can rather than spin.
            error!("epoll_wait failed: {e}");
        }
        events.clear();
        for &token in &ready {
            match token {
                SIGNALS => read_signals(&sources.signals, &mut events),
                TIMER if sources.timer.acknowledge() => events.push(Event::DeadlineReached),
                _ => {}
            }
        }
        for event in events.drain(..) {
            actions.clear();
            supervisor.handle(event, &mut actions);
            for action in actions.drain(..) {
                match action {
                    Action::Signal { target, sig } => send(world, target, sig),
                    Action::ArmDeadline(after) => {
                        if let Err(e) = sources.timer.arm(after) {
                            error!("cannot arm the timer: {e}");
                        }
                    }
                    Action::Exit(code) => return code,
                }
            }
        }
    }
}

fn read_signals(signals: &Signals, events: &mut Vec<Event>) {
    loop {
        match signals.read() {
            Ok(Some(libc::SIGCHLD)) => reap_all(events),
            Ok(Some(sig)) => events.push(Event::Signal(sig)),
            Ok(None) => return,
            Err(e) => {
                error!("reading the signalfd failed: {e}");
                return;
            }
        }
    }
}

/// Reaps until nothing is left to reap, then says whether children remain.
fn reap_all(events: &mut Vec<Event>) {
    loop {
        match sys::reap_one() {
            Ok(Reaped::Child(pid, status)) => events.push(Event::Exited { pid, status }),
            Ok(Reaped::NoneReady) => {
                events.push(Event::ReapDone {
                    children_left: true,
                });
                return;
            }
            Ok(Reaped::NoChildren) => {
                events.push(Event::ReapDone {
                    children_left: false,
                });
                return;
            }
            Err(e) => {
                error!("waitpid failed: {e}");
                events.push(Event::ReapDone {
                    children_left: true,
                });
                return;
            }
        }
    }
}

fn send(world: &World, target: Target, sig: i32) {
    let result = match target {
        Target::Process(pid) => sys::kill(pid, sig),
        Target::Group(pgid) => sys::kill(-pgid, sig),
        Target::Descendants => return signal_descendants(world, sig),
    };
    if let Err(e) = result {
        debug!("cannot send {} to {target:?}: {e}", signal::name(sig));
    }
}

fn signal_descendants(world: &World, sig: i32) {
    if world.pid1 {
        // ESRCH only means nobody else is left.
        let _ = sys::kill(-1, sig);
        return;
    }
    match crate::procfs::descendants(world.own_pid) {
        Ok(pids) => {
            debug!(
                "sending {} to {} descendants",
                signal::name(sig),
                pids.len()
            );
            for pid in pids {
                let _ = sys::kill(pid, sig);
            }
        }
        Err(e) => {
            warn!(
                "cannot list descendants in /proc ({e}); signalling only the main process group with {}",
                signal::name(sig)
            );
            let _ = sys::kill(-world.main, sig);
        }
    }
}
