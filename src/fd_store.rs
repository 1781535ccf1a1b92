//! The fd store: descriptors a service parks with foster to take back at
//! its next start, as systemd's `FDSTORE=1` has it (sd_notify(3),
//! `FileDescriptorStoreMax=`). A server keeps its open connections, a
//! memfd with its state, or a socket it bound itself, through a crash, a
//! `kill -9` or `fosterctl restart`.
//!
//! The core decides whether a message's descriptors are for keeping and
//! how many a service may keep (its `fd_store:`); this module holds them.
//! What it keeps, by service, in the order stored:
//! - one open file once: a copy of what is kept already (`dup`, or the
//!   same descriptor sent again) is closed, not kept twice (compared by
//!   device and inode first, then by `kcmp(2)`, see [`sys::same_file`]);
//! - at most the service's limit: what does not fit is closed;
//! - a descriptor that hangs up (`EPOLLHUP`, `EPOLLERR`: a connection its
//!   peer closed, a pipe whose other end is gone) is dropped unless it was
//!   stored with `FDPOLL=0`; what epoll cannot watch (a regular file, a
//!   memfd) never hangs up. Each watch is removed before its descriptor is
//!   closed: epoll forgets a file only when its last descriptor anywhere
//!   is closed, and the service may hold another.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use log::{debug, warn};

use crate::supervisor::{Parcel, StoredCount};
use crate::sys::{self, Poller};

/// The epoll tokens of stored descriptors start here (below the pidfds'
/// range, above the relay's).
pub const FIRST_TOKEN: u64 = 1 << 44;

/// What every service has parked.
#[derive(Default)]
pub struct FdStores {
    by_service: HashMap<String, Vec<Stored>>,
    /// Whose stored descriptor each hangup watch is.
    watched: HashMap<u64, String>,
    next_token: u64,
}

/// Descriptors that came with notify messages, held while the core
/// decides on the message: those it hands to a store are taken, the rest
/// are closed at the end of the turn (which is what releases a sender
/// waiting on `BARRIER=1`).
#[derive(Default)]
pub struct Parcels {
    /// By arrival.
    waiting: std::collections::BTreeMap<u64, Vec<OwnedFd>>,
    next: u64,
}

impl Parcels {
    /// Holds `fds`; `None` when there are none.
    pub fn hold(&mut self, fds: Vec<OwnedFd>) -> Option<Parcel> {
        if fds.is_empty() {
            return None;
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        let count = fds.len();
        self.waiting.insert(id, fds);
        Some(Parcel { id, count })
    }

    /// The descriptors of parcel `id` (none if already taken or closed).
    pub fn take(&mut self, id: u64) -> Vec<OwnedFd> {
        self.waiting.remove(&id).unwrap_or_default()
    }

    /// Closes every parcel nobody took, in the order they came: a sender
    /// waiting on `BARRIER=1` is released only once what it sent before
    /// is closed too.
    pub fn close_unclaimed(&mut self) {
        while let Some((_, fds)) = self.waiting.pop_first() {
            drop(fds);
        }
    }
}

/// One parked descriptor.
struct Stored {
    /// Its `LISTEN_FDNAMES` entry.
    name: String,
    fd: OwnedFd,
    /// Device and inode: only descriptors alike in both can be one file.
    identity: Option<(u64, u64)>,
    /// Its hangup watch, if it has one.
    token: Option<u64>,
}

/// What became of the descriptors of one `FDSTORE=1`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stowed {
    pub kept: usize,
    /// Copies of what was kept already.
    pub duplicates: usize,
    /// Over the service's limit.
    pub over_limit: usize,
}

