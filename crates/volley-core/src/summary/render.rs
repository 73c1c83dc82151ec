//! [`RunSummary`] as text: the task table, the totals, the failures and a headline.
//!
//! Colour is optional and only ever wraps already-padded text, so columns line up
//! the same with and without it.

use std::borrow::Cow;
use std::fmt::Write as _;

use anstyle::Style;

use super::palette::{BOLD, CYAN, DIM, GREEN, RED, YELLOW};

use super::{Counts, Folded, RecordsByUnit, RunSummary, TaskRecord, format_duration};
use crate::event::{AttemptEnd, RunStatus, TaskStatus};

/// A fan-out task with more instances than this shows one row of counts instead.
pub const MAX_INSTANCE_ROWS: usize = 20;
/// Failed tasks listed with their last lines; the rest are counted.
const MAX_FAILURES_SHOWN: usize = 20;
/// Widest task name in the table; longer names are cut with `…`.
const MAX_NAME_WIDTH: usize = 40;

/// One line of the task table. Cells borrow where they can: a 2000-task table is
/// rendered at the end of every run of it, while the user waits.
struct Row<'a> {
    name: Cow<'a, str>,
    status: Cow<'static, str>,
    style: Style,
    time: Cow<'static, str>,
    cpu: Cow<'static, str>,
    /// Peak memory of the process tree; `-` when not sampled.
    mem: Cow<'static, str>,
    attempts: Cow<'static, str>,
}

const NONE: Cow<'static, str> = Cow::Borrowed("-");

impl RunSummary {
    /// The summary printed when a run ends.
    pub fn render(&self, color: bool) -> String {
        let paint = |text: &str, style: Style| -> String {
            if color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_owned() }
        };
        let by_unit = self.records_by_unit();
        let rows = self.rows(&by_unit);
        let mut out = String::new();
        let width = |f: for<'r> fn(&'r Row<'r>) -> &'r str, header: &str| {
            rows.iter().map(|r| f(r).chars().count()).chain([header.chars().count()]).max().unwrap_or(0)
        };
        let (wn, ws) = (width(|r| &r.name, "task"), width(|r| &r.status, "status"));
        let (wt, wc) = (width(|r| &r.time, "time"), width(|r| &r.cpu, "cpu"));
        // The memory column appears only when sampling measured something, so runs
        // without sampling read as before.
        let wm = rows.iter().any(|r| r.mem != "-").then(|| width(|r| &r.mem, "mem"));
        let mem_cell = |mem: &str| wm.map(|wm| format!("{mem:>wm$}  ")).unwrap_or_default();
        let header = format!(
            "{:wn$}  {:ws$}  {:>wt$}  {:>wc$}  {}attempts",
            "task",
            "status",
            "time",
            "cpu",
            mem_cell("mem")
        );
        let _ = writeln!(out, "{}", paint(&header, BOLD));
        out.reserve(rows.len() * (wn + ws + wt + wc + wm.unwrap_or(0) + 24));
        for row in &rows {
            let start = out.len();
            let _ = write!(out, "{:wn$}  ", row.name);
            if color {
                let _ = write!(out, "{}{:ws$}{}", row.style.render(), row.status, row.style.render_reset());
            } else {
                let _ = write!(out, "{:ws$}", row.status);
            }
            let _ = write!(out, "  {:>wt$}  {:>wc$}  ", row.time, row.cpu);
            if let Some(wm) = wm {
                let _ = write!(out, "{:>wm$}  ", row.mem);
            }
            let _ = write!(out, "{:>8}", row.attempts);
            let kept = out[start..].trim_end().len();
            out.truncate(start + kept);
            out.push('\n');
        }

        out.push('\n');
        let wall = self.wall_us;
        let sum = self.task_time_us();
        let _ = writeln!(out, "wall time      {}", format_duration(wall));
        let _ = writeln!(out, "task time      {} (sum)", format_duration(sum));
        if wall > 0 && sum > 0 {
            let _ = writeln!(out, "speed-up       {:.1}×", sum as f64 / wall as f64);
        }
        let (path, length) = self.critical_path();
        if !path.is_empty() {
            let chain = path.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join(" → ");
            let _ = writeln!(out, "critical path  {chain}  ({})", format_duration(length));
        }
        for unit in self.units.iter().filter(|u| u.instances.is_some()) {
            let mut counts = Counts::default();
            by_unit.of(unit.unit).iter().for_each(|r| counts.add(r));
            counts.merge(&self.folded(unit.unit).counts);
            let planned = unit.instances.unwrap_or(0) as usize;
            counts.unfinished += planned.saturating_sub(counts.total());
            let _ = writeln!(out, "{:14} {}", unit.name, fan_out_counts(&counts));
        }

