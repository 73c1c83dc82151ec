//! Schema 3: a v2 history migrates, a recorded `up` reads back as its events, the
//! services of a `run` go under its row; and a v2 history is read as it is.

use std::sync::Arc;

use rusqlite::Connection;
use volley_core::event::RunStatus;
use volley_core::services::ServiceEvent;

use super::{FILE_NAME, SCHEMA_VERSION, open_for_writing};
use crate::record::{ServiceRecorder, UpRun, service_events};

/// A `history.db` written by volley with schema 2: two runs of a two-task project.
const V2_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history-v2.db");

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).expect("count query")
}

#[test]
fn a_v2_history_migrates_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(V2_FILE, dir.path().join(FILE_NAME)).expect("copy the v2 history");
    let before = Connection::open(dir.path().join(FILE_NAME)).expect("open v2");
    assert_eq!(count(&before, "PRAGMA user_version"), 2);
    drop(before);
    let conn = open_for_writing(dir.path()).expect("migrate");
    assert_eq!(count(&conn, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks"), 4);
    assert_eq!(count(&conn, "SELECT count(*) FROM run_units"), 4);
    assert_eq!(count(&conn, "SELECT count(*) FROM service_events"), 0);
    assert!(service_events(&conn, 1).expect("query").is_empty());
}

#[test]
fn an_up_is_recorded_as_a_run_with_its_service_timeline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut recorder = ServiceRecorder::start(
        dir.path().to_path_buf(),
        UpRun {
            run_key: "up-1".into(),
            command: vec!["volley".into(), "up".into()],
            started_at_us: 1_000,
            services: 2,
        },
    );
    let name: Arc<str> = Arc::from("redis");
    recorder.event(&ServiceEvent::ServiceStarting { name: name.clone(), attempt: 1, pid: 42 });
    recorder.event(&ServiceEvent::ServiceReady { name: name.clone(), time_to_ready_us: 200_000 });
    recorder.event(&ServiceEvent::ServiceStopped { name, time_to_stop_us: 5_000_000, killed: true });
    recorder.finish(RunStatus::Interrupted);

    let conn = Connection::open(dir.path().join(FILE_NAME)).expect("open");
    let (status, code, command): (String, i64, String) = conn
        .query_row("SELECT status, exit_code, command FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("run row");
    assert_eq!((status.as_str(), code, command.as_str()), ("interrupted", 130, r#"["volley","up"]"#));
    let events = service_events(&conn, 1).expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["starting", "ready", "stopped"]);
    assert_eq!(events[0].pid, Some(42));
    assert_eq!(events[1].duration_us, Some(200_000));
    assert_eq!(events[2].detail.as_deref(), Some("killed"));
}

/// The services of a `volley run` wait for the run's row (the task recorder writes it
/// at the first task), go under it timed from the run's start, and leave its status
/// alone; without the row they are not recorded, and nothing fails.
#[test]
fn a_runs_services_go_under_its_row_once_it_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut recorder = ServiceRecorder::attach(dir.path().to_path_buf(), "run-1".into());
    let name: Arc<str> = Arc::from("db");
    recorder.event(&ServiceEvent::ServiceStarting { name: name.clone(), attempt: 1, pid: 7 });
    recorder.event(&ServiceEvent::ServiceReady { name: name.clone(), time_to_ready_us: 300_000 });
    // The run starts a second after the services did.
    let started_at_us = jiff::Timestamp::now().as_microsecond() + 1_000_000;
    let conn = open_for_writing(dir.path()).expect("open");
    conn.execute(
        "INSERT INTO runs (run_key, command, started_at_us, status, jobs, host, pid)
         VALUES ('run-1', '[]', ?1, 'running', 2, 'h', 1)",
        [started_at_us],
    )
    .expect("the run's row");
    recorder.event(&ServiceEvent::ServiceStopped { name, time_to_stop_us: 50_000, killed: false });
    recorder.finish(RunStatus::Failed);

    let events = service_events(&conn, 1).expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["starting", "ready", "stopped"]);
    assert!((-1_500_000..-500_000).contains(&events[0].t_us), "about a second before the run: {events:?}");
    let status: String = conn.query_row("SELECT status FROM runs", [], |r| r.get(0)).expect("status");
    assert_eq!(status, "running", "the task recorder's to set");

    let mut orphan = ServiceRecorder::attach(dir.path().to_path_buf(), "never-recorded".into());
    orphan.event(&ServiceEvent::ServiceExited { name: Arc::from("db") });
    drop(orphan);
    assert_eq!(count(&conn, "SELECT count(*) FROM service_events"), 3);
}

/// A history an older volley still writes (no schema-6 columns) shows its run in
/// progress without pools; `status` reads, never migrates.
#[test]
fn a_run_in_progress_without_schema_6_reads_without_pools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    std::fs::copy(V2_FILE, &path).expect("copy the v2 history");
    let conn = Connection::open(&path).expect("open v2");
    conn.execute("UPDATE runs SET status = 'running' WHERE id = 2", []).expect("mark running");
    let live = crate::record::live_runs(&conn, 5).expect("live runs");
    assert_eq!(live.len(), 1);
    assert!(!live[0].units.is_empty(), "schema 2 has the planned graph");
    assert!(live[0].units.iter().all(|u| u.pool.is_none() && u.cap.is_none()));
    assert_eq!(count(&conn, "PRAGMA user_version"), 2);
}
