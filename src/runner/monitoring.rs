//! [`Monitoring`]: the runner's side of sampling and alerts.
//!
//! It starts the [`Sampler`] thread, tells it which attempts run, turns its ticks
//! into `Sample` events (only for attempts still running: a tick taken just before
//! an attempt ended arrives after its `AttemptFinished` and must not outlive it),
//! keeps each running attempt's peaks for its `AttemptFinished`, and asks the pure
//! [`AlertMonitor`] what to alert about: machine alerts on each tick, task alerts
//! when the runner's alert timer fires (so a task over budget is flagged while it
//! still runs, whatever the sampling interval).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};
use tokio::sync::mpsc;
use volley_core::alerts::AlertMonitor;
use volley_core::event::{Event, TaskKey, TaskSample};
use volley_core::model;

use crate::sample::{Sampler, Tick, system_reader};

/// How to monitor a run.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// `settings.sample_interval`; zero turns sampling off (alerts on tasks still work).
    pub sample_interval: Duration,
    pub alerts: model::Alerts,
    /// Free disk space is measured on the file system holding this directory.
    pub state_dir: PathBuf,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            sample_interval: model::Settings::DEFAULT_SAMPLE_INTERVAL,
            alerts: model::Alerts::default(),
            state_dir: PathBuf::from(model::Settings::DEFAULT_STATE_DIR),
        }
    }
}

/// What the samples saw of one attempt: peak summed RSS, and the largest IO
/// counters (cumulative, so the last sample is normally the largest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peaks {
    pub rss_bytes: Option<u64>,
    pub read_bytes: Option<u64>,
    pub written_bytes: Option<u64>,
}

pub struct Monitoring {
    sampler: Option<Sampler>,
    ticks: Option<mpsc::UnboundedReceiver<Tick>>,
    alerts: AlertMonitor,
    /// Every running attempt, with what its samples showed so far.
    running: HashMap<(TaskKey, u32), Peaks>,
}

impl Monitoring {
    /// Starts sampling when it is on and this system can sample. The second value
    /// is a warning for the user when sampling should run but cannot (the run goes
    /// on without samples).
    pub fn new(options: &MonitorOptions) -> (Self, Option<String>) {
        let mut monitoring = Monitoring {
            sampler: None,
            ticks: None,
            alerts: AlertMonitor::new(&options.alerts),
            running: HashMap::new(),
        };
        if options.sample_interval.is_zero() {
            return (monitoring, None);
        }
        let Some(reader) = system_reader(options.state_dir.clone()) else { return (monitoring, None) };
        let (tx, rx) = mpsc::unbounded_channel();
        match Sampler::start(options.sample_interval, reader, tx) {
            Ok(sampler) => {
                monitoring.sampler = Some(sampler);
                monitoring.ticks = Some(rx);
                (monitoring, None)
            }
            Err(e) => (monitoring, Some(format!("resource sampling is off: cannot start its thread: {e}"))),
        }
    }

    pub fn attempt_started(&mut self, key: TaskKey, attempt: u32, name: &Arc<str>, pid: u32) {
        self.running.insert((key, attempt), Peaks::default());
        if let Some(sampler) = &self.sampler {
            sampler.track(key, attempt, name.clone(), pid);
        }
    }

    /// The attempt ended: what its samples saw.
    pub fn attempt_finished(&mut self, key: TaskKey, attempt: u32) -> Peaks {
        if let Some(sampler) = &self.sampler {
            sampler.untrack(key, attempt);
        }
        self.running.remove(&(key, attempt)).unwrap_or_default()
    }

