//! `volley history`: past runs with their trend, one task's durations with a
//! sparkline, and `--check`, the CI gate that fails when the last run regressed.
//!
//! Only reads the history (never creates it). Text is for people; `--json` has
//! stable field names for tools.

use std::fmt::Write as _;

use rusqlite::Connection;
use volley_core::history::{Verdict, median, sparkline};
use volley_core::summary::format_duration;

use super::args::{Cli, HistoryArgs};
use super::{CliError, exit, project};
use crate::record::{self, RunRow, TaskRun};

/// A wall time within this fraction of the previous run's is shown as unchanged.
const TREND_NOISE: f64 = 0.05;

pub fn history(cli: &Cli, args: &HistoryArgs) -> Result<i32, CliError> {
    let (state_dir, regression) = project::history_location(cli)?;
    let Some(conn) = record::open_for_reading(&state_dir) else {
        if args.json {
            println!("{}", serde_json::json!({ "runs": [] }));
        } else {
            println!("no history yet in {}", state_dir.display());
        }
        return Ok(exit::SUCCESS);
    };
    let failed = |e: rusqlite::Error| {
        CliError::Runtime(format!("cannot read {}: {e}", state_dir.join(record::FILE_NAME).display()))
    };
    if args.check {
        return check(&conn, regression).map_err(failed);
    }
    let text = match &args.name {
        Some(name) => task(&conn, name, args.limit, args.json),
        None => runs(&conn, args.limit, args.json),
    }
    .map_err(failed)?;
    print!("{text}");
    Ok(exit::SUCCESS)
}

