use super::*;
use crate::control::Outcome as ReplyOutcome;
use crate::notify::Message;
use crate::pidfile::{Candidate, CgroupMembership, Ties};
use crate::service::{Life, PidSource, ServiceId};
use crate::status::WaitStatus;
use crate::unit::Kind;
use crate::unit::Restart;

const MAIN: i32 = 100;

/// The process numbered `n`.
fn pid(n: i32) -> Pid {
    Pid::new(n).expect("a positive PID")
}

fn settings() -> Settings {
    Settings {
        forward_to_group: false,
        expected: ExpectedStatuses::default(),
        grace: Duration::from_secs(5),
        warn_on_reap: false,
        system: false,
        identity: Identity {
            pid: Pid::INIT,
            session: Pid::new(5),
        },
    }
}

fn unit(name: &str, kind: Kind, deps: &[&str]) -> Unit {
    let restart = if kind == Kind::Oneshot {
        Restart::Never
    } else {
        Restart::OnFailure
    };
    let mut u = crate::service::tests::unit(name, kind, restart);
    u.depends_on = deps.iter().map(|d| d.to_string()).collect();
    u.restart_delay_max = Duration::from_secs(30);
    u
}

/// A supervisor with a test clock.
struct Harness {
    sup: Supervisor,
    now: Instant,
    /// Show the clearing of what an ended main process left (kill_mode:
    /// all) as it is; otherwise it is answered here as finding nothing
    /// left, and its actions are not returned (most tests are about
    /// something else).
    raw: bool,
}

impl Harness {
    fn one_command(settings: Settings) -> Harness {
        let mut h = Harness {
            sup: Supervisor::new(settings, vec![], true, false),
            now: Instant::now(),
            raw: false,
        };
        assert_eq!(h.boot(), vec![Action::StartMain]);
        assert_eq!(h.feed(&[Event::MainSpawned(Ok(pid(MAIN)))]), vec![]);
        h
    }

    fn services(units: Vec<Unit>, main: bool) -> Harness {
        Harness {
            sup: Supervisor::new(settings(), units, main, true),
            now: Instant::now(),
            raw: false,
        }
    }

    fn boot(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        self.sup.boot(self.now, &mut actions);
        actions
    }

    fn feed(&mut self, events: &[Event]) -> Vec<Action> {
        let mut actions = Vec::new();
        for e in events {
            self.sup.handle(e.clone(), self.now, &mut actions);
            if !self.raw {
                self.clear_nothing_left(&mut actions);
            }
        }
        actions
    }

    /// Answers the search for what an ended main process left with
    /// nothing found, and drops the clearing's signals.
    fn clear_nothing_left(&mut self, actions: &mut Vec<Action>) {
        loop {
            let clearing = actions.iter().position(|a| {
                matches!(a, Action::FindAdopted(id)
                    if self.sup.name_of(*id).is_some_and(|n| self.sup.services[&n].is_clearing()))
            });
            let Some(at) = clearing else { return };
            let Action::FindAdopted(id) = actions.remove(at) else {
                return;
            };
            actions.retain(|a| {
                !matches!(a, Action::SignalCgroup { service, .. } if *service == id)
                    && !matches!(
                        a,
                        Action::Signal {
                            target: Target::Session { .. },
                            ..
                        }
                    )
            });
            let mut more = Vec::new();
            self.sup.handle(
                Event::Adopted {
                    service: id,
                    found: vec![],
                    context: Some(context()),
                    members: None,
                },
                self.now,
                &mut more,
            );
            actions.extend(more);
        }
    }

    /// Moves the clock to the next deadline and fires the timer.
    fn tick(&mut self) -> Vec<Action> {
        self.now = self.sup.next_deadline().expect("a deadline is armed");
        self.feed(&[Event::Tick])
    }

    fn spawned(&mut self, name: &str, n: i32) -> Vec<Action> {
        self.feed(&[Event::ServiceSpawned {
            service: self.id(name),
            result: Ok(crate::service::Launched {
                pid: pid(n),
                ticks: Some(100),
                cgroup: false,
                limits_enforced: None,
            }),
        }])
    }

    /// The id of the service `name`, which must exist.
    fn id(&self, name: &str) -> ServiceId {
        self.sup.id(name).expect("a service of that name")
    }

    fn state(&self, name: &str) -> &'static str {
        self.sup
            .services
            .get(name)
            .map(|s| s.state_name())
            .unwrap_or("absent")
    }
}

fn exited(n: i32, code: u8) -> Event {
    Event::Exited {
        pid: pid(n),
        status: WaitStatus::Exited(code),
    }
}

fn killed(n: i32, sig: i32) -> Event {
    Event::Exited {
        pid: pid(n),
        status: WaitStatus::Signaled { sig, core: false },
    }
}

fn done(children_left: bool) -> Event {
    Event::ReapDone { children_left }
}

fn signal(target: Target, sig: i32) -> Action {
    Action::Signal { target, sig }
}

// ---- one-command mode ----------------------------------------------------

#[test]
fn forwards_every_signal_to_the_child_or_its_group() {
    let mut h = Harness::one_command(settings());
    assert_eq!(
        h.feed(&[Event::Signal(15), Event::Signal(40), Event::Signal(1)]),
        vec![
            signal(Target::Process(pid(MAIN)), 15),
            signal(Target::Process(pid(MAIN)), 40),
            signal(Target::Process(pid(MAIN)), 1)
        ]
    );
    let mut h = Harness::one_command(Settings {
        forward_to_group: true,
        ..settings()
    });
    assert_eq!(
        h.feed(&[Event::Signal(10)]),
        vec![signal(Target::Group(pid(MAIN)), 10)]
    );
}

#[test]
fn exits_at_once_with_the_child_status_when_nothing_is_left() {
    let mut h = Harness::one_command(settings());
    assert_eq!(
        h.feed(&[exited(MAIN, 7), done(false)]),
        vec![Action::Exit(7)]
    );
}

#[test]
fn death_by_signal_is_128_plus_n_and_expected_statuses_map_to_zero() {
    let mut h = Harness::one_command(settings());
    assert_eq!(
        h.feed(&[killed(MAIN, 15), done(false)]),
        vec![Action::Exit(143)]
    );
    let mut expected = ExpectedStatuses::default();
    expected.insert(143);
    let mut h = Harness::one_command(Settings {
        expected,
        ..settings()
    });
    assert_eq!(
        h.feed(&[killed(MAIN, 15), done(false)]),
        vec![Action::Exit(0)]
    );
}

#[test]
fn coalesced_exits_in_one_pass_still_end_foster() {
    // catatonit#4: the main child's exit arrived merged with another's.
    let mut h = Harness::one_command(settings());
    assert_eq!(
        h.feed(&[killed(MAIN + 1, 9), exited(MAIN, 0), done(false)]),
        vec![Action::Exit(0)]
    );
}

#[test]
fn leftovers_get_term_then_kill_after_the_grace() {
    let mut h = Harness::one_command(settings());
    assert_eq!(
        h.feed(&[exited(MAIN, 3), done(true)]),
        vec![
            signal(Target::Descendants, libc::SIGTERM),
            signal(Target::Descendants, libc::SIGCONT)
        ]
    );
    assert_eq!(h.sup.next_deadline(), Some(h.now + Duration::from_secs(5)));
    // Some go, some stay: nothing new until the deadline.
    assert_eq!(h.feed(&[exited(MAIN + 1, 0), done(true)]), vec![]);
    assert_eq!(h.tick(), vec![signal(Target::Descendants, libc::SIGKILL)]);
    // A pass that leaves some behind re-sends SIGKILL (forks during the kill).
    assert_eq!(
        h.feed(&[done(true)]),
        vec![signal(Target::Descendants, libc::SIGKILL)]
    );
    assert_eq!(
        h.feed(&[killed(MAIN + 2, 9), done(false)]),
        vec![Action::Exit(3)]
    );
}

#[test]
fn returns_as_soon_as_the_last_leftover_is_gone() {
    let mut h = Harness::one_command(settings());
    h.feed(&[exited(MAIN, 0), done(true)]);
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(0)]);
}

#[test]
fn second_term_during_grace_escalates_to_kill() {
    let mut h = Harness::one_command(settings());
    h.feed(&[exited(MAIN, 0), done(true)]);
    assert_eq!(
        h.feed(&[
            Event::Signal(libc::SIGUSR1),
            Event::Signal(libc::SIGTERM),
            Event::Signal(libc::SIGINT)
        ]),
        vec![signal(Target::Descendants, libc::SIGKILL)]
    );
    assert_eq!(h.sup.next_deadline(), None);
}

#[test]
fn zero_grace_kills_at_once() {
    let mut h = Harness::one_command(Settings {
        grace: Duration::ZERO,
        ..settings()
    });
    assert_eq!(
        h.feed(&[exited(MAIN, 1), done(true)]),
        vec![signal(Target::Descendants, libc::SIGKILL)]
    );
}

#[test]
fn orphans_reaped_while_running_change_nothing() {
    let mut h = Harness::one_command(settings());
    assert_eq!(h.feed(&[exited(MAIN + 5, 0), done(true)]), vec![]);
    assert_eq!(
        h.feed(&[Event::Signal(1)]),
        vec![signal(Target::Process(pid(MAIN)), 1)]
    );
}

#[test]
fn main_that_cannot_be_spawned_exits_1() {
    let mut h = Harness {
        sup: Supervisor::new(settings(), vec![], true, false),
        now: Instant::now(),
        raw: false,
    };
    h.boot();
    assert_eq!(
        h.feed(&[Event::MainSpawned(Err(StartError::Fork(Errno(
            libc::EAGAIN
        ))))]),
        vec![Action::Reap]
    );
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(1)]);
}

// ---- services --------------------------------------------------------------

#[test]
fn services_start_in_dependency_order_and_the_main_command_last() {
    let mut h = Harness::services(
        vec![
            unit("setup", Kind::Oneshot, &[]),
            unit("db", Kind::Simple, &["setup"]),
            unit("web", Kind::Notify, &["db"]),
        ],
        true,
    );
    assert_eq!(h.boot(), vec![Action::Start(h.id("setup"))]);
    assert_eq!(h.spawned("setup", 10), vec![]);
    assert_eq!(h.state("db"), "starting");
    assert_eq!(
        h.feed(&[exited(10, 0), done(true)]),
        vec![Action::Start(h.id("db"))]
    );
    assert_eq!(h.state("setup"), "exited");
    assert_eq!(h.spawned("db", 11), vec![Action::Start(h.id("web"))]);
    // web is notify: the main command waits until it is ready or gives up.
    assert_eq!(h.spawned("web", 12), vec![]);
    assert_eq!(h.state("web"), "starting");
    // It never says READY=1: killed at start_timeout, and its exit is a failure.
    assert_eq!(
        h.tick(),
        vec![signal(Target::Group(pid(12)), libc::SIGKILL)]
    );
    let actions = h.feed(&[killed(12, 9), done(true)]);
    assert_eq!(h.state("web"), "backoff");
    assert_eq!(actions, vec![Action::StartMain]);
}

#[test]
fn a_failed_dependency_fails_its_dependents() {
    let mut h = Harness::services(
        vec![
            unit("setup", Kind::Oneshot, &[]),
            unit("app", Kind::Simple, &["setup"]),
            unit("proxy", Kind::Simple, &["app"]),
        ],
        false,
    );
    h.boot();
    h.spawned("setup", 10);
    assert_eq!(h.feed(&[exited(10, 3), done(false)]), vec![]);
    assert_eq!(
        (h.state("setup"), h.state("app"), h.state("proxy")),
        ("failed", "failed", "failed")
    );
}

#[test]
fn a_dependency_that_is_not_a_valid_service_fails_the_dependent() {
    let mut h = Harness::services(vec![unit("app", Kind::Simple, &["broken"])], true);
    assert_eq!(h.boot(), vec![Action::StartMain]);
    assert_eq!(h.state("app"), "failed");
}

#[test]
fn crash_loop_backs_off_and_restarts_on_the_deadline() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    let mut pid = 20;
    let mut delays = Vec::new();
    h.spawned("a", pid);
    for _ in 0..4 {
        let before = h.now;
        assert_eq!(h.feed(&[exited(pid, 1), done(true)]), vec![]);
        assert_eq!(h.state("a"), "backoff");
        assert_eq!(h.tick(), vec![Action::Start(h.id("a"))]);
        delays.push((h.now - before).as_secs());
        pid += 1;
        h.spawned("a", pid);
    }
    assert_eq!(delays, [1, 2, 4, 8]);
    assert_eq!(h.sup.services["a"].restarts, 4);
}

