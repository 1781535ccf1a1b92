//! A run's course through the core: a process of it ends (the main
//! command's, a service's, one of a guessed set), its spawn is reported,
//! a deadline passes (restart, readiness, SIGKILL). Each is a `match` on
//! the service's [`Life`]: a state that cannot receive the event says so
//! there.

use std::time::Instant;

use log::{debug, error, info, warn};

use super::{
    Action, Main, Phase, StartError, Supervisor, Target, kill_service, signal_service,
    stop_what_is_left,
};
use crate::service::{
    Ending, ExitReason, Launched, Life, Outcome, PidSource, Stop, StopCause, Want, Watched,
};
use crate::status::WaitStatus;
use crate::sys::Pid;
use crate::unit::{KillMode, Kind};

impl Supervisor {
    /// The OOM killer killed a process of `name`: a run in progress ends
    /// as a failure for it (`last_exit_reason: oom`), its restart policy
    /// deciding as for any failure; a run already over keeps its end.
    pub(super) fn on_oom_killed(&mut self, name: &str) {
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        if s.is_idle() {
            debug!("{name}: an OOM kill in its cgroup after its run ended");
            return;
        }
        warn!("{name}: a process of it was killed by the OOM killer");
        s.oom_killed = true;
    }

    pub(super) fn on_exit(
        &mut self,
        pid: Pid,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if self.main == Main::Running(pid) {
            let code = self.settings.expected.map(status.shell_code());
            self.main = Main::Done;
            // What ended the run first decides its status: a critical
            // service that ended it keeps its own.
            match self.exit_code {
                Some(first) => info!("main process {pid} {status} (foster exits {first})"),
                None if self.phase == Phase::Up && self.services_mode => {
                    info!("main process {pid} {status}: shutting down, foster exits {code}");
                    self.exit_code = Some(code);
                }
                None => {
                    info!("main process {pid} {status}");
                    self.exit_code = Some(code);
                }
            }
            self.deadline = None;
            self.begin_shutdown(None, now, actions);
            return;
        }
        // The old run of an overlapped restart, or the new run failing
        // before it is ready (the old one then serves on).
        if let Some(name) = self
            .services
            .values()
            .find(|s| s.outgoing.as_ref().is_some_and(|o| o.watched.has(pid)))
            .map(|s| s.name().to_string())
        {
            self.outgoing_exited(&name, pid, status);
            return;
        }
        if let Some(name) = self
            .services
            .values()
            .find(|s| {
                s.outgoing.is_some() && matches!(s.life, Life::Starting { main, .. } if main == pid)
            })
            .map(|s| s.name().to_string())
        {
            self.overlap_failed(&name, Some((pid, status)), actions);
            return;
        }
        let Some(service) = self.services.values_mut().find(|s| s.has(pid)) else {
            if self.settings.warn_on_reap {
                warn!("reaped orphan {pid}, which {status}");
            } else {
                debug!("reaped {pid}, which {status}");
            }
            return;
        };
        let name = service.name().to_string();
        let id = service.id;
        let kind = service.unit.kind;
        // A guessed set, or what a stop waits for, lasts while any of its
        // processes lives; a daemon named by its pidfile is the one that
        // counts (its monitor, watched beside it, is not its successor).
        let named = matches!(&service.life, Life::Running { origin, .. }
            if origin.source == PidSource::Pidfile);
        if let Life::Running { watched, .. }
        | Life::Stopping(Stop {
            left: Some(watched),
            ..
        }) = &mut service.life
        {
            if watched.main != pid {
                watched.others.retain(|&p| p != pid);
                info!(
                    "{name}: process {pid} {status}; {} left",
                    watched.others.len() + 1
                );
                return;
            }
            if !watched.others.is_empty() && !named {
                let next = watched.others.remove(0);
                info!(
                    "{name}: process {pid} {status}; following {next} ({} left)",
                    watched.others.len() + 1
                );
                watched.main = next;
                return;
            }
        }
        // A forking launcher that exited well has started the run; any
        // other end of the main process ends it.
        let launched = kind == Kind::Forking
            && status == WaitStatus::Exited(0)
            && matches!(service.life, Life::Starting { .. });
        let clears =
            service.unit.kill_mode == KillMode::All && self.phase == Phase::Up && !launched;
        match &mut service.life {
            Life::Stopping(stop)
                if (stop.origin.is_followed()
                    || matches!(stop.cause, StopCause::Ended | StopCause::Failure))
                    && stop.origin.session.is_some() =>
            {
                // The daemon is gone; its workers may not be. The stop ends
                // when the processes left in its session (adopted by foster
                // now) are, with the daemon's own status.
                stop.left = None;
                stop.gone.get_or_insert((pid, status));
                actions.push(Action::FindAdopted(id));
            }
            // Killed for its watchdog: its end counts (as a failure).
            Life::Stopping(Stop {
                cause: StopCause::Failure,
                ..
            }) => self.stop_finished(&name, status, now, actions),
            Life::Stopping(_) => self.stopped(&name, status),
            _ if self.phase != Phase::Up => self.stopped(&name, status),
            Life::Running {
                since,
                origin,
                watched,
            } if matches!(origin.source, PidSource::Pidfile | PidSource::Guessed) => {
                let (since, origin) = (*since, *origin);
                let others = std::mem::take(&mut watched.others);
                // Before a followed daemon counts as dead, its successor is
                // looked for: a daemon that hands over to a new process
                // (nginx's binary upgrade) names it in its pidfile; the
                // last of a guessed set (the middle of a double fork, say)
                // leaves a child foster has adopted since.
                if origin.source == PidSource::Pidfile {
                    info!("{name}: main process {pid} {status}; reading its pidfile again");
                    actions.push(Action::ReadPidfile(id));
                } else {
                    info!("{name}: process {pid} {status}; looking for what it left");
                    actions.push(Action::FindAdopted(id));
                }
                service.life = Life::Succession {
                    since,
                    origin,
                    dead: pid,
                    status,
                    others,
                };
            }
            // One of what lives on while a successor is awaited: when the
            // last is gone, foster looks once more at what it adopted (the
            // one that exited may have forked the successor).
            Life::AwaitingSuccessor { left, .. } => {
                left.retain(|&p| p != pid);
                if left.is_empty() {
                    info!("{name}: process {pid} {status}; looking for what is left");
                    actions.push(Action::FindAdopted(id));
                } else {
                    debug!("{name}: process {pid} {status}; {} left", left.len());
                }
            }
            // The main process ended by itself (a forking launcher that
            // failed included): what it left is stopped first, and its
            // end counts once that is gone (`stop_finished`).
            Life::Starting { .. } | Life::Running { .. } if clears => {
                info!("{name}: {status}; stopping what it left");
                service.begin_clearing(pid, status, now + service.unit.stop_timeout);
                // Its cgroup, and the session clearing now names.
                stop_what_is_left(service, actions);
                actions.push(Action::FindAdopted(id));
            }
            Life::Starting { .. } if kind == Kind::Forking && status != WaitStatus::Exited(0) => {
                // The launcher failed: whatever it started is stopped.
                for sig in [service.unit.stop_signal, libc::SIGCONT] {
                    actions.push(Action::Signal {
                        target: Target::Group(pid),
                        sig,
                    });
                }
                actions.push(Action::KillCgroup(id));
                self.service_ended(&name, status, now, actions);
            }
            Life::Starting { .. } | Life::Running { .. } => {
                self.service_ended(&name, status, now, actions)
            }
            // No process is watched in these: `has` named none.
            Life::Waiting
            | Life::Spawning { .. }
            | Life::AwaitingDaemon { .. }
            | Life::Succession { .. }
            | Life::Backoff { .. }
            | Life::Done { .. } => {}
        }
    }

