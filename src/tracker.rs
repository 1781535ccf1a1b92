//! The daemon tracker: what foster knows of the processes it follows
//! without having simply started them and waited — daemons named by a
//! pidfile or a `MAINPID=`, children it adopted — and the facts the
//! supervisor judges them by.
//!
//! It owns:
//! - each forking service's launch ([`Launch`]): the launcher, its start
//!   time, and the pidfile as it was before, to tell a left-over file from
//!   news; one per service, replaced at each launch;
//! - the inotify instance (made on first use) that watches pidfiles'
//!   directories and services' `cgroup.events`, and which watch is whose;
//! - the pidfds of followed processes, through which they are signalled
//!   and their end is seen even when foster is not their parent; a pidfd
//!   is closed when its process is reaped ([`crate::reaper`]) or seen to
//!   end.
//!
//! It reads, for the supervisor: a pidfile, never trusting it
//! ([`Tracker::read_pidfile`]); foster's adopted children
//! ([`Tracker::find_adopted`]); and what ties a process to a service — its
//! ancestry, its cgroup, the `FOSTER_SERVICE_NAME` it was started with
//! ([`Tracker::named`], [`membership`]).
//!
//! Records go when what they describe does ([`Tracker::prune`]): the launch
//! and cgroup watch of a service that no longer exists.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use log::{debug, warn};

use crate::cgroup::Cgroups;
use crate::pidfile::{Candidate, CgroupMembership, Context, Ties};
use crate::reaper::Reaper;
use crate::service::ServiceId;
use crate::status::WaitStatus;
use crate::supervisor::{Event, Named, PidfileLock, PidfileReading, Supervisor};
use crate::sys::{self, Inotify, Pid, PidFd, Poller, Reaped, Watch};
use crate::unit::{Kind, Unit};

/// The event loop's token for the inotify instance.
pub const INOTIFY_TOKEN: u64 = 7;
/// Tokens from here up are followed processes' pidfds, the PID added.
pub const FIRST_PIDFD_TOKEN: u64 = 1 << 48;

/// Launches, watches and followed processes (see the module's
/// documentation).
pub struct Tracker {
    own_pid: Pid,
    /// foster's own session (it never makes another): the main command's,
    /// never a service's. `None` when its leader is outside foster's PID
    /// namespace.
    own_session: Option<Pid>,
    /// Each forking service's launch, by service.
    launches: HashMap<ServiceId, Launch>,
    /// Watches the directories of pidfiles (created on first use).
    inotify: Option<Inotify>,
    /// Daemons followed through their pidfiles, by PID.
    pidfds: HashMap<Pid, PidFd>,
    /// The watches on services' `cgroup.events`, by watch.
    cgroup_watches: HashMap<Watch, ServiceId>,
    /// The cgroup made for each service, by its directory's name: kept as
    /// long as the supervisor knows the service, so that the kill sent as
    /// a removed service is forgotten still finds it.
    cgroups: HashMap<ServiceId, String>,
}

/// What foster knows of a forking service's launch.
pub struct Launch {
    launcher: Pid,
    /// When the launcher started (`None` when `/proc` could not say).
    ticks: Option<u64>,
    before: Option<PidfileState>,
    watch: Option<Watch>,
}

/// A forking service's launch before its launcher is spawned: its
/// pidfile's directory watched, and the file as it was.
pub struct PendingLaunch {
    before: Option<PidfileState>,
    watch: Option<Watch>,
}

/// A pidfile's identity and content, to tell a rewritten file from an old one.
#[derive(PartialEq, Eq)]
struct PidfileState {
    dev: u64,
    ino: u64,
    modified: Option<std::time::SystemTime>,
    content: Vec<u8>,
}

/// Reads a pidfile without trusting it: only a regular file, opened
/// non-blocking (a FIFO put in its place must not stall PID 1), and at
/// most 64 bytes of it (a PID needs 11).
fn pidfile_state(path: &Path) -> Option<PidfileState> {
    open_pidfile(path).map(|(_, state)| state)
}

/// [`pidfile_state`], and the file still open, to ask the kernel who
/// locks it. Opening and closing it is safe for the daemon's own locks:
/// closing a descriptor drops the POSIX locks of the process that closes
/// it, and foster holds none.
fn open_pidfile(path: &Path) -> Option<(std::fs::File, PidfileState)> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut content = Vec::with_capacity(16);
    (&file).take(64).read_to_end(&mut content).ok()?;
    let state = PidfileState {
        dev: meta.dev(),
        ino: meta.ino(),
        modified: meta.modified().ok(),
        content,
    };
    Some((file, state))
}

