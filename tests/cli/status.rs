//! `volley status` from another terminal: a run in progress (running tasks against
//! their usual duration, done/total, time left), a run whose volley was killed, and
//! nothing running. The run is a real `volley run` started in the background; its
//! long task waits for a file the test creates, so nothing here sleeps to synchronise.

use std::process::Stdio;
use std::time::Duration;

use rusqlite::Connection;

use crate::support::{Test, command, seed_duration, signal, volley, wait_for};

/// `first` → `slow` (waits for `release`, at most ~30 s so that a failed test leaves nothing running) → `last`, and `each` (three instances)
/// beside `slow`.
const WAITING: &str = r#"
[tasks.first]
run = "true"
[tasks.slow]
run = "i=0; while [ ! -f release ] && [ $i -lt 1500 ]; do i=$((i+1)); sleep 0.02; done"
deps = ["first"]
[tasks.each]
for_each = { items = ["a", "b", "c"] }
run = "true {item}"
deps = ["first"]
[tasks.last]
run = "true"
deps = ["slow", "each"]
"#;

/// A project with one recorded run whose `slow` took 40 s and `last` 0.5 s.
fn project_with_history() -> Test {
    let test = Test::with_toml(WAITING);
    test.write("release", "");
    volley(&test, &["run", "--output", "quiet"]).code(0);
    seed_duration(&test, "slow", 40_000);
    seed_duration(&test, "last", 500);
    std::fs::remove_file(test.path("release")).expect("remove release");
    test
}

fn status_json(test: &Test) -> serde_json::Value {
    let run = volley(test, &["status", "--json"]);
    run.code(0);
    serde_json::from_str(&run.stdout).expect("status --json is JSON")
}

