//! Test-only helpers: graphs from name lists, and a [`Harness`] that drives the
//! [`Scheduler`] by hand the way the runner does, with a fake clock and readable names
//! (`b@1` = unit `b` started on slot 1, `up[3]@0` = instance 3 of fan-out `up`).

use std::time::Duration;

use super::{AttemptResult, Decision, FailPolicy, Finished, Instances, Limits, Scheduler, UnitPlan, Work};
use crate::event::TaskKey;
use crate::graph::{Graph, UnitId};

/// A graph from `(name, deps)` pairs; deps name earlier or later entries.
pub(super) fn graph(edges: &[(&str, &[&str])]) -> Graph {
    let names: Vec<String> = edges.iter().map(|(n, _)| (*n).to_string()).collect();
    let id = |n: &str| UnitId(names.iter().position(|x| x == n).expect("known name") as u32);
    let deps = edges.iter().map(|(_, ds)| ds.iter().map(|d| id(d)).collect()).collect();
    Graph::new(names, deps)
}

/// What a test sets up before building the scheduler.
pub(super) struct Setup {
    graph: Graph,
    plans: Vec<UnitPlan>,
    limits: Limits,
    policy: FailPolicy,
}

impl Setup {
    /// Every unit included, priority 0 (so ties go by id), one instance, 1 slot.
    pub(super) fn new(edges: &[(&str, &[&str])]) -> Self {
        let graph = graph(edges);
        let plans = graph.ids().map(|_| UnitPlan::task(0.0)).collect();
        Setup { graph, plans, limits: Limits { slots: 1, pools: Vec::new() }, policy: FailPolicy::FailFast }
    }

    pub(super) fn slots(mut self, slots: usize) -> Self {
        self.limits.slots = slots;
        self
    }

    pub(super) fn pools(mut self, pools: &[usize]) -> Self {
        self.limits.pools = pools.to_vec();
        self
    }

    pub(super) fn keep_going(mut self) -> Self {
        self.policy = FailPolicy::KeepGoing;
        self
    }

    pub(super) fn plan(mut self, name: &str, change: impl FnOnce(&mut UnitPlan)) -> Self {
        let id = self.graph.id(name).expect("known name");
        change(&mut self.plans[id.index()]);
        self
    }

    /// Priorities = bottom levels with every unit weighing 1, as the runner does
    /// without history.
    pub(super) fn bottom_level_priorities(mut self) -> Self {
        let levels = self.graph.bottom_levels(&vec![1.0; self.graph.len()]);
        for (plan, level) in self.plans.iter_mut().zip(levels) {
            plan.priority = level;
        }
        self
    }

    pub(super) fn build(self) -> Harness {
        let instances = self.plans.iter().map(|p| p.instances).collect();
        let scheduler = Scheduler::new(&self.graph, self.plans, self.limits, self.policy);
        Harness { graph: self.graph, scheduler, instances, now: Duration::ZERO, log: Vec::new() }
    }
}

pub(super) struct Harness {
    pub(super) graph: Graph,
    pub(super) scheduler: Scheduler,
    instances: Vec<Instances>,
    /// The fake clock: only tests move it.
    pub(super) now: Duration,
    /// What happened, with times: `1.0s a@0`, `2.0s a retry 2 in 1.0s`.
    pub(super) log: Vec<String>,
}

impl Harness {
    pub(super) fn id(&self, name: &str) -> UnitId {
        self.graph.id(name).expect("known name")
    }

    pub(super) fn key(&self, name: &str, instance: u32) -> TaskKey {
        TaskKey { unit: self.id(name), instance }
    }

    fn label(&self, key: TaskKey) -> String {
        let name = self.graph.name(key.unit);
        match self.instances[key.unit.index()] {
            Instances::Known(1) => name.to_string(),
            _ => format!("{name}[{}]", key.instance),
        }
    }

    /// Drains `next()` as the runner does after a state change.
    pub(super) fn start(&mut self) -> Vec<String> {
        let mut started = Vec::new();
        while let Some(work) = self.scheduler.next() {
            let text = match work {
                Work::Start { key, slot } => format!("{}@{slot}", self.label(key)),
                Work::ListItems { unit, slot } => format!("list {}@{slot}", self.graph.name(unit)),
            };
            self.log.push(format!("{:.1}s {text}", self.now.as_secs_f64()));
            started.push(text);
        }
        started
    }

    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub(super) fn end(&mut self, name: &str, instance: u32, result: AttemptResult) -> Decision {
        let key = self.key(name, instance);
        let decision = self.scheduler.attempt_finished(key, result);
        let text = match &decision {
            Decision::Retry { attempt, delay } => {
                format!("{} retry {attempt} in {:.1}s", self.label(key), delay.as_secs_f64())
            }
            Decision::Finished(f) => format!("{} {:?} after {}", self.label(key), f.status, f.attempts),
        };
        self.log.push(format!("{:.1}s {text}", self.now.as_secs_f64()));
        decision
    }

    /// Ends instance 0 of `name` and expects it to be final.
    pub(super) fn finish(&mut self, name: &str, result: AttemptResult) -> Finished {
        self.finish_instance(name, 0, result)
    }

    pub(super) fn finish_instance(&mut self, name: &str, instance: u32, result: AttemptResult) -> Finished {
        match self.end(name, instance, result) {
            Decision::Finished(finished) => finished,
            retry @ Decision::Retry { .. } => panic!("expected {name} to finish, got {retry:?}"),
        }
    }

    pub(super) fn names(&self, ids: &[UnitId]) -> Vec<String> {
        ids.iter().map(|u| self.graph.name(*u).to_string()).collect()
    }

    /// `(skipped, needs)` pairs, by name.
    pub(super) fn skipped(&self, finished: &Finished) -> Vec<(String, String)> {
        let name = |u: UnitId| self.graph.name(u).to_string();
        finished.skipped.iter().map(|s| (name(s.unit), name(s.needs))).collect()
    }

    pub(super) fn not_started(&self) -> Vec<String> {
        self.names(&self.scheduler.not_started())
    }
}
