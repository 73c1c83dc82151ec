//! Recording and `volley history`: what a run leaves in `.volley/history.db`, that it
//! survives a SIGKILL and concurrent runs, that a broken history only warns, and
//! that the next run schedules and predicts with the recorded medians.

use std::process::Stdio;
use std::time::Duration;

use rusqlite::Connection;

use crate::support::{Test, command, signal, volley, wait_for};

fn db(test: &Test) -> Connection {
    Connection::open(test.path(".volley/history.db")).expect("open history.db")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).expect(sql)
}

#[test]
fn a_run_is_recorded_with_its_tasks_and_attempts() {
    let test = Test::with_toml("[tasks.a]\nrun = \"true\"\n\n[tasks.b]\nrun = \"exit 0\"\ndeps = [\"a\"]\n");
    volley(&test, &["run", "-j", "2"]).code(0);
    let conn = db(&test);
    let (status, exit_code, jobs, command, wall): (String, i32, i64, String, i64) = conn
        .query_row("SELECT status, exit_code, jobs, command, wall_us FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("one run");
    assert_eq!((status.as_str(), exit_code, jobs), ("succeeded", 0, 2));
    let command: Vec<String> = serde_json::from_str(&command).expect("command is JSON");
    assert_eq!(command[1..], ["run", "-j", "2"]);
    assert!(wall > 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks WHERE status = 'succeeded'"), 2);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM attempts WHERE status = 'exited' AND exit_code = 0 AND ended_us >= started_us"
        ),
        2
    );
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, volley::record::SCHEMA_VERSION);
}

#[test]
fn runs_are_read_back_through_the_write_ahead_log_they_leave() {
    let test = Test::with_toml("[tasks.a]\nrun = \"true\"\n");
    volley(&test, &["run"]).code(0);
    volley(&test, &["run"]).code(0);
    let wal = test.path(".volley/history.db-wal");
    assert!(wal.metadata().is_ok_and(|m| m.len() > 0), "a one-task run leaves its log");
    volley(&test, &["history", "--json"]).code(0).stdout_has("\"succeeded\"");
    // The predicted timeline needs the durations in the log.
    volley(&test, &["run", "--dry-run"]).code(0).stdout_has("  at ");
    // The second run planned with and recorded into the same history.
    let conn = db(&test);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs WHERE status = 'succeeded'"), 2);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks WHERE name = 'a'"), 2);
}

#[test]
fn a_usage_error_or_a_dry_run_leaves_no_history() {
    let test = Test::with_toml("[tasks.a]\nrun = \"true\"\n");
    volley(&test, &["run", "nosuch"]).code(2);
    volley(&test, &["run", "--dry-run"]).code(0);
    assert!(!test.path(".volley/history.db").exists());
}

#[test]
fn every_attempt_of_a_retried_task_is_recorded() {
    let toml = "[tasks.broken]\nrun = \"exit 3\"\nretries = 2\nretry_delay = \"10ms\"\n\n\
                [tasks.flaky]\nrun = \"test -f marker || { touch marker; exit 1; }\"\nretries = 1\nretry_delay = \"10ms\"\n";
    let test = Test::with_toml(toml);
    volley(&test, &["run", "-k"]).code(1);
    let conn = db(&test);
    assert_eq!(count(&conn, "SELECT count(*) FROM attempts WHERE name = 'broken' AND exit_code = 3"), 3);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM attempts WHERE name = 'broken' AND retry_in_us IS NOT NULL"),
        2
    );
    assert_eq!(count(&conn, "SELECT attempts FROM tasks WHERE name = 'broken' AND status = 'failed'"), 3);
    assert_eq!(count(&conn, "SELECT count(*) FROM attempts WHERE name = 'flaky'"), 2);
    assert_eq!(count(&conn, "SELECT flaky FROM tasks WHERE name = 'flaky' AND status = 'succeeded'"), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs WHERE status = 'failed' AND exit_code = 1"), 1);
}

#[test]
fn a_finished_task_survives_a_sigkill_of_volley() {
    let toml = "[tasks.first]\nrun = \"sleep 0.3\"\n\n[tasks.second]\nrun = \"touch second-started; sleep 30\"\ndeps = [\"first\"]\n";
    let test = Test::with_toml(toml).args(&["run"]);
    let mut child = test.spawn();
    assert!(wait_for(Duration::from_secs(10), || test.path("second-started").exists()));
    // Committed as the task finished, long before the run ends (the recorder thread
    // may need a moment on a loaded machine: it is not the runner's thread).
    let first_recorded = || {
        Connection::open(test.path(".volley/history.db")).ok().is_some_and(|conn| {
            conn.query_row("SELECT count(*) FROM tasks WHERE name = 'first'", [], |row| row.get::<_, i64>(0))
                .is_ok_and(|n| n == 1)
        })
    };
    assert!(wait_for(Duration::from_secs(5), first_recorded), "first was not committed while second ran");
    signal(child.id(), libc::SIGKILL);
    child.wait().expect("wait");
    let conn = db(&test);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks WHERE name = 'first' AND status = 'succeeded'"), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
}