#[test]
fn sigterm_stops_services_in_reverse_dependency_order_then_exits_0() {
    let mut h = Harness::services(
        vec![
            unit("db", Kind::Simple, &[]),
            unit("web", Kind::Simple, &["db"]),
        ],
        false,
    );
    h.boot();
    h.spawned("db", 30);
    h.spawned("web", 31);
    // web depends on db: web stops first, db only once web is gone.
    assert_eq!(
        h.feed(&[Event::Signal(libc::SIGTERM)]),
        vec![
            signal(Target::Group(pid(31)), libc::SIGTERM),
            signal(Target::Group(pid(31)), libc::SIGCONT)
        ]
    );
    assert_eq!(h.state("web"), "stopping");
    assert_eq!(
        h.feed(&[killed(31, 15)]),
        vec![
            signal(Target::Group(pid(30)), libc::SIGTERM),
            signal(Target::Group(pid(30)), libc::SIGCONT)
        ]
    );
    assert_eq!(h.feed(&[done(true)]), vec![]);
    assert_eq!(h.feed(&[exited(30, 0), done(false)]), vec![Action::Exit(0)]);
}

#[test]
fn a_service_ignoring_its_stop_signal_is_killed_after_stop_timeout() {
    let mut h = Harness::services(vec![unit("stubborn", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("stubborn", 40);
    h.feed(&[Event::Signal(libc::SIGTERM)]);
    assert_eq!(h.sup.next_deadline(), Some(h.now + Duration::from_secs(5)));
    assert_eq!(
        h.tick(),
        vec![
            signal(Target::Group(pid(40)), libc::SIGKILL),
            Action::KillCgroup(h.id("stubborn"))
        ]
    );
    assert_eq!(h.feed(&[killed(40, 9), done(false)]), vec![Action::Exit(0)]);
}

#[test]
fn the_main_command_exiting_stops_everything_and_gives_its_status() {
    let mut h = Harness::services(vec![unit("db", Kind::Simple, &[])], true);
    assert_eq!(h.boot(), vec![Action::Start(h.id("db"))]);
    assert_eq!(h.spawned("db", 50), vec![Action::StartMain]);
    h.feed(&[Event::MainSpawned(Ok(pid(MAIN)))]);
    // Non-shutdown signals go to the main command.
    assert_eq!(
        h.feed(&[Event::Signal(libc::SIGUSR1)]),
        vec![signal(Target::Process(pid(MAIN)), libc::SIGUSR1)]
    );
    assert_eq!(
        h.feed(&[exited(MAIN, 3)]),
        vec![
            signal(Target::Group(pid(50)), libc::SIGTERM),
            signal(Target::Group(pid(50)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[done(true), exited(50, 0), done(false)]),
        vec![Action::Exit(3)]
    );
}

#[test]
fn sigterm_stops_the_main_command_first() {
    let mut h = Harness::services(vec![unit("db", Kind::Simple, &[])], true);
    h.boot();
    h.spawned("db", 50);
    h.feed(&[Event::MainSpawned(Ok(pid(MAIN)))]);
    assert_eq!(
        h.feed(&[Event::Signal(libc::SIGTERM)]),
        vec![
            signal(Target::Process(pid(MAIN)), libc::SIGTERM),
            signal(Target::Process(pid(MAIN)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[killed(MAIN, 15)]),
        vec![
            signal(Target::Group(pid(50)), libc::SIGTERM),
            signal(Target::Group(pid(50)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[done(true), exited(50, 0), done(false)]),
        vec![Action::Exit(143)]
    );
}

#[test]
fn a_critical_service_ending_shuts_down_with_its_status() {
    let mut critical = unit("core", Kind::Simple, &[]);
    critical.critical = true;
    critical.restart = Restart::Never;
    let mut h = Harness::services(vec![critical, unit("other", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("core", 60);
    h.spawned("other", 61);
    assert_eq!(
        h.feed(&[exited(60, 4)]),
        vec![
            signal(Target::Group(pid(61)), libc::SIGTERM),
            signal(Target::Group(pid(61)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[done(true), killed(61, 15), done(false)]),
        vec![Action::Exit(4)]
    );
}

#[test]
fn a_critical_service_ending_beside_a_main_command_decides_the_status() {
    let mut critical = unit("core", Kind::Simple, &[]);
    critical.critical = true;
    critical.restart = Restart::Never;
    let mut h = Harness::services(vec![critical], true);
    h.boot();
    h.spawned("core", 60);
    h.feed(&[Event::MainSpawned(Ok(pid(MAIN)))]);
    assert_eq!(
        h.feed(&[exited(60, 4)]),
        vec![
            signal(Target::Process(pid(MAIN)), libc::SIGTERM),
            signal(Target::Process(pid(MAIN)), libc::SIGCONT)
        ]
    );
    // The main command's end by foster's SIGTERM does not count.
    h.feed(&[killed(MAIN, 15)]);
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(4)]);

    // A critical oneshot that fails before the main command starts.
    let mut once = unit("once", Kind::Oneshot, &[]);
    once.critical = true;
    let mut h = Harness::services(vec![once], true);
    h.boot();
    h.spawned("once", 61);
    // (Its end counts once nothing of it is left: a pass, not the
    // reaper's, so a reaping pass is asked for.)
    assert_eq!(h.feed(&[exited(61, 3)]), vec![Action::Reap]);
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(3)]);
}

#[test]
fn second_sigterm_during_shutdown_kills_everything() {
    let mut h = Harness::services(vec![unit("stubborn", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("stubborn", 70);
    h.feed(&[Event::Signal(libc::SIGTERM)]);
    assert_eq!(
        h.feed(&[Event::Signal(libc::SIGINT)]),
        vec![
            signal(Target::Group(pid(70)), libc::SIGKILL),
            Action::KillCgroup(h.id("stubborn")),
            signal(Target::Descendants, libc::SIGKILL)
        ]
    );
    // Leftovers after that get no grace either.
    assert_eq!(
        h.feed(&[killed(70, 9), done(true)]),
        vec![signal(Target::Descendants, libc::SIGKILL)]
    );
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(0)]);
}

#[test]
fn sigterm_with_nothing_running_exits_after_one_reaping_pass() {
    let mut h = Harness::services(vec![unit("once", Kind::Oneshot, &[])], false);
    h.boot();
    h.spawned("once", 80);
    h.feed(&[exited(80, 0), done(false)]);
    assert_eq!(h.feed(&[Event::Signal(libc::SIGTERM)]), vec![Action::Reap]);
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(0)]);
}

#[test]
fn a_service_in_backoff_is_not_restarted_during_shutdown() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("a", 90);
    h.feed(&[exited(90, 1), done(false)]);
    assert_eq!(h.state("a"), "backoff");
    assert_eq!(h.feed(&[Event::Signal(libc::SIGTERM)]), vec![Action::Reap]);
    assert_eq!(h.state("a"), "stopped");
    assert_eq!(h.sup.next_deadline(), None);
}

#[test]
fn a_start_failure_follows_the_restart_policy() {
    let mut once = unit("once", Kind::Oneshot, &[]);
    once.critical = true;
    let mut h = Harness::services(vec![once], false);
    h.boot();
    let actions = h.feed(&[Event::ServiceSpawned {
        service: h.id("once"),
        result: Err(StartError::Child {
            stage: crate::sys::Stage::User,
            errno: Errno(libc::EPERM),
            detail: None,
        }),
    }]);
    assert_eq!(h.state("once"), "failed");
    assert_eq!(actions, vec![Action::Reap]);
    // A set-up step failed: the program could not be run, 126.
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(126)]);
}

#[test]
fn a_program_that_is_not_there_counts_as_127_and_one_that_cannot_run_as_126() {
    for (errno, code) in [(libc::ENOENT, 127), (libc::EACCES, 126)] {
        let mut once = unit("once", Kind::Oneshot, &[]);
        once.critical = true;
        let mut h = Harness::services(vec![once], false);
        h.boot();
        h.feed(&[Event::ServiceSpawned {
            service: h.id("once"),
            result: Err(StartError::Child {
                stage: crate::sys::Stage::Exec,
                errno: Errno(errno),
                detail: None,
            }),
        }]);
        assert_eq!(h.state("once"), "failed");
        assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(code)]);
    }
}

#[test]
fn a_notify_service_is_ready_on_ready_1_from_its_session() {
    let mut h = Harness::services(
        vec![
            unit("n", Kind::Notify, &[]),
            unit("after", Kind::Simple, &["n"]),
        ],
        false,
    );
    h.boot();
    h.spawned("n", 100);
    let ready = Message {
        ready: true,
        status: Some("up".into()),
        main_pid: None,
        ..Message::default()
    };
    // From a stranger: ignored.
    assert_eq!(h.feed(&[note(999, Some(1), ready.clone(), None)]), vec![]);
    assert_eq!(h.state("n"), "starting");
    // From a helper in the service's session: counts.
    assert_eq!(
        h.feed(&[note(101, Some(100), ready, None)]),
        vec![Action::Start(h.id("after"))]
    );
    assert_eq!(h.state("n"), "running");
    assert_eq!(h.sup.services["n"].status_text.as_deref(), Some("up"));
    assert_eq!(h.sup.services["n"].deadline(), None);
}

fn note(sender: i32, session: Option<i32>, message: Message, main: Option<Named>) -> Event {
    Event::Notify {
        sender: pid(sender),
        session: session.map(pid),
        cgroup: CgroupMembership::Unknown,
        message,
        main,
        fds: None,
    }
}

/// A live process as `/proc` would describe it to a `MAINPID=` check
/// (a parent or session of 0: outside foster's PID namespace).
fn named(n: i32, ppid: i32, session: i32, start_ticks: u64, ancestors: &[i32]) -> Named {
    Named {
        pid: pid(n),
        candidate: Some(Candidate {
            pid: pid(n),
            ppid: Pid::new(ppid),
            session: Pid::new(session),
            start_ticks,
        }),
        ties: Ties {
            ancestors: ancestors.iter().copied().map(pid).collect(),
            ..Ties::default()
        },
    }
}

fn mainpid(n: i32, named: Named) -> Event {
    note(
        100,
        Some(100),
        Message {
            ready: true,
            status: None,
            main_pid: Some(pid(n)),
            ..Message::default()
        },
        Some(named),
    )
}

#[test]
fn mainpid_moves_the_watched_process() {
    let mut h = Harness::services(vec![unit("n", Kind::Notify, &[])], false);
    h.boot();
    h.spawned("n", 100);
    // A child of the service's shell, in its session.
    let actions = h.feed(&[mainpid(105, named(105, 100, 100, 150, &[100]))]);
    assert_eq!(actions, vec![Action::Follow(pid(105))]);
    assert_eq!(h.sup.services["n"].main_pid(), Some(pid(105)));
    assert_eq!(h.sup.services["n"].last_source, PidSource::Notify);
    // The old process ending is no longer the service ending.
    h.feed(&[exited(100, 0), done(true)]);
    assert_eq!(h.state("n"), "running");
    // Signals go to the process it named, by pidfd, never to a group.
    let (_, actions) = control(&mut h, "kill n USR1");
    assert_eq!(
        actions,
        vec![signal(Target::Process(pid(105)), libc::SIGUSR1)]
    );
    h.feed(&[exited(105, 1), done(true)]);
    assert_eq!(h.state("n"), "backoff");
}

#[test]
fn mainpid_naming_foster_init_a_stranger_or_an_old_process_is_refused() {
    let mut h = Harness::services(
        vec![
            unit("n", Kind::Notify, &[]),
            unit("other", Kind::Simple, &[]),
        ],
        false,
    );
    h.boot();
    h.spawned("n", 100);
    h.spawned("other", 200);
    let refused = [
        // foster itself (its PPID, as `MAINPID=$PPID` names it).
        (1, named(1, 0, 1, 1, &[])),
        // A stranger in a session of its own, not foster's child.
        (300, named(300, 299, 300, 150, &[299])),
        // In the service's session, but older than the launch: a recycled
        // or foreign PID.
        (106, named(106, 100, 100, 99, &[100])),
        // Another service's process, and a worker of it in its own
        // session, reparented to foster.
        (200, named(200, 1, 200, 150, &[])),
        (201, named(201, 1, 201, 150, &[])),
        // In foster's own session: the main command's.
        (107, named(107, 1, 5, 150, &[])),
        // Not alive.
        (
            108,
            Named {
                pid: pid(108),
                candidate: None,
                ties: Ties::default(),
            },
        ),
    ];
    // The worker is known as the other service's by its FOSTER_SERVICE_NAME.
    let mut refused = refused.to_vec();
    refused[4].1.ties.marked = Some("other".into());
    for (n, facts) in refused {
        let actions = h.feed(&[mainpid(n, facts)]);
        assert!(
            !actions.contains(&Action::Follow(pid(n))),
            "MAINPID={n} was followed: {actions:?}"
        );
        assert_eq!(
            h.sup.services["n"].main_pid(),
            Some(pid(100)),
            "MAINPID={n}"
        );
        assert_eq!(h.sup.services["n"].last_source, PidSource::Child);
    }
    // The stop still goes to the service's own process group.
    let (_, actions) = control(&mut h, "stop n");
    assert!(actions.contains(&signal(Target::Group(pid(100)), libc::SIGTERM)));
}

#[test]
fn mainpid_from_a_process_of_another_cgroup_counts_for_that_service_only() {
    let mut h = Harness::services(
        vec![unit("n", Kind::Notify, &[]), unit("m", Kind::Notify, &[])],
        false,
    );
    h.boot();
    h.spawned("n", 100);
    h.spawned("m", 200);
    // In m's cgroup: ready counts for m, whatever its session says.
    let ready = Message {
        ready: true,
        status: None,
        main_pid: None,
        ..Message::default()
    };
    h.feed(&[Event::Notify {
        sender: pid(300),
        session: Some(pid(100)),
        cgroup: CgroupMembership::Service("m".into()),
        message: ready.clone(),
        main: None,
        fds: None,
    }]);
    assert_eq!(h.state("m"), "running");
    assert_eq!(h.state("n"), "starting");
    // In no service's cgroup: nobody's.
    h.feed(&[Event::Notify {
        sender: pid(301),
        session: Some(pid(100)),
        cgroup: CgroupMembership::NoService,
        message: ready,
        main: None,
        fds: None,
    }]);
    assert_eq!(h.state("n"), "starting");
    // A MAINPID in another service's cgroup is refused.
    let mut facts = named(201, 200, 200, 150, &[200]);
    facts.ties.cgroup = CgroupMembership::Service("m".into());
    assert_eq!(h.feed(&[mainpid(201, facts)]), vec![]);
    assert_eq!(h.sup.services["n"].main_pid(), Some(pid(100)));
}

#[test]
fn a_mainpid_that_is_not_fosters_child_ends_the_service_when_its_pidfd_says_so() {
    let mut u = unit("n", Kind::Notify, &[]);
    u.stop_timeout = Duration::from_secs(3);
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("n", 100);
    h.feed(&[mainpid(105, named(105, 100, 100, 150, &[100]))]);
    // The shell's child is killed; the shell reaps it, foster's pidfd
    // tells it ended: the service is down, and restarts.
    h.feed(&[Event::Exited {
        pid: pid(105),
        status: WaitStatus::Unknown,
    }]);
    assert_eq!(h.state("n"), "backoff");
    assert_eq!(h.sup.services["n"].last_exit, Some(WaitStatus::Unknown));
}

/// A control request from client 7: its reply, and the other actions.
fn control(h: &mut Harness, line: &str) -> (crate::control::Reply, Vec<Action>) {
    let request = crate::control::parse(line.as_bytes()).expect("request parses");
    let client = Client(7);
    let mut actions = h.feed(&[Event::Request {
        client,
        request,
        wall: std::time::SystemTime::now(),
    }]);
    // A kill is sent by the loop, which reports it: here, taken by every
    // target, each shown as the signal it is.
    if let Some(at) = actions
        .iter()
        .position(|a| matches!(a, Action::Deliver { .. }))
    {
        let Action::Deliver {
            client,
            service,
            sig,
            targets,
        } = actions.remove(at)
        else {
            unreachable!()
        };
        actions.extend(targets.into_iter().map(|target| signal(target, sig)));
        actions.extend(h.feed(&[Event::Delivered {
            client,
            service,
            sig,
            refused: None,
        }]));
    }
    let at = actions
        .iter()
        .position(|a| matches!(a, Action::Reply { client: c, .. } if *c == client))
        .expect("a reply");
    let Action::Reply { reply, .. } = actions.remove(at) else {
        unreachable!()
    };
    (reply, actions)
}

#[test]
fn fosterctl_shutdown_stops_everything() {
    // Regression: the shutdown began but nothing was told to stop.
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("a", 10);
    let (reply, actions) = control(&mut h, "shutdown");
    assert_eq!(reply.outcome, crate::control::Outcome::Ok);
    assert_eq!(
        actions,
        vec![
            signal(Target::Group(pid(10)), libc::SIGTERM),
            signal(Target::Group(pid(10)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[killed(10, 15), done(false)]),
        vec![Action::Exit(0)]
    );
}

#[test]
fn fosterctl_stop_start_restart_and_kill() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("a", 10);
    let (_, actions) = control(&mut h, "stop a");
    assert_eq!(
        actions,
        vec![
            signal(Target::Group(pid(10)), libc::SIGTERM),
            signal(Target::Group(pid(10)), libc::SIGCONT)
        ]
    );
    // Stopped on request: not restarted.
    assert_eq!(h.feed(&[killed(10, 15), done(true)]), vec![]);
    assert_eq!(h.state("a"), "stopped");
    let (reply, _) = control(&mut h, "status a");
    assert_eq!(reply.outcome, crate::control::Outcome::Down);
    let (_, actions) = control(&mut h, "start a");
    assert_eq!(actions, vec![Action::Start(h.id("a"))]);
    h.spawned("a", 11);
    let (_, actions) = control(&mut h, "restart a");
    assert_eq!(
        actions,
        vec![
            signal(Target::Group(pid(11)), libc::SIGTERM),
            signal(Target::Group(pid(11)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[killed(11, 15), done(true)]),
        vec![Action::Start(h.id("a"))]
    );
    h.spawned("a", 12);
    assert_eq!(h.sup.services["a"].restarts, 1);
    let (_, actions) = control(&mut h, "kill a USR1");
    assert_eq!(actions, vec![signal(Target::Group(pid(12)), libc::SIGUSR1)]);
    let (reply, actions) = control(&mut h, "stop ghost");
    assert_eq!(reply.text, "unknown service \"ghost\"");
    assert!(actions.is_empty());
}

fn forking(name: &str) -> Unit {
    let mut u = unit(name, Kind::Forking, &[]);
    u.pidfile = Some("/run/d.pid".into());
    u.restart = Restart::Always;
    u
}

fn reading(service: ServiceId, n: Option<i32>, stale: bool, ppid: i32, ticks: u64) -> Event {
    let named = n.map(pid);
    Event::Pidfile {
        service,
        reading: PidfileReading {
            pid: named,
            stale,
            candidate: named.map(|named| crate::pidfile::Candidate {
                pid: named,
                ppid: Pid::new(ppid),
                session: Some(named),
                start_ticks: ticks,
            }),
            context: Some(context()),
            exited: None,
            ties: Ties::default(),
            lock: PidfileLock::Unlocked,
        },
    }
}

#[test]
fn a_daemon_that_died_before_its_pidfile_was_read_keeps_its_status() {
    let mut u = forking("d");
    u.restart = Restart::Never;
    let mut h = Harness::services(vec![u], false);
    assert!(!h.sup.holding(), "nothing started yet");
    h.boot();
    h.spawned("d", 20);
    // While the forking service starts, exits of unknown processes are
    // held; the launcher's own exit never is.
    assert!(h.sup.holding());
    assert!(h.sup.holds(pid(33)));
    assert!(!h.sup.holds(pid(20)));
    h.feed(&[exited(20, 0)]);
    assert!(h.sup.holds(pid(33)));
    let Event::Pidfile {
        service,
        mut reading,
    } = reading(h.id("d"), Some(33), false, 1, 200)
    else {
        unreachable!()
    };
    reading.exited = Some(WaitStatus::Exited(7));
    assert_eq!(
        h.feed(&[Event::Pidfile { service, reading }]),
        vec![Action::Release(pid(33))]
    );
    assert_eq!(h.state("d"), "failed");
    assert_eq!(h.sup.services["d"].last_exit, Some(WaitStatus::Exited(7)));
    assert!(!h.sup.holding(), "the start is over");
}

#[test]
fn a_forking_service_is_followed_through_its_pidfile() {
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    assert_eq!(
        h.feed(&[exited(20, 0)]),
        vec![Action::ReadPidfile(h.id("d"))]
    );
    assert_eq!(h.state("d"), "starting");
    // Not yet written, then left over from before: keep waiting.
    assert_eq!(
        h.feed(&[
            reading(h.id("d"), None, false, 1, 0),
            reading(h.id("d"), Some(30), true, 1, 200)
        ]),
        vec![]
    );
    // A stranger (not ours) and a recycled PID (older than the launch): refused.
    assert_eq!(
        h.feed(&[
            reading(h.id("d"), Some(31), false, 77, 200),
            reading(h.id("d"), Some(32), false, 1, 50)
        ]),
        vec![]
    );
    assert_eq!(h.state("d"), "starting");
    assert_eq!(
        h.feed(&[reading(h.id("d"), Some(33), false, 1, 200)]),
        vec![Action::Follow(pid(33))]
    );
    assert_eq!(h.state("d"), "running");
    assert_eq!(h.sup.services["d"].last_source, PidSource::Pidfile);
    // Stopping goes through the pidfd (Process), not by group number.
    let actions = h.feed(&[Event::Signal(libc::SIGTERM)]);
    assert_eq!(
        actions,
        vec![
            signal(Target::Process(pid(33)), libc::SIGTERM),
            signal(Target::Process(pid(33)), libc::SIGCONT)
        ]
    );
    assert_eq!(h.state("d"), "stopping");
    // At stop_timeout, SIGKILL for the daemon and every process of its session.
    let actions = h.tick();
    assert_eq!(
        actions,
        vec![
            signal(Target::Process(pid(33)), libc::SIGKILL),
            signal(
                Target::Session {
                    sid: pid(33),
                    since: Some(100)
                },
                libc::SIGKILL
            ),
            Action::KillCgroup(h.id("d"))
        ]
    );
}

/// foster (PID 1, in session 5) launched a forking service as 20.
fn context() -> crate::pidfile::Context {
    crate::pidfile::Context {
        foster: Pid::INIT,
        launcher: pid(20),
        launched_ticks: Some(100),
        foster_session: Pid::new(5),
    }
}

fn adopted(service: ServiceId, found: &[(i32, i32, u64, Option<WaitStatus>)]) -> Event {
    Event::Adopted {
        service,
        found: found
            .iter()
            .map(|&(n, session, start_ticks, status)| {
                (
                    crate::pidfile::Candidate {
                        pid: pid(n),
                        ppid: Some(Pid::INIT),
                        session: Pid::new(session),
                        start_ticks,
                    },
                    status,
                )
            })
            .collect(),
        context: Some(context()),
        members: None,
    }
}

#[test]
fn without_a_pidfile_the_one_adopted_process_is_the_guessed_main_pid() {
    let mut u = forking("d");
    u.pidfile = None;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("d", 20);
    assert_eq!(
        h.feed(&[exited(20, 0)]),
        vec![Action::FindAdopted(h.id("d"))]
    );
    // An older process, and one of another session that is not ours, do
    // not count; the intermediate of the double fork is the one.
    assert_eq!(
        h.feed(&[adopted(
            h.id("d"),
            &[(30, 30, 50, None), (31, 31, 150, None)]
        )]),
        vec![Action::Follow(pid(31))]
    );
    assert_eq!(h.state("d"), "running");
    assert_eq!(h.sup.services["d"].last_source, PidSource::Guessed);
    // It exits once its child (the daemon, adopted meanwhile) runs: no
    // restart, the daemon is followed.
    assert_eq!(
        h.feed(&[exited(31, 0)]),
        vec![Action::FindAdopted(h.id("d"))]
    );
    assert_eq!(
        h.feed(&[adopted(
            h.id("d"),
            &[(30, 30, 50, None), (32, 31, 160, None)]
        )]),
        vec![Action::Follow(pid(32))]
    );
    assert_eq!((h.state("d"), h.sup.services["d"].restarts), ("running", 0));
    // Its death with nothing left: the restart policy, with its status.
    h.feed(&[killed(32, 9)]);
    h.feed(&[adopted(h.id("d"), &[(30, 30, 50, None)])]);
    assert_eq!(h.state("d"), "backoff");
}

#[test]
fn without_a_pidfile_several_adopted_processes_are_supervised_as_a_set() {
    let mut u = forking("d");
    u.pidfile = None;
    u.restart = Restart::Never;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0)]);
    assert_eq!(
        h.feed(&[adopted(
            h.id("d"),
            &[(41, 41, 200, None), (40, 40, 150, None)]
        )]),
        vec![Action::Follow(pid(40)), Action::Follow(pid(41))]
    );
    assert_eq!(h.sup.services["d"].others(), vec![pid(41)]);
    // Running while any of them lives.
    h.feed(&[exited(40, 0)]);
    assert_eq!(
        (h.state("d"), h.sup.services["d"].main_pid()),
        ("running", Some(pid(41)))
    );
    // A stop reaches the one left, by pidfd.
    let (_, actions) = control(&mut h, "kill d USR1");
    assert_eq!(
        actions,
        vec![signal(Target::Process(pid(41)), libc::SIGUSR1)]
    );
    h.feed(&[exited(41, 3)]);
    // Nothing adopted since: it ended; its cgroup and its session get the
    // stop sequence, and the end counts once nothing of it is left.
    h.raw = true;
    let cgroup = [libc::SIGTERM, libc::SIGCONT].map(|sig| Action::SignalCgroup {
        service: h.id("d"),
        sig,
    });
    let session = [libc::SIGTERM, libc::SIGCONT].map(|sig| {
        signal(
            Target::Session {
                sid: pid(40),
                since: Some(100),
            },
            sig,
        )
    });
    assert_eq!(
        h.feed(&[adopted(h.id("d"), &[])]),
        cgroup
            .into_iter()
            .chain(session)
            .chain([Action::FindAdopted(h.id("d"))])
            .collect::<Vec<_>>()
    );
    assert_eq!(h.state("d"), "stopping");
    // A worker it left, in its session since the launch, is waited for.
    h.feed(&[adopted(h.id("d"), &[(45, 40, 300, None)])]);
    assert_eq!(h.state("d"), "stopping");
    let actions = h.feed(&[exited(45, 0)]);
    assert_eq!(actions, vec![Action::FindAdopted(h.id("d"))]);
    h.feed(&[adopted(h.id("d"), &[])]);
    assert_eq!(h.state("d"), "failed");
    assert_eq!(h.sup.services["d"].last_exit, Some(WaitStatus::Exited(3)));
}

#[test]
fn without_a_pidfile_a_daemon_that_died_at_once_keeps_its_status() {
    let mut u = forking("d");
    u.pidfile = None;
    u.restart = Restart::Never;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0)]);
    assert_eq!(
        h.feed(&[adopted(
            h.id("d"),
            &[(50, 50, 200, Some(WaitStatus::Exited(5)))]
        )]),
        vec![Action::Release(pid(50))]
    );
    assert_eq!(h.state("d"), "failed");
    assert_eq!(h.sup.services["d"].last_exit, Some(WaitStatus::Exited(5)));
}

#[test]
fn a_daemon_that_hands_over_keeps_the_service_running_without_a_restart() {
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    // The old master exits after starting its successor, which rewrote the pidfile.
    assert_eq!(
        h.feed(&[exited(33, 0)]),
        vec![Action::ReadPidfile(h.id("d"))]
    );
    assert_eq!(
        h.feed(&[reading(h.id("d"), Some(34), false, 1, 300)]),
        vec![Action::Follow(pid(34))]
    );
    assert_eq!((h.state("d"), h.sup.services["d"].restarts), ("running", 0));
    // Then it dies for real, the pidfile still naming it: restart policy.
    assert_eq!(
        h.feed(&[killed(34, 9)]),
        vec![Action::ReadPidfile(h.id("d"))]
    );
    h.raw = true;
    let actions = h.feed(&[reading(h.id("d"), Some(34), false, 1, 300)]);
    // What it left in its session gets the stop signal; the restart waits
    // until nothing of it is left.
    assert!(
        actions.contains(&signal(
            Target::Session {
                sid: pid(34),
                since: Some(100)
            },
            libc::SIGTERM
        )),
        "{actions:?}"
    );
    assert_eq!(h.state("d"), "stopping");
    h.feed(&[adopted(h.id("d"), &[])]);
    assert_eq!(h.state("d"), "backoff");
    assert_eq!(
        h.sup.services["d"].last_exit,
        Some(WaitStatus::Signaled {
            sig: 9,
            core: false
        })
    );
}

#[test]
fn a_forking_service_that_never_writes_its_pidfile_fails_at_start_timeout() {
    let mut d = forking("d");
    d.restart = Restart::Never;
    let mut h = Harness::services(vec![d], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), None, false, 1, 0)]);
    h.tick();
    assert_eq!(h.state("d"), "failed");
    assert_eq!(
        h.sup.services["d"].reason.as_deref(),
        Some("never wrote a valid pidfile")
    );
}

