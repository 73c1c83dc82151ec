//! The critical path of a recorded run, from its recorded times.
//!
//! Computed by the same code as the end-of-run summary, not a second
//! implementation: the recorded graph, attempts and results are replayed as events
//! into a [`RunSummary`], whose walk (from the task that ended last, back through the
//! dependency that finished last before it started) gives the chain and its length.
//! Without the recorded graph (runs from before schema v2) there are no edges to
//! walk, and the path is unknown rather than guessed.

use std::collections::HashMap;
use std::sync::Arc;

use volley_core::event::{Event, PlannedTask, TaskKey, TaskStatus};
use volley_core::graph::UnitId;
use volley_core::summary::RunSummary;

use super::model::CriticalPath;
use crate::record::RunRecord;

/// `None` when the run's graph was not recorded.
pub fn critical_path<'a>(record: &'a RunRecord) -> Option<CriticalPath> {
    let units = record.units.as_ref()?;
    let mut ids: HashMap<&str, UnitId> = units.iter().map(|u| (u.name.as_str(), UnitId(u.unit))).collect();
    let planned = units
        .iter()
        .map(|u| PlannedTask {
            deps: u.deps.iter().filter_map(|d| ids.get(d.as_str()).copied()).collect(),
            ..PlannedTask::new(UnitId(u.unit), Arc::from(u.name.as_str()))
        })
        .collect();
    let mut summary = RunSummary::new();
    summary.observe(&Event::RunStarted {
        run_id: Arc::from(record.run.run_key.as_str()),
        command: record.run.command.clone(),
        jobs: record.run.jobs.max(0) as usize,
        started_at_us: record.run.started_at_us,
        tasks: planned,
        dry_run: false,
    });
    for unit in units {
        if let Some(count) = unit.instances {
            summary.observe(&Event::InstancesPlanned {
                t_us: 0,
                unit: UnitId(unit.unit),
                name: Arc::from(unit.name.as_str()),
                count: count.clamp(0, i64::from(u32::MAX)) as u32,
            });
        }
    }
    // Work the graph does not list (none today) still gets a unit of its own, so it
    // can end the path but never joins a chain.
    let mut next_id = units.iter().map(|u| u.unit + 1).max().unwrap_or(0);
    let mut key = |unit: &'a str, instance: u32| {
        let unit = *ids.entry(unit).or_insert_with(|| {
            next_id += 1;
            UnitId(next_id - 1)
        });
        TaskKey { unit, instance }
    };
    for attempt in &record.attempts {
        summary.observe(&Event::AttemptStarted {
            t_us: attempt.started_us.max(0) as u64,
            key: key(&attempt.unit, attempt.instance),
            name: Arc::from(attempt.name.as_str()),
            attempt: attempt.attempt,
            slot: attempt.slot,
            pid: 0,
            expected_us: None,
        });
    }
    for task in &record.tasks {
        let Some(status) = TaskStatus::from_word(&task.status) else { continue };
        summary.observe(&Event::TaskFinished {
            t_us: task.ended_us.max(0) as u64,
            key: key(&task.unit, task.instance),
            name: Arc::from(task.name.as_str()),
            status,
            duration_us: task.duration_us.max(0) as u64,
            attempts: task.attempts.clamp(0, i64::from(u32::MAX)) as u32,
            allowed_failure: task.allowed_failure,
            flaky: task.flaky,
            needs: None,
            log: None,
        });
    }
    let (path, length_us) = summary.critical_path();
    Some(CriticalPath { tasks: path.iter().map(ToString::to_string).collect(), length_us })
}
