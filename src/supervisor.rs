//! The decisions, without the syscalls.
//!
//! [`Supervisor`] is the state machine of one-command mode: it is fed
//! [`Event`]s (a signal arrived, a child was reaped, the reaper drained
//! everything it could, a deadline passed) and answers with [`Action`]s
//! (signal this, arm that deadline, exit with this status). It never touches
//! the kernel, so every rule below is unit-tested without forking.
//!
//! The rules:
//! - While the main child runs, every signal foster receives is forwarded
//!   to it, or to its process group with `-g`. (SIGCHLD never reaches here:
//!   the event loop turns it into a reaping pass.)
//! - When the main child has been reaped, its status is remembered (128+N
//!   for a death by signal N, `-e` statuses mapped to 0). If nothing else is
//!   left, foster exits at once. Otherwise every remaining descendant gets
//!   SIGTERM (and SIGCONT, so a stopped one can act on it), a grace deadline
//!   is armed, and foster exits as soon as the last one is reaped: it never
//!   sleeps out the grace. When the grace ends, or on a second SIGTERM,
//!   SIGINT or SIGQUIT, the rest get SIGKILL, again after every reaping pass
//!   that leaves some behind (a process may fork while it is being killed).

use std::time::Duration;

use log::{debug, info, warn};

use crate::signal;
use crate::status::{ExpectedStatuses, WaitStatus};
use crate::sys::Pid;

/// Something that happened, as the event loop saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A signal other than SIGCHLD was read from the signalfd.
    Signal(i32),
    /// A child was reaped.
    Exited { pid: Pid, status: WaitStatus },
    /// A reaping pass ended; `children_left` is false once foster has no
    /// child at all (which, for a subreaper or PID 1, means no descendant).
    ReapDone { children_left: bool },
    /// The armed deadline passed.
    DeadlineReached,
}

/// Who a signal is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Process(Pid),
    /// The process group led by this PID.
    Group(Pid),
    /// Every descendant of foster still alive.
    Descendants,
}

/// Something for the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Signal {
        target: Target,
        sig: i32,
    },
    /// Fire [`Event::DeadlineReached`] after this long (replaces any earlier deadline).
    ArmDeadline(Duration),
    /// Exit foster with this status.
    Exit(u8),
}

/// Settings the supervisor decides with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub forward_to_group: bool,
    pub expected: ExpectedStatuses,
    pub grace: Duration,
    pub warn_on_reap: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The main child runs.
    Running,
    /// The main child was reaped in the current pass; the rest of the pass
    /// decides whether anything is left.
    MainExited { code: u8 },
    /// Waiting for the leftover descendants to go; `killed` once SIGKILL was sent.
    Draining { code: u8, killed: bool },
}

/// One-command mode's state machine.
#[derive(Debug)]
pub struct Supervisor {
    main: Pid,
    settings: Settings,
    phase: Phase,
}

impl Supervisor {
    pub fn new(main: Pid, settings: Settings) -> Supervisor {
        Supervisor {
            main,
            settings,
            phase: Phase::Running,
        }
    }

