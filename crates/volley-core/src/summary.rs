//! The end-of-run summary, built incrementally from the event stream.
//!
//! [`RunSummary::observe`] folds every event into per-task records; [`RunSummary::render`]
//! turns them into the table printed when a run ends (SPEC §2 "Output"). Pure: times
//! and durations come from the events, so a recorded run renders the same summary and
//! snapshot tests are deterministic.
//!
//! Memory stays bounded whatever the tasks print: only the last [`LAST_LINES`] lines of
//! each task are kept (each cut to [`MAX_KEPT_LINE`] bytes), and a task's lines are
//! dropped as soon as it succeeds, since only failures show them.
//!
//! A fan-out task (one that got `InstancesPlanned`) is shown through its instances; an
//! event about the task itself (named exactly like the task, not `name[item]`) is the
//! task's aggregate and never counts as an instance.

mod format;
mod render;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use foldhash::HashMap;

pub use format::{describe_end, format_duration, format_offset, palette, signal_name};
use render::MAX_INSTANCE_ROWS;

use crate::event::{Alert, AttemptEnd, Event, EventSink, Lines, RunStatus, TaskKey, TaskStatus};
use crate::graph::UnitId;

/// Output lines kept per task for the failure report.
pub const LAST_LINES: usize = 10;
/// Longest kept line, in bytes; longer ones are cut (the full text is in the log).
pub const MAX_KEPT_LINE: usize = 512;
/// Alerts kept for the summary; later ones are only counted (a budget on a fan-out
/// of 100 000 items must not keep 100 000 messages).
pub const MAX_ALERTS_KEPT: usize = 20;

/// What the summary knows about one task or fan-out instance.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub key: TaskKey,
    pub name: Arc<str>,
    /// `None` while it has not finished.
    pub status: Option<TaskStatus>,
    /// Start of the first attempt, µs since the run started.
    pub start_us: Option<u64>,
    /// When it finished, µs since the run started.
    pub end_us: Option<u64>,
    pub duration_us: u64,
    /// User + system CPU time over all attempts.
    pub cpu_us: u64,
    /// Peak summed RSS of its process tree over all attempts, when sampled.
    pub peak_rss_bytes: Option<u64>,
    pub attempts: u32,
    pub flaky: bool,
    pub allowed_failure: bool,
    pub needs: Option<Arc<str>>,
    pub log: Option<String>,
    /// How its last attempt ended.
    pub last_end: Option<AttemptEnd>,
    last_lines: VecDeque<Box<[u8]>>,
}

impl TaskRecord {
    fn new(key: TaskKey, name: Arc<str>) -> Self {
        TaskRecord {
            key,
            name,
            status: None,
            start_us: None,
            end_us: None,
            duration_us: 0,
            cpu_us: 0,
            peak_rss_bytes: None,
            attempts: 0,
            flaky: false,
            allowed_failure: false,
            needs: None,
            log: None,
            last_end: None,
            last_lines: VecDeque::new(),
        }
    }

    /// The last lines it printed (stdout and stderr, in arrival order), kept only
    /// until it succeeds.
    pub fn last_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.last_lines.iter().map(AsRef::as_ref)
    }

    /// Failed or timed out: fails the run (or would, without `allow_failure`). Being
    /// stopped by an interrupt is not the task's own failure.
    pub fn is_failure(&self) -> bool {
        self.status.is_some_and(TaskStatus::is_failure)
    }

    fn keep_tail(&mut self, lines: &Lines) {
        let bytes = lines.0.strip_suffix(b"\n").unwrap_or(&lines.0);
        if lines.0.is_empty() {
            return;
        }
        // Scan from the end: a 50 MB chunk costs only its last few lines here.
        let tail: Vec<&[u8]> = bytes.rsplitn(LAST_LINES + 1, |b| *b == b'\n').take(LAST_LINES).collect();
        for line in tail.into_iter().rev() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.last_lines.len() == LAST_LINES {
                self.last_lines.pop_front();
            }
            self.last_lines.push_back(line[..line.len().min(MAX_KEPT_LINE)].into());
        }
    }
}

/// What remains of instances once folded: enough for counts, times and spans.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Folded {
    pub(crate) counts: Counts,
    pub(crate) instances: usize,
    pub(crate) duration_us: u64,
    pub(crate) cpu_us: u64,
    pub(crate) peak_rss_bytes: Option<u64>,
    pub(crate) attempts: u64,
    pub(crate) span: Option<(u64, u64)>,
}

