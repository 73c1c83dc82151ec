//! Failure handling, driven by hand with a fake clock: fail-fast and keep-going,
//! transitive skips, allowed failures, retries with doubling delays, flaky and timed-out
//! instances, interrupts and stops, failed item listings.

use std::time::Duration;

use super::test_support::Setup;
use super::{
    AttemptResult::{Failed, Interrupted, Succeeded, TimedOut},
    Decision, Instances,
};
use crate::event::TaskStatus;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_string(), (*b).to_string())).collect()
}

#[test]
fn fail_fast_starts_nothing_new_after_a_failure() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])]).slots(2).build();
    assert_eq!(h.start(), ["a@0", "b@1"]);
    let failed = h.finish("a", Failed);
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(failed.unit_done && !failed.allowed_failure);
    assert_eq!(h.start(), Vec::<String>::new());
    assert!(!h.scheduler.is_finished(), "b is still running");
    h.finish("b", Succeeded);
    assert!(h.scheduler.is_finished());
    assert_eq!(h.not_started(), ["c", "d"]);
}

#[test]
fn fail_fast_stops_the_remaining_instances_of_the_failed_unit_too() {
    let mut h = Setup::new(&[("up", &[]), ("x", &[])])
        .slots(2)
        .plan("up", |p| p.instances = Instances::Known(4))
        .build();
    assert_eq!(h.start(), ["up[0]@0", "up[1]@1"]);
    h.finish_instance("up", 0, Failed);
    assert_eq!(h.start(), Vec::<String>::new());
    assert!(!h.finish_instance("up", 1, Succeeded).unit_done, "up[2] and up[3] never ran");
    assert!(h.scheduler.is_finished());
    assert_eq!(h.not_started(), ["x"]);
}

#[test]
fn fail_fast_still_grants_retries_to_running_attempts() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[])]).slots(2).plan("a", |p| p.retries = 1).build();
    h.start();
    h.finish("b", Failed);
    assert_eq!(h.end("a", 0, Failed), Decision::Retry { attempt: 2, delay: Duration::from_secs(1) });
    assert!(!h.scheduler.is_finished(), "a waits to retry");
    assert!(h.finish("a", Succeeded).flaky);
    assert!(h.scheduler.is_finished());
}

#[test]
fn keep_going_runs_everything_not_depending_on_the_failure() {
    let edges: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("x", &[]), ("y", &["x"])];
    let mut h = Setup::new(edges).keep_going().build();
    assert_eq!(h.start(), ["a@0"]);
    let failed = h.finish("a", Failed);
    assert_eq!(h.skipped(&failed), pairs(&[("b", "a"), ("c", "a")]));
    assert_eq!(h.start(), ["x@0"]);
    h.finish("x", Succeeded);
    assert_eq!(h.start(), ["y@0"]);
    h.finish("y", Succeeded);
    assert!(h.scheduler.is_finished());
    assert!(h.not_started().is_empty(), "skipped units are not 'not started'");
}

#[test]
fn keep_going_runs_the_other_instances_of_a_failed_fan_out() {
    let mut h = Setup::new(&[("up", &[]), ("d", &["up"])])
        .keep_going()
        .plan("up", |p| p.instances = Instances::Known(3))
        .build();
    assert_eq!(h.start(), ["up[0]@0"]);
    let failed = h.finish_instance("up", 0, Failed);
    assert_eq!(h.skipped(&failed), pairs(&[("d", "up")]), "skipped at the first failed instance");
    assert_eq!(h.start(), ["up[1]@0"]);
    assert!(h.finish_instance("up", 1, Failed).skipped.is_empty(), "reported once");
    assert_eq!(h.start(), ["up[2]@0"]);
    assert!(h.finish_instance("up", 2, Succeeded).unit_done);
    assert_eq!(h.start(), Vec::<String>::new(), "d needs a failed unit");
    assert!(h.scheduler.is_finished());
}

#[test]
fn dependents_of_failed_task_are_skipped_transitively_in_topological_order() {
    let edges: &[(&str, &[&str])] = &[
        ("deploy", &["package"]),
        ("package", &["test", "lint"]),
        ("test", &["build"]),
        ("lint", &[]),
        ("build", &[]),
        ("docs", &[]),
    ];
    let mut h = Setup::new(edges).keep_going().slots(3).build();
    assert_eq!(h.start(), ["lint@0", "build@1", "docs@2"]);
    let failed = h.finish("build", Failed);
    assert_eq!(h.skipped(&failed), pairs(&[("test", "build"), ("package", "build"), ("deploy", "build")]));
    h.finish("lint", Succeeded);
    assert_eq!(h.start(), Vec::<String>::new(), "package stays skipped when lint is done");
    h.finish("docs", Succeeded);
    assert!(h.scheduler.is_finished());
}

#[test]
fn diamond_below_a_failure_is_skipped_once_each() {
    let edges: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])];
    let mut h = Setup::new(edges).build();
    h.start();
    let failed = h.finish("a", Failed);
    assert_eq!(h.skipped(&failed), pairs(&[("b", "a"), ("c", "a"), ("d", "a")]));
    assert!(h.scheduler.is_finished());
    assert!(h.not_started().is_empty());
}

