//! `volley report` and `volley compare` on real recorded runs: every format, the RUN
//! selectors and their errors, escaping of hostile fan-out items, a regression
//! found against the baseline, and the HTML page as a real browser sees it.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Test, VOLLEY, require_tool, volley, wait_for};

const EVIL: &str = "<script>alert(1)</script>";

/// A chain `setup → build → each[…] → ship`, a fan-out over hostile items, and an
/// allowed failure that prints something.
const PROJECT: &str = r#"
[tasks.setup]
run = "sleep 0.05"

[tasks.build]
run = "sleep 0.1"
deps = ["setup"]

[tasks.each]
for_each = { items = ["<script>alert(1)</script>", "&\"'", "a,b"] }
run = "echo {item}"
deps = ["build"]

[tasks.ship]
run = "sleep 0.05"
deps = ["each"]

[tasks.lint]
run = "echo 'first line'; echo 'lint: 3 problems'; exit 4"
allow_failure = true
"#;

fn recorded_project() -> Test {
    let test = Test::with_toml(PROJECT);
    volley(&test, &["run", "-j", "2"]).code(0);
    test
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn text_report_has_the_summary_resources_and_critical_path() {
    let test = recorded_project();
    let run = volley(&test, &["report"]);
    run.code(0)
        .stdout_has("run 1 · volley run -j 2")
        .stdout_has("critical path  setup → build → each → ship")
        .stdout_has("wall time")
        .stdout_has("speed-up")
        .stdout_has("slot wait")
        .stdout_has("✗ exit 4 (allowed)")
        .stdout_has("│ lint: 3 problems")
        .stdout_has(&format!("each[{EVIL}]"))
        .stdout_has("✓ run succeeded in");
    assert!(!run.stdout.contains("\x1b["), "no colour off a terminal");
    let forced = volley(&test, &["report", "--color", "always"]);
    assert!(forced.stdout.contains("\x1b[32m✓ succeeded"), "{}", forced.stdout);
    let file = volley(&test, &["report", "--color", "always", "-o", "report.txt"]);
    file.code(0);
    assert!(!test.read("report.txt").contains('\x1b'), "never colour in a file");
}

#[test]
fn json_report_has_stable_fields() {
    let test = recorded_project();
    let run = volley(&test, &["report", "--format", "json"]);
    run.code(0);
    let report = json(&run.stdout);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["run"]["id"], 1);
    assert_eq!(report["totals"]["tasks"], 7);
    assert_eq!(report["totals"]["allowed_failures"], 1);
    assert_eq!(report["critical_path"]["tasks"], serde_json::json!(["setup", "build", "each", "ship"]));
    let tasks = report["tasks"].as_array().expect("tasks");
    let lint = tasks.iter().find(|t| t["name"] == "lint").expect("lint");
    assert_eq!((lint["status"].as_str(), lint["exit_code"].as_i64()), (Some("failed"), Some(4)));
    assert_eq!(lint["last_lines"], serde_json::json!(["first line", "lint: 3 problems"]));
    assert!(report.get("samples").is_none(), "samples only with --samples");
    let with_samples = json(&volley(&test, &["report", "--format", "json", "--samples"]).stdout);
    assert!(with_samples["samples"].is_array());
}

#[test]
fn csv_has_a_row_per_attempt_with_quoted_items() {
    let test = recorded_project();
    let run = volley(&test, &["report", "--format", "csv"]);
    run.code(0).stdout_has("\"each[&\"\"']\"").stdout_has("\"each[a,b]\"");
    // Quoted fields may hold line breaks; these hold none, so rows are lines.
    assert_eq!(run.stdout.lines().count(), 1 + 7);
    assert!(run.stdout.starts_with("run_id,task,unit,instance,attempt,slot,"));
    let samples = volley(&test, &["report", "--format", "csv", "--samples"]);
    samples.code(0);
    assert!(samples.stdout.starts_with("run_id,t_us,task,unit,instance,cpu_percent,rss_bytes,"));
}