#[test]
fn with_a_cgroup_membership_is_exact_and_an_empty_one_ends_the_wait_for_a_pidfile() {
    let mut u = forking("d");
    u.pidfile = None;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0)]);
    // 31 is in another session, 30 in ours by session; the cgroup says
    // only 31 is the service's.
    let Event::Adopted {
        service,
        found,
        context,
        ..
    } = adopted(h.id("d"), &[(30, 20, 150, None), (31, 99, 160, None)])
    else {
        unreachable!()
    };
    assert_eq!(
        h.feed(&[Event::Adopted {
            service,
            found,
            context,
            members: Some(vec![pid(31)]),
        }]),
        vec![Action::Follow(pid(31))]
    );

    let mut d = forking("e");
    d.restart = Restart::Never;
    let mut h = Harness::services(vec![d], false);
    h.boot();
    h.spawned("e", 20);
    h.feed(&[exited(20, 0)]);
    // Nothing of it left: one last reading, and a pidfile with no live PID
    // fails the start at once, without waiting out start_timeout.
    assert_eq!(
        h.feed(&[Event::CgroupEmpty(h.id("e"))]),
        vec![Action::ReadPidfile(h.id("e"))]
    );
    let Event::Pidfile { reading, .. } = reading(h.id("e"), None, false, 1, 0) else {
        unreachable!()
    };
    h.feed(&[Event::Pidfile {
        service: h.id("e"),
        reading,
    }]);
    assert_eq!(h.state("e"), "failed");
    assert_eq!(
        h.sup.services["e"].reason.as_deref(),
        Some("never wrote a valid pidfile, and no process of it is left")
    );
}

