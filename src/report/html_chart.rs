//! The SVG pictures of the HTML report: the Gantt timeline (one lane per slot, one
//! bar per attempt, the critical path outlined, details on hover) and the line
//! charts of sampled CPU and memory. Drawn server-side so the page needs no script
//! to show them; every piece of text goes through `escape::html`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use volley_core::summary::format_duration;

use super::escape::{bytes, duration, html};
use super::model::{Report, TaskEntry, attempt_end};
use crate::record::AttemptRow;

/// The drawing's coordinate width; the page scales it to the column.
const WIDTH: f64 = 1200.0;
const GUTTER: f64 = 64.0;
const RIGHT: f64 = 12.0;
const AXIS: f64 = 22.0;

/// A round tick step giving about `target` ticks over `span`.
fn tick_step(span: f64, target: f64) -> f64 {
    let raw = (span / target).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|step| *step >= raw).unwrap_or(10.0 * magnitude)
}

/// A tick's time with as much precision as the step needs (`format_duration` would
/// print 0.1s for both 120 ms and 140 ms).
fn tick_label(t_us: f64, step_us: f64) -> String {
    if step_us < 1e5 {
        format!("{:.0}ms", t_us / 1e3)
    } else if step_us < 1e6 {
        format!("{:.1}s", t_us / 1e6)
    } else if step_us < 6e7 {
        format!("{:.0}s", t_us / 1e6)
    } else {
        format_duration(t_us as u64)
    }
}

fn time_axis(out: &mut String, span_us: f64, x: impl Fn(f64) -> f64, top: f64, bottom: f64) {
    let step = tick_step(span_us, 10.0);
    let mut t = 0.0;
    while t <= span_us + 0.5 {
        let px = x(t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            top - 7.0,
            tick_label(t, step)
        );
        t += step;
    }
}

/// The bar's colour class: how the attempt ended, softened for allowed failures.
fn bar_class(attempt: &AttemptRow, task: Option<&TaskEntry>) -> &'static str {
    match (attempt.success, attempt.status.as_str()) {
        (Some(true), _) if task.is_some_and(|t| t.status == "cached") => "cached",
        (Some(true), _) => "ok",
        (_, "running") => "running",
        (_, "interrupted") => "interrupted",
        _ if task.is_some_and(|t| t.allowed_failure) => "allowed",
        _ if task.is_some_and(|t| t.status == "succeeded") => "retried",
        (_, "timed_out") => "timeout",
        _ => "failed",
    }
}