    /// A followed daemon has died and left no successor: with `kill_mode:
    /// all`, what it left (its cgroup, its session since the launch) is
    /// stopped first and its end counts once that is gone, as for a main
    /// process foster started; with `main`, it counts at once.
    pub(super) fn daemon_ended(
        &mut self,
        name: &str,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let up = self.phase == Phase::Up;
        let Some(s) = self.services.get_mut(name) else {
            return;
        };
        match &s.life {
            Life::Succession { dead, .. } | Life::AwaitingSuccessor { dead, .. }
                if up && s.unit.kill_mode == KillMode::All =>
            {
                info!("{name}: its daemon is gone for good; stopping what it left");
                // What lived on while a successor was awaited is stopped
                // too, and awaited, wherever its session is.
                let left = s.others().to_vec();
                s.begin_clearing(*dead, status, now + s.unit.stop_timeout);
                if let (Some((&first, rest)), Life::Stopping(stop)) =
                    (left.split_first(), &mut s.life)
                {
                    stop.left = Some(Watched {
                        main: first,
                        others: rest.to_vec(),
                    });
                }
                stop_what_is_left(s, actions);
                if left.is_empty() {
                    actions.push(Action::FindAdopted(s.id));
                } else {
                    signal_service(s, s.unit.stop_signal, actions);
                    signal_service(s, libc::SIGCONT, actions);
                }
            }
            _ => self.service_ended(name, status, now, actions),
        }
    }

