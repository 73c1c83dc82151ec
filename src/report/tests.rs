//! Every format rendered from one hand-built recorded run: a chain `setup → fan → ship`
//! with a fan-out whose items are hostile markup, a flaky retry, an allowed failure,
//! a skipped task, samples and an alert.

use std::collections::HashMap;

use volley_core::history::Baseline;

use super::{Format, Report, compare, render};
use crate::record::{AlertRow, AttemptRow, RunRecord, RunRow, SampleRow, ServiceEventRow, TaskRow, UnitRow};

const EVIL: &str = "<script>alert(1)</script>";
const QUOTES: &str = "&\"', x";
const MS: i64 = 1000;

fn attempt(
    name: &str,
    unit: &str,
    instance: u32,
    slot: u32,
    start_ms: i64,
    end_ms: i64,
    code: i32,
) -> AttemptRow {
    AttemptRow {
        name: name.to_string(),
        unit: unit.to_string(),
        instance,
        attempt: 1,
        slot,
        pid: Some(100 + i64::from(slot)),
        started_us: start_ms * MS,
        ended_us: Some(end_ms * MS),
        status: "exited".to_string(),
        exit_code: Some(code),
        signal: None,
        message: None,
        success: Some(code == 0),
        retry_in_us: None,
        cpu_user_us: Some(3 * MS),
        cpu_system_us: Some(MS),
        peak_rss_bytes: None,
        read_bytes: None,
        written_bytes: None,
        wait_us: Some(0),
        cache_hit: false,
    }
}

fn task(name: &str, unit: &str, instance: u32, status: &str, start_ms: i64, end_ms: i64) -> TaskRow {
    TaskRow {
        name: name.to_string(),
        unit: unit.to_string(),
        instance,
        status: status.to_string(),
        ended_us: end_ms * MS,
        duration_us: (end_ms - start_ms) * MS,
        attempts: i64::from(status != "skipped"),
        flaky: false,
        allowed_failure: false,
        needs: None,
        log: None,
    }
}

fn unit(index: u32, name: &str, deps: &[&str], instances: Option<i64>) -> UnitRow {
    UnitRow {
        unit: index,
        name: name.to_string(),
        deps: deps.iter().map(ToString::to_string).collect(),
        expected_us: None,
        instances,
    }
}

