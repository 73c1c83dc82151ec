//! [`Report`]: one recorded run digested for people and tools — per-task figures
//! summed over attempts, totals, the critical path, baseline verdicts — which every
//! format renders. Serialized as is, it *is* the JSON format, so field names are
//! stable `snake_case` (documented in the README) and `format_version` says which.
//!
//! Building it does no I/O; the one file the report wants besides the database (the
//! tail of a failed task's log) is attached afterwards by the caller.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use volley_core::event::{AttemptEnd, TaskStatus};
use volley_core::fanout::shell_quote;
use volley_core::history::{Baseline, Verdict};
use volley_core::summary::Counts;

use super::critical;
use crate::record::{AlertRow, AttemptRow, RunRecord, RunRow, SampleRow, ServiceEventRow};

/// Bumped when a field is renamed or removed (adding fields does not).
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub run: RunRow,
    pub totals: Totals,
    /// `None` when the run's dependency graph was not recorded (older history).
    pub critical_path: Option<CriticalPath>,
    /// `alerts.regression` the verdicts used (0.2 = 20 % slower).
    pub regression_threshold: f64,
    /// In start order; tasks that never started last.
    pub tasks: Vec<TaskEntry>,
    /// In start order.
    pub attempts: Vec<AttemptRow>,
    pub alerts: Vec<AlertRow>,
    /// Names of the tasks whose verdict is `regression`, slowest change first.
    pub regressions: Vec<String>,
    pub improvements: Vec<String>,
    /// The services' start-up and shutdown, in time order (empty without services).
    pub services: Vec<ServiceEventRow>,
    /// The time series, only when asked for (`--samples`, html, trace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<Vec<SampleRow>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub tasks: usize,
    /// Per final status, as the end-of-run summary counts them (`unfinished`: started,
    /// but no result recorded because volley was killed).
    #[serde(flatten)]
    pub counts: Counts,
    pub attempts: usize,
    /// `None` when the run did not finish.
    pub wall_us: Option<i64>,
    /// Sum of every task's duration.
    pub task_time_us: i64,
    /// `task_time_us / wall_us`.
    pub speed_up: Option<f64>,
    pub cpu_user_us: i64,
    pub cpu_system_us: i64,
    /// Time tasks spent ready but waiting for a slot; `None` when not recorded.
    pub wait_us: Option<i64>,
    /// The largest peak memory of any task; `None` when not recorded.
    pub peak_rss_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    pub tasks: Vec<String>,
    pub length_us: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskEntry {
    pub name: String,
    pub unit: String,
    pub instance: u32,
    /// `succeeded`, `failed`, `timed_out`, `skipped`, `not_started`, `interrupted`,
    /// `cached`, `resumed`, or `unfinished`.
    pub status: String,
    /// How its last attempt ended: `exit 3`, `killed by SIGKILL`, `timed out`, ….
    pub end: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub allowed_failure: bool,
    pub flaky: bool,
    pub needs: Option<String>,
    pub log: Option<String>,
    /// µs since the run started.
    pub started_us: Option<i64>,
    pub ended_us: Option<i64>,
    pub duration_us: i64,
    pub attempts: usize,
    pub cpu_user_us: Option<i64>,
    pub cpu_system_us: Option<i64>,
    pub peak_rss_bytes: Option<i64>,
    pub read_bytes: Option<i64>,
    pub written_bytes: Option<i64>,
    pub wait_us: Option<i64>,
    /// Its task is on the critical path.
    pub critical: bool,
    pub baseline: Option<Baseline>,
    /// Duration relative to the baseline median (0.25 = 25 % slower).
    pub change: Option<f64>,
    /// `regression`, `improvement`, `unchanged`, `unknown` (too little history), or
    /// `None` for a task that did not succeed.
    pub verdict: Option<&'static str>,
    /// The end of its log, for failures (when the log still exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_lines: Option<Vec<String>>,
}

impl TaskEntry {
    pub fn is_failure(&self) -> bool {
        TaskStatus::from_word(&self.status).is_some_and(TaskStatus::is_failure)
    }

