//! The footer's time-left estimate: what it predicts, that it counts down between
//! simulations, when it simulates again, and what a simulation costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use volley_core::event::{Event, PlannedPool, PlannedTask, TaskKey, TaskStatus};
use volley_core::graph::UnitId;

use super::Estimator;

fn planned(unit: u32, deps: &[u32], expected_ms: Option<u64>) -> PlannedTask {
    PlannedTask {
        deps: deps.iter().map(|d| UnitId(*d)).collect(),
        expected_us: expected_ms.map(|ms| ms * 1000),
        ..PlannedTask::new(UnitId(unit), Arc::from(format!("t{unit}")))
    }
}

fn run_started(tasks: Vec<PlannedTask>, jobs: usize) -> Event {
    Event::RunStarted { run_id: "r".into(), command: vec![], jobs, started_at_us: 0, tasks, dry_run: false }
}

fn key(unit: u32, instance: u32) -> TaskKey {
    TaskKey { unit: UnitId(unit), instance }
}

fn started(key: TaskKey) -> Event {
    Event::AttemptStarted { t_us: 0, key, name: "t".into(), attempt: 1, slot: 0, pid: 1, expected_us: None }
}

fn finished(key: TaskKey, status: TaskStatus) -> Event {
    Event::TaskFinished {
        t_us: 0,
        key,
        name: "t".into(),
        status,
        duration_us: 0,
        attempts: 1,
        allowed_failure: false,
        flaky: false,
        needs: None,
        log: None,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn without_history_there_is_no_estimate() {
    let mut estimator = Estimator::new();
    let t0 = Instant::now();
    estimator.observe(&run_started(vec![planned(0, &[], None)], 2), t0);
    assert_eq!(estimator.left(t0), None);
}

#[test]
fn a_chain_counts_down_and_follows_the_run() {
    let mut estimator = Estimator::new();
    let t0 = Instant::now();
    // t0 (2 s) → t1 (1 s) on 4 slots: the chain decides, not the slots.
    estimator.observe(&run_started(vec![planned(0, &[], Some(2000)), planned(1, &[0], Some(1000))], 4), t0);
    estimator.observe(&started(key(0, 0)), t0);
    assert_eq!(estimator.left(t0), Some(ms(3000)));
    // No event: the same answer, counted down by the clock.
    assert_eq!(estimator.left(t0 + ms(500)), Some(ms(2500)));
    // t0 ended early, at 1.2 s; t1 starts: 1 s left, once a simulation is due again.
    estimator.observe(&finished(key(0, 0), TaskStatus::Succeeded), t0 + ms(1200));
    estimator.observe(&started(key(1, 0)), t0 + ms(1200));
    assert_eq!(estimator.left(t0 + ms(1200)), Some(ms(1000)));
    estimator.observe(&finished(key(1, 0), TaskStatus::Succeeded), t0 + ms(1300));
    assert_eq!(estimator.left(t0 + ms(1300)), Some(ms(900)), "within 200 ms of the last simulation");
    assert_eq!(estimator.left(t0 + ms(1400)), Some(Duration::ZERO), "nothing left");
}

#[test]
fn fan_out_instances_and_unknown_tasks_count() {
    let mut estimator = Estimator::new();
    let t0 = Instant::now();
    // t0: 4 instances of 1 s on 2 slots; t1 without history (1 s) after it.
    estimator.observe(&run_started(vec![planned(0, &[], Some(1000)), planned(1, &[0], None)], 2), t0);
    estimator.observe(&Event::InstancesPlanned { t_us: 0, unit: UnitId(0), name: "t0".into(), count: 4 }, t0);
    assert_eq!(estimator.left(t0), Some(ms(3000)));
    for i in 0..2 {
        estimator.observe(&started(key(0, i)), t0);
    }
    for i in 0..2 {
        estimator.observe(&finished(key(0, i), TaskStatus::Succeeded), t0 + ms(1000));
    }
    assert_eq!(estimator.left(t0 + ms(1000)), Some(ms(2000)), "two instances and t1 left");
}

#[test]
fn pools_and_caps_hold_back_what_the_slots_would_run() {
    let t0 = Instant::now();
    // On 4 slots, three 1 s tasks in a pool of 1 and two in a pool of 2: 3 s, and
    // 2.5 s once the first has run for 0.5 s.
    let pooled = |unit: u32, pool: &str, limit: usize| PlannedTask {
        pool: Some(PlannedPool { name: pool.into(), limit }),
        ..planned(unit, &[], Some(1000))
    };
    let tasks = vec![
        pooled(0, "db", 1),
        pooled(1, "db", 1),
        pooled(2, "db", 1),
        pooled(3, "net", 2),
        pooled(4, "net", 2),
    ];
    let mut estimator = Estimator::new();
    estimator.observe(&run_started(tasks, 4), t0);
    assert_eq!(estimator.left(t0), Some(ms(3000)));
    estimator.observe(&started(key(0, 0)), t0);
    assert_eq!(estimator.left(t0 + ms(500)), Some(ms(2500)));
    // On 8 slots, a fan-out of 4 instances of 1 s with `jobs = 2`: 2 s.
    let mut capped = planned(0, &[], Some(1000));
    capped.cap = Some(2);
    let mut estimator = Estimator::new();
    estimator.observe(&run_started(vec![capped], 8), t0);
    estimator.observe(&Event::InstancesPlanned { t_us: 0, unit: UnitId(0), name: "t0".into(), count: 4 }, t0);
    assert_eq!(estimator.left(t0), Some(ms(2000)));
}

#[test]
fn a_skipped_fan_out_leaves_nothing_behind() {
    let mut estimator = Estimator::new();
    let t0 = Instant::now();
    estimator.observe(&run_started(vec![planned(0, &[], Some(1000))], 2), t0);
    estimator.observe(&Event::InstancesPlanned { t_us: 0, unit: UnitId(0), name: "t0".into(), count: 6 }, t0);
    estimator.observe(&finished(key(0, 0), TaskStatus::Skipped), t0);
    assert_eq!(estimator.left(t0), Some(Duration::ZERO));
}

/// What one simulation of a 2000-task graph costs: the footer pays it at most once
/// per 200 ms (or 20 × its cost), and each redraw in between pays a subtraction.
#[test]
fn a_2000_task_estimate_is_cheap() {
    let n = 2000u32;
    let tasks = (0..n)
        .map(|i| planned(i, if i % 10 == 0 { &[] } else { &[0] }, Some(100 + u64::from(i % 7))))
        .collect();
    let mut estimator = Estimator::new();
    let t0 = Instant::now();
    estimator.observe(&run_started(tasks, 4), t0);
    for i in 0..4 {
        estimator.observe(&started(key(i * 10, 0)), t0);
    }
    let clock = Instant::now();
    assert!(estimator.left(t0).is_some());
    let simulation = clock.elapsed();
    let clock = Instant::now();
    for step in 1..=1000 {
        let _ = estimator.left(t0 + ms(step));
    }
    let redraw = clock.elapsed() / 1000;
    eprintln!("2000-task estimate: one simulation {simulation:?}, one redraw {redraw:?}");
    assert!(simulation < Duration::from_millis(500), "{simulation:?}");
    assert!(redraw < Duration::from_micros(50), "{redraw:?}");
}
