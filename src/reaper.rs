//! The reaper: the one place foster waits for its children.
//!
//! Every SIGCHLD (and every [`Action::Reap`](crate::supervisor::Action))
//! starts a pass that reaps until nothing is left to reap, because SIGCHLDs
//! coalesce and one notification may stand for many exits (catatonit#4).
//! Each exit becomes an [`Event::Exited`], and each pass ends with an
//! [`Event::ReapDone`] that says whether children remain.
//!
//! While a forking service starts, the supervisor may want an exit *held*
//! ([`Supervisor::holding`]): the process stays a zombie, so that its PID
//! cannot be recycled while a pidfile that names it is judged. The pass
//! then looks before it reaps (`waitid` with `WNOWAIT`), and keeps the
//! held exits' statuses. At most [`MAX_HELD`] are held at once.
//!
//! It owns:
//! - the held exits, with their statuses;
//! - the *reaped* numbers: PIDs foster followed through a pidfd and has
//!   seen end, never to be signalled by number again (the number may be a
//!   stranger's by now) while the supervisor still names them
//!   ([`Reaper::prune`]), or until foster starts or follows a new process
//!   with that number ([`Reaper::reused`]).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;

use log::{debug, error, warn};

use crate::status::WaitStatus;
use crate::supervisor::{Event, Supervisor};
use crate::sys::{self, Pid, Reaped};
use crate::tracker::Tracker;

/// At most this many exits are held at once; beyond, they are reaped at
/// once (a fork bomb must not fill foster's process table slot by slot).
pub const MAX_HELD: usize = 64;

/// Held exits and reaped numbers (see the module's documentation).
#[derive(Default)]
pub struct Reaper {
    /// Exits held unreaped while a forking service starts (see
    /// [`Supervisor::holding`]), with their statuses.
    held: BTreeMap<Pid, WaitStatus>,
    /// Followed PIDs whose process is reaped and pidfd closed: never to be
    /// signalled by number (it may be recycled), until foster itself
    /// starts or follows a process with that number again.
    reaped: HashSet<Pid>,
}

impl Reaper {
    /// Reaps until nothing is left to reap, then says whether children
    /// remain. While the supervisor holds exits, each one is looked at
    /// first (`WNOWAIT`) and those it holds stay zombies.
    pub fn reap(
        &mut self,
        tracker: &mut Tracker,
        supervisor: &Supervisor,
        queue: &mut VecDeque<Event>,
    ) {
        if supervisor.holding() || !self.held.is_empty() {
            return self.reap_holding(tracker, supervisor, queue);
        }
        self.reap_plain(tracker, queue);
    }

    /// Whether some exit is held.
    pub fn holds_exits(&self) -> bool {
        !self.held.is_empty()
    }

    /// The status of `pid`'s exit, if it is held.
    pub fn held(&self, pid: Pid) -> Option<WaitStatus> {
        self.held.get(&pid).copied()
    }

    /// Holding is over: every held exit is reaped and reported as an
    /// ordinary one, and so is every exit since.
    pub fn stop_holding(&mut self, tracker: &mut Tracker, queue: &mut VecDeque<Event>) {
        self.release_held(tracker, queue);
        self.reap_plain(tracker, queue);
    }

    /// Reaps the held exit of `pid` (the supervisor has taken its status).
    pub fn release(&mut self, tracker: &mut Tracker, pid: Pid) {
        self.held.remove(&pid);
        self.forget(tracker, pid);
        if let Err(e) = sys::reap_pid(pid) {
            debug!("cannot reap {pid}: {e}");
        }
    }

    /// The numbers of followed processes that are gone.
    pub fn reaped(&self) -> &HashSet<Pid> {
        &self.reaped
    }

    /// foster started, or follows, a new process numbered `pid`: the
    /// number is no longer a reaped process's.
    pub fn reused(&mut self, pid: Pid) {
        self.reaped.remove(&pid);
    }

    /// A followed process is gone: close its pidfd, and remember not to
    /// signal its number.
    pub fn forget(&mut self, tracker: &mut Tracker, pid: Pid) {
        if tracker.unfollow(pid) {
            self.reaped.insert(pid);
        }
    }

