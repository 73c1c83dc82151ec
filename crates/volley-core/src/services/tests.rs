//! The board driven in virtual time: a tiny discrete-event loop plays the
//! orchestrator, with per-service start-up and stop durations.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Action, Board, BoardSpec, Progress, ServiceState};
use crate::model::RestartPolicy;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn spec(deps: &[usize]) -> BoardSpec {
    BoardSpec { deps: deps.to_vec(), restart: RestartPolicy::No, max_restarts: 0, restart_delay: ms(100) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Ready(usize),
    Exited(usize, bool),
    RestartDue(usize),
}

/// The fake world: when each service becomes ready after a start, how long it takes
/// to stop, and whether attempts crash instead.
struct World {
    board: Board,
    now: Duration,
    queue: BTreeMap<(Duration, u64), Happening>,
    seq: u64,
    ready_after: Vec<Duration>,
    stop_after: Vec<Duration>,
    /// Attempts (per service) that crash before ready.
    crashes_left: Vec<u32>,
    log: Vec<(Duration, String)>,
}

impl World {
    fn new(specs: Vec<BoardSpec>, ready_after: &[u64], stop_after: &[u64]) -> World {
        let n = specs.len();
        World {
            board: Board::new(specs),
            now: Duration::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            ready_after: ready_after.iter().map(|m| ms(*m)).collect(),
            stop_after: stop_after.iter().map(|m| ms(*m)).collect(),
            crashes_left: vec![0; n],
            log: Vec::new(),
        }
    }

    fn at(&mut self, after: Duration, what: Happening) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), what);
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Start(i) => {
                    self.log.push((self.now, format!("start {i}")));
                    if self.crashes_left[i] > 0 {
                        self.crashes_left[i] -= 1;
                        self.at(ms(10), Happening::Exited(i, false));
                    } else {
                        self.at(self.ready_after[i], Happening::Ready(i));
                    }
                }
                Action::RestartAfter(i, delay) => self.at(delay, Happening::RestartDue(i)),
                Action::Stop(i) => {
                    self.log.push((self.now, format!("stop {i}")));
                    self.at(self.stop_after[i], Happening::Exited(i, true));
                }
                Action::Kill(i) => self.at(ms(1), Happening::Exited(i, false)),
            }
        }
    }

    /// Runs until nothing is scheduled.
    fn settle(&mut self) {
        while let Some(((when, _), what)) = self.queue.pop_first() {
            self.now = when;
            let actions = match what {
                Happening::Ready(i) => {
                    // A stale readiness of an attempt that was stopped meanwhile.
                    if self.board.state(i) != ServiceState::Starting {
                        continue;
                    }
                    self.log.push((self.now, format!("ready {i}")));
                    self.board.ready(i)
                }
                Happening::Exited(i, ok) => {
                    self.log.push((self.now, format!("exited {i}")));
                    self.board.exited(i, ok)
                }
                Happening::RestartDue(i) => self.board.restart_due(i),
            };
            self.apply(actions);
        }
    }

    fn time_of(&self, what: &str) -> Duration {
        self.log.iter().find(|(_, w)| w == what).map_or_else(|| panic!("no {what}"), |(t, _)| *t)
    }
}

/// redis(0) → backend(1) → worker(2); frontend(3) → monitor(4) needs backend too.
fn dev_env() -> Vec<BoardSpec> {
    vec![spec(&[]), spec(&[0]), spec(&[0, 1]), spec(&[]), spec(&[3, 1])]
}

#[test]
fn each_service_starts_the_moment_its_deps_are_ready() {
    let mut w = World::new(dev_env(), &[200, 500, 300, 100, 50], &[10; 5]);
    let actions = w.board.up(&[0, 1, 2, 3, 4]);
    w.apply(actions);
    w.settle();
    assert_eq!(w.time_of("start 0"), ms(0));
    assert_eq!(w.time_of("start 3"), ms(0), "no deps: starts at once, beside redis");
    assert_eq!(w.time_of("start 1"), ms(200));
    assert_eq!(w.time_of("start 2"), ms(700));
    assert_eq!(w.time_of("start 4"), ms(700), "monitor waits for the slower of its deps");
    assert_eq!(w.board.progress(&[2, 4]), Progress::AllReady);
}

