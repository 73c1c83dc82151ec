//! Ready units ordered by priority, and the pool and cap limits that may hold them back.
//!
//! A unit is queued once, however many instances it has left to start: the queue holds
//! units, not instances, so 100 000 fan-out instances cost one heap entry. Each queued
//! unit sits in exactly one place ([`Place`]):
//! - `Main`: the priority heap [`ReadyQueue::take`] pops from;
//! - `Pool`: the pool's own heap, because the pool was full when the unit came up;
//! - `Cap`: parked, because as many of its instances run as its cap allows.
//!
//! Invariants that keep [`ReadyQueue::take`] O(log n) amortised without rescans:
//! - a unit in `Main` has room under its cap (it is parked the moment it fills it);
//! - a unit moves to a pool heap only while that pool is full, and every release of a
//!   pool moves that pool's best blocked unit back to `Main`. So whenever a pool has
//!   room and blocked units, at least as many of its units wait in `Main` as it has
//!   free places, and a blocked high-priority unit never holds back lower-priority
//!   work that fits;
//! - a parked unit returns to `Main` when one of its own instances releases.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::graph::UnitId;

/// Where a unit waits, if it waits at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Not queued: not ready, or nothing left to start.
    Out,
    Main,
    Pool,
    Cap,
}

/// A heap entry: higher priority first, then lower unit id.
#[derive(Debug, Clone, Copy)]
struct Entry {
    priority: f64,
    unit: UnitId,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // `total_cmp` keeps the order total (and deterministic) even for NaN priorities.
        self.priority.total_cmp(&other.priority).then_with(|| other.unit.cmp(&self.unit))
    }
}

/// Per-unit admission data.
#[derive(Debug, Clone)]
struct Admission {
    priority: f64,
    pool: Option<usize>,
    cap: usize,
    /// Slots this unit holds now (running instances, retry waits, its item listing).
    active: usize,
    place: Place,
}

#[derive(Debug, Clone)]
pub(super) struct ReadyQueue {
    main: BinaryHeap<Entry>,
    blocked: Vec<BinaryHeap<Entry>>,
    pool_used: Vec<usize>,
    pool_limit: Vec<usize>,
    units: Vec<Admission>,
    /// How many units are in `Place::Cap`, so that `is_empty` needs no scan.
    parked: usize,
}

impl ReadyQueue {
    /// `units` gives each unit's priority, pool and cap. A pool index outside `pools`
    /// is ignored; zero limits are raised to 1 so that nothing can wait forever.
    pub(super) fn new(
        units: impl Iterator<Item = (f64, Option<usize>, Option<usize>)>,
        pools: &[usize],
    ) -> Self {
        let units = units
            .map(|(priority, pool, cap)| Admission {
                priority,
                pool: pool.filter(|p| *p < pools.len()),
                cap: cap.map_or(usize::MAX, |c| c.max(1)),
                active: 0,
                place: Place::Out,
            })
            .collect();
        ReadyQueue {
            main: BinaryHeap::new(),
            blocked: vec![BinaryHeap::new(); pools.len()],
            pool_used: vec![0; pools.len()],
            pool_limit: pools.iter().map(|l| (*l).max(1)).collect(),
            units,
            parked: 0,
        }
    }

    /// Queues a unit that has something to start. Call again after [`take`](Self::take)
    /// while it has more.
    pub(super) fn push(&mut self, unit: UnitId) {
        let admission = &mut self.units[unit.index()];
        debug_assert_eq!(admission.place, Place::Out, "a unit is queued once");
        if admission.active >= admission.cap {
            admission.place = Place::Cap;
            self.parked += 1;
        } else {
            admission.place = Place::Main;
            self.main.push(Entry { priority: admission.priority, unit });
        }
    }

    /// The best queued unit that fits its pool and cap, charged one place in both.
    /// The caller checks the global slots first.
    pub(super) fn take(&mut self) -> Option<UnitId> {
        while let Some(entry) = self.main.pop() {
            let admission = &mut self.units[entry.unit.index()];
            if admission.active >= admission.cap {
                admission.place = Place::Cap;
                self.parked += 1;
                continue;
            }
            if let Some(pool) = admission.pool
                && self.pool_used[pool] >= self.pool_limit[pool]
            {
                admission.place = Place::Pool;
                self.blocked[pool].push(entry);
                continue;
            }
            admission.place = Place::Out;
            admission.active += 1;
            if let Some(pool) = admission.pool {
                self.pool_used[pool] += 1;
            }
            return Some(entry.unit);
        }
        None
    }

    /// Gives back the place one of `unit`'s instances (or its listing) held.
    pub(super) fn release(&mut self, unit: UnitId) {
        let admission = &mut self.units[unit.index()];
        admission.active = admission.active.saturating_sub(1);
        if admission.place == Place::Cap {
            self.parked -= 1;
            admission.place = Place::Main;
            self.main.push(Entry { priority: admission.priority, unit });
        }
        if let Some(pool) = admission.pool {
            self.pool_used[pool] = self.pool_used[pool].saturating_sub(1);
            if let Some(entry) = self.blocked[pool].pop() {
                self.units[entry.unit.index()].place = Place::Main;
                self.main.push(entry);
            }
        }
    }

    /// Whether anything is queued in any place (ready but not started).
    pub(super) fn is_empty(&self) -> bool {
        self.main.is_empty() && self.parked == 0 && self.blocked.iter().all(BinaryHeap::is_empty)
    }
}
