//! [`AlertMonitor`]: decides when a condition becomes an [`Alert`] (SPEC §5).
//!
//! Pure: the runner feeds it machine figures from each sample and the start and end
//! of each task, with times as µs since the run started; it answers with alerts and
//! with the instants at which a task alert could next become due, so the runner can
//! set a timer and flag a task *while it still runs* rather than at the next sample.
//!
//! The once-per-condition rule:
//! - a task alert (`slow`, `budget`) fires at most once per task or fan-out instance
//!   per run, however many attempts it takes; it is measured from the first
//!   attempt's start, like the task's duration and the median it is compared with;
//! - a machine alert (`memory`, `disk`) fires when the figure drops below its
//!   threshold, then stays quiet until the figure has recovered to at least
//!   [`RECOVERY_MARGIN`] × the threshold; only then can it fire again. The margin
//!   keeps a figure hovering around the threshold from alerting every sample.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::format_size;
use crate::event::{Alert, AlertKind, TaskKey};
use crate::history::MIN_REGRESSION_US;
use crate::model;
use crate::summary::format_duration;

/// A machine figure must climb back to this multiple of its threshold before the
/// same alert may fire again.
pub const RECOVERY_MARGIN: f64 = 1.1;

/// What a running task is watched for.
#[derive(Debug, Clone)]
struct Watch {
    name: Arc<str>,
    start_us: u64,
    /// Slow limit (µs since the task started) and the usual duration it came from;
    /// `None` once fired or when there is no history.
    slow: Option<(u64, u64)>,
    /// Budget (µs since the task started); `None` once fired or when not declared.
    budget: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct AlertMonitor {
    min_free_memory: Option<u64>,
    min_free_disk: Option<u64>,
    slow_factor: f64,
    memory_low: bool,
    disk_low: bool,
    watched: BTreeMap<TaskKey, Watch>,
}

impl AlertMonitor {
    pub fn new(settings: &model::Alerts) -> Self {
        AlertMonitor {
            min_free_memory: settings.min_free_memory,
            min_free_disk: settings.min_free_disk,
            slow_factor: settings.slow_factor,
            memory_low: false,
            disk_low: false,
            watched: BTreeMap::new(),
        }
    }

    /// Machine figures from one sample (`None`: not measured this time, which
    /// neither fires nor re-arms).
    pub fn machine(&mut self, t_us: u64, mem_available: Option<u64>, disk_free: Option<u64>) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let checks = [
            (AlertKind::Memory, mem_available, self.min_free_memory, "available memory"),
            (AlertKind::Disk, disk_free, self.min_free_disk, "free disk space"),
        ];
        for (kind, value, threshold, what) in checks {
            let (Some(value), Some(threshold)) = (value, threshold) else { continue };
            let low = match kind {
                AlertKind::Memory => &mut self.memory_low,
                _ => &mut self.disk_low,
            };
            if value < threshold && !*low {
                *low = true;
                let setting = if kind == AlertKind::Memory { "min_free_memory" } else { "min_free_disk" };
                alerts.push(Alert {
                    t_us,
                    kind,
                    name: None,
                    message: format!(
                        "{what} is {}, below {setting} = {}",
                        format_size(value),
                        format_size(threshold)
                    ),
                    value: value as f64,
                    threshold: threshold as f64,
                });
            } else if *low && value as f64 >= threshold as f64 * RECOVERY_MARGIN {
                *low = false;
            }
        }
        alerts
    }

    /// A task (or instance) started its first attempt at `start_us`. `expected_us` is
    /// its usual duration from history, `budget_us` its declared budget. Returns when
    /// (µs since the run started) an alert about it could become due, if ever.
    pub fn task_started(
        &mut self,
        key: TaskKey,
        name: Arc<str>,
        start_us: u64,
        expected_us: Option<u64>,
        budget_us: Option<u64>,
    ) -> Option<u64> {
        // Beyond the factor *and* beyond spawn and timer jitter: a 2 ms task still
        // running at 3 ms is not worth a warning.
        let slow = expected_us.filter(|e| *e > 0).map(|e| {
            let limit = ((e as f64 * self.slow_factor).ceil() as u64).max(e + MIN_REGRESSION_US);
            (limit, e)
        });
        if slow.is_none() && budget_us.is_none() {
            return None;
        }
        let watch = Watch { name, start_us, slow, budget: budget_us };
        let deadline = next_deadline(&watch);
        self.watched.insert(key, watch);
        deadline
    }

