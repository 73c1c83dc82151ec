//! Schema 5: each name's recent successful runs in `baselines` instead of the index
//! `tasks_by_name`. Every answer read through it is checked against the same question
//! asked of the `tasks` table directly.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, params};
use volley_core::event::{Event, PlannedTask, TaskKey, TaskStatus};
use volley_core::graph::UnitId;
use volley_core::history::BASELINE_RUNS;

use super::{FILE_NAME, open_for_writing};
use crate::record::baseline::{BASELINE_KEPT, all_recent_successes, recent_successes, successes_before};
use crate::record::writer::Writer;

const V1_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history-v1.db");

/// The last successful durations of `name` before run `before_run` (all runs if
/// `None`), most recent first, asked of `tasks` itself.
fn from_tasks(conn: &Connection, name: &str, before_run: Option<i64>, limit: usize) -> Vec<u64> {
    let mut statement = conn
        .prepare(
            "SELECT duration_us FROM tasks
             WHERE name = ?1 AND status = 'succeeded' AND flaky = 0 AND run_id < ?2
             ORDER BY id DESC LIMIT ?3",
        )
        .expect("prepare");
    statement
        .query_map(params![name, before_run.unwrap_or(i64::MAX), limit as i64], |row| row.get::<_, i64>(0))
        .expect("query")
        .map(|us| us.expect("row") as u64)
        .collect()
}

fn has_object(conn: &Connection, name: &str) -> bool {
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = ?1", [name], |row| row.get::<_, i64>(0))
        .expect("schema")
        > 0
}

#[test]
fn an_older_history_migrates_to_baselines_of_its_last_successful_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(V1_FILE, dir.path().join(FILE_NAME)).expect("copy the v1 history");
    let conn = open_for_writing(dir.path()).expect("migrate");
    assert!(!has_object(&conn, "tasks_by_name"), "the index is gone");
    let mut statement = conn.prepare("SELECT DISTINCT name FROM tasks ORDER BY name").expect("prepare");
    let names: Vec<String> =
        statement.query_map([], |row| row.get(0)).expect("names").collect::<Result<_, _>>().expect("rows");
    assert!(names.len() >= 5, "{names:?}");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let recent = recent_successes(&conn, &refs).expect("recent");
    for (name, durations) in refs.iter().zip(&recent) {
        assert_eq!(durations, &from_tasks(&conn, name, None, BASELINE_RUNS), "{name}");
    }
    let lint = refs.iter().position(|n| *n == "lint").expect("lint was recorded");
    assert!(recent[lint].is_empty(), "lint never succeeded");
}

/// Records one run (its `tasks` rows) through the recorder's writer: each name with
/// its status, flakiness and duration in ms.
fn record_run(writer: &mut Writer, run: usize, tasks: &[(&str, TaskStatus, bool, u64)]) {
    let planned: Vec<PlannedTask> = tasks
        .iter()
        .enumerate()
        .map(|(unit, (name, ..))| PlannedTask::new(UnitId(unit as u32), (*name).into()))
        .collect();
    let mut events = vec![Event::RunStarted {
        run_id: Arc::from(format!("20260101-1200{run:02}-ab12")),
        command: vec!["volley".into(), "run".into()],
        jobs: 2,
        started_at_us: 1_767_268_800_000_000,
        tasks: planned,
        dry_run: false,
    }];
    for (unit, (name, status, flaky, ms)) in tasks.iter().enumerate() {
        events.push(Event::TaskFinished {
            t_us: ms * 1000,
            key: TaskKey { unit: UnitId(unit as u32), instance: 0 },
            name: (*name).into(),
            status: *status,
            duration_us: ms * 1000,
            attempts: 1,
            allowed_failure: false,
            flaky: *flaky,
            needs: None,
            log: None,
        });
    }
    writer.write(&events).expect("write the run");
}