#[test]
fn an_unwritable_state_dir_warns_once_and_the_run_succeeds() {
    let test = Test::with_toml("[settings]\nstate_dir = \"blocker/state\"\n\n[tasks.a]\nrun = \"true\"\n");
    test.write("blocker", "a file where a directory should be");
    let run = volley(&test, &["run"]);
    run.code(0).stderr_has("warning: history not recorded:");
    assert_eq!(run.stderr.matches("history not recorded").count(), 1, "{}", run.stderr);
}

#[test]
fn a_corrupt_history_warns_and_the_run_succeeds() {
    let test = Test::with_toml("[tasks.a]\nrun = \"true\"\n");
    test.write(".volley/history.db", &"this is not a database\n".repeat(200));
    volley(&test, &["run"]).code(0).stderr_has("warning: history not recorded:").stderr_has("damaged");
}

#[test]
fn six_concurrent_runs_are_all_recorded() {
    let toml = (0..4).map(|i| format!("[tasks.t{i}]\nrun = \"sleep 0.05\"\n\n")).collect::<Vec<_>>().concat();
    let test = Test::with_toml(&toml);
    let children: Vec<_> = (0..6)
        .map(|_| command(&test, &["run", "-j", "4"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn())
        .collect::<Result<_, _>>()
        .expect("spawn");
    for child in children {
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("warning"), "{stderr}");
    }
    let conn = db(&test);
    assert_eq!(count(&conn, "SELECT count(*) FROM runs WHERE status = 'succeeded'"), 6);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks WHERE status = 'succeeded'"), 24);
    assert_eq!(count(&conn, "SELECT count(DISTINCT run_key) FROM runs"), 6);
}

#[test]
fn exec_is_recorded_under_item_names() {
    let test = Test::new();
    volley(&test, &["exec", "echo {}", ":::", "x", "y"]).code(0);
    let conn = db(&test);
    assert_eq!(count(&conn, "SELECT count(*) FROM tasks WHERE unit = 'exec' AND name IN ('x', 'y')"), 2);
    volley(&test, &["history"]).code(0).stdout_has("volley exec echo {} ::: x y");
}

#[test]
fn reading_history_never_creates_it() {
    let test = Test::with_toml("[tasks.a]\nrun = \"true\"\n");
    volley(&test, &["run", "--dry-run"]).code(0);
    volley(&test, &["history"]).code(0).stdout_has("no history yet");
    volley(&test, &["history", "--check"]).code(0);
    assert!(!test.path(".volley/history.db").exists());
}

#[test]
fn history_lists_runs_and_a_tasks_durations() {
    let test = Test::with_toml("[tasks.a]\nrun = \"sleep 0.05\"\n");
    volley(&test, &["run"]).code(0);
    volley(&test, &["run"]).code(0);
    volley(&test, &["history"]).code(0).stdout_has("volley run").stdout_has("succeeded");
    let task = volley(&test, &["history", "a"]);
    task.code(0).stdout_has("a: 2 runs").stdout_has("median:");
    assert!(task.stdout.chars().any(|c| ('▁'..='█').contains(&c)), "{}", task.stdout);

    let json: serde_json::Value =
        serde_json::from_str(&volley(&test, &["history", "--json", "--limit", "1"]).stdout).expect("json");
    let runs = json["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], 2);
    assert_eq!(runs[0]["status"], "succeeded");
    assert!(runs[0]["wall_us"].as_i64().is_some() && runs[0]["trend"].is_number());
    let json: serde_json::Value =
        serde_json::from_str(&volley(&test, &["history", "a", "--json"]).stdout).expect("json");
    assert!(json["median_us"].as_u64().expect("median") >= 50_000);
    assert_eq!(json["runs"].as_array().expect("runs").len(), 2);
}

#[test]
fn history_check_fails_on_a_deliberately_slower_run() {
    let test =
        Test::with_toml("[tasks.work]\nrun = \"sleep $(cat duration)\"\n\n[tasks.quick]\nrun = \"true\"\n");
    test.write("duration", "0.05");
    for _ in 0..3 {
        volley(&test, &["run"]).code(0);
    }
    volley(&test, &["history", "--check"]).code(0).stdout_has("no regression");
    test.write("duration", "0.6");
    volley(&test, &["run"]).code(0);
    volley(&test, &["history", "--check"]).code(1).stdout_has("regression: work");
    // A later run without task results (as `volley up` records) does not hide it.
    let conn = Connection::open(test.path(".volley/history.db")).expect("history");
    conn.execute(
        "INSERT INTO runs (run_key, command, started_at_us, ended_at_us, wall_us, status, exit_code, jobs, host, pid)
         VALUES ('up-1', '[\"volley\",\"up\"]', 1, 2, 1, 'succeeded', 0, 1, 'h', 1)",
        [],
    )
    .expect("insert");
    volley(&test, &["history", "--check"]).code(1).stdout_has("regression: work");
}

/// `start NAME <seconds>` / `end NAME <seconds>` lines, from the tasks' own clocks.
fn stamped(name: &str, seconds: f64) -> String {
    format!(
        "[tasks.{name}]\nrun = \"echo start {name} $(date +%s.%N) >> trace; sleep {seconds}; echo end {name} $(date +%s.%N) >> trace\"\n\n"
    )
}

/// When `name` started, and the whole run's span, in seconds from the first start.
fn timing(test: &Test, name: &str) -> (f64, f64) {
    let trace = test.read("trace");
    let stamps: Vec<(String, f64)> = trace
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (kind, task, at) = (words.next()?, words.next()?, words.next()?.parse().ok()?);
            Some((format!("{kind} {task}"), at))
        })
        .collect();
    let first = stamps.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let last = stamps.iter().map(|s| s.1).fold(0.0, f64::max);
    let start = stamps.iter().find(|s| s.0 == format!("start {name}")).expect("started").1;
    (start - first, last - first)
}