impl Folded {
    fn fold(&mut self, record: &TaskRecord) {
        self.counts.add(record);
        self.instances += 1;
        self.duration_us += record.duration_us;
        self.cpu_us += record.cpu_us;
        self.peak_rss_bytes = max_known(self.peak_rss_bytes, record.peak_rss_bytes);
        self.attempts += u64::from(record.attempts);
        if let (Some(start), Some(end)) = (record.start_us, record.end_us) {
            self.span = Some(merge_span(self.span, (start, end)));
        }
    }
}

/// The larger of two figures that may be unknown.
fn max_known(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

fn merge_span(span: Option<(u64, u64)>, (start, end): (u64, u64)) -> (u64, u64) {
    span.map_or((start, end), |(s, e)| (s.min(start), e.max(end)))
}

/// A task as planned, plus what the summary learns about it as a whole.
#[derive(Debug, Clone)]
struct UnitInfo {
    unit: UnitId,
    name: Arc<str>,
    deps: Vec<UnitId>,
    /// Planned instance count, for a fan-out task.
    instances: Option<u32>,
}

/// Tasks per final status. Fan-out instances count one each; a fan-out task itself
/// does not count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub skipped: usize,
    pub not_started: usize,
    pub interrupted: usize,
    pub cached: usize,
    pub resumed: usize,
    /// Planned but never reported as finished (still running, or lost to an abort).
    pub unfinished: usize,
    /// Succeeded after a failed attempt (also counted in `succeeded`).
    pub flaky: usize,
    /// Failed or timed out with `allow_failure` (also counted in `failed`/`timed_out`).
    pub allowed_failures: usize,
}

impl Counts {
    fn merge(&mut self, other: &Counts) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.timed_out += other.timed_out;
        self.skipped += other.skipped;
        self.not_started += other.not_started;
        self.interrupted += other.interrupted;
        self.cached += other.cached;
        self.resumed += other.resumed;
        self.unfinished += other.unfinished;
        self.flaky += other.flaky;
        self.allowed_failures += other.allowed_failures;
    }

    fn add(&mut self, record: &TaskRecord) {
        self.count(record.status, record.flaky, record.allowed_failure);
    }

    /// Counts one task with this final status (`None`: no result was reported).
    pub fn count(&mut self, status: Option<TaskStatus>, flaky: bool, allowed_failure: bool) {
        match status {
            None => self.unfinished += 1,
            Some(TaskStatus::Succeeded) => self.succeeded += 1,
            Some(TaskStatus::Failed) => self.failed += 1,
            Some(TaskStatus::TimedOut) => self.timed_out += 1,
            Some(TaskStatus::Skipped) => self.skipped += 1,
            Some(TaskStatus::NotStarted) => self.not_started += 1,
            Some(TaskStatus::Interrupted) => self.interrupted += 1,
            Some(TaskStatus::Cached) => self.cached += 1,
            Some(TaskStatus::Resumed) => self.resumed += 1,
        }
        self.flaky += usize::from(flaky);
        self.allowed_failures += usize::from(allowed_failure && status.is_some_and(TaskStatus::is_failure));
    }

    /// Everything counted, each task once.
    pub fn total(&self) -> usize {
        self.succeeded
            + self.failed
            + self.timed_out
            + self.skipped
            + self.not_started
            + self.interrupted
            + self.cached
            + self.resumed
            + self.unfinished
    }
}

/// The summary of one run, fed event by event.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    run_id: Option<Arc<str>>,
    units: Vec<UnitInfo>,
    unit_index: HashMap<UnitId, usize>,
    records: BTreeMap<TaskKey, TaskRecord>,
    /// Finished, successful instances of large fan-outs, folded into totals so a
    /// fan-out over 100 000 items keeps memory flat.
    folded: HashMap<UnitId, Folded>,
    status: Option<RunStatus>,
    wall_us: u64,
    interrupted_by: Option<String>,
    /// The first [`MAX_ALERTS_KEPT`] alerts, in order, and how many there were.
    alerts: Vec<Alert>,
    alert_count: usize,
}

