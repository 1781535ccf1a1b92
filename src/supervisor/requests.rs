//! The core's answers to control requests (`fosterctl`): status, start,
//! stop, restart, reload of services or of the whole directory, kill,
//! shutdown and power verbs.

use std::time::{Instant, SystemTime};

use log::{error, info, warn};

use super::status::{Row, status_json, status_table};
use super::waiters::Goal;
use super::{
    Action, Client, Errno, Phase, Supervisor, Target, abandon_launch, send_stop_sequence,
    service_targets,
};
use crate::control::{Outcome as ReplyOutcome, Reply, Request, Wait};
use crate::service::{Ending, Life, Service, Want};
use crate::signal;
use crate::unit::{DirUnreadable, Loaded};

impl Supervisor {
    /// Answers a control request at once (a reply action), or later: a
    /// reload once the directory is read, a kill once the signal is sent.
    /// State changes show up as actions.
    pub(super) fn on_request(
        &mut self,
        client: Client,
        request: Request,
        now: Instant,
        wall: SystemTime,
        actions: &mut Vec<Action>,
    ) {
        if let Some(reply) = self.answer(client, request, now, wall, actions) {
            actions.push(Action::Reply { client, reply });
        }
    }

    /// The end of a `fosterctl kill`: whether the kernel took the signal.
    pub(super) fn on_delivered(
        &self,
        client: Client,
        name: &str,
        sig: i32,
        refused: Option<Errno>,
        actions: &mut Vec<Action>,
    ) {
        let reply = match refused {
            Some(e) => Reply::error(format!(
                "{name}: {} was not delivered: {e}",
                signal::name(sig)
            )),
            None => Reply::ok(""),
        };
        actions.push(Action::Reply { client, reply });
    }

    /// The services directory was read for a reload: apply it, and reply
    /// to the client who asked, or log the summary (SIGHUP). A directory
    /// that could not be read at all changes nothing: every service keeps
    /// running as it is, and the reply is the error.
    pub fn units_loaded(
        &mut self,
        client: Option<Client>,
        loaded: Result<Loaded, DirUnreadable>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let reply = match loaded {
            Ok(loaded) => self.reload(loaded, now, actions),
            Err(unreadable) => {
                error!("reload: {unreadable}; nothing changed");
                Reply::error(format!("{unreadable}; nothing changed"))
            }
        };
        match client {
            Some(client) => actions.push(Action::Reply { client, reply }),
            None if reply.outcome == ReplyOutcome::Error => {}
            None => {
                for line in reply.text.lines() {
                    info!("reload: {line}");
                }
            }
        }
        self.after(now, false, actions);
        self.answer_waiters(now, actions);
        self.note_states(now);
    }