#[test]
fn status_shows_the_run_in_progress_then_nothing() {
    let test = project_with_history();
    let mut child = command(&test, &["run", "-j", "2", "--output", "quiet"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn volley");
    let mut json = serde_json::Value::Null;
    let shown = wait_for(Duration::from_secs(10), || {
        json = status_json(&test);
        json["runs"][0]["running"][0]["name"] == "slow" && json["runs"][0]["done"] == 4
    });
    assert!(shown, "status never showed `slow` running after 4 done: {json:#}");
    let run = &json["runs"][0];
    assert_eq!(run["state"], "running");
    assert_eq!(run["id"], 2);
    assert_eq!(run["pid"], i64::from(child.id()));
    assert_eq!(run["jobs"], 2);
    assert_eq!(run["total"], 6, "first, slow, three instances of each, last");
    let command: Vec<String> = serde_json::from_value(run["command"].clone()).expect("command is a list");
    assert_eq!(command[1..], ["run", "-j", "2", "--output", "quiet"]);
    let slow = &run["running"][0];
    assert_eq!(slow["usual_us"], 40_000_000);
    assert_eq!(slow["attempt"], 1);
    let elapsed = slow["elapsed_us"].as_u64().expect("elapsed");
    assert!(elapsed < 10_000_000, "{elapsed}");
    // What is left: the rest of slow's usual 40 s, then last's 0.5 s.
    let left = run["predicted_left_us"].as_u64().expect("a prediction");
    let expected = 40_500_000 - elapsed;
    assert!(left.abs_diff(expected) < 1_000_000, "left {left} µs, expected about {expected}");

    let shown = volley(&test, &["status"]);
    shown
        .code(0)
        .stdout_has("run 2 (")
        .stdout_has("): volley run -j 2 --output quiet")
        .stdout_has("4/6 done, ~")
        .stdout_has(" / usual 40s")
        .stdout_lacks("no run in progress");

    test.write("release", "");
    assert!(child.wait().expect("volley exits").success());
    assert_eq!(status_json(&test)["runs"], serde_json::json!([]));
    volley(&test, &["status"]).code(0).stdout_has("no run in progress");
}

/// The time left counts the run's pools: two tasks that wait for `release`, each
/// usually 20 s, in a pool of one on four slots, take 40 s, not 20.
#[test]
fn the_time_left_counts_pools() {
    let waiting = "i=0; while [ ! -f release ] && [ $i -lt 1500 ]; do i=$((i+1)); sleep 0.02; done";
    let toml = format!(
        "[settings]\njobs = 4\n[settings.pools]\ndb = 1\n\
         [tasks.one]\nrun = \"{waiting}\"\npool = \"db\"\n[tasks.two]\nrun = \"{waiting}\"\npool = \"db\"\n"
    );
    let test = Test::with_toml(&toml);
    test.write("release", "");
    volley(&test, &["run", "--output", "quiet"]).code(0);
    seed_duration(&test, "one", 20_000);
    seed_duration(&test, "two", 20_000);
    std::fs::remove_file(test.path("release")).expect("remove release");
    let mut child =
        command(&test, &["run", "--output", "quiet"]).stdout(Stdio::null()).spawn().expect("spawn volley");
    let mut json = serde_json::Value::Null;
    let shown = wait_for(Duration::from_secs(10), || {
        json = status_json(&test);
        json["runs"][0]["running"][0]["elapsed_us"].is_u64()
    });
    test.write("release", "");
    assert!(child.wait().expect("volley exits").success());
    assert!(shown, "status never showed a task running: {json:#}");
    let run = &json["runs"][0];
    assert_eq!(run["running"].as_array().map(Vec::len), Some(1), "the pool holds one: {json:#}");
    let elapsed = run["running"][0]["elapsed_us"].as_u64().expect("elapsed");
    let left = run["predicted_left_us"].as_u64().expect("a prediction");
    let expected = 40_000_000 - elapsed;
    assert!(left.abs_diff(expected) < 1_000_000, "left {left} µs, expected about {expected}");
}

#[test]
fn a_killed_run_is_not_shown_as_running() {
    let test = project_with_history();
    let mut child =
        command(&test, &["run", "--output", "quiet"]).stdout(Stdio::null()).spawn().expect("spawn volley");
    assert!(
        wait_for(Duration::from_secs(10), || status_json(&test)["runs"][0]["running"][0]["name"] == "slow"),
        "slow never ran"
    );
    signal(child.id(), libc::SIGKILL);
    child.wait().expect("reap volley");
    let json = status_json(&test);
    assert_eq!(json["runs"][0]["state"], "killed_or_crashed", "{json:#}");
    assert_eq!(json["runs"][0]["predicted_left_us"], serde_json::Value::Null);
    volley(&test, &["status"])
        .code(0)
        .stdout_has("no run in progress")
        .stdout_has("killed or crashed")
        .stdout_has("was running: slow");
}

#[test]
fn status_without_history_says_nothing_runs() {
    let test = Test::with_toml(WAITING);
    volley(&test, &["status"]).code(0).stdout_has("no run in progress");
    assert_eq!(status_json(&test), serde_json::json!({ "runs": [] }));
    assert!(!test.path(".volley").exists(), "status creates nothing");
}

/// A history written before schema 2 has no planned graph: status still shows the
/// run, with what finished and no total, and leaves the file as it found it.
#[test]
fn status_reads_a_history_recorded_before_schema_2() {
    let test = Test::with_toml(WAITING);
    std::fs::create_dir_all(test.path(".volley")).expect("state dir");
    let db = test.path(".volley/history.db");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history-v1.db"), &db).expect("copy");
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let conn = Connection::open(&db).expect("history");
    // Run 3 (`volley run build`) as if still going, in this (live) test process.
    conn.execute(
        "UPDATE runs SET status = 'running', ended_at_us = NULL, host = ?1, pid = ?2 WHERE id = 3",
        rusqlite::params![host, std::process::id()],
    )
    .expect("mark running");
    drop(conn);
    let json = status_json(&test);
    let run = &json["runs"][0];
    assert_eq!((run["id"].as_i64(), run["state"].as_str()), (Some(3), Some("running")), "{json:#}");
    assert_eq!(run["done"], 2, "prepare and build finished");
    assert_eq!(run["total"], serde_json::Value::Null);
    volley(&test, &["status"]).code(0).stdout_has("2 done, time left unknown (recorded by an older volley)");
    let conn = Connection::open(&db).expect("history");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, 1, "status only reads");
}

#[test]
fn two_runs_in_progress_are_both_shown() {
    let test = project_with_history();
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            command(&test, &["run", "slow", "--output", "quiet"])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn volley")
        })
        .collect();
    let mut json = serde_json::Value::Null;
    let both = wait_for(Duration::from_secs(10), || {
        json = status_json(&test);
        json["runs"]
            .as_array()
            .is_some_and(|runs| runs.len() == 2 && runs.iter().all(|r| r["running"][0]["name"] == "slow"))
    });
    assert!(both, "{json:#}");
    let ids: Vec<i64> =
        json["runs"].as_array().expect("runs").iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(ids, [3, 2], "newest first");
    let shown = volley(&test, &["status"]);
    shown.code(0).stdout_has("run 3 (").stdout_has("\n\nrun 2 (");
    test.write("release", "");
    for child in &mut children {
        assert!(child.wait().expect("volley exits").success());
    }
    assert_eq!(status_json(&test)["runs"], serde_json::json!([]));
}