impl RunSummary {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::RunStarted { run_id, tasks, .. } => {
                self.run_id = Some(run_id.clone());
                for task in tasks {
                    self.unit_index.insert(task.unit, self.units.len());
                    self.units.push(UnitInfo {
                        unit: task.unit,
                        name: task.name.clone(),
                        deps: task.deps.clone(),
                        instances: None,
                    });
                }
            }
            Event::InstancesPlanned { unit, name, count, .. } => {
                let index = *self.unit_index.entry(*unit).or_insert_with(|| {
                    self.units.push(UnitInfo {
                        unit: *unit,
                        name: name.clone(),
                        deps: Vec::new(),
                        instances: None,
                    });
                    self.units.len() - 1
                });
                self.units[index].instances = Some(*count);
            }
            Event::AttemptStarted { t_us, key, name, attempt, .. } => {
                if let Some(record) = self.record(*key, name) {
                    record.attempts = record.attempts.max(*attempt);
                    record.start_us.get_or_insert(*t_us);
                }
            }
            Event::Output { key, name, lines, .. } => {
                if let Some(record) = self.record(*key, name) {
                    record.keep_tail(lines);
                }
            }
            Event::AttemptFinished {
                key,
                name,
                attempt,
                end,
                cpu_user_us,
                cpu_system_us,
                peak_rss_bytes,
                ..
            } => {
                if let Some(record) = self.record(*key, name) {
                    record.attempts = record.attempts.max(*attempt);
                    record.cpu_us += cpu_user_us + cpu_system_us;
                    record.peak_rss_bytes = max_known(record.peak_rss_bytes, *peak_rss_bytes);
                    record.last_end = Some(end.clone());
                }
            }
            Event::TaskFinished {
                t_us,
                key,
                name,
                status,
                duration_us,
                attempts,
                allowed_failure,
                flaky,
                needs,
                log,
            } => {
                if let Some(record) = self.record(*key, name) {
                    record.status = Some(*status);
                    record.end_us = Some(*t_us);
                    record.duration_us = *duration_us;
                    record.attempts = record.attempts.max(*attempts);
                    record.allowed_failure = *allowed_failure;
                    record.flaky = *flaky;
                    record.needs.clone_from(needs);
                    record.log.clone_from(log);
                    if *duration_us > 0 && record.start_us.is_none() {
                        record.start_us = Some(t_us.saturating_sub(*duration_us));
                    }
                    if status.is_success() {
                        record.last_lines = VecDeque::new();
                    }
                }
                self.fold_if_large(*key);
            }
            Event::Interrupting { signal, .. } => self.interrupted_by = Some(signal.clone()),
            Event::RunFinished { status, wall_us, .. } => {
                self.status = Some(*status);
                self.wall_us = *wall_us;
            }
            Event::Alert(alert) => {
                if self.alerts.len() < MAX_ALERTS_KEPT {
                    self.alerts.push(alert.clone());
                }
                self.alert_count += 1;
            }
            Event::Warning { .. } | Event::Sample { .. } => {}
        }
    }

    /// The record an event is about, created on first sight; `None` for an event
    /// about a fan-out task as a whole (its instances carry the detail).
    fn record(&mut self, key: TaskKey, name: &Arc<str>) -> Option<&mut TaskRecord> {
        if let Some(&index) = self.unit_index.get(&key.unit) {
            let unit = &self.units[index];
            if unit.instances.is_some() && *unit.name == **name {
                return None;
            }
        }
        Some(self.records.entry(key).or_insert_with(|| TaskRecord::new(key, name.clone())))
    }

    /// Drops a finished instance's record into its unit's totals once the unit is
    /// too large to list row by row. Failures keep their records: they are listed.
    fn fold_if_large(&mut self, key: TaskKey) {
        let Some(&index) = self.unit_index.get(&key.unit) else { return };
        let large = self.units[index].instances.is_some_and(|n| n as usize > MAX_INSTANCE_ROWS);
        if !large || key.instance == TaskKey::LISTING {
            return;
        }
        if let Some(record) = self.records.get(&key).filter(|r| !r.is_failure() && r.status.is_some()) {
            self.folded.entry(key.unit).or_default().fold(record);
            self.records.remove(&key);
        }
    }

    pub(crate) fn folded(&self, unit: UnitId) -> Folded {
        self.folded.get(&unit).copied().unwrap_or_default()
    }

    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// The run's status once `RunFinished` arrived.
    pub fn status(&self) -> Option<RunStatus> {
        self.status
    }

    pub fn wall_us(&self) -> u64 {
        self.wall_us
    }

    /// The alerts raised so far (the first [`MAX_ALERTS_KEPT`]) and how many in all.
    pub fn alerts(&self) -> (&[Alert], usize) {
        (&self.alerts, self.alert_count)
    }

    /// The signal of the first interrupt, if the run was interrupted.
    pub fn interrupted_by(&self) -> Option<&str> {
        self.interrupted_by.as_deref()
    }

    /// Every task and instance seen, by key.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.records.values()
    }

    /// Tasks per status, including planned tasks and instances never reported.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for record in self.records.values() {
            counts.add(record);
        }
        for folded in self.folded.values() {
            counts.merge(&folded.counts);
        }
        counts.unfinished += self.missing();
        counts
    }

    /// Planned tasks and instances with no event at all.
    fn missing(&self) -> usize {
        let by_unit = self.records_by_unit();
        self.units
            .iter()
            .map(|unit| {
                let seen = by_unit.of(unit.unit).len();
                match unit.instances {
                    Some(count) => (count as usize).saturating_sub(seen + self.folded(unit.unit).instances),
                    None => usize::from(seen == 0),
                }
            })
            .sum()
    }

    /// Every unit's records (its task's, or its instances'), from one pass over the map.
    fn records_by_unit(&self) -> RecordsByUnit<'_> {
        let mut by_unit =
            RecordsByUnit { records: Vec::with_capacity(self.records.len()), ranges: Vec::new() };
        for (key, record) in &self.records {
            if key.instance == TaskKey::LISTING {
                continue;
            }
            let index = key.unit.index();
            if by_unit.ranges.len() <= index {
                by_unit.ranges.resize(index + 1, 0..0);
            }
            let at = by_unit.records.len();
            let range = &mut by_unit.ranges[index];
            if range.start == range.end {
                *range = at..at;
            }
            range.end = at + 1;
            by_unit.records.push(record);
        }
        by_unit
    }

    /// Sum of every task's duration.
    pub fn task_time_us(&self) -> u64 {
        self.records.values().map(|r| r.duration_us).sum::<u64>()
            + self.folded.values().map(|f| f.duration_us).sum::<u64>()
    }

    /// When a task (all its instances, for fan-out) started and ended.
    fn unit_span(&self, by_unit: &RecordsByUnit<'_>, unit: UnitId) -> Option<(u64, u64)> {
        let mut span = self.folded(unit).span;
        for record in by_unit.of(unit) {
            if let (Some(start), Some(end)) = (record.start_us, record.end_us) {
                span = Some(merge_span(span, (start, end)));
            }
        }
        span
    }

    /// The chain that decided this run's wall time, from the actual times: start at the
    /// task that ended last and repeatedly step to the dependency that finished last
    /// before it started. Returns the names and the sum of their time spans (what the
    /// run would take with unlimited slots).
    pub fn critical_path(&self) -> (Vec<Arc<str>>, u64) {
        let by_unit = self.records_by_unit();
        let span = |unit: UnitId| self.unit_span(&by_unit, unit);
        let mut current = None;
        for (index, unit) in self.units.iter().enumerate() {
            if let Some((_, end)) = span(unit.unit)
                && current.is_none_or(|(_, best)| end > best)
            {
                current = Some((index, end));
            }
        }
        let mut path = Vec::new();
        let mut length = 0;
        while let Some((index, _)) = current {
            // Acyclic graphs end the walk on their own; this guards zero-length spans.
            if path.len() > self.units.len() {
                break;
            }
            let unit = &self.units[index];
            let Some((start, end)) = span(unit.unit) else { break };
            path.push(unit.name.clone());
            length += end - start;
            current = None;
            for dep in &unit.deps {
                let Some(&dep_index) = self.unit_index.get(dep) else { continue };
                if let Some((_, dep_end)) = span(*dep)
                    && dep_end <= start
                    && current.is_none_or(|(_, best)| dep_end > best)
                {
                    current = Some((dep_index, dep_end));
                }
            }
        }
        path.reverse();
        (path, length)
    }
}

/// The records of each unit, gathered in one ordered pass over the map (a unit's
/// records are adjacent in it): searching the map for every unit, and again at every
/// step of the critical path, was most of rendering a 2000-task summary.
struct RecordsByUnit<'a> {
    records: Vec<&'a TaskRecord>,
    /// Where each unit's records are in `records`, by unit index.
    ranges: Vec<std::ops::Range<usize>>,
}

impl<'a> RecordsByUnit<'a> {
    fn of(&self, unit: UnitId) -> &[&'a TaskRecord] {
        self.ranges.get(unit.index()).map_or(&[], |range| &self.records[range.clone()])
    }
}

/// A summary can sit among the runner's sinks on its own (e.g. for the exit report of
/// a run with `--output quiet --events -`).
impl EventSink for RunSummary {
    fn event(&mut self, event: &Event) {
        self.observe(event);
    }
}
