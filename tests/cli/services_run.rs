//! Services from the other commands: names checked, tasks that need services,
//! and `logs --run` for a recorded run's task logs.

use std::time::Duration;

use super::services::{Cleanup, count, events, free_port, service, volley};
use crate::support::{Test, alive, read_pids, wait_for};

#[test]
fn commands_name_unknown_services_clearly() {
    let test = Test::with_toml("[services.redis]\nrun = \"sleep 100\"\n[tasks.build]\nrun = \"true\"\n");
    volley(&test, &["up", "rediss"]).code(2).stderr_has("did you mean `redis`?");
    volley(&test, &["down", "build"]).code(2).stderr_has("`build` is a task");
    volley(&test, &["restart", "redis"]).code(2).stderr_has("no services are running");
    volley(&test, &["down"]).code(0).stdout_has("no services are running");
}

#[test]
fn a_task_that_needs_a_service_starts_it_waits_for_ready_and_stops_it_after() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let port = free_port();
    let toml = format!(
        "[services.db]\nrun = \"{}\"\nready = {{ http = \"http://127.0.0.1:{port}/health\", status = 200, interval = \"20ms\" }}\n\n[tasks.test]\ndeps = [\"db\"]\nrun = \"python3 -c 'import urllib.request as u; print(u.urlopen(\\\"http://127.0.0.1:{port}/health\\\").status)' > answer\"\n",
        service("db", &format!("--port {port} --delay 0.2"))
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["run", "test"]).code(0);
    assert_eq!(test.read("answer").trim(), "200", "the service was ready when the task ran");
    let pids = read_pids(&test.path("pids"));
    assert_eq!(pids.len(), 1);
    assert!(wait_for(Duration::from_secs(3), || !alive(pids[0])), "the run stops the service it started");
    assert_eq!(count(&events(&test), "db", "stopped"), 1);
    // The run's history has the service's start (before its first task) and its stop.
    let report = volley(&test, &["report"]);
    report.code(0).stdout_has("services (start-up and shutdown timeline)").stdout_has("db  ready after");
    report.stdout_has("db  stopped in");
    let timeline = &report.stdout;
    let start = timeline.lines().find(|l| l.contains("db  starting")).expect("the start in the timeline");
    assert!(start.trim_start().starts_with('-'), "started before the run's first task: {timeline}");
    let json = volley(&test, &["report", "--format", "json"]);
    json.code(0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let events: Vec<&str> = json["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|e| e["name"] == "db")
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(events, ["starting", "ready", "stopping", "stopped"], "{json:#}");
    assert!(json["services"][0]["t_us"].as_i64().is_some_and(|t| t < 0), "{json:#}");

    // Under a supervisor, the run uses the running service and leaves it running.
    volley(&test, &["up", "-d"]).code(0);
    volley(&test, &["run", "test"]).code(0);
    let pids = read_pids(&test.path("pids"));
    assert_eq!(pids.len(), 2, "no second db was started");
    assert!(alive(pids[1]), "the supervisor's service keeps running after the run");
    volley(&test, &["down"]).code(0);
}

#[test]
fn logs_of_a_recorded_run_are_shown_tagged() {
    let test =
        Test::with_toml("[tasks.build]\nrun = \"echo built it\"\n[tasks.lint]\nrun = \"echo linted\"\n");
    volley(&test, &["run"]).code(0);
    volley(&test, &["logs", "--run", "last"])
        .code(0)
        .stdout_has("build | built it")
        .stdout_has("lint  | linted");
    let only = volley(&test, &["logs", "--run", "1", "lint"]);
    only.code(0).stdout_has("lint | linted").stdout_lacks("build");
    volley(&test, &["logs", "--run", "7"]).code(2).stderr_has("no run `7`");
}

#[test]
fn logs_mark_stderr_lines_as_run_does() {
    let test = Test::with_toml(
        "[tasks.mixed]\nrun = \"echo out one; echo err one >&2; sleep 0.1; echo out two; echo err two >&2\"\n",
    );
    let run = volley(&test, &["run"]);
    run.code(0).stdout_has("mixed ! err one").stdout_has("mixed | out two");
    let logs = volley(&test, &["logs", "--run", "last"]);
    logs.code(0);
    let lines: Vec<&str> = logs.stdout.lines().collect();
    assert_eq!(
        lines,
        ["mixed | out one", "mixed ! err one", "mixed | out two", "mixed ! err two"],
        "{}",
        logs.stdout
    );
    // The log file itself holds the raw output, as `cmd > file 2>&1` would.
    let dir =
        std::fs::read_dir(test.path(".volley/logs")).expect("logs").next().expect("run").expect("entry");
    let raw = std::fs::read_to_string(dir.path().join("mixed.log")).expect("log");
    assert_eq!(raw, "out one\nerr one\nout two\nerr two\n");
}

#[test]
fn only_the_last_keep_logs_runs_keep_their_logs() {
    let test = Test::with_toml("[settings]\nkeep_logs = 2\n[tasks.say]\nrun = \"echo hello\"\n");
    let run_dirs = || {
        let mut dirs: Vec<String> = std::fs::read_dir(test.path(".volley/logs"))
            .map(|d| d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    };
    let mut made = Vec::new();
    for _ in 0..4 {
        volley(&test, &["run"]).code(0);
        made.extend(run_dirs().into_iter().filter(|d| !made.contains(d)).collect::<Vec<_>>());
    }
    assert_eq!(made.len(), 4, "each run made its own directory: {made:?}");
    let mut newest = made[2..].to_vec();
    newest.sort();
    assert_eq!(run_dirs(), newest, "the two newest runs keep their logs");
    volley(&test, &["logs", "--run", "-1"]).code(0).stdout_has("say | hello");
    volley(&test, &["logs", "--run", "1"])
        .code(2)
        .stderr_has("has no logs")
        .stderr_has("only the last 2 runs keep theirs");
}
