//! The sd_notify protocol, as a service speaks it: newline-separated
//! `KEY=VALUE` assignments in one datagram (`READY=1`, `STATUS=…`,
//! `MAINPID=…`, the watchdog's `WATCHDOG=1`, `WATCHDOG=trigger`,
//! `WATCHDOG_USEC=…`, `EXTEND_TIMEOUT_USEC=…`, and the fd store's
//! `FDSTORE=1`, `FDSTOREREMOVE=1`, `FDNAME=…`, `FDPOLL=0`; see
//! sd_notify(3)). Daemons written for systemd's `Type=notify`, its
//! watchdog and its fd store work unchanged.

use crate::sys::Pid;

/// What one datagram says. Unknown keys are ignored, as systemd does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub ready: bool,
    pub status: Option<String>,
    pub main_pid: Option<Pid>,
    /// What it asks of the fd store, if anything.
    pub fd_store: FdStoreRequest,
    /// `WATCHDOG=1` or `WATCHDOG=trigger`.
    pub watchdog: Option<WatchdogRequest>,
    /// `WATCHDOG_USEC=N`: the watchdog's timeout from now on, in
    /// microseconds (0: none).
    pub watchdog_usec: Option<u64>,
    /// `EXTEND_TIMEOUT_USEC=N`: the start or stop under way may take N
    /// microseconds more from now.
    pub extend_timeout_usec: Option<u64>,
    /// `BARRIER=1` (sd_notify_barrier(3)): the descriptor that comes with
    /// it is only for foster to close once it has read what came before.
    pub barrier: bool,
}

/// What a `WATCHDOG=` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogRequest {
    /// `WATCHDOG=1`: alive; the watchdog starts over.
    Ping,
    /// `WATCHDOG=trigger`: act as if it had expired, now.
    Trigger,
}

/// The fd store's part of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FdStoreRequest {
    /// Neither `FDSTORE=1` nor `FDSTOREREMOVE=1`: descriptors that came
    /// along are not for keeping.
    #[default]
    None,
    /// `FDSTORE=1`: keep the descriptors that came with it, under `name`
    /// (`FDNAME=`, else `stored`, systemd's default), dropped when they
    /// hang up unless `FDPOLL=0`. `bad_name`: an `FDNAME=` that is not a
    /// valid name, ignored as systemd ignores it (the descriptors are kept
    /// under `stored`), kept for the warning.
    Store {
        name: String,
        poll: bool,
        bad_name: Option<String>,
    },
    /// `FDSTOREREMOVE=1` with `FDNAME=name`: drop what is kept under it;
    /// `name` is `Err` with the text when it is missing or not a valid
    /// name (nothing is dropped).
    Remove { name: Result<String, String> },
}

/// The name of descriptors stored without a (valid) `FDNAME=`.
pub const DEFAULT_FD_NAME: &str = "stored";

