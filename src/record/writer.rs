//! [`Writer`]: turns events into rows, on the recorder thread.
//!
//! It remembers what later events refer to: the run's row id, the unit names (events
//! carry unit ids) and the row of each running attempt, which is inserted when it
//! starts (so another terminal can see it running) and completed when it ends. An
//! attempt that starts and ends within one batch (most short tasks) is inserted whole:
//! the update of its row was about a tenth of the recorder's work on a task of `true`.

use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
use rusqlite::{CachedStatement, Connection, Transaction, TransactionBehavior, params};
use volley_core::event::{AttemptEnd, Event, PlannedTask, TaskKey, TaskStatus};
use volley_core::graph::UnitId;

use super::baseline::BASELINE_KEPT;

pub struct Writer {
    conn: Connection,
    run: Option<i64>,
    units: HashMap<UnitId, Arc<str>>,
    attempts: HashMap<(TaskKey, u32), i64>,
}

impl Writer {
    pub fn new(conn: Connection) -> Writer {
        Writer { conn, run: None, units: HashMap::new(), attempts: HashMap::new() }
    }

    /// Folds a large write-ahead log left by an earlier run into the database
    /// ([`super::schema::fold_in_large_log`]).
    pub fn fold_in_large_log(&self, state_dir: &std::path::Path) -> rusqlite::Result<bool> {
        super::schema::fold_in_large_log(&self.conn, state_dir)
    }

    /// Closes the database, leaving the write-ahead log for the next writer
    /// ([`super::schema::close`]).
    pub fn close(self) {
        super::schema::close(self.conn);
    }

    /// Writes `events` in one transaction.
    pub fn write(&mut self, events: &[Event]) -> rusqlite::Result<()> {
        let ends: HashMap<(TaskKey, u32), AttemptEndColumns<'_>> =
            events.iter().filter_map(AttemptEndColumns::of).collect();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut per_task = PerTask::default();
            for event in events {
                apply(&tx, &mut per_task, event, &ends, &mut self.run, &mut self.units, &mut self.attempts)?;
            }
        }
        tx.commit()
    }
}

/// What an attempt's end fills in of its row.
struct AttemptEndColumns<'e> {
    ended_us: i64,
    status: &'static str,
    exit_code: Option<i32>,
    signal: Option<i32>,
    message: Option<&'e str>,
    success: bool,
    retry_in_us: Option<i64>,
    cpu_user_us: i64,
    cpu_system_us: i64,
    peak_rss_bytes: Option<i64>,
    read_bytes: Option<i64>,
    written_bytes: Option<i64>,
    wait_us: i64,
}

impl<'e> AttemptEndColumns<'e> {
    /// The attempt an `AttemptFinished` ends, and its columns.
    fn of(event: &'e Event) -> Option<((TaskKey, u32), AttemptEndColumns<'e>)> {
        let Event::AttemptFinished {
            t_us,
            key,
            attempt,
            end,
            success,
            cpu_user_us,
            cpu_system_us,
            retry_in_us,
            peak_rss_bytes,
            read_bytes,
            written_bytes,
            wait_us,
            ..
        } = event
        else {
            return None;
        };
        let (status, exit_code, signal, message) = describe_end(end);
        let columns = AttemptEndColumns {
            ended_us: *t_us as i64,
            status,
            exit_code,
            signal,
            message,
            success: *success,
            retry_in_us: retry_in_us.map(|r| r as i64),
            cpu_user_us: *cpu_user_us as i64,
            cpu_system_us: *cpu_system_us as i64,
            peak_rss_bytes: peak_rss_bytes.map(|b| b as i64),
            read_bytes: read_bytes.map(|b| b as i64),
            written_bytes: written_bytes.map(|b| b as i64),
            wait_us: *wait_us as i64,
        };
        Some(((*key, *attempt), columns))
    }
}

/// The statements run for every task, each taken from the statement cache once per
/// batch instead of once per row: a cached statement's lookup hashes its SQL text
/// and its drop puts it back, together a tenth of this thread's work per task of
/// `true`.
#[derive(Default)]
struct PerTask<'t> {
    attempt: Option<CachedStatement<'t>>,
    task: Option<CachedStatement<'t>>,
    baseline: Option<CachedStatement<'t>>,
}

fn reuse<'s, 't>(
    slot: &'s mut Option<CachedStatement<'t>>,
    tx: &'t Transaction<'_>,
    sql: &str,
) -> rusqlite::Result<&'s mut CachedStatement<'t>> {
    let statement = match slot.take() {
        Some(statement) => statement,
        None => tx.prepare_cached(sql)?,
    };
    Ok(slot.insert(statement))
}