        self.render_alerts(&mut out, &paint);
        self.render_failures(&mut out, &paint);
        out.push('\n');
        let (symbol, style, headline) = self.headline();
        let _ = writeln!(out, "{} {headline}", paint(symbol, style));
        out
    }

    fn render_alerts(&self, out: &mut String, paint: &dyn Fn(&str, Style) -> String) {
        let (alerts, count) = self.alerts();
        if count == 0 {
            return;
        }
        let _ = writeln!(out, "\n{}", paint("alerts", BOLD));
        for alert in alerts {
            let _ = writeln!(
                out,
                "  {} {} at {}: {}",
                paint("⚠", YELLOW),
                alert.kind.as_str(),
                format_duration(alert.t_us),
                alert.message
            );
        }
        if count > alerts.len() {
            let _ = writeln!(out, "  … and {} more (see `volley report`)", count - alerts.len());
        }
    }

    fn render_failures(&self, out: &mut String, paint: &dyn Fn(&str, Style) -> String) {
        let failures: Vec<&TaskRecord> = self.records.values().filter(|r| r.is_failure()).collect();
        if failures.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{}", paint("failures", BOLD));
        for record in failures.iter().take(MAX_FAILURES_SHOWN) {
            let end = match (&record.status, &record.last_end) {
                (Some(TaskStatus::TimedOut), _) => "timed out".to_owned(),
                (_, Some(end)) => super::describe_end(end),
                (_, None) => "failed".to_owned(),
            };
            let allowed = if record.allowed_failure { " (allowed)" } else { "" };
            let style = if record.allowed_failure { YELLOW } else { RED };
            let _ = writeln!(
                out,
                "  {} {}: {end} after {}{allowed}",
                paint("✗", style),
                record.name,
                format_duration(record.duration_us)
            );
            if let Some(log) = &record.log {
                let _ = writeln!(out, "    log: {log}");
            }
            for line in record.last_lines() {
                let _ = writeln!(out, "    {} {}", paint("│", DIM), String::from_utf8_lossy(line));
            }
        }
        if failures.len() > MAX_FAILURES_SHOWN {
            let _ = writeln!(out, "  … and {} more (see their logs)", failures.len() - MAX_FAILURES_SHOWN);
        }
    }

    fn headline(&self) -> (&'static str, Style, String) {
        let counts = self.counts();
        let detail = overall_counts(&counts);
        let wall = format_duration(self.wall_us);
        match self.status {
            Some(RunStatus::Succeeded) => ("✓", GREEN, format!("run succeeded in {wall}: {detail}")),
            Some(RunStatus::Failed) => ("✗", RED, format!("run failed after {wall}: {detail}")),
            Some(RunStatus::Interrupted) => {
                let by = self.interrupted_by.as_deref().map(|s| format!(" by {s}")).unwrap_or_default();
                ("⊘", YELLOW, format!("run interrupted{by} after {wall}: {detail}"))
            }
            None => ("…", DIM, format!("run not finished: {detail}")),
        }
    }

    fn rows<'a>(&'a self, by_unit: &RecordsByUnit<'a>) -> Vec<Row<'a>> {
        let mut rows = Vec::new();
        for unit in &self.units {
            let instances = by_unit.of(unit.unit);
            let folded = self.folded(unit.unit);
            let count = (instances.len() + folded.instances).max(unit.instances.unwrap_or(0) as usize);
            if unit.instances.is_some() && count > MAX_INSTANCE_ROWS {
                rows.push(fan_out_row(
                    &unit.name,
                    count,
                    instances,
                    &folded,
                    self.unit_span(by_unit, unit.unit),
                ));
            } else if instances.is_empty() {
                rows.push(Row {
                    name: cut(&unit.name),
                    status: Cow::Borrowed("· not started"),
                    style: DIM,
                    time: NONE,
                    cpu: NONE,
                    mem: NONE,
                    attempts: NONE,
                });
            } else {
                rows.extend(instances.iter().map(|record| task_row(record)));
            }
        }
        let planned = |r: &&TaskRecord| self.unit_index.contains_key(&r.key.unit);
        rows.extend(self.records.values().filter(|r| !planned(r)).map(task_row));
        rows
    }
}

fn task_row(record: &TaskRecord) -> Row<'_> {
    let (status, style) = status_cell(record);
    let ran = record.attempts > 0;
    Row {
        name: cut(&record.name),
        status,
        style,
        time: if ran || record.duration_us > 0 { format_duration(record.duration_us).into() } else { NONE },
        cpu: if ran { format_duration(record.cpu_us).into() } else { NONE },
        mem: format_mem(record.peak_rss_bytes),
        attempts: if ran { count_cell(u64::from(record.attempts)) } else { NONE },
    }
}

/// A count as a cell; the usual one-digit counts without an allocation.
fn count_cell(n: u64) -> Cow<'static, str> {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    usize::try_from(n)
        .ok()
        .and_then(|i| DIGITS.get(i))
        .map_or_else(|| n.to_string().into(), |d| Cow::Borrowed(*d))
}