impl FdStores {
    /// Keeps `fds` for `service` under `name`, watched for hangup when
    /// `poll`, up to `max` in all.
    pub fn store(
        &mut self,
        service: &str,
        fds: Vec<OwnedFd>,
        name: &str,
        poll: bool,
        max: usize,
        poller: &Poller,
    ) -> Stowed {
        let mut stowed = Stowed::default();
        let kept = self.by_service.entry(service.to_string()).or_default();
        for fd in fds {
            let identity = sys::file_identity(fd.as_fd());
            let copy = identity.is_some()
                && kept
                    .iter()
                    .any(|s| s.identity == identity && sys::same_file(s.fd.as_fd(), fd.as_fd()));
            if copy {
                stowed.duplicates = stowed.duplicates.saturating_add(1);
                continue;
            }
            if kept.len() >= max {
                stowed.over_limit = stowed.over_limit.saturating_add(1);
                continue;
            }
            let token = if poll {
                let token = FIRST_TOKEN.saturating_add(self.next_token);
                self.next_token = self.next_token.wrapping_add(1) % (1 << 40);
                match poller.watch_hangup_only(fd.as_fd(), token) {
                    Ok(()) => {
                        self.watched.insert(token, service.to_string());
                        Some(token)
                    }
                    // A regular file or a memfd: nothing to watch.
                    Err(_) => None,
                }
            } else {
                None
            };
            kept.push(Stored {
                name: name.to_string(),
                fd,
                identity,
                token,
            });
            stowed.kept = stowed.kept.saturating_add(1);
        }
        if kept.is_empty() {
            self.by_service.remove(service);
        }
        stowed
    }

    /// Drops what `service` keeps under `name`; how many.
    pub fn remove(&mut self, service: &str, name: &str, poller: &Poller) -> usize {
        self.drop_where(service, poller, |s| s.name == name)
    }

    /// Drops everything `service` keeps; how many.
    pub fn drop_service(&mut self, service: &str, poller: &Poller) -> usize {
        self.drop_where(service, poller, |_| true)
    }

    /// A stored descriptor hung up: it is dropped. Its service, and the
    /// name it was kept under.
    pub fn hung_up(&mut self, token: u64, poller: &Poller) -> Option<(String, String)> {
        let service = self.watched.get(&token)?.clone();
        let mut name = None;
        self.drop_where(&service, poller, |s| {
            let it = s.token == Some(token);
            if it {
                name = Some(s.name.clone());
            }
            it
        });
        Some((service, name?))
    }

