//! The vocabulary between the runner and the [`Scheduler`](super::Scheduler): what the
//! runner declares per unit ([`UnitPlan`], [`Limits`], [`FailPolicy`]), what the
//! scheduler asks it to do ([`Work`]) and what it decides when an attempt ends
//! ([`Decision`], [`Finished`]).
//!
//! Plain data only: no behaviour beyond small constructors, so the runner, `simulate`
//! and the tests build these literally.

use std::time::Duration;

use crate::event::{TaskKey, TaskStatus};
use crate::graph::UnitId;

/// How one unit (a task, or a fan-out task with its instances) takes part in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitPlan {
    /// Part of this run (selected, or needed by something selected). Units that are not
    /// included are ignored entirely, including as dependencies of included ones.
    pub included: bool,
    /// Bigger starts first. The runner passes `graph.bottom_levels(expected durations)`.
    pub priority: f64,
    /// Index into [`Limits::pools`].
    pub pool: Option<usize>,
    /// Most instances of this unit running at once (a fan-out task's `jobs`).
    /// `Some(0)` is treated as 1 so that the unit can still run.
    pub cap: Option<usize>,
    pub instances: Instances,
    /// Extra attempts after a failed or timed-out attempt.
    pub retries: u32,
    /// Delay before the first retry, doubled before each further one.
    pub retry_delay: Duration,
    /// A failure is reported but does not fail the run; dependents still run.
    pub allow_failure: bool,
}

impl UnitPlan {
    /// An included plain task (one instance) with the given priority and no limits.
    #[must_use]
    pub fn task(priority: f64) -> Self {
        UnitPlan {
            included: true,
            priority,
            pool: None,
            cap: None,
            instances: Instances::Known(1),
            retries: 0,
            retry_delay: Duration::from_secs(1),
            allow_failure: false,
        }
    }
}

/// How many instances a unit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// Known when the run is planned (a plain task is `Known(1)`).
    Known(u32),
    /// The items come from a command run when the unit becomes ready
    /// ([`Work::ListItems`], then [`Scheduler::items_listed`](super::Scheduler::items_listed)).
    Pending,
}

/// Capacity of the run: global slots and named pools inside them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Zero is treated as 1.
    pub slots: usize,
    /// Limit per pool, indexed by [`UnitPlan::pool`]. A zero limit is treated as 1.
    pub pools: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPolicy {
    /// After the first failure (not allowed), start nothing new.
    FailFast,
    /// Keep starting everything that does not depend on a failure.
    KeepGoing,
}

/// Something the runner should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Run the unit's `for_each` command to list its items; holds one slot (and its
    /// pool) until [`Scheduler::items_listed`](super::Scheduler::items_listed).
    ListItems { unit: UnitId, slot: u32 },
    /// Start attempt 1 of this instance on `slot`, the lowest free slot index
    /// (`0..slots`, used as Gantt lanes).
    Start { key: TaskKey, slot: u32 },
}

/// How one attempt ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Succeeded,
    Failed,
    /// A failure for retry purposes; the final status is `TimedOut`.
    TimedOut,
    /// Final: never retried, and nothing new starts afterwards.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start attempt `attempt` of the same key after `delay`; the slot stays held.
    Retry {
        attempt: u32,
        delay: Duration,
    },
    Finished(Finished),
}

/// The end of one instance (or of a unit's item listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// `Succeeded`, `Failed`, `TimedOut` or `Interrupted`.
    pub status: TaskStatus,
    pub attempts: u32,
    /// Succeeded after at least one failed attempt.
    pub flaky: bool,
    /// Failed (or timed out), but the unit has `allow_failure`.
    pub allowed_failure: bool,
    /// Units newly skipped because of this failure (transitively), in topological order.
    pub skipped: Vec<Skipped>,
    /// This was the last instance of its unit: the unit is done.
    pub unit_done: bool,
}

/// A unit that will not run because something it needs failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub unit: UnitId,
    /// The failed unit it (transitively) needed.
    pub needs: UnitId,
}
