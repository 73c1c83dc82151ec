//! Reading a run while it goes on, for `volley status` in another terminal: the runs
//! whose row still says `running`, their planned graph (`run_units`, schema 2), the
//! attempts running now and how many instances of each task have finished.
//!
//! Read-only and lock-free for the writer (WAL): the recorder commits each batch of
//! events within milliseconds, so this is at most a few milliseconds behind.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use volley_core::event::TaskKey;

use super::schema::{has_column, has_table};

/// A run whose row says `running`.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub id: i64,
    pub run_key: String,
    pub command: Vec<String>,
    pub started_at_us: i64,
    pub jobs: i64,
    pub host: String,
    pub pid: i64,
    /// Its planned tasks; empty for a run recorded before schema 2.
    pub units: Vec<LiveUnit>,
    pub running: Vec<RunningAttempt>,
    /// Finished instances per task name (the item listing of a `for_each.command`
    /// does not count).
    pub finished: HashMap<String, u32>,
    /// Tasks with a row under their own name: a plain task that finished, or a
    /// fan-out task that ended as a whole (skipped, or its item listing failed).
    pub finished_whole: Vec<String>,
}

/// One planned task of a live run.
#[derive(Debug, Clone)]
pub struct LiveUnit {
    pub name: String,
    pub deps: Vec<String>,
    pub expected_us: Option<u64>,
    /// Instance count of a fan-out task once known.
    pub instances: Option<u32>,
    /// Its pool and that pool's limit (schema 6).
    pub pool: Option<(String, usize)>,
    /// Most of its instances running at once (schema 6).
    pub cap: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct RunningAttempt {
    /// Task or instance name.
    pub name: String,
    /// The task it belongs to.
    pub task: String,
    pub attempt: u32,
    /// Wall-clock start, microseconds since the Unix epoch.
    pub started_at_us: i64,
}

/// Runs whose row says `running`, newest first, at most `limit`.
pub fn live_runs(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<LiveRun>> {
    let mut statement = conn.prepare(
        "SELECT id, run_key, command, started_at_us, jobs, host, pid FROM runs
         WHERE status = 'running' ORDER BY id DESC LIMIT ?1",
    )?;
    let runs = statement
        .query_map([limit as i64], |row| {
            let command: String = row.get(2)?;
            Ok(LiveRun {
                id: row.get(0)?,
                run_key: row.get(1)?,
                command: serde_json::from_str(&command).unwrap_or_default(),
                started_at_us: row.get(3)?,
                jobs: row.get(4)?,
                host: row.get(5)?,
                pid: row.get(6)?,
                units: Vec::new(),
                running: Vec::new(),
                finished: HashMap::new(),
                finished_whole: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let with_units = has_table(conn, "run_units")?;
    let with_pools = with_units && has_column(conn, "run_units", "pool")?;
    runs.into_iter()
        .map(|mut run| {
            if with_units {
                run.units = units(conn, run.id, with_pools)?;
            }
            run.running = running(conn, run.id, run.started_at_us)?;
            (run.finished, run.finished_whole) = finished(conn, run.id)?;
            Ok(run)
        })
        .collect()
}

/// The id of the newest run, whatever its state.
pub fn newest_run_id(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT max(id) FROM runs", [], |row| row.get(0))
}

/// `with_pools`: the history has schema 6's columns.
fn units(conn: &Connection, run: i64, with_pools: bool) -> rusqlite::Result<Vec<LiveUnit>> {
    let pools = if with_pools { "pool, pool_limit, cap" } else { "NULL, NULL, NULL" };
    let mut statement = conn.prepare(&format!(
        "SELECT name, deps, expected_us, instances, {pools} FROM run_units WHERE run_id = ?1 ORDER BY unit"
    ))?;
    let count = |n: Option<i64>| n.and_then(|n| usize::try_from(n).ok());
    statement
        .query_map([run], |row| {
            let deps: String = row.get(1)?;
            Ok(LiveUnit {
                name: row.get(0)?,
                deps: serde_json::from_str(&deps).unwrap_or_default(),
                expected_us: row.get::<_, Option<i64>>(2)?.map(|us| us.max(0) as u64),
                instances: row.get::<_, Option<i64>>(3)?.and_then(|n| u32::try_from(n).ok()),
                pool: row.get::<_, Option<String>>(4)?.zip(count(row.get(5)?)),
                cap: count(row.get(6)?),
            })
        })?
        .collect()
}

fn running(conn: &Connection, run: i64, run_started_at_us: i64) -> rusqlite::Result<Vec<RunningAttempt>> {
    let mut statement = conn.prepare(
        "SELECT name, unit, attempt, started_us FROM attempts
         WHERE run_id = ?1 AND status = 'running' ORDER BY started_us, id",
    )?;
    statement
        .query_map([run], |row| {
            Ok(RunningAttempt {
                name: row.get(0)?,
                task: row.get(1)?,
                attempt: row.get(2)?,
                started_at_us: run_started_at_us.saturating_add(row.get::<_, i64>(3)?),
            })
        })?
        .collect()
}

type Finished = (HashMap<String, u32>, Vec<String>);

fn finished(conn: &Connection, run: i64) -> rusqlite::Result<Finished> {
    let mut statement = conn.prepare(
        "SELECT unit, count(*), max(name = unit) FROM tasks WHERE run_id = ?1 AND instance != ?2 GROUP BY unit",
    )?;
    let mut counts = HashMap::new();
    let mut whole = Vec::new();
    let rows = statement.query_map(params![run, i64::from(TaskKey::LISTING)], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, bool>(2)?))
    })?;
    for row in rows {
        let (unit, count, as_whole) = row?;
        if as_whole {
            whole.push(unit.clone());
        }
        counts.insert(unit, u32::try_from(count).unwrap_or(u32::MAX));
    }
    Ok((counts, whole))
}
