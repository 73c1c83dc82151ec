//! How long a run in progress still has to go: the real scheduler simulated on what
//! is left (the footer's "~12s left", `volley status`'s "predicted time left").
//!
//! What is left is described per task ([`TaskProgress`]): its dependencies, its
//! usual duration per instance, how many instances have not started and how long
//! each running instance has been going. Running instances become units of their
//! own that start at once (they already hold slots) and last their remaining time;
//! the task's dependents wait for them too. Finished tasks drop out, so what they
//! unblocked is ready at once. A task's pool and its `jobs` cap hold for its waiting
//! and its running instances alike: a capped task outside any pool gets a pool of
//! its own, so that its running instances count against the cap. (A task with both
//! draws from its pool and caps only the instances still waiting.) `volley status`
//! reads them from the history (schema 6 on). An estimate, not a promise.
//!
//! Pure like [`simulate`]: elapsed times are arguments, no clock is read.

use std::time::Duration;

use crate::graph::{Graph, UnitId};
use crate::schedule::{Instances, Limits, UnitPlan};
use crate::simulate::simulate;

/// One task of a run in progress, as an observer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    /// Indices into the slice passed to [`time_left`].
    pub deps: Vec<usize>,
    /// Usual duration of one instance (a plain task has one).
    pub expected: Duration,
    /// Instances that have not started yet.
    pub waiting: u32,
    /// How long each running instance has been running.
    pub running: Vec<Duration>,
    /// Index into [`Limits::pools`].
    pub pool: Option<usize>,
    /// Most of its instances running at once (a fan-out task's `jobs`).
    pub cap: Option<usize>,
}

/// What a task without history counts as, in `volley plan`, the footer and
/// `volley status` alike.
pub const UNKNOWN_DURATION: Duration = Duration::from_secs(1);

/// A running instance that has outlived its usual duration is assumed to need this
/// much more, rather than nothing: it is visibly not done.
const OVERDUE_REMAINDER: Duration = Duration::from_millis(500);

/// Numbers the named pools of a run's tasks in order of first appearance: each
/// task's index into the returned limits (`pools` gives each task's pool name and
/// limit, if any).
#[must_use]
pub fn number_pools<'a>(
    pools: impl IntoIterator<Item = Option<(&'a str, usize)>>,
) -> (Vec<Option<usize>>, Vec<usize>) {
    let mut names: Vec<&str> = Vec::new();
    let mut limits = Vec::new();
    let indices = pools
        .into_iter()
        .map(|pool| {
            let (name, limit) = pool?;
            Some(names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                limits.push(limit);
                names.len() - 1
            }))
        })
        .collect();
    (indices, limits)
}

