//! The `baselines` table (schema 5): each task name's last successful runs in one
//! row, which the recorder updates as the task finishes. The scheduler's expectations
//! read it at the start of every run; the baselines of `report` and `history --check`
//! read it too, and go back to the `tasks` table only for what it no longer holds
//! (an older run's predecessors).
//!
//! "Successful" means status `succeeded` and not flaky: a flaky task's duration
//! includes its failed attempts and retry delays, which would inflate its baseline.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use volley_core::history::BASELINE_RUNS;

use super::schema::has_table;

/// Runs kept per name: one more than a baseline takes, so that the latest run's
/// baseline (the runs before it) is always whole.
pub const BASELINE_KEPT: usize = BASELINE_RUNS + 1;

/// One successful run of a task: its run's row id and its duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
struct Success(i64, i64);

/// A `baselines.recent` value, oldest first. A value this volley cannot read counts
/// as no history rather than failing the reader.
fn parse(recent: Option<&str>) -> Vec<Success> {
    recent.and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

/// Durations of `runs` (oldest first), most recent first, at most [`BASELINE_RUNS`].
fn newest_durations(runs: &[Success]) -> Vec<u64> {
    runs.iter().rev().take(BASELINE_RUNS).map(|s| s.1.max(0) as u64).collect()
}

/// For each of `names`, in order, the durations of its last [`BASELINE_RUNS`]
/// successful runs, most recent first. One statement for all names: binding a new
/// name per lookup made `SQLite` re-prepare the statement every time (measured: 2000
/// names took 25 ms).
pub(super) fn recent_successes(conn: &Connection, names: &[&str]) -> rusqlite::Result<Vec<Vec<u64>>> {
    let names_json = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
    if !has_table(conn, "baselines")? {
        return recent_successes_before_schema_5(conn, &names_json);
    }
    let mut statement = conn.prepare(
        "SELECT b.recent FROM json_each(?1) AS n LEFT JOIN baselines AS b ON b.name = n.value
         ORDER BY n.key",
    )?;
    let rows = statement.query_map([names_json], |row| row.get::<_, Option<String>>(0))?;
    rows.map(|row| row.map(|recent| newest_durations(&parse(recent.as_deref())))).collect()
}

/// Every name's [`recent_successes`], read in one pass over `baselines` before the
/// names are known (while the project file is parsed); `None` when the table has more
/// than `limit` rows, or none (a history not migrated yet): then the names are looked
/// up one by one.
pub(super) fn all_recent_successes(
    conn: &Connection,
    limit: usize,
) -> rusqlite::Result<Option<HashMap<String, Vec<u64>>>> {
    if !has_table(conn, "baselines")? {
        return Ok(None);
    }
    let mut statement = conn.prepare("SELECT name, recent FROM baselines LIMIT ?1")?;
    let mut rows = statement.query([limit as i64 + 1])?;
    let mut all = HashMap::new();
    while let Some(row) = rows.next()? {
        if all.len() == limit {
            return Ok(None);
        }
        let recent = newest_durations(&parse(row.get_ref(1)?.as_str_or_null()?));
        all.insert(row.get::<_, String>(0)?, recent);
    }
    Ok(Some(all))
}

/// [`recent_successes`] in a history that no run has migrated to schema 5 yet, through
/// its index `tasks_by_name`.
fn recent_successes_before_schema_5(conn: &Connection, names_json: &str) -> rusqlite::Result<Vec<Vec<u64>>> {
    let mut statement = conn.prepare(
        "SELECT (SELECT json_group_array(duration_us) FROM (
                    SELECT duration_us FROM tasks
                    WHERE name = n.value AND status = 'succeeded' AND flaky = 0
                    ORDER BY id DESC LIMIT ?2))
         FROM json_each(?1) AS n ORDER BY n.key",
    )?;
    let rows =
        statement.query_map(params![names_json, BASELINE_RUNS as i64], |row| row.get::<_, String>(0))?;
    rows.map(|row| row.map(|json| serde_json::from_str::<Vec<i64>>(&json).unwrap_or_default()))
        .map(|row| row.map(|durations| durations.into_iter().map(|us| us.max(0) as u64).collect()))
        .collect()
}

/// For each of `names`, the durations of its last [`BASELINE_RUNS`] successful runs
/// before run `before_run`, most recent first (names without any are absent).
///
/// The `baselines` row answers when it reaches back far enough: it holds a whole
/// baseline before the latest run, and all of a name's runs while it has fewer than
/// [`BASELINE_KEPT`]. The other names (the tasks of an older run) are found in one
/// pass over `tasks` from that run backwards.
pub(super) fn successes_before(
    conn: &Connection,
    names: &[&str],
    before_run: i64,
) -> rusqlite::Result<HashMap<String, Vec<u64>>> {
    let mut found = HashMap::new();
    let mut missing: Vec<&str> = Vec::new();
    if has_table(conn, "baselines")? {
        let mut lookup = conn.prepare_cached("SELECT recent FROM baselines WHERE name = ?1")?;
        for name in names {
            let recent: Option<String> = lookup.query_row([name], |row| row.get(0)).optional()?;
            let kept = parse(recent.as_deref());
            let before: Vec<Success> = kept.iter().copied().filter(|s| s.0 < before_run).collect();
            if before.len() >= BASELINE_RUNS || kept.len() < BASELINE_KEPT {
                if !before.is_empty() {
                    found.insert((*name).to_string(), newest_durations(&before));
                }
            } else {
                missing.push(name);
            }
        }
    } else {
        missing.extend(names);
    }
    if !missing.is_empty() {
        found.extend(scan_successes_before(conn, &missing, before_run)?);
    }
    Ok(found)
}

/// [`successes_before`] by reading `tasks` backwards from run `before_run`, until
/// every name has a whole baseline or the history's beginning is reached.
fn scan_successes_before(
    conn: &Connection,
    names: &[&str],
    before_run: i64,
) -> rusqlite::Result<HashMap<String, Vec<u64>>> {
    let mut wanted: HashMap<&str, Vec<u64>> = names.iter().map(|n| (*n, Vec::new())).collect();
    let mut incomplete = wanted.len();
    let mut statement = conn.prepare(
        "SELECT name, duration_us FROM tasks
         WHERE run_id < ?1 AND status = 'succeeded' AND flaky = 0 ORDER BY id DESC",
    )?;
    let mut rows = statement.query([before_run])?;
    while incomplete > 0
        && let Some(row) = rows.next()?
    {
        let name = row.get_ref(0)?.as_str()?;
        if let Some(durations) = wanted.get_mut(name)
            && durations.len() < BASELINE_RUNS
        {
            durations.push(row.get::<_, i64>(1)?.max(0) as u64);
            if durations.len() == BASELINE_RUNS {
                incomplete -= 1;
            }
        }
    }
    Ok(wanted
        .into_iter()
        .filter(|(_, durations)| !durations.is_empty())
        .map(|(name, durations)| (name.to_string(), durations))
        .collect())
}