fn fixture() -> RunRecord {
    let evil = format!("fan[{EVIL}]");
    let quotes = format!("fan[{QUOTES}]");
    let mut flaky_first = attempt("setup", "setup", 0, 0, 0, 100, 1);
    flaky_first.retry_in_us = Some(10 * MS);
    let mut flaky_second = attempt("setup", "setup", 0, 0, 110, 400, 0);
    flaky_second.attempt = 2;
    flaky_second.peak_rss_bytes = Some(50 * 1024 * 1024);
    flaky_second.read_bytes = Some(4096);
    let mut lint = attempt("lint", "lint", 0, 1, 0, 50, 2);
    lint.cpu_user_us = None;
    lint.cpu_system_us = None;
    let attempts = vec![
        flaky_first,
        lint,
        flaky_second,
        attempt(&evil, "fan", 0, 0, 400, 700, 0),
        attempt(&quotes, "fan", 1, 1, 400, 600, 0),
        attempt("ship", "ship", 0, 0, 700, 1000, 0),
    ];
    let mut setup = task("setup", "setup", 0, "succeeded", 0, 400);
    setup.flaky = true;
    setup.attempts = 2;
    let mut lint = task("lint", "lint", 0, "failed", 0, 50);
    lint.allowed_failure = true;
    lint.log = Some("/nonexistent/lint.log".to_string());
    let mut docs = task("docs", "docs", 0, "skipped", 0, 0);
    docs.needs = Some("lint".to_string());
    let tasks = vec![
        lint,
        setup,
        task(&quotes, "fan", 1, "succeeded", 400, 600),
        task(&evil, "fan", 0, "succeeded", 400, 700),
        task("ship", "ship", 0, "succeeded", 700, 1000),
        docs,
    ];
    let sample = |t_ms: i64, name: Option<&str>, cpu: f64, rss: i64| SampleRow {
        t_us: t_ms * MS,
        name: name.map(ToString::to_string),
        unit: name.map(ToString::to_string),
        instance: name.map(|_| 0),
        cpu_percent: name.map(|_| cpu),
        rss_bytes: name.map(|_| rss),
        read_bytes: None,
        written_bytes: None,
        mem_available_bytes: name.is_none().then_some(rss),
        disk_free_bytes: None,
        load1: name.is_none().then_some(0.5),
    };
    let mut baselines = HashMap::new();
    baselines.insert("ship".to_string(), Baseline::of(&[100_000, 102_000, 98_000]).expect("baseline"));
    baselines.insert(evil.clone(), Baseline::of(&[300_000, 300_000, 300_000]).expect("baseline"));
    RunRecord {
        run: RunRow {
            id: 7,
            run_key: "20260101-120000-ab12".to_string(),
            command: vec!["/usr/bin/volley".to_string(), "run".to_string(), "-k".to_string()],
            started_at_us: 1_767_268_800_000_000,
            ended_at_us: Some(1_767_268_801_000_000),
            wall_us: Some(1_000_000),
            status: "succeeded".to_string(),
            exit_code: Some(0),
            jobs: 2,
            host: "box".to_string(),
        },
        units: Some(vec![
            unit(0, "setup", &[], None),
            unit(1, "lint", &[], None),
            unit(2, "fan", &["setup"], Some(2)),
            unit(3, "ship", &["fan"], None),
            unit(4, "docs", &["lint"], None),
        ]),
        attempts,
        tasks,
        samples: vec![
            sample(250, Some("setup"), 95.0, 10 << 20),
            sample(250, None, 0.0, 4 << 30),
            sample(500, Some(&evil), 40.0, 20 << 20),
            sample(500, Some(&quotes), 60.0, 5 << 20),
        ],
        alerts: vec![AlertRow {
            t_us: 800 * MS,
            kind: "slow".to_string(),
            name: Some("ship".to_string()),
            message: "ship has run 0.3s, usual 0.1s".to_string(),
            value: None,
            threshold: None,
        }],
        baselines,
        services: Vec::new(),
    }
}

fn report() -> Report {
    let record = fixture();
    let mut report = Report::build(&record, 0.2);
    report.samples = Some(record.samples);
    report
}

#[test]
fn critical_path_follows_recorded_dependencies_and_times() {
    let report = report();
    let path = report.critical_path.as_ref().expect("graph recorded");
    assert_eq!(path.tasks, ["setup", "fan", "ship"]);
    assert_eq!(path.length_us, 1_000_000);
    assert!(report.task("ship").expect("ship").critical);
    assert!(!report.task("lint").expect("lint").critical);
}

#[test]
fn without_a_recorded_graph_the_critical_path_is_unknown() {
    let mut record = fixture();
    record.units = None;
    let report = Report::build(&record, 0.2);
    assert!(report.critical_path.is_none());
    assert!(render(&report, Format::Text, false, false).contains("critical path  unknown"));
    assert_eq!(serde_json::to_value(&report).expect("json")["critical_path"], serde_json::Value::Null);
}

#[test]
fn attempts_are_summed_per_task_and_missing_figures_stay_missing() {
    let report = report();
    let setup = report.task("setup").expect("setup");
    assert_eq!((setup.attempts, setup.cpu_us()), (2, Some(8 * MS)));
    assert_eq!(setup.peak_rss_bytes, Some(50 * 1024 * 1024));
    let lint = report.task("lint").expect("lint");
    assert_eq!((lint.cpu_us(), lint.peak_rss_bytes), (None, None));
    assert_eq!(report.totals.tasks, 6);
    assert_eq!(
        (report.totals.counts.succeeded, report.totals.counts.failed, report.totals.counts.skipped),
        (4, 1, 1)
    );
    assert_eq!((report.totals.counts.flaky, report.totals.counts.allowed_failures), (1, 1));
    assert_eq!(report.totals.task_time_us, 1_250_000);
}