/// The process the kernel says holds a lock on the open pidfile `file`
/// (`dev`/`ino`), if foster can name one; `text`: the PID its text names.
///
/// A POSIX lock's holder is exact (`F_GETLK`): such a lock belongs to
/// the process that took it and dies with it. A `flock` or OFD lock
/// belongs to an open file, shared by every process that inherited the
/// descriptor, and `/proc/locks` names only the process that took it (for
/// `flock`; none for OFD): a daemon that locked its pidfile before
/// forking, as libbsd's `pidfile_open(3)` then `daemon(3)` do, holds it
/// in the child whose PID the text names, while `/proc/locks` names the
/// parent, gone, its number perhaps reused. So a process counts as a
/// holder of such a lock only when `/proc/PID/fdinfo` shows the lock
/// through one of its descriptors — the text's PID first, then those
/// `/proc/locks` names, writers first.
///
/// An OFD lock names nobody in `/proc/locks`: then the text's PID's
/// ancestors up to foster (`near`: the master of the worker the text
/// names, say) are asked too, nearest first.
fn lock_holder(
    file: &std::fs::File,
    dev: u64,
    ino: u64,
    text: Option<Pid>,
    near: impl FnOnce() -> Vec<Pid>,
) -> Option<Pid> {
    match sys::posix_lock_holder(file) {
        Ok(Some(holder)) => return Some(holder),
        Ok(None) => {}
        Err(e) => debug!("cannot ask who holds a POSIX lock on a pidfile: {e}"),
    }
    let shared: Vec<_> = crate::procfs::locks_on(dev, ino)
        .into_iter()
        .filter(|l| l.kind != crate::procfs::LockKind::Posix)
        .collect();
    if shared.is_empty() {
        return None;
    }
    if let Some(text) = text
        && crate::procfs::holds_lock(text, dev, ino)
    {
        return Some(text);
    }
    crate::procfs::named_holders(shared)
        .into_iter()
        .map(|(_, pid)| pid)
        .chain(near())
        .filter(|&pid| Some(pid) != text)
        .find(|&pid| crate::procfs::holds_lock(pid, dev, ino))
}

/// What the pidfile's text and lock say together: the PID to judge, and
/// how the lock stands against the text (see [`PidfileLock`]).
fn judged_pid(text: Option<Pid>, holder: Option<Pid>) -> (Option<Pid>, PidfileLock) {
    match holder {
        None => (text, PidfileLock::Unlocked),
        Some(holder) if Some(holder) == text => (text, PidfileLock::HeldByNamed),
        Some(holder) => (Some(holder), PidfileLock::HeldByOther { text }),
    }
}

/// Whose cgroup `pid` is in, where foster makes cgroups.
pub fn membership(cgroups: Option<&Cgroups>, pid: Pid) -> CgroupMembership {
    match cgroups {
        Some(cgroups) => cgroups.membership(pid),
        None => CgroupMembership::Unknown,
    }
}

impl Tracker {
    /// Nothing tracked yet, for the foster with this PID and session.
    pub fn new(own_pid: Pid, own_session: Option<Pid>) -> Tracker {
        Tracker {
            own_pid,
            own_session,
            launches: HashMap::new(),
            inotify: None,
            pidfds: HashMap::new(),
            cgroup_watches: HashMap::new(),
            cgroups: HashMap::new(),
        }
    }

    /// Before `unit` is spawned: for a forking service, watch the pidfile's
    /// directory, then note the file as it is. One written just after the
    /// launcher exits, or renamed into place, is then seen at once, and a
    /// left-over one is told apart. `None` for other kinds.
    pub fn prepare_launch(&mut self, unit: &Unit, poller: &Poller) -> Option<PendingLaunch> {
        match &unit.pidfile {
            // The watch first (fields are evaluated in order): a pidfile
            // renamed into place between the two would otherwise be missed.
            Some(path) if unit.kind == Kind::Forking => Some(PendingLaunch {
                watch: self.watch_pidfile_dir(path, poller),
                before: pidfile_state(path),
            }),
            _ if unit.kind == Kind::Forking => Some(PendingLaunch {
                watch: None,
                before: None,
            }),
            _ => None,
        }
    }