// ---- a machine's init ----------------------------------------------------

fn system() -> Settings {
    Settings {
        system: true,
        ..settings()
    }
}

#[test]
fn as_a_machines_init_ctrl_alt_del_reboots_and_the_command_gets_sigterm() {
    let mut h = Harness::one_command(system());
    // SIGINT is Ctrl-Alt-Del here: not forwarded as an interrupt.
    assert_eq!(
        h.feed(&[Event::Signal(libc::SIGINT)]),
        vec![
            signal(Target::Process(pid(MAIN)), libc::SIGTERM),
            signal(Target::Process(pid(MAIN)), libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[killed(MAIN, libc::SIGTERM), done(false)]),
        vec![Action::Exit(143)]
    );
    assert_eq!(h.sup.power(), Power::Reboot);
}

#[test]
fn as_a_machines_init_sigpwr_and_sigterm_power_off_with_services() {
    for sig in [libc::SIGPWR, libc::SIGTERM] {
        let mut h = Harness {
            sup: Supervisor::new(system(), vec![unit("a", Kind::Simple, &[])], false, true),
            now: Instant::now(),
            raw: false,
        };
        h.boot();
        h.spawned("a", 10);
        assert_eq!(
            h.feed(&[Event::Signal(sig)]),
            vec![
                signal(Target::Group(pid(10)), libc::SIGTERM),
                signal(Target::Group(pid(10)), libc::SIGCONT)
            ]
        );
        // What is left after the services gets SIGTERM, then SIGKILL.
        assert_eq!(
            h.feed(&[killed(10, 15), done(true)]),
            vec![
                signal(Target::Descendants, libc::SIGTERM),
                signal(Target::Descendants, libc::SIGCONT)
            ]
        );
        assert_eq!(h.tick(), vec![signal(Target::Descendants, libc::SIGKILL)]);
        assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(0)]);
        assert_eq!(h.sup.power(), Power::Poweroff);
    }
}

#[test]
fn the_main_command_ending_powers_off_and_a_second_ctrl_alt_del_kills_at_once() {
    let mut h = Harness::one_command(system());
    assert_eq!(
        h.feed(&[exited(MAIN, 0), done(true)]),
        vec![
            signal(Target::Descendants, libc::SIGTERM),
            signal(Target::Descendants, libc::SIGCONT)
        ]
    );
    assert_eq!(
        h.feed(&[Event::Signal(libc::SIGINT)]),
        vec![signal(Target::Descendants, libc::SIGKILL)]
    );
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(0)]);
    assert_eq!(h.sup.power(), Power::Poweroff);
}

#[test]
fn fosterctl_reboot_and_halt_choose_the_end_only_for_a_machines_init() {
    for (settings, verb, power) in [
        (system(), "reboot", Power::Reboot),
        (system(), "halt", Power::Halt),
        (settings(), "reboot", Power::Poweroff),
    ] {
        let mut h = Harness {
            sup: Supervisor::new(settings, vec![unit("a", Kind::Simple, &[])], false, true),
            now: Instant::now(),
            raw: false,
        };
        h.boot();
        h.spawned("a", 10);
        let (reply, actions) = control(&mut h, verb);
        assert_eq!(reply.outcome, crate::control::Outcome::Ok);
        assert_eq!(actions.first(), Some(&signal(Target::Group(pid(10)), 15)));
        assert_eq!(h.sup.power(), power);
        let (reply, _) = control(&mut h, "poweroff");
        assert_eq!(reply.outcome, crate::control::Outcome::Error);
        assert_eq!(h.sup.power(), power, "the first request stands");
    }
}

/// A forking service whose launcher has exited and whose pidfile has not
/// named the daemon yet.
fn awaiting_pidfile() -> Harness {
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), None, false, 1, 0)]);
    assert!(matches!(
        h.sup.services["d"].life,
        Life::AwaitingDaemon { .. }
    ));
    h
}

#[test]
fn restart_while_awaiting_the_pidfile_drops_the_first_launch_and_launches_again() {
    let mut h = awaiting_pidfile();
    let (reply, actions) = control(&mut h, "restart d");
    assert_eq!(reply.outcome, ReplyOutcome::Ok);
    assert_eq!(
        actions,
        vec![Action::KillCgroup(h.id("d")), Action::Start(h.id("d"))]
    );
    assert!(!matches!(
        h.sup.services["d"].life,
        Life::AwaitingDaemon { .. }
    ));
}

#[test]
fn reload_of_a_changed_unit_while_awaiting_the_pidfile_drops_the_first_launch() {
    let mut h = awaiting_pidfile();
    let mut changed = forking("d");
    changed.stop_timeout = Duration::from_secs(42);
    let loaded = crate::unit::Loaded {
        units: [("d".to_string(), changed)].into_iter().collect(),
        ..Default::default()
    };
    let mut actions = Vec::new();
    let reply = h.sup.reload(loaded, h.now, &mut actions);
    assert!(reply.text.contains("changed: d"), "{}", reply.text);
    assert_eq!(
        actions,
        vec![Action::KillCgroup(h.id("d")), Action::Start(h.id("d"))]
    );
    let s = &h.sup.services["d"];
    assert!(!matches!(s.life, Life::AwaitingDaemon { .. }));
    assert_eq!(s.unit.stop_timeout, Duration::from_secs(42));
}

#[test]
fn a_unit_removed_while_awaiting_its_pidfile_drops_the_launch_and_is_forgotten() {
    let mut h = awaiting_pidfile();
    let d = h.id("d");
    let mut actions = Vec::new();
    let reply = h
        .sup
        .reload(crate::unit::Loaded::default(), h.now, &mut actions);
    assert!(reply.text.contains("removed: d"), "{}", reply.text);
    assert_eq!(actions, vec![Action::KillCgroup(d)]);
    assert!(!h.sup.services.contains_key("d"));
}