#[test]
fn up_of_one_service_starts_only_it_and_its_deps() {
    let mut w = World::new(dev_env(), &[10; 5], &[10; 5]);
    let actions = w.board.up(&[1]);
    w.apply(actions);
    w.settle();
    assert_eq!(w.board.state(1), ServiceState::Ready);
    assert_eq!(w.board.state(0), ServiceState::Ready);
    for other in [2, 3, 4] {
        assert_eq!(w.board.state(other), ServiceState::Pending);
    }
    let actions = w.board.up(&[2]);
    assert_eq!(actions, vec![Action::Start(2)], "a second up adds to what runs");
}

#[test]
fn down_stops_dependents_first_and_independent_ones_in_parallel() {
    let mut w = World::new(dev_env(), &[10; 5], &[100, 300, 50, 20, 40]);
    let actions = w.board.up(&[2, 4]);
    w.apply(actions);
    w.settle();
    let t0 = w.now;
    let (set, actions) = w.board.down(&[0, 3]);
    assert_eq!(set, vec![0, 1, 2, 3, 4]);
    assert_eq!(actions, vec![Action::Stop(2), Action::Stop(4)], "leaves first, together");
    w.apply(actions);
    w.settle();
    assert_eq!(w.time_of("stop 3").saturating_sub(t0), ms(40), "frontend once monitor has stopped");
    assert_eq!(
        w.time_of("stop 1").saturating_sub(t0),
        ms(50),
        "backend once worker and monitor have stopped"
    );
    assert_eq!(w.time_of("stop 0").saturating_sub(t0), ms(350), "redis last");
    assert!((0..5).all(|i| w.board.state(i) == ServiceState::Stopped));
    assert!(!w.board.is_active());
}

#[test]
fn down_of_a_dependency_also_stops_what_depends_on_it_and_nothing_else() {
    let mut w = World::new(dev_env(), &[10; 5], &[10; 5]);
    let actions = w.board.up(&[2, 4]);
    w.apply(actions);
    w.settle();
    let (set, actions) = w.board.down(&[1]);
    assert_eq!(set, vec![1, 2, 4]);
    w.apply(actions);
    w.settle();
    assert_eq!(w.board.state(0), ServiceState::Ready);
    assert_eq!(w.board.state(3), ServiceState::Ready);
    assert_eq!(w.board.state(1), ServiceState::Stopped);
}

#[test]
fn on_failure_restarts_up_to_max_restarts_then_fails_and_blocks_dependents() {
    let mut specs = dev_env();
    specs[1] = BoardSpec { restart: RestartPolicy::OnFailure, max_restarts: 2, ..spec(&[0]) };
    let mut w = World::new(specs, &[10; 5], &[10; 5]);
    w.crashes_left[1] = 5;
    let actions = w.board.up(&[2]);
    w.apply(actions);
    w.settle();
    let starts = w.log.iter().filter(|(_, what)| what == "start 1").count();
    assert_eq!(starts, 3, "first attempt + 2 restarts");
    assert_eq!(w.board.restarts(1), 2);
    assert_eq!(w.board.state(1), ServiceState::Failed);
    assert_eq!(w.board.state(2), ServiceState::Pending, "the worker is never started");
    assert_eq!(w.board.progress(&[2]), Progress::Failed(1));
    // The restart delay separates attempts.
    let times: Vec<Duration> = w.log.iter().filter(|(_, what)| what == "start 1").map(|(t, _)| *t).collect();
    assert_eq!(times[1].saturating_sub(times[0]), ms(110));
}

#[test]
fn a_crash_then_success_makes_it_ready_after_a_restart() {
    let mut specs = vec![spec(&[])];
    specs[0].restart = RestartPolicy::Always;
    specs[0].max_restarts = 3;
    let mut w = World::new(specs, &[20], &[5]);
    w.crashes_left[0] = 1;
    let actions = w.board.up(&[0]);
    w.apply(actions);
    w.settle();
    assert_eq!(w.board.state(0), ServiceState::Ready);
    assert_eq!(w.board.restarts(0), 1);
}

#[test]
fn no_restart_policy_fails_at_the_first_crash() {
    let mut w = World::new(vec![spec(&[])], &[20], &[5]);
    w.crashes_left[0] = 1;
    let actions = w.board.up(&[0]);
    w.apply(actions);
    w.settle();
    assert_eq!(w.board.state(0), ServiceState::Failed);
    assert_eq!(w.board.restarts(0), 0);
}