    /// The service `id`'s launcher was spawned as `launcher`, which started
    /// at `ticks`.
    pub fn launched(
        &mut self,
        id: ServiceId,
        pending: PendingLaunch,
        launcher: Pid,
        ticks: Option<u64>,
    ) {
        self.launches.insert(
            id,
            Launch {
                launcher,
                ticks,
                before: pending.before,
                watch: pending.watch,
            },
        );
    }

    /// Who foster and the launcher are, for judging what a launch left.
    fn context(&self, launch: &Launch) -> Context {
        Context {
            foster: self.own_pid,
            launcher: launch.launcher,
            launched_ticks: launch.ticks,
            foster_session: self.own_session,
        }
    }

    /// Watches the directory of `pidfile`; `None` when inotify is not to be had
    /// (the pidfile is then read at the launcher's exit and at the deadline).
    fn watch_pidfile_dir(&mut self, pidfile: &Path, poller: &Poller) -> Option<Watch> {
        let dir = pidfile.parent()?;
        match self.inotify(poller)?.watch_dir(dir) {
            Ok(watch) => Some(watch),
            Err(e) => {
                warn!("cannot watch {}: {e}", dir.display());
                None
            }
        }
    }

    /// The service `id` has the cgroup `name`, whose `cgroup.events` is
    /// `events`: watched, once, so that its emptying is seen at once.
    pub fn cgroup_made(&mut self, id: ServiceId, name: &str, events: &Path, poller: &Poller) {
        // Watched once: a service launched again has its watch already.
        let known = self.cgroups.insert(id, name.to_string()).is_some();
        if !known && let Some(inotify) = self.inotify(poller) {
            match inotify.watch_file(events) {
                Ok(watch) => {
                    self.cgroup_watches.insert(watch, id);
                }
                Err(e) => warn!("{name}: cannot watch {}: {e}", events.display()),
            }
        }
    }

    /// The cgroup of the service `id`, if foster made one.
    pub fn cgroup_of(&self, id: ServiceId) -> Option<&str> {
        self.cgroups.get(&id).map(String::as_str)
    }

    /// foster goes on without cgroups: their records mean nothing now.
    pub fn forget_cgroups(&mut self) {
        self.cgroup_watches.clear();
        self.cgroups.clear();
    }

    /// foster's inotify instance, made on first use.
    fn inotify(&mut self, poller: &Poller) -> Option<&Inotify> {
        if self.inotify.is_none() {
            match Inotify::new() {
                Ok(inotify) => {
                    if let Err(e) = poller.watch(inotify.fd(), INOTIFY_TOKEN) {
                        warn!("cannot watch pidfiles and cgroups: {e}");
                        return None;
                    }
                    self.inotify = Some(inotify);
                }
                Err(e) => {
                    warn!("cannot watch pidfiles and cgroups (inotify: {e})");
                    return None;
                }
            }
        }
        self.inotify.as_ref()
    }

    /// Reads a forking service's pidfile and gathers what the supervisor
    /// judges it by.
    pub fn read_pidfile(
        &self,
        id: ServiceId,
        supervisor: &Supervisor,
        reaper: &Reaper,
        cgroups: Option<&Cgroups>,
    ) -> Option<Event> {
        let path = supervisor.unit(id)?.pidfile.clone()?;
        let launch = self.launches.get(&id);
        let opened = open_pidfile(&path);
        let now = opened.as_ref().map(|(_, state)| state);
        let stale = match (now, launch.and_then(|l| l.before.as_ref())) {
            (Some(now), Some(before)) => now == before,
            _ => false,
        };
        let text = now.and_then(|s| crate::pidfile::parse(&s.content));
        // The kernel's word on who holds the file, asked while it is open:
        // a holder other than the text names is the one judged below.
        let near = || {
            text.map(|t| crate::procfs::ancestors(t, self.own_pid))
                .unwrap_or_default()
        };
        let holder = opened
            .as_ref()
            .and_then(|(file, s)| lock_holder(file, s.dev, s.ino, text, near));
        drop(opened);
        let (pid, lock) = judged_pid(text, holder);
        // A held zombie is still described by /proc, and its PID is still its own.
        let exited = pid.and_then(|p| reaper.held(p));
        let candidate = match exited {
            Some(_) => pid
                .and_then(crate::procfs::stat_of)
                .map(|(candidate, _)| candidate),
            None => pid.and_then(crate::procfs::candidate),
        };
        let ties = candidate
            .as_ref()
            .map(|c| self.ties(cgroups, c, exited.is_some()))
            .unwrap_or_default();
        let reading = PidfileReading {
            ties,
            pid,
            stale,
            exited,
            candidate,
            context: launch.map(|l| self.context(l)),
            lock,
        };
        Some(Event::Pidfile {
            service: id,
            reading,
        })
    }

