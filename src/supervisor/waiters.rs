//! Clients that wait for services to get where a request sent them
//! (`fosterctl start`, `stop`, `restart`, which send `--wait` unless told
//! `--no-block`): each is answered once every service it named is up
//! (ready; `exited` for a oneshot) or stopped, or has failed to be, and
//! never before. A client that leaves first is forgotten; a shutdown
//! answers those waiting for a start at once.

use std::time::Instant;

use super::{Action, Client, Phase, Supervisor};
use crate::control::Reply;
use crate::service::{Ending, Life, Service, ServiceId, Want};

/// Where a waiting client's services were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Goal {
    /// `start`, `restart`: running and ready, or a oneshot's good exit.
    Up,
    /// `stop`: down.
    Down,
}

/// A client awaiting the outcome of its request.
#[derive(Debug)]
pub(super) struct Waiter {
    client: Client,
    goal: Goal,
    /// The services it named, by the id they had then: a service removed
    /// (and perhaps added again) since is not the one it asked about.
    services: Vec<(String, ServiceId)>,
}

/// One service's standing, for a waiter.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Pending,
    Reached(String),
    Failed(String),
}

impl Supervisor {
    /// `client` waits for `names` (all known: the request checked) to
    /// reach `goal`; answered by [`Self::answer_waiters`], perhaps in this
    /// very turn.
    pub(super) fn await_services(&mut self, client: Client, goal: Goal, names: &[String]) {
        let services = names
            .iter()
            .filter_map(|n| self.services.get(n).map(|s| (n.clone(), s.id)))
            .collect();
        self.waiters.push(Waiter {
            client,
            goal,
            services,
        });
    }

    /// The start of service `id` failed in a way its state does not show
    /// (an overlapped restart whose new run failed: the old run serves,
    /// `running`): who waits for it to be up is told `why`.
    pub(super) fn fail_waiting_starts(
        &mut self,
        id: ServiceId,
        why: &str,
        actions: &mut Vec<Action>,
    ) {
        let (failed, still): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.goal == Goal::Up && w.services.iter().any(|(_, s)| *s == id));
        self.waiters = still;
        for waiter in failed {
            actions.push(Action::Reply {
                client: waiter.client,
                reply: Reply::error(why),
            });
        }
    }

    /// A client left: its wait ends unanswered.
    pub(super) fn forget_client(&mut self, client: Client) {
        self.waiters.retain(|w| w.client != client);
    }

    /// Answers every waiter whose services have all got where they were
    /// sent, or one of which cannot any more.
    pub(super) fn answer_waiters(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self.waiters.is_empty() {
            return;
        }
        let shutting_down = self.phase != Phase::Up;
        let mut still = Vec::new();
        for waiter in std::mem::take(&mut self.waiters) {
            let verdicts: Vec<Verdict> = waiter
                .services
                .iter()
                .map(|(name, id)| {
                    let service = self.services.get(name).filter(|s| s.id == *id);
                    verdict(name, service, waiter.goal, shutting_down, now)
                })
                .collect();
            let failed: Vec<&str> = verdicts
                .iter()
                .filter_map(|v| match v {
                    Verdict::Failed(why) => Some(why.as_str()),
                    _ => None,
                })
                .collect();
            let reply = if !failed.is_empty() {
                Reply::error(failed.join("; "))
            } else if verdicts.iter().all(|v| matches!(v, Verdict::Reached(_))) {
                let mut text = String::new();
                for v in &verdicts {
                    if let Verdict::Reached(line) = v {
                        text.push_str(line);
                        text.push('\n');
                    }
                }
                Reply::ok(text)
            } else {
                still.push(waiter);
                continue;
            };
            actions.push(Action::Reply {
                client: waiter.client,
                reply,
            });
        }
        self.waiters = still;
    }
}

/// Where `service` (the one the waiter named, `None` once it is gone)
/// stands against `goal`.
fn verdict(
    name: &str,
    service: Option<&Service>,
    goal: Goal,
    shutting_down: bool,
    now: Instant,
) -> Verdict {
    let Some(s) = service else {
        return match goal {
            Goal::Up => Verdict::Failed(format!("{name} was removed")),
            Goal::Down => Verdict::Reached(format!("{name} stopped (removed)")),
        };
    };
    let last = || {
        s.last_exit
            .map(|e| e.to_string())
            .unwrap_or_else(|| "never ran".into())
    };
    match goal {
        // An overlapped restart: up once the new run is ready.
        Goal::Up
            if s.outgoing
                .as_ref()
                .is_some_and(|o| o.state == crate::service::OutgoingState::Serving)
                && !shutting_down =>
        {
            Verdict::Pending
        }
        Goal::Up => match &s.life {
            Life::Running { .. } | Life::Succession { .. } | Life::AwaitingSuccessor { .. } => {
                Verdict::Reached(match s.main_pid() {
                    Some(pid) => format!("{name} is running (PID {pid})"),
                    None => format!("{name} is running"),
                })
            }
            Life::Done {
                ending: Ending::Exited,
                ..
            } => Verdict::Reached(format!("{name} ran and exited with status 0")),
            Life::Done {
                ending: Ending::Failed,
                ..
            } => Verdict::Failed(match &s.reason {
                Some(reason) => format!("{name} failed: {reason}"),
                None => format!("{name} failed: {}", last()),
            }),
            Life::Done {
                ending: Ending::Stopped,
                ..
            } if s.want == Want::Up && !shutting_down => {
                Verdict::Failed(format!("{name} {}; not restarting", last()))
            }
            Life::Done {
                ending: Ending::Stopped,
                ..
            } => Verdict::Failed(format!("{name} was stopped")),
            Life::Backoff { until } => Verdict::Failed(format!(
                "{name} failed to start: {}; restarting in {:?}",
                match &s.reason {
                    Some(reason) => reason.clone(),
                    None => last(),
                },
                until.saturating_duration_since(now)
            )),
            _ if shutting_down => Verdict::Failed(format!("{name}: foster is shutting down")),
            Life::Stopping(_) if s.want != Want::Up => {
                Verdict::Failed(format!("{name} is being stopped"))
            }
            Life::Waiting
            | Life::Spawning { .. }
            | Life::Starting { .. }
            | Life::AwaitingDaemon { .. }
            | Life::Stopping(_) => Verdict::Pending,
        },
        Goal::Down => match &s.life {
            Life::Stopping(_) => Verdict::Pending,
            _ if s.want == Want::Up && !shutting_down => {
                Verdict::Failed(format!("{name} was started again"))
            }
            _ if s.is_down() => Verdict::Reached(match s.last_exit {
                Some(status) => format!("{name} stopped ({status})"),
                None => format!("{name} stopped"),
            }),
            // Up, and not wanted: a stop is on its way (a followed
            // daemon's successor being looked for).
            _ => Verdict::Pending,
        },
    }
}