/// The predicted time until every task in `tasks` has finished, within `limits`.
#[must_use]
pub fn time_left(tasks: &[TaskProgress], limits: &Limits) -> Duration {
    // Unit ids 0..n are the tasks' waiting instances; the running instances follow.
    let n = tasks.len();
    let mut names: Vec<String> = Vec::with_capacity(n);
    let mut deps: Vec<Vec<UnitId>> = Vec::with_capacity(n);
    let mut durations: Vec<Duration> = Vec::with_capacity(n);
    let mut waiting: Vec<u32> = Vec::with_capacity(n);
    // Per task, the units a dependent must wait for: its waiting part and its running instances.
    let mut blockers: Vec<Vec<UnitId>> = vec![Vec::new(); n];
    // The task each unit belongs to.
    let mut owners: Vec<usize> = (0..n).collect();
    let mut pools = limits.pools.clone();
    let task_pools: Vec<Option<usize>> = tasks
        .iter()
        .map(|task| match (task.pool.filter(|p| *p < limits.pools.len()), task.cap) {
            (Some(pool), _) => Some(pool),
            (None, Some(cap)) => {
                pools.push(cap);
                Some(pools.len() - 1)
            }
            (None, None) => None,
        })
        .collect();
    for (i, task) in tasks.iter().enumerate() {
        names.push(i.to_string());
        deps.push(Vec::new());
        durations.push(task.expected);
        waiting.push(task.waiting);
        if task.waiting > 0 {
            blockers[i].push(UnitId(i as u32));
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        for elapsed in &task.running {
            let id = UnitId(names.len() as u32);
            names.push(format!("{i}+"));
            deps.push(Vec::new());
            let left = task.expected.checked_sub(*elapsed).unwrap_or(OVERDUE_REMAINDER);
            durations.push(left.max(Duration::from_millis(1)));
            waiting.push(1);
            owners.push(i);
            blockers[i].push(id);
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        deps[i] = task.deps.iter().filter(|d| **d < n).flat_map(|d| blockers[*d].iter().copied()).collect();
    }
    let graph = Graph::new(names, deps);
    // Longest remaining path in seconds, like the runner's priority; running
    // instances first, as they already hold their slots.
    let weights: Vec<f64> = durations
        .iter()
        .zip(&waiting)
        .map(|(d, w)| if *w == 0 { 0.0 } else { d.as_secs_f64() * f64::from(*w) })
        .collect();
    let levels = graph.bottom_levels(&weights);
    let plans = graph
        .ids()
        .map(|u| {
            let count = waiting[u.index()];
            let owner = owners[u.index()];
            let (priority, cap) =
                if u.index() >= n { (f64::MAX, None) } else { (levels[u.index()], tasks[owner].cap) };
            UnitPlan {
                included: count > 0,
                instances: Instances::Known(count),
                pool: task_pools[owner],
                cap,
                ..UnitPlan::task(priority)
            }
        })
        .collect();
    simulate(&graph, plans, Limits { slots: limits.slots, pools }, &durations).makespan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn task(deps: &[usize], expected: f64, waiting: u32, running: &[f64]) -> TaskProgress {
        TaskProgress {
            deps: deps.to_vec(),
            expected: secs(expected),
            waiting,
            running: running.iter().map(|r| secs(*r)).collect(),
            pool: None,
            cap: None,
        }
    }

    fn slots(slots: usize) -> Limits {
        Limits { slots, pools: Vec::new() }
    }

    #[test]
    fn nothing_left_takes_no_time() {
        assert_eq!(time_left(&[], &slots(2)), Duration::ZERO);
        assert_eq!(time_left(&[task(&[], 3.0, 0, &[])], &slots(2)), Duration::ZERO);
    }

    #[test]
    fn a_chain_waits_for_its_running_head() {
        // a (4 s, running for 1 s) → b (2 s): 3 s + 2 s, whatever the slots.
        let tasks = [task(&[], 4.0, 0, &[1.0]), task(&[0], 2.0, 1, &[])];
        assert_eq!(time_left(&tasks, &slots(8)), secs(5.0));
    }

    #[test]
    fn independent_work_spreads_over_the_slots() {
        // Four waiting 1 s tasks on 2 slots, beside nothing running: 2 s.
        let tasks: Vec<_> = (0..4).map(|_| task(&[], 1.0, 1, &[])).collect();
        assert_eq!(time_left(&tasks, &slots(2)), secs(2.0));
        assert_eq!(time_left(&tasks, &slots(1)), secs(4.0));
    }

    #[test]
    fn running_instances_hold_their_slots_first() {
        // One slot: the running instance's 0.5 s left, then the waiting 1 s task.
        let tasks = [task(&[], 1.0, 1, &[]), task(&[], 2.0, 0, &[1.5])];
        assert_eq!(time_left(&tasks, &slots(1)), secs(1.5));
    }

    #[test]
    fn fan_out_instances_left_and_running_both_count() {
        // 6 instances of 1 s waiting, 2 running for 0.5 s, 2 slots, then a 1 s report.
        let tasks = [task(&[], 1.0, 6, &[0.5, 0.5]), task(&[0], 1.0, 1, &[])];
        assert_eq!(time_left(&tasks, &slots(2)), secs(0.5 + 3.0 + 1.0));
    }

    #[test]
    fn a_pool_holds_back_tasks_the_slots_would_run() {
        // Four 1 s tasks in a pool of 1, on 4 slots: one after the other; the one
        // running for 0.5 s holds the token first.
        let mut tasks: Vec<_> = (0..4).map(|_| task(&[], 1.0, 1, &[])).collect();
        tasks[0] = task(&[], 1.0, 0, &[0.5]);
        for t in &mut tasks {
            t.pool = Some(0);
        }
        assert_eq!(time_left(&tasks, &Limits { slots: 4, pools: vec![1] }), secs(0.5 + 3.0));
        assert_eq!(time_left(&tasks, &Limits { slots: 4, pools: vec![4] }), secs(1.0));
    }

    #[test]
    fn a_cap_counts_the_running_instances() {
        // 6 instances of 1 s waiting, 2 running for 0.5 s, `jobs = 2`, 8 slots: the
        // running two finish before more start.
        let mut fan_out = task(&[], 1.0, 6, &[0.5, 0.5]);
        fan_out.cap = Some(2);
        assert_eq!(time_left(&[fan_out.clone()], &slots(8)), secs(0.5 + 3.0));
        // In a pool of 3, the cap still holds the waiting instances to 2 at once.
        fan_out.pool = Some(0);
        assert_eq!(time_left(&[fan_out], &Limits { slots: 8, pools: vec![3] }), secs(0.5 + 3.0));
    }

    #[test]
    fn pools_are_numbered_by_first_appearance() {
        let (indices, limits) = number_pools([Some(("net", 2)), None, Some(("db", 1)), Some(("net", 2))]);
        assert_eq!(indices, [Some(0), None, Some(1), Some(0)]);
        assert_eq!(limits, [2, 1]);
    }

    #[test]
    fn an_overdue_task_is_not_counted_as_done() {
        let tasks = [task(&[], 1.0, 0, &[3.0])];
        assert_eq!(time_left(&tasks, &slots(1)), OVERDUE_REMAINDER);
    }
}