    /// Drops the stores of the services `keep` says no to (forgotten).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool, poller: &Poller) {
        let gone: Vec<String> = self
            .by_service
            .keys()
            .filter(|name| !keep(name))
            .cloned()
            .collect();
        for service in gone {
            let n = self.drop_service(&service, poller);
            debug!("{service}: closed the {n} descriptor(s) it had stored");
        }
    }

    /// Copies of what `service` keeps, in the order stored, with their
    /// names, for its next start; first dropping what is over `max` (a
    /// reload lowered its `fd_store:`). `Err`: a copy could not be made
    /// (foster's table is full).
    pub fn for_start(
        &mut self,
        service: &str,
        max: usize,
        poller: &Poller,
    ) -> std::io::Result<(Vec<OwnedFd>, Vec<String>)> {
        let over = self
            .by_service
            .get(service)
            .map_or(0, |kept| kept.len().saturating_sub(max));
        if over > 0 {
            let mut seen = 0usize;
            self.drop_where(service, poller, |_| {
                seen = seen.saturating_add(1);
                seen > max
            });
            warn!("{service}: closed {over} stored descriptor(s) over its fd_store of {max}");
        }
        let Some(kept) = self.by_service.get(service) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let fds = kept
            .iter()
            .map(|s| s.fd.try_clone())
            .collect::<Result<Vec<_>, _>>()?;
        let names = kept.iter().map(|s| s.name.clone()).collect();
        Ok((fds, names))
    }

    /// How many `service` keeps under each name, in the order first stored.
    pub fn summary(&self, service: &str) -> Vec<StoredCount> {
        let mut out: Vec<StoredCount> = Vec::new();
        for s in self.by_service.get(service).into_iter().flatten() {
            match out.iter_mut().find(|c| c.name == s.name) {
                Some(c) => c.count = c.count.saturating_add(1),
                None => out.push(StoredCount {
                    name: s.name.clone(),
                    count: 1,
                }),
            }
        }
        out
    }

    /// How many descriptors are stored, for every service.
    pub fn total(&self) -> usize {
        self.by_service.values().map(Vec::len).sum()
    }

    fn drop_where(
        &mut self,
        service: &str,
        poller: &Poller,
        mut which: impl FnMut(&Stored) -> bool,
    ) -> usize {
        let Some(kept) = self.by_service.get_mut(service) else {
            return 0;
        };
        let before = kept.len();
        kept.retain(|s| {
            if !which(s) {
                return true;
            }
            if let Some(token) = s.token {
                poller.unwatch(s.fd.as_fd());
                self.watched.remove(&token);
            }
            false
        });
        let dropped = before.saturating_sub(kept.len());
        if kept.is_empty() {
            self.by_service.remove(service);
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe().expect("pipe")
    }

    fn counts(stores: &FdStores, service: &str) -> Vec<(String, usize)> {
        stores
            .summary(service)
            .into_iter()
            .map(|c| (c.name, c.count))
            .collect()
    }

    #[test]
    fn keeps_one_open_file_once_and_no_more_than_the_limit() {
        let poller = Poller::new().expect("epoll");
        let mut stores = FdStores::default();
        let (r, _w) = pipe();
        let copy = r.try_clone().expect("dup");
        let others: Vec<OwnedFd> = (0..4).map(|_| pipe().0).collect();
        let stowed = stores.store("web", vec![r, copy], "state", false, 3, &poller);
        assert_eq!(
            stowed,
            Stowed {
                kept: 1,
                duplicates: 1,
                over_limit: 0
            }
        );
        let stowed = stores.store("web", others, "conn", false, 3, &poller);
        assert_eq!((stowed.kept, stowed.over_limit), (2, 2));
        assert_eq!(
            counts(&stores, "web"),
            [("state".to_string(), 1), ("conn".to_string(), 2)]
        );
        let (fds, names) = stores.for_start("web", 3, &poller).expect("copies");
        assert_eq!((fds.len(), names.join(":")), (3, "state:conn:conn".into()));
        // A lower limit drops the newest.
        let (fds, names) = stores.for_start("web", 1, &poller).expect("copies");
        assert_eq!((fds.len(), names.join(":")), (1, "state".into()));
        assert_eq!(stores.remove("web", "state", &poller), 1);
        assert_eq!(stores.total(), 0);
    }

    #[test]
    fn drops_what_hangs_up_unless_told_not_to_poll() {
        let poller = Poller::new().expect("epoll");
        let mut stores = FdStores::default();
        let (watched, watched_w) = pipe();
        let (unpolled, unpolled_w) = pipe();
        stores.store("web", vec![watched], "a", true, 8, &poller);
        stores.store("web", vec![unpolled], "b", false, 8, &poller);
        drop((watched_w, unpolled_w));
        let mut ready = Vec::new();
        poller.wait(&mut ready).expect("epoll_wait");
        assert_eq!(ready.len(), 1);
        let token = ready[0];
        assert_eq!(
            stores.hung_up(token, &poller),
            Some(("web".to_string(), "a".to_string()))
        );
        assert_eq!(counts(&stores, "web"), [("b".to_string(), 1)]);
        assert_eq!(stores.hung_up(token, &poller), None);
    }

    #[test]
    fn forgets_the_stores_of_forgotten_services() {
        let poller = Poller::new().expect("epoll");
        let mut stores = FdStores::default();
        stores.store("a", vec![pipe().0], "x", true, 8, &poller);
        stores.store("b", vec![pipe().0], "x", true, 8, &poller);
        stores.retain(|name| name == "b", &poller);
        assert_eq!(stores.total(), 1);
        assert_eq!(stores.drop_service("b", &poller), 1);
        assert!(stores.watched.is_empty());
    }
}