#[test]
fn regressions_and_improvements_use_the_baseline_rule() {
    let report = report();
    // ship: 300 ms against a stable 100 ms; fan[<script>…]: 300 ms, exactly usual.
    assert_eq!(report.regressions, ["ship"]);
    assert!(report.improvements.is_empty());
    assert_eq!(report.task(&format!("fan[{EVIL}]")).expect("fan").verdict, Some("unchanged"));
    assert_eq!(report.task("lint").expect("lint").verdict, None, "failures are not judged");
    let text = render(&report, Format::Text, false, false);
    assert!(text.contains("regression: ship took 0.3s, baseline 0.1s (+200%"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&render(&report, Format::Json, false, false)).expect("json");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["regressions"][0], "ship");
}

#[test]
fn text_report_snapshot() {
    let text = render(&report(), Format::Text, false, false);
    insta::with_settings!({ filters => vec![(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[when]")] }, {
        insta::assert_snapshot!(text);
    });
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(render(&report(), Format::Junit, false, false));
}

#[test]
fn compare_snapshot() {
    let mut other = fixture();
    other.run.id = 9;
    other.tasks.iter_mut().filter(|t| t.name == "setup").for_each(|t| t.duration_us = 250_000);
    let text = compare::render_text(&compare::compare(&report(), &Report::build(&other, 0.2)));
    insta::with_settings!({ filters => vec![(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[when]")] }, {
        insta::assert_snapshot!(text);
    });
}

#[test]
fn html_escapes_every_name_and_runs_no_injected_script() {
    let html = render(&report(), Format::Html, false, false);
    assert!(!html.contains(EVIL), "raw markup from the history");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&amp;&quot;&#39;, x"));
    assert_eq!(html.matches("<script").count(), 1, "only the report's own script");
    assert_eq!(html.matches(r#"<g class="bar"#).count(), 6, "one bar per attempt");
    assert_eq!(html.matches(r#"<g class="bar ok critical""#).count(), 4);
    assert!(html.contains("<polyline"), "charts from the samples");
    assert!(!html.contains("http://") && !html.contains("https://"), "no network");
}

#[test]
fn html_says_when_there_are_no_samples() {
    let mut report = report();
    report.samples = Some(Vec::new());
    let html = render(&report, Format::Html, false, false);
    assert!(html.contains("No samples were recorded"));
    assert!(!html.contains("<polyline"));
}

#[test]
fn csv_has_one_quoted_row_per_attempt() {
    let csv = render(&report(), Format::Csv, false, false);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 6);
    assert!(lines[0].starts_with("run_id,task,unit,instance,attempt,slot"));
    assert!(csv.contains("7,\"fan[&\"\"', x]\",fan,1,1,1,"), "{csv}");
    assert!(csv.contains("7,lint,lint,0,1,1,101,0,50000,50000,exited,2,,0,,,"), "{csv}");
    let samples = render(&report(), Format::Csv, true, false);
    assert_eq!(samples.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 4);
    assert!(samples.starts_with("run_id,t_us,task,"));
}

#[test]
fn trace_has_a_complete_event_per_attempt_on_slot_tracks() {
    let trace: serde_json::Value =
        serde_json::from_str(&render(&report(), Format::Trace, false, false)).expect("trace is JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let of = |ph: &str| events.iter().filter(|e| e["ph"] == ph).collect::<Vec<_>>();
    let complete = of("X");
    assert_eq!(complete.len(), 6);
    let ship = complete.iter().find(|e| e["name"] == "ship").expect("ship");
    assert_eq!(
        (ship["ts"].as_i64(), ship["dur"].as_i64(), ship["tid"].as_i64()),
        (Some(700_000), Some(300_000), Some(0))
    );
    let names: Vec<&str> = of("M")
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(names, ["slot 0", "slot 1"]);
    let counters = of("C");
    assert!(counters.iter().any(|e| e["name"] == "cpu %" && e["args"]["setup"] == 95.0));
    assert!(counters.iter().any(|e| e["name"] == "memory available"));
}

/// One lifecycle event of service `db`; `pid` for a start.
fn service_event(t_us: i64, event: &str, pid: Option<u32>) -> ServiceEventRow {
    ServiceEventRow {
        t_us,
        name: "db".into(),
        event: event.into(),
        attempt: pid.map(|_| 1),
        pid,
        duration_us: None,
        detail: None,
    }
}

#[test]
fn text_ends_with_the_services_timeline() {
    let mut report = report();
    assert!(!render(&report, Format::Text, false, false).contains("services"), "none without services");
    report.services = vec![
        service_event(-1_000_000, "starting", Some(7)),
        ServiceEventRow { duration_us: Some(200_000), ..service_event(-800_000, "ready", None) },
        ServiceEventRow {
            duration_us: Some(5_000_000),
            detail: Some("killed".into()),
            ..service_event(6_000_000, "stopped", None)
        },
    ];
    let text = render(&report, Format::Text, false, false);
    let timeline =
        &text[text.find("\nservices (start-up and shutdown timeline):\n").expect("the timeline")..];
    assert!(timeline.contains("-1s  db  starting (attempt 1, pid 7)"), "{timeline}");
    assert!(timeline.contains("-0.8s  db  ready after 0.2s"), "{timeline}");
    assert!(timeline.contains("+6s  db  stopped in 5s (killed after its stop timeout)"), "{timeline}");
}

#[test]
fn trace_draws_each_services_phases_on_a_track_of_its_own() {
    let mut report = report();
    report.services = vec![
        service_event(-400_000, "starting", Some(42)),
        service_event(-100_000, "ready", None),
        service_event(1_200_000, "stopping", None),
    ];
    let trace: serde_json::Value =
        serde_json::from_str(&render(&report, Format::Trace, false, false)).expect("trace is JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let db_track = events
        .iter()
        .find(|e| e["name"] == "thread_name" && e["args"]["name"] == "service db")
        .and_then(|e| e["tid"].as_i64())
        .expect("a track for db");
    assert_eq!(db_track, 2, "after the two slots");
    let phases: Vec<(&str, i64, i64)> = events
        .iter()
        .filter(|e| e["cat"] == "service" && e["tid"] == db_track)
        .map(|e| {
            (
                e["name"].as_str().expect("name"),
                e["ts"].as_i64().expect("ts"),
                e["dur"].as_i64().expect("dur"),
            )
        })
        .collect();
    // A phase still open when the record ends (at 1 s) is drawn to that end, here
    // before it began: no length.
    assert_eq!(
        phases,
        [("starting", -400_000, 300_000), ("ready", -100_000, 1_300_000), ("stopping", 1_200_000, 0)]
    );
}

#[test]
fn junit_reports_attempts_with_escaped_names() {
    let xml = render(&report(), Format::Junit, false, false);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert!(xml.contains(r#"tests="7" failures="0" errors="0" skipped="2""#), "{xml}");
    assert!(xml.contains(r#"<flakyFailure message="exit 1 (passed on a retry)""#));
    assert!(xml.contains(r#"<skipped message="allowed to fail: exit 2"/>"#));
    assert!(xml.contains(r#"<skipped message="skipped: needs lint"/>"#));
    assert!(xml.contains("name=\"fan[&lt;script&gt;alert(1)&lt;/script&gt;] (attempt 1)\""));
    assert!(!xml.contains(EVIL));
    assert_eq!(xml.matches("<testcase ").count(), 7);
}

#[test]
fn compare_sorts_by_the_largest_difference_and_lists_unmatched_tasks() {
    let a = report();
    let mut slower = fixture();
    slower.run.id = 8;
    slower.attempts.retain(|a| a.name != "lint");
    slower.tasks.retain(|t| t.name != "lint");
    slower.tasks.iter_mut().filter(|t| t.name == "ship").for_each(|t| t.duration_us = 900_000);
    let b = Report::build(&slower, 0.2);
    let comparison = compare::compare(&a, &b);
    assert_eq!(comparison.tasks[0].name, "ship");
    assert_eq!(comparison.tasks[0].duration.delta, Some(600_000));
    assert_eq!(comparison.only_in_a, ["lint"]);
    assert!(comparison.only_in_b.is_empty());
    let text = compare::render_text(&comparison);
    assert!(text.contains("only in A (run 7): lint"), "{text}");
    assert!(
        text.lines()
            .nth(4)
            .is_some_and(|l| l.starts_with("ship") && l.contains("+0.6s") && l.contains("+200%")),
        "{text}"
    );
}
