//! `volley compare A B`: two reports side by side, task by task (matched by name),
//! with the difference in duration, CPU and memory, largest change first; tasks
//! only one run has are listed apart, and the totals come last.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::escape::{bytes, change, duration, when};
use super::model::{Report, TaskEntry};

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub format_version: u32,
    pub a: RunSide,
    pub b: RunSide,
    /// Tasks both runs have, largest absolute duration difference first.
    pub tasks: Vec<TaskDiff>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    pub wall: Diff,
    pub task_time: Diff,
    pub cpu: Diff,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSide {
    pub id: i64,
    pub command: String,
    pub started_at_us: i64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskDiff {
    pub name: String,
    pub status_a: String,
    pub status_b: String,
    pub duration: Diff,
    pub cpu: Diff,
    pub peak_rss: Diff,
}

/// A figure in both runs; `delta` is `b − a`, `change` is `delta / a`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Diff {
    pub a: Option<i64>,
    pub b: Option<i64>,
    pub delta: Option<i64>,
    pub change: Option<f64>,
}

impl Diff {
    fn of(a: Option<i64>, b: Option<i64>) -> Diff {
        let delta = a.zip(b).map(|(a, b)| b - a);
        let change = a.zip(delta).filter(|(a, _)| *a > 0).map(|(a, d)| d as f64 / a as f64);
        Diff { a, b, delta, change }
    }
}

fn side(report: &Report) -> RunSide {
    RunSide {
        id: report.run.id,
        command: report.command_text(),
        started_at_us: report.run.started_at_us,
        status: report.run.status.clone(),
    }
}

pub fn compare(a: &Report, b: &Report) -> Comparison {
    let in_b: HashMap<&str, &TaskEntry> = b.tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    let in_a: HashMap<&str, &TaskEntry> = a.tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut tasks: Vec<TaskDiff> = a
        .tasks
        .iter()
        .filter_map(|ta| {
            let tb = in_b.get(ta.name.as_str())?;
            let ran = |t: &TaskEntry| (t.attempts > 0).then_some(t.duration_us);
            Some(TaskDiff {
                name: ta.name.clone(),
                status_a: ta.status.clone(),
                status_b: tb.status.clone(),
                duration: Diff::of(ran(ta), ran(tb)),
                cpu: Diff::of(ta.cpu_us(), tb.cpu_us()),
                peak_rss: Diff::of(ta.peak_rss_bytes, tb.peak_rss_bytes),
            })
        })
        .collect();
    tasks.sort_by_key(|t| (std::cmp::Reverse(t.duration.delta.map_or(0, i64::abs)), t.name.clone()));
    let only = |x: &Report, other: &HashMap<&str, &TaskEntry>| {
        x.tasks.iter().filter(|t| !other.contains_key(t.name.as_str())).map(|t| t.name.clone()).collect()
    };
    let cpu = |r: &Report| Some(r.totals.cpu_user_us + r.totals.cpu_system_us);
    Comparison {
        format_version: super::FORMAT_VERSION,
        a: side(a),
        b: side(b),
        only_in_a: only(a, &in_b),
        only_in_b: only(b, &in_a),
        tasks,
        wall: Diff::of(a.totals.wall_us, b.totals.wall_us),
        task_time: Diff::of(Some(a.totals.task_time_us), Some(b.totals.task_time_us)),
        cpu: Diff::of(cpu(a), cpu(b)),
    }
}

fn signed_duration(delta: Option<i64>) -> String {
    match delta {
        None => "–".to_string(),
        // Below a millisecond the sign is noise.
        Some(d) if d.abs() < 500 => "±0ms".to_string(),
        Some(d) if d < 0 => format!("−{}", duration(Some(-d))),
        Some(d) => format!("+{}", duration(Some(d))),
    }
}

fn percent(diff: &Diff) -> String {
    diff.change.map_or_else(|| "–".to_string(), change)
}

pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    for (label, run) in [("A", &c.a), ("B", &c.b)] {
        let _ = writeln!(
            out,
            "{label}: run {} · {} · {} · {}",
            run.id,
            run.command,
            when(run.started_at_us),
            run.status
        );
    }
    out.push('\n');
    let header = [
        "task",
        "time A",
        "time B",
        "diff",
        "%",
        "cpu A",
        "cpu B",
        "cpu diff",
        "mem A",
        "mem B",
        "status A → B",
    ]
    .map(String::from);
    let rows: Vec<[String; 11]> = c
        .tasks
        .iter()
        .map(|t| {
            let status = if t.status_a == t.status_b {
                t.status_a.replace('_', " ")
            } else {
                format!("{} → {}", t.status_a.replace('_', " "), t.status_b.replace('_', " "))
            };
            [
                t.name.clone(),
                duration(t.duration.a),
                duration(t.duration.b),
                signed_duration(t.duration.delta),
                percent(&t.duration),
                duration(t.cpu.a),
                duration(t.cpu.b),
                signed_duration(t.cpu.delta),
                bytes(t.peak_rss.a),
                bytes(t.peak_rss.b),
                status,
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
            if i == 0 || i == 10 {
                let _ = write!(line, "{cell}{pad}  ");
            } else {
                let _ = write!(line, "{pad}{cell}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for (label, names) in [("A", &c.only_in_a), ("B", &c.only_in_b)] {
        if !names.is_empty() {
            let _ = writeln!(
                out,
                "\nonly in {label} (run {}): {}",
                if label == "A" { c.a.id } else { c.b.id },
                names.join(", ")
            );
        }
    }
    out.push('\n');
    for (label, diff) in [("wall time", &c.wall), ("task time", &c.task_time), ("cpu time", &c.cpu)] {
        let _ = writeln!(
            out,
            "{label:<10} {} → {}  ({}, {})",
            duration(diff.a),
            duration(diff.b),
            signed_duration(diff.delta),
            percent(diff)
        );
    }
    out
}

pub fn render_json(c: &Comparison) -> String {
    let mut json = serde_json::to_string_pretty(c).unwrap_or_default();
    json.push('\n');
    json
}
