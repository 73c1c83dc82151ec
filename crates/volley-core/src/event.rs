//! The event vocabulary: the only thing the runner produces. The terminal reporter,
//! the log writer, the summary, the `--events` JSON-lines writer and (later) the
//! recorder all consume these and nothing else.
//!
//! Versioned: [`EVENT_FORMAT_VERSION`] is written in every JSON line. Add fields and
//! variants freely; renaming or removing one bumps the version. Times are supplied by
//! the runner (the core reads no clock): `t_us` is microseconds since the run started
//! on a monotonic clock; `RunStarted::started_at_us` anchors it to wall-clock time.

use std::sync::Arc;

use serde::Serialize;

use crate::graph::UnitId;

pub const EVENT_FORMAT_VERSION: u32 = 1;

/// Identifies one runnable thing: a task (instance 0) or one fan-out instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TaskKey {
    pub unit: UnitId,
    pub instance: u32,
}

impl TaskKey {
    /// The instance number of the step that lists a fan-out task's items
    /// (`for_each.command`): shown and timed like an instance, counted as none.
    pub const LISTING: u32 = u32::MAX;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How one attempt (one try of a task) ended, as seen by the executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AttemptEnd {
    Exited {
        code: i32,
    },
    Signaled {
        signal: i32,
    },
    TimedOut,
    /// Stopped by volley because the run was interrupted.
    Interrupted,
    /// The process could not be started at all.
    SpawnFailed {
        message: String,
    },
}

/// A task's final state in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Succeeded,
    Failed,
    TimedOut,
    /// Not run because something it needs failed.
    Skipped,
    /// Not started because the run was interrupted or stopped starting (fail-fast).
    NotStarted,
    Interrupted,
    Cached,
    Resumed,
}

impl TaskStatus {
    /// Every status with its word in `--events` and the history (serde agrees: tested).
    const WORDS: [(TaskStatus, &'static str); 8] = [
        (TaskStatus::Succeeded, "succeeded"),
        (TaskStatus::Failed, "failed"),
        (TaskStatus::TimedOut, "timed_out"),
        (TaskStatus::Skipped, "skipped"),
        (TaskStatus::NotStarted, "not_started"),
        (TaskStatus::Interrupted, "interrupted"),
        (TaskStatus::Cached, "cached"),
        (TaskStatus::Resumed, "resumed"),
    ];

    pub fn is_success(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Cached | TaskStatus::Resumed)
    }

    pub fn is_failure(self) -> bool {
        matches!(self, TaskStatus::Failed | TaskStatus::TimedOut)
    }

    pub fn word(self) -> &'static str {
        Self::WORDS.iter().find(|(status, _)| *status == self).map_or("", |(_, word)| word)
    }

    /// The status a word (as recorded) stands for; `None` for anything else.
    pub fn from_word(word: &str) -> Option<TaskStatus> {
        Self::WORDS.iter().find(|(_, w)| *w == word).map(|(status, _)| *status)
    }
}

/// The whole run's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Interrupted,
}

impl RunStatus {
    /// Its word in `--events` and the history.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// SPEC §2 exit status.
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Succeeded => 0,
            RunStatus::Failed => 1,
            RunStatus::Interrupted => 130,
        }
    }
}

/// A task as planned at the start of a run (fan-out instances appear when they start).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTask {
    pub unit: UnitId,
    pub name: Arc<str>,
    pub deps: Vec<UnitId>,
    /// Median duration from history, if any.
    pub expected_us: Option<u64>,
    /// The pool it takes a token from.
    pub pool: Option<PlannedPool>,
    /// Most of its instances running at once (a fan-out task's `jobs`).
    pub cap: Option<usize>,
}

impl PlannedTask {
    /// A task with no dependencies, history, pool or cap; set those with `..`.
    #[must_use]
    pub fn new(unit: UnitId, name: Arc<str>) -> Self {
        PlannedTask { unit, name, deps: Vec::new(), expected_us: None, pool: None, cap: None }
    }
}

/// A pool of `settings.pools`, as a planned task names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPool {
    pub name: Arc<str>,
    /// Most tasks holding one of its tokens at once.
    pub limit: usize,
}

/// Complete lines of output: every line ends with `\n` (a final partial line and the
/// pieces of an over-long line get one). Bytes are as the task wrote them; consumers
/// render invalid UTF-8 lossily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines(pub Vec<u8>);

impl Lines {
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split_inclusive(|b| *b == b'\n').map(|l| l.strip_suffix(b"\n").unwrap_or(l))
    }
}