    /// Feeds one event; pushes what to do onto `actions`.
    pub fn handle(&mut self, event: Event, actions: &mut Vec<Action>) {
        match (event, self.phase) {
            (Event::Signal(sig), Phase::Running) => {
                let target = if self.settings.forward_to_group {
                    Target::Group(self.main)
                } else {
                    Target::Process(self.main)
                };
                debug!("forwarding {} to {target:?}", signal::name(sig));
                actions.push(Action::Signal { target, sig });
            }
            (
                Event::Signal(sig),
                Phase::Draining {
                    code,
                    killed: false,
                },
            ) if [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig) => {
                info!(
                    "{} during the grace period: killing what is left",
                    signal::name(sig)
                );
                self.kill_all(code, actions);
            }
            (Event::Signal(sig), _) => {
                debug!(
                    "ignoring {}: the main process has exited",
                    signal::name(sig)
                );
            }
            (Event::Exited { pid, status }, Phase::Running) if pid == self.main => {
                let code = self.settings.expected.map(status.shell_code());
                info!("main process {pid} {status}");
                self.phase = Phase::MainExited { code };
            }
            (Event::Exited { pid, status }, _) => {
                if self.settings.warn_on_reap {
                    warn!("reaped orphan {pid}, which {status}");
                } else {
                    debug!("reaped {pid}, which {status}");
                }
            }
            (
                Event::ReapDone {
                    children_left: false,
                },
                Phase::MainExited { code } | Phase::Draining { code, .. },
            ) => {
                actions.push(Action::Exit(code));
            }
            (
                Event::ReapDone {
                    children_left: true,
                },
                Phase::MainExited { code },
            ) => {
                if self.settings.grace.is_zero() {
                    self.kill_all(code, actions);
                    return;
                }
                info!(
                    "main process has exited; sending SIGTERM to the processes it left, SIGKILL in {:?}",
                    self.settings.grace
                );
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGTERM,
                });
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGCONT,
                });
                actions.push(Action::ArmDeadline(self.settings.grace));
                self.phase = Phase::Draining {
                    code,
                    killed: false,
                };
            }
            (
                Event::ReapDone {
                    children_left: true,
                },
                Phase::Draining { killed: true, .. },
            ) => {
                actions.push(Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGKILL,
                });
            }
            (Event::ReapDone { .. }, _) => {}
            (
                Event::DeadlineReached,
                Phase::Draining {
                    code,
                    killed: false,
                },
            ) => {
                info!("grace period over: killing what is left");
                self.kill_all(code, actions);
            }
            (Event::DeadlineReached, _) => {}
        }
    }

    fn kill_all(&mut self, code: u8, actions: &mut Vec<Action>) {
        actions.push(Action::Signal {
            target: Target::Descendants,
            sig: libc::SIGKILL,
        });
        self.phase = Phase::Draining { code, killed: true };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Pid = 100;

    fn settings() -> Settings {
        Settings {
            forward_to_group: false,
            expected: ExpectedStatuses::default(),
            grace: Duration::from_secs(5),
            warn_on_reap: false,
        }
    }

    fn feed(sup: &mut Supervisor, events: &[Event]) -> Vec<Action> {
        let mut actions = Vec::new();
        for e in events {
            sup.handle(e.clone(), &mut actions);
        }
        actions
    }

    fn exited(pid: Pid, status: WaitStatus) -> Event {
        Event::Exited { pid, status }
    }

    #[test]
    fn forwards_signals_to_the_child_or_its_group() {
        let mut sup = Supervisor::new(MAIN, settings());
        assert_eq!(
            feed(&mut sup, &[Event::Signal(15), Event::Signal(40)]),
            vec![
                Action::Signal {
                    target: Target::Process(MAIN),
                    sig: 15
                },
                Action::Signal {
                    target: Target::Process(MAIN),
                    sig: 40
                },
            ]
        );
        let mut sup = Supervisor::new(
            MAIN,
            Settings {
                forward_to_group: true,
                ..settings()
            },
        );
        assert_eq!(
            feed(&mut sup, &[Event::Signal(10)]),
            vec![Action::Signal {
                target: Target::Group(MAIN),
                sig: 10
            }]
        );
    }

    #[test]
    fn exits_at_once_with_the_child_status_when_nothing_is_left() {
        let mut sup = Supervisor::new(MAIN, settings());
        let actions = feed(
            &mut sup,
            &[
                exited(MAIN, WaitStatus::Exited(7)),
                Event::ReapDone {
                    children_left: false,
                },
            ],
        );
        assert_eq!(actions, vec![Action::Exit(7)]);
    }

    #[test]
    fn death_by_signal_is_128_plus_n_and_expected_statuses_map_to_zero() {
        let mut sup = Supervisor::new(MAIN, settings());
        let dead = [
            exited(
                MAIN,
                WaitStatus::Signaled {
                    sig: 15,
                    core: false,
                },
            ),
            Event::ReapDone {
                children_left: false,
            },
        ];
        assert_eq!(feed(&mut sup, &dead), vec![Action::Exit(143)]);
        let mut expected = ExpectedStatuses::default();
        expected.insert(143);
        let mut sup = Supervisor::new(
            MAIN,
            Settings {
                expected,
                ..settings()
            },
        );
        assert_eq!(feed(&mut sup, &dead), vec![Action::Exit(0)]);
    }

    #[test]
    fn coalesced_exits_in_one_pass_still_end_foster() {
        // catatonit#4: the main child's exit arrived merged with another's.
        let mut sup = Supervisor::new(MAIN, settings());
        let actions = feed(
            &mut sup,
            &[
                exited(
                    MAIN + 1,
                    WaitStatus::Signaled {
                        sig: 9,
                        core: false,
                    },
                ),
                exited(MAIN, WaitStatus::Exited(0)),
                Event::ReapDone {
                    children_left: false,
                },
            ],
        );
        assert_eq!(actions, vec![Action::Exit(0)]);
    }

    #[test]
    fn leftovers_get_term_then_kill_after_the_grace() {
        let mut sup = Supervisor::new(MAIN, settings());
        let actions = feed(
            &mut sup,
            &[
                exited(MAIN, WaitStatus::Exited(3)),
                Event::ReapDone {
                    children_left: true,
                },
            ],
        );
        assert_eq!(
            actions,
            vec![
                Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGTERM
                },
                Action::Signal {
                    target: Target::Descendants,
                    sig: libc::SIGCONT
                },
                Action::ArmDeadline(Duration::from_secs(5)),
            ]
        );
        // Some go, some stay: nothing new until the deadline.
        assert_eq!(
            feed(
                &mut sup,
                &[
                    exited(MAIN + 1, WaitStatus::Exited(0)),
                    Event::ReapDone {
                        children_left: true
                    }
                ]
            ),
            vec![]
        );
        assert_eq!(
            feed(&mut sup, &[Event::DeadlineReached]),
            vec![Action::Signal {
                target: Target::Descendants,
                sig: libc::SIGKILL
            }]
        );
        // A pass that leaves some behind re-sends SIGKILL (forks during the kill).
        assert_eq!(
            feed(
                &mut sup,
                &[Event::ReapDone {
                    children_left: true
                }]
            ),
            vec![Action::Signal {
                target: Target::Descendants,
                sig: libc::SIGKILL
            }]
        );
        assert_eq!(
            feed(
                &mut sup,
                &[
                    exited(
                        MAIN + 2,
                        WaitStatus::Signaled {
                            sig: 9,
                            core: false
                        }
                    ),
                    Event::ReapDone {
                        children_left: false
                    }
                ]
            ),
            vec![Action::Exit(3)]
        );
    }

    #[test]
    fn returns_as_soon_as_the_last_leftover_is_gone() {
        let mut sup = Supervisor::new(MAIN, settings());
        feed(
            &mut sup,
            &[
                exited(MAIN, WaitStatus::Exited(0)),
                Event::ReapDone {
                    children_left: true,
                },
            ],
        );
        assert_eq!(
            feed(
                &mut sup,
                &[Event::ReapDone {
                    children_left: false
                }]
            ),
            vec![Action::Exit(0)]
        );
    }

    #[test]
    fn second_term_during_grace_escalates_to_kill() {
        let mut sup = Supervisor::new(MAIN, settings());
        feed(
            &mut sup,
            &[
                exited(MAIN, WaitStatus::Exited(0)),
                Event::ReapDone {
                    children_left: true,
                },
            ],
        );
        assert_eq!(
            feed(
                &mut sup,
                &[
                    Event::Signal(libc::SIGUSR1),
                    Event::Signal(libc::SIGTERM),
                    Event::Signal(libc::SIGINT)
                ]
            ),
            vec![Action::Signal {
                target: Target::Descendants,
                sig: libc::SIGKILL
            }]
        );
        assert_eq!(feed(&mut sup, &[Event::DeadlineReached]), vec![]);
    }

    #[test]
    fn zero_grace_kills_at_once() {
        let mut sup = Supervisor::new(
            MAIN,
            Settings {
                grace: Duration::ZERO,
                ..settings()
            },
        );
        assert_eq!(
            feed(
                &mut sup,
                &[
                    exited(MAIN, WaitStatus::Exited(1)),
                    Event::ReapDone {
                        children_left: true
                    }
                ]
            ),
            vec![Action::Signal {
                target: Target::Descendants,
                sig: libc::SIGKILL
            }]
        );
    }

    #[test]
    fn orphans_reaped_while_running_change_nothing() {
        let mut sup = Supervisor::new(MAIN, settings());
        assert_eq!(
            feed(
                &mut sup,
                &[
                    exited(MAIN + 5, WaitStatus::Exited(0)),
                    Event::ReapDone {
                        children_left: true
                    }
                ]
            ),
            vec![]
        );
        assert_eq!(
            feed(&mut sup, &[Event::Signal(1)]),
            vec![Action::Signal {
                target: Target::Process(MAIN),
                sig: 1
            }]
        );
    }
}
