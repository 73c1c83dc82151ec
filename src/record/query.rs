//! Reading the history: expected durations for the scheduler, the runs and task
//! durations behind `volley history`, and the regression check of `--check`.
//!
//! Reads are read-only connections that never create the file, except that a run
//! reads its expectations through the connection it then records with. The recent
//! successful runs behind expectations and baselines are read in [`super::baseline`].

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use volley_core::history::{Baseline, Verdict, median};

use super::baseline::{recent_successes, successes_before};
use super::plan_query::{FanOutHistory, fan_out_history_from};
use super::schema::open_for_reading;
use crate::runner::Expectations;

/// The median duration of each of `names` over its last 10 successful runs (for a
/// fan-out task, of one of its instances); names without history are absent. A
/// missing or unreadable history gives none.
pub fn expectations<'a>(state_dir: &Path, names: impl IntoIterator<Item = &'a str>) -> Expectations {
    match open_for_reading(state_dir) {
        Some(conn) => expectations_in(&conn, names),
        None => Expectations::default(),
    }
}

/// [`expectations`] from an open history (the one a run then records into).
pub fn expectations_in<'a>(conn: &Connection, names: impl IntoIterator<Item = &'a str>) -> Expectations {
    expectations_with(conn, names, None)
}

/// [`expectations_in`], with every name's recent successes read beforehand if
/// `preloaded` (see [`super::baseline::all_recent_successes`]).
pub(super) fn expectations_with<'a>(
    conn: &Connection,
    names: impl IntoIterator<Item = &'a str>,
    preloaded: Option<&HashMap<String, Vec<u64>>>,
) -> Expectations {
    let names: Vec<&str> = names.into_iter().collect();
    // One read transaction for all lookups: per statement, SQLite would otherwise take
    // and release its shared lock and re-check the schema.
    let Ok(_snapshot) = conn.unchecked_transaction() else { return Expectations::default() };
    let recent = match preloaded {
        Some(all) => names.iter().map(|name| all.get(*name).cloned().unwrap_or_default()).collect(),
        None => match recent_successes(conn, &names) {
            Ok(recent) => recent,
            Err(_) => return Expectations::default(),
        },
    };
    let mut by_name = HashMap::new();
    for (name, prior) in names.iter().zip(recent) {
        if let Some(us) = median(&prior) {
            by_name.insert((*name).to_string(), Duration::from_micros(us));
        } else if let Ok(FanOutHistory { per_instance: Some(each), .. }) = fan_out_history_from(conn, name) {
            // A fan-out task is recorded through its instances: expect one instance's median.
            by_name.insert((*name).to_string(), each);
        }
    }
    Expectations { by_name }
}

/// One recorded run: the row `history`, `report` and `compare` read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub run_key: String,
    pub command: Vec<String>,
    pub started_at_us: i64,
    /// `None` while running, or if volley was killed before the end (likewise `wall_us`).
    pub ended_at_us: Option<i64>,
    pub wall_us: Option<i64>,
    pub status: String,
    pub exit_code: Option<i32>,
    pub jobs: i64,
    pub host: String,
}

pub(super) const RUN_COLUMNS: &str =
    "id, run_key, command, started_at_us, ended_at_us, wall_us, status, exit_code, jobs, host";

/// A row selected with [`RUN_COLUMNS`].
pub(super) fn run_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let command: String = row.get(2)?;
    Ok(RunRow {
        id: row.get(0)?,
        run_key: row.get(1)?,
        command: serde_json::from_str(&command).unwrap_or_default(),
        started_at_us: row.get(3)?,
        ended_at_us: row.get(4)?,
        wall_us: row.get(5)?,
        status: row.get(6)?,
        exit_code: row.get(7)?,
        jobs: row.get(8)?,
        host: row.get(9)?,
    })
}

/// The last `limit` runs, oldest first.
pub fn runs(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<RunRow>> {
    let mut statement = conn.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"))?;
    let mut rows = statement.query_map([limit as i64], run_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    Ok(rows)
}

/// One run of one task.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskRun {
    pub run_id: i64,
    pub run_key: String,
    pub started_at_us: i64,
    pub status: String,
    pub duration_us: i64,
    pub attempts: i64,
    pub flaky: bool,
}

/// The last `limit` runs of the task (or instance) `name`, oldest first.
pub fn task_runs(conn: &Connection, name: &str, limit: usize) -> rusqlite::Result<Vec<TaskRun>> {
    let mut statement = conn.prepare(
        "SELECT t.run_id, r.run_key, r.started_at_us, t.status, t.duration_us, t.attempts, t.flaky
         FROM tasks t JOIN runs r ON r.id = t.run_id
         WHERE t.name = ?1 ORDER BY t.id DESC LIMIT ?2",
    )?;
    let mut rows = statement
        .query_map(params![name, limit as i64], |row| {
            Ok(TaskRun {
                run_id: row.get(0)?,
                run_key: row.get(1)?,
                started_at_us: row.get(2)?,
                status: row.get(3)?,
                duration_us: row.get(4)?,
                attempts: row.get(5)?,
                flaky: row.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    Ok(rows)
}

/// One task of the checked run against its baseline.
#[derive(Debug, Clone)]
pub struct CheckedTask {
    pub name: String,
    pub duration_us: u64,
    pub baseline: Option<Baseline>,
    pub verdict: Verdict,
}

/// The last finished run of tasks and each of its successful tasks judged against the
/// median of that task's previous successful runs; `None` when no such run has
/// finished. Runs without task results (a `volley up`, a run interrupted before any
/// task ended) have nothing to judge and are passed over.
pub fn check(conn: &Connection, threshold: f64) -> rusqlite::Result<Option<(RunRow, Vec<CheckedTask>)>> {
    let run = conn
        .query_row(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE status NOT IN ('running', 'serving')
                   AND EXISTS (SELECT 1 FROM tasks WHERE tasks.run_id = runs.id)
                 ORDER BY id DESC LIMIT 1"
            ),
            [],
            run_row,
        )
        .optional()?;
    let Some(run) = run else { return Ok(None) };
    let mut statement = conn.prepare(
        "SELECT name, duration_us FROM tasks WHERE run_id = ?1 AND status = 'succeeded' ORDER BY id",
    )?;
    let tasks = statement
        .query_map([run.id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let names: Vec<&str> = tasks.iter().map(|(name, _)| name.as_str()).collect();
    let prior = successes_before(conn, &names, run.id)?;
    let mut checked = Vec::with_capacity(tasks.len());
    for (name, duration) in tasks {
        let duration_us = duration.max(0) as u64;
        let baseline = prior.get(&name).and_then(|durations| Baseline::of(durations));
        let verdict = baseline.map_or(Verdict::Unknown, |b| b.judge(duration_us, threshold));
        checked.push(CheckedTask { name, duration_us, baseline, verdict });
    }
    Ok(Some((run, checked)))
}