fn fan_out_row(
    name: &str,
    count: usize,
    instances: &[&TaskRecord],
    folded: &Folded,
    span: Option<(u64, u64)>,
) -> Row<'static> {
    let failed = instances.iter().any(|r| r.is_failure() && !r.allowed_failure);
    Row {
        name: cut(&format!("{name}[…]")).into_owned().into(),
        status: format!("{count} instances").into(),
        style: if failed { RED } else { Style::new() },
        time: span.map_or(NONE, |(s, e)| format_duration(e - s).into()),
        cpu: format_duration(folded.cpu_us + instances.iter().map(|r| r.cpu_us).sum::<u64>()).into(),
        // The largest instance's peak: instances overlap, but their peaks need not
        // coincide, so a sum would overstate.
        mem: format_mem(instances.iter().map(|r| r.peak_rss_bytes).fold(folded.peak_rss_bytes, Option::max)),
        attempts: count_cell(folded.attempts + instances.iter().map(|r| u64::from(r.attempts)).sum::<u64>()),
    }
}

/// Peak memory for people; `-` when no sample measured it.
fn format_mem(bytes: Option<u64>) -> Cow<'static, str> {
    bytes.map_or(NONE, |b| crate::config::format_size(b).into())
}

fn status_cell(record: &TaskRecord) -> (Cow<'static, str>, Style) {
    let allowed = if record.allowed_failure { " (allowed)" } else { "" };
    let failed_style = if record.allowed_failure { YELLOW } else { RED };
    match record.status {
        None => (Cow::Borrowed("… unfinished"), DIM),
        Some(TaskStatus::Succeeded) if record.flaky => (Cow::Borrowed("✓ flaky"), YELLOW),
        Some(TaskStatus::Succeeded) => (Cow::Borrowed("✓ succeeded"), GREEN),
        Some(TaskStatus::Failed) => {
            let how = match &record.last_end {
                Some(AttemptEnd::SpawnFailed { .. }) => "could not start".to_owned(),
                Some(end @ (AttemptEnd::Exited { .. } | AttemptEnd::Signaled { .. })) => {
                    super::describe_end(end)
                }
                _ => "failed".to_owned(),
            };
            (format!("✗ {how}{allowed}").into(), failed_style)
        }
        Some(TaskStatus::TimedOut) => (format!("⏱ timed out{allowed}").into(), failed_style),
        Some(TaskStatus::Skipped) => match &record.needs {
            Some(needs) => (format!("↷ skipped (needs {needs})").into(), DIM),
            None => (Cow::Borrowed("↷ skipped"), DIM),
        },
        Some(TaskStatus::NotStarted) => (Cow::Borrowed("· not started"), DIM),
        Some(TaskStatus::Interrupted) => (Cow::Borrowed("⊘ interrupted"), YELLOW),
        Some(TaskStatus::Cached) => (Cow::Borrowed("≡ cached"), CYAN),
        Some(TaskStatus::Resumed) => (Cow::Borrowed("≡ resumed"), CYAN),
    }
}

/// `N succeeded, N failed, N skipped` for one fan-out task (SPEC §3), plus
/// interrupted or unfinished instances when there are any.
fn fan_out_counts(c: &Counts) -> String {
    let mut text = format!(
        "{} succeeded, {} failed, {} skipped",
        c.succeeded + c.cached + c.resumed,
        c.failed + c.timed_out,
        c.skipped + c.not_started
    );
    for (n, what) in [(c.interrupted, "interrupted"), (c.unfinished, "unfinished")] {
        if n > 0 {
            let _ = write!(text, ", {n} {what}");
        }
    }
    text
}

/// Non-zero counts only, for the headline.
fn overall_counts(c: &Counts) -> String {
    let succeeded = if c.flaky > 0 {
        format!("{} succeeded ({} flaky)", c.succeeded, c.flaky)
    } else {
        format!("{} succeeded", c.succeeded)
    };
    let failed = if c.allowed_failures > 0 {
        format!("{} failed ({} allowed)", c.failed + c.timed_out, c.allowed_failures)
    } else {
        format!("{} failed", c.failed + c.timed_out)
    };
    let parts = [
        (c.succeeded, succeeded),
        (c.failed + c.timed_out, failed),
        (c.skipped, format!("{} skipped", c.skipped)),
        (c.not_started + c.unfinished, format!("{} not started", c.not_started + c.unfinished)),
        (c.interrupted, format!("{} interrupted", c.interrupted)),
        (c.cached, format!("{} cached", c.cached)),
        (c.resumed, format!("{} resumed", c.resumed)),
    ];
    let text: Vec<String> = parts.into_iter().filter(|(n, _)| *n > 0).map(|(_, t)| t).collect();
    if text.is_empty() { "nothing to do".to_owned() } else { text.join(", ") }
}

fn cut(name: &str) -> Cow<'_, str> {
    if name.chars().count() <= MAX_NAME_WIDTH {
        return Cow::Borrowed(name);
    }
    let mut short: String = name.chars().take(MAX_NAME_WIDTH - 1).collect();
    short.push('…');
    Cow::Owned(short)
}
