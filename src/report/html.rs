//! `volley report --format html`: one self-contained page — inline CSS, SVG and a
//! few lines of script (tooltips, table sorting), no network and no external fonts —
//! so it can be mailed, archived by CI, or opened offline.
//!
//! Everything from the history is escaped with `escape::html` as it is written. The
//! script only ever reads attributes and sets `textContent`; it never parses markup.

use std::fmt::Write as _;

use super::escape::{bytes, change, duration, html, strip_ansi, when};
use super::html_chart::{gantt, resource_charts};
use super::model::Report;
use super::text::{baseline_cell, headline, status_label};

const STYLE: &str = include_str!("html.css");
const SCRIPT: &str = include_str!("html.js");
/// Critical-path tasks listed by name; a longer chain is counted.
const MAX_PATH_SHOWN: usize = 40;

/// The text report's status words, with a stopwatch every font has: ⏱ is an emoji,
/// and a browser without an emoji font draws it as an empty box.
fn html_status(task: &super::TaskEntry) -> String {
    status_label(task).0.replace('⏱', "◷")
}

fn status_class(status: &str) -> &'static str {
    match status {
        "succeeded" => "ok",
        "failed" => "failed",
        "interrupted" => "interrupted",
        _ => "running",
    }
}

pub fn render(report: &Report) -> String {
    let run = &report.run;
    let t = &report.totals;
    let (symbol, _, headline) = headline(report);
    let mut out = String::with_capacity(4096 + report.attempts.len() * 700);
    let title = format!("volley · run {} · {}", run.id, run.status);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>",
        html(&title)
    );
    let _ = write!(
        out,
        r#"<header><p class="pill {}">{} {}</p><h1>Run {} <code>{}</code></h1><p class="meta">{} · {} · {} slot{} · run id {}</p></header>"#,
        status_class(&run.status),
        symbol,
        html(&run.status),
        run.id,
        html(&report.command_text()),
        html(&when(run.started_at_us)),
        html(&run.host),
        run.jobs,
        if run.jobs == 1 { "" } else { "s" },
        html(&run.run_key)
    );
    let _ = write!(out, r#"<p class="headline">{}</p>"#, html(&headline));

    out.push_str(r#"<section class="cards">"#);
    let path_length = report.critical_path.as_ref().map(|p| i64::try_from(p.length_us).unwrap_or(i64::MAX));
    let cards = [
        ("wall time", duration(t.wall_us)),
        ("task time (sum)", duration(Some(t.task_time_us))),
        ("speed-up", t.speed_up.map_or_else(|| "–".to_string(), |s| format!("{s:.1}×"))),
        ("critical path", duration(path_length)),
        ("tasks", format!("{} / {}", t.counts.succeeded + t.counts.cached + t.counts.resumed, t.tasks)),
        ("slot wait", duration(t.wait_us)),
        ("regressions", report.regressions.len().to_string()),
    ];
    for (label, value) in cards {
        let _ = write!(
            out,
            r#"<div class="card"><span class="label">{label}</span><span class="value">{}</span></div>"#,
            html(&value)
        );
    }
    out.push_str("</section>");

    out.push_str(r#"<section><h2>Timeline</h2><p class="legend"><span class="key ok"></span>succeeded <span class="key failed"></span>failed <span class="key timeout"></span>timed out <span class="key allowed"></span>allowed failure <span class="key retried"></span>retried <span class="key interrupted"></span>interrupted <span class="key crit"></span>critical path</p>"#);
    out.push_str(r#"<div class="scroll">"#);
    out.push_str(&gantt(report));
    out.push_str("</div>");
    critical_path(report, &mut out);
    out.push_str("</section>");

    out.push_str("<section><h2>Resources</h2>");
    out.push_str(&resource_charts(report));
    out.push_str("</section>");

    regressions(report, &mut out);
    failures(report, &mut out);
    alerts(report, &mut out);
    task_table(report, &mut out);

    let _ = write!(
        out,
        r#"<footer>volley report · format {} · baseline: median of each task's last 10 successful runs, threshold {:.0}% and 3 × MAD</footer></main><div id="tip" hidden></div><script>{SCRIPT}</script></body></html>"#,
        report.format_version,
        report.regression_threshold * 100.0
    );
    out.push('\n');
    out
}

fn critical_path(report: &Report, out: &mut String) {
    match &report.critical_path {
        None => out.push_str(
            r#"<p class="note">Critical path unknown: this run was recorded without its dependency graph.</p>"#,
        ),
        Some(path) if path.tasks.is_empty() => {}
        Some(path) => {
            let _ = write!(
                out,
                r#"<p class="path"><span class="label">critical path</span><span class="length">{}</span> "#,
                html(&duration(Some(i64::try_from(path.length_us).unwrap_or(i64::MAX))))
            );
            let shown: Vec<String> =
                path.tasks.iter().take(MAX_PATH_SHOWN).map(|n| format!(r#"<span class="chip">{}</span>"#, html(n))).collect();
            out.push_str(&shown.join(r#"<span class="arrow">→</span>"#));
            if path.tasks.len() > MAX_PATH_SHOWN {
                let _ = write!(out, " … and {} more", path.tasks.len() - MAX_PATH_SHOWN);
            }
            out.push_str("</p>");
        }
    }
}

fn regressions(report: &Report, out: &mut String) {
    out.push_str("<section><h2>Against the baseline</h2>");
    if report.regressions.is_empty() && report.improvements.is_empty() {
        let judged = report.tasks.iter().filter(|t| matches!(t.verdict, Some("unchanged"))).count();
        let _ = write!(
            out,
            r#"<p class="empty">No regression and no improvement ({judged} task{} judged; a task needs 3 earlier successful runs).</p></section>"#,
            if judged == 1 { "" } else { "s" }
        );
        return;
    }
    out.push_str(r#"<table class="compact"><thead><tr><th>task</th><th>verdict</th><th class="num">took</th><th class="num">baseline</th><th class="num">change</th><th class="num">MAD</th><th class="num">runs</th></tr></thead><tbody>"#);
    for (names, word) in [(&report.regressions, "regression"), (&report.improvements, "improvement")] {
        for task in names.iter().filter_map(|n| report.task(n)) {
            let Some(b) = task.baseline else { continue };
            let _ = write!(
                out,
                r#"<tr><td class="name">{}</td><td><span class="verdict {word}">{word}</span></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                html(&task.name),
                duration(Some(task.duration_us)),
                duration(Some(b.median_us as i64)),
                html(&change(task.change.unwrap_or(0.0))),
                duration(Some(b.mad_us as i64)),
                b.samples
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

fn failures(report: &Report, out: &mut String) {
    let failed: Vec<_> = report.tasks.iter().filter(|t| t.is_failure()).collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("<section><h2>Failures</h2>");
    for task in failed {
        let status = html_status(task);
        let _ = write!(
            out,
            r#"<details class="failure" open><summary><span class="name">{}</span> {} after {}</summary>"#,
            html(&task.name),
            html(&status),
            duration(Some(task.duration_us))
        );
        if let Some(log) = &task.log {
            let _ = write!(out, r#"<p class="log-path">log: <code>{}</code></p>"#, html(log));
        }
        match &task.last_lines {
            Some(lines) if !lines.is_empty() => {
                let _ = write!(out, "<pre>{}</pre>", html(&strip_ansi(&lines.join("\n"))));
            }
            _ => out.push_str(r#"<p class="empty">No output (or the log is gone).</p>"#),
        }
        out.push_str("</details>");
    }
    out.push_str("</section>");
}

fn alerts(report: &Report, out: &mut String) {
    if report.alerts.is_empty() {
        return;
    }
    out.push_str(r#"<section><h2>Alerts</h2><ul class="alerts">"#);
    for alert in &report.alerts {
        let _ = write!(
            out,
            r#"<li><span class="when">{}</span> <span class="kind">{}</span> {}</li>"#,
            duration(Some(alert.t_us)),
            html(&alert.kind),
            html(&alert.message)
        );
    }
    out.push_str("</ul></section>");
}

fn task_table(report: &Report, out: &mut String) {
    let _ = write!(
        out,
        r#"<section><h2>Tasks <span class="count">{}</span></h2><p class="hint">Click a column to sort.</p><div class="scroll"><table class="tasks sortable"><thead><tr><th data-type="text">task</th><th data-type="text">status</th><th class="num">start</th><th class="num">time</th><th class="num">cpu</th><th class="num">peak mem</th><th class="num">read</th><th class="num">written</th><th class="num">slot wait</th><th class="num">attempts</th><th data-type="num" data-col="change">vs baseline</th></tr></thead><tbody>"#,
        report.tasks.len()
    );
    for task in &report.tasks {
        let status = html_status(task);
        let num = |v: Option<i64>| v.map_or_else(|| "-1".to_string(), |v| v.to_string());
        let _ = write!(
            out,
            r#"<tr class="{}{}"><td class="name">{}</td><td class="status st-{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td class="num" data-v="{}">{}</td><td data-v="{}">{}</td></tr>"#,
            if task.critical { "critical" } else { "" },
            task.verdict
                .filter(|v| *v == "regression" || *v == "improvement")
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            html(&task.name),
            html(&task.status),
            html(&status),
            num(task.started_us),
            duration(task.started_us),
            task.duration_us,
            if task.attempts > 0 || task.duration_us > 0 {
                duration(Some(task.duration_us))
            } else {
                "–".to_string()
            },
            num(task.cpu_us()),
            duration(task.cpu_us()),
            num(task.peak_rss_bytes),
            bytes(task.peak_rss_bytes),
            num(task.read_bytes),
            bytes(task.read_bytes),
            num(task.written_bytes),
            bytes(task.written_bytes),
            num(task.wait_us),
            duration(task.wait_us),
            task.attempts,
            task.attempts,
            task.change.map_or_else(|| "-1e9".to_string(), |c| format!("{c:.4}")),
            html(&baseline_cell(task))
        );
    }
    out.push_str("</tbody></table></div></section>");
}