    pub fn cpu_us(&self) -> Option<i64> {
        add(self.cpu_user_us, self.cpu_system_us)
    }
}

fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// How an attempt row ended, as the summary words it.
pub fn attempt_end(attempt: &AttemptRow) -> Option<AttemptEnd> {
    Some(match attempt.status.as_str() {
        "exited" => AttemptEnd::Exited { code: attempt.exit_code.unwrap_or(0) },
        "signaled" => AttemptEnd::Signaled { signal: attempt.signal.unwrap_or(0) },
        "timed_out" => AttemptEnd::TimedOut,
        "interrupted" => AttemptEnd::Interrupted,
        "spawn_failed" => AttemptEnd::SpawnFailed { message: attempt.message.clone().unwrap_or_default() },
        _ => return None,
    })
}

impl Report {
    /// Each task or instance by (task, instance), to find the one an attempt belongs to.
    pub fn tasks_by_instance(&self) -> HashMap<(&str, u32), &TaskEntry> {
        self.tasks.iter().map(|t| ((t.unit.as_str(), t.instance), t)).collect()
    }

    /// Digests `record`; `threshold` is `alerts.regression`.
    pub fn build(record: &RunRecord, threshold: f64) -> Report {
        let path = critical::critical_path(record);
        let on_path: std::collections::HashSet<&str> =
            path.iter().flat_map(|p| p.tasks.iter().map(String::as_str)).collect();
        // By task and instance rather than name: `exec` items may repeat.
        let mut by_key: HashMap<(&str, u32), Vec<&AttemptRow>> = HashMap::new();
        for attempt in &record.attempts {
            by_key.entry((attempt.unit.as_str(), attempt.instance)).or_default().push(attempt);
        }
        let mut tasks: Vec<TaskEntry> = record
            .tasks
            .iter()
            .map(|row| {
                let attempts = by_key.remove(&(row.unit.as_str(), row.instance)).unwrap_or_default();
                let mut entry = entry(&row.name, &row.unit, row.instance, &attempts);
                entry.status.clone_from(&row.status);
                entry.ended_us = Some(row.ended_us);
                entry.duration_us = row.duration_us;
                entry.attempts = entry.attempts.max(row.attempts.max(0) as usize);
                entry.flaky = row.flaky;
                entry.allowed_failure = row.allowed_failure;
                entry.needs.clone_from(&row.needs);
                entry.log.clone_from(&row.log);
                entry
            })
            .collect();
        // Attempts without a result: volley was killed (or the run is still going).
        let mut orphans: Vec<Vec<&AttemptRow>> = by_key.into_values().collect();
        orphans.sort_by_key(|attempts| attempts.first().map(|a| a.started_us));
        for attempts in orphans {
            let first = attempts[0];
            let mut entry = entry(&first.name, &first.unit, first.instance, &attempts);
            entry.status = "unfinished".to_string();
            entry.ended_us = attempts.iter().filter_map(|a| a.ended_us).max();
            entry.duration_us = entry.ended_us.map_or(0, |end| end - first.started_us);
            tasks.push(entry);
        }
        for task in &mut tasks {
            task.critical = on_path.contains(task.unit.as_str());
            judge(task, record.baselines.get(&task.name), threshold);
        }
        tasks.sort_by_key(|t| (t.started_us.is_none(), t.started_us.unwrap_or(0), t.ended_us.unwrap_or(0)));

        let mut regressions: Vec<&TaskEntry> =
            tasks.iter().filter(|t| t.verdict == Some("regression")).collect();
        regressions.sort_by(|a, b| b.change.unwrap_or(0.0).total_cmp(&a.change.unwrap_or(0.0)));
        let mut improvements: Vec<&TaskEntry> =
            tasks.iter().filter(|t| t.verdict == Some("improvement")).collect();
        improvements.sort_by(|a, b| a.change.unwrap_or(0.0).total_cmp(&b.change.unwrap_or(0.0)));
        let regressions = regressions.into_iter().map(|t| t.name.clone()).collect();
        let improvements = improvements.into_iter().map(|t| t.name.clone()).collect();

        let run = &record.run;
        Report {
            format_version: FORMAT_VERSION,
            totals: totals(&tasks, record.attempts.len(), run.wall_us),
            run: run.clone(),
            critical_path: path,
            regression_threshold: threshold,
            tasks,
            attempts: record.attempts.clone(),
            alerts: record.alerts.clone(),
            regressions,
            improvements,
            services: record.services.clone(),
            samples: None,
        }
    }

