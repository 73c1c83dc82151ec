//! [`Estimator`]: the footer's predicted time left, from the events of the run.
//!
//! It keeps what [`volley_core::forecast`] needs (the planned graph, each task's
//! usual duration per instance, its pool and cap, instances finished, instances
//! running and since when) and runs that simulation of the real scheduler on what is
//! left. Between two simulations the last answer counts down with the clock, so a
//! redraw costs a subtraction; a simulation runs only after something changed, and
//! at most once per [`MIN_INTERVAL`] or 20 × its own last cost, whichever is longer,
//! so even a 10 000-task graph stays a small fraction of one core.
//!
//! Only shown once history knows at least one duration: without any, the "estimate"
//! would be a count of tasks in seconds.

use std::time::{Duration, Instant};

use foldhash::HashMap;
use volley_core::event::{Event, TaskKey};
use volley_core::forecast::{TaskProgress, UNKNOWN_DURATION, number_pools, time_left};
use volley_core::graph::UnitId;
use volley_core::schedule::Limits;

/// Fastest re-simulation: well below what a human notices in a "~12s left".
const MIN_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
struct Task {
    deps: Vec<usize>,
    expected: Option<Duration>,
    /// `None` for a fan-out task whose items are not listed yet (counts as one).
    instances: Option<u32>,
    finished: u32,
    /// Finished as a whole (a plain task, or a skipped or failed fan-out).
    done: bool,
    /// Index into `Estimator::limits.pools`.
    pool: Option<usize>,
    cap: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Estimator {
    index: HashMap<UnitId, usize>,
    tasks: Vec<Task>,
    running: HashMap<TaskKey, Instant>,
    limits: Limits,
    any_known: bool,
    dirty: bool,
    /// The last simulation: when, its answer, and what it cost.
    last: Option<(Instant, Duration)>,
    cost: Duration,
}

impl Estimator {
    pub fn new() -> Self {
        Estimator { limits: Limits { slots: 1, ..Limits::default() }, ..Estimator::default() }
    }

    /// Takes in one event seen at `now`.
    pub fn observe(&mut self, event: &Event, now: Instant) {
        match event {
            Event::RunStarted { tasks, jobs, .. } => {
                let (pools, limits) =
                    number_pools(tasks.iter().map(|t| t.pool.as_ref().map(|p| (&*p.name, p.limit))));
                self.limits = Limits { slots: (*jobs).max(1), pools: limits };
                self.index = tasks.iter().enumerate().map(|(i, t)| (t.unit, i)).collect();
                self.tasks = tasks
                    .iter()
                    .zip(pools)
                    .map(|(t, pool)| Task {
                        deps: t.deps.iter().filter_map(|d| self.index.get(d).copied()).collect(),
                        expected: t.expected_us.map(Duration::from_micros),
                        instances: Some(1),
                        finished: 0,
                        done: false,
                        pool,
                        cap: t.cap,
                    })
                    .collect();
                self.any_known = tasks.iter().any(|t| t.expected_us.is_some());
            }
            Event::InstancesPlanned { unit, count, .. } => {
                if let Some(task) = self.task(*unit) {
                    task.instances = Some(*count);
                }
            }
            Event::AttemptStarted { key, .. } => {
                self.running.entry(*key).or_insert(now);
            }
            Event::TaskFinished { key, .. } => {
                let started = self.running.remove(key).is_some();
                if let Some(task) = self.task(key.unit) {
                    if key.instance == TaskKey::LISTING {
                        // The listing is not an instance; the items follow (or the task failed).
                    } else if started || task.instances == Some(1) {
                        task.finished += 1;
                    } else {
                        // A fan-out task ending as a whole, e.g. skipped: nothing of it is left.
                        task.done = true;
                    }
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    fn task(&mut self, unit: UnitId) -> Option<&mut Task> {
        let i = *self.index.get(&unit)?;
        self.tasks.get_mut(i)
    }

    /// The predicted time left at `now`, if history knows any duration.
    pub fn left(&mut self, now: Instant) -> Option<Duration> {
        if !self.any_known {
            return None;
        }
        let due = self.last.is_none_or(|(at, _)| now.duration_since(at) >= MIN_INTERVAL.max(self.cost * 20));
        if self.dirty && due {
            let started = Instant::now();
            let left = time_left(&self.progress(now), &self.limits);
            self.cost = started.elapsed();
            self.last = Some((now, left));
            self.dirty = false;
        }
        self.last.map(|(at, left)| left.saturating_sub(now.duration_since(at)))
    }

    fn progress(&self, now: Instant) -> Vec<TaskProgress> {
        let mut running: Vec<Vec<Duration>> = vec![Vec::new(); self.tasks.len()];
        for (key, started) in &self.running {
            if key.instance == TaskKey::LISTING {
                continue;
            }
            if let Some(&i) = self.index.get(&key.unit) {
                running[i].push(now.duration_since(*started));
            }
        }
        self.tasks
            .iter()
            .zip(running)
            .map(|(task, running)| {
                let total = if task.done { 0 } else { task.instances.unwrap_or(1) };
                TaskProgress {
                    deps: task.deps.clone(),
                    expected: task.expected.unwrap_or(UNKNOWN_DURATION),
                    waiting: total.saturating_sub(task.finished).saturating_sub(running.len() as u32),
                    running,
                    pool: task.pool,
                    cap: task.cap,
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "estimate_tests.rs"]
mod tests;