    /// Something changed in a watched directory: read the pidfiles there,
    /// and see whether a watched cgroup has emptied.
    pub fn pidfiles_touched(
        &self,
        supervisor: &Supervisor,
        reaper: &Reaper,
        cgroups: Option<&Cgroups>,
        queue: &mut VecDeque<Event>,
    ) {
        let Some(inotify) = &self.inotify else {
            return;
        };
        let touched = inotify.read();
        for (watch, _) in &touched {
            if let Some(&id) = self.cgroup_watches.get(watch)
                && let Some(name) = self.cgroup_of(id)
                && cgroups.and_then(|c| c.populated(name)) == Some(false)
                && !queue.contains(&Event::CgroupEmpty(id))
            {
                queue.push_back(Event::CgroupEmpty(id));
            }
        }
        for (&id, launch) in &self.launches {
            let Some(file) = supervisor
                .unit(id)
                .and_then(|u| u.pidfile.as_ref())
                .and_then(|p| p.file_name())
            else {
                continue;
            };
            if touched
                .iter()
                .any(|(w, f)| Some(*w) == launch.watch && f.as_os_str() == file)
                && let Some(event) = self.read_pidfile(id, supervisor, reaper, cgroups)
            {
                queue.push_back(event);
            }
        }
    }

    /// What the supervisor looks at for a forking service `id` without a
    /// pidfile: foster's adopted children, the launch, and the members of
    /// the service's cgroup.
    ///
    /// Only the children that may be the service's are read from `/proc`:
    /// its cgroup's members where it has one (and held exits, which have
    /// left it), else every child but those of `elsewhere` (other
    /// services' and the main command's): with a thousand services, the
    /// end of one does not read a thousand `stat` files.
    pub fn find_adopted(
        &self,
        id: ServiceId,
        reaper: &Reaper,
        cgroups: Option<&Cgroups>,
        elsewhere: &std::collections::HashSet<Pid>,
    ) -> Event {
        let context = self.launches.get(&id).map(|l| self.context(l));
        let members = cgroups
            .zip(self.cgroup_of(id))
            .and_then(|(c, name)| c.members(name).ok());
        let found = adopted(reaper, |pid| match &members {
            Some(members) => members.contains(&pid) || reaper.held(pid).is_some(),
            None => !elsewhere.contains(&pid),
        });
        Event::Adopted {
            service: id,
            found,
            context,
            members,
        }
    }

    /// What ties the process `c` describes to a service: its ancestry, its
    /// cgroup, the `FOSTER_SERVICE_NAME` it was started with, and when the leader
    /// of its session started. `exited`: it is a held zombie, which has left
    /// its cgroup already.
    fn ties(&self, cgroups: Option<&Cgroups>, c: &Candidate, exited: bool) -> Ties {
        let (ancestors, adopted_root) = crate::procfs::lineage(c.pid, self.own_pid);
        Ties {
            ancestors,
            adopted_root,
            cgroup: if exited {
                CgroupMembership::Unknown
            } else {
                membership(cgroups, c.pid)
            },
            marked: crate::procfs::service_marker(c.pid),
            leader_ticks: c.session.and_then(crate::procfs::start_ticks),
        }
    }

    /// The process a `MAINPID=` names, as `/proc` describes it.
    pub fn named(&self, cgroups: Option<&Cgroups>, pid: Pid) -> Named {
        let candidate = crate::procfs::candidate(pid);
        let ties = candidate
            .as_ref()
            .map(|c| self.ties(cgroups, c, false))
            .unwrap_or_default();
        Named {
            pid,
            candidate,
            ties,
        }
    }

    /// Follows `pid` through a pidfd, watched on the loop's `poller`;
    /// whether it is newly followed. Already followed: nothing to do.
    pub fn follow(&mut self, pid: Pid, poller: &Poller) -> bool {
        if self.pidfds.contains_key(&pid) {
            return false;
        }
        match PidFd::open(pid) {
            Ok(fd) => {
                // Its end is seen through the pidfd even when foster is not
                // its parent (see `followed_ended`).
                if let Ok(token) = u64::try_from(pid.get())
                    && let Err(e) = poller.watch(fd.fd(), FIRST_PIDFD_TOKEN + token)
                {
                    warn!("cannot watch the pidfd of {pid}: {e}");
                }
                self.pidfds.insert(pid, fd);
                true
            }
            Err(e) => {
                warn!("cannot open a pidfd on {pid}: {e}; it will be signalled by number");
                false
            }
        }
    }

