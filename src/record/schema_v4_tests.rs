//! Schema 4: `tasks_by_unit` holds fan-out instances only, and the fan-out queries
//! still find them through it.

use std::time::Duration;

use rusqlite::{Connection, ToSql, params};
use volley_core::event::TaskKey;

use super::{FILE_NAME, SCHEMA_VERSION, open_for_writing};
use crate::record::plan_query::{INSTANCE_DURATIONS, INSTANCES_COUNTED};
use crate::record::{FanOutHistory, fan_out_history_from};

/// A `history.db` written by volley with schema 2: two runs of a two-task project.
const V2_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history-v2.db");

fn unit_index_sql(conn: &Connection) -> String {
    conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'tasks_by_unit'", [], |row| row.get(0))
        .expect("tasks_by_unit")
}

#[test]
fn an_older_history_migrates_to_a_unit_index_of_instances_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(V2_FILE, dir.path().join(FILE_NAME)).expect("copy the v2 history");
    let conn = open_for_writing(dir.path()).expect("migrate");
    assert_eq!(
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).expect("version"),
        SCHEMA_VERSION
    );
    assert!(unit_index_sql(&conn).ends_with("WHERE name != unit"), "{}", unit_index_sql(&conn));
    let tasks: i64 = conn.query_row("SELECT count(*) FROM tasks", [], |r| r.get(0)).expect("count");
    assert_eq!(tasks, 4, "rows are kept");
}

#[test]
fn the_fan_out_queries_read_through_the_partial_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = open_for_writing(dir.path()).expect("open");
    for query in [INSTANCE_DURATIONS, INSTANCES_COUNTED] {
        let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {query}")).expect("explain");
        let values: [&dyn ToSql; 3] = [&"each", &i64::from(TaskKey::LISTING), &10];
        let bound = &values[..plan.parameter_count()];
        let steps: Vec<String> = plan
            .query_map(bound, |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("steps");
        assert!(steps.iter().any(|s| s.contains("INDEX tasks_by_unit")), "{query}\n{steps:#?}");
    }
}

#[test]
fn fan_out_history_is_read_from_instances_beside_plain_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = open_for_writing(dir.path()).expect("open");
    conn.execute(
        "INSERT INTO runs (run_key, command, started_at_us, status, jobs, host, pid)
         VALUES ('r1', '[]', 0, 'succeeded', 2, 'h', 1)",
        [],
    )
    .expect("run");
    let task = |name: &str, unit: &str, instance: i64, duration_us: i64| {
        conn.execute(
            "INSERT INTO tasks (run_id, name, unit, instance, status, ended_us, duration_us, attempts,
                                flaky, allowed_failure)
             VALUES (1, ?1, ?2, ?3, 'succeeded', 0, ?4, 1, 0, 0)",
            params![name, unit, instance, duration_us],
        )
        .expect("task");
    };
    task("build", "build", 0, 9_000_000);
    task("each", "each", i64::from(TaskKey::LISTING), 5_000_000);
    task("each[a]", "each", 0, 1_000_000);
    task("each[b]", "each", 1, 3_000_000);
    task("each[c]", "each", 2, 2_000_000);
    let FanOutHistory { per_instance, instances } = fan_out_history_from(&conn, "each").expect("history");
    assert_eq!(per_instance, Some(Duration::from_secs(2)));
    assert_eq!(instances, Some(3));
    let plain = fan_out_history_from(&conn, "build").expect("history");
    assert_eq!((plain.per_instance, plain.instances), (None, None), "a plain task has no instances");
}