/// Parses a datagram; `None` for something that is not sd_notify text.
pub fn parse(bytes: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut msg = Message::default();
    let (mut store, mut remove, mut poll) = (false, false, true);
    let mut fd_name: Option<&str> = None;
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once('=')?;
        match key {
            "READY" => msg.ready = value == "1",
            "STATUS" => msg.status = Some(value.chars().take(256).collect()),
            // Any positive number: whether it may be the service's main
            // process is for the supervisor to judge (and to log).
            "MAINPID" => msg.main_pid = value.parse().ok().and_then(Pid::new),
            "FDSTORE" => store = value == "1",
            "FDSTOREREMOVE" => remove = value == "1",
            "FDPOLL" => poll = value != "0",
            "FDNAME" => fd_name = Some(value),
            "WATCHDOG" => {
                msg.watchdog = match value {
                    "1" => Some(WatchdogRequest::Ping),
                    "trigger" => Some(WatchdogRequest::Trigger),
                    _ => msg.watchdog,
                }
            }
            // Only whole numbers: a garbled one asks nothing.
            "WATCHDOG_USEC" => msg.watchdog_usec = value.parse().ok(),
            "EXTEND_TIMEOUT_USEC" => msg.extend_timeout_usec = value.parse().ok(),
            "BARRIER" => msg.barrier = value == "1",
            _ => {}
        }
    }
    // Cut for the message: a name is at most 255 bytes when valid.
    let shown = |name: &str| name.chars().take(64).collect::<String>();
    let valid = fd_name.filter(|n| crate::unit::valid_fd_name(n));
    // As systemd: a removal wins over a store in the same message (it
    // names no descriptors to keep).
    msg.fd_store = if remove {
        FdStoreRequest::Remove {
            name: match (fd_name, valid) {
                (_, Some(name)) => Ok(name.to_string()),
                (Some(bad), None) => Err(shown(bad)),
                (None, None) => Err(String::new()),
            },
        }
    } else if store {
        FdStoreRequest::Store {
            name: valid.unwrap_or(DEFAULT_FD_NAME).to_string(),
            poll,
            bad_name: fd_name.filter(|_| valid.is_none()).map(shown),
        }
    } else {
        FdStoreRequest::None
    };
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_messages() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=Serving 3 clients\nMAINPID=4242\n"),
            Some(Message {
                ready: true,
                status: Some("Serving 3 clients".into()),
                main_pid: Pid::new(4242),
                ..Message::default()
            })
        );
        assert_eq!(
            parse(b"STATUS=warming up"),
            Some(Message {
                status: Some("warming up".into()),
                ..Message::default()
            })
        );
        assert_eq!(
            parse(b"WATCHDOG=1\nX_FOO=bar"),
            Some(Message {
                watchdog: Some(WatchdogRequest::Ping),
                ..Message::default()
            })
        );
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(parse(b"\xff\xfe"), None);
        assert_eq!(parse(b"no equals sign"), None);
        assert_eq!(
            parse(b"MAINPID=1\n"),
            Some(Message {
                main_pid: Some(Pid::INIT),
                ..Message::default()
            })
        );
        assert_eq!(parse(b"MAINPID=-3\nREADY=0"), Some(Message::default()));
    }

    #[test]
    fn reads_the_watchdog_and_timeout_requests() {
        let m = parse(b"WATCHDOG=trigger\nWATCHDOG_USEC=2500000\nEXTEND_TIMEOUT_USEC=7\n").unwrap();
        assert_eq!(m.watchdog, Some(WatchdogRequest::Trigger));
        assert_eq!(m.watchdog_usec, Some(2_500_000));
        assert_eq!(m.extend_timeout_usec, Some(7));
        // Garbled values ask nothing; they do not spoil the rest.
        let m = parse(b"WATCHDOG=yes\nWATCHDOG_USEC=-1\nEXTEND_TIMEOUT_USEC=1e6\nREADY=1").unwrap();
        assert_eq!(m.watchdog, None);
        assert_eq!(m.watchdog_usec, None);
        assert_eq!(m.extend_timeout_usec, None);
        assert!(m.ready);
        assert_eq!(
            parse(b"WATCHDOG_USEC=99999999999999999999999")
                .unwrap()
                .watchdog_usec,
            None
        );
    }

    fn store_of(bytes: &[u8]) -> FdStoreRequest {
        parse(bytes).map(|m| m.fd_store).unwrap_or_default()
    }

    #[test]
    fn reads_the_fd_store_requests() {
        assert_eq!(
            store_of(b"FDSTORE=1\nFDNAME=state"),
            FdStoreRequest::Store {
                name: "state".into(),
                poll: true,
                bad_name: None
            }
        );
        assert_eq!(
            store_of(b"FDSTORE=1\nFDPOLL=0"),
            FdStoreRequest::Store {
                name: "stored".into(),
                poll: false,
                bad_name: None
            }
        );
        assert_eq!(
            store_of(b"FDSTOREREMOVE=1\nFDNAME=state\nFDSTORE=1"),
            FdStoreRequest::Remove {
                name: Ok("state".into())
            }
        );
        assert_eq!(store_of(b"FDNAME=state\nFDSTORE=0"), FdStoreRequest::None);
    }

    #[test]
    fn ignores_bad_fd_names_as_systemd_does() {
        // Stored all the same, under the default name.
        assert_eq!(
            store_of(b"FDSTORE=1\nFDNAME=a:b"),
            FdStoreRequest::Store {
                name: "stored".into(),
                poll: true,
                bad_name: Some("a:b".into())
            }
        );
        let long = format!("FDSTORE=1\nFDNAME={}", "x".repeat(256));
        assert!(matches!(
            store_of(long.as_bytes()),
            FdStoreRequest::Store { name, bad_name: Some(_), .. } if name == "stored"
        ));
        assert!(matches!(
            store_of(b"FDSTORE=1\nFDNAME=tab\there"),
            FdStoreRequest::Store {
                bad_name: Some(_),
                ..
            }
        ));
        // A removal names what to remove, or removes nothing.
        assert_eq!(
            store_of(b"FDSTOREREMOVE=1\nFDNAME=a:b"),
            FdStoreRequest::Remove {
                name: Err("a:b".into())
            }
        );
        assert_eq!(
            store_of(b"FDSTOREREMOVE=1"),
            FdStoreRequest::Remove {
                name: Err(String::new())
            }
        );
    }
}
