//! `volley report --format junit`: `JUnit` XML for CI systems. One `<testsuite>` for
//! the run, one `<testcase>` per task attempt (classname = the task, name = the
//! instance and attempt), so retries are visible.
//!
//! Decisions the format leaves open: a failed attempt of a task that then passed on
//! a retry (flaky) is a `<flakyFailure>` (surefire's element; other readers ignore
//! it), not a failure — the task succeeded. An allowed failure is `<skipped>` with
//! the reason, since it does not fail the run. Tasks that never started are
//! `<skipped>`. A failure carries the last 20 lines of the task's log, without
//! ANSI colour sequences.

use std::fmt::Write as _;

use super::escape::{strip_ansi, xml};
use super::model::{Report, TaskEntry, attempt_end};
use crate::record::AttemptRow;

fn seconds(us: i64) -> String {
    format!("{:.3}", us.max(0) as f64 / 1e6)
}

fn iso_time(at_us: i64) -> String {
    jiff::Timestamp::from_microsecond(at_us)
        .map_or_else(|_| String::new(), |t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
}

enum Outcome {
    Passed,
    Failure(String),
    Flaky(String),
    Skipped(String),
}

fn outcome(task: Option<&TaskEntry>, attempt: &AttemptRow) -> Outcome {
    let how = attempt_end(attempt)
        .map_or_else(|| attempt.status.replace('_', " "), |e| volley_core::summary::describe_end(&e));
    if attempt.success == Some(true) {
        return Outcome::Passed;
    }
    match task {
        Some(t) if t.status == "succeeded" => Outcome::Flaky(format!("{how} (passed on a retry)")),
        Some(t) if t.allowed_failure => Outcome::Skipped(format!("allowed to fail: {how}")),
        Some(t) if t.status == "interrupted" => Outcome::Skipped(format!("interrupted: {how}")),
        _ if attempt.ended_us.is_none() => {
            Outcome::Failure("did not finish (volley was stopped)".to_string())
        }
        _ => Outcome::Failure(how),
    }
}

pub fn render(report: &Report) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    let tasks = report.tasks_by_instance();
    for attempt in &report.attempts {
        let task = tasks.get(&(attempt.unit.as_str(), attempt.instance)).copied();
        let duration = attempt.ended_us.map_or(0, |e| e - attempt.started_us);
        tests += 1;
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{} (attempt {})\" time=\"{}\"",
            xml(&attempt.unit),
            xml(&attempt.name),
            attempt.attempt,
            seconds(duration)
        );
        match outcome(task, attempt) {
            Outcome::Passed => cases.push_str("/>\n"),
            Outcome::Skipped(message) => {
                skipped += 1;
                let _ = writeln!(cases, ">\n      <skipped message=\"{}\"/>\n    </testcase>", xml(&message));
            }
            Outcome::Flaky(message) => {
                let _ = writeln!(
                    cases,
                    ">\n      <flakyFailure message=\"{}\" type=\"{}\"/>\n    </testcase>",
                    xml(&message),
                    xml(&attempt.status)
                );
            }
            Outcome::Failure(message) => {
                failures += 1;
                let log = task.and_then(|t| t.last_lines.as_ref()).map(|l| l.join("\n")).unwrap_or_default();
                let _ = writeln!(
                    cases,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    xml(&message),
                    xml(&attempt.status),
                    xml(&strip_ansi(&log))
                );
            }
        }
    }
    for task in report.tasks.iter().filter(|t| t.attempts == 0) {
        tests += 1;
        skipped += 1;
        let reason = match (&task.status[..], &task.needs) {
            ("skipped", Some(needs)) => format!("skipped: needs {needs}"),
            (status, _) => status.replace('_', " "),
        };
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0.000\">\n      <skipped message=\"{}\"/>\n    </testcase>",
            xml(&task.unit),
            xml(&task.name),
            xml(&reason)
        );
    }
    let run = &report.run;
    let time = seconds(report.totals.wall_us.unwrap_or(0));
    let suite = format!("run {} ({})", run.id, report.command_text());
    let mut out = String::with_capacity(cases.len() + 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"volley\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\" hostname=\"{}\">",
        xml(&suite),
        iso_time(run.started_at_us),
        xml(&run.host)
    );
    let _ = writeln!(
        out,
        "    <properties>\n      <property name=\"run_key\" value=\"{}\"/>\n      <property name=\"status\" value=\"{}\"/>\n      <property name=\"jobs\" value=\"{}\"/>\n    </properties>",
        xml(&run.run_key),
        xml(&run.status),
        run.jobs
    );
    out.push_str(&cases);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