#[test]
fn the_core_answers_kill_once_the_kernel_has_said_and_reload_once_the_directory_is_read() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("a", 10);
    let client = Client(3);
    let request = crate::control::parse(b"kill a TERM").expect("parses");
    assert_eq!(
        h.feed(&[Event::Request {
            client,
            request,
            wall: std::time::SystemTime::now(),
        }]),
        vec![Action::Deliver {
            client,
            service: h.id("a"),
            sig: libc::SIGTERM,
            targets: vec![Target::Group(pid(10))],
        }]
    );
    let actions = h.feed(&[Event::Delivered {
        client,
        service: h.id("a"),
        sig: libc::SIGTERM,
        refused: Some(Errno(libc::ESRCH)),
    }]);
    match actions.as_slice() {
        [Action::Reply { client: c, reply }] => {
            assert_eq!(*c, client);
            assert_eq!(reply.outcome, ReplyOutcome::Error);
            assert!(
                reply
                    .text
                    .contains("SIGTERM was not delivered: No such process"),
                "{reply:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The whole directory: read by the loop, then applied and answered here.
    let client = Client(4);
    let request = crate::control::parse(b"reload").expect("parses");
    assert_eq!(
        h.feed(&[Event::Request {
            client,
            request,
            wall: std::time::SystemTime::now(),
        }]),
        vec![Action::LoadUnits {
            client: Some(client)
        }]
    );
    let mut actions = Vec::new();
    let loaded = crate::unit::Loaded {
        units: [("a".to_string(), unit("a", Kind::Simple, &[]))].into(),
        ..Default::default()
    };
    h.sup
        .units_loaded(Some(client), Ok(loaded), h.now, &mut actions);
    match actions.as_slice() {
        [Action::Reply { client: c, reply }] => {
            assert_eq!(*c, client);
            assert_eq!(reply.outcome, ReplyOutcome::Ok);
            assert!(reply.text.contains("added: -\nchanged: -"), "{reply:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn news_of_a_service_removed_and_added_again_under_its_name_is_not_the_new_ones() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    let old = h.id("a");
    let mut actions = Vec::new();
    h.sup
        .reload(crate::unit::Loaded::default(), h.now, &mut actions);
    let loaded = crate::unit::Loaded {
        units: [("a".to_string(), unit("a", Kind::Simple, &[]))].into(),
        ..Default::default()
    };
    let mut actions = Vec::new();
    h.sup.reload(loaded, h.now, &mut actions);
    let new = h.id("a");
    assert_ne!(old, new);
    assert_eq!(actions, vec![Action::Start(new)]);
    // The first one's spawn, reported late, is not taken for the second's.
    h.feed(&[Event::ServiceSpawned {
        service: old,
        result: Ok(crate::service::Launched {
            pid: pid(77),
            ticks: Some(1),
            cgroup: false,
            limits_enforced: None,
        }),
    }]);
    assert_eq!(h.sup.services["a"].main_pid(), None);
    h.spawned("a", 78);
    assert_eq!(h.sup.services["a"].main_pid(), Some(pid(78)));
}

#[test]
fn a_cgroup_that_cannot_be_joined_is_given_up_once_and_the_service_started_again() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    let a = h.id("a");
    let cannot_join = || Event::ServiceSpawned {
        service: a,
        result: Err(StartError::Child {
            stage: crate::sys::Stage::Cgroup,
            errno: Errno(libc::EACCES),
            detail: None,
        }),
    };
    assert_eq!(
        h.feed(&[cannot_join()]),
        vec![Action::DropCgroups, Action::Start(a)]
    );
    assert_eq!(h.state("a"), "starting");
    // Never twice: a second such failure is a failure to start.
    h.feed(&[cannot_join()]);
    assert_eq!(h.state("a"), "backoff");
    assert_eq!(
        h.sup.services["a"].reason.as_deref(),
        Some("cannot join its cgroup: Permission denied")
    );
}

#[test]
fn a_services_directory_that_cannot_be_read_on_reload_changes_nothing() {
    let mut h = Harness::services(vec![unit("a", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("a", 10);
    let unreadable = || crate::unit::DirUnreadable {
        dir: "/srv/services.d".into(),
        error: std::io::Error::from_raw_os_error(libc::ENOENT),
    };
    let mut actions = Vec::new();
    h.sup
        .units_loaded(Some(Client(5)), Err(unreadable()), h.now, &mut actions);
    match actions.as_slice() {
        [Action::Reply { client, reply }] => {
            assert_eq!(*client, Client(5));
            assert_eq!(reply.outcome, ReplyOutcome::Error);
            assert!(
                reply
                    .text
                    .contains("cannot read the services directory /srv/services.d")
                    && reply.text.contains("nothing changed"),
                "{reply:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state("a"), "running");
    assert_eq!(h.sup.services["a"].main_pid(), Some(pid(10)));
    // SIGHUP's reload: logged, nothing sent anywhere, nothing changed.
    let mut actions = Vec::new();
    h.sup
        .units_loaded(None, Err(unreadable()), h.now, &mut actions);
    assert_eq!(actions, vec![]);
    assert_eq!(h.state("a"), "running");
}

/// The replies to `client` among `actions`.
fn replies_to(client: Client, actions: &[Action]) -> Vec<crate::control::Reply> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply { client: c, reply } if *c == client => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

fn request(h: &mut Harness, client: u64, line: &str) -> Vec<Action> {
    let request = crate::control::parse(line.as_bytes()).expect("request parses");
    h.feed(&[Event::Request {
        client: Client(client),
        request,
        wall: std::time::SystemTime::now(),
    }])
}

#[test]
fn a_waiting_start_is_answered_once_the_service_is_ready_or_has_failed() {
    let mut h = Harness::services(
        vec![unit("n", Kind::Notify, &[]), unit("bad", Kind::Simple, &[])],
        false,
    );
    h.boot();
    h.spawned("n", 10);
    h.spawned("bad", 11);
    request(&mut h, 1, "stop --wait n");
    // Stopping: not answered until its process is gone.
    assert!(replies_to(Client(1), &h.feed(&[done(true)])).is_empty());
    let answered = replies_to(Client(1), &h.feed(&[killed(10, 15)]));
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].outcome, crate::control::Outcome::Ok);
    assert_eq!(answered[0].text, "n stopped (was killed by SIGTERM)\n");

    // Started, it is answered only once READY=1 comes.
    assert!(replies_to(Client(2), &request(&mut h, 2, "start --wait n")).is_empty());
    h.spawned("n", 12);
    assert!(replies_to(Client(2), &h.feed(&[done(true)])).is_empty());
    let ready = Message {
        ready: true,
        status: None,
        main_pid: None,
        ..Message::default()
    };
    let answered = replies_to(Client(2), &h.feed(&[note(12, Some(12), ready, None)]));
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].text, "n is running (PID 12)\n");

    // A restart of a simple service: answered once it runs again.
    assert!(replies_to(Client(3), &request(&mut h, 3, "restart --wait bad")).is_empty());
    h.feed(&[killed(11, 15)]);
    let answered = replies_to(Client(3), &h.spawned("bad", 13));
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].text, "bad is running (PID 13)\n");

    // A oneshot that fails is a failure, with its status.
    let mut h2 = Harness::services(vec![unit("once", Kind::Oneshot, &[])], false);
    h2.boot();
    h2.spawned("once", 20);
    h2.feed(&[exited(20, 0)]);
    assert!(replies_to(Client(5), &request(&mut h2, 5, "start --wait once")).is_empty());
    h2.spawned("once", 21);
    let answered = replies_to(Client(5), &h2.feed(&[exited(21, 2)]));
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].outcome, crate::control::Outcome::Error);
    assert!(
        answered[0].text.starts_with("once failed")
            && answered[0].text.contains("exited with status 2"),
        "{:?}",
        answered[0]
    );

    // A client that leaves is never answered; the start goes on.
    request(&mut h, 4, "stop --wait n");
    h.feed(&[Event::ClientGone(Client(4))]);
    assert!(replies_to(Client(4), &h.feed(&[killed(12, 15)])).is_empty());
    assert_eq!(h.state("n"), "stopped");
    assert!(h.sup.waiters.is_empty());
}

/// Issue 12, item 3: what an ended main process left is stopped (its
/// cgroup, its session since the launch), SIGKILL at stop_timeout, and the
/// restart waits until it is gone; `kill_mode: main` leaves it.
#[test]
fn what_an_ended_main_process_left_is_stopped_before_the_restart() {
    let mut web = unit("web", Kind::Simple, &[]);
    web.stop_timeout = Duration::from_secs(3);
    let mut h = Harness::services(vec![web], false);
    h.raw = true;
    h.boot();
    h.spawned("web", 20);
    let web = h.id("web");
    assert_eq!(
        h.feed(&[killed(20, libc::SIGKILL)]),
        vec![
            Action::SignalCgroup {
                service: web,
                sig: libc::SIGTERM
            },
            Action::SignalCgroup {
                service: web,
                sig: libc::SIGCONT
            },
            signal(
                Target::Session {
                    sid: pid(20),
                    since: Some(100)
                },
                libc::SIGTERM
            ),
            signal(
                Target::Session {
                    sid: pid(20),
                    since: Some(100)
                },
                libc::SIGCONT
            ),
            Action::FindAdopted(web),
        ]
    );
    assert_eq!(h.state("web"), "stopping");
    // A worker it left (adopted by foster, in its session, newer than the
    // launch) is awaited; a stranger in another session is not.
    h.feed(&[adopted(web, &[(21, 20, 150, None), (30, 30, 150, None)])]);
    assert_eq!(h.sup.services["web"].pids(), vec![pid(21)]);
    // It ignores the stop signal: SIGKILL at stop_timeout.
    let actions = h.tick();
    assert!(actions.contains(&Action::KillCgroup(web)), "{actions:?}");
    assert!(
        actions.contains(&signal(
            Target::Session {
                sid: pid(20),
                since: Some(100)
            },
            libc::SIGKILL
        )),
        "{actions:?}"
    );
    // Once it is gone (and nothing else is found), the end counts: backoff.
    assert_eq!(
        h.feed(&[killed(21, libc::SIGKILL)]),
        vec![Action::FindAdopted(web)]
    );
    h.feed(&[adopted(web, &[])]);
    assert_eq!(h.state("web"), "backoff");
    assert_eq!(
        h.sup.services["web"].last_exit,
        Some(WaitStatus::Signaled {
            sig: libc::SIGKILL,
            core: false
        })
    );

    // kill_mode: main: straight to the restart policy.
    let mut lone = unit("lone", Kind::Simple, &[]);
    lone.kill_mode = crate::unit::KillMode::Main;
    let mut h = Harness::services(vec![lone], false);
    h.raw = true;
    h.boot();
    h.spawned("lone", 40);
    assert_eq!(h.feed(&[killed(40, libc::SIGKILL)]), vec![]);
    assert_eq!(h.state("lone"), "backoff");
}

#[test]
fn an_autostart_false_service_waits_for_a_start_and_so_do_its_dependents_but_not_the_main_command()
{
    let mut manual = unit("manual", Kind::Simple, &[]);
    manual.autostart = false;
    let mut h = Harness::services(
        vec![
            manual,
            unit("web", Kind::Simple, &["manual"]),
            unit("other", Kind::Simple, &[]),
        ],
        true,
    );
    // Only `other` starts; `manual` is stopped, `web` waits for it.
    assert_eq!(h.boot(), vec![Action::Start(h.id("other"))]);
    assert_eq!(h.state("manual"), "stopped");
    // `other` is up: the main command does not wait for the two held back.
    assert_eq!(h.spawned("other", 10), vec![Action::StartMain]);
    assert_eq!(h.state("web"), "starting");
    // A start request starts it, and then what waits for it.
    let actions = request(&mut h, 1, "start manual");
    assert!(
        actions.contains(&Action::Start(h.id("manual"))),
        "{actions:?}"
    );
    assert_eq!(h.spawned("manual", 11), vec![Action::Start(h.id("web"))]);
    assert_eq!(h.state("manual"), "running");
}

// ---- successors (issue 13) -------------------------------------------------

/// `reading` of `n`, started by `parent` in `parent`'s session, which
/// foster adopted (started at `parent_ticks`).
fn reading_by(service: ServiceId, n: i32, parent: i32, parent_ticks: u64, ticks: u64) -> Event {
    let mut event = reading(service, Some(n), false, parent, ticks);
    if let Event::Pidfile { reading, .. } = &mut event {
        if let Some(c) = &mut reading.candidate {
            c.session = Some(pid(parent));
        }
        reading.ties = Ties {
            ancestors: vec![pid(parent)],
            adopted_root: Some((pid(parent), parent_ticks)),
            ..Ties::default()
        };
    }
    event
}

#[test]
fn a_daemon_that_exits_well_and_whose_successor_writes_the_pidfile_late_is_followed_without_a_restart()
 {
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    assert_eq!(h.state("d"), "running");
    // It re-daemonizes: the old PID exits 0 before its child rewrote the file.
    assert_eq!(
        h.feed(&[exited(33, 0)]),
        vec![Action::ReadPidfile(h.id("d"))]
    );
    assert_eq!(
        h.feed(&[reading(h.id("d"), Some(33), false, 1, 200)]),
        vec![Action::FindAdopted(h.id("d"))]
    );
    // Its child lives on: foster waits for the pidfile to name it.
    assert_eq!(
        h.feed(&[adopted(h.id("d"), &[(40, 40, 300, None)])]),
        vec![Action::Follow(pid(40))]
    );
    let d = &h.sup.services["d"];
    assert_eq!((h.state("d"), d.main_pid()), ("running", None));
    assert_eq!(
        d.status_line().as_deref(),
        Some("PID 33 exited; waiting for its successor in /run/d.pid")
    );
    // The file still names the old one: still waiting.
    assert_eq!(
        h.feed(&[reading(h.id("d"), Some(33), false, 1, 200)]),
        vec![]
    );
    assert_eq!(
        h.feed(&[reading(h.id("d"), Some(40), false, 1, 300)]),
        vec![Action::Follow(pid(40))]
    );
    let d = &h.sup.services["d"];
    assert_eq!(
        (h.state("d"), d.main_pid(), d.restarts),
        ("running", Some(pid(40)), 0)
    );
    assert_eq!(d.status_line(), None);
}

#[test]
fn without_a_successor_the_service_ends_when_nothing_of_it_is_left_or_at_start_timeout() {
    // Nothing left: the restart policy decides, with the daemon's status.
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    h.feed(&[exited(33, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    h.feed(&[adopted(h.id("d"), &[(40, 40, 300, None)])]);
    assert_eq!(
        h.feed(&[exited(40, 0)]),
        vec![Action::FindAdopted(h.id("d"))]
    );
    h.feed(&[adopted(h.id("d"), &[])]);
    assert_eq!(h.state("d"), "backoff");
    assert_eq!(h.sup.services["d"].last_exit, Some(WaitStatus::Exited(0)));
    // What lives on never writes it: at start_timeout, the same.
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    h.feed(&[exited(33, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    h.feed(&[adopted(h.id("d"), &[(40, 40, 300, None)])]);
    assert_eq!(h.state("d"), "running");
    h.raw = true;
    let actions = h.tick();
    assert_eq!(h.state("d"), "stopping", "{actions:?}");
    assert!(
        actions.contains(&signal(Target::Process(pid(40)), libc::SIGTERM)),
        "{actions:?}"
    );
    // Once it is gone (and nothing else of the daemon's session), the
    // restart policy decides with the daemon's own status.
    assert_eq!(
        h.feed(&[killed(40, 15)]),
        vec![Action::FindAdopted(h.id("d"))]
    );
    h.feed(&[adopted(h.id("d"), &[])]);
    assert_eq!(h.state("d"), "backoff");
    assert_eq!(h.sup.services["d"].last_exit, Some(WaitStatus::Exited(0)));
    // A daemon killed by a signal, with nothing beside it, is not waited for.
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    h.feed(&[exited(20, 0), reading(h.id("d"), Some(33), false, 1, 200)]);
    h.feed(&[killed(33, 9), reading(h.id("d"), Some(33), false, 1, 200)]);
    assert_eq!(h.state("d"), "backoff");
}

#[test]
fn a_daemon_with_its_own_monitor_is_followed_through_its_crashes_without_a_restart() {
    let mut h = Harness::services(vec![forking("d")], false);
    h.boot();
    h.spawned("d", 20);
    // launcher 20 -> monitor 25 (own session, adopted) -> daemon 33.
    assert_eq!(
        h.feed(&[exited(20, 0), reading_by(h.id("d"), 33, 25, 150, 200)]),
        vec![
            Action::ReadPidfile(h.id("d")),
            Action::Follow(pid(25)),
            Action::Follow(pid(33))
        ]
    );
    assert_eq!(h.sup.services["d"].pids(), vec![pid(33), pid(25)]);
    for (round, (old, new)) in [(33, 34), (34, 35), (35, 36)].into_iter().enumerate() {
        // The daemon crashes; its monitor starts a new one.
        assert_eq!(
            h.feed(&[killed(old, libc::SIGSEGV)]),
            vec![Action::ReadPidfile(h.id("d"))],
            "round {round}"
        );
        assert_eq!(h.state("d"), "running");
        h.feed(&[reading(h.id("d"), Some(old), false, 25, 200)]);
        h.feed(&[adopted(h.id("d"), &[(25, 25, 150, None)])]);
        assert_eq!(h.sup.services["d"].main_pid(), None, "round {round}");
        h.feed(&[reading_by(h.id("d"), new, 25, 150, 300)]);
        let d = &h.sup.services["d"];
        assert_eq!(d.pids(), vec![pid(new), pid(25)], "round {round}");
        assert_eq!(d.restarts, 0);
    }
    // A stop reaches both.
    let (_, actions) = control(&mut h, "stop d");
    for p in [36, 25] {
        assert!(
            actions.contains(&signal(Target::Process(pid(p)), libc::SIGTERM)),
            "{actions:?}"
        );
    }
}

#[test]
fn a_simple_service_s_leftovers_are_awaited_though_the_tracker_knows_no_launch_of_it() {
    // Only forking launches are the tracker's: for a simple service the
    // search answers with no context, and the service's own launch tells.
    let mut h = Harness::services(vec![unit("s", Kind::Simple, &[])], false);
    h.raw = true;
    h.boot();
    h.spawned("s", 20);
    h.feed(&[killed(20, 9)]);
    assert_eq!(h.state("s"), "stopping");
    let mut left = adopted(h.id("s"), &[(21, 20, 150, None)]);
    if let Event::Adopted { context, .. } = &mut left {
        *context = None;
    }
    h.feed(&[left]);
    assert_eq!(
        h.state("s"),
        "stopping",
        "the background process is awaited"
    );
    assert_eq!(
        h.feed(&[exited(21, 0)]),
        vec![Action::FindAdopted(h.id("s"))]
    );
    let mut none = adopted(h.id("s"), &[]);
    if let Event::Adopted { context, .. } = &mut none {
        *context = None;
    }
    h.feed(&[none]);
    assert_eq!(h.state("s"), "backoff");
}

/// `message` from `sender`, in the session of the process 100 (or, for
/// 999, in a session of its own), with `fds` descriptors.
fn with_fds(message: &str, sender: i32, fds: usize) -> Event {
    Event::Notify {
        sender: pid(sender),
        session: Some(pid(if sender == 999 { 999 } else { 100 })),
        cgroup: CgroupMembership::Unknown,
        message: crate::notify::parse(message.as_bytes()).expect("a notify message"),
        main: None,
        fds: (fds > 0).then_some(Parcel { id: 9, count: fds }),
    }
}

fn stored(h: &Harness, name: &str, counts: &[(&str, usize)]) -> Event {
    Event::Stored {
        service: h.id(name),
        stored: counts
            .iter()
            .map(|(n, c)| StoredCount {
                name: n.to_string(),
                count: *c,
            })
            .collect(),
    }
}

#[test]
fn fdstore_1_from_the_services_own_process_is_kept_up_to_its_fd_store() {
    let mut u = unit("web", Kind::Simple, &[]);
    u.fd_store = 4;
    let mut h = Harness::services(vec![u, unit("plain", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("web", 100);
    h.spawned("plain", 200);
    let store = |parcel| Action::StoreFds {
        service: h.id("web"),
        parcel,
        name: "state".into(),
        poll: true,
        max: 4,
    };
    let expected = store(9);
    assert_eq!(
        h.feed(&[with_fds("FDSTORE=1\nFDNAME=state", 101, 2)]),
        vec![expected]
    );
    // Without FDSTORE=1, from a stranger, or for a service without an fd
    // store: nothing is kept (the loop closes the parcel).
    assert_eq!(h.feed(&[with_fds("FDNAME=state", 101, 2)]), vec![]);
    assert_eq!(h.feed(&[with_fds("FDSTORE=1", 999, 2)]), vec![]);
    let for_plain = Event::Notify {
        sender: pid(201),
        session: Some(pid(200)),
        cgroup: CgroupMembership::Unknown,
        message: crate::notify::parse(b"FDSTORE=1").expect("a notify message"),
        main: None,
        fds: Some(Parcel { id: 9, count: 1 }),
    };
    assert_eq!(h.feed(&[for_plain]), vec![]);
    // FDPOLL=0, a bad name (stored as "stored"), a removal.
    assert_eq!(
        h.feed(&[with_fds("FDSTORE=1\nFDPOLL=0\nFDNAME=a:b", 100, 1)]),
        vec![Action::StoreFds {
            service: h.id("web"),
            parcel: 9,
            name: "stored".into(),
            poll: false,
            max: 4,
        }]
    );
    assert_eq!(
        h.feed(&[with_fds("FDSTOREREMOVE=1\nFDNAME=state", 100, 0)]),
        vec![Action::RemoveStoredFds {
            service: h.id("web"),
            name: "state".into()
        }]
    );
    assert_eq!(
        h.feed(&[with_fds("FDSTOREREMOVE=1\nFDNAME=a:b", 100, 0)]),
        vec![]
    );
}

#[test]
fn stored_fds_survive_a_crash_and_a_restart_but_not_a_stop_on_request() {
    let mut u = unit("web", Kind::Simple, &[]);
    u.fd_store = 4;
    u.restart = Restart::Always;
    u.restart_delay = Duration::ZERO;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("web", 100);
    h.feed(&[stored(&h, "web", &[("state", 1), ("conn", 2)])]);
    let json = |h: &mut Harness| control(h, "status --json web").0.text;
    assert!(
        json(&mut h)
            .contains(r#""stored_fds":[{"name":"state","count":1},{"name":"conn","count":2}]"#),
        "{}",
        json(&mut h)
    );
    // A crash: restarted, the store kept.
    let actions = h.feed(&[killed(100, libc::SIGKILL), done(false)]);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::DropStoredFds(_)))
    );
    let _ = h.tick();
    h.spawned("web", 110);
    // A restart on request: kept.
    let (_, actions) = control(&mut h, "restart web");
    let actions = [actions, h.feed(&[killed(110, libc::SIGTERM), done(false)])].concat();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::DropStoredFds(_))),
        "{actions:?}"
    );
    h.spawned("web", 120);
    assert_eq!(h.sup.services["web"].stored.len(), 2);
    // A stop on request: dropped once it is down, not before (on its way
    // down it is still the service's, and may store more).
    let (_, actions) = control(&mut h, "stop web");
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::DropStoredFds(_)))
    );
    let actions = h.feed(&[killed(120, libc::SIGTERM), done(false)]);
    assert!(
        actions.contains(&Action::DropStoredFds(h.id("web"))),
        "{actions:?}"
    );
    assert!(h.sup.services["web"].stored.is_empty());
    assert!(json(&mut h).contains(r#""stored_fds":[]"#));
}

/// A notify service with `restart_mode: overlap`, started as 100 and
/// ready.
fn overlapping() -> Harness {
    let mut u = unit("web", Kind::Notify, &[]);
    u.restart_mode = crate::unit::RestartMode::Overlap;
    u.restart = Restart::Always;
    u.restart_delay = Duration::ZERO;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("web", 100);
    h.feed(&[note(100, Some(100), ready_message(), None)]);
    assert_eq!(h.state("web"), "running");
    h
}

fn ready_message() -> Message {
    Message {
        ready: true,
        ..Message::default()
    }
}

fn signals_to(actions: &[Action], target: Target) -> Vec<i32> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal { target: t, sig } if *t == target => Some(*sig),
            _ => None,
        })
        .collect()
}

#[test]
fn an_overlapped_restart_stops_the_old_run_only_once_the_new_one_is_ready() {
    let mut h = overlapping();
    let actions = request(&mut h, 1, "restart --wait web");
    // The new run starts; the old one is not touched.
    assert_eq!(actions, vec![Action::Start(h.id("web"))]);
    h.spawned("web", 200);
    assert_eq!(h.state("web"), "starting");
    // Serving meanwhile: its dependents may go on.
    assert!(h.sup.services["web"].ready());
    // READY=1 from the old run is not the new one's.
    assert_eq!(
        h.feed(&[note(100, Some(100), ready_message(), None)]),
        vec![]
    );
    assert_eq!(h.state("web"), "starting");
    let actions = h.feed(&[note(200, Some(200), ready_message(), None)]);
    assert_eq!(
        signals_to(&actions, Target::Group(pid(100))),
        [libc::SIGTERM, libc::SIGCONT]
    );
    assert_eq!(
        replies_to(Client(1), &actions)
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>(),
        ["web is running (PID 200)\n"]
    );
    assert_eq!(h.state("web"), "running");
    // The old run's end is no restart; the new run is the service's.
    let actions = h.feed(&[killed(100, libc::SIGTERM), done(true)]);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Start(_))),
        "{actions:?}"
    );
    assert_eq!(h.state("web"), "running");
    assert_eq!(h.sup.services["web"].main_pid(), Some(pid(200)));
    assert_eq!(h.sup.services["web"].restarts, 1);
    assert!(h.sup.services["web"].outgoing.is_none());
}