/// Lane of each slot in order, attempt bars, the critical path outlined.
pub fn gantt(report: &Report) -> String {
    let attempts = &report.attempts;
    if attempts.is_empty() {
        return r#"<p class="empty">No task ran in this run.</p>"#.to_string();
    }
    let tasks: std::collections::HashMap<(&str, u32), &TaskEntry> =
        report.tasks.iter().map(|t| ((t.unit.as_str(), t.instance), t)).collect();
    let end_of_run = attempts
        .iter()
        .filter_map(|a| a.ended_us)
        .chain(report.totals.wall_us)
        .chain(attempts.iter().map(|a| a.started_us))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut lanes: Vec<u32> = attempts.iter().map(|a| a.slot).collect();
    lanes.sort_unstable();
    lanes.dedup();
    let lane_index: BTreeMap<u32, usize> = lanes.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let lane_height = (360.0 / lanes.len() as f64).clamp(9.0, 30.0);
    let height = AXIS + lane_height * lanes.len() as f64 + 6.0;
    let span = end_of_run as f64;
    let x = |t: f64| GUTTER + (t / span) * (WIDTH - GUTTER - RIGHT);
    let mut out = String::with_capacity(attempts.len() * 420 + 2048);
    let _ = write!(
        out,
        r#"<svg class="gantt" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="timeline of the run, one lane per slot">"#
    );
    for (i, slot) in lanes.iter().enumerate() {
        let y = AXIS + i as f64 * lane_height;
        let _ = write!(
            out,
            r#"<rect class="lane{}" x="{GUTTER}" y="{y:.1}" width="{:.1}" height="{lane_height:.1}"/>"#,
            if i % 2 == 1 { " odd" } else { "" },
            WIDTH - GUTTER - RIGHT
        );
        if lane_height >= 11.0 || i % 5 == 0 {
            let _ = write!(
                out,
                r#"<text class="lane-label" x="{:.1}" y="{:.1}" text-anchor="end">slot {slot}</text>"#,
                GUTTER - 8.0,
                y + lane_height / 2.0 + 4.0
            );
        }
    }
    time_axis(&mut out, span, x, AXIS, height - 6.0);
    for a in attempts {
        let task = tasks.get(&(a.unit.as_str(), a.instance)).copied();
        let end = a.ended_us.unwrap_or(end_of_run);
        let x0 = x(a.started_us as f64);
        let w = (x(end as f64) - x0).max(1.5);
        let y = AXIS + lane_index[&a.slot] as f64 * lane_height + 2.0;
        let h = (lane_height - 4.0).max(4.0);
        let critical = task.is_some_and(|t| t.critical);
        let _ = write!(
            out,
            r#"<g class="bar {}{}" data-task="{}"><rect x="{x0:.2}" y="{y:.1}" width="{w:.2}" height="{h:.1}" rx="2"/>"#,
            bar_class(a, task),
            if critical { " critical" } else { "" },
            html(&a.name)
        );
        let _ = write!(out, "<title>{}</title>", html(&tooltip(a, task, critical)));
        // A label only where it fits: about 6.5 px per character at this size.
        let fits = ((w - 8.0) / 6.5).floor() as usize;
        if fits >= 4 && h >= 12.0 {
            let name: String = if a.name.chars().count() > fits {
                a.name.chars().take(fits - 1).chain(std::iter::once('…')).collect()
            } else {
                a.name.clone()
            };
            let _ = write!(
                out,
                r#"<text class="bar-label" x="{:.1}" y="{:.1}">{}</text>"#,
                x0 + 4.0,
                y + h / 2.0 + 4.0,
                html(&name)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

fn tooltip(a: &AttemptRow, task: Option<&TaskEntry>, critical: bool) -> String {
    let outcome = match (a.ended_us, attempt_end(a)) {
        (None, _) => "did not finish".to_string(),
        (_, Some(end)) => volley_core::summary::describe_end(&end),
        (_, None) => a.status.replace('_', " "),
    };
    let cpu = match (a.cpu_user_us, a.cpu_system_us) {
        (None, None) => "–".to_string(),
        (user, system) => format!(
            "{} (user {}, system {})",
            duration(Some(user.unwrap_or(0) + system.unwrap_or(0))),
            duration(user),
            duration(system)
        ),
    };
    let mut text = format!(
        "{}\nattempt {} on slot {} · {outcome}\nstart {} · end {} · took {}\ncpu {cpu}\npeak memory {} · read {} · written {}",
        a.name,
        a.attempt,
        a.slot,
        duration(Some(a.started_us)),
        duration(a.ended_us),
        duration(a.ended_us.map(|e| e - a.started_us)),
        bytes(a.peak_rss_bytes),
        bytes(a.read_bytes),
        bytes(a.written_bytes),
    );
    if let Some(wait) = a.wait_us {
        let _ = write!(text, "\nwaited {} for a slot", duration(Some(wait)));
    }
    if let Some(task) = task.filter(|t| t.attempts > 1) {
        let _ = write!(text, "\ntask: {} after {} attempts", task.status.replace('_', " "), task.attempts);
    }
    if critical {
        text.push_str("\non the critical path");
    }
    text
}

/// One series of a chart: its name, its CSS class, its `(t_us, value)` points.
type Series<'a> = (&'a str, &'a str, Vec<(i64, f64)>);

/// One line chart (several series) over the run's time; the value axis reaches at
/// least `floor` (an idle run reads 0 %, not a magnified flat line); `format`
/// labels values.
pub fn line_chart(
    title: &str,
    series: &[Series<'_>],
    span_us: i64,
    floor: f64,
    format: fn(f64) -> String,
) -> String {
    let height = 170.0;
    let (top, bottom) = (AXIS, height - 8.0);
    let max =
        series.iter().flat_map(|(_, _, points)| points.iter().map(|p| p.1)).fold(floor.max(1e-9), f64::max);
    let span = span_us.max(1) as f64;
    let x = |t: f64| GUTTER + (t / span) * (WIDTH - GUTTER - RIGHT);
    let y = |v: f64| bottom - (v / max) * (bottom - top - 4.0);
    let mut out = format!(
        r#"<figure class="chart"><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        html(title),
        html(title)
    );
    time_axis(&mut out, span, x, top, bottom);
    for fraction in [0.5, 1.0] {
        let value = max * fraction;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{GUTTER}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}"/><text class="tick" x="{2:.1}" y="{3:.1}" text-anchor="end">{4}</text>"#,
            y(value),
            WIDTH - RIGHT,
            GUTTER - 8.0,
            y(value) + 4.0,
            html(&format(value))
        );
    }
    for (name, class, points) in series {
        let coords: Vec<String> =
            points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t as f64), y(*v))).collect();
        let _ = write!(
            out,
            r#"<polyline class="series {class}" points="{}"><title>{}</title></polyline>"#,
            coords.join(" "),
            html(name)
        );
    }
    out.push_str("</svg><p class=\"chart-legend\">");
    for (name, class, _) in series {
        let _ = write!(out, r#"<span class="key {class}"></span>{} "#, html(name));
    }
    out.push_str("</p></figure>");
    out
}

/// The CPU and memory charts from the samples, or a sentence saying there are none.
pub fn resource_charts(report: &Report) -> String {
    let samples = report.samples.as_deref().unwrap_or_default();
    if samples.is_empty() {
        return r#"<p class="empty">No samples were recorded for this run (sampling was off, or the run was too short to sample).</p>"#.to_string();
    }
    let mut cpu: BTreeMap<i64, f64> = BTreeMap::new();
    let mut rss: BTreeMap<i64, f64> = BTreeMap::new();
    let mut available = Vec::new();
    for s in samples {
        if s.name.is_some() {
            *cpu.entry(s.t_us).or_default() += s.cpu_percent.unwrap_or(0.0);
            *rss.entry(s.t_us).or_default() += s.rss_bytes.unwrap_or(0) as f64;
        } else if let Some(bytes) = s.mem_available_bytes {
            available.push((s.t_us, bytes as f64));
        }
    }
    let span = samples.iter().map(|s| s.t_us).chain(report.totals.wall_us).max().unwrap_or(1);
    let mut out = line_chart(
        "CPU of all tasks (%, 100 = one core)",
        &[("tasks' CPU %", "cpu", cpu.into_iter().collect())],
        span,
        100.0,
        |v| format!("{v:.0}%"),
    );
    // Separate charts: a machine's gigabytes would flatten the tasks' megabytes.
    out.push_str(&line_chart(
        "Memory of all tasks (RSS)",
        &[("tasks' memory (RSS)", "rss", rss.into_iter().collect())],
        span,
        1024.0 * 1024.0,
        |v| bytes(Some(v as i64)),
    ));
    if !available.is_empty() {
        out.push_str(&line_chart(
            "Machine: available memory",
            &[("available memory", "available", available)],
            span,
            1024.0 * 1024.0,
            |v| bytes(Some(v as i64)),
        ));
    }
    out
}
