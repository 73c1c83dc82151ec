//! `volley report --format trace`: Chrome trace-event JSON, for Perfetto or
//! `chrome://tracing`. One complete (`X`) event per attempt on a track per slot (events
//! in one track must nest, and a slot runs one attempt at a time), tracks named with
//! `thread_name` metadata, and counters (`C`) for the sampled CPU and memory. Each
//! service of the run gets a track after the slots, with its phases (`starting`,
//! `ready`, `stopping`) as complete events. Times are microseconds since the run
//! started, as the format wants (a `run`'s services start before it: negative).

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
    for &slot in &slots {
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
    let first_service_track = slots.last().map_or(0, |s| s + 1);
    services(report, pid, first_service_track, end_of_run, &mut events);
    counters(report, pid, &mut events);
    let trace = json!({ "traceEvents": events, "displayTimeUnit": "ms" });
    serde_json::to_string(&trace).unwrap_or_default()
}

/// One track per service (`first_track` on), each phase a complete event from the
/// event that began it to the next one; a phase still open ends with the run.
fn services(report: &Report, pid: i64, first_track: u32, end_of_run: i64, events: &mut Vec<Value>) {
    let mut names: Vec<&str> = Vec::new();
    for e in &report.services {
        if !names.contains(&e.name.as_str()) {
            names.push(&e.name);
        }
    }
    for (track, name) in (first_track..).zip(names) {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": pid, "tid": track,
            "args": { "name": format!("service {name}") }
        }));
        events.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": pid, "tid": track, "args": { "sort_index": track }
        }));
        let mut open: Option<(&str, i64, Option<u32>)> = None;
        for e in report.services.iter().filter(|e| e.name == name) {
            if let Some((phase, since, pid_of)) = open.take() {
                events.push(phase_event(phase, since, e.t_us, pid, track, pid_of));
            }
            open = match e.event.as_str() {
                "starting" => Some(("starting", e.t_us, e.pid)),
                "ready" => Some(("ready", e.t_us, None)),
                "stopping" => Some(("stopping", e.t_us, None)),
                _ => None,
            };
        }
        if let Some((phase, since, pid_of)) = open {
            events.push(phase_event(phase, since, end_of_run.max(since), pid, track, pid_of));
        }
    }
}

fn phase_event(phase: &str, from: i64, to: i64, pid: i64, track: u32, service_pid: Option<u32>) -> Value {
    json!({
        "name": phase, "cat": "service", "ph": "X", "ts": from, "dur": (to - from).max(0),
        "pid": pid, "tid": track, "args": { "pid": service_pid }
    })
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
