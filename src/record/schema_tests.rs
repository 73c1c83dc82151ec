//! Migrations against a real older file, and the rows schema v2 adds.

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use volley_core::event::{Event, PlannedPool, PlannedTask};
use volley_core::graph::UnitId;

use super::{FILE_NAME, SCHEMA_VERSION, open_for_writing};
use crate::record::writer::Writer;

/// A `history.db` written by volley with schema 1: three runs of a five-task project
/// (one `for_each` with two items, one allowed failure), the last run of `build` only.
const V1_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history-v1.db");

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).expect("count query")
}

fn copy_v1(dir: &Path) {
    std::fs::copy(V1_FILE, dir.join(FILE_NAME)).expect("copy the v1 history");
}

#[test]
fn a_v1_history_migrates_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_v1(dir.path());
    let before = Connection::open(dir.path().join(FILE_NAME)).expect("open v1");
    assert_eq!(count(&before, "PRAGMA user_version"), 1);
    drop(before);

    let conn = open_for_writing(dir.path()).expect("migrate");
    assert_eq!(count(&conn, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs"), 3);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks"), 14);
    assert_eq!(count(&conn, "SELECT count(*) FROM attempts"), 14);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks WHERE name = 'each[b]' AND status = 'succeeded'"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM run_units"), 0, "old runs have no planned graph");
    drop(conn);

    // The old runs still feed the medians after the migration.
    let expected = crate::record::expectations(dir.path(), ["build", "lint", "each"]);
    let build = expected.by_name.get("build").expect("build has history");
    assert!(build.as_millis() >= 50, "build slept 50 ms: {build:?}");
    assert!(!expected.by_name.contains_key("lint"), "lint never succeeded");
    // A fan-out task is expected to take what one of its instances (`echo`) took.
    let each = expected.by_name.get("each").expect("each's instances have history");
    assert!(each.as_millis() < 50, "{each:?}");
}

#[test]
fn opening_a_migrated_file_again_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_v1(dir.path());
    drop(open_for_writing(dir.path()).expect("migrate"));
    let conn = open_for_writing(dir.path()).expect("reopen");
    assert_eq!(count(&conn, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs"), 3);
}

#[test]
fn a_newer_history_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = Connection::open(dir.path().join(FILE_NAME)).expect("create");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("set version");
    drop(conn);
    let error = open_for_writing(dir.path()).expect_err("a newer schema is refused");
    assert!(error.to_string().contains("newer volley"), "{error}");
}

fn planned(unit: u32, name: &str, deps: &[u32], expected_us: Option<u64>) -> PlannedTask {
    PlannedTask {
        deps: deps.iter().map(|d| UnitId(*d)).collect(),
        expected_us,
        ..PlannedTask::new(UnitId(unit), name.into())
    }
}

/// unit, name, deps, `expected_us`, instances
type UnitRow = (u32, String, String, Option<i64>, Option<i64>);

#[test]
fn run_units_hold_the_planned_graph_and_instance_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut writer = Writer::new(open_for_writing(dir.path()).expect("open"));
    let started = Event::RunStarted {
        run_id: Arc::from("20260101-120000-ab12"),
        command: vec!["volley".into(), "run".into()],
        jobs: 2,
        started_at_us: 1_767_268_800_000_000,
        tasks: vec![
            PlannedTask {
                pool: Some(PlannedPool { name: "net".into(), limit: 2 }),
                ..planned(0, "fetch", &[], Some(1_500_000))
            },
            PlannedTask { cap: Some(3), ..planned(1, "upgrade \"all\"", &[0], None) },
            planned(2, "report", &[0, 1], Some(20_000)),
        ],
        dry_run: false,
    };
    writer.write(&[started]).expect("write RunStarted");
    let planned_later =
        Event::InstancesPlanned { t_us: 900, unit: UnitId(1), name: "upgrade \"all\"".into(), count: 7 };
    writer.write(&[planned_later]).expect("write InstancesPlanned");
    drop(writer);

    let conn = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    let mut statement = conn
        .prepare("SELECT unit, name, deps, expected_us, instances FROM run_units ORDER BY unit")
        .expect("prepare");
    let rows: Vec<UnitRow> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            (0, "fetch".into(), "[]".into(), Some(1_500_000), None),
            (1, "upgrade \"all\"".into(), r#"["fetch"]"#.into(), None, Some(7)),
            (2, "report".into(), r#"["fetch","upgrade \"all\""]"#.into(), Some(20_000), None),
        ]
    );
    let limits: Vec<(Option<String>, Option<i64>, Option<i64>)> = conn
        .prepare("SELECT pool, pool_limit, cap FROM run_units ORDER BY unit")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(limits, vec![(Some("net".into()), Some(2), None), (None, None, Some(3)), (None, None, None)]);
}

