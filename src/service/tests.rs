//! The service's own decisions: restarts, backoff, limits, clearing.

use super::*;

pub fn unit(name: &str, kind: Kind, restart: Restart) -> Unit {
    Unit {
        kind,
        restart,
        restart_delay_max: Duration::from_secs(8),
        ..Unit::new(name, format!("{name}.yaml").into(), vec!["x".into()])
    }
}

/// The launch of process `pid`, its start time unknown.
pub fn launched(pid: i32) -> Launched {
    let pid = Pid::new(pid).expect("a positive PID");
    Launched {
        pid,
        ticks: None,
        cgroup: false,
        limits_enforced: None,
    }
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let (d, m) = (Duration::from_secs(1), Duration::from_secs(8));
    let delays: Vec<u64> = (0..6).map(|f| backoff(d, m, f).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 8, 8]);
    assert_eq!(backoff(d, m, u32::MAX), m);
}

#[test]
fn crash_loop_backs_off_and_a_stable_run_resets_it() {
    let t0 = Instant::now();
    let mut s = Service::new(ServiceId(1), unit("a", Kind::Simple, Restart::OnFailure));
    let mut now = t0;
    let mut delays = vec![];
    for _ in 0..4 {
        s.spawned(launched(1), now);
        match s.ended(WaitStatus::Exited(1), now + Duration::from_millis(10)) {
            Outcome::RestartAfter(d) => delays.push(d.as_secs()),
            other => panic!("{other:?}"),
        }
        now += Duration::from_secs(20);
    }
    assert_eq!(delays, [1, 2, 4, 8]);
    s.spawned(launched(1), now);
    assert_eq!(
        s.ended(WaitStatus::Exited(1), now + STABLE_AFTER),
        Outcome::RestartAfter(Duration::from_secs(1))
    );
}

#[test]
fn restart_policies() {
    let now = Instant::now();
    let clean = WaitStatus::Exited(0);
    let crash = WaitStatus::Signaled {
        sig: 9,
        core: false,
    };
    let run = |kind, restart, status| {
        let mut s = Service::new(ServiceId(1), unit("a", kind, restart));
        s.spawned(launched(1), now);
        s.ended(status, now)
    };
    assert!(matches!(
        run(Kind::Simple, Restart::Always, clean),
        Outcome::RestartAfter(_)
    ));
    assert_eq!(
        run(Kind::Simple, Restart::OnFailure, clean),
        Outcome::Done(Ending::Stopped)
    );
    assert!(matches!(
        run(Kind::Simple, Restart::OnFailure, crash),
        Outcome::RestartAfter(_)
    ));
    assert_eq!(
        run(Kind::Simple, Restart::Never, crash),
        Outcome::Done(Ending::Failed)
    );
    assert_eq!(
        run(Kind::Oneshot, Restart::Never, clean),
        Outcome::Done(Ending::Exited)
    );
    assert_eq!(
        run(Kind::Oneshot, Restart::Never, WaitStatus::Exited(2)),
        Outcome::Done(Ending::Failed)
    );
}

#[test]
fn readiness_by_kind() {
    let now = Instant::now();
    let mut s = Service::new(ServiceId(1), unit("a", Kind::Simple, Restart::Never));
    s.spawned(launched(5), now);
    assert!(s.ready() && s.state_name() == "running");
    let mut n = Service::new(ServiceId(1), unit("n", Kind::Notify, Restart::Never));
    n.spawned(launched(6), now);
    assert!(!n.ready() && n.state_name() == "starting");
    assert_eq!(n.deadline(), Some(now + Duration::from_secs(30)));
}

#[test]
fn a_forking_launcher_that_exits_well_leads_to_the_daemon_being_awaited() {
    let now = Instant::now();
    let mut f = unit("f", Kind::Forking, Restart::Never);
    f.pidfile = Some("/run/f.pid".into());
    let mut s = Service::new(ServiceId(1), f);
    s.spawned(launched(7), now);
    assert_eq!(s.ended(WaitStatus::Exited(0), now), Outcome::AwaitPidfile);
    assert_eq!(
        s.life,
        Life::AwaitingDaemon {
            since: now,
            deadline: now + Duration::from_secs(30),
            emptied: false
        }
    );
    assert!(s.is_down() && !s.ready() && s.main_pid().is_none());
    // The daemon died before it was known: the end, not the launcher.
    assert_eq!(
        s.ended(WaitStatus::Exited(3), now),
        Outcome::Done(Ending::Failed)
    );
}

#[test]
fn a_stop_keeps_the_processes_and_readiness_of_the_run() {
    let now = Instant::now();
    let mut s = Service::new(ServiceId(1), unit("a", Kind::Simple, Restart::Always));
    s.spawned(launched(9), now);
    s.begin_stop(Some(now + Duration::from_secs(5)), false);
    assert_eq!(s.state_name(), "stopping");
    assert!(s.has(launched(9).pid) && s.ready() && !s.is_down());
    assert_eq!(s.deadline(), Some(now + Duration::from_secs(5)));
    s.begin_stop(None, true);
    assert!(matches!(&s.life, Life::Stopping(stop) if stop.killed && stop.deadline.is_none()));
    s.stopped(WaitStatus::Exited(0));
    assert_eq!(s.state_name(), "stopped");
    assert!(!s.ready() && s.is_down());
}