    /// A stop is complete: one asked for is [`Self::stopped`]; one that
    /// cleared what an ended main process left makes that end count now
    /// (the restart policy decides), unless the service is no longer
    /// wanted up.
    pub(super) fn stop_finished(
        &mut self,
        name: &str,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(service) = self.services.get(name) else {
            return;
        };
        let counts = service.is_clearing()
            || matches!(
                &service.life,
                Life::Stopping(Stop {
                    cause: StopCause::Failure,
                    ..
                })
            );
        // A reload that changed the unit meanwhile restarts it with the
        // new version (`stopped` puts it in place), whatever the end was.
        if counts
            && service.want == Want::Up
            && self.phase == Phase::Up
            && service.pending.is_none()
        {
            debug!("{name}: nothing of its run is left");
            self.service_ended(name, status, now, actions);
        } else {
            self.stopped(name, status);
        }
    }

    /// A service's stop is complete: it is forgotten if its unit was
    /// removed, started again if that is wanted, else it stays down.
    pub(super) fn stopped(&mut self, name: &str, status: WaitStatus) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        info!("{name}: stopped ({status})");
        service.stopped(status);
        match service.want {
            Want::Remove => {
                info!("{name}: removed");
                self.forget(name);
            }
            Want::Up if self.phase == Phase::Up => {
                service.restarts = service.restarts.saturating_add(1);
                service.life = Life::Waiting;
            }
            Want::Up | Want::Down => {}
        }
    }

    /// A service's main process is gone for good: restart it or not.
    pub(super) fn service_ended(
        &mut self,
        name: &str,
        status: WaitStatus,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        let was_ready = service.ready();
        match service.ended(status, now) {
            Outcome::RestartAfter(delay) => {
                warn!("{name}: {status}; restarting in {delay:?}");
            }
            Outcome::AwaitPidfile => {
                info!("{name}: launcher exited well; waiting for its pidfile");
                actions.push(Action::ReadPidfile(service.id));
            }
            Outcome::Done(Ending::Exited) => info!("{name}: exited with status 0 (done)"),
            Outcome::FindAdopted => {
                debug!("{name}: launcher exited well; looking for the processes it left");
                actions.push(Action::FindAdopted(service.id));
            }
            outcome @ (Outcome::Done(_) | Outcome::GaveUp(_)) => {
                match outcome {
                    Outcome::GaveUp(limit) => warn!(
                        "{name}: {status}; gave up after {} restarts in {}",
                        limit.restarts,
                        crate::duration::format(limit.interval)
                    ),
                    Outcome::Done(Ending::Failed) => warn!("{name}: {status}; not restarting"),
                    _ => info!("{name}: {status}"),
                }
                if !was_ready {
                    self.fail_dependents(name);
                }
                self.critical_ended(name, status, now, actions);
            }
        }
    }

    pub(super) fn on_spawned(
        &mut self,
        name: &str,
        result: Result<Launched, StartError>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        match result {
            Ok(launch) => {
                info!("{name}: started as {}", launch.pid);
                service.spawned(launch, now);
            }
            // A cgroup that can be made but not joined (a hierarchy
            // delegated in a way foster cannot use): go on without cgroups,
            // and start the service again. The failed child exits by itself.
            Err(
                failure @ StartError::Child {
                    stage: crate::sys::Stage::Cgroup,
                    ..
                },
            ) if !self.cgroups_dropped => {
                warn!("{name}: {failure}; going on without a cgroup per service");
                self.cgroups_dropped = true;
                actions.push(Action::DropCgroups);
                actions.push(Action::Start(service.id));
            }
            Err(failure) => {
                error!("{name}: cannot start: {failure}");
                service.reason = Some(failure.to_string());
                if !matches!(service.life, Life::Spawning { .. }) {
                    service.life = Life::Spawning { since: now };
                }
                // As if it had exited as a shell says (127 not found, 126
                // cannot run): the restart policy decides.
                let status = WaitStatus::Exited(failure.exit_status());
                self.service_ended(name, status, now, actions);
            }
        }
    }

    pub(super) fn on_tick(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self.progress_at.is_some_and(|due| due <= now) {
            self.report_waits(now);
            self.progress_at = Some(now + super::PROGRESS_EVERY);
        }
        let mut to_start = Vec::new();
        let mut timed_out = Vec::new();
        let mut no_successor = Vec::new();
        let up = self.phase == Phase::Up;
        for s in self.services.values_mut() {
            if s.deadline().is_none_or(|due| due > now) {
                continue;
            }
            match &mut s.life {
                Life::Backoff { .. } if up => {
                    s.restarts = s.restarts.saturating_add(1);
                    s.life = Life::Spawning { since: now };
                    to_start.push(s.id);
                }
                Life::Backoff { .. } => {
                    s.life = Life::Done {
                        ending: Ending::Stopped,
                        ready: false,
                    }
                }
                Life::AwaitingDaemon { .. } => {
                    warn!(
                        "{}: never wrote a valid pidfile within {:?}",
                        s.name(),
                        s.unit.start_timeout
                    );
                    timed_out.push(s.name().to_string());
                }
                Life::AwaitingSuccessor { dead, status, .. } => {
                    warn!(
                        "{}: no successor of {dead} within {:?}",
                        s.unit.name, s.unit.start_timeout
                    );
                    no_successor.push((s.unit.name.clone(), *status));
                }
                Life::Starting { main, deadline, .. } => {
                    *deadline = None;
                    s.verdict = Some(ExitReason::StartTimeout);
                    warn!(
                        "{}: not ready within {:?}; killing it",
                        s.unit.name, s.unit.start_timeout
                    );
                    actions.push(Action::Signal {
                        target: Target::Group(*main),
                        sig: libc::SIGKILL,
                    });
                }
                Life::Stopping(stop) if stop.left.is_none() => stop.deadline = None,
                Life::Stopping(_) => {
                    warn!(
                        "{}: still running {:?} after its stop signal; killing it",
                        s.name(),
                        s.unit.stop_timeout
                    );
                    kill_service(s, actions);
                    s.begin_stop(None, true);
                }
                _ => {}
            }
        }
        self.outgoing_due(now, actions);
        self.watchdogs_due(now, actions);
        self.probes_due(now, actions);
        for id in to_start {
            actions.push(Action::Start(id));
        }
        for (name, status) in no_successor {
            self.daemon_ended(&name, status, now, actions);
        }
        for name in timed_out {
            if let Some(s) = self.services.get_mut(&name) {
                s.reason = Some("never wrote a valid pidfile".into());
                s.verdict = Some(ExitReason::StartTimeout);
                // What the launch left is not to pile up with each retry.
                actions.push(Action::KillCgroup(s.id));
            }
            self.service_ended(&name, WaitStatus::Exited(1), now, actions);
        }
        if let Some(due) = self.deadline
            && due <= now
        {
            self.deadline = None;
            match (self.phase, self.main) {
                (Phase::Stopping, Main::Running(pid)) => {
                    warn!(
                        "main command still running {:?} after the shutdown signal; killing it",
                        self.settings.grace
                    );
                    actions.push(Action::Signal {
                        target: Target::Group(pid),
                        sig: libc::SIGKILL,
                    });
                }
                (Phase::Draining { killed: false }, _) => {
                    info!("grace period over: killing what is left");
                    actions.push(Action::Signal {
                        target: Target::Descendants,
                        sig: libc::SIGKILL,
                    });
                    self.phase = Phase::Draining { killed: true };
                }
                _ => {}
            }
        }
    }
}
