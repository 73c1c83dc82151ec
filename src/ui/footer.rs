//! The live footer on stderr: one spinner row per running task (elapsed time, and its
//! usual duration when history knows it) and an overall `done/total` bar with the
//! predicted time left.
//!
//! indicatif breaks when there are more bars than terminal rows (indicatif #636), so
//! at most `rows − 3` task rows are drawn and the rest are summed up as "… and K more";
//! a hidden task takes a row when one frees up. Elapsed times advance by indicatif's
//! steady tick, not by events. Task output never goes through here: the writer thread
//! suspends the footer around each burst of output.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use volley_core::event::{Event, TaskKey};
use volley_core::graph::UnitId;
use volley_core::summary::format_duration;

use super::prefix::{MAX_NAME_WIDTH, pad};

const TICK: Duration = Duration::from_millis(100);

/// A running task not currently shown.
struct Hidden {
    key: TaskKey,
    name: Arc<str>,
    started: Instant,
    expected_us: Option<u64>,
}

struct Running {
    started: Instant,
    expected_us: Option<u64>,
}

pub struct Footer {
    multi: MultiProgress,
    overall: ProgressBar,
    rows: HashMap<TaskKey, ProgressBar>,
    hidden: VecDeque<Hidden>,
    more: Option<ProgressBar>,
    max_rows: usize,
    name_width: usize,
    jobs: usize,
    running: HashMap<TaskKey, Running>,
    /// Planned tasks not started yet, with their expected duration, for the estimate.
    pending_expected: HashMap<UnitId, u64>,
    started_units: HashSet<UnitId>,
    fan_out: HashMap<UnitId, Arc<str>>,
    any_expected: bool,
}

impl Footer {
    /// A footer drawn on stderr at 12 Hz.
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(12));
        let (rows, _) = console::Term::stderr().size();
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} done{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("━╸ "),
        );
        Footer {
            multi,
            overall,
            rows: HashMap::new(),
            hidden: VecDeque::new(),
            more: None,
            max_rows: usize::from(rows).saturating_sub(3).max(1),
            name_width: 0,
            jobs: 1,
            running: HashMap::new(),
            pending_expected: HashMap::new(),
            started_units: HashSet::new(),
            fan_out: HashMap::new(),
            any_expected: false,
        }
    }

    /// The `MultiProgress` the writer thread suspends around output.
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    pub fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { tasks, jobs, .. } => {
                self.jobs = (*jobs).max(1);
                self.overall.set_length(tasks.len() as u64);
                for task in tasks {
                    self.widen(&task.name);
                    if let Some(expected) = task.expected_us {
                        self.pending_expected.insert(task.unit, expected);
                        self.any_expected = true;
                    }
                }
            }
            Event::InstancesPlanned { unit, name, count, .. } => {
                // The task becomes `count` instances in the total.
                let len = self.overall.length().unwrap_or(0);
                self.overall.set_length((len + u64::from(*count)).saturating_sub(1));
                self.fan_out.insert(*unit, name.clone());
            }
            Event::AttemptStarted { key, name, expected_us, .. } => {
                self.widen(name);
                if self.started_units.insert(key.unit) {
                    self.pending_expected.remove(&key.unit);
                }
                if !self.running.contains_key(key) {
                    self.running.insert(*key, Running { started: Instant::now(), expected_us: *expected_us });
                    self.any_expected |= expected_us.is_some();
                    self.show(Hidden {
                        key: *key,
                        name: name.clone(),
                        started: Instant::now(),
                        expected_us: *expected_us,
                    });
                }
            }
            Event::TaskFinished { key, name, .. } => {
                if self.fan_out.get(&key.unit).is_some_and(|task| task == name) {
                    return; // a fan-out task as a whole; its instances were counted
                }
                self.pending_expected.remove(&key.unit);
                self.running.remove(key);
                self.hide(*key);
                self.overall.inc(1);
            }
            Event::RunFinished { .. } => self.clear(),
            _ => {}
        }
        self.update_estimate();
    }

    /// Removes every bar; the footer draws nothing afterwards.
    pub fn clear(&mut self) {
        for (_, row) in self.rows.drain() {
            row.finish_and_clear();
            self.multi.remove(&row);
        }
        self.hidden.clear();
        if let Some(more) = self.more.take() {
            more.finish_and_clear();
            self.multi.remove(&more);
        }
        self.overall.finish_and_clear();
        self.multi.remove(&self.overall);
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
    }

    fn widen(&mut self, name: &str) {
        self.name_width = self.name_width.max(name.chars().count().min(MAX_NAME_WIDTH));
    }

    fn show(&mut self, task: Hidden) {
        if self.rows.len() >= self.max_rows {
            self.hidden.push_back(task);
            self.update_more();
            return;
        }
        let started = task.started;
        let usual = task.expected_us.map(|us| format!("  usual {}", format_duration(us))).unwrap_or_default();
        let style = ProgressStyle::with_template("{spinner:.cyan} {prefix} {elapsed_human}{msg:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("elapsed_human", move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:>6}", format_duration(started.elapsed().as_micros() as u64));
            });
        // Created hidden and configured only once inside the MultiProgress: a bar that
        // draws on its own first writes lines the footer does not know to clear.
        let row =
            self.multi.insert_before(self.more.as_ref().unwrap_or(&self.overall), ProgressBar::hidden());
        row.set_style(style);
        row.set_prefix(pad(&task.name, self.name_width));
        row.set_message(usual);
        row.enable_steady_tick(TICK);
        self.rows.insert(task.key, row);
    }

    fn hide(&mut self, key: TaskKey) {
        if let Some(row) = self.rows.remove(&key) {
            row.finish_and_clear();
            self.multi.remove(&row);
            if let Some(next) = self.hidden.pop_front() {
                self.show(next);
            }
        } else {
            self.hidden.retain(|h| h.key != key);
        }
        self.update_more();
    }

    fn update_more(&mut self) {
        match (&self.more, self.hidden.len()) {
            (Some(more), 0) => {
                more.finish_and_clear();
                self.multi.remove(more);
                self.more = None;
            }
            (Some(more), n) => more.set_message(format!("  … and {n} more")),
            (None, 0) => {}
            (None, n) => {
                let more = self.multi.insert_before(&self.overall, ProgressBar::hidden());
                more.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                more.set_message(format!("  … and {n} more"));
                self.more = Some(more);
            }
        }
    }

    /// Time left ≈ the work left spread over the slots, but never less than the
    /// longest remaining running task. Shown only when history knows some durations.
    fn update_estimate(&self) {
        if !self.any_expected {
            return;
        }
        let now = Instant::now();
        let running: Vec<u64> = self
            .running
            .values()
            .filter_map(|r| {
                r.expected_us.map(|e| e.saturating_sub(now.duration_since(r.started).as_micros() as u64))
            })
            .collect();
        let work: u64 = running.iter().sum::<u64>() + self.pending_expected.values().sum::<u64>();
        let left = (work / self.jobs as u64).max(running.iter().copied().max().unwrap_or(0));
        let mut msg = String::new();
        if left > 0 {
            let _ = write!(msg, "  ~{} left", format_duration(left));
        }
        self.overall.set_message(msg);
    }
}