const INSERT_ATTEMPT: &str =
    "INSERT INTO attempts (run_id, name, unit, instance, attempt, slot, pid, started_us, status,
    ended_us, exit_code, signal, message, success, retry_in_us, cpu_user_us, cpu_system_us,
    peak_rss_bytes, read_bytes, written_bytes, wait_us)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
    ?19, ?20, ?21)";

const INSERT_TASK: &str =
    "INSERT INTO tasks (run_id, name, unit, instance, status, ended_us, duration_us, attempts,
    flaky, allowed_failure, needs, log) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// Adds a successful run of a task to its row in `baselines`, dropping the oldest
/// beyond [`BASELINE_KEPT`].
const PUSH_BASELINE: &str = "INSERT INTO baselines (name, recent) VALUES (?1, json_array(json_array(?2, ?3)))
    ON CONFLICT (name) DO UPDATE SET recent = CASE
        WHEN json_array_length(recent) >= ?4
        THEN json_remove(json_insert(recent, '$[#]', json_array(?2, ?3)), '$[0]')
        ELSE json_insert(recent, '$[#]', json_array(?2, ?3)) END";

fn apply<'t>(
    tx: &'t Transaction<'_>,
    per_task: &mut PerTask<'t>,
    event: &Event,
    ends: &HashMap<(TaskKey, u32), AttemptEndColumns<'_>>,
    run: &mut Option<i64>,
    units: &mut HashMap<UnitId, Arc<str>>,
    attempts: &mut HashMap<(TaskKey, u32), i64>,
) -> rusqlite::Result<()> {
    match event {
        Event::RunStarted { run_id, command, jobs, started_at_us, tasks, .. } => {
            units.extend(tasks.iter().map(|t| (t.unit, t.name.clone())));
            let command = serde_json::to_string(command).unwrap_or_else(|_| "[]".into());
            tx.prepare_cached(
                "INSERT INTO runs (run_key, command, started_at_us, status, jobs, host, pid)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            )?
            .execute(params![
                run_id.as_ref(),
                command,
                started_at_us,
                *jobs as i64,
                host(),
                std::process::id()
            ])?;
            let run_row = tx.last_insert_rowid();
            *run = Some(run_row);
            insert_run_units(tx, run_row, tasks, units)?;
        }
        Event::InstancesPlanned { unit, name, count, .. } => {
            units.entry(*unit).or_insert_with(|| name.clone());
            let Some(run) = *run else { return Ok(()) };
            tx.prepare_cached("UPDATE run_units SET instances = ?3 WHERE run_id = ?1 AND unit = ?2")?
                .execute(params![run, unit.0, count])?;
        }
        Event::AttemptStarted { t_us, key, name, attempt, slot, pid, .. } => {
            let Some(run) = *run else { return Ok(()) };
            let end = ends.get(&(*key, *attempt));
            reuse(&mut per_task.attempt, tx, INSERT_ATTEMPT)?.execute(params![
                run,
                name.as_ref(),
                unit_name(units, key.unit, name),
                key.instance,
                attempt,
                slot,
                pid,
                *t_us as i64,
                end.map_or("running", |e| e.status),
                end.map(|e| e.ended_us),
                end.and_then(|e| e.exit_code),
                end.and_then(|e| e.signal),
                end.and_then(|e| e.message),
                end.map(|e| e.success),
                end.and_then(|e| e.retry_in_us),
                end.map(|e| e.cpu_user_us),
                end.map(|e| e.cpu_system_us),
                end.and_then(|e| e.peak_rss_bytes),
                end.and_then(|e| e.read_bytes),
                end.and_then(|e| e.written_bytes),
                end.map(|e| e.wait_us)
            ])?;
            if end.is_none() {
                attempts.insert((*key, *attempt), tx.last_insert_rowid());
            }
        }
        Event::AttemptFinished { key, attempt, .. } => {
            // Not listed: it started in this batch and was inserted whole.
            let Some(row) = attempts.remove(&(*key, *attempt)) else { return Ok(()) };
            let Some(e) = ends.get(&(*key, *attempt)) else { return Ok(()) };
            tx.prepare_cached(
                "UPDATE attempts SET ended_us = ?2, status = ?3, exit_code = ?4, signal = ?5, message = ?6,
                 success = ?7, retry_in_us = ?8, cpu_user_us = ?9, cpu_system_us = ?10,
                 peak_rss_bytes = ?11, read_bytes = ?12, written_bytes = ?13, wait_us = ?14 WHERE id = ?1",
            )?
            .execute(params![
                row,
                e.ended_us,
                e.status,
                e.exit_code,
                e.signal,
                e.message,
                e.success,
                e.retry_in_us,
                e.cpu_user_us,
                e.cpu_system_us,
                e.peak_rss_bytes,
                e.read_bytes,
                e.written_bytes,
                e.wait_us
            ])?;
        }
        Event::Sample { t_us, tasks, mem_available_bytes, disk_free_bytes, load1 } => {
            let Some(run) = *run else { return Ok(()) };
            let mut insert = tx.prepare_cached(
                "INSERT INTO samples (run_id, t_us, name, unit, instance, cpu_percent, rss_bytes, read_bytes,
                 written_bytes, mem_available_bytes, disk_free_bytes, load1)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for task in tasks {
                insert.execute(params![
                    run,
                    *t_us as i64,
                    task.name.as_ref(),
                    unit_name(units, task.key.unit, &task.name),
                    task.key.instance,
                    task.cpu_percent,
                    task.rss_bytes as i64,
                    task.read_bytes.map(|b| b as i64),
                    task.written_bytes.map(|b| b as i64),
                    None::<i64>,
                    None::<i64>,
                    None::<f64>
                ])?;
            }
            // The machine row: no task name.
            insert.execute(params![
                run,
                *t_us as i64,
                None::<&str>,
                None::<&str>,
                None::<u32>,
                None::<f64>,
                None::<i64>,
                None::<i64>,
                None::<i64>,
                mem_available_bytes.map(|b| b as i64),
                disk_free_bytes.map(|b| b as i64),
                load1
            ])?;
        }
        Event::Alert(alert) => {
            let Some(run) = *run else { return Ok(()) };
            tx.prepare_cached(
                "INSERT INTO alerts (run_id, t_us, kind, name, message, value, threshold)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                run,
                alert.t_us as i64,
                alert.kind.as_str(),
                alert.name.as_deref(),
                alert.message,
                alert.value,
                alert.threshold
            ])?;
        }
        Event::TaskFinished {
            t_us,
            key,
            name,
            status,
            duration_us,
            attempts,
            allowed_failure,
            flaky,
            needs,
            log,
        } => {
            let Some(run) = *run else { return Ok(()) };
            reuse(&mut per_task.task, tx, INSERT_TASK)?.execute(params![
                run,
                name.as_ref(),
                unit_name(units, key.unit, name),
                key.instance,
                status.word(),
                *t_us as i64,
                *duration_us as i64,
                attempts,
                flaky,
                allowed_failure,
                needs.as_deref(),
                log
            ])?;
            if *status == TaskStatus::Succeeded && !flaky {
                reuse(&mut per_task.baseline, tx, PUSH_BASELINE)?.execute(params![
                    name.as_ref(),
                    run,
                    *duration_us as i64,
                    BASELINE_KEPT as i64
                ])?;
            }
        }
        Event::RunFinished { t_us, status, wall_us } => {
            let Some(run) = *run else { return Ok(()) };
            tx.prepare_cached(
                "UPDATE runs SET ended_at_us = started_at_us + ?2, wall_us = ?3, status = ?4, exit_code = ?5
                 WHERE id = ?1",
            )?
            .execute(params![
                run,
                *t_us as i64,
                *wall_us as i64,
                status.word(),
                status.exit_code()
            ])?;
        }
        Event::Output { .. } | Event::Interrupting { .. } | Event::Warning { .. } => {}
    }
    Ok(())
}

