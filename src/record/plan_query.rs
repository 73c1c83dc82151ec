//! What history knows about fan-out tasks, for `volley plan`: how many instances the
//! task had last time and how long one usually takes.
//!
//! A `for_each` task is recorded through its instances (`each[a]`, `each[b]`, …, all
//! with `unit = 'each'`), never under its own name, so the per-name medians of
//! [`expectations`](super::expectations) know nothing about it.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use volley_core::event::TaskKey;
use volley_core::history::{BASELINE_RUNS, median};

use super::schema::{has_table, open_for_reading};

/// History of one fan-out task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FanOutHistory {
    /// Median duration of one successful instance over the task's last
    /// [`BASELINE_RUNS`] runs.
    pub per_instance: Option<Duration>,
    /// Instance count of the task's most recent run.
    pub instances: Option<u32>,
}

// A fan-out task's instances, read by unit. `name != unit` repeats `name != ?1` in the
// words of the partial index `tasks_by_unit` (schema 4): SQLite uses a partial index
// only for a query that states its condition.

/// Durations of unit `?1`'s successful instances (not its listing, `?2`) in the
/// last `?3` runs that had any.
pub(super) const INSTANCE_DURATIONS: &str = "SELECT duration_us FROM tasks
     WHERE unit = ?1 AND name != ?1 AND name != unit AND instance != ?2
       AND status = 'succeeded' AND flaky = 0
       AND run_id IN (SELECT DISTINCT run_id FROM tasks WHERE unit = ?1 AND name != ?1 AND name != unit
                      ORDER BY run_id DESC LIMIT ?3)";

/// How many instances of unit `?1` (not its listing, `?2`) the latest run that had
/// any recorded.
pub(super) const INSTANCES_COUNTED: &str = "SELECT count(*) FROM tasks
     WHERE unit = ?1 AND name != ?1 AND name != unit AND instance != ?2
     GROUP BY run_id ORDER BY run_id DESC LIMIT 1";

/// [`FanOutHistory`] of the task `unit`; empty without a readable history.
pub fn fan_out_history(state_dir: &Path, unit: &str) -> FanOutHistory {
    let Some(conn) = open_for_reading(state_dir) else { return FanOutHistory::default() };
    fan_out_history_from(&conn, unit).unwrap_or_default()
}

/// [`fan_out_history`] on an open connection.
pub fn fan_out_history_from(conn: &Connection, unit: &str) -> rusqlite::Result<FanOutHistory> {
    let listing = i64::from(TaskKey::LISTING);
    let mut statement = conn.prepare_cached(INSTANCE_DURATIONS)?;
    let durations = statement
        .query_map(params![unit, listing, BASELINE_RUNS as i64], |row| row.get::<_, i64>(0))?
        .map(|r| r.map(|us| us.max(0) as u64))
        .collect::<rusqlite::Result<Vec<u64>>>()?;
    let per_instance = median(&durations).map(Duration::from_micros);
    Ok(FanOutHistory { per_instance, instances: last_count(conn, unit, listing)? })
}

/// The planned count of the latest run that knew it (schema 2), else the instances
/// recorded in the latest run that had any.
fn last_count(conn: &Connection, unit: &str, listing: i64) -> rusqlite::Result<Option<u32>> {
    let planned: Option<i64> = if has_table(conn, "run_units")? {
        conn.query_row(
            "SELECT instances FROM run_units WHERE name = ?1 AND instances IS NOT NULL
             ORDER BY run_id DESC LIMIT 1",
            [unit],
            |row| row.get(0),
        )
        .optional()?
    } else {
        None
    };
    if let Some(count) = planned {
        return Ok(u32::try_from(count).ok());
    }
    let counted: Option<i64> =
        conn.query_row(INSTANCES_COUNTED, params![unit, listing], |row| row.get(0)).optional()?;
    Ok(counted.and_then(|c| u32::try_from(c).ok()))
}