    /// The task reached its final status: nothing more is said about it.
    pub fn task_finished(&mut self, key: TaskKey) {
        self.watched.remove(&key);
    }

    /// Task alerts due at `now_us`, each at most once per task and condition.
    pub fn due(&mut self, now_us: u64) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let slow_factor = self.slow_factor;
        for watch in self.watched.values_mut() {
            let elapsed = now_us.saturating_sub(watch.start_us);
            if let Some(budget) = watch.budget.filter(|b| elapsed > *b) {
                watch.budget = None;
                alerts.push(Alert {
                    t_us: now_us,
                    kind: AlertKind::Budget,
                    name: Some(watch.name.clone()),
                    message: format!(
                        "{} is over its budget of {} and still running",
                        watch.name,
                        format_duration(budget)
                    ),
                    value: elapsed as f64,
                    threshold: budget as f64,
                });
            }
            if let Some((limit, usual)) = watch.slow.filter(|(limit, _)| elapsed > *limit) {
                watch.slow = None;
                alerts.push(Alert {
                    t_us: now_us,
                    kind: AlertKind::Slow,
                    name: Some(watch.name.clone()),
                    message: format!(
                        "{} has run longer than {}× its usual {} and is still running",
                        watch.name,
                        slow_factor,
                        format_duration(usual)
                    ),
                    value: elapsed as f64,
                    threshold: limit as f64,
                });
            }
        }
        self.watched.retain(|_, w| w.slow.is_some() || w.budget.is_some());
        alerts
    }

    /// The earliest instant a task alert could become due.
    pub fn next_deadline(&self) -> Option<u64> {
        self.watched.values().filter_map(next_deadline).min()
    }
}