    fn answer(
        &mut self,
        client: Client,
        request: Request,
        now: Instant,
        wall: SystemTime,
        actions: &mut Vec<Action>,
    ) -> Option<Reply> {
        let names = match &request {
            Request::Status { names, .. }
            | Request::Start(names, _)
            | Request::Stop(names, _)
            | Request::Restart(names, _)
            | Request::Reload(names)
            | Request::Logs { names, .. } => names.clone(),
            Request::Kill { name, .. } => vec![name.clone()],
            Request::Shutdown | Request::Power(_) => vec![],
        };
        let status = matches!(request, Request::Status { .. });
        if let Some(unknown) = names.iter().find(|n| !self.services.contains_key(*n)) {
            match self.invalid.get(unknown) {
                // Shown by status; anything else cannot act on it.
                Some(_) if status => {}
                Some(invalid) => {
                    let first = invalid.problems.first().map(String::as_str).unwrap_or("");
                    return Some(Reply::error(format!(
                        "{unknown}: its unit file is invalid: {first}"
                    )));
                }
                None => {
                    return Some(Reply::error(format!(
                        "unknown service \"{}\"",
                        unknown.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        let changing = !matches!(request, Request::Status { .. } | Request::Logs { .. });
        if changing && self.phase != Phase::Up {
            return Some(Reply::error("foster is shutting down"));
        }
        let reply = match request {
            Request::Status { names, json } => {
                let row = |name: &str| match self.services.get(name) {
                    Some(s) => Some(Row::Service(s, self.invalid.get(name))),
                    None => self
                        .invalid
                        .get_key_value(name)
                        .map(|(name, i)| Row::Invalid(name, i)),
                };
                let list: Vec<Row<'_>> = if names.is_empty() {
                    let all: std::collections::BTreeSet<&str> = self
                        .services
                        .keys()
                        .chain(self.invalid.keys())
                        .map(String::as_str)
                        .collect();
                    all.into_iter().filter_map(row).collect()
                } else {
                    names.iter().filter_map(|n| row(n)).collect()
                };
                let text = if json {
                    status_json(&list, now, wall)
                } else {
                    status_table(&list, now)
                };
                // Without names, every service that runs is to be
                // healthy: `fosterctl status` as a container's HEALTHCHECK.
                let all_up = if names.is_empty() {
                    !self.services.values().any(Service::is_unhealthy)
                } else {
                    list.iter().all(|s| s.is_up())
                };
                Reply {
                    outcome: if all_up {
                        ReplyOutcome::Ok
                    } else {
                        ReplyOutcome::Down
                    },
                    text,
                }
            }
            Request::Start(names, wait) => {
                for name in &names {
                    if let Some(s) = self.services.get_mut(name) {
                        want_up(s);
                        // A stop in progress is followed by the start.
                        if s.is_idle() {
                            info!("{name}: start requested");
                            s.life = Life::Waiting;
                            s.failures = 0;
                            s.recent_restarts.clear();
                        }
                    }
                }
                self.start_ready(now, actions);
                if wait == Wait::Yes {
                    self.await_services(client, Goal::Up, &names);
                    return None;
                }
                Reply::ok("")
            }
            Request::Stop(names, wait) => {
                for name in &names {
                    self.stop_service(name, now, actions);
                }
                if wait == Wait::Yes {
                    self.await_services(client, Goal::Down, &names);
                    return None;
                }
                Reply::ok("")
            }
            Request::Restart(names, wait) => {
                for name in &names {
                    // restart_mode: overlap starts the new run beside.
                    if self.begin_overlap(name, None, now, actions) {
                        continue;
                    }
                    // Whatever runs is stopped first (a launch that awaits
                    // its daemon is dropped: nothing to wait for).
                    self.stop_service(name, now, actions);
                    if let Some(s) = self.services.get_mut(name) {
                        want_up(s);
                        if s.is_idle() {
                            s.life = Life::Waiting;
                        }
                    }
                }
                self.start_ready(now, actions);
                if wait == Wait::Yes {
                    self.await_services(client, Goal::Up, &names);
                    return None;
                }
                Reply::ok("")
            }
            Request::Reload(names) if names.is_empty() && self.services_mode => {
                actions.push(Action::LoadUnits {
                    client: Some(client),
                });
                return None;
            }
            Request::Reload(names) if names.is_empty() => Reply::error(
                "foster runs no services directory to re-read; name the services to signal",
            ),
            Request::Reload(names) => {
                for name in &names {
                    if let Some(s) = self.services.get(name)
                        && let Some(pid) = s.main_pid()
                    {
                        info!(
                            "{name}: reloading with {}",
                            signal::name(s.unit.reload_signal)
                        );
                        actions.push(Action::Signal {
                            target: Target::Process(pid),
                            sig: s.unit.reload_signal,
                        });
                    }
                }
                Reply::ok("")
            }
            Request::Kill { name, signal: sig } => {
                match self.services.get(&name).filter(|s| s.main_pid().is_some()) {
                    Some(s) => {
                        info!("{name}: sending {} on request", signal::name(sig));
                        let targets = service_targets(s);
                        actions.push(Action::Deliver {
                            client,
                            service: s.id,
                            sig,
                            targets,
                        });
                        return None;
                    }
                    None => Reply::error(format!("{name} is not running")),
                }
            }
            Request::Logs {
                names,
                lines,
                follow,
            } => {
                // What foster does not read, it cannot show.
                let notes = names
                    .iter()
                    .filter_map(|n| self.services.get(n))
                    .filter(|s| !s.unit.log.is_relayed())
                    .map(|s| {
                        let mode = match s.unit.log {
                            crate::unit::LogMode::None => "none",
                            _ => "inherit",
                        };
                        format!("{}: not captured (log: {mode})", s.name())
                    })
                    .collect();
                actions.push(Action::SendLogs {
                    client,
                    sources: names,
                    notes,
                    lines,
                    follow,
                });
                return None;
            }
            Request::Shutdown => {
                info!("shutdown requested");
                self.begin_shutdown(None, now, actions);
                Reply::ok("")
            }
            Request::Power(power) => {
                if self.settings.system {
                    info!("{} requested: shutting down", power.verb());
                    self.power = power;
                } else {
                    info!(
                        "{} requested: foster is not a machine's init, so it only shuts down",
                        power.verb()
                    );
                }
                self.begin_shutdown(None, now, actions);
                Reply::ok("")
            }
        };
        Some(reply)
    }

    /// Applies a re-read services directory: added units start, removed
    /// ones stop (and are forgotten), changed ones restart with their new
    /// version, unchanged ones are not touched. A unit whose file became
    /// invalid keeps running as it was.
    pub fn reload(&mut self, loaded: Loaded, now: Instant, actions: &mut Vec<Action>) -> Reply {
        if self.phase != Phase::Up {
            return Reply::error("foster is shutting down");
        }
        let mut added = Vec::new();
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let listed: std::collections::BTreeSet<String> = loaded.units.keys().cloned().collect();
        self.note_invalid(super::status::invalid_units(&loaded), now);
        for (name, unit) in loaded.units {
            match self.services.get_mut(&name) {
                None => {
                    info!("{name}: added");
                    self.add(unit);
                    added.push(name);
                }
                Some(s) if s.unit == unit && s.pending.is_none() && s.want != Want::Remove => {}
                Some(s) => {
                    info!("{name}: changed; restarting it");
                    if s.want == Want::Remove {
                        s.want = Want::Up;
                    }
                    if s.pending.is_none()
                        && self.begin_overlap(&name, Some(unit.clone()), now, actions)
                    {
                        changed.push(name);
                        continue;
                    }
                    let Some(s) = self.services.get_mut(&name) else {
                        continue;
                    };
                    if s.main_pid().is_some() || matches!(s.life, Life::Stopping(_)) {
                        // The new version starts once this run is down
                        // (unless it was stopped on request).
                        s.pending = Some(unit);
                        let want = s.want;
                        self.stop_service(&name, now, actions);
                        if let Some(s) = self.services.get_mut(&name) {
                            s.want = want;
                        }
                    } else {
                        abandon_launch(s, actions);
                        s.unit = unit;
                        s.pending = None;
                        if s.want == Want::Up
                            && !matches!(
                                s.life,
                                Life::Succession { .. } | Life::AwaitingSuccessor { .. }
                            )
                        {
                            s.life = Life::Waiting;
                            s.failures = 0;
                        }
                    }
                    changed.push(name);
                }
            }
        }
        let gone: Vec<String> = self
            .services
            .iter()
            .filter(|(n, s)| !listed.contains(*n) && s.want != Want::Remove)
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            if loaded.invalid.contains(&name) {
                warn!("{name}: its unit is now invalid; keeping the running version");
                kept.push(name);
                continue;
            }
            if self.services.get(&name).is_some_and(Service::is_down) {
                info!("{name}: removed");
                if let Some(s) = self.forget(&name) {
                    abandon_launch(&s, actions);
                }
            } else {
                self.stop_service(&name, now, actions);
                if let Some(s) = self.services.get_mut(&name) {
                    s.want = Want::Remove;
                }
            }
            removed.push(name);
        }
        self.start_ready(now, actions);
        let mut text = String::new();
        for problem in &loaded.problems {
            text.push_str(&format!("{problem}\n"));
        }
        let list = |names: &[String]| {
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join(" ")
            }
        };
        text.push_str(&format!(
            "added: {}\nchanged: {}\nremoved: {}\nkept (invalid): {}\n",
            list(&added),
            list(&changed),
            list(&removed),
            list(&kept)
        ));
        Reply::ok(text)
    }

    /// Stops one service on request: stop signal, SIGCONT, SIGKILL after
    /// its `stop_timeout`; not restarted when it ends.
    pub(super) fn stop_service(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if s.want == Want::Up {
            s.want = Want::Down;
        }
        match &s.life {
            Life::Starting { .. } | Life::Running { .. } | Life::AwaitingSuccessor { .. } => {
                info!(
                    "{name}: stopping with {} on request",
                    signal::name(s.unit.stop_signal)
                );
                send_stop_sequence(s, now, actions);
            }
            Life::Waiting
            | Life::Spawning { .. }
            | Life::AwaitingDaemon { .. }
            | Life::Backoff { .. } => {
                abandon_launch(s, actions);
                s.life = Life::Done {
                    ending: Ending::Stopped,
                    ready: false,
                };
            }
            // Already on its way down, or down.
            Life::Succession { .. } | Life::Stopping(_) | Life::Done { .. } => {}
        }
    }
}

/// Start requested: wanted up again, unless its unit is being removed.
fn want_up(s: &mut Service) {
    if s.want == Want::Down {
        s.want = Want::Up;
    }
}