#[test]
fn an_overlapped_restart_whose_new_run_fails_leaves_the_old_one_serving() {
    // The new run exits before it is ready.
    let mut h = overlapping();
    request(&mut h, 1, "restart --wait web");
    h.spawned("web", 200);
    let actions = h.feed(&[exited(200, 1), done(true)]);
    assert_eq!(
        signals_to(&actions, Target::Group(pid(100))),
        Vec::<i32>::new()
    );
    assert_eq!(
        signals_to(&actions, Target::Group(pid(200))),
        [libc::SIGKILL]
    );
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Start(_))),
        "{actions:?}"
    );
    let replies = replies_to(Client(1), &actions);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].outcome, ReplyOutcome::Error);
    assert!(
        replies[0].text.contains("overlapped restart failed"),
        "{:?}",
        replies[0]
    );
    assert_eq!(h.state("web"), "running");
    assert_eq!(h.sup.services["web"].main_pid(), Some(pid(100)));
    // Not ready within start_timeout: killed, and the same.
    request(&mut h, 2, "restart --wait web");
    h.spawned("web", 300);
    let actions = h.tick();
    assert_eq!(
        signals_to(&actions, Target::Group(pid(300))),
        [libc::SIGKILL]
    );
    assert_eq!(
        signals_to(&actions, Target::Group(pid(100))),
        Vec::<i32>::new()
    );
    let actions = h.feed(&[killed(300, libc::SIGKILL), done(true)]);
    assert_eq!(
        replies_to(Client(2), &actions)[0].outcome,
        ReplyOutcome::Error
    );
    assert_eq!(h.sup.services["web"].main_pid(), Some(pid(100)));
    assert_eq!(h.state("web"), "running");
    // A crash still restarts stop-start.
    let actions = h.feed(&[killed(100, libc::SIGKILL), done(false)]);
    let actions = [actions, h.tick()].concat();
    assert!(actions.contains(&Action::Start(h.id("web"))), "{actions:?}");
}

#[test]
fn a_stop_during_an_overlapped_restart_stops_both_runs() {
    let mut h = overlapping();
    request(&mut h, 1, "restart --wait web");
    h.spawned("web", 200);
    let (_, actions) = control(&mut h, "stop web");
    assert_eq!(
        signals_to(&actions, Target::Group(pid(100))),
        [libc::SIGTERM, libc::SIGCONT]
    );
    assert_eq!(
        signals_to(&actions, Target::Group(pid(200))),
        [libc::SIGTERM, libc::SIGCONT]
    );
    h.feed(&[killed(200, libc::SIGTERM), done(true)]);
    assert_eq!(h.state("web"), "stopping");
    h.feed(&[killed(100, libc::SIGTERM), done(false)]);
    assert_eq!(h.state("web"), "stopped");
}