#[test]
fn allowed_failure_lets_dependents_run_and_does_not_stop_the_run() {
    let mut h = Setup::new(&[("opt", &[]), ("after", &["opt"]), ("other", &[])])
        .plan("opt", |p| p.allow_failure = true)
        .build();
    assert_eq!(h.start(), ["opt@0"]);
    let failed = h.finish("opt", Failed);
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(failed.allowed_failure && failed.unit_done && failed.skipped.is_empty());
    assert_eq!(h.start(), ["after@0"]);
    h.finish("after", Succeeded);
    assert_eq!(h.start(), ["other@0"]);
}

#[test]
fn retries_double_the_delay_and_hold_the_slot() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[])])
        .keep_going()
        .plan("a", |p| (p.retries, p.retry_delay) = (3, Duration::from_secs(1)))
        .build();
    h.start();
    for wait in [1, 2, 4] {
        h.advance(Duration::from_secs(1));
        let Decision::Retry { delay, .. } = h.end("a", 0, Failed) else { panic!("a retries") };
        assert_eq!(delay, Duration::from_secs(wait));
        assert_eq!(h.start(), Vec::<String>::new(), "the slot stays held during the delay");
        assert_eq!(h.scheduler.running(), 1);
        h.advance(delay);
    }
    h.advance(Duration::from_secs(1));
    let failed = h.finish("a", Failed);
    assert_eq!((failed.status, failed.attempts, failed.flaky), (TaskStatus::Failed, 4, false));
    h.start();
    assert_eq!(
        h.log,
        [
            "0.0s a@0",
            "1.0s a retry 2 in 1.0s",
            "3.0s a retry 3 in 2.0s",
            "6.0s a retry 4 in 4.0s",
            "11.0s a Failed after 4",
            "11.0s b@0",
        ]
    );
}

#[test]
fn success_after_a_failed_attempt_is_flaky() {
    let mut h = Setup::new(&[("a", &[]), ("b", &["a"])]).plan("a", |p| p.retries = 2).build();
    h.start();
    assert_eq!(h.end("a", 0, Failed), Decision::Retry { attempt: 2, delay: Duration::from_secs(1) });
    let done = h.finish("a", Succeeded);
    assert_eq!((done.status, done.attempts, done.flaky), (TaskStatus::Succeeded, 2, true));
    assert_eq!(h.start(), ["b@0"]);
}

#[test]
fn timed_out_is_retried_then_final_as_timed_out() {
    let mut h = Setup::new(&[("a", &[]), ("b", &["a"])]).plan("a", |p| p.retries = 1).build();
    h.start();
    assert!(matches!(h.end("a", 0, TimedOut), Decision::Retry { attempt: 2, .. }));
    let done = h.finish("a", TimedOut);
    assert_eq!((done.status, done.attempts), (TaskStatus::TimedOut, 2));
    assert_eq!(h.skipped(&done), pairs(&[("b", "a")]));
}

#[test]
fn interrupted_is_final_and_starts_nothing_new() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[]), ("c", &[]), ("after_a", &["a"])])
        .slots(2)
        .keep_going()
        .plan("a", |p| p.retries = 3)
        .build();
    assert_eq!(h.start(), ["a@0", "b@1"]);
    let done = h.finish("a", Interrupted);
    assert_eq!((done.status, done.attempts), (TaskStatus::Interrupted, 1));
    assert!(done.skipped.is_empty(), "an interrupt skips nothing: the rest is not started");
    assert_eq!(h.start(), Vec::<String>::new());
    h.finish("b", Interrupted);
    assert!(h.scheduler.is_finished());
    assert_eq!(h.not_started(), ["c", "after_a"]);
}

#[test]
fn stop_starting_refuses_retries_and_reports_what_never_started() {
    let mut h = Setup::new(&[("a", &[]), ("b", &[]), ("c", &["a"])]).plan("a", |p| p.retries = 2).build();
    assert_eq!(h.start(), ["a@0"]);
    h.scheduler.stop_starting();
    assert_eq!(h.start(), Vec::<String>::new());
    let done = h.finish("a", Failed);
    assert_eq!((done.status, done.attempts), (TaskStatus::Failed, 1));
    assert!(h.scheduler.is_finished());
    assert_eq!(h.not_started(), ["b"], "c was skipped because a failed");
}

#[test]
fn failed_listing_fails_the_unit_and_skips_its_dependents() {
    let mut h = Setup::new(&[("up", &[]), ("d", &["up"]), ("x", &[])])
        .plan("up", |p| p.instances = Instances::Pending)
        .build();
    assert_eq!(h.start(), ["list up@0"]);
    let up = h.id("up");
    let done = h.scheduler.items_listed(up, None);
    assert_eq!((done.status, done.unit_done), (TaskStatus::Failed, true));
    assert_eq!(h.skipped(&done), pairs(&[("d", "up")]));
    assert_eq!(h.start(), Vec::<String>::new(), "fail-fast");
    assert!(h.scheduler.is_finished());
    assert_eq!(h.not_started(), ["x"]);
}

#[test]
fn allowed_failure_of_a_listing_lets_dependents_run() {
    let mut h = Setup::new(&[("up", &[]), ("d", &["up"])])
        .plan("up", |p| (p.instances, p.allow_failure) = (Instances::Pending, true))
        .build();
    h.start();
    let up = h.id("up");
    let done = h.scheduler.items_listed(up, None);
    assert!(done.allowed_failure && done.skipped.is_empty());
    assert_eq!(h.start(), ["d@0"]);
}