/// Twenty runs of a project whose tasks succeed, fail, turn flaky, appear late and
/// run only now and then.
fn varied_history(dir: &Path) {
    let mut writer = Writer::new(open_for_writing(dir).expect("open"));
    for run in 1..=20u64 {
        let mut tasks = vec![("steady", TaskStatus::Succeeded, false, 100 + run)];
        let failing = if run % 3 == 0 { TaskStatus::Failed } else { TaskStatus::Succeeded };
        tasks.push(("sometimes fails", failing, false, 200 + run));
        tasks.push(("flaky", TaskStatus::Succeeded, run % 4 == 0, 300 + run));
        if run > 16 {
            tasks.push(("new", TaskStatus::Succeeded, false, 400 + run));
        }
        if run % 5 == 0 {
            tasks.push(("rare", TaskStatus::Succeeded, false, 500 + run));
        }
        tasks.push(("never", TaskStatus::TimedOut, false, 600));
        record_run(&mut writer, run as usize, &tasks);
    }
}

const NAMES: [&str; 7] = ["steady", "sometimes fails", "flaky", "new", "rare", "never", "absent"];

#[test]
fn a_baseline_row_keeps_the_last_successful_runs_oldest_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    varied_history(dir.path());
    let conn = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    let recent: String = conn
        .query_row("SELECT recent FROM baselines WHERE name = 'steady'", [], |row| row.get(0))
        .expect("steady has a row");
    let kept: Vec<(i64, i64)> = serde_json::from_str(&recent).expect("JSON pairs");
    let expected: Vec<(i64, i64)> = (10..=20).map(|run| (run, (100 + run) * 1000)).collect();
    assert_eq!(kept, expected);
    assert_eq!(kept.len(), BASELINE_KEPT);
    let never: i64 = conn
        .query_row("SELECT count(*) FROM baselines WHERE name = 'never'", [], |row| row.get(0))
        .expect("count");
    assert_eq!(never, 0, "a task that never succeeded has no baseline");
}

/// What `successes_before` and `recent_successes` say for every name and every run
/// equals what `tasks` says, both through `baselines` and, with that table gone (a
/// history no run has migrated yet), through `tasks` alone.
fn assert_agrees_with_tasks(conn: &Connection) {
    let recent = recent_successes(conn, &NAMES).expect("recent");
    for (name, durations) in NAMES.iter().zip(&recent) {
        assert_eq!(durations, &from_tasks(conn, name, None, BASELINE_RUNS), "{name}");
    }
    for before_run in 1..=21 {
        let found = successes_before(conn, &NAMES, before_run).expect("successes before");
        let expected: HashMap<String, Vec<u64>> = NAMES
            .iter()
            .map(|name| ((*name).to_string(), from_tasks(conn, name, Some(before_run), BASELINE_RUNS)))
            .filter(|(_, durations)| !durations.is_empty())
            .collect();
        assert_eq!(found, expected, "before run {before_run}");
    }
}

#[test]
fn baselines_before_any_run_agree_with_the_tasks_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    varied_history(dir.path());
    let conn = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    assert_agrees_with_tasks(&conn);
    conn.execute_batch("DROP TABLE baselines").expect("drop");
    assert_agrees_with_tasks(&conn);
}

#[test]
fn baselines_read_all_at_once_agree_with_the_lookups_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    varied_history(dir.path());
    let conn = open_for_writing(dir.path()).expect("open");
    let all = all_recent_successes(&conn, 100).expect("read").expect("under the limit");
    let looked_up = recent_successes(&conn, &NAMES).expect("lookups");
    for (name, recent) in NAMES.iter().zip(looked_up) {
        assert_eq!(all.get(*name).cloned().unwrap_or_default(), recent, "{name}");
    }
    assert_eq!(all.len(), 5, "one row per name that ever succeeded: {all:?}");
    assert!(all_recent_successes(&conn, 5).expect("read").is_some(), "exactly at the limit");
    assert!(all_recent_successes(&conn, 4).expect("read").is_none(), "over the limit: look names up instead");
}