#[test]
fn the_old_run_ending_during_an_overlap_leaves_the_new_one_starting() {
    let mut h = overlapping();
    request(&mut h, 1, "restart --wait web");
    h.spawned("web", 200);
    let actions = h.feed(&[killed(100, libc::SIGKILL), done(true)]);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Start(_))),
        "{actions:?}"
    );
    assert_eq!(h.state("web"), "starting");
    let actions = h.feed(&[note(200, Some(200), ready_message(), None)]);
    assert_eq!(replies_to(Client(1), &actions).len(), 1);
    assert_eq!(h.state("web"), "running");
}

// ---- the watchdog ----------------------------------------------------------

/// A unit with a watchdog of `secs`.
fn watched_unit(name: &str, kind: Kind, secs: u64) -> Unit {
    let mut u = unit(name, kind, &[]);
    u.watchdog = Some(Duration::from_secs(secs));
    u
}

fn watchdog_message(text: &[u8]) -> Message {
    crate::notify::parse(text).expect("an sd_notify message")
}

fn last_exit_reason(h: &Harness, name: &str) -> Option<&'static str> {
    h.sup.services[name].last_exit_reason.map(|r| r.as_str())
}

#[test]
fn a_service_that_stops_pinging_gets_its_watchdog_signal_then_sigkill_and_restarts_as_failed() {
    let mut h = Harness::services(vec![watched_unit("w", Kind::Simple, 10)], false);
    h.raw = true;
    h.boot();
    h.spawned("w", 101);
    let t0 = h.now;
    // Armed at readiness (a simple service is ready once spawned).
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(10)));
    // A ping from the service moves it; one from a stranger does not.
    h.now = t0 + Duration::from_secs(6);
    h.feed(&[note(101, Some(101), watchdog_message(b"WATCHDOG=1"), None)]);
    h.feed(&[note(999, Some(999), watchdog_message(b"WATCHDOG=1"), None)]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(16)));
    // No more pings: SIGABRT (and SIGCONT) to its process group.
    let fired = h.tick();
    assert_eq!(h.now, t0 + Duration::from_secs(16));
    assert_eq!(
        fired,
        vec![
            signal(Target::Group(pid(101)), libc::SIGABRT),
            signal(Target::Group(pid(101)), libc::SIGCONT),
        ]
    );
    assert_eq!(h.state("w"), "stopping");
    // Still there at stop_timeout: SIGKILL.
    let killed_at = h.tick();
    assert!(killed_at.contains(&signal(Target::Group(pid(101)), libc::SIGKILL)));
    // It caught the signal and exited 0: a failure all the same, so
    // `restart: on-failure` restarts it once what it left is looked for.
    let after = h.feed(&[exited(101, 0)]);
    assert_eq!(after, vec![Action::FindAdopted(h.id("w"))]);
    h.feed(&[Event::Adopted {
        service: h.id("w"),
        found: vec![],
        context: Some(context()),
        members: None,
    }]);
    assert_eq!(h.state("w"), "backoff");
    assert_eq!(last_exit_reason(&h, "w"), Some("watchdog"));
    assert!(
        h.sup.services["w"]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("watchdog"))
    );
    // The restart is a new run with a watchdog of its own, armed anew.
    assert_eq!(h.tick(), vec![Action::Start(h.id("w"))]);
    h.spawned("w", 102);
    assert_eq!(h.sup.next_deadline(), Some(h.now + Duration::from_secs(10)));
}

#[test]
fn the_watchdog_is_armed_at_readiness_and_dies_with_the_run() {
    let mut h = Harness::services(vec![watched_unit("n", Kind::Notify, 3)], false);
    h.boot();
    h.spawned("n", 101);
    let t0 = h.now;
    // Starting: only start_timeout is due; a ping now arms nothing.
    h.feed(&[note(101, Some(101), watchdog_message(b"WATCHDOG=1"), None)]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(30)));
    h.now = t0 + Duration::from_secs(1);
    h.feed(&[note(101, Some(101), watchdog_message(b"READY=1"), None)]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(4)));
    // A crash ends the run: no watchdog deadline while it backs off.
    h.feed(&[exited(101, 3)]);
    assert_eq!(h.state("n"), "backoff");
    assert!(h.sup.services["n"].watchdog.is_none());
    assert_eq!(last_exit_reason(&h, "n"), Some("exited"));
    assert_eq!(h.sup.next_deadline(), Some(h.now + Duration::from_secs(1)));
}

#[test]
fn watchdog_trigger_fires_at_once_and_watchdog_usec_changes_the_timeout() {
    let mut h = Harness::services(
        vec![
            watched_unit("a", Kind::Simple, 10),
            unit("b", Kind::Simple, &[]),
        ],
        false,
    );
    h.raw = true;
    h.boot();
    h.spawned("a", 101);
    h.spawned("b", 201);
    let t0 = h.now;
    // WATCHDOG_USEC=2s: due 2 s from now, and after each ping.
    h.feed(&[note(
        101,
        Some(101),
        watchdog_message(b"WATCHDOG_USEC=2000000"),
        None,
    )]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(2)));
    // A service without `watchdog:` may ask for one too (as systemd).
    h.feed(&[note(
        201,
        Some(201),
        watchdog_message(b"WATCHDOG_USEC=1000000"),
        None,
    )]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(1)));
    // ... and turn it off again.
    h.feed(&[note(
        201,
        Some(201),
        watchdog_message(b"WATCHDOG_USEC=0"),
        None,
    )]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(2)));
    // WATCHDOG=trigger: the watchdog signal at once.
    let fired = h.feed(&[note(
        101,
        Some(101),
        watchdog_message(b"WATCHDOG=trigger"),
        None,
    )]);
    assert_eq!(
        fired,
        vec![
            signal(Target::Group(pid(101)), libc::SIGABRT),
            signal(Target::Group(pid(101)), libc::SIGCONT),
        ]
    );
    h.feed(&[killed(101, libc::SIGABRT)]);
    h.feed(&[Event::Adopted {
        service: h.id("a"),
        found: vec![],
        context: Some(context()),
        members: None,
    }]);
    assert_eq!(h.state("a"), "backoff");
    assert_eq!(last_exit_reason(&h, "a"), Some("watchdog"));
    assert_eq!(
        h.sup.services["a"].last_exit.map(|s| s.shell_code()),
        Some(134)
    );
    assert_eq!(h.state("b"), "running");
}

#[test]
fn a_stop_request_during_a_watchdog_kill_leaves_the_service_stopped() {
    let mut u = watched_unit("w", Kind::Simple, 5);
    u.restart = Restart::Always;
    let mut h = Harness::services(vec![u], false);
    h.raw = true;
    h.boot();
    h.spawned("w", 101);
    h.tick();
    assert_eq!(h.state("w"), "stopping");
    control(&mut h, "stop w");
    h.feed(&[killed(101, libc::SIGABRT)]);
    h.feed(&[Event::Adopted {
        service: h.id("w"),
        found: vec![],
        context: Some(context()),
        members: None,
    }]);
    assert_eq!(h.state("w"), "stopped");
    assert_eq!(last_exit_reason(&h, "w"), Some("watchdog"));
}

#[test]
fn extend_timeout_usec_moves_the_start_deadline_and_a_start_timeout_is_the_reason() {
    let mut h = Harness::services(vec![unit("n", Kind::Notify, &[])], false);
    h.boot();
    h.spawned("n", 101);
    let t0 = h.now;
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(30)));
    // Shorter than what is left: no change; longer: the deadline moves.
    h.feed(&[note(
        101,
        Some(101),
        watchdog_message(b"EXTEND_TIMEOUT_USEC=5000000"),
        None,
    )]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(30)));
    h.now = t0 + Duration::from_secs(20);
    h.feed(&[note(
        101,
        Some(101),
        watchdog_message(b"EXTEND_TIMEOUT_USEC=60000000"),
        None,
    )]);
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(80)));
    // Not ready by then: killed, and that is why it ended.
    assert_eq!(
        h.tick(),
        vec![signal(Target::Group(pid(101)), libc::SIGKILL)]
    );
    h.feed(&[killed(101, libc::SIGKILL)]);
    assert_eq!(h.state("n"), "backoff");
    assert_eq!(last_exit_reason(&h, "n"), Some("start-timeout"));
}

// ---- health checks -------------------------------------------------------------

fn healthy_unit(name: &str, deps: &[&str], f: impl FnOnce(&mut crate::unit::HealthCheck)) -> Unit {
    let mut u = unit(name, Kind::Simple, deps);
    let mut check = crate::unit::HealthCheck::new(crate::unit::HealthProbe::Tcp(
        "127.0.0.1:9".parse().unwrap(),
    ));
    check.interval = Duration::from_secs(10);
    check.timeout = Duration::from_secs(3);
    check.retries = 2;
    f(&mut check);
    u.health = Some(check);
    u
}

/// The probe the actions start, if any: its id.
fn probe_started(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Probe { probe, .. } => Some(*probe),
        _ => None,
    })
}

fn probe_result(h: &Harness, name: &str, probe: u64, healthy: bool) -> Event {
    Event::ProbeDone {
        service: h.id(name),
        probe,
        result: ProbeResult {
            healthy,
            output: if healthy {
                String::new()
            } else {
                "refused\nmore".into()
            },
        },
    }
}

fn health_of(h: &Harness, name: &str) -> Option<&'static str> {
    h.sup.services[name].health.map(|x| x.status.as_str())
}

#[test]
fn probes_run_interval_apart_after_readiness_and_retries_failures_restart_it_as_failed() {
    let mut h = Harness::services(vec![healthy_unit("web", &[], |_| {})], false);
    h.raw = true;
    h.boot();
    h.spawned("web", 101);
    let t0 = h.now;
    assert_eq!(health_of(&h, "web"), Some("starting"));
    // The first probe `interval` after readiness; then its timeout is due.
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(10)));
    let first = probe_started(&h.tick()).expect("a probe");
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(13)));
    h.now = t0 + Duration::from_secs(11);
    h.feed(&[probe_result(&h, "web", first, true)]);
    assert_eq!(health_of(&h, "web"), Some("healthy"));
    // The next `interval` after the previous one finished.
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(21)));
    let second = probe_started(&h.tick()).expect("a probe");
    h.feed(&[probe_result(&h, "web", second, false)]);
    // One failure of two: still healthy, and counted.
    assert_eq!(health_of(&h, "web"), Some("healthy"));
    assert_eq!(h.sup.services["web"].health.unwrap().failing_streak, 1);
    assert_eq!(
        h.sup.services["web"].last_health_output.as_deref(),
        Some("refused\nmore")
    );
    // A result nobody waits for (an old probe's) changes nothing.
    h.feed(&[probe_result(&h, "web", first, false)]);
    assert_eq!(h.sup.services["web"].health.unwrap().failing_streak, 1);
    // The third hangs: cancelled at its timeout, failed, and the second
    // failure in a row makes it unhealthy: stopped (stop_signal), its end
    // a failure, so on-failure restarts it.
    let third = probe_started(&h.tick()).expect("a probe");
    let timed_out = h.tick();
    assert!(
        timed_out.contains(&Action::CancelProbe { probe: third }),
        "{timed_out:?}"
    );
    assert!(timed_out.contains(&signal(Target::Group(pid(101)), libc::SIGTERM)));
    assert_eq!(h.state("web"), "stopping");
    assert_eq!(
        h.sup.services["web"].last_health_output.as_deref(),
        Some("the probe timed out after 3s")
    );
    h.feed(&[exited(101, 0)]);
    h.feed(&[Event::Adopted {
        service: h.id("web"),
        found: vec![],
        context: Some(context()),
        members: None,
    }]);
    assert_eq!(h.state("web"), "backoff");
    assert_eq!(last_exit_reason(&h, "web"), Some("unhealthy"));
    assert!(h.sup.services["web"].health.is_none());
    // The next run starts over.
    h.tick();
    h.spawned("web", 102);
    assert_eq!(health_of(&h, "web"), Some("starting"));
    assert_eq!(h.sup.next_deadline(), Some(h.now + Duration::from_secs(10)));
}

