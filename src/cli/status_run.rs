//! The `runs` section of `volley status`: each `volley run` (or `exec`) in progress in
//! this project, with its running tasks against their usual duration, done/total and
//! the predicted time left ([`volley_core::forecast`], the footer's estimate).
//!
//! A run row that still says `running` but whose volley process is gone on this host
//! was killed (or crashed) before it could record its end: the newest such run is
//! shown as "killed or crashed"; older ones are history, not status.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use volley_core::forecast::{TaskProgress, number_pools, time_left};
use volley_core::schedule::Limits;

use super::CliError;
use super::plan::UNKNOWN;
use super::status::Section;
use crate::record::{self, LiveRun};
use volley_core::summary::format_duration;

/// At most this many rows that say `running` are looked at.
const MAX_LIVE_ROWS: usize = 20;

/// One run as `volley status --json` shows it. Field names are stable.
#[derive(Debug, Serialize)]
pub struct RunStatus {
    pub id: i64,
    pub run_key: String,
    pub command: Vec<String>,
    pub started_at_us: i64,
    pub elapsed_us: u64,
    pub host: String,
    pub pid: i64,
    pub jobs: i64,
    /// `running`, or `killed_or_crashed` when its volley process is gone.
    pub state: &'static str,
    /// Finished task instances.
    pub done: u32,
    /// Task instances in the run (`null` for a run recorded before schema 2).
    pub total: Option<u32>,
    pub running: Vec<RunningTask>,
    /// `null` when no task has history (or the run is not running).
    pub predicted_left_us: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct RunningTask {
    pub name: String,
    pub task: String,
    pub attempt: u32,
    pub elapsed_us: u64,
    /// Its usual duration from history, if known.
    pub usual_us: Option<u64>,
}

pub fn section(state_dir: &Path, now_us: i64) -> Result<Section, CliError> {
    let runs = match record::open_for_reading(state_dir) {
        None => Vec::new(),
        Some(conn) => read(&conn, now_us).map_err(|e| {
            CliError::Runtime(format!("cannot read {}: {e}", state_dir.join(record::FILE_NAME).display()))
        })?,
    };
    let mut text = String::new();
    if runs.iter().all(|r| r.state != "running") {
        text.push_str("no run in progress\n");
    }
    let blocks: Vec<String> = runs.iter().map(render).collect();
    text.push_str(&blocks.join("\n"));
    Ok(Section { key: "runs", text, json: serde_json::to_value(&runs).unwrap_or_default() })
}

fn read(conn: &rusqlite::Connection, now_us: i64) -> rusqlite::Result<Vec<RunStatus>> {
    let newest = record::newest_run_id(conn)?;
    let this_host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let mut shown = Vec::new();
    for run in record::live_runs(conn, MAX_LIVE_ROWS)? {
        let gone = run.host == this_host && !process_alive(run.pid);
        if gone && Some(run.id) != newest {
            continue;
        }
        let per_instance = fan_out_medians(conn, &run)?;
        shown.push(status_of(&run, gone, now_us, &per_instance));
    }
    Ok(shown)
}

/// Median of one instance of each fan-out task of `run`, from earlier runs.
fn fan_out_medians(conn: &rusqlite::Connection, run: &LiveRun) -> rusqlite::Result<HashMap<String, u64>> {
    let mut medians = HashMap::new();
    for unit in run.units.iter().filter(|u| u.instances.is_some() || u.expected_us.is_none()) {
        if let Some(d) = record::fan_out_history_from(conn, &unit.name)?.per_instance {
            medians.insert(unit.name.clone(), d.as_micros() as u64);
        }
    }
    Ok(medians)
}

fn status_of(run: &LiveRun, gone: bool, now_us: i64, fan_out: &HashMap<String, u64>) -> RunStatus {
    let since = |t: i64| now_us.saturating_sub(t).max(0) as u64;
    // The usual duration of one instance of each task.
    let usual: HashMap<&str, u64> = run
        .units
        .iter()
        .filter_map(|u| u.expected_us.or_else(|| fan_out.get(&u.name).copied()).map(|e| (u.name.as_str(), e)))
        .collect();
    let running: Vec<RunningTask> = run
        .running
        .iter()
        .map(|a| RunningTask {
            name: a.name.clone(),
            task: a.task.clone(),
            attempt: a.attempt,
            elapsed_us: since(a.started_at_us),
            usual_us: usual.get(a.task.as_str()).copied(),
        })
        .collect();
    let total_of = |name: &str, instances: Option<u32>| -> (u32, u32) {
        let total = instances.unwrap_or(1);
        let done = if run.finished_whole.iter().any(|w| w == name) {
            total
        } else {
            run.finished.get(name).copied().unwrap_or(0).min(total)
        };
        (done, total)
    };
    let (done, total) = if run.units.is_empty() {
        (run.finished.values().sum(), None)
    } else {
        let (d, t) = run
            .units
            .iter()
            .map(|u| total_of(&u.name, u.instances))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        (d, Some(t))
    };
    let predicted_left_us = if gone || usual.is_empty() {
        None
    } else {
        let index: HashMap<&str, usize> =
            run.units.iter().enumerate().map(|(i, u)| (u.name.as_str(), i)).collect();
        let (pools, limits) = number_pools(
            run.units.iter().map(|u| u.pool.as_ref().map(|(name, limit)| (name.as_str(), *limit))),
        );
        let tasks: Vec<TaskProgress> = run
            .units
            .iter()
            .zip(pools)
            .map(|(u, pool)| {
                let (done, total) = total_of(&u.name, u.instances);
                let mine: Vec<Duration> = running
                    .iter()
                    .filter(|r| r.task == u.name)
                    .map(|r| Duration::from_micros(r.elapsed_us))
                    .collect();
                TaskProgress {
                    deps: u.deps.iter().filter_map(|d| index.get(d.as_str()).copied()).collect(),
                    expected: usual.get(u.name.as_str()).map_or(UNKNOWN, |us| Duration::from_micros(*us)),
                    waiting: total.saturating_sub(done).saturating_sub(mine.len() as u32),
                    running: mine,
                    pool,
                    cap: u.cap,
                }
            })
            .collect();
        let limits = Limits { slots: run.jobs.max(1) as usize, pools: limits };
        Some(time_left(&tasks, &limits).as_micros() as u64)
    };
    RunStatus {
        id: run.id,
        run_key: run.run_key.clone(),
        command: run.command.clone(),
        started_at_us: run.started_at_us,
        elapsed_us: since(run.started_at_us),
        host: run.host.clone(),
        pid: run.pid,
        jobs: run.jobs,
        state: if gone { "killed_or_crashed" } else { "running" },
        done,
        total,
        running,
        predicted_left_us,
    }
}

/// Whether `pid` is a live process on this host (a zombie is not).
fn process_alive(pid: i64) -> bool {
    let Some(raw) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else { return false };
    match rustix::process::test_kill_process(raw) {
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    // Linux: a zombie still answers kill(0) until its parent reaps it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn render(run: &RunStatus) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let args: Vec<String> = run.command.iter().skip(1).map(|a| shell_word(a)).collect();
    let command = format!("volley {}", args.join(" "));
    let started = jiff::Timestamp::from_microsecond(run.started_at_us)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let progress = match run.total {
        Some(total) => format!("{}/{total} done", run.done),
        None => format!("{} done", run.done),
    };
    if run.state == "running" {
        let _ = writeln!(out, "run {} ({}): {command}", run.id, run.run_key);
        let _ = writeln!(
            out,
            "  running for {} (started {started}, pid {} on {}, {} slot{})",
            format_duration(run.elapsed_us),
            run.pid,
            run.host,
            run.jobs,
            if run.jobs == 1 { "" } else { "s" }
        );
        let left = match (run.predicted_left_us, run.total) {
            (Some(us), _) => format!("~{} left", format_duration(us)),
            (None, Some(_)) => "time left unknown (no history)".to_string(),
            (None, None) => "time left unknown (recorded by an older volley)".to_string(),
        };
        let _ = writeln!(out, "  {progress}, {left}");
        let width = run.running.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
        for task in &run.running {
            let usual = task.usual_us.map(|u| format!(" / usual {}", format_duration(u))).unwrap_or_default();
            let retry =
                if task.attempt > 1 { format!("  (attempt {})", task.attempt) } else { String::new() };
            let _ = writeln!(
                out,
                "    {:<width$}  {:>6}{usual}{retry}",
                task.name,
                format_duration(task.elapsed_us)
            );
        }
    } else {
        let _ = writeln!(out, "run {} ({}): {command}", run.id, run.run_key);
        let _ = writeln!(
            out,
            "  killed or crashed: started {started}, its volley (pid {}) is gone and never recorded an end; {progress}",
            run.pid
        );
        if !run.running.is_empty() {
            let names: Vec<&str> = run.running.iter().map(|r| r.name.as_str()).collect();
            let _ = writeln!(out, "  was running: {}", names.join(", "));
        }
    }
    out
}

/// `word`, single-quoted if the shell would split or expand it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=' | ':' | ',' | '@'));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}
