//! The live footer on stderr: one spinner row per running task (elapsed time, and its
//! usual duration when history knows it: `build  12.3s / usual 40s`) and an overall
//! `done/total` bar with the predicted time left ([`Estimator`]: the scheduler
//! simulated on what is left, counting down between simulations).
//!
//! indicatif breaks when there are more bars than terminal rows (indicatif #636), so
//! at most `rows − 3` task rows are drawn and the rest are summed up as "… and K more";
//! a hidden task takes a row when one frees up. Elapsed times advance by indicatif's
//! steady tick, not by events. Task output never goes through here: the writer thread
//! suspends the footer around each burst of output.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foldhash::{HashMap, HashMapExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use volley_core::event::{Event, TaskKey};
use volley_core::graph::UnitId;
use volley_core::summary::format_duration;

use super::estimate::Estimator;
use super::prefix::{MAX_NAME_WIDTH, pad};

const TICK: Duration = Duration::from_millis(100);

/// A running task not currently shown.
struct Hidden {
    key: TaskKey,
    name: Arc<str>,
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
    /// Shared with the overall bar's `left` key, which asks it at each redraw.
    estimator: Arc<Mutex<Estimator>>,
    fan_out: HashMap<UnitId, Arc<str>>,
}

impl Footer {
    /// A footer drawn on stderr at 12 Hz.
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(12));
        let (rows, _) = console::Term::stderr().size();
        let overall = multi.add(ProgressBar::new(0));
        let estimator = Arc::new(Mutex::new(Estimator::new()));
        let shared = Arc::clone(&estimator);
        overall.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} done{left}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("left", move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = shared.lock().ok().and_then(|mut e| e.left(Instant::now()));
                    if let Some(left) = left.filter(|l| !l.is_zero()) {
                        let _ = write!(w, "  ~{} left", format_duration(left.as_micros() as u64));
                    }
                })
                .progress_chars("━╸ "),
        );
        // The time left counts down between events.
        overall.enable_steady_tick(TICK);
        Footer {
            multi,
            overall,
            rows: HashMap::new(),
            hidden: VecDeque::new(),
            more: None,
            max_rows: usize::from(rows).saturating_sub(3).max(1),
            name_width: 0,
            estimator,
            fan_out: HashMap::new(),
        }
    }

    /// The `MultiProgress` the writer thread suspends around output.
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    pub fn event(&mut self, event: &Event) {
        if let Ok(mut estimator) = self.estimator.lock() {
            estimator.observe(event, Instant::now());
        }
        match event {
            Event::RunStarted { tasks, .. } => {
                self.overall.set_length(tasks.len() as u64);
                for task in tasks {
                    self.widen(&task.name);
                }
            }
            Event::InstancesPlanned { unit, name, count, .. } => {
                // The task becomes `count` instances in the total.
                let len = self.overall.length().unwrap_or(0);
                self.overall.set_length((len + u64::from(*count)).saturating_sub(1));
                self.fan_out.insert(*unit, name.clone());
            }
            Event::AttemptStarted { key, name, expected_us, attempt, .. } => {
                self.widen(name);
                // A retry keeps its row (and its elapsed time since the first attempt).
                if *attempt == 1 || !self.is_shown(*key) {
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
                self.hide(*key);
                self.overall.inc(1);
            }
            Event::RunFinished { .. } => self.clear(),
            _ => {}
        }
    }

    fn is_shown(&self, key: TaskKey) -> bool {
        self.rows.contains_key(&key) || self.hidden.iter().any(|h| h.key == key)
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
        let usual =
            task.expected_us.map(|us| format!(" / usual {}", format_duration(us))).unwrap_or_default();
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
}
