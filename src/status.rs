//! How a process ended, and the exit status foster reports for it.

use std::fmt;

/// How a reaped child ended, decoded from the raw `waitpid` status without
/// losing anything: any signal number, real-time ones included, is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// `exit(code)`.
    Exited(u8),
    /// Killed by signal `sig` (`core` says whether it dumped core).
    Signaled { sig: i32, core: bool },
    /// Ended, as its pidfd told, but it was another process's child, so
    /// its parent, not foster, got its status (a `MAINPID=` that names a
    /// child of the service's shell, say). Counts as a failure.
    Unknown,
}

impl WaitStatus {
    /// Decodes a raw status as `WIFEXITED`/`WEXITSTATUS`/`WTERMSIG` do. Stop
    /// and continue reports never reach here (foster does not ask for them).
    pub fn from_raw(raw: i32) -> WaitStatus {
        let sig = raw & 0x7f;
        if sig == 0 {
            WaitStatus::Exited(((raw >> 8) & 0xff) as u8)
        } else {
            WaitStatus::Signaled {
                sig,
                core: raw & 0x80 != 0,
            }
        }
    }

    /// The status a shell would report: the exit code, or 128+N for a death
    /// by signal N (kept within 0..=255).
    pub fn shell_code(self) -> u8 {
        match self {
            WaitStatus::Exited(code) => code,
            WaitStatus::Signaled { sig, .. } => ((128 + sig) & 0xff) as u8,
            WaitStatus::Unknown => 1,
        }
    }
}

impl fmt::Display for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitStatus::Exited(code) => write!(f, "exited with status {code}"),
            WaitStatus::Signaled { sig, core } => {
                write!(f, "was killed by {}", crate::signal::name(*sig))?;
                if *core {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            WaitStatus::Unknown => {
                f.write_str("ended (its status went to its parent: it was not foster's child)")
            }
        }
    }
}

/// Exit statuses that `-e` maps to 0 (tini's "expected" statuses: a JVM
/// stopped by SIGTERM exits 143, which is its normal way to end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedStatuses([u64; 4]);

impl ExpectedStatuses {
    pub fn insert(&mut self, code: u8) {
        let (word, bit) = (usize::from(code / 64), code % 64);
        if let Some(w) = self.0.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    pub fn contains(&self, code: u8) -> bool {
        let (word, bit) = (usize::from(code / 64), code % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// `code`, or 0 when it is one of the expected statuses.
    pub fn map(&self, code: u8) -> u8 {
        if self.contains(code) { 0 } else { code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exit_and_signal() {
        assert_eq!(WaitStatus::from_raw(7 << 8), WaitStatus::Exited(7));
        assert_eq!(WaitStatus::from_raw(255 << 8), WaitStatus::Exited(255));
        assert_eq!(
            WaitStatus::from_raw(15),
            WaitStatus::Signaled {
                sig: 15,
                core: false
            }
        );
        assert_eq!(
            WaitStatus::from_raw(11 | 0x80),
            WaitStatus::Signaled {
                sig: 11,
                core: true
            }
        );
    }

    #[test]
    fn realtime_signal_death_is_not_lost() {
        // nix's waitpid returns EINVAL for this and the exit is gone.
        let status = WaitStatus::from_raw(37);
        assert_eq!(
            status,
            WaitStatus::Signaled {
                sig: 37,
                core: false
            }
        );
        assert_eq!(status.shell_code(), 165);
    }

    #[test]
    fn shell_codes() {
        assert_eq!(WaitStatus::Exited(3).shell_code(), 3);
        assert_eq!(
            WaitStatus::Signaled {
                sig: 15,
                core: false
            }
            .shell_code(),
            143
        );
        assert_eq!(
            WaitStatus::Signaled {
                sig: 9,
                core: false
            }
            .shell_code(),
            137
        );
    }

    #[test]
    fn every_wait_status_decodes_as_libc_does_and_reads_as_its_shell_code() {
        // Every 16-bit status the kernel reports for an exit or a death by
        // signal (stop reports, 0x7f in the low byte, never reach here).
        for raw in 0..=0xffff {
            if !(libc::WIFEXITED(raw) || libc::WIFSIGNALED(raw)) {
                continue;
            }
            let status = WaitStatus::from_raw(raw);
            let code = status.shell_code();
            let text = status.to_string();
            if libc::WIFEXITED(raw) {
                assert_eq!(status, WaitStatus::Exited(libc::WEXITSTATUS(raw) as u8));
                assert_eq!(i32::from(code), libc::WEXITSTATUS(raw));
                assert_eq!(text, format!("exited with status {code}"));
            } else {
                let sig = libc::WTERMSIG(raw);
                let core = libc::WCOREDUMP(raw);
                assert_eq!(status, WaitStatus::Signaled { sig, core }, "{raw:#x}");
                assert_eq!(i32::from(code), (128 + sig) % 256, "{raw:#x}");
                let name = crate::signal::name(sig);
                let want = if core {
                    format!("was killed by {name} (core dumped)")
                } else {
                    format!("was killed by {name}")
                };
                assert_eq!(text, want);
            }
        }
    }

    #[test]
    fn expected_statuses_map_to_zero() {
        let mut e = ExpectedStatuses::default();
        e.insert(143);
        e.insert(0);
        e.insert(255);
        assert_eq!(e.map(143), 0);
        assert_eq!(e.map(255), 0);
        assert_eq!(e.map(142), 142);
        assert_eq!(e.map(1), 1);
    }
}