    /// Drops the reaped numbers the supervisor no longer names. Cheap when
    /// there is nothing to drop.
    pub fn prune(&mut self, supervisor: &Supervisor) {
        prune_reaped(&mut self.reaped, supervisor);
    }

    /// Reaps every ended child as it comes.
    fn reap_plain(&mut self, tracker: &mut Tracker, queue: &mut VecDeque<Event>) {
        loop {
            let found = sys::reap_one();
            if let Some(children_left) = pass_over(&found, "waitpid") {
                queue.push_back(Event::ReapDone { children_left });
                return;
            }
            if let Ok(Reaped::Child(pid, status)) = found {
                self.forget(tracker, pid);
                queue.push_back(Event::Exited { pid, status });
            }
        }
    }

    /// The reaping pass while exits are held. `waitid(P_ALL, WNOWAIT)`
    /// keeps answering with the first zombie in the kernel's list, so once
    /// that one is held the others are found child by child.
    fn reap_holding(
        &mut self,
        tracker: &mut Tracker,
        supervisor: &Supervisor,
        queue: &mut VecDeque<Event>,
    ) {
        loop {
            let found = sys::peek_exited(None);
            if let Some(children_left) = pass_over(&found, "waitid") {
                queue.push_back(Event::ReapDone { children_left });
                return;
            }
            match found {
                Ok(Reaped::Child(pid, status)) if !self.held.contains_key(&pid) => {
                    self.take_or_hold(pid, status, tracker, supervisor, queue);
                }
                _ => break,
            }
        }
        // A held zombie is first in line: look at the other children one by one.
        match crate::procfs::own_children() {
            Ok(children) => {
                for pid in children {
                    if self.held.contains_key(&pid) {
                        continue;
                    }
                    if let Ok(Reaped::Child(pid, status)) = sys::peek_exited(Some(pid)) {
                        self.take_or_hold(pid, status, tracker, supervisor, queue);
                    }
                }
            }
            Err(e) => {
                // Without the list, holding would stall reaping: stop holding.
                warn!("cannot list foster's children ({e}); no longer holding exits");
                return self.stop_holding(tracker, queue);
            }
        }
        queue.push_back(Event::ReapDone {
            children_left: true,
        });
    }

    /// Holds the exit of `pid` if the supervisor wants it held and there is
    /// room; otherwise reaps it and reports it.
    fn take_or_hold(
        &mut self,
        pid: Pid,
        status: WaitStatus,
        tracker: &mut Tracker,
        supervisor: &Supervisor,
        queue: &mut VecDeque<Event>,
    ) {
        if self.held.len() < MAX_HELD && supervisor.holds(pid) {
            debug!("holding the exit of {pid} ({status}) while a forking service starts");
            self.held.insert(pid, status);
            return;
        }
        match sys::reap_pid(pid) {
            Ok(Some(status)) => {
                self.forget(tracker, pid);
                queue.push_back(Event::Exited { pid, status });
            }
            Ok(None) => {}
            Err(e) => debug!("cannot reap {pid}: {e}"),
        }
    }

    /// Reaps every held exit and reports it as an ordinary one.
    fn release_held(&mut self, tracker: &mut Tracker, queue: &mut VecDeque<Event>) {
        for (pid, held) in std::mem::take(&mut self.held) {
            self.forget(tracker, pid);
            let status = match sys::reap_pid(pid) {
                Ok(Some(status)) => status,
                _ => held,
            };
            queue.push_back(Event::Exited { pid, status });
        }
    }
}

/// What a wait that found no ended child means for the pass: whether
/// children are left (`None` when it found one).
fn pass_over(found: &io::Result<Reaped>, call: &str) -> Option<bool> {
    match found {
        Ok(Reaped::Child(..)) => None,
        Ok(Reaped::NoneReady) => Some(true),
        Ok(Reaped::NoChildren) => Some(false),
        Err(e) => {
            error!("{call} failed: {e}");
            Some(true)
        }
    }
}

/// A reaped number is kept (so that it is never signalled by number) only
/// while the supervisor still names it.
pub(crate) fn prune_reaped(reaped: &mut HashSet<Pid>, supervisor: &Supervisor) {
    if !reaped.is_empty() {
        reaped.retain(|&pid| supervisor.names(pid));
    }
}
