//! `volley report --format csv`: one row per task attempt, or with `--samples` one row
//! per sample. Figures are raw numbers (µs, bytes) so spreadsheets can compute with
//! them; a figure that was not recorded is an empty field. Quoting per RFC 4180.

use std::fmt::Write as _;

use super::escape::csv;
use super::model::Report;

const ATTEMPT_HEADER: &str = "run_id,task,unit,instance,attempt,slot,pid,started_us,ended_us,duration_us,status,\
exit_code,signal,success,cpu_user_us,cpu_system_us,peak_rss_bytes,read_bytes,written_bytes,wait_us,cache_hit,\
task_status,message";

const SAMPLE_HEADER: &str = "run_id,t_us,task,unit,instance,cpu_percent,rss_bytes,read_bytes,written_bytes,\
mem_available_bytes,disk_free_bytes,load1";

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub fn attempts(report: &Report) -> String {
    let mut out = String::with_capacity(64 * (report.attempts.len() + 1));
    out.push_str(ATTEMPT_HEADER);
    out.push_str("\r\n");
    let run = report.run.id;
    let tasks = report.tasks_by_instance();
    for a in &report.attempts {
        let task_status = tasks.get(&(a.unit.as_str(), a.instance)).map_or("", |t| t.status.as_str());
        let _ = write!(
            out,
            "{run},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            csv(&a.name),
            csv(&a.unit),
            a.instance,
            a.attempt,
            a.slot,
            opt(a.pid),
            a.started_us,
            opt(a.ended_us),
            opt(a.ended_us.map(|e| e - a.started_us)),
            csv(&a.status),
            opt(a.exit_code),
            opt(a.signal),
            opt(a.success.map(u8::from)),
            opt(a.cpu_user_us),
            opt(a.cpu_system_us),
            opt(a.peak_rss_bytes),
            opt(a.read_bytes),
            opt(a.written_bytes),
            opt(a.wait_us),
            u8::from(a.cache_hit),
            csv(task_status),
            csv(a.message.as_deref().unwrap_or_default()),
        );
    }
    out
}

pub fn samples(report: &Report) -> String {
    let samples = report.samples.as_deref().unwrap_or_default();
    let mut out = String::with_capacity(48 * (samples.len() + 1));
    out.push_str(SAMPLE_HEADER);
    out.push_str("\r\n");
    for s in samples {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            report.run.id,
            s.t_us,
            csv(s.name.as_deref().unwrap_or_default()),
            csv(s.unit.as_deref().unwrap_or_default()),
            opt(s.instance),
            opt(s.cpu_percent),
            opt(s.rss_bytes),
            opt(s.read_bytes),
            opt(s.written_bytes),
            opt(s.mem_available_bytes),
            opt(s.disk_free_bytes),
            opt(s.load1),
        );
    }
    out
}