#[test]
fn trace_is_chrome_trace_json_with_slot_tracks() {
    let test = recorded_project();
    let run = volley(&test, &["report", "--format", "trace"]);
    run.code(0);
    let trace = json(&run.stdout);
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), 7, "one complete event per attempt");
    for event in &complete {
        assert!(event["ts"].as_i64().is_some() && event["dur"].as_i64().is_some_and(|d| d >= 0));
        let slot = event["tid"].as_i64().expect("tid");
        assert!(
            events
                .iter()
                .any(|m| m["ph"] == "M" && m["tid"] == slot && m["args"]["name"] == format!("slot {slot}"))
        );
    }
    let build = complete.iter().find(|e| e["name"] == "build").expect("build");
    assert!(build["dur"].as_i64().is_some_and(|d| d >= 100_000), "µs: {build}");
}

#[test]
fn junit_is_well_formed_xml_with_failures_and_escaped_names() {
    let test = Test::with_toml(&format!(
        "{PROJECT}\n[tasks.broken]\nrun = \"echo 'it broke \\u001b[31mred'; exit 2\"\n"
    ));
    volley(&test, &["run", "-k"]).code(1);
    let run = volley(&test, &["report", "--format", "junit", "-o", "junit.xml"]);
    run.code(0);
    let xml = test.read("junit.xml");
    assert!(xml.contains("<testcase classname=\"broken\" name=\"broken (attempt 1)\""));
    assert!(xml.contains("<failure message=\"exit 2\" type=\"exited\">it broke red</failure>"), "{xml}");
    assert!(xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!xml.contains(EVIL));
    if require_tool("python3") {
        let check = Command::new("python3")
            .args([
                "-c",
                "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
                 s = r.find('testsuite'); print(s.get('tests'), s.get('failures'), len(s.findall('testcase')))",
            ])
            .arg(test.path("junit.xml"))
            .output()
            .expect("python3");
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "8 1 8");
    }
}

#[test]
fn run_selectors_pick_runs_and_unknown_runs_are_usage_errors() {
    let test = Test::with_toml("[tasks.a]\nrun = \"true\"\n");
    volley(&test, &["report"]).code(2).stderr_has("no history in").stderr_has("help:");
    assert!(!test.path(".volley").exists(), "reading never creates the history");
    for jobs in ["1", "2", "3"] {
        volley(&test, &["run", "-j", jobs]).code(0);
    }
    volley(&test, &["report"]).code(0).stdout_has("run 3 · volley run -j 3");
    volley(&test, &["report", "last"]).code(0).stdout_has("run 3 · volley run -j 3");
    volley(&test, &["report", "-1"]).code(0).stdout_has("run 3 ·");
    volley(&test, &["report", "-2"]).code(0).stdout_has("run 2 · volley run -j 2");
    volley(&test, &["report", "1"]).code(0).stdout_has("run 1 · volley run -j 1");
    volley(&test, &["report", "42"]).code(2).stderr_has("no run 42").stderr_has("volley history");
    volley(&test, &["report", "-4"]).code(2).stderr_has("fewer than 4 runs");
    volley(&test, &["report", "yesterday"]).code(2).stderr_has("not a run");
    volley(&test, &["compare", "1", "42"]).code(2).stderr_has("no run 42");
}

#[test]
fn output_file_is_written_whole_and_nothing_else_is_left() {
    let test = recorded_project();
    volley(&test, &["report", "--format", "json", "-o", "out/report.json"])
        .code(1)
        .stderr_has("cannot write");
    std::fs::create_dir(test.path("out")).expect("mkdir");
    volley(&test, &["report", "--format", "json", "-o", "out/report.json"]).code(0);
    assert_eq!(json(&test.read("out/report.json"))["format_version"], 1);
    let names: Vec<String> = std::fs::read_dir(test.path("out"))
        .expect("read out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.json"]);
}

