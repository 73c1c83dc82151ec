//! Reading one whole run for `volley report` and `volley compare`: the run row, the
//! graph it planned (`run_units`, schema v2), every attempt and task result, the
//! samples, the alerts, and each task's baseline from the runs before it.
//!
//! Read-only, like every query here. Columns the recorder has not filled yet (peak
//! memory, IO, slot wait before sampling lands) stay `None`: a report shows "–"
//! for them rather than a made-up zero.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};
use volley_core::history::Baseline;

use super::baseline::successes_before;
use super::query::{RUN_COLUMNS, RunRow, run_row};
use super::schema::has_table;
use super::service_query::{ServiceEventRow, service_events};

/// Which run a report is about, as typed after `volley report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSelector {
    /// A run id as `volley history` shows it.
    Id(i64),
    /// `last` is `Back(1)`, `-2` the run before it, and so on.
    Back(u32),
}

impl RunSelector {
    /// Parses `last`, `-N` (N ≥ 1) or a positive id; `None` for anything else.
    pub fn parse(text: &str) -> Option<RunSelector> {
        if text == "last" {
            return Some(RunSelector::Back(1));
        }
        if let Some(back) = text.strip_prefix('-') {
            return back.parse::<u32>().ok().filter(|n| *n >= 1).map(RunSelector::Back);
        }
        text.parse::<i64>().ok().filter(|id| *id >= 1).map(RunSelector::Id)
    }
}

/// The run a selector names, if it exists.
pub fn resolve_run(conn: &Connection, selector: RunSelector) -> rusqlite::Result<Option<i64>> {
    match selector {
        RunSelector::Id(id) => {
            conn.query_row("SELECT id FROM runs WHERE id = ?1", [id], |row| row.get(0)).optional()
        }
        RunSelector::Back(n) => conn
            .query_row("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?1", [i64::from(n) - 1], |row| {
                row.get(0)
            })
            .optional(),
    }
}

/// A task as planned at the start of the run (schema v2 `run_units`).
#[derive(Debug, Clone)]
pub struct UnitRow {
    pub unit: u32,
    pub name: String,
    pub deps: Vec<String>,
    pub expected_us: Option<i64>,
    pub instances: Option<i64>,
}

/// One try of a task or instance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptRow {
    pub name: String,
    pub unit: String,
    pub instance: u32,
    pub attempt: u32,
    pub slot: u32,
    pub pid: Option<i64>,
    pub started_us: i64,
    /// `None` while running (or if volley was killed before it ended).
    pub ended_us: Option<i64>,
    pub status: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub message: Option<String>,
    pub success: Option<bool>,
    pub retry_in_us: Option<i64>,
    pub cpu_user_us: Option<i64>,
    pub cpu_system_us: Option<i64>,
    pub peak_rss_bytes: Option<i64>,
    pub read_bytes: Option<i64>,
    pub written_bytes: Option<i64>,
    pub wait_us: Option<i64>,
    pub cache_hit: bool,
}

/// A task's (or instance's) final result.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub name: String,
    pub unit: String,
    pub instance: u32,
    pub status: String,
    pub ended_us: i64,
    pub duration_us: i64,
    pub attempts: i64,
    pub flaky: bool,
    pub allowed_failure: bool,
    pub needs: Option<String>,
    pub log: Option<String>,
}

/// One sampled point: a task's (`name` set) or the machine's (`name` `None`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleRow {
    pub t_us: i64,
    pub name: Option<String>,
    pub unit: Option<String>,
    pub instance: Option<i64>,
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<i64>,
    pub read_bytes: Option<i64>,
    pub written_bytes: Option<i64>,
    pub mem_available_bytes: Option<i64>,
    pub disk_free_bytes: Option<i64>,
    pub load1: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRow {
    pub t_us: i64,
    pub kind: String,
    pub name: Option<String>,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

/// Everything recorded about one run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run: RunRow,
    /// `None` when the run was recorded before the graph was (schema v1): its
    /// dependency edges, hence its critical path, are unknown.
    pub units: Option<Vec<UnitRow>>,
    /// In start order.
    pub attempts: Vec<AttemptRow>,
    /// In finishing order.
    pub tasks: Vec<TaskRow>,
    /// In time order; only read when asked for (they can be many).
    pub samples: Vec<SampleRow>,
    pub alerts: Vec<AlertRow>,
    /// Per task name: its last successful runs *before* this run.
    pub baselines: HashMap<String, Baseline>,
    /// Its services' lifecycle (an `up`, or a `run` that started services), in time order.
    pub services: Vec<ServiceEventRow>,
}

/// Reads run `id` whole; `samples` says whether to read its time series too.
pub fn load_run(conn: &Connection, id: i64, samples: bool) -> rusqlite::Result<Option<RunRecord>> {
    let run =
        conn.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [id], run_row).optional()?;
    let Some(run) = run else { return Ok(None) };
    let tasks = tasks(conn, id)?;
    let baselines = baselines(conn, id, &tasks)?;
    Ok(Some(RunRecord {
        units: units(conn, id)?,
        attempts: attempts(conn, id)?,
        samples: if samples { self::samples(conn, id)? } else { Vec::new() },
        alerts: alerts(conn, id)?,
        services: service_events(conn, id)?,
        tasks,
        baselines,
        run,
    }))
}

