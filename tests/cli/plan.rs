//! `volley plan`: levels, expected durations, the critical path and predicted wall
//! times, checked against real runs of sleeps; the dot and mermaid renderings; and
//! history-weighted scheduling (a long task declared last still starts first once
//! history knows it is long).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use rusqlite::Connection;

use crate::support::{Test, VOLLEY, seed_duration, volley};

/// `1.8s`, `950ms`, `1m02s` as volley prints them.
fn parse_duration(text: &str) -> Duration {
    if let Some(ms) = text.strip_suffix("ms") {
        return Duration::from_millis(ms.parse().expect("milliseconds"));
    }
    if let Some((m, s)) = text.split_once('m') {
        let secs: u64 = s.trim_end_matches('s').parse().expect("seconds");
        return Duration::from_secs(m.parse::<u64>().expect("minutes") * 60 + secs);
    }
    Duration::from_secs_f64(text.trim_end_matches('s').parse().expect("seconds"))
}

/// The duration right after `label` on the line that starts with it.
fn figure(stdout: &str, label: &str) -> Duration {
    let line = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in\n{stdout}"));
    parse_duration(line.split_whitespace().next().expect("a duration"))
}

/// The wall time of the newest recorded run.
fn last_wall(test: &Test) -> Duration {
    let conn = Connection::open(test.path(".volley/history.db")).expect("history");
    let us: i64 = conn
        .query_row("SELECT wall_us FROM runs ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
        .expect("a finished run");
    Duration::from_micros(us as u64)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Six sleeps, 2.5 s of work: a (0.5) → c (0.4) → e (0.3); a, b (0.3) → d (0.6) → f (0.4).
const SLEEPS: &str = r#"
[tasks.a]
run = "sleep 0.5"
[tasks.b]
run = "sleep 0.3"
[tasks.c]
run = "sleep 0.4"
deps = ["a"]
[tasks.d]
run = "sleep 0.6"
deps = ["a", "b"]
[tasks.e]
run = "sleep 0.3"
deps = ["c"]
[tasks.f]
run = "sleep 0.4"
deps = ["d"]
"#;

#[test]
fn plan_predicts_the_wall_time_of_the_next_real_run() {
    let test = Test::with_toml(SLEEPS);
    volley(&test, &["run", "-j", "2", "--output", "quiet"]).code(0);
    let plan = volley(&test, &["plan", "-j", "2"]);
    plan.code(0).stdout_has("6 tasks in 3 levels, 2 slots").stdout_has("critical path   a → d → f");
    let predicted = figure(&plan.stdout, "predicted wall");
    volley(&test, &["run", "-j", "2", "--output", "quiet"]).code(0);
    let actual = last_wall(&test);
    eprintln!("plan -j 2 predicted {predicted:?}, the run took {actual:?}");
    assert!((ratio(actual, predicted) - 1.0).abs() <= 0.15, "predicted {predicted:?}, actual {actual:?}");

    // One slot: the tasks one after the other.
    let serial = volley(&test, &["plan", "-j", "1"]);
    let predicted = figure(&serial.stdout, "predicted wall");
    eprintln!("plan -j 1 predicted {predicted:?} for 2.5s of sleeps");
    assert_eq!(predicted, figure(&serial.stdout, "total work"), "{}", serial.stdout);
    assert!(
        (ratio(predicted, Duration::from_millis(2500)) - 1.0).abs() <= 0.15,
        "{predicted:?} vs 2.5s of sleeps"
    );
}

#[test]
fn plan_without_history_says_so_and_counts_each_task_as_a_second() {
    let test = Test::with_toml(SLEEPS);
    let plan = volley(&test, &["plan", "-j", "2"]);
    plan.code(0)
        .stdout_has("no history")
        .stdout_has("a task with no history counts as 1s")
        .stdout_has("No history yet");
    // Six 1 s tasks on 2 slots, three levels deep: 3 s.
    assert_eq!(figure(&plan.stdout, "predicted wall"), Duration::from_secs(3));
    assert_eq!(figure(&plan.stdout, "total work"), Duration::from_secs(6));
    assert!(!test.path(".volley/history.db").exists(), "plan records nothing");
}

#[test]
fn plan_of_a_named_task_covers_only_what_it_needs() {
    let test = Test::with_toml(SLEEPS);
    let plan = volley(&test, &["plan", "e", "-j", "4"]);
    plan.code(0).stdout_has("3 tasks in 3 levels, 4 slots").stdout_lacks(" b ").stdout_has("a → c → e");
    volley(&test, &["plan", "nope"]).code(2).stderr_has("no task named `nope`");
}

/// Seeds exact durations: runs `true` tasks once, then rewrites what was recorded.
fn seeded(toml: &str, durations_ms: &[(&str, i64)]) -> Test {
    let test = Test::with_toml(toml);
    volley(&test, &["run", "--output", "quiet"]).code(0);
    for (name, ms) in durations_ms {
        seed_duration(&test, name, *ms);
    }
    test
}

const FAN_OUT: &str = r#"
[tasks.fetch]
run = "true"
[tasks.shards]
for_each = { items = ["1", "2", "3", "4"] }
run = "true {item}"
deps = ["fetch"]
[tasks."docs"]
run = "true"
[tasks.ship]
run = "true"
deps = ["shards", "docs"]
"#;

fn fan_out_test() -> Test {
    seeded(
        FAN_OUT,
        &[
            ("fetch", 1000),
            ("shards[1]", 500),
            ("shards[2]", 500),
            ("shards[3]", 700),
            ("shards[4]", 500),
            ("docs", 1800),
            ("ship", 300),
        ],
    )
}

#[test]
fn fan_out_tasks_count_their_instances_and_the_critical_path_is_marked() {
    let test = fan_out_test();
    let plan = volley(&test, &["plan", "-j", "2"]);
    plan.code(0)
        .stdout_has("4 × 0.5s")
        .stdout_has("* fetch")
        .stdout_has("* shards")
        .stdout_has("critical path   fetch → shards → ship  (2.3s)")
        .stdout_has("total work      5.1s");
    // fetch (1 s) beside docs (1.8 s); the shards two at a time on whichever slot is
    // free (1–1.5–2–2.5 and 1.8–2.3); ship (0.3 s) after the last: 2.8 s.
    assert_eq!(figure(&plan.stdout, "predicted wall"), Duration::from_millis(2800));
}

#[test]
fn plan_text_snapshot() {
    let test = fan_out_test();
    let plan = volley(&test, &["plan", "-j", "2"]);
    plan.code(0);
    // The comparison table has a row for this machine's CPU count: checked above, not here.
    let (head, _) = plan.stdout.split_once("\n  slots").expect("a comparison table");
    insta::assert_snapshot!("plan_text", head);
    assert!(plan.stdout.ends_with("median of each task's last 10 successful runs.\n"), "{}", plan.stdout);
}

#[test]
fn a_closed_stdout_ends_plan_quietly() {
    let test = Test::with_toml(SLEEPS);
    let output = Command::new("sh")
        .args(["-c", &format!("'{VOLLEY}' plan | head -c 1 >/dev/null")])
        .current_dir(test.dir.path())
        .output()
        .expect("sh");
    assert!(output.status.success());
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn dot_and_mermaid_show_the_graph_with_the_critical_path() {
    let test = fan_out_test();
    let dot = volley(&test, &["plan", "-j", "2", "--format", "dot"]);
    dot.code(0);
    insta::assert_snapshot!("plan_dot", dot.stdout);
    let mermaid = volley(&test, &["plan", "-j", "2", "--format", "mermaid"]);
    mermaid.code(0);
    insta::assert_snapshot!("plan_mermaid", mermaid.stdout);
    if crate::support::require_tool("dot") {
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("dot");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), dot.stdout.as_bytes())
            .expect("write");
        drop(child.stdin.take());
        assert!(child.wait().expect("dot ran").success(), "Graphviz accepts the output");
    }
}

/// Eight 0.3 s tasks declared before one 1.2 s task, two slots: without history the
/// long one starts last (2.4 s); once history knows it, it starts first and the run
/// approaches max(critical path, work ÷ slots) = max(1.2, 3.6 ÷ 2) = 1.8 s.
#[test]
fn history_puts_a_long_task_declared_last_first() {
    let mut toml = String::new();
    for i in 0..8 {
        let _ = writeln!(toml, "[tasks.short{i}]\nrun = \"sleep 0.3\"");
    }
    toml.push_str("[tasks.long]\nrun = \"sleep 1.2\"\n");
    let test = Test::with_toml(&toml);
    volley(&test, &["run", "-j", "2", "--output", "quiet"]).code(0);
    let first = last_wall(&test);
    volley(&test, &["run", "-j", "2", "--output", "quiet"]).code(0);
    let second = last_wall(&test);
    let bound = Duration::from_millis(1800);
    eprintln!("lower bound {bound:?}: first run {first:?}, second run {second:?}");
    assert!(ratio(second, bound) <= 1.15, "second run {second:?} vs lower bound {bound:?}");
    assert!(first.saturating_sub(second) >= Duration::from_millis(300), "first {first:?}, second {second:?}");
}
