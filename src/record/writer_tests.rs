//! The attempt rows the writer leaves, whichever batches an attempt's events fall in.

use std::sync::Arc;

use rusqlite::Connection;
use volley_core::event::{AttemptEnd, Event, PlannedTask, TaskKey};
use volley_core::graph::UnitId;

use super::Writer;
use crate::record::schema::open_for_writing;

fn key(unit: u32) -> TaskKey {
    TaskKey { unit: UnitId(unit), instance: 0 }
}

fn run_started(names: &[&str]) -> Event {
    Event::RunStarted {
        run_id: Arc::from("20260101-120000-ab12"),
        command: vec!["volley".into(), "run".into()],
        jobs: 2,
        started_at_us: 1_767_268_800_000_000,
        tasks: names
            .iter()
            .enumerate()
            .map(|(unit, name)| PlannedTask::new(UnitId(unit as u32), (*name).into()))
            .collect(),
        dry_run: false,
    }
}

fn started(unit: u32, name: &str) -> Event {
    Event::AttemptStarted {
        t_us: 1_000,
        key: key(unit),
        name: name.into(),
        attempt: 1,
        slot: 0,
        pid: 4242,
        expected_us: None,
    }
}

fn finished(unit: u32, name: &str, end: AttemptEnd) -> Event {
    Event::AttemptFinished {
        t_us: 251_000,
        key: key(unit),
        name: name.into(),
        attempt: 1,
        success: matches!(end, AttemptEnd::Exited { code: 0 }),
        end,
        duration_us: 250_000,
        cpu_user_us: 120_000,
        cpu_system_us: 30_000,
        retry_in_us: Some(2_000_000),
        peak_rss_bytes: Some(1 << 20),
        read_bytes: Some(4096),
        written_bytes: None,
        wait_us: 500,
    }
}

/// Every column of `name`'s attempt row but its id, name and unit, as text.
fn attempt_row(conn: &Connection, name: &str) -> Vec<String> {
    conn.query_row(
        "SELECT run_id, instance, attempt, slot, pid, started_us, ended_us, status, exit_code, signal,
                message, success, retry_in_us, cpu_user_us, cpu_system_us, peak_rss_bytes, read_bytes,
                written_bytes, wait_us, cache_hit
         FROM attempts WHERE name = ?1",
        [name],
        |row| {
            (0..20)
                .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                .collect::<rusqlite::Result<Vec<_>>>()
        },
    )
    .expect("attempt row")
}

#[test]
fn an_attempt_inserted_whole_equals_one_inserted_then_completed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = Writer::new(open_for_writing(dir.path()).expect("open"));
    let names = ["one batch", "two batches", "failed", "still running"];
    writer
        .write(&[
            run_started(&names),
            started(0, names[0]),
            started(1, names[1]),
            started(2, names[2]),
            finished(0, names[0], AttemptEnd::Exited { code: 0 }),
            started(3, names[3]),
            finished(2, names[2], AttemptEnd::SpawnFailed { message: "no such file".into() }),
        ])
        .expect("first batch");
    let conn = Connection::open(dir.path().join(crate::record::schema::FILE_NAME)).expect("read");
    let running = attempt_row(&conn, names[1]);
    assert!(running.contains(&"Text(\"running\")".to_owned()), "{running:?}");
    writer.write(&[finished(1, names[1], AttemptEnd::Exited { code: 0 })]).expect("second batch");

    let whole = attempt_row(&conn, names[0]);
    assert_eq!(whole, attempt_row(&conn, names[1]));
    assert!(whole.contains(&"Text(\"exited\")".to_owned()) && whole.contains(&"Integer(251000)".to_owned()));
    let failed = attempt_row(&conn, names[2]);
    assert!(failed.contains(&"Text(\"spawn_failed\")".to_owned()), "{failed:?}");
    assert!(failed.contains(&"Text(\"no such file\")".to_owned()), "{failed:?}");
    let still_running = attempt_row(&conn, names[3]);
    assert_eq!(still_running.iter().filter(|c| *c == "Null").count(), 12, "{still_running:?}");
}