#[test]
fn a_failed_probe_kills_and_counts_as_a_failure_even_with_exit_0() {
    let mut specs = vec![spec(&[])];
    specs[0].restart = RestartPolicy::OnFailure;
    specs[0].max_restarts = 1;
    let mut board = Board::new(specs);
    assert_eq!(board.up(&[0]), vec![Action::Start(0)]);
    assert_eq!(board.probe_failed(0), vec![Action::Kill(0)]);
    assert!(board.probe_failed(0).is_empty(), "one kill per failure");
    assert_eq!(board.exited(0, true), vec![Action::RestartAfter(0, ms(100))]);
    assert_eq!(board.restart_due(0), vec![Action::Start(0)]);
    assert!(board.ready(0).is_empty());
    assert_eq!(board.state(0), ServiceState::Ready);
    // Liveness failure after ready: no restarts left, so failed for good.
    assert_eq!(board.probe_failed(0), vec![Action::Kill(0)]);
    assert!(board.exited(0, true).is_empty());
    assert_eq!(board.state(0), ServiceState::Failed);
}

#[test]
fn a_clean_exit_after_ready_is_stopped_under_on_failure() {
    let mut specs = vec![spec(&[])];
    specs[0].restart = RestartPolicy::OnFailure;
    specs[0].max_restarts = 3;
    let mut board = Board::new(specs);
    board.up(&[0]);
    board.ready(0);
    assert!(board.exited(0, true).is_empty());
    assert_eq!(board.state(0), ServiceState::Stopped);
}

#[test]
fn down_during_a_restart_delay_cancels_the_restart() {
    let mut specs = vec![spec(&[])];
    specs[0].restart = RestartPolicy::Always;
    specs[0].max_restarts = 3;
    let mut board = Board::new(specs);
    board.up(&[0]);
    assert_eq!(board.exited(0, false), vec![Action::RestartAfter(0, ms(100))]);
    let (_, actions) = board.down(&[0]);
    assert!(actions.is_empty());
    assert!(board.restart_due(0).is_empty());
    assert_eq!(board.state(0), ServiceState::Stopped);
    assert!(!board.is_active());
}

#[test]
fn manual_restart_stops_only_that_service_and_starts_it_again() {
    let mut w = World::new(dev_env(), &[10; 5], &[30; 5]);
    let actions = w.board.up(&[2]);
    w.apply(actions);
    w.settle();
    let actions = w.board.restart(1);
    assert_eq!(actions, vec![Action::Stop(1)], "its dependents keep running");
    w.apply(actions);
    w.settle();
    assert_eq!(w.board.state(1), ServiceState::Ready);
    assert_eq!(w.board.state(2), ServiceState::Ready);
    assert_eq!(w.board.restarts(1), 0, "a manual restart is not a failure");
}

#[test]
fn up_again_after_a_failure_gives_a_fresh_start() {
    let mut board = Board::new(vec![spec(&[])]);
    board.up(&[0]);
    board.exited(0, false);
    assert_eq!(board.progress(&[0]), Progress::Failed(0));
    assert!(board.holds_failed() && !board.is_active());
    assert_eq!(board.up(&[0]), vec![Action::Start(0)]);
    assert_eq!(board.progress(&[0]), Progress::Waiting);
}

#[test]
fn down_releases_a_failed_service() {
    let mut board = Board::new(vec![spec(&[])]);
    board.up(&[0]);
    board.exited(0, false);
    assert!(board.holds_failed());
    let (set, actions) = board.down(&[0]);
    assert_eq!((set, actions), (vec![0], Vec::new()));
    assert!(!board.holds_failed());
}

#[test]
fn up_while_stopping_starts_it_again_once_stopped() {
    let mut board = Board::new(vec![spec(&[])]);
    board.up(&[0]);
    board.ready(0);
    let (_, actions) = board.down(&[0]);
    assert_eq!(actions, vec![Action::Stop(0)]);
    assert!(board.up(&[0]).is_empty(), "still stopping");
    assert_eq!(board.progress(&[0]), Progress::Waiting);
    assert_eq!(board.exited(0, true), vec![Action::Start(0)]);
}

#[test]
fn a_dependency_that_ends_after_ready_fails_the_wait_of_its_dependents() {
    let mut board = Board::new(vec![spec(&[]), spec(&[0])]);
    board.up(&[1]);
    assert_eq!(board.progress(&[1]), Progress::Waiting);
    assert_eq!(board.ready(0), vec![Action::Start(1)]);
    // Exits with 0 while its dependent starts: nothing restarts it.
    assert!(board.exited(0, true).is_empty());
    assert_eq!(board.progress(&[1]), Progress::Failed(0));
}