    /// The followed processes' pidfds, by PID.
    pub fn followed(&self) -> &HashMap<Pid, PidFd> {
        &self.pidfds
    }

    /// Stops following `pid`, closing its pidfd; whether it was followed.
    pub fn unfollow(&mut self, pid: Pid) -> bool {
        self.pidfds.remove(&pid).is_some()
    }

    /// A followed process's pidfd became readable: it has ended. foster's own
    /// child is left to the reaper, which has its status (its pidfd is no
    /// longer watched, so a held zombie does not keep waking the loop). A
    /// process whose parent is someone else — a `MAINPID=` naming a child of
    /// the service's shell, a daemon not yet reparented — is never reaped by
    /// foster: its end is reported here, with its status unknown.
    pub fn followed_ended(
        &mut self,
        pid: Pid,
        poller: &Poller,
        reaper: &mut Reaper,
        queue: &mut VecDeque<Event>,
    ) {
        let Some(fd) = self.pidfds.get(&pid) else {
            return;
        };
        match sys::peek_exited(Some(pid)) {
            Ok(Reaped::NoChildren) => {
                debug!("followed process {pid}, not foster's child, has ended");
                reaper.forget(self, pid);
                queue.push_back(Event::Exited {
                    pid,
                    status: WaitStatus::Unknown,
                });
            }
            _ => poller.unwatch(fd.fd()),
        }
    }

    /// Drops the launch records and cgroup watches of services that no
    /// longer exist. Cheap when there is nothing to drop.
    pub fn prune(&mut self, supervisor: &Supervisor) {
        prune_records(
            &mut self.launches,
            &mut self.cgroup_watches,
            &mut self.cgroups,
            supervisor,
        );
    }
}

/// foster's children as `/proc` describes them, live ones and held
/// zombies (with their statuses); a zombie about to be reaped is left out.
fn adopted(reaper: &Reaper, wanted: impl Fn(Pid) -> bool) -> Vec<(Candidate, Option<WaitStatus>)> {
    let children = match crate::procfs::own_children() {
        Ok(children) => children,
        Err(e) => {
            warn!("cannot list foster's children: {e}");
            return Vec::new();
        }
    };
    children
        .into_iter()
        .filter(|&pid| wanted(pid))
        .filter_map(|pid| {
            let (candidate, zombie) = crate::procfs::stat_of(pid)?;
            match (zombie, reaper.held(pid)) {
                (false, _) => Some((candidate, None)),
                (true, Some(status)) => Some((candidate, Some(status))),
                (true, None) => None,
            }
        })
        .collect()
}