/// The run's graph as planned, for `volley status` from another terminal.
fn insert_run_units(
    tx: &Transaction<'_>,
    run: i64,
    tasks: &[PlannedTask],
    units: &HashMap<UnitId, Arc<str>>,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO run_units (run_id, unit, name, deps, expected_us, pool, pool_limit, cap)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for task in tasks {
        let deps: Vec<&str> = task.deps.iter().filter_map(|d| units.get(d).map(AsRef::as_ref)).collect();
        let deps = serde_json::to_string(&deps).unwrap_or_else(|_| "[]".into());
        insert.execute(params![
            run,
            task.unit.0,
            task.name.as_ref(),
            deps,
            task.expected_us.map(|us| us as i64),
            task.pool.as_ref().map(|p| p.name.as_ref()),
            task.pool.as_ref().map(|p| p.limit as i64),
            task.cap.map(|cap| cap as i64)
        ])?;
    }
    Ok(())
}

fn unit_name<'a>(units: &'a HashMap<UnitId, Arc<str>>, unit: UnitId, fallback: &'a str) -> &'a str {
    units.get(&unit).map_or(fallback, AsRef::as_ref)
}

fn describe_end(end: &AttemptEnd) -> (&'static str, Option<i32>, Option<i32>, Option<&str>) {
    match end {
        AttemptEnd::Exited { code } => ("exited", Some(*code), None, None),
        AttemptEnd::Signaled { signal } => ("signaled", None, Some(*signal), None),
        AttemptEnd::TimedOut => ("timed_out", None, None, None),
        AttemptEnd::Interrupted => ("interrupted", None, None, None),
        AttemptEnd::SpawnFailed { message } => ("spawn_failed", None, None, Some(message)),
    }
}

fn host() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