fn when(started_at_us: i64) -> String {
    jiff::Timestamp::from_microsecond(started_at_us).map_or_else(
        |_| "?".to_string(),
        |t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn command_text(command: &[String]) -> String {
    let mut words = vec!["volley".to_string()];
    words.extend(command.iter().skip(1).cloned());
    words.join(" ")
}

/// Wall time relative to the previous successful run of the same command line
/// (comparing `run build` with `run test` would be meaningless); `None` when there is none.
fn trends(all: &[RunRow]) -> Vec<Option<f64>> {
    all.iter()
        .enumerate()
        .map(|(i, run)| {
            let wall = run.wall_us.filter(|_| run.status == "succeeded")?;
            let previous = all[..i]
                .iter()
                .rev()
                .find(|p| p.status == "succeeded" && p.command.get(1..) == run.command.get(1..))?;
            let before = previous.wall_us.filter(|w| *w > 0)?;
            Some(wall as f64 / before as f64 - 1.0)
        })
        .collect()
}

fn trend_marker(trend: Option<f64>) -> String {
    match trend {
        None => String::new(),
        Some(t) if t.abs() < TREND_NOISE => "=".to_string(),
        Some(t) if t > 0.0 => format!("▲ +{:.0}%", t * 100.0),
        Some(t) => format!("▼ −{:.0}%", -t * 100.0),
    }
}

fn runs(conn: &Connection, limit: usize, json: bool) -> rusqlite::Result<String> {
    // A few more than shown, so the oldest shown run has something to compare with.
    let all = record::runs(conn, limit.saturating_add(20))?;
    let trends = trends(&all);
    let skip = all.len().saturating_sub(limit);
    let shown: Vec<(&RunRow, Option<f64>)> = all.iter().zip(trends).skip(skip).collect();
    if json {
        let runs: Vec<serde_json::Value> = shown
            .iter()
            .map(|(run, trend)| {
                let mut value = serde_json::to_value(run).unwrap_or_default();
                value["started_at"] = when(run.started_at_us).into();
                value["trend"] = (*trend).into();
                value
            })
            .collect();
        return Ok(format!("{}\n", serde_json::json!({ "runs": runs })));
    }
    if shown.is_empty() {
        return Ok("no runs recorded yet\n".to_string());
    }
    let commands: Vec<String> = shown.iter().map(|(r, _)| command_text(&r.command)).collect();
    let width = commands.iter().map(|c| c.chars().count()).max().unwrap_or(0).clamp(7, 60);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5}  {:<19}  {:<width$}  {:<11}  {:>8}  trend",
        "id", "when", "command", "status", "wall"
    );
    for ((run, trend), command) in shown.iter().zip(&commands) {
        let command: String = if command.chars().count() > width {
            command.chars().take(width - 1).chain(std::iter::once('…')).collect()
        } else {
            command.clone()
        };
        let wall = run.wall_us.map_or_else(|| "—".to_string(), |w| format_duration(w.max(0) as u64));
        let line = format!(
            "{:>5}  {:<19}  {command:<width$}  {:<11}  {wall:>8}  {}",
            run.id,
            when(run.started_at_us),
            run.status,
            trend_marker(*trend)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    Ok(out)
}

fn task(conn: &Connection, name: &str, limit: usize, json: bool) -> rusqlite::Result<String> {
    let rows = record::task_runs(conn, name, limit)?;
    let ok = |r: &&TaskRun| r.status == "succeeded" && !r.flaky;
    let successful: Vec<u64> = rows.iter().filter(ok).map(|r| r.duration_us.max(0) as u64).collect();
    // The median the scheduler uses: the last 10 successful runs.
    let recent = &successful[successful.len().saturating_sub(volley_core::history::BASELINE_RUNS)..];
    let median_us = median(recent);
    let line = sparkline(&successful);
    if json {
        let value =
            serde_json::json!({ "task": name, "median_us": median_us, "sparkline": line, "runs": rows });
        return Ok(format!("{value}\n"));
    }
    if rows.is_empty() {
        return Ok(format!("no recorded runs of `{name}`\n"));
    }
    let mut out = String::new();
    let _ = writeln!(out, "{name}: {} run{}", rows.len(), if rows.len() == 1 { "" } else { "s" });
    let _ = writeln!(out, "{:>5}  {:<19}  {:<11}  {:>8}", "run", "when", "status", "duration");
    for row in &rows {
        let flaky = if row.flaky { " (flaky)" } else { "" };
        let _ = writeln!(
            out,
            "{:>5}  {:<19}  {:<11}  {:>8}{flaky}",
            row.run_id,
            when(row.started_at_us),
            row.status,
            format_duration(row.duration_us.max(0) as u64)
        );
    }
    if !line.is_empty() {
        let _ = writeln!(out, "successful runs: {line}");
    }
    match median_us {
        Some(m) => {
            let _ = writeln!(out, "median: {} (last {} successful runs)", format_duration(m), recent.len());
        }
        None => {
            let _ = writeln!(out, "median: — (no successful run yet)");
        }
    }
    Ok(out)
}

fn check(conn: &Connection, threshold: f64) -> rusqlite::Result<i32> {
    let Some((run, tasks)) = record::check(conn, threshold)? else {
        println!("no finished run in the history: nothing to check");
        return Ok(exit::SUCCESS);
    };
    let regressions = tasks.iter().filter(|t| t.verdict == Verdict::Regression).count();
    println!(
        "run {} ({}): {} task{} checked against the median of their previous successful runs",
        run.id,
        command_text(&run.command),
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" }
    );
    for task in &tasks {
        let Some(baseline) =
            task.baseline.filter(|_| matches!(task.verdict, Verdict::Regression | Verdict::Improvement))
        else {
            continue;
        };
        let word = task.verdict.word();
        println!(
            "  {word}: {} took {}, baseline {} ({:+.0}%, MAD {}, {} runs)",
            task.name,
            format_duration(task.duration_us),
            format_duration(baseline.median_us),
            baseline.change(task.duration_us) * 100.0,
            format_duration(baseline.mad_us),
            baseline.samples
        );
    }
    if regressions == 0 {
        println!("no regression (threshold {:.0}% and 3 × MAD)", threshold * 100.0);
        Ok(exit::SUCCESS)
    } else {
        println!(
            "{regressions} regression{} (threshold {:.0}% and 3 × MAD)",
            if regressions == 1 { "" } else { "s" },
            threshold * 100.0
        );
        Ok(exit::FAILED)
    }
}