    /// Attaches the last lines of each failed task's log, read by `read` (`None`
    /// when the log is gone).
    pub fn attach_last_lines(&mut self, read: impl Fn(&Path) -> Option<Vec<String>>) {
        for task in self.tasks.iter_mut().filter(|t| t.is_failure()) {
            task.last_lines = task.log.as_deref().and_then(|log| read(Path::new(log)));
        }
    }

    pub fn task(&self, name: &str) -> Option<&TaskEntry> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The run's command line as it could be typed again (`volley exec 'echo {}' ::: a`).
    pub fn command_text(&self) -> String {
        let mut words = vec!["volley".to_string()];
        words.extend(self.run.command.iter().skip(1).map(|w| shell_quote(w)));
        words.join(" ")
    }
}

/// A task entry from its attempts (figures summed, peaks maxed); the caller fills
/// in the result.
fn entry(name: &str, unit: &str, instance: u32, attempts: &[&AttemptRow]) -> TaskEntry {
    let last = attempts.last();
    TaskEntry {
        name: name.to_string(),
        unit: unit.to_string(),
        instance,
        status: String::new(),
        end: last.and_then(|a| attempt_end(a)).map(|e| volley_core::summary::describe_end(&e)),
        exit_code: last.and_then(|a| a.exit_code),
        signal: last.and_then(|a| a.signal),
        allowed_failure: false,
        flaky: false,
        needs: None,
        log: None,
        started_us: attempts.first().map(|a| a.started_us),
        ended_us: None,
        duration_us: 0,
        attempts: attempts.len(),
        cpu_user_us: attempts.iter().fold(None, |sum, a| add(sum, a.cpu_user_us)),
        cpu_system_us: attempts.iter().fold(None, |sum, a| add(sum, a.cpu_system_us)),
        peak_rss_bytes: attempts.iter().fold(None, |peak, a| max(peak, a.peak_rss_bytes)),
        read_bytes: attempts.iter().fold(None, |sum, a| add(sum, a.read_bytes)),
        written_bytes: attempts.iter().fold(None, |sum, a| add(sum, a.written_bytes)),
        wait_us: attempts.iter().fold(None, |sum, a| add(sum, a.wait_us)),
        critical: false,
        baseline: None,
        change: None,
        verdict: None,
        last_lines: None,
    }
}

/// The verdict of SPEC §5, the same rule as `volley history --check`: only tasks
/// that succeeded are judged.
fn judge(task: &mut TaskEntry, baseline: Option<&Baseline>, threshold: f64) {
    let Some(baseline) = baseline else {
        task.verdict = (task.status == "succeeded").then_some(Verdict::Unknown.word());
        return;
    };
    task.baseline = Some(*baseline);
    if task.status != "succeeded" {
        return;
    }
    let duration = task.duration_us.max(0) as u64;
    task.change = (baseline.median_us > 0).then(|| baseline.change(duration));
    task.verdict = Some(baseline.judge(duration, threshold).word());
}

fn totals(tasks: &[TaskEntry], attempts: usize, wall_us: Option<i64>) -> Totals {
    let mut totals = Totals { tasks: tasks.len(), attempts, wall_us, ..Totals::default() };
    for task in tasks {
        totals.counts.count(TaskStatus::from_word(&task.status), task.flaky, task.allowed_failure);
        totals.task_time_us += task.duration_us;
        totals.cpu_user_us += task.cpu_user_us.unwrap_or(0);
        totals.cpu_system_us += task.cpu_system_us.unwrap_or(0);
        totals.wait_us = add(totals.wait_us, task.wait_us);
        totals.peak_rss_bytes = max(totals.peak_rss_bytes, task.peak_rss_bytes);
    }
    totals.speed_up = wall_us.filter(|w| *w > 0).map(|w| totals.task_time_us as f64 / w as f64);
    totals
}