/// Drops the records of services the supervisor has forgotten (cheap
/// while there are no more records than services, the usual case).
fn prune_records<L, W>(
    launches: &mut HashMap<ServiceId, L>,
    watches: &mut HashMap<W, ServiceId>,
    cgroups: &mut HashMap<ServiceId, String>,
    supervisor: &Supervisor,
) {
    if launches.len() > supervisor.service_count() {
        launches.retain(|&id, _| supervisor.unit(id).is_some());
    }
    if watches.len() > supervisor.service_count() {
        watches.retain(|_, &mut id| supervisor.unit(id).is_some());
    }
    if cgroups.len() > supervisor.service_count() {
        cgroups.retain(|&id, _| supervisor.unit(id).is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// The holder `read_pidfile` finds for the pidfile at `path`, its text
    /// read as `read_pidfile` reads it.
    fn holder_of(path: &Path, text: Option<Pid>) -> (Option<Pid>, Option<Pid>) {
        let (file, state) = open_pidfile(path).unwrap();
        let read = crate::pidfile::parse(&state.content);
        (
            read,
            lock_holder(&file, state.dev, state.ino, text.or(read), Vec::new),
        )
    }

    fn pidfile(name: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("foster-tracker-{}-{name}", std::process::id()));
        std::fs::write(&path, "1\n").unwrap();
        path
    }

    use sys::{TestLock, end_daemon as end, lock_taking_daemon as daemon};

    const FLOCK: TestLock = TestLock::Flock;
    const OFD: TestLock = TestLock::Ofd;
    const POSIX: TestLock = TestLock::Posix {
        write: true,
        start: 0,
        len: 0,
    };

    #[test]
    fn a_daemon_that_locked_its_pidfile_before_forking_is_its_holder() {
        // /proc/locks names the parent that took the flock, exited since;
        // the daemon that inherited the descriptor holds the lock now.
        for (name, lock) in [("flock", FLOCK), ("ofd", OFD)] {
            let path = pidfile(&format!("before-{name}"));
            let (daemon, parent) = daemon(&path, lock, true);
            let (text, holder) = holder_of(&path, None);
            // A text naming some other process: neither it nor the dead
            // parent holds the lock; no holder foster can name.
            let me = Pid::new(i32::try_from(std::process::id()).unwrap()).unwrap();
            let (_, other) = holder_of(&path, Some(me));
            let listed = {
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::metadata(&path).unwrap();
                crate::procfs::named_holders(crate::procfs::locks_on(meta.dev(), meta.ino()))
            };
            end(daemon);
            std::fs::remove_file(&path).unwrap();
            assert_eq!(text, Some(daemon), "{name}");
            assert_eq!(holder, Some(daemon), "{name}");
            assert_eq!(other, None, "{name}");
            if lock == FLOCK {
                assert_eq!(listed, [(crate::procfs::LockKind::Flock, parent)]);
            }
        }
    }

    #[test]
    fn the_holder_of_a_lock_the_text_does_not_name_is_found() {
        for (name, lock) in [("flock", FLOCK), ("ofd", OFD), ("posix", POSIX)] {
            let path = pidfile(&format!("after-{name}"));
            let (daemon, _) = daemon(&path, lock, false);
            let (_, named) = holder_of(&path, None);
            let me = Pid::new(i32::try_from(std::process::id()).unwrap()).unwrap();
            let (_, other) = holder_of(&path, Some(me));
            end(daemon);
            std::fs::remove_file(&path).unwrap();
            assert_eq!(named, Some(daemon), "{name}");
            // An OFD lock names nobody in /proc/locks: only the text's PID
            // can be found holding it.
            let expected = if lock == OFD { None } else { Some(daemon) };
            assert_eq!(other, expected, "{name}");
        }
        let path = pidfile("unlocked");
        let (text, holder) = holder_of(&path, None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!((text, holder), (Some(Pid::INIT), None));
    }

    #[test]
    fn the_lock_decides_which_pid_is_judged() {
        let (a, b) = (Pid::new(40), Pid::new(41));
        assert_eq!(judged_pid(a, None), (a, PidfileLock::Unlocked));
        assert_eq!(judged_pid(None, None), (None, PidfileLock::Unlocked));
        assert_eq!(judged_pid(a, a), (a, PidfileLock::HeldByNamed));
        assert_eq!(judged_pid(a, b), (b, PidfileLock::HeldByOther { text: a }));
        assert_eq!(
            judged_pid(None, b),
            (b, PidfileLock::HeldByOther { text: None })
        );
    }

    #[test]
    fn records_of_processes_and_services_that_are_gone_are_dropped() {
        // The forking crash loop of the soak run: every round a followed
        // daemon is reaped, and its number used to be kept for good.
        let settings = crate::supervisor::Settings {
            forward_to_group: false,
            expected: crate::status::ExpectedStatuses::default(),
            grace: std::time::Duration::from_secs(1),
            warn_on_reap: false,
            system: false,
            identity: crate::supervisor::Identity {
                pid: Pid::INIT,
                session: None,
            },
        };
        let unit = crate::service::tests::unit("d", Kind::Forking, crate::unit::Restart::Always);
        let supervisor = Supervisor::new(settings, vec![unit], false, true);
        let mut reaped: std::collections::HashSet<Pid> =
            (1000..6000).filter_map(Pid::new).collect();
        let d = supervisor.id("d").expect("d is known");
        let removed = ServiceId(d.0 + 1);
        let mut launches: HashMap<ServiceId, ()> = [(d, ()), (removed, ())].into();
        let mut watches: HashMap<u32, ServiceId> = [(1, d), (2, removed)].into();
        let mut cgroups: HashMap<ServiceId, String> =
            [(d, "d".to_string()), (removed, "removed".to_string())].into();
        crate::reaper::prune_reaped(&mut reaped, &supervisor);
        prune_records(&mut launches, &mut watches, &mut cgroups, &supervisor);
        assert!(reaped.is_empty());
        assert_eq!(launches.keys().collect::<Vec<_>>(), [&d]);
        assert_eq!(watches.values().collect::<Vec<_>>(), [&d]);
        assert_eq!(cgroups.values().collect::<Vec<_>>(), ["d"]);
    }
}