#[test]
fn the_second_run_starts_the_long_task_first() {
    let mut toml: String = (0..6).map(|i| stamped(&format!("short{i}"), 0.2)).collect();
    toml.push_str(&stamped("long", 1.5));
    let test = Test::with_toml(&toml);
    volley(&test, &["run", "-j", "2"]).code(0);
    let (long_start, _) = timing(&test, "long");
    assert!(long_start > 0.3, "without history the long task waits its turn: {long_start}");

    std::fs::remove_file(test.path("trace")).expect("reset trace");
    volley(&test, &["run", "-j", "2"]).code(0);
    let (long_start, span) = timing(&test, "long");
    assert!(long_start < 0.1, "the long task starts first: {long_start}");
    // Lower bound: max(critical path 1.5 s, work 2.7 s ÷ 2 slots) = 1.5 s.
    assert!(span < 1.5 + 0.35, "near the lower bound: {span}");
}

#[test]
fn dry_run_predicts_times_after_one_run() {
    let test =
        Test::with_toml("[tasks.a]\nrun = \"sleep 0.2\"\n\n[tasks.b]\nrun = \"true\"\ndeps = [\"a\"]\n");
    volley(&test, &["run", "--dry-run"]).code(0).stdout_has("order only");
    volley(&test, &["run"]).code(0);
    volley(&test, &["run", "--dry-run"]).code(0).stdout_has("predicted wall time: 0.2s").stdout_has("at ");
}

#[test]
fn the_second_run_announces_each_tasks_usual_duration() {
    let test = Test::with_toml("[tasks.a]\nrun = \"sleep 0.1\"\n");
    volley(&test, &["run", "--events", "first.jsonl"]).code(0);
    volley(&test, &["run", "--events", "second.jsonl"]).code(0);
    let expected = |file: &str| -> Vec<serde_json::Value> {
        test.read(file)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "attempt_started")
            .map(|e| e["expected_us"].clone())
            .collect()
    };
    assert_eq!(expected("first.jsonl"), [serde_json::Value::Null]);
    let second = expected("second.jsonl");
    assert!(second[0].as_u64().is_some_and(|us| us >= 100_000), "{second:?}");
}

/// What `run_started` says `name` is expected to take, from the run's `--events`.
fn expected_us(test: &Test, events: &str, name: &str) -> Option<u64> {
    let stream = std::fs::read_to_string(test.path(events)).expect("events");
    let started: serde_json::Value = stream
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json"))
        .find(|e| e["event"] == "run_started")
        .expect("run_started");
    let tasks = started["tasks"].as_array().expect("tasks");
    tasks.iter().find(|t| t["name"] == name).and_then(|t| t["expected_us"].as_u64())
}

#[test]
fn a_run_plans_with_and_records_into_the_history_of_its_own_state_dir() {
    let tasks = "[tasks.a]\nrun = \"true\"\n[tasks.b]\nrun = \"true\"\n";
    let seed = |test: &Test, dir: &str, us: u64| {
        let conn = Connection::open(test.path(&format!("{dir}/history.db"))).expect("history");
        conn.execute("UPDATE baselines SET recent = ?1 WHERE name = 'b'", [format!("[[1, {us}]]")])
            .expect("seed");
    };
    let runs = |test: &Test, dir: &str| {
        let conn = Connection::open(test.path(&format!("{dir}/history.db"))).expect("history");
        count(&conn, "SELECT count(*) FROM runs")
    };
    let test = Test::with_toml(tasks);
    volley(&test, &["run"]).code(0);
    seed(&test, ".volley", 1_000_000);
    volley(&test, &["run", "--events", "default.jsonl"]).code(0);
    assert_eq!(expected_us(&test, "default.jsonl", "b"), Some(1_000_000));
    // The same project moved to another state dir: the default one, still there, is
    // neither read nor written.
    test.write("volley.toml", &format!("[settings]\nstate_dir = \"elsewhere\"\n\n{tasks}"));
    volley(&test, &["run"]).code(0);
    seed(&test, "elsewhere", 4_000_000);
    volley(&test, &["run", "--events", "elsewhere.jsonl"]).code(0);
    assert_eq!(expected_us(&test, "elsewhere.jsonl", "b"), Some(4_000_000));
    assert_eq!((runs(&test, ".volley"), runs(&test, "elsewhere")), (2, 2));
}
