//! `volley report --format trace`: Chrome trace-event JSON, for Perfetto or
//! `chrome://tracing`. One complete (`X`) event per attempt on a track per slot (events
//! in one track must nest, and a slot runs one attempt at a time), tracks named with
//! `thread_name` metadata, and counters (`C`) for the sampled CPU and memory. Times
//! are microseconds since the run started, as the format wants.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::model::{Report, attempt_end};

pub fn render(report: &Report) -> String {
    let pid = report.run.id;
    let mut events: Vec<Value> = vec![json!({
        "name": "process_name", "ph": "M", "pid": pid, "tid": 0,
        "args": { "name": format!("run {} · {}", report.run.id, report.command_text()) }
    })];
    let mut slots: Vec<u32> = report.attempts.iter().map(|a| a.slot).collect();
    slots.sort_unstable();
    slots.dedup();
    for slot in slots {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": pid, "tid": slot,
            "args": { "name": format!("slot {slot}") }
        }));
        events.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": pid, "tid": slot, "args": { "sort_index": slot }
        }));
    }
    let end_of_run = report.totals.wall_us.unwrap_or(0);
    for a in &report.attempts {
        // An attempt that never ended (volley killed) is drawn up to the run's end.
        let end = a.ended_us.unwrap_or(end_of_run.max(a.started_us));
        let outcome =
            attempt_end(a).map_or_else(|| a.status.clone(), |e| volley_core::summary::describe_end(&e));
        events.push(json!({
            "name": a.name,
            "cat": a.status,
            "ph": "X",
            "ts": a.started_us,
            "dur": (end - a.started_us).max(0),
            "pid": pid,
            "tid": a.slot,
            "args": {
                "task": a.unit,
                "attempt": a.attempt,
                "outcome": outcome,
                "success": a.success,
                "cpu_user_us": a.cpu_user_us,
                "cpu_system_us": a.cpu_system_us,
                "peak_rss_bytes": a.peak_rss_bytes,
                "read_bytes": a.read_bytes,
                "written_bytes": a.written_bytes,
                "wait_us": a.wait_us,
                "pid": a.pid,
            }
        }));
    }
    counters(report, pid, &mut events);
    let trace = json!({ "traceEvents": events, "displayTimeUnit": "ms" });
    serde_json::to_string(&trace).unwrap_or_default()
}

/// Per-task CPU % and RSS as stacked counters (one series per task at each sample
/// time), and the machine's available memory and load.
fn counters(report: &Report, pid: i64, events: &mut Vec<Value>) {
    let Some(samples) = report.samples.as_deref() else { return };
    let mut cpu: BTreeMap<i64, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut rss: BTreeMap<i64, serde_json::Map<String, Value>> = BTreeMap::new();
    for s in samples {
        if let Some(name) = &s.name {
            if let Some(value) = s.cpu_percent {
                cpu.entry(s.t_us).or_default().insert(name.clone(), json!(value));
            }
            if let Some(value) = s.rss_bytes {
                rss.entry(s.t_us).or_default().insert(name.clone(), json!(value));
            }
        } else {
            if let Some(value) = s.mem_available_bytes {
                events.push(json!({
                    "name": "memory available", "ph": "C", "ts": s.t_us, "pid": pid,
                    "args": { "bytes": value }
                }));
            }
            if let Some(value) = s.load1 {
                events.push(json!({
                    "name": "load", "ph": "C", "ts": s.t_us, "pid": pid, "args": { "load1": value }
                }));
            }
        }
    }
    for (name, series) in [("cpu %", cpu), ("memory (rss)", rss)] {
        for (t_us, args) in series {
            events.push(json!({ "name": name, "ph": "C", "ts": t_us, "pid": pid, "args": args }));
        }
    }
}
