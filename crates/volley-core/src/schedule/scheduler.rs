//! The [`Scheduler`]: a plain state machine deciding what starts next, what a finished
//! attempt means (retry or done), and what a failure skips. The runner and `simulate`
//! drive it; it never reads a clock or does I/O (delays are returned, not waited).
//!
//! Invariants:
//! - a unit is queued (see [`ReadyQueue`]) only once all its included dependencies are
//!   done and it has something left to start; excluded units are ignored entirely;
//! - a slot is held from the start of an instance's attempt 1 (or of a unit's item
//!   listing) until its [`Finished`], retry delays included;
//! - a unit is done when every instance has finished; it failed if any instance failed
//!   without `allow_failure`, and its dependents are skipped at that first failure;
//! - after `halted` (fail-fast or a stop) nothing new starts; after `stopped` (an
//!   interrupt or external stop) no retry is granted either.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use foldhash::{HashMap, HashMapExt};

use super::plan::{
    AttemptResult, Decision, FailPolicy, Finished, Instances, Limits, Skipped, UnitPlan, Work,
};
use super::ready::ReadyQueue;
use crate::event::{TaskKey, TaskStatus};
use crate::graph::{Graph, UnitId};

/// Where a unit is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Some included dependency is not done yet.
    Waiting,
    /// Ready: queued or running instances (or waiting to be queued for its listing).
    Ready,
    /// Its `for_each` command is listing the items.
    Listing,
    Done,
    Skipped,
}

#[derive(Debug, Clone)]
struct UnitState {
    included: bool,
    retries: u32,
    retry_delay: std::time::Duration,
    allow_failure: bool,
    /// Included dependencies not done yet.
    missing: usize,
    phase: Phase,
    /// `None` until a pending unit's items are listed.
    instances: Option<u32>,
    /// Instances started so far; they start in order, so this is also the next index.
    started: u32,
    finished: u32,
    /// An instance (or the listing) failed without `allow_failure`.
    failed: bool,
    /// An instance was interrupted: the unit did not succeed, but nothing is skipped.
    interrupted: bool,
    listing_slot: u32,
}

/// One started instance, from its first attempt's start to its [`Finished`].
#[derive(Debug, Clone, Copy)]
struct Running {
    slot: u32,
    /// The attempt running now (or about to, after a retry delay), 1-based.
    attempt: u32,
}

/// Decides what runs when. See the module docs for its invariants.
#[derive(Debug, Clone)]
pub struct Scheduler {
    units: Vec<UnitState>,
    /// Dependents of unit `u`: `dependents[dependent_start[u]..dependent_start[u + 1]]`.
    dependents: Vec<UnitId>,
    dependent_start: Vec<usize>,
    /// Position in a topological order, to report skips dependencies-first.
    topo_pos: Vec<usize>,
    queue: ReadyQueue,
    /// Lowest index first, so lanes stay compact.
    free_slots: BinaryHeap<Reverse<u32>>,
    slots: usize,
    running: HashMap<TaskKey, Running>,
    policy: FailPolicy,
    halted: bool,
    stopped: bool,
}

impl Scheduler {
    /// `units` has one plan per unit of `graph` (missing plans count as not included).
    /// The graph must be acyclic; units on a cycle would simply never start.
    // Plans and limits are taken by value: the runner's contract, and it hands them over.
    #[allow(clippy::needless_pass_by_value)]
    #[must_use]
    pub fn new(graph: &Graph, units: Vec<UnitPlan>, limits: Limits, policy: FailPolicy) -> Self {
        let n = graph.len();
        let plan_of = |u: UnitId| units.get(u.index()).filter(|p| p.included);
        let queue = ReadyQueue::new(
            graph.ids().map(|u| plan_of(u).map_or((0.0, None, None), |p| (p.priority, p.pool, p.cap))),
            &limits.pools,
        );
        let mut states = Vec::with_capacity(n);
        let mut dependents = Vec::new();
        let mut dependent_start = Vec::with_capacity(n + 1);
        for u in graph.ids() {
            dependent_start.push(dependents.len());
            dependents.extend(graph.dependents(u).iter().filter(|d| plan_of(**d).is_some()));
            let plan = plan_of(u);
            states.push(UnitState {
                included: plan.is_some(),
                retries: plan.map_or(0, |p| p.retries),
                retry_delay: plan.map(|p| p.retry_delay).unwrap_or_default(),
                allow_failure: plan.is_some_and(|p| p.allow_failure),
                missing: graph.deps(u).iter().filter(|d| plan_of(**d).is_some()).count(),
                phase: Phase::Waiting,
                instances: match plan.map(|p| p.instances) {
                    Some(Instances::Known(count)) => Some(count),
                    Some(Instances::Pending) => None,
                    None => Some(0),
                },
                started: 0,
                finished: 0,
                failed: false,
                interrupted: false,
                listing_slot: 0,
            });
        }
        dependent_start.push(dependents.len());
        let mut topo_pos: Vec<usize> = (0..n).collect();
        if let Some(order) = graph.topo_order() {
            for (pos, u) in order.iter().enumerate() {
                topo_pos[u.index()] = pos;
            }
        }
        let slots = limits.slots.max(1);
        let mut scheduler = Scheduler {
            units: states,
            dependents,
            dependent_start,
            topo_pos,
            queue,
            free_slots: (0..slots as u32).map(Reverse).collect(),
            slots,
            running: HashMap::new(),
            policy,
            halted: false,
            stopped: false,
        };
        let roots: Vec<UnitId> = graph
            .ids()
            .filter(|u| scheduler.units[u.index()].included && scheduler.units[u.index()].missing == 0)
            .collect();
        scheduler.make_ready(roots);
        scheduler
    }