fn next_deadline(watch: &Watch) -> Option<u64> {
    // `due` fires strictly after the limit: ask to be woken just past it.
    let slow = watch.slow.map(|(limit, _)| limit);
    [slow, watch.budget].into_iter().flatten().min().map(|limit| watch.start_us + limit + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::UnitId;

    const MS: u64 = 1_000;
    const MIB: u64 = 1 << 20;

    fn key(unit: u32) -> TaskKey {
        TaskKey { unit: UnitId(unit), instance: 0 }
    }

    fn monitor(memory: Option<u64>, disk: Option<u64>) -> AlertMonitor {
        AlertMonitor::new(&model::Alerts {
            min_free_memory: memory,
            min_free_disk: disk,
            ..model::Alerts::default()
        })
    }

    /// Steps a fake clock in 10 ms ticks up to `until_ms`, collecting what fires.
    fn run_clock(m: &mut AlertMonitor, until_ms: u64) -> Vec<(u64, AlertKind)> {
        (0..=until_ms / 10).flat_map(|t| m.due(t * 10 * MS)).map(|a| (a.t_us / MS, a.kind)).collect()
    }

    #[test]
    fn budget_fires_once_just_after_it_is_exceeded() {
        let mut m = monitor(None, None);
        let deadline = m.task_started(key(0), "deploy".into(), 100 * MS, None, Some(300 * MS));
        assert_eq!(deadline, Some(400 * MS + 1));
        assert!(m.due(400 * MS).is_empty(), "exactly at the budget is not over it");
        let fired = run_clock(&mut m, 2_000);
        assert_eq!(fired, vec![(410, AlertKind::Budget)]);
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn slow_uses_the_factor_times_the_usual_duration() {
        let mut m = monitor(None, None);
        // slow_factor defaults to 1.5: usual 1 s → slow after 1.5 s.
        let deadline = m.task_started(key(0), "build".into(), 0, Some(1_000 * MS), None);
        assert_eq!(deadline, Some(1_500 * MS + 1));
        let alerts = m.due(1_600 * MS);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::Slow);
        assert_eq!(alerts[0].name.as_deref(), Some("build"));
        assert_eq!(alerts[0].message, "build has run longer than 1.5× its usual 1s and is still running");
        assert!((alerts[0].threshold - 1_500_000.0).abs() < 1.0);
        assert!(m.due(60_000 * MS).is_empty(), "once per task");
    }

    #[test]
    fn a_short_task_is_slow_only_beyond_spawn_jitter() {
        let mut m = monitor(None, None);
        // Usually 2 ms: 3 ms would be 1.5×, but only 2 + 20 ms is worth saying.
        let deadline = m.task_started(key(0), "tiny".into(), 0, Some(2 * MS), None);
        assert_eq!(deadline, Some(22 * MS + 1));
        assert!(m.due(10 * MS).is_empty());
        assert_eq!(m.due(23 * MS).len(), 1);
    }

    #[test]
    fn budget_and_slow_are_separate_conditions_of_one_task() {
        let mut m = monitor(None, None);
        m.task_started(key(0), "t".into(), 0, Some(1_000 * MS), Some(500 * MS));
        assert_eq!(m.next_deadline(), Some(500 * MS + 1));
        assert_eq!(run_clock(&mut m, 3_000), vec![(510, AlertKind::Budget), (1_510, AlertKind::Slow)]);
    }

    #[test]
    fn a_task_that_finishes_in_time_never_alerts() {
        let mut m = monitor(None, None);
        m.task_started(key(0), "quick".into(), 0, Some(1_000 * MS), Some(1_000 * MS));
        assert!(m.due(900 * MS).is_empty());
        m.task_finished(key(0));
        assert!(m.due(10_000 * MS).is_empty());
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn tasks_without_history_or_budget_are_not_watched() {
        let mut m = monitor(None, None);
        assert_eq!(m.task_started(key(0), "new".into(), 0, None, None), None);
        assert_eq!(m.task_started(key(1), "zero".into(), 0, Some(0), None), None);
        assert!(m.due(u64::MAX / 2).is_empty());
    }

    #[test]
    fn each_task_is_timed_from_its_own_start() {
        let mut m = monitor(None, None);
        m.task_started(key(0), "a".into(), 0, None, Some(100 * MS));
        m.task_started(key(1), "b".into(), 1_000 * MS, None, Some(100 * MS));
        assert_eq!(m.next_deadline(), Some(100 * MS + 1));
        let fired: Vec<_> = m.due(200 * MS).into_iter().map(|a| a.name).collect();
        assert_eq!(fired, vec![Some(Arc::from("a"))]);
        assert_eq!(m.next_deadline(), Some(1_100 * MS + 1));
    }

    #[test]
    fn low_disk_fires_once_until_it_recovers_past_the_margin() {
        let mut m = monitor(None, Some(1_000 * MIB));
        let disk = |m: &mut AlertMonitor, t: u64, free: u64| m.machine(t, None, Some(free * MIB)).len();
        assert_eq!(disk(&mut m, 1, 2_000), 0);
        assert_eq!(disk(&mut m, 2, 900), 1);
        assert_eq!(disk(&mut m, 3, 800), 0, "still low: said already");
        assert_eq!(disk(&mut m, 4, 1_050), 0, "above the threshold but inside the margin");
        assert_eq!(disk(&mut m, 5, 950), 0, "not recovered, so not again");
        assert_eq!(disk(&mut m, 6, 1_100), 0, "recovered: armed again");
        assert_eq!(disk(&mut m, 7, 999), 1);
    }

    #[test]
    fn low_memory_alert_says_how_low() {
        let mut m = monitor(Some(500 * MIB), None);
        let alerts = m.machine(7, Some(312 * MIB), Some(1));
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!((alert.t_us, alert.kind, alert.name.clone()), (7, AlertKind::Memory, None));
        assert_eq!(alert.message, "available memory is 312 MiB, below min_free_memory = 500 MiB");
        assert!((alert.value - (312 * MIB) as f64).abs() < 1.0);
        assert!(m.machine(8, None, None).is_empty(), "an unmeasured figure changes nothing");
        assert!(m.machine(9, Some(100 * MIB), None).is_empty());
    }

    #[test]
    fn unset_thresholds_never_fire() {
        let mut m = monitor(None, None);
        assert!(m.machine(1, Some(0), Some(0)).is_empty());
    }
}
