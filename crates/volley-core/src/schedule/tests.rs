//! Start order and limits, driven by hand: priority, eager starts, slots, pools, caps,
//! lane assignment, fan-out instances. Failure handling is in `tests_failure.rs`.

use super::test_support::Setup;
use super::{AttemptResult::Succeeded, Instances, Work};

#[test]
fn highest_priority_starts_first_ties_by_lower_id() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])])
        .plan("a", |p| p.priority = 1.0)
        .plan("b", |p| p.priority = 3.0)
        .plan("c", |p| p.priority = 3.0)
        .plan("d", |p| p.priority = 2.0)
        .build();
    let mut order = Vec::new();
    loop {
        let started = h.start();
        let Some(first) = started.first() else { break };
        let name = first.split('@').next().expect("label").to_string();
        h.finish(&name, Succeeded);
        order.extend(started);
    }
    assert_eq!(order, ["b@0", "c@0", "d@0", "a@0"]);
    assert!(h.scheduler.is_finished());
}

#[test]
fn longest_remaining_path_goes_first_with_bottom_level_priorities() {
    // x is alone; a heads a chain of three, so it must start before x on one slot.
    let mut h =
        Setup::new(&[("x", &[]), ("a", &[]), ("b", &["a"]), ("c", &["b"])]).bottom_level_priorities().build();
    assert_eq!(h.start(), ["a@0"]);
    h.finish("a", Succeeded);
    assert_eq!(h.start(), ["b@0"]);
}

#[test]
fn dependents_start_as_soon_as_their_deps_are_done_without_level_barriers() {
    let mut h = Setup::new(&[("a", &[]), ("b", &["a"]), ("long", &[])]).slots(2).build();
    assert_eq!(h.start(), ["a@0", "long@1"]);
    h.finish("a", Succeeded);
    // `long` (level 0) still runs; `b` (level 1) does not wait for it.
    assert_eq!(h.start(), ["b@0"]);
    assert_eq!(h.scheduler.running(), 2);
}

#[test]
fn never_more_running_than_slots() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[]), ("e", &[])]).slots(2).build();
    assert_eq!(h.start(), ["a@0", "b@1"]);
    assert_eq!(h.scheduler.running(), 2);
    assert_eq!(h.start(), Vec::<String>::new());
    h.finish("b", Succeeded);
    assert_eq!(h.start(), ["c@1"]);
    assert_eq!(h.scheduler.running(), 2);
}

#[test]
fn zero_slots_count_as_one() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[])]).slots(0).build();
    assert_eq!(h.start(), ["a@0"]);
    h.finish("a", Succeeded);
    assert_eq!(h.start(), ["b@0"]);
}

#[test]
fn lowest_free_slot_is_assigned() {
    let edges: &[(&str, &[&str])] = &[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[]), ("e", &[]), ("f", &[])];
    let mut h = Setup::new(edges).slots(3).build();
    assert_eq!(h.start(), ["a@0", "b@1", "c@2"]);
    h.finish("b", Succeeded);
    assert_eq!(h.start(), ["d@1"]);
    h.finish("c", Succeeded);
    h.finish("a", Succeeded);
    assert_eq!(h.start(), ["e@0", "f@2"]);
}

#[test]
fn pool_limits_its_units_within_the_slots() {
    let edges: &[(&str, &[&str])] = &[("n1", &[]), ("n2", &[]), ("n3", &[]), ("free", &[])];
    let mut h = Setup::new(edges)
        .slots(4)
        .pools(&[2])
        .plan("n1", |p| p.pool = Some(0))
        .plan("n2", |p| p.pool = Some(0))
        .plan("n3", |p| p.pool = Some(0))
        .build();
    assert_eq!(h.start(), ["n1@0", "n2@1", "free@2"]);
    h.finish("free", Succeeded);
    assert_eq!(h.start(), Vec::<String>::new());
    h.finish("n1", Succeeded);
    assert_eq!(h.start(), ["n3@0"]);
}

#[test]
fn zero_pool_limit_counts_as_one() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[])])
        .slots(2)
        .pools(&[0])
        .plan("a", |p| p.pool = Some(0))
        .plan("b", |p| p.pool = Some(0))
        .build();
    assert_eq!(h.start(), ["a@0"]);
    h.finish("a", Succeeded);
    assert_eq!(h.start(), ["b@0"]);
}

#[test]
fn pool_blocked_high_priority_unit_does_not_block_others() {
    let edges: &[(&str, &[&str])] = &[("n1", &[]), ("n2", &[]), ("x", &[]), ("y", &[])];
    let mut h = Setup::new(edges)
        .slots(3)
        .pools(&[1])
        .plan("n1", |p| (p.pool, p.priority) = (Some(0), 10.0))
        .plan("n2", |p| (p.pool, p.priority) = (Some(0), 9.0))
        .plan("x", |p| p.priority = 1.0)
        .build();
    assert_eq!(h.start(), ["n1@0", "x@1", "y@2"]);
    h.finish("x", Succeeded);
    assert_eq!(h.start(), Vec::<String>::new(), "n2 still waits for its pool");
    h.finish("n1", Succeeded);
    assert_eq!(h.start(), ["n2@0"]);
}