#[test]
fn readiness_waits_for_the_first_success_and_start_period_failures_do_not_count() {
    let db = healthy_unit("db", &[], |c| {
        c.readiness = true;
        c.retries = 1;
        c.start_period = Duration::from_secs(60);
        c.start_interval = Duration::from_secs(2);
    });
    let mut h = Harness::services(vec![db, unit("app", Kind::Simple, &["db"])], false);
    h.boot();
    h.spawned("db", 101);
    let t0 = h.now;
    assert_eq!(h.state("db"), "starting");
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(2)));
    let first = probe_started(&h.tick()).expect("a probe");
    // A failure within the start period: not counted, the next at
    // start_interval.
    assert_eq!(h.feed(&[probe_result(&h, "db", first, false)]), vec![]);
    assert_eq!(health_of(&h, "db"), Some("starting"));
    assert_eq!(h.state("db"), "starting");
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(4)));
    let second = probe_started(&h.tick()).expect("a probe");
    // The first success: ready, and its dependent starts.
    assert_eq!(
        h.feed(&[probe_result(&h, "db", second, true)]),
        vec![Action::Start(h.id("app"))]
    );
    assert_eq!(h.state("db"), "running");
    assert_eq!(health_of(&h, "db"), Some("healthy"));
    // The period is over: the next probe is `interval` away, and one
    // failure (retries: 1) is enough now.
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(14)));
}

#[test]
fn a_probed_service_never_ready_within_start_timeout_is_killed() {
    let db = healthy_unit("db", &[], |c| {
        c.readiness = true;
        c.retries = 10;
    });
    let mut h = Harness::services(vec![db], false);
    h.boot();
    h.spawned("db", 101);
    let t0 = h.now;
    // Probes every 10 s, each failing: never ready.
    for _ in 0..2 {
        let id = probe_started(&h.tick()).expect("a probe");
        h.feed(&[probe_result(&h, "db", id, false)]);
    }
    assert_eq!(h.state("db"), "starting");
    h.now = t0 + Duration::from_secs(30);
    let actions = h.feed(&[Event::Tick]);
    assert!(
        actions.contains(&signal(Target::Group(pid(101)), libc::SIGKILL)),
        "{actions:?}"
    );
    // No probe of a run being killed.
    assert_eq!(probe_started(&actions), None, "{actions:?}");
    h.feed(&[killed(101, libc::SIGKILL)]);
    assert_eq!(last_exit_reason(&h, "db"), Some("start-timeout"));
}

#[test]
fn on_unhealthy_none_only_shows_it_and_status_exits_3_until_it_is_healthy_again() {
    let web = healthy_unit("web", &[], |c| {
        c.retries = 1;
        c.on_unhealthy = crate::unit::OnUnhealthy::None;
    });
    let mut h = Harness::services(vec![web, unit("other", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("web", 101);
    h.spawned("other", 201);
    let id = probe_started(&h.tick()).expect("a probe");
    assert_eq!(h.feed(&[probe_result(&h, "web", id, false)]), vec![]);
    assert_eq!(health_of(&h, "web"), Some("unhealthy"));
    assert_eq!(h.state("web"), "running");
    let (reply, _) = control(&mut h, "status web");
    assert_eq!(reply.outcome, ReplyOutcome::Down);
    assert!(
        reply.text.contains("(unhealthy: 1 failed)"),
        "{}",
        reply.text
    );
    // `status` of everything: one unhealthy service is enough.
    assert_eq!(control(&mut h, "status").0.outcome, ReplyOutcome::Down);
    assert_eq!(control(&mut h, "status other").0.outcome, ReplyOutcome::Ok);
    let (json, _) = control(&mut h, "status --json web");
    assert!(
        json.text.contains(
            r#""health":"unhealthy","failing_streak":1,"last_health_output":"refused\nmore""#
        ),
        "{}",
        json.text
    );
    let id = probe_started(&h.tick()).expect("a probe");
    h.feed(&[probe_result(&h, "web", id, true)]);
    assert_eq!(control(&mut h, "status web").0.outcome, ReplyOutcome::Ok);
    assert_eq!(control(&mut h, "status").0.outcome, ReplyOutcome::Ok);
}

#[test]
fn on_unhealthy_stop_leaves_it_stopped_and_shutdown_ends_the_run_with_1() {
    let stop = healthy_unit("stop", &[], |c| {
        c.retries = 1;
        c.on_unhealthy = crate::unit::OnUnhealthy::Stop;
    });
    let mut h = Harness::services(vec![stop], false);
    h.boot();
    h.spawned("stop", 101);
    let id = probe_started(&h.tick()).expect("a probe");
    let actions = h.feed(&[probe_result(&h, "stop", id, false)]);
    assert!(actions.contains(&signal(Target::Group(pid(101)), libc::SIGTERM)));
    h.feed(&[exited(101, 0)]);
    assert_eq!(h.state("stop"), "stopped");
    assert_eq!(last_exit_reason(&h, "stop"), Some("unhealthy"));

    let down = healthy_unit("down", &[], |c| {
        c.retries = 1;
        c.on_unhealthy = crate::unit::OnUnhealthy::Shutdown;
    });
    let mut h = Harness::services(vec![down], false);
    h.boot();
    h.spawned("down", 101);
    let id = probe_started(&h.tick()).expect("a probe");
    let actions = h.feed(&[probe_result(&h, "down", id, false)]);
    assert!(actions.contains(&signal(Target::Group(pid(101)), libc::SIGTERM)));
    h.feed(&[killed(101, libc::SIGTERM)]);
    assert_eq!(h.feed(&[done(false)]), vec![Action::Exit(1)]);
}

#[test]
fn a_probe_is_cancelled_when_its_run_ends_and_its_process_is_never_the_services() {
    let mut u = healthy_unit("web", &[], |_| {});
    u.kind = Kind::Forking;
    let mut h = Harness::services(vec![healthy_unit("app", &[], |_| {}), u], false);
    h.boot();
    h.spawned("app", 101);
    h.spawned("web", 201);
    let id = probe_started(&h.tick()).expect("a probe of app");
    h.feed(&[Event::ProbeStarted {
        service: h.id("app"),
        probe: id,
        pid: pid(150),
    }]);
    // web's launcher is starting: exits are held, but never a probe's.
    assert!(h.sup.holding());
    assert!(h.sup.holds(pid(151)));
    assert!(!h.sup.holds(pid(150)));
    // Nor is it what web's launch left.
    assert!(h.sup.pids_elsewhere(h.id("web")).contains(&pid(150)));
    assert!(h.sup.pids_elsewhere(h.id("app")).contains(&pid(150)));
    // app crashes while its probe runs: the probe is cancelled.
    let actions = h.feed(&[exited(101, 1)]);
    assert!(
        actions.contains(&Action::CancelProbe { probe: id }),
        "{actions:?}"
    );
    assert!(h.sup.services["app"].health.is_none());
}

/// Issue 15 item 4: an OOM kill reported before the exit it caused makes
/// the run's end a failure for it (`last_exit_reason: oom`, the status
/// text says so) whatever its status; the restart policy applies, and the
/// next run starts clean. One after the run ended is no news.
#[test]
fn an_oom_kill_ends_the_run_as_oom_and_the_restart_policy_decides() {
    let mut h = Harness::services(vec![unit("hog", Kind::Simple, &[])], false);
    h.boot();
    h.spawned("hog", 101);
    let hog = h.id("hog");
    h.feed(&[Event::OomKilled(hog), killed(101, libc::SIGKILL)]);
    assert_eq!(last_exit_reason(&h, "hog"), Some("oom"));
    assert_eq!(h.state("hog"), "backoff");
    let (reply, _) = control(&mut h, "status hog");
    assert!(
        reply.text.contains("137  (killed by the OOM killer)"),
        "{}",
        reply.text
    );
    let (json, _) = control(&mut h, "status --json hog");
    assert!(
        json.text.contains(r#""last_exit":137,"#)
            && json.text.contains(r#""last_exit_reason":"oom""#)
            && json.text.ends_with("\"limits_enforced\":null}]\n"),
        "{}",
        json.text
    );
    // An OOM kill in a shell's child: the shell's 0 is no success.
    assert_eq!(h.tick(), vec![Action::Start(hog)]);
    h.spawned("hog", 102);
    assert!(!h.sup.services["hog"].oom_killed);
    h.feed(&[Event::OomKilled(hog), exited(102, 0)]);
    assert_eq!(last_exit_reason(&h, "hog"), Some("oom"));
    assert_eq!(h.state("hog"), "backoff");
    // After the end: not the next run's.
    h.feed(&[Event::OomKilled(hog)]);
    assert_eq!(h.tick(), vec![Action::Start(hog)]);
    h.spawned("hog", 103);
    h.feed(&[exited(103, 0)]);
    assert_eq!(last_exit_reason(&h, "hog"), Some("exited"));
    assert_eq!(h.state("hog"), "stopped");
}

/// `limits_enforced` says what the latest start managed, for a unit with
/// cgroup limits only.
#[test]
fn limits_enforced_is_the_latest_starts_for_a_unit_with_cgroup_limits() {
    let mut limited = unit("limited", Kind::Simple, &[]);
    limited.cgroup_limits.pids_max = Some(crate::unit::Amount::Value(20));
    let mut h = Harness::services(vec![limited], false);
    h.boot();
    let json = |h: &mut Harness| control(h, "status --json limited").0.text;
    assert!(json(&mut h).ends_with("\"limits_enforced\":null}]\n"));
    h.feed(&[Event::ServiceSpawned {
        service: h.id("limited"),
        result: Ok(crate::service::Launched {
            pid: pid(101),
            ticks: Some(100),
            cgroup: true,
            limits_enforced: Some(false),
        }),
    }]);
    let text = json(&mut h);
    assert!(text.ends_with("\"limits_enforced\":false}]\n"), "{text}");
}

#[test]
fn readiness_probes_come_at_start_interval_and_a_run_being_killed_leaves_no_overdue_deadline() {
    // Docker's defaults and the default start_timeout: both 30 s. The
    // probes of a run not ready yet come every start_interval (5 s), so
    // the first is not lost to the start timeout.
    let mut u = unit("db", Kind::Simple, &[]);
    let mut check = crate::unit::HealthCheck::new(crate::unit::HealthProbe::Tcp(
        "127.0.0.1:9".parse().unwrap(),
    ));
    check.readiness = true;
    check.retries = 100;
    u.health = Some(check);
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("db", 101);
    let t0 = h.now;
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(5)));
    // Never healthy: at start_timeout it is killed; until its exit is in,
    // no deadline is overdue (the timer would fire again and again).
    loop {
        let actions = h.tick();
        if actions.contains(&signal(Target::Group(pid(101)), libc::SIGKILL)) {
            break;
        }
        if let Some(id) = probe_started(&actions) {
            h.feed(&[probe_result(&h, "db", id, false)]);
        }
        assert!(h.now < t0 + Duration::from_secs(31), "never killed");
    }
    assert!(
        h.sup.next_deadline().is_none_or(|d| d > h.now),
        "an overdue deadline after the kill"
    );
}

#[test]
fn a_reload_during_a_watchdog_kill_restarts_the_service_with_the_new_unit() {
    let mut h = Harness::services(vec![watched_unit("w", Kind::Simple, 5)], false);
    h.raw = true;
    h.boot();
    h.spawned("w", 101);
    h.tick();
    assert_eq!(h.state("w"), "stopping");
    // A reload that changes the unit while it is being killed.
    let mut changed = watched_unit("w", Kind::Simple, 5);
    changed.command = vec!["new".into()];
    let loaded = crate::unit::Loaded {
        units: [("w".to_string(), changed)].into(),
        ..Default::default()
    };
    let mut actions = Vec::new();
    h.sup.units_loaded(None, Ok(loaded), h.now, &mut actions);
    h.feed(&[killed(101, libc::SIGABRT)]);
    let actions = h.feed(&[Event::Adopted {
        service: h.id("w"),
        found: vec![],
        context: Some(context()),
        members: None,
    }]);
    // Started again, as the new version: not restarted as the old one.
    assert_eq!(h.sup.services["w"].unit.command, ["new"]);
    assert!(h.sup.services["w"].pending.is_none());
    assert!(actions.contains(&Action::Start(h.id("w"))), "{actions:?}");
}

#[test]
fn the_watchdog_is_armed_afresh_when_a_followed_daemon_hands_over() {
    let mut u = watched_unit("d", Kind::Simple, 10);
    u.restart = Restart::Always;
    let mut h = Harness::services(vec![u], false);
    h.boot();
    h.spawned("d", 101);
    let t0 = h.now;
    assert_eq!(h.sup.next_deadline(), Some(t0 + Duration::from_secs(10)));
    // Its run leaves Running (as a daemon being succeeded does) for 9 s,
    // then is Running again: the watchdog counts from then, not from
    // before.
    let s = h.sup.services.get_mut("d").unwrap();
    let Life::Running {
        since,
        watched,
        origin,
    } = s.life.clone()
    else {
        panic!("not running")
    };
    s.life = Life::Succession {
        since,
        origin,
        dead: watched.main,
        status: WaitStatus::Exited(0),
        others: vec![],
    };
    h.feed(&[done(true)]);
    assert_eq!(h.sup.services["d"].watchdog_due(), None);
    h.now = t0 + Duration::from_secs(9);
    let s = h.sup.services.get_mut("d").unwrap();
    s.life = Life::Running {
        since,
        watched: crate::service::Watched::one(pid(102)),
        origin,
    };
    h.feed(&[done(true)]);
    assert_eq!(
        h.sup.services["d"].watchdog_due(),
        Some(t0 + Duration::from_secs(19))
    );
}