    /// The next thing to start, charged to a slot (and its pool and cap). Call
    /// repeatedly until `None` after every state change.
    // Not an `Iterator`: `None` means "nothing now", not "never again".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Work> {
        if self.halted || self.free_slots.is_empty() {
            return None;
        }
        let unit = self.queue.take()?;
        let Reverse(slot) = self.free_slots.pop()?;
        let state = &mut self.units[unit.index()];
        let Some(count) = state.instances else {
            state.phase = Phase::Listing;
            state.listing_slot = slot;
            return Some(Work::ListItems { unit, slot });
        };
        let key = TaskKey { unit, instance: state.started };
        state.started += 1;
        if state.started < count {
            self.queue.push(unit);
        }
        self.running.insert(key, Running { slot, attempt: 1 });
        Some(Work::Start { key, slot })
    }

    /// The end of a unit's item listing: `None` if the command failed (the unit fails),
    /// `Some(0)` if there are no items (the unit is done and succeeded), `Some(n)` to
    /// queue `n` instances. Frees the listing's slot.
    pub fn items_listed(&mut self, unit: UnitId, count: Option<u32>) -> Finished {
        let mut finished = Finished {
            status: TaskStatus::Succeeded,
            attempts: 1,
            flaky: false,
            allowed_failure: false,
            skipped: Vec::new(),
            unit_done: false,
        };
        let Some(state) = self.units.get_mut(unit.index()).filter(|s| s.phase == Phase::Listing) else {
            debug_assert!(false, "items_listed for {unit:?}, which is not listing");
            finished.attempts = 0;
            return finished;
        };
        state.phase = Phase::Ready;
        let slot = state.listing_slot;
        if let Some(count) = count {
            state.instances = Some(count);
        } else {
            state.instances = Some(0);
            finished.status = TaskStatus::Failed;
            finished.allowed_failure = state.allow_failure;
            if !state.allow_failure {
                finished.skipped = self.fail_unit(unit);
            }
        }
        self.free_slots.push(Reverse(slot));
        self.queue.release(unit);
        if count == Some(0) || count.is_none() {
            finished.unit_done = true;
            self.complete_unit(unit);
        } else {
            self.queue.push(unit);
        }
        finished
    }

    /// Decides what the end of an attempt means: another attempt after a delay, or the
    /// instance's final result (which frees its slot).
    pub fn attempt_finished(&mut self, key: TaskKey, result: AttemptResult) -> Decision {
        let Some(run) = self.running.get_mut(&key) else {
            debug_assert!(false, "attempt_finished for {key:?}, which is not running");
            return Decision::Finished(Finished {
                status: final_status(result),
                attempts: 0,
                flaky: false,
                allowed_failure: false,
                skipped: Vec::new(),
                unit_done: false,
            });
        };
        let state = &self.units[key.unit.index()];
        let failed = matches!(result, AttemptResult::Failed | AttemptResult::TimedOut);
        if failed && !self.stopped && run.attempt <= state.retries {
            // Attempt k + 1 waits retry_delay × 2^(k - 1).
            let doublings = (run.attempt - 1).min(31);
            run.attempt += 1;
            return Decision::Retry {
                attempt: run.attempt,
                delay: state.retry_delay.saturating_mul(1 << doublings),
            };
        }
        let attempts = run.attempt;
        let slot = run.slot;
        self.running.remove(&key);
        self.free_slots.push(Reverse(slot));
        self.queue.release(key.unit);
        let status = final_status(result);
        let allow_failure = state.allow_failure;
        let mut skipped = Vec::new();
        if failed && !allow_failure {
            skipped = self.fail_unit(key.unit);
        }
        if result == AttemptResult::Interrupted {
            self.units[key.unit.index()].interrupted = true;
            self.stop_starting();
        }
        let state = &mut self.units[key.unit.index()];
        state.finished += 1;
        let unit_done = Some(state.finished) == state.instances;
        if unit_done {
            self.complete_unit(key.unit);
        }
        Decision::Finished(Finished {
            status,
            attempts,
            flaky: result == AttemptResult::Succeeded && attempts > 1,
            allowed_failure: failed && allow_failure,
            skipped,
            unit_done,
        })
    }

    /// Interrupt or external stop: nothing new starts and no retry is granted.
    pub fn stop_starting(&mut self) {
        self.halted = true;
        self.stopped = true;
    }

    /// Nothing is running or waiting to retry, and nothing more can start.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.running() == 0 && (self.halted || self.queue.is_empty())
    }

    /// Included units that never started an instance and were not skipped: what a stop
    /// or fail-fast left undone. Units with some instances started are not listed.
    #[must_use]
    pub fn not_started(&self) -> Vec<UnitId> {
        (0..self.units.len() as u32)
            .map(UnitId)
            .filter(|u| {
                let s = &self.units[u.index()];
                s.included && matches!(s.phase, Phase::Waiting | Phase::Ready) && s.started == 0
            })
            .collect()
    }

    /// Slots in use: running instances, instances waiting to retry, item listings.
    #[must_use]
    pub fn running(&self) -> usize {
        self.slots - self.free_slots.len()
    }

    /// Marks `unit` failed; on its first failure skips its dependents (transitively)
    /// and, under fail-fast, halts.
    fn fail_unit(&mut self, unit: UnitId) -> Vec<Skipped> {
        let state = &mut self.units[unit.index()];
        if std::mem::replace(&mut state.failed, true) {
            return Vec::new();
        }
        if self.policy == FailPolicy::FailFast {
            self.halted = true;
        }
        let mut skipped = Vec::new();
        let mut stack = vec![unit];
        while let Some(u) = stack.pop() {
            for i in self.dependent_start[u.index()]..self.dependent_start[u.index() + 1] {
                let dependent = self.dependents[i];
                let state = &mut self.units[dependent.index()];
                // Only waiting units can be skipped: a dependent of a unit that is not
                // done has not started, and one already skipped was reported before.
                if state.phase == Phase::Waiting {
                    state.phase = Phase::Skipped;
                    skipped.push(Skipped { unit: dependent, needs: unit });
                    stack.push(dependent);
                }
            }
        }
        skipped.sort_by_key(|s| self.topo_pos[s.unit.index()]);
        skipped
    }

    /// Marks `unit` done and, if it did not fail, readies dependents that need nothing
    /// else.
    fn complete_unit(&mut self, unit: UnitId) {
        let state = &mut self.units[unit.index()];
        state.phase = Phase::Done;
        if state.failed || state.interrupted {
            return;
        }
        let newly_ready = self.release_dependents(unit);
        self.make_ready(newly_ready);
    }

    fn release_dependents(&mut self, unit: UnitId) -> Vec<UnitId> {
        let mut ready = Vec::new();
        for i in self.dependent_start[unit.index()]..self.dependent_start[unit.index() + 1] {
            let dependent = self.dependents[i];
            let state = &mut self.units[dependent.index()];
            if state.phase == Phase::Waiting {
                state.missing -= 1;
                if state.missing == 0 {
                    ready.push(dependent);
                }
            }
        }
        ready
    }

    /// Queues units whose dependencies are all done. A unit with zero instances is done
    /// at once, which may ready its own dependents in turn (iteratively, not recursively).
    fn make_ready(&mut self, mut units: Vec<UnitId>) {
        while let Some(unit) = units.pop() {
            let state = &mut self.units[unit.index()];
            state.phase = Phase::Ready;
            if state.instances == Some(0) {
                state.phase = Phase::Done;
                units.extend(self.release_dependents(unit));
            } else {
                self.queue.push(unit);
            }
        }
    }
}

fn final_status(result: AttemptResult) -> TaskStatus {
    match result {
        AttemptResult::Succeeded => TaskStatus::Succeeded,
        AttemptResult::Failed => TaskStatus::Failed,
        AttemptResult::TimedOut => TaskStatus::TimedOut,
        AttemptResult::Interrupted => TaskStatus::Interrupted,
    }
}
