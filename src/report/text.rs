//! `volley report --format text`: the run summary of SPEC §2 (status, wall time, sum
//! of task times, speed-up, critical path) with every task's resource figures, the
//! time spent waiting for slots, the alerts, the baseline comparison, and the
//! failures with the end of their logs. Colour only wraps padded cells, so columns
//! line up with and without it.

use std::fmt::Write as _;

use anstyle::Style;
use volley_core::summary::palette::{BOLD, CYAN, DIM, GREEN, RED, YELLOW};
use volley_core::summary::{format_duration, format_offset};

use super::escape::{bytes, change, duration, when};
use super::model::{Report, TaskEntry};
use crate::record::ServiceEventRow;

/// Widest task name in the table; longer names are cut with `…`.
const MAX_NAME_WIDTH: usize = 40;
/// Log lines shown per failure (the log has them all).
const FAILURE_LINES: usize = 10;

/// The status cell of a task: symbol and words, and its colour.
pub fn status_label(task: &TaskEntry) -> (String, Style) {
    let allowed = if task.allowed_failure { " (allowed)" } else { "" };
    let failed = if task.allowed_failure { YELLOW } else { RED };
    match task.status.as_str() {
        "succeeded" if task.flaky => ("✓ flaky".to_string(), YELLOW),
        "succeeded" => ("✓ succeeded".to_string(), GREEN),
        "failed" => (format!("✗ {}{allowed}", task.end.as_deref().unwrap_or("failed")), failed),
        "timed_out" => (format!("⏱ timed out{allowed}"), failed),
        "skipped" => match &task.needs {
            Some(needs) => (format!("↷ skipped (needs {needs})"), DIM),
            None => ("↷ skipped".to_string(), DIM),
        },
        "not_started" => ("· not started".to_string(), DIM),
        "interrupted" => ("⊘ interrupted".to_string(), YELLOW),
        "cached" => ("≡ cached".to_string(), CYAN),
        "resumed" => ("≡ resumed".to_string(), CYAN),
        other => (format!("… {}", other.replace('_', " ")), DIM),
    }
}

