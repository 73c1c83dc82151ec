//! Failure handling over random DAGs with random outcomes, driven by hand in virtual
//! time: nothing starts before its deps succeeded (or failed with `allow_failure`),
//! skips are exactly the units below a failure, fail-fast starts nothing after the first
//! failure, retries hold their slot, and the run always ends with nothing running.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::properties::{Case, case, instances};
use super::{AttemptResult, Decision, FailPolicy, Scheduler, Work};
use crate::event::{TaskKey, TaskStatus};
use crate::graph::UnitId;

/// What every attempt of a unit's instances does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeed,
    Fail,
    TimeOut,
    /// Fails its first attempt, succeeds on the retry.
    Flaky,
    /// Fails, with `allow_failure`.
    AllowedFail,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        12 => Just(Outcome::Succeed),
        1 => Just(Outcome::Fail),
        1 => Just(Outcome::TimeOut),
        1 => Just(Outcome::Flaky),
        1 => Just(Outcome::AllowedFail),
    ]
}

fn result(outcome: Outcome, attempt: u32) -> AttemptResult {
    match outcome {
        Outcome::Succeed => AttemptResult::Succeeded,
        Outcome::Flaky if attempt > 1 => AttemptResult::Succeeded,
        Outcome::Fail | Outcome::Flaky | Outcome::AllowedFail => AttemptResult::Failed,
        Outcome::TimeOut => AttemptResult::TimedOut,
    }
}

/// Whether `unit` is done without a failure that stops dependents. A unit with no
/// instances is done as soon as its own dependencies are.
fn done_ok(case: &Case, ok: &[bool], unit: UnitId) -> bool {
    if instances(&case.plans[unit.index()]) == 0 {
        case.graph.deps(unit).iter().all(|d| done_ok(case, ok, *d))
    } else {
        ok[unit.index()]
    }
}

fn run(mut case: Case, outcomes: &[Outcome], policy: FailPolicy) -> Result<(), TestCaseError> {
    for (plan, outcome) in case.plans.iter_mut().zip(outcomes) {
        plan.retries = u32::from(*outcome == Outcome::Flaky);
        plan.allow_failure = *outcome == Outcome::AllowedFail;
    }
    let n = case.graph.len();
    let plans = case.plans.clone();
    let mut scheduler = Scheduler::new(&case.graph, case.plans.clone(), case.limits.clone(), policy);
    let mut ends: BinaryHeap<Reverse<(Duration, TaskKey)>> = BinaryHeap::new();
    let mut attempts: HashMap<TaskKey, u32> = HashMap::new();
    let (mut started, mut finished) = (vec![0u32; n], vec![0u32; n]);
    let (mut ok, mut failed) = (vec![false; n], vec![false; n]);
    let mut skipped: Vec<Option<UnitId>> = vec![None; n];
    let mut failure_seen = false;
    let mut now = Duration::ZERO;
    loop {
        while let Some(work) = scheduler.next() {
            let Work::Start { key, .. } = work else { panic!("no pending units here") };
            let unit = key.unit.index();
            prop_assert!(
                !(failure_seen && policy == FailPolicy::FailFast),
                "{:?} started after a failure",
                key
            );
            prop_assert!(skipped[unit].is_none(), "skipped {:?} started", key);
            for dep in case.graph.deps(key.unit) {
                prop_assert!(done_ok(&case, &ok, *dep), "{:?} started before dep {:?} succeeded", key, dep);
            }
            prop_assert!(scheduler.running() <= case.limits.slots);
            started[unit] += 1;
            attempts.insert(key, 1);
            ends.push(Reverse((now + case.durations[unit], key)));
        }
        let Some(Reverse((end, key))) = ends.pop() else { break };
        now = end;
        let unit = key.unit.index();
        let attempt = attempts[&key];
        match scheduler.attempt_finished(key, result(outcomes[unit], attempt)) {
            Decision::Retry { attempt, delay } => {
                prop_assert!(outcomes[unit] == Outcome::Flaky && attempt == 2);
                attempts.insert(key, attempt);
                ends.push(Reverse((now + delay + case.durations[unit], key)));
            }
            Decision::Finished(done) => {
                let outcome = outcomes[unit];
                prop_assert_eq!(done.flaky, outcome == Outcome::Flaky);
                prop_assert_eq!(done.allowed_failure, outcome == Outcome::AllowedFail);
                prop_assert_eq!(
                    done.status.is_success(),
                    matches!(outcome, Outcome::Succeed | Outcome::Flaky)
                );
                prop_assert_eq!(done.status == TaskStatus::TimedOut, outcome == Outcome::TimeOut);
                let hard_failure = matches!(outcome, Outcome::Fail | Outcome::TimeOut);
                failed[unit] |= hard_failure;
                failure_seen |= hard_failure;
                for skip in &done.skipped {
                    prop_assert_eq!(skip.needs, key.unit);
                    prop_assert!(skipped[skip.unit.index()].replace(skip.needs).is_none(), "skipped twice");
                    prop_assert!(
                        case.graph.closure(&[skip.unit])[unit],
                        "skip without a path to the failure"
                    );
                }
                finished[unit] += 1;
                prop_assert_eq!(done.unit_done, finished[unit] == instances(&plans[unit]));
                ok[unit] = done.unit_done && !failed[unit];
            }
        }
    }
    prop_assert!(scheduler.is_finished() && scheduler.running() == 0);
    let not_started: Vec<UnitId> = scheduler.not_started();
    let order = case.graph.topo_order().expect("generated graphs are acyclic");
    let mut expect_skipped = vec![false; n];
    for &u in &order {
        let i = u.index();
        // Units with no instances are done at once and never fail.
        let bad =
            |d: &UnitId| expect_skipped[d.index()] || (failed[d.index()] && instances(&plans[d.index()]) > 0);
        expect_skipped[i] = plans[i].included && case.graph.deps(u).iter().any(bad);
    }
    for u in case.graph.ids() {
        let i = u.index();
        if !plans[i].included {
            prop_assert!(started[i] == 0 && skipped[i].is_none() && !not_started.contains(&u));
            continue;
        }
        let complete = if instances(&plans[i]) == 0 {
            done_ok(&case, &ok, u)
        } else {
            finished[i] == instances(&plans[i]) && started[i] == finished[i]
        };
        let listed = not_started.contains(&u);
        prop_assert!(listed == (started[i] == 0 && !complete && skipped[i].is_none()), "{:?} not_started", u);
        if policy == FailPolicy::KeepGoing || !failure_seen {
            prop_assert_eq!(skipped[i].is_some(), expect_skipped[i], "skip of {:?}", u);
            prop_assert!(complete || skipped[i].is_some(), "{:?} neither ran nor was skipped", u);
        } else {
            prop_assert!(skipped[i].is_none() || expect_skipped[i], "{:?} skipped without cause", u);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn keep_going_skips_exactly_what_is_below_a_failure(
        case in case(),
        outcomes in prop::collection::vec(outcome(), 60),
    ) {
        run(case, &outcomes, FailPolicy::KeepGoing)?;
    }

    #[test]
    fn fail_fast_starts_nothing_after_the_first_failure(
        case in case(),
        outcomes in prop::collection::vec(outcome(), 60),
    ) {
        run(case, &outcomes, FailPolicy::FailFast)?;
    }
}