#[test]
fn a_slower_run_is_a_regression_and_compare_shows_it() {
    let test =
        Test::with_toml("[tasks.steady]\nrun = \"sleep $(cat delay)\"\n\n[tasks.quick]\nrun = \"true\"\n");
    test.write("delay", "0.2");
    for _ in 0..4 {
        volley(&test, &["run"]).code(0);
    }
    test.write("delay", "0.6");
    volley(&test, &["run"]).code(0);
    // `quick` is judged too, but a `true` may jitter past 20 ms on a busy machine.
    volley(&test, &["report"]).code(0).stdout_has("regression: steady took");
    let report = json(&volley(&test, &["report", "--format", "json"]).stdout);
    assert_eq!(report["regressions"][0], "steady");
    let steady = report["tasks"].as_array().expect("tasks").iter().find(|t| t["name"] == "steady").cloned();
    let steady = steady.expect("steady");
    assert_eq!(steady["verdict"], "regression");
    assert_eq!(steady["baseline"]["runs"], 4);
    // Each run is judged against the runs before it only.
    let before = json(&volley(&test, &["report", "-2", "--format", "json"]).stdout);
    let steady_before =
        before["tasks"].as_array().expect("tasks").iter().find(|t| t["name"] == "steady").cloned();
    assert_eq!(steady_before.expect("steady")["baseline"]["runs"], 3);

    let compare = volley(&test, &["compare", "-2", "last"]);
    compare.code(0).stdout_has("A: run 4").stdout_has("B: run 5").stdout_has("wall time");
    let first_row = compare.stdout.lines().nth(4).expect("a task row");
    assert!(first_row.starts_with("steady") && first_row.contains('+'), "{}", compare.stdout);
    let compare = json(&volley(&test, &["compare", "4", "5", "--json"]).stdout);
    assert_eq!(compare["tasks"][0]["name"], "steady");
    assert!(compare["tasks"][0]["duration"]["delta"].as_i64().is_some_and(|d| d > 250_000));
}

#[test]
fn runs_recorded_before_the_graph_was_say_the_critical_path_is_unknown() {
    let test = Test::new();
    std::fs::create_dir(test.path(".volley")).expect("mkdir");
    let v1 = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/history-v1.db");
    std::fs::copy(v1, test.path(".volley/history.db")).expect("copy the v1 history");
    volley(&test, &["report"]).code(0).stdout_has("critical path  unknown");
    let report = json(&volley(&test, &["report", "--format", "json"]).stdout);
    assert!(report["critical_path"].is_null());
}

#[test]
fn html_report_renders_in_a_real_browser() {
    let test = recorded_project();
    volley(&test, &["report", "--format", "html", "-o", "report.html"]).code(0);
    let html = test.read("report.html");
    assert!(!html.contains(EVIL) && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    if !require_tool("chromium") {
        return;
    }
    let url = format!("file://{}", test.path("report.html").display());
    let chromium = |extra: &[&str]| {
        Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu"])
            .arg(format!("--user-data-dir={}", test.path("chromium-profile").display()))
            .args(extra)
            .arg(&url)
            .stdin(Stdio::null())
            .output()
            .expect("run chromium")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    for name in ["setup", "build", "ship", "lint", "each[a,b]"] {
        assert!(dom.contains(&format!("data-task=\"{name}\"")), "no bar for {name}");
    }
    assert_eq!(dom.matches("<g class=\"bar").count(), 7, "one bar per attempt");
    assert!(dom.contains("each[&lt;script&gt;alert(1)&lt;/script&gt;]"), "the name shows as text");
    assert_eq!(dom.matches("<script").count(), 1, "no script injected");
    assert!(dom.contains("data-tip=\"setup"), "tooltips set up by the page's script");
    let shot = test.path("report.png");
    let screenshot = chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1280,900"]);
    assert!(screenshot.status.success(), "{}", String::from_utf8_lossy(&screenshot.stderr));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real picture: {} bytes", png.len());
}

#[test]
fn a_run_killed_midway_reports_what_was_recorded() {
    let test = Test::with_toml(
        "[tasks.done]\nrun = \"true\"\n\n[tasks.hang]\nrun = \"touch started; sleep 30\"\ndeps = [\"done\"]\n",
    );
    let mut child = Command::new(VOLLEY)
        .args(["run", "--output", "quiet"])
        .current_dir(test.dir.path())
        .env_remove("VOLLEY_JOBS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn volley");
    // The attempt row is committed shortly after the task starts.
    let recorded = wait_for(Duration::from_secs(10), || {
        test.path("started").exists()
            && volley(&test, &["report", "--format", "json"]).stdout.contains("\"name\": \"hang\"")
    });
    child.kill().expect("SIGKILL volley");
    child.wait().expect("reap volley");
    assert!(recorded, "the running attempt was never recorded");
    volley(&test, &["report"])
        .code(0)
        .stdout_has("run not finished")
        .stdout_has("… unfinished")
        .stdout_has("1 succeeded, 1 unfinished");
    volley(&test, &["report", "--format", "junit"]).code(0).stdout_has("did not finish");
    volley(&test, &["report", "--format", "html"]).code(0).stdout_has("class=\"bar running");
}