/// The headline: how the run ended, in the summary's words.
pub fn headline(report: &Report) -> (&'static str, Style, String) {
    let t = &report.totals;
    let mut parts = vec![format!("{} succeeded", t.counts.succeeded)];
    if t.counts.flaky > 0 {
        let _ = write!(parts[0], " ({} flaky)", t.counts.flaky);
    }
    let failed = t.counts.failed + t.counts.timed_out;
    if failed > 0 {
        let allowed = if t.counts.allowed_failures > 0 {
            format!(" ({} allowed)", t.counts.allowed_failures)
        } else {
            String::new()
        };
        parts.push(format!("{failed} failed{allowed}"));
    }
    for (n, word) in [
        (t.counts.skipped, "skipped"),
        (t.counts.not_started, "not started"),
        (t.counts.interrupted, "interrupted"),
        (t.counts.cached, "cached"),
        (t.counts.resumed, "resumed"),
        (t.counts.unfinished, "unfinished"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let detail = parts.join(", ");
    let wall = duration(t.wall_us);
    match report.run.status.as_str() {
        "succeeded" => ("✓", GREEN, format!("run succeeded in {wall}: {detail}")),
        "failed" => ("✗", RED, format!("run failed after {wall}: {detail}")),
        "interrupted" => ("⊘", YELLOW, format!("run interrupted after {wall}: {detail}")),
        _ => ("…", DIM, format!("run not finished (still running, or volley was killed): {detail}")),
    }
}

fn cut(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_WIDTH {
        return name.to_string();
    }
    let mut short: String = name.chars().take(MAX_NAME_WIDTH - 1).collect();
    short.push('…');
    short
}

/// The baseline column: `+200% regression`, `−50% improvement`, `≈ 1.2s`.
pub fn baseline_cell(task: &TaskEntry) -> String {
    match (task.verdict, task.change, task.baseline) {
        (Some("regression"), Some(c), _) => format!("{} regression", change(c)),
        (Some("improvement"), Some(c), _) => format!("{} improvement", change(c)),
        (Some("unchanged"), Some(c), _) => format!("{} (usual {})", change(c), baseline_us(task)),
        (Some("unknown"), _, Some(b)) => {
            format!("usual {} ({} run{})", baseline_us(task), b.samples, plural(b.samples))
        }
        (Some("unknown"), _, None) => "no history".to_string(),
        _ => String::new(),
    }
}

fn baseline_us(task: &TaskEntry) -> String {
    task.baseline.map_or_else(|| "–".to_string(), |b| format_duration(b.median_us))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn render(report: &Report, color: bool) -> String {
    let paint = |text: &str, style: Style| -> String {
        if color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_string() }
    };
    let mut out = String::new();
    let run = &report.run;
    let _ = writeln!(
        out,
        "{}",
        paint(&format!("run {} · {} · {}", run.id, report.command_text(), when(run.started_at_us)), BOLD)
    );
    let _ = writeln!(
        out,
        "{} slot{} on {}, run id {}\n",
        run.jobs,
        plural(run.jobs as usize),
        run.host,
        run.run_key
    );

    let headers = [
        "task",
        "status",
        "start",
        "time",
        "cpu",
        "peak mem",
        "read",
        "written",
        "wait",
        "tries",
        "vs baseline",
    ];
    let rows: Vec<([String; 11], Style)> = report
        .tasks
        .iter()
        .map(|t| {
            let (status, style) = status_label(t);
            let ran = t.attempts > 0;
            let cells = [
                cut(&t.name),
                status,
                duration(t.started_us),
                if ran || t.duration_us > 0 { duration(Some(t.duration_us)) } else { "–".to_string() },
                duration(t.cpu_us()),
                bytes(t.peak_rss_bytes),
                bytes(t.read_bytes),
                bytes(t.written_bytes),
                duration(t.wait_us),
                if ran { t.attempts.to_string() } else { "–".to_string() },
                baseline_cell(t),
            ];
            (cells, style)
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for (cells, _) in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 11], status_style: Option<Style>| -> String {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            let padded = if i <= 1 || i == 10 {
                format!("{cell}{}", " ".repeat(pad))
            } else {
                format!("{}{cell}", " ".repeat(pad))
            };
            match (i, status_style) {
                (1, Some(style)) => line.push_str(&paint(&padded, style)),
                (10, _) if cell.contains("regression") => line.push_str(&paint(&padded, RED)),
                (10, _) if cell.contains("improvement") => line.push_str(&paint(&padded, GREEN)),
                _ => line.push_str(&padded),
            }
            line.push_str("  ");
        }
        line.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", paint(&line(&headers.map(String::from), None), BOLD));
    for (cells, style) in &rows {
        let _ = writeln!(out, "{}", line(cells, Some(*style)));
    }

    let t = &report.totals;
    out.push('\n');
    let _ = writeln!(out, "wall time      {}", duration(t.wall_us));
    let _ = writeln!(out, "task time      {} (sum)", duration(Some(t.task_time_us)));
    if let Some(speed_up) = t.speed_up.filter(|_| t.task_time_us > 0) {
        let _ = writeln!(out, "speed-up       {speed_up:.1}×");
    }
    let _ = writeln!(
        out,
        "cpu time       {} (user {}, system {})",
        duration(Some(t.cpu_user_us + t.cpu_system_us)),
        duration(Some(t.cpu_user_us)),
        duration(Some(t.cpu_system_us))
    );
    let _ = writeln!(out, "slot wait      {}", duration(t.wait_us));
    if let Some(peak) = t.peak_rss_bytes {
        let _ = writeln!(out, "peak memory    {} (largest task)", bytes(Some(peak)));
    }
    match &report.critical_path {
        Some(path) if !path.tasks.is_empty() => {
            let _ = writeln!(
                out,
                "critical path  {}  ({})",
                path.tasks.join(" → "),
                format_duration(path.length_us)
            );
        }
        Some(_) => {}
        None => {
            let _ =
                writeln!(out, "critical path  unknown (this run was recorded without its dependency graph)");
        }
    }

    render_alerts(report, &mut out, &paint);
    render_baseline(report, &mut out, &paint);
    render_failures(report, &mut out, &paint);
    out.push('\n');
    let (symbol, style, text) = headline(report);
    let _ = writeln!(out, "{} {text}", paint(symbol, style));
    render_services(&report.services, &mut out);
    out
}

fn render_alerts(report: &Report, out: &mut String, paint: &dyn Fn(&str, Style) -> String) {
    if report.alerts.is_empty() {
        let _ = writeln!(out, "alerts         none");
        return;
    }
    let _ = writeln!(out, "\n{}", paint("alerts", BOLD));
    for alert in &report.alerts {
        let _ = writeln!(
            out,
            "  {} {:>7}  {}: {}",
            paint("!", YELLOW),
            format_duration(alert.t_us.max(0) as u64),
            alert.kind,
            alert.message
        );
    }
}

fn render_baseline(report: &Report, out: &mut String, paint: &dyn Fn(&str, Style) -> String) {
    let judged = report.tasks.iter().filter(|t| t.verdict.is_some()).count();
    let unknown = report.tasks.iter().filter(|t| t.verdict == Some("unknown")).count();
    let _ = writeln!(
        out,
        "\n{} (median of each task's last 10 successful runs before this one; threshold {:.0}% and 3 × MAD)",
        paint("baseline", BOLD),
        report.regression_threshold * 100.0
    );
    for (names, word, style) in
        [(&report.regressions, "regression", RED), (&report.improvements, "improvement", GREEN)]
    {
        for task in names.iter().filter_map(|n| report.task(n)) {
            let Some(baseline) = task.baseline else { continue };
            let _ = writeln!(
                out,
                "  {}: {} took {}, baseline {} ({}, MAD {}, {} runs)",
                paint(word, style),
                task.name,
                format_duration(task.duration_us.max(0) as u64),
                format_duration(baseline.median_us),
                change(task.change.unwrap_or(0.0)),
                format_duration(baseline.mad_us),
                baseline.samples
            );
        }
    }
    let unchanged = judged - unknown - report.regressions.len() - report.improvements.len();
    let _ = writeln!(
        out,
        "  {} regression{}, {} improvement{}, {unchanged} unchanged, {unknown} without enough history",
        report.regressions.len(),
        plural(report.regressions.len()),
        report.improvements.len(),
        plural(report.improvements.len()),
    );
}

fn render_failures(report: &Report, out: &mut String, paint: &dyn Fn(&str, Style) -> String) {
    let failures: Vec<&TaskEntry> = report.tasks.iter().filter(|t| t.is_failure()).collect();
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint("failures", BOLD));
    for task in failures {
        let (status, style) = status_label(task);
        let _ = writeln!(
            out,
            "  {} {}: {} after {}",
            paint("✗", style),
            task.name,
            status.trim_start_matches(['✗', '⏱', ' ']),
            format_duration(task.duration_us.max(0) as u64)
        );
        if let Some(log) = &task.log {
            let _ = writeln!(out, "    log: {log}");
        }
        let lines = task.last_lines.as_deref().unwrap_or_default();
        for line in &lines[lines.len().saturating_sub(FAILURE_LINES)..] {
            let _ = writeln!(out, "    {} {line}", paint("│", DIM));
        }
    }
}

/// The services' start-up and shutdown timeline: each event with its offset from the
/// start of the run (`-0.7s`: before its first task). Nothing without services.
fn render_services(events: &[ServiceEventRow], out: &mut String) {
    if events.is_empty() {
        return;
    }
    let width = events.iter().map(|e| e.name.chars().count()).max().unwrap_or(0);
    out.push_str("\nservices (start-up and shutdown timeline):\n");
    for e in events {
        let what = match (e.event.as_str(), e.duration_us) {
            ("starting", _) => format!(
                "starting (attempt {}, pid {})",
                e.attempt.unwrap_or(1),
                e.pid.map_or_else(|| "?".into(), |p| p.to_string())
            ),
            ("ready", Some(d)) => format!("ready after {}", format_duration(d)),
            ("stopped", Some(d)) if e.detail.as_deref() == Some("killed") => {
                format!("stopped in {} (killed after its stop timeout)", format_duration(d))
            }
            ("stopped", Some(d)) => format!("stopped in {}", format_duration(d)),
            ("failed", _) => format!("failed: {}", e.detail.as_deref().unwrap_or("")),
            (other, _) => other.to_owned(),
        };
        let _ = writeln!(out, "  {:>8}  {:<width$}  {what}", format_offset(e.t_us), e.name);
    }
}
