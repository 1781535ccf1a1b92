//! Control request lines through `control::parse` and then through the
//! supervisor's answer (`Event::Request`, answered by `Action::Reply`,
//! after the loop's part for a kill or a reload), on a supervisor running a
//! few services: the whole of what a hostile `fosterctl` could reach,
//! without a socket.
//!
//! Input: one request per line, answered in turn by the same supervisor,
//! so that sequences (`stop web`, `start web`, `shutdown`, `status`) are
//! explored. Between requests, the world answers the supervisor's actions
//! as the event loop would: a started service is spawned, a signalled one
//! dies of its signal, and a due deadline fires.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use foster::control::{self, Outcome};
use foster::status::{ExpectedStatuses, WaitStatus};
use foster::supervisor::{Action, Client, Errno, Event, Settings, Supervisor, Target};
use foster::sys::Pid;
use foster::unit::{self, Unit};
use libfuzzer_sys::fuzz_target;

const UNITS: &[(&str, &str)] = &[
    (
        "db",
        "command: [\"/bin/db\"]\nrestart: always\nstop_signal: INT\n",
    ),
    ("setup", "type: oneshot\ncommand: \"true\"\n"),
    (
        "web",
        "command: [\"/bin/web\"]\ndepends_on: [db, setup]\nreload_signal: USR1\nstop_timeout: 2s\n",
    ),
    (
        "ticker",
        "type: notify\ncommand: [\"/bin/ticker\"]\nstart_timeout: 10s\n",
    ),
];

fn units() -> Vec<Unit> {
    static UNITS_PARSED: OnceLock<Vec<Unit>> = OnceLock::new();
    UNITS_PARSED
        .get_or_init(|| {
            let files = UNITS
                .iter()
                .map(|(name, text)| {
                    (
                        PathBuf::from(format!("services.d/{name}.yaml")),
                        Ok(text.as_bytes().to_vec()),
                    )
                })
                .collect();
            let loaded =
                unit::check_files(files, &foster::users::UserDb::parse("", ""), &unit::NoProbe);
            assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
            loaded.units.into_values().collect()
        })
        .clone()
}

/// What the event loop would report back for `actions`.
struct World {
    now: Instant,
    next_pid: i32,
    running: Vec<Pid>,
    /// The replies the supervisor gave, by client.
    replies: Vec<(Client, control::Reply)>,
}

impl World {
    fn answer(&mut self, sup: &mut Supervisor, mut actions: Vec<Action>) {
        // Bounded: every answer may ask for more.
        for _ in 0..64 {
            let mut more = Vec::new();
            for action in actions.drain(..) {
                match action {
                    Action::Start(service) => {
                        self.next_pid += 1;
                        let Some(pid) = Pid::new(self.next_pid) else {
                            continue;
                        };
                        self.running.push(pid);
                        let event = Event::ServiceSpawned {
                            service,
                            result: Ok(foster::service::Launched {
                                pid,
                                ticks: None,
                                cgroup: false,
                                limits_enforced: None,
                            }),
                        };
                        sup.handle(event, self.now, &mut more);
                    }
                    Action::Signal {
                        target: Target::Process(pid),
                        sig,
                    } if sig != libc::SIGCONT && sig != 0 && self.running.contains(&pid) => {
                        self.running.retain(|&p| p != pid);
                        let status = WaitStatus::Signaled { sig, core: false };
                        sup.handle(Event::Exited { pid, status }, self.now, &mut more);
                        let done = Event::ReapDone {
                            children_left: !self.running.is_empty(),
                        };
                        sup.handle(done, self.now, &mut more);
                    }
                    Action::Reply { client, reply } => self.replies.push((client, reply)),
                    Action::LoadUnits { client } => {
                        // The same directory, read again.
                        let loaded = foster::unit::Loaded {
                            units: units().into_iter().map(|u| (u.name.clone(), u)).collect(),
                            ..Default::default()
                        };
                        sup.units_loaded(client, Ok(loaded), self.now, &mut more);
                    }
                    Action::Deliver {
                        client,
                        service,
                        sig,
                        targets,
                    } => {
                        // Taken when it reaches a process still running.
                        let taken = targets.iter().any(|t| match t {
                            Target::Process(pid) | Target::Group(pid) => self.running.contains(pid),
                            _ => true,
                        });
                        let event = Event::Delivered {
                            client,
                            service,
                            sig,
                            refused: (!taken).then_some(Errno(libc::ESRCH)),
                        };
                        sup.handle(event, self.now, &mut more);
                    }
                    _ => {}
                }
            }
            if more.is_empty() {
                return;
            }
            actions = more;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let settings = Settings {
        forward_to_group: false,
        expected: ExpectedStatuses::default(),
        grace: Duration::from_secs(5),
        warn_on_reap: false,
        system: data.first().is_some_and(|b| b & 1 == 1),
        identity: foster::supervisor::Identity {
            pid: Pid::INIT,
            session: Some(Pid::INIT),
        },
    };
    let mut sup = Supervisor::new(settings, units(), false, true);
    let mut world = World {
        now: Instant::now(),
        next_pid: 100,
        running: Vec::new(),
        replies: Vec::new(),
    };
    let mut actions = Vec::new();
    sup.boot(world.now, &mut actions);
    world.answer(&mut sup, actions);

    for (n, line) in data.split(|&b| b == b'\n').take(32).enumerate() {
        let line = &line[..line.len().min(control::MAX_REQUEST)];
        let request = match control::parse(line) {
            Ok(request) => request,
            Err(reason) => {
                let rendered = control::Reply::error(reason).render();
                assert_eq!(rendered.iter().filter(|&&b| b == b'\n').count(), 1);
                continue;
            }
        };
        let client = Client(n as u64);
        let waits = matches!(
            request,
            control::Request::Start(_, control::Wait::Yes)
                | control::Request::Stop(_, control::Wait::Yes)
                | control::Request::Restart(_, control::Wait::Yes)
        );
        let mut actions = Vec::new();
        sup.handle(
            Event::Request {
                client,
                request,
                wall: std::time::SystemTime::now(),
            },
            world.now,
            &mut actions,
        );
        world.answer(&mut sup, actions);
        // Every request is answered, once; one that waits, perhaps later
        // (or, when its client leaves, never).
        let answered: Vec<_> = world.replies.iter().filter(|(c, _)| *c == client).collect();
        if waits {
            assert!(answered.len() <= 1, "{answered:?}");
        } else {
            assert_eq!(answered.len(), 1, "{answered:?}");
        }
        // Every reply so far went to one client once.
        for (c, _) in &world.replies {
            assert_eq!(world.replies.iter().filter(|(d, _)| d == c).count(), 1);
        }
        for (_, reply) in &world.replies {
            let rendered = reply.render();
            if reply.outcome == Outcome::Error {
                // One line: fosterctl prints it as the reason.
                assert_eq!(rendered.iter().filter(|&&b| b == b'\n').count(), 1);
                assert!(rendered.ends_with(b"\n"));
            }
        }
        // Now and then a waiting client leaves.
        if n % 3 == 2 {
            let mut actions = Vec::new();
            sup.handle(
                Event::ClientGone(Client(n as u64 - 1)),
                world.now,
                &mut actions,
            );
            world.answer(&mut sup, actions);
        }
        // A deadline due (a stop timeout, a restart delay) fires.
        if let Some(deadline) = sup.next_deadline() {
            world.now = world.now.max(deadline);
            let mut actions = Vec::new();
            sup.handle(Event::Tick, world.now, &mut actions);
            world.answer(&mut sup, actions);
        }
    }
});