impl Serialize for Lines {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        for line in self.iter() {
            seq.serialize_element(&String::from_utf8_lossy(line))?;
        }
        seq.end()
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: Arc<str>,
        /// volley's own command line.
        command: Vec<String>,
        jobs: usize,
        /// Wall-clock start, microseconds since the Unix epoch.
        started_at_us: i64,
        tasks: Vec<PlannedTask>,
        dry_run: bool,
    },
    /// A fan-out task's items are known; `count` instances will follow.
    InstancesPlanned {
        t_us: u64,
        unit: UnitId,
        name: Arc<str>,
        count: u32,
    },
    AttemptStarted {
        t_us: u64,
        key: TaskKey,
        name: Arc<str>,
        /// 1-based.
        attempt: u32,
        /// 0-based slot (lane) the attempt occupies.
        slot: u32,
        pid: u32,
        /// Usual duration from history, for the footer.
        expected_us: Option<u64>,
    },
    Output {
        t_us: u64,
        key: TaskKey,
        name: Arc<str>,
        stream: Stream,
        lines: Lines,
    },
    AttemptFinished {
        t_us: u64,
        key: TaskKey,
        name: Arc<str>,
        attempt: u32,
        end: AttemptEnd,
        success: bool,
        duration_us: u64,
        cpu_user_us: u64,
        cpu_system_us: u64,
        /// Another attempt follows after this delay.
        retry_in_us: Option<u64>,
        /// Peak summed RSS of the attempt's process tree over its samples; `None` when
        /// no sample saw it (sampling off, or shorter than one `sample_interval`).
        peak_rss_bytes: Option<u64>,
        /// Storage bytes read and written by the tree, as last sampled (`None` as above,
        /// or where `/proc/<pid>/io` is unreadable).
        read_bytes: Option<u64>,
        written_bytes: Option<u64>,
        /// Time it was ready but waited for a slot (first attempt; 0 for retries,
        /// which keep their slot).
        wait_us: u64,
    },
    TaskFinished {
        t_us: u64,
        key: TaskKey,
        name: Arc<str>,
        status: TaskStatus,
        /// From the first attempt's start to the last attempt's end (0 if never started).
        duration_us: u64,
        attempts: u32,
        /// Failed, but `allow_failure` keeps the run green.
        allowed_failure: bool,
        /// Succeeded after at least one failed attempt.
        flaky: bool,
        /// For `Skipped`: the failed task it needed.
        needs: Option<Arc<str>>,
        /// The task's log file, if one was written.
        log: Option<String>,
    },
    /// First interrupt: nothing new starts, running tasks are being stopped.
    Interrupting {
        t_us: u64,
        signal: String,
    },
    /// One sampling pass: every running attempt's process tree, and the machine.
    Sample {
        t_us: u64,
        tasks: Vec<TaskSample>,
        /// `MemAvailable` from `/proc/meminfo`.
        mem_available_bytes: Option<u64>,
        /// Free space (for unprivileged users) of the file system holding the state dir.
        disk_free_bytes: Option<u64>,
        load1: Option<f64>,
    },
    /// A condition worth a person's attention; the run goes on.
    Alert(Alert),
    /// Something volley could not do that does not fail the run.
    Warning {
        t_us: u64,
        message: String,
    },
    RunFinished {
        t_us: u64,
        status: RunStatus,
        wall_us: u64,
    },
}

/// One running attempt's process tree in a [`Event::Sample`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSample {
    pub key: TaskKey,
    pub name: Arc<str>,
    /// CPU time of the tree over the last interval ÷ the interval (200 = two cores busy).
    pub cpu_percent: f64,
    /// Summed resident memory of the tree's processes.
    pub rss_bytes: u64,
    /// Cumulative storage bytes of the tree (`/proc/<pid>/io`); `None` where unreadable.
    pub read_bytes: Option<u64>,
    pub written_bytes: Option<u64>,
}

/// What an [`Alert`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Available memory below `alerts.min_free_memory`.
    Memory,
    /// Free disk below `alerts.min_free_disk`.
    Disk,
    /// A task running longer than `alerts.slow_factor` × its usual duration.
    Slow,
    /// A task running longer than its `budget`.
    Budget,
}

impl AlertKind {
    /// The word used in `--events`, the history and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Memory => "memory",
            AlertKind::Disk => "disk",
            AlertKind::Slow => "slow",
            AlertKind::Budget => "budget",
        }
    }
}

/// An alert as shown live and recorded. `value` and `threshold` are in the
/// condition's unit: bytes for memory and disk, microseconds for slow and budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub t_us: u64,
    pub kind: AlertKind,
    /// The task, for `slow` and `budget`.
    pub name: Option<Arc<str>>,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
}

/// One JSON line of the `--events` stream.
#[derive(Serialize)]
pub struct EventLine<'a> {
    pub version: u32,
    #[serde(flatten)]
    pub event: &'a Event,
}

impl<'a> EventLine<'a> {
    pub fn new(event: &'a Event) -> Self {
        EventLine { version: EVENT_FORMAT_VERSION, event }
    }
}

/// A consumer of the event stream (terminal, log files, --events writer, recorder).
pub trait EventSink {
    fn event(&mut self, event: &Event);
    /// Called once after `RunFinished` (or on abort): flush everything.
    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::{RunStatus, TaskStatus};

    #[test]
    fn status_words_are_the_serialized_names_and_read_back() {
        for (status, word) in TaskStatus::WORDS {
            assert_eq!(status.word(), word);
            assert_eq!(TaskStatus::from_word(word), Some(status));
            assert_eq!(serde_json::to_string(&status).expect("json"), format!("\"{word}\""));
        }
        assert_eq!(TaskStatus::from_word("unfinished"), None);
        for status in [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Interrupted] {
            assert_eq!(serde_json::to_string(&status).expect("json"), format!("\"{}\"", status.word()));
        }
    }
}