/// Writes `bytes` of data in one transaction through a fresh writing connection, and
/// closes it the way the recorder does.
fn write_and_close(dir: &Path, bytes: usize) {
    let conn = open_for_writing(dir).expect("open");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS filler (data BLOB)").expect("table");
    conn.execute("INSERT INTO filler VALUES (zeroblob(?1))", [bytes as i64]).expect("insert");
    super::close(conn);
}

fn wal_len(dir: &Path) -> u64 {
    dir.join(format!("{FILE_NAME}-wal")).metadata().map_or(0, |m| m.len())
}

/// Opens `dir` as the recorder does: folds a large log in (returning whether it did),
/// then writes `bytes` more in the same connection, and closes.
fn fold_then_write(dir: &Path, bytes: usize) -> bool {
    let conn = open_for_writing(dir).expect("open");
    let folded = super::fold_in_large_log(&conn, dir).expect("fold");
    conn.execute("INSERT INTO filler VALUES (zeroblob(?1))", [bytes as i64]).expect("insert");
    super::close(conn);
    folded
}

/// Whether the rows are in the database file itself: readable with the log gone.
fn rows_without_the_log(dir: &Path) -> i64 {
    let copy = tempfile::tempdir().expect("temp dir");
    std::fs::copy(dir.join(FILE_NAME), copy.path().join(FILE_NAME)).expect("copy the file alone");
    let conn = Connection::open(copy.path().join(FILE_NAME)).expect("open the copy");
    // No table yet: it was created in the log too.
    conn.query_row("SELECT count(*) FROM filler", [], |row| row.get(0)).unwrap_or(0)
}

#[test]
fn the_log_stays_at_close_and_is_read_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_and_close(dir.path(), 10_000);
    write_and_close(dir.path(), 400_000);
    assert!(wal_len(dir.path()) > 400_000, "closing leaves the whole log in place");
    let conn = super::open_for_reading(dir.path()).expect("readable");
    assert_eq!(count(&conn, "SELECT count(*) FROM filler"), 2);
}

#[test]
fn the_next_writer_folds_a_large_log_into_the_database_and_the_log_shrinks() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_and_close(dir.path(), 10_000);
    assert!(!fold_then_write(dir.path(), 10_000), "a small log is left to SQLite's own checkpoints");
    write_and_close(dir.path(), 400_000);
    assert_eq!(rows_without_the_log(dir.path()), 0, "until folded, the rows are only in the log");
    assert!(fold_then_write(dir.path(), 10_000), "a large one is folded in");
    assert_eq!(rows_without_the_log(dir.path()), 3, "what the log held is in the database file");
    assert!(
        wal_len(dir.path()) < 100_000,
        "the log started over, its file cut back: {}",
        wal_len(dir.path())
    );
    assert!(!fold_then_write(dir.path(), 10_000));
}

#[test]
fn the_recorder_folds_a_large_log_in_once_the_run_is_on_record() {
    use volley_core::event::{EventSink, RunStatus};
    let dir = tempfile::tempdir().expect("temp dir");
    write_and_close(dir.path(), 400_000);
    let mut recorder = crate::record::Recorder::start(dir.path().to_path_buf());
    recorder.event(&Event::RunStarted {
        run_id: Arc::from("20260101-120000-ab12"),
        command: vec!["volley".into(), "run".into()],
        jobs: 1,
        started_at_us: 1_767_268_800_000_000,
        tasks: vec![planned(0, "a", &[], None)],
        dry_run: false,
    });
    // The run's first commit; the fold follows it before anything else is read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while super::open_for_reading(dir.path()).map_or(0, |conn| count(&conn, "SELECT count(*) FROM runs")) == 0
    {
        assert!(std::time::Instant::now() < deadline, "the run was never recorded");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    recorder.event(&Event::RunFinished { t_us: 1_000, status: RunStatus::Succeeded, wall_us: 1_000 });
    recorder.finish();
    assert_eq!(rows_without_the_log(dir.path()), 1, "the earlier run's log is in the database file");
}
