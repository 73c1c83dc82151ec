//! The validated project: what the user declared in `volley.toml`, after every check
//! has passed. Produced only by [`crate::config`]; consumed by everything else.
//!
//! This is the whole schema of SPEC §1 (tasks, services, fan-out, cache inputs,
//! alerts, Slurm), so later features add behaviour, not a new model. It is plain
//! data: no I/O, no clocks. Paths are already resolved against the file's directory.

use std::path::PathBuf;
use std::time::Duration;

/// Everything one `volley.toml` declares.
#[derive(Debug, Clone)]
pub struct Project {
    /// The configuration file.
    pub file: PathBuf,
    /// The directory of the configuration file; relative paths are resolved against it.
    pub root: PathBuf,
    pub settings: Settings,
    /// Tasks in file order.
    pub tasks: Vec<TaskSpec>,
    /// Services in file order.
    pub services: Vec<ServiceSpec>,
    /// Problems that do not stop volley (an empty `for_each.items`, …), ready to render.
    pub warnings: crate::config::Diagnostics,
}

impl Project {
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// `[settings]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Slots: at most this many attempts run at once. `None`: the CPU count.
    pub jobs: Option<usize>,
    /// How `run` strings are executed: the string is appended as the last argument.
    pub shell: Vec<String>,
    pub fail_fast: bool,
    pub kill_timeout: Duration,
    /// `Duration::ZERO` turns sampling off.
    pub sample_interval: Duration,
    /// What `volley run` with no names runs; empty means every task.
    pub default: Vec<String>,
    /// Added to every task's environment, in file order.
    pub env: Vec<(String, String)>,
    /// `KEY=VALUE` files loaded before `env`, resolved against the project root.
    pub dotenv: Vec<DotenvFile>,
    /// Resolved against the project root.
    pub state_dir: PathBuf,
    /// How many runs keep their task logs (`<state_dir>/logs/<run-id>/`), the
    /// running one included.
    pub keep_logs: usize,
    /// Named limits inside the global slots, in file order.
    pub pools: Vec<Pool>,
    pub alerts: Alerts,
    pub executor: ExecutorKind,
}

impl Settings {
    pub const DEFAULT_SHELL: [&str; 2] = ["sh", "-c"];
    pub const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);
    pub const DEFAULT_KEEP_LOGS: usize = 100;
    /// The state directory, beside the project file (or in the directory `volley
    /// exec` runs in) unless `state_dir` names another.
    pub const DEFAULT_STATE_DIR: &str = ".volley";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvFile {
    pub path: PathBuf,
    /// Declared with a leading `?`: a missing file is not an error.
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub limit: usize,
}

/// `[settings.alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// Bytes.
    pub min_free_memory: Option<u64>,
    /// Bytes.
    pub min_free_disk: Option<u64>,
    pub slow_factor: f64,
    pub regression: f64,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts { min_free_memory: None, min_free_disk: None, slow_factor: 1.5, regression: 0.20 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

/// `[tasks.NAME]`: a command that runs to completion.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub name: String,
    pub run: String,
    /// Names of tasks or services, in file order.
    pub deps: Vec<String>,
    pub description: Option<String>,
    /// Working directory, resolved against the project root.
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// Delay before the first retry; doubled before each further one.
    pub retry_delay: Duration,
    pub allow_failure: bool,
    pub success_codes: Vec<i32>,
    pub pool: Option<String>,
    pub budget: Option<Duration>,
    /// Input globs (cache key).
    pub sources: Vec<String>,
    /// Output globs (restored on a cache hit).
    pub outputs: Vec<String>,
    pub for_each: Option<ForEach>,
    /// Cap on this task's own concurrently running instances.
    pub jobs: Option<usize>,
    /// Items per instance (fan-out); 1 unless set.
    pub batch: usize,
    /// `None`: the settings' executor.
    pub executor: Option<ExecutorKind>,
    pub slurm: Option<SlurmSpec>,
}

impl TaskSpec {
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
}

/// Where a fan-out task's items come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForEach {
    Items(Vec<String>),
    /// Run once before the instances; its stdout lines are the items.
    Command(String),
    /// One item per line; resolved against the project root.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlurmSpec {
    pub partition: Option<String>,
    pub cpus: Option<u32>,
    /// As written (`"4G"`), passed to `srun --mem`.
    pub mem: Option<String>,
}

/// `[services.NAME]`: a long-running process.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub run: String,
    pub deps: Vec<String>,
    pub description: Option<String>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// `None`: ready once it has been running for the default probe interval.
    pub ready: Option<Probe>,
    pub stop_signal: Signal,
    /// `None`: the settings' `kill_timeout`.
    pub stop_timeout: Option<Duration>,
    pub restart: RestartPolicy,
    pub max_restarts: u32,
    pub restart_delay: Duration,
    /// Liveness checks after ready.
    pub healthcheck: Option<Probe>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    No,
    OnFailure,
    Always,
}

/// A readiness or liveness probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub check: ProbeCheck,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures tolerated (healthcheck).
    pub retries: u32,
}

impl Probe {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_RETRIES: u32 = 3;
}

#[derive(Debug, Clone)]
pub enum ProbeCheck {
    /// `host:port`.
    Tcp(String),
    Http {
        url: String,
        status: u16,
    },
    /// Matched against each output line of the service.
    Log(regex::Regex),
    /// Exit 0 = ready.
    Command(String),
    Delay(Duration),
}

/// Signals a user may name in `stop_signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signal {
    #[default]
    Term,
    Int,
    Hup,
    Quit,
    Kill,
    Usr1,
    Usr2,
}

impl Signal {
    pub const ALL: [(&str, Signal); 7] = [
        ("TERM", Signal::Term),
        ("INT", Signal::Int),
        ("HUP", Signal::Hup),
        ("QUIT", Signal::Quit),
        ("KILL", Signal::Kill),
        ("USR1", Signal::Usr1),
        ("USR2", Signal::Usr2),
    ];

    /// Accepts `TERM`, `SIGTERM`, `term`.
    pub fn from_name(name: &str) -> Option<Signal> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        Self::ALL.iter().find(|(n, _)| *n == bare).map(|(_, s)| *s)
    }

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("TERM", |(n, _)| n)
    }
}