#[test]
fn pool_blocked_unit_keeps_its_priority_when_the_pool_frees() {
    let edges: &[(&str, &[&str])] = &[("n1", &[]), ("n2", &[]), ("z", &[]), ("w", &[])];
    let mut h = Setup::new(edges)
        .slots(2)
        .pools(&[1])
        .plan("n1", |p| (p.pool, p.priority) = (Some(0), 10.0))
        .plan("n2", |p| (p.pool, p.priority) = (Some(0), 9.0))
        .plan("z", |p| p.priority = 5.0)
        .plan("w", |p| p.priority = 4.0)
        .build();
    assert_eq!(h.start(), ["n1@0", "z@1"]);
    h.finish("n1", Succeeded);
    assert_eq!(h.start(), ["n2@0"], "n2 outranks w once the pool has room");
}

#[test]
fn cap_limits_instances_of_one_unit() {
    let mut h = Setup::new(&[("up", &[])])
        .slots(4)
        .plan("up", |p| (p.instances, p.cap) = (Instances::Known(5), Some(2)))
        .build();
    assert_eq!(h.start(), ["up[0]@0", "up[1]@1"]);
    h.finish_instance("up", 0, Succeeded);
    assert_eq!(h.start(), ["up[2]@0"]);
}

#[test]
fn cap_blocked_unit_does_not_block_others() {
    let mut h = Setup::new(&[("up", &[]), ("x", &[])])
        .slots(2)
        .plan("up", |p| (p.instances, p.cap, p.priority) = (Instances::Known(3), Some(1), 10.0))
        .build();
    assert_eq!(h.start(), ["up[0]@0", "x@1"]);
    h.finish("x", Succeeded);
    assert_eq!(h.start(), Vec::<String>::new());
    h.finish_instance("up", 0, Succeeded);
    assert_eq!(h.start(), ["up[1]@0"]);
}

#[test]
fn dependents_of_a_fan_out_wait_for_every_instance() {
    let mut h = Setup::new(&[("up", &[]), ("d", &["up"])])
        .slots(3)
        .plan("up", |p| p.instances = Instances::Known(3))
        .build();
    assert_eq!(h.start(), ["up[0]@0", "up[1]@1", "up[2]@2"]);
    assert!(!h.finish_instance("up", 2, Succeeded).unit_done);
    assert!(!h.finish_instance("up", 0, Succeeded).unit_done);
    assert_eq!(h.start(), Vec::<String>::new());
    assert!(h.finish_instance("up", 1, Succeeded).unit_done);
    assert_eq!(h.start(), ["d@0"]);
}

#[test]
fn unit_with_no_instances_is_done_at_once() {
    let mut h = Setup::new(&[("none", &[]), ("d", &["none"])])
        .plan("none", |p| p.instances = Instances::Known(0))
        .build();
    assert_eq!(h.start(), ["d@0"]);
}

#[test]
fn excluded_units_are_ignored_entirely() {
    let mut h =
        Setup::new(&[("a", &[]), ("b", &["a"]), ("c", &[])]).plan("a", |p| p.included = false).build();
    assert_eq!(h.start(), ["b@0"]);
    h.finish("b", Succeeded);
    assert_eq!(h.start(), ["c@0"]);
    h.finish("c", Succeeded);
    assert!(h.scheduler.is_finished());
    assert!(h.not_started().is_empty());
}

#[test]
fn empty_run_is_finished_at_once() {
    let mut h = Setup::new(&[("a", &[])]).plan("a", |p| p.included = false).build();
    assert!(h.scheduler.is_finished());
    assert_eq!(h.start(), Vec::<String>::new());
}

#[test]
fn listing_holds_a_slot_and_its_pool_then_queues_the_instances() {
    let mut h = Setup::new(&[("up", &[]), ("net", &[]), ("x", &[])])
        .slots(3)
        .pools(&[1])
        .plan("up", |p| (p.instances, p.cap, p.pool) = (Instances::Pending, Some(2), Some(0)))
        .plan("net", |p| p.pool = Some(0))
        .build();
    assert_eq!(h.start(), ["list up@0", "x@1"], "net waits: the listing holds the pool");
    let up = h.id("up");
    let listed = h.scheduler.items_listed(up, Some(3));
    assert!(!listed.unit_done);
    // Pool of 1: one instance of up, then net and the rest in turn.
    let started = h.start();
    assert_eq!(started, ["up[0]@0"]);
    h.finish_instance("up", 0, Succeeded);
    assert_eq!(h.start(), ["up[1]@0"]);
}

#[test]
fn listing_zero_items_completes_the_unit() {
    let mut h =
        Setup::new(&[("up", &[]), ("d", &["up"])]).plan("up", |p| p.instances = Instances::Pending).build();
    assert_eq!(h.start(), ["list up@0"]);
    let up = h.id("up");
    let finished = h.scheduler.items_listed(up, Some(0));
    assert!(finished.unit_done);
    assert!(finished.status.is_success());
    assert_eq!(h.start(), ["d@0"]);
}

#[test]
fn a_hundred_thousand_instances_run_through() {
    let n = 100_000;
    let mut h = Setup::new(&[("up", &[]), ("d", &["up"])])
        .slots(8)
        .plan("up", |p| (p.instances, p.cap) = (Instances::Known(n), Some(5)))
        .build();
    let (mut started, mut running) = (0u32, Vec::new());
    loop {
        while let Some(work) = h.scheduler.next() {
            let Work::Start { key, .. } = work else { panic!("no listing here") };
            started += 1;
            running.push(key);
        }
        assert!(h.scheduler.running() <= 5 || running.iter().any(|k| k.unit == h.id("d")));
        let Some(key) = running.pop() else { break };
        h.scheduler.attempt_finished(key, Succeeded);
    }
    assert_eq!(started, n + 1);
    assert!(h.scheduler.is_finished());
}
