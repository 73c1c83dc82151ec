//! Runs the real [`Scheduler`] in virtual time: every instance takes its unit's
//! expected duration and succeeds. Used by `volley plan`, `--dry-run` and the
//! scheduler's own property tests, so the prediction and the run share one policy.
//!
//! Deterministic: at each instant every attempt ending then is finished first (in key
//! order), then everything that can start does, so equal inputs give equal timelines.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::event::TaskKey;
use crate::graph::{Graph, UnitId};
use crate::schedule::{AttemptResult, FailPolicy, Instances, Limits, Scheduler, UnitPlan, Work};

/// The predicted run: one entry per instance, in start order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    pub entries: Vec<TimelineEntry>,
    /// When the last instance ends (zero for an empty run).
    pub makespan: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    pub key: TaskKey,
    pub slot: u32,
    pub start: Duration,
    pub end: Duration,
}

/// Simulates a run. `durations` has one duration per unit, taken by each of its
/// instances (missing ones count as zero). `Pending` units are treated as `Known(1)`:
/// the runner passes known counts when it has them.
#[must_use]
pub fn simulate(graph: &Graph, units: Vec<UnitPlan>, limits: Limits, durations: &[Duration]) -> Timeline {
    let units = units
        .into_iter()
        .map(|mut plan| {
            if plan.instances == Instances::Pending {
                plan.instances = Instances::Known(1);
            }
            plan
        })
        .collect();
    let duration = |unit: UnitId| durations.get(unit.index()).copied().unwrap_or_default();
    let mut scheduler = Scheduler::new(graph, units, limits, FailPolicy::FailFast);
    let mut ends: BinaryHeap<Reverse<(Duration, TaskKey)>> = BinaryHeap::new();
    let mut entries = Vec::new();
    let mut now = Duration::ZERO;
    loop {
        while let Some(work) = scheduler.next() {
            match work {
                Work::Start { key, slot } => {
                    let end = now.saturating_add(duration(key.unit));
                    entries.push(TimelineEntry { key, slot, start: now, end });
                    ends.push(Reverse((end, key)));
                }
                // Not reached (no unit is pending here); a single item keeps it total.
                Work::ListItems { unit, .. } => {
                    scheduler.items_listed(unit, Some(1));
                }
            }
        }
        let Some(Reverse((end, key))) = ends.pop() else { break };
        now = end;
        scheduler.attempt_finished(key, AttemptResult::Succeeded);
        while let Some(Reverse((end, key))) = ends.peek().copied()
            && end == now
        {
            ends.pop();
            scheduler.attempt_finished(key, AttemptResult::Succeeded);
        }
    }
    Timeline { entries, makespan: now }
}

impl Timeline {
    /// One line per entry, by start then slot:
    /// `  0.000s →  1.500s  slot 0  name[instance]` (a unit with one instance shows
    /// just its name). For snapshots and `--dry-run`.
    #[must_use]
    pub fn render_text(&self, graph: &Graph) -> String {
        let mut per_unit: HashMap<UnitId, u32> = HashMap::new();
        for entry in &self.entries {
            *per_unit.entry(entry.key.unit).or_default() += 1;
        }
        let mut sorted: Vec<&TimelineEntry> = self.entries.iter().collect();
        sorted.sort_by_key(|e| (e.start, e.slot, e.key));
        let time_width = format!("{:.3}", self.makespan.as_secs_f64()).len().max(6);
        let max_slot = self.entries.iter().map(|e| e.slot).max().unwrap_or(0);
        let slot_width = max_slot.to_string().len();
        let mut out = String::new();
        for entry in sorted {
            let name = graph.name(entry.key.unit);
            let _ = write!(
                out,
                " {:>tw$.3}s → {:>tw$.3}s  slot {:<sw$}  {name}",
                entry.start.as_secs_f64(),
                entry.end.as_secs_f64(),
                entry.slot,
                tw = time_width,
                sw = slot_width,
            );
            if per_unit.get(&entry.key.unit).copied().unwrap_or(0) > 1 {
                let _ = write!(out, "[{}]", entry.key.instance);
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u32) -> Graph {
        let names = (0..n).map(|i| format!("t{i}")).collect();
        Graph::new(names, (0..n).map(|i| if i == 0 { vec![] } else { vec![UnitId(i - 1)] }).collect())
    }

    #[test]
    fn empty_run_has_no_entries_and_zero_makespan() {
        let g = chain(1);
        let plans = vec![UnitPlan { included: false, ..UnitPlan::task(0.0) }];
        let timeline = simulate(&g, plans, Limits { slots: 2, pools: vec![] }, &[Duration::from_secs(1)]);
        assert_eq!((timeline.entries.len(), timeline.makespan), (0, Duration::ZERO));
        assert_eq!(timeline.render_text(&g), "");
    }

    #[test]
    fn pending_units_run_once_and_columns_widen_with_the_makespan() {
        let g = chain(2);
        let plans = vec![
            UnitPlan { instances: Instances::Known(2), ..UnitPlan::task(2.0) },
            UnitPlan { instances: Instances::Pending, ..UnitPlan::task(1.0) },
        ];
        let durations = [Duration::from_secs(60), Duration::from_millis(40_500)];
        let timeline = simulate(&g, plans, Limits { slots: 1, pools: vec![] }, &durations);
        assert_eq!(
            timeline.render_text(&g),
            "   0.000s →  60.000s  slot 0  t0[0]\n  60.000s → 120.000s  slot 0  t0[1]\n 120.000s → 160.500s  slot 0  t1\n"
        );
        assert_eq!(timeline.makespan, Duration::from_millis(160_500));
    }
}