    /// A task (or instance) started its first attempt; returns when (µs since the
    /// run started) to look for task alerts, if ever.
    pub fn task_started(
        &mut self,
        key: TaskKey,
        name: Arc<str>,
        t_us: u64,
        expected: Option<Duration>,
        budget: Option<Duration>,
    ) -> Option<u64> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.alerts.task_started(key, name, t_us, expected.map(micros), budget.map(micros))
    }

    pub fn task_finished(&mut self, key: TaskKey) {
        self.alerts.task_finished(key);
    }

    /// Task alerts due now, and when to look again.
    pub fn due(&mut self, t_us: u64) -> (Vec<Event>, Option<u64>) {
        let events = self.alerts.due(t_us).into_iter().map(Event::Alert).collect();
        (events, self.alerts.next_deadline())
    }

    /// The next tick from the sampler; never resolves when sampling is off.
    pub async fn next_tick(&mut self) -> Option<Tick> {
        match &mut self.ticks {
            Some(ticks) => ticks.recv().await,
            None => std::future::pending().await,
        }
    }

    /// A tick taken `t_us` after the run started, as events: the sample, then any
    /// machine alerts. Nothing when no attempt runs any more.
    pub fn on_tick(&mut self, tick: Tick, t_us: u64) -> Vec<Event> {
        if self.running.is_empty() {
            return Vec::new();
        }
        let mut tasks = Vec::with_capacity(tick.tasks.len());
        for sample in tick.tasks {
            let Some(peaks) = self.running.get_mut(&(sample.key, sample.attempt)) else { continue };
            peaks.rss_bytes = peaks.rss_bytes.max(Some(sample.rss_bytes));
            peaks.read_bytes = peaks.read_bytes.max(sample.read_bytes);
            peaks.written_bytes = peaks.written_bytes.max(sample.written_bytes);
            tasks.push(TaskSample {
                key: sample.key,
                name: sample.name,
                cpu_percent: sample.cpu_percent,
                rss_bytes: sample.rss_bytes,
                read_bytes: sample.read_bytes,
                written_bytes: sample.written_bytes,
            });
        }
        let machine = tick.machine;
        let mut events = vec![Event::Sample {
            t_us,
            tasks,
            mem_available_bytes: machine.mem_available,
            disk_free_bytes: machine.disk_free,
            load1: machine.load1,
        }];
        events.extend(
            self.alerts.machine(t_us, machine.mem_available, machine.disk_free).into_iter().map(Event::Alert),
        );
        events
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use volley_core::graph::UnitId;

    use super::*;
    use crate::sample::{Machine, TreeSample};

    fn key(unit: u32) -> TaskKey {
        TaskKey { unit: UnitId(unit), instance: 0 }
    }

    fn sample(unit: u32, attempt: u32, rss: u64, read: Option<u64>) -> TreeSample {
        TreeSample {
            key: key(unit),
            attempt,
            name: Arc::from(format!("t{unit}")),
            cpu_percent: 50.0,
            rss_bytes: rss,
            read_bytes: read,
            written_bytes: read,
        }
    }

    fn off(alerts: model::Alerts) -> Monitoring {
        let options = MonitorOptions { sample_interval: Duration::ZERO, alerts, ..MonitorOptions::default() };
        Monitoring::new(&options).0
    }

    fn tick(tasks: Vec<TreeSample>, disk_free: u64) -> Tick {
        Tick {
            at: Instant::now(),
            tasks,
            machine: Machine { mem_available: Some(1 << 30), disk_free: Some(disk_free), load1: Some(1.0) },
        }
    }

    #[test]
    fn peaks_are_kept_per_attempt_and_late_samples_are_dropped() {
        let mut m = off(model::Alerts::default());
        let name: Arc<str> = "t0".into();
        m.attempt_started(key(0), 1, &name, 100);
        m.on_tick(tick(vec![sample(0, 1, 300, Some(10))], 1 << 40), 1);
        let events = m.on_tick(tick(vec![sample(0, 1, 200, Some(40)), sample(0, 2, 999, None)], 1 << 40), 2);
        let Event::Sample { tasks, .. } = &events[0] else { panic!("a sample: {events:?}") };
        assert_eq!(tasks.len(), 1, "attempt 2 is not running: its sample is dropped");
        let peaks = m.attempt_finished(key(0), 1);
        assert_eq!(peaks, Peaks { rss_bytes: Some(300), read_bytes: Some(40), written_bytes: Some(40) });
        assert!(m.on_tick(tick(vec![sample(0, 1, 500, None)], 1 << 40), 3).is_empty(), "nothing runs");
        assert_eq!(m.attempt_finished(key(0), 1), Peaks::default());
    }

    #[test]
    fn machine_alerts_follow_the_sample_they_come_from() {
        let alerts = model::Alerts { min_free_disk: Some(1 << 50), ..model::Alerts::default() };
        let mut m = off(alerts);
        m.attempt_started(key(0), 1, &"t0".into(), 100);
        let events = m.on_tick(tick(vec![sample(0, 1, 1, None)], 1 << 30), 7);
        assert!(matches!(events[0], Event::Sample { t_us: 7, .. }));
        assert!(matches!(&events[1], Event::Alert(a) if a.t_us == 7 && a.message.contains("min_free_disk")));
        assert_eq!(m.on_tick(tick(vec![], 1 << 30), 8).len(), 1, "the disk alert is said once");
    }

    #[test]
    fn task_alerts_come_from_the_timer_not_the_samples() {
        let mut m = off(model::Alerts::default());
        let at = m.task_started(key(0), "deploy".into(), 1_000, None, Some(Duration::from_millis(300)));
        assert_eq!(at, Some(301_001));
        let (events, next) = m.due(301_001);
        assert_eq!(events.len(), 1);
        assert_eq!(next, None);
    }
}