fn units(conn: &Connection, run: i64) -> rusqlite::Result<Option<Vec<UnitRow>>> {
    if !has_table(conn, "run_units")? {
        return Ok(None);
    }
    let mut statement = conn.prepare(
        "SELECT unit, name, deps, expected_us, instances FROM run_units WHERE run_id = ?1 ORDER BY unit",
    )?;
    let rows = statement
        .query_map([run], |row| {
            let deps: String = row.get(2)?;
            Ok(UnitRow {
                unit: row.get(0)?,
                name: row.get(1)?,
                deps: serde_json::from_str(&deps).unwrap_or_default(),
                expected_us: row.get(3)?,
                instances: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // A v1 run migrated to v2 has no rows: its graph was never recorded.
    Ok((!rows.is_empty()).then_some(rows))
}

fn attempts(conn: &Connection, run: i64) -> rusqlite::Result<Vec<AttemptRow>> {
    let mut statement = conn.prepare(
        "SELECT name, unit, instance, attempt, slot, pid, started_us, ended_us, status, exit_code, signal,
                message, success, retry_in_us, cpu_user_us, cpu_system_us, peak_rss_bytes, read_bytes,
                written_bytes, wait_us, cache_hit
         FROM attempts WHERE run_id = ?1 ORDER BY started_us, id",
    )?;
    statement
        .query_map([run], |row| {
            Ok(AttemptRow {
                name: row.get(0)?,
                unit: row.get(1)?,
                instance: row.get(2)?,
                attempt: row.get(3)?,
                slot: row.get(4)?,
                pid: row.get(5)?,
                started_us: row.get(6)?,
                ended_us: row.get(7)?,
                status: row.get(8)?,
                exit_code: row.get(9)?,
                signal: row.get(10)?,
                message: row.get(11)?,
                success: row.get(12)?,
                retry_in_us: row.get(13)?,
                cpu_user_us: row.get(14)?,
                cpu_system_us: row.get(15)?,
                peak_rss_bytes: row.get(16)?,
                read_bytes: row.get(17)?,
                written_bytes: row.get(18)?,
                wait_us: row.get(19)?,
                cache_hit: row.get(20)?,
            })
        })?
        .collect()
}

fn tasks(conn: &Connection, run: i64) -> rusqlite::Result<Vec<TaskRow>> {
    let mut statement = conn.prepare(
        "SELECT name, unit, instance, status, ended_us, duration_us, attempts, flaky, allowed_failure, needs, log
         FROM tasks WHERE run_id = ?1 ORDER BY id",
    )?;
    statement
        .query_map([run], |row| {
            Ok(TaskRow {
                name: row.get(0)?,
                unit: row.get(1)?,
                instance: row.get(2)?,
                status: row.get(3)?,
                ended_us: row.get(4)?,
                duration_us: row.get(5)?,
                attempts: row.get(6)?,
                flaky: row.get(7)?,
                allowed_failure: row.get(8)?,
                needs: row.get(9)?,
                log: row.get(10)?,
            })
        })?
        .collect()
}

fn samples(conn: &Connection, run: i64) -> rusqlite::Result<Vec<SampleRow>> {
    let mut statement = conn.prepare(
        "SELECT t_us, name, unit, instance, cpu_percent, rss_bytes, read_bytes, written_bytes,
                mem_available_bytes, disk_free_bytes, load1
         FROM samples WHERE run_id = ?1 ORDER BY t_us, id",
    )?;
    statement
        .query_map([run], |row| {
            Ok(SampleRow {
                t_us: row.get(0)?,
                name: row.get(1)?,
                unit: row.get(2)?,
                instance: row.get(3)?,
                cpu_percent: row.get(4)?,
                rss_bytes: row.get(5)?,
                read_bytes: row.get(6)?,
                written_bytes: row.get(7)?,
                mem_available_bytes: row.get(8)?,
                disk_free_bytes: row.get(9)?,
                load1: row.get(10)?,
            })
        })?
        .collect()
}

fn alerts(conn: &Connection, run: i64) -> rusqlite::Result<Vec<AlertRow>> {
    let mut statement = conn.prepare(
        "SELECT t_us, kind, name, message, value, threshold FROM alerts WHERE run_id = ?1 ORDER BY t_us, id",
    )?;
    statement
        .query_map([run], |row| {
            Ok(AlertRow {
                t_us: row.get(0)?,
                kind: row.get(1)?,
                name: row.get(2)?,
                message: row.get(3)?,
                value: row.get(4)?,
                threshold: row.get(5)?,
            })
        })?
        .collect()
}

/// The baseline of every task of run `run` from its last successful runs before it
/// (same rule as `volley history --check`: succeeded and not flaky).
fn baselines(conn: &Connection, run: i64, tasks: &[TaskRow]) -> rusqlite::Result<HashMap<String, Baseline>> {
    let names: Vec<&str> = tasks.iter().map(|task| task.name.as_str()).collect();
    let prior = successes_before(conn, &names, run)?;
    Ok(prior.into_iter().filter_map(|(name, durations)| Some((name, Baseline::of(&durations)?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_selectors_parse_like_the_cli_documents() {
        assert_eq!(RunSelector::parse("last"), Some(RunSelector::Back(1)));
        assert_eq!(RunSelector::parse("-1"), Some(RunSelector::Back(1)));
        assert_eq!(RunSelector::parse("-3"), Some(RunSelector::Back(3)));
        assert_eq!(RunSelector::parse("12"), Some(RunSelector::Id(12)));
        for bad in ["", "0", "-0", "first", "1.5", "--2", "-x"] {
            assert_eq!(RunSelector::parse(bad), None, "{bad:?}");
        }
    }
}
