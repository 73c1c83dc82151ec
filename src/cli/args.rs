//! The command line, as clap types. Parsing only: no behaviour here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  volley run                     run the default tasks (or every task) in dependency order
  volley run build test -j 4     run `build` and `test` and what they need, 4 at a time
  volley run --keep-going        run everything that does not depend on a failure
  volley run --dry-run           show the order without running anything
  volley check                   validate volley.toml and exit
  volley list                    list the tasks and services of volley.toml
  volley completions bash > /etc/bash_completion.d/volley";

const EXEC_EXAMPLES: &str = "\
Placeholders: {} the item, {.} without extension, {/} basename, {//} directory,
{/.} basename without extension, {#} the item's number, {1} {2} … the item of each
::: group. Items are always shell-quoted. With no placeholder the item is appended.

Examples:
  volley exec -j 4 'gzip -9 {}' ::: *.log
  pip list --outdated --format=freeze | cut -d= -f1 | volley exec -j 5 'pip install -U {}'
  volley exec 'convert {} {.}.png' ::: a.jpg b.jpg
  volley exec 'echo {1}-{2}' ::: a b ::: 1 2          # a-1 a-2 b-1 b-2";

/// A fast, dependency-aware parallel task runner and process orchestrator.
#[derive(Debug, Parser)]
#[command(name = "volley", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// Use this file instead of searching for volley.toml upward from the current directory.
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// When to colour output (`NO_COLOR` is honoured with `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run tasks and everything they depend on.
    Run(RunArgs),
    /// Run one command over many items, in parallel (like GNU parallel).
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
    /// Validate the file and exit (status 2 on any error).
    Check,
    /// Past runs, or one task's durations over time; `--check` gates CI on regressions.
    History(HistoryArgs),
    /// List the tasks and services the file declares.
    List,
    /// The graph in levels, expected durations, the critical path, and the wall time
    /// predicted for N slots by simulating the scheduler on history.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// A `volley run` in progress here, and the services (from any terminal).
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    #[command(about = "A recorded run as text, JSON, CSV, HTML, a Chrome trace or JUnit XML", after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Two recorded runs side by side, task by task, largest difference first.
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Start services (default: all) and what they need, each once its deps are ready.
    #[command(after_help = UP_EXAMPLES)]
    Up(UpArgs),
    /// Stop services (default: all) and what depends on them, in reverse order, in parallel.
    Down(DownArgs),
    /// Output of the services (tagged like `run`); `-f` follows it.
    Logs(LogsArgs),
    /// Stop and start one service (and nothing else).
    Restart(RestartArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Internal: the detached service supervisor started by `volley up -d`.
    #[command(name = "__supervisor", hide = true)]
    Supervisor,
}

const UP_EXAMPLES: &str = "\
Examples:
  volley up                      start every service, stream their output; Ctrl-C stops them
  volley up -d                   start them in the background; returns once all are ready
  volley up -d worker            add `worker` (and what it needs) to the running ones
  volley status                  state, pid, uptime, restarts, probes, CPU and memory
  volley logs -f backend         follow one service's output
  volley down                    stop everything, dependents first";

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start (default: all).
    pub names: Vec<String>,

    /// Detach: a supervisor keeps the services running after volley returns.
    #[arg(short = 'd', long)]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Services to stop, with what depends on them (default: all).
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services whose output to show (default: all).
    pub names: Vec<String>,

    /// Keep printing new lines as they are written (`-f` after `logs` means this,
    /// not `--file`).
    #[arg(short = 'F', long)]
    pub follow: bool,

    /// How many of the last lines of each service to show first.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100)]
    pub lines: usize,

    /// The task logs of a recorded run instead (an id, `last`, `-2`, …); NAMEs are tasks.
    #[arg(long, value_name = "RUN", allow_hyphen_values = true)]
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The service to restart.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Tasks to run (default: `settings.default`, else every task).
    pub tasks: Vec<String>,

    #[command(flatten)]
    pub jobs: JobsArgs,

    /// Keep running everything that does not depend on a failure.
    #[arg(short = 'k', long)]
    pub keep_going: bool,

    /// Print what would run, in order, and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub jobs: JobsArgs,

    /// Stop an item after this long (SIGTERM, then SIGKILL after 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,

    /// Extra attempts for an item that fails.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,

    /// Print results in input order (items still run in parallel).
    #[arg(long)]
    pub keep_order: bool,

    /// What a failure does: `never` runs every item, `soon` starts no new item,
    /// `now` also stops the running ones.
    #[arg(long, value_enum, default_value_t = Halt::Never, value_name = "WHEN")]
    pub halt: Halt,

    #[command(flatten)]
    pub output: OutputArgs,

    /// The command, then `::: ITEM...` groups; without `:::`, items are read from
    /// stdin, one per line.
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A task (or instance) name: its durations over time.
    pub name: Option<String>,

    /// How many runs to show.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// Machine-readable output with stable field names.
    #[arg(long)]
    pub json: bool,

    /// Exit 1 if the last run has a task slower than its baseline (for CI).
    #[arg(long, conflicts_with_all = ["name", "json"])]
    pub check: bool,
}

const REPORT_EXAMPLES: &str = "\
RUN: an id as `volley history` shows it, `last` (default), `-1` (= last), `-2`, …

Examples:
  volley report                          the last run: summary, resources, baseline
  volley report -2 --format json         the run before it, machine-readable
  volley report --format html -o run.html
  volley report 42 --format csv --samples > samples.csv
  volley report --format trace -o trace.json   open in https://ui.perfetto.dev
  volley report --format junit -o junit.xml";

const COMPARE_EXAMPLES: &str = "\
Examples:
  volley compare -2 last         the last run against the one before it
  volley compare 40 42 --json";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run: an id, `last`, `-1`, `-2`, …
    #[arg(default_value = "last", allow_hyphen_values = true, value_name = "RUN")]
    pub run: String,

    /// What to write.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, value_name = "FORMAT")]
    pub format: ReportFormat,

    /// Write to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// CSV: the sampled time series instead of the attempts; JSON: add it.
    #[arg(long)]
    pub samples: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// The summary, per-task resources, alerts and the baseline comparison.
    Text,
    /// Everything, machine-readable (fields documented in the README).
    Json,
    /// One row per task attempt (`--samples`: one per sample).
    Csv,
    /// One self-contained page: timeline, charts, tables.
    Html,
    #[value(help = "Chrome trace-event JSON (Perfetto, chrome://tracing)")]
    Trace,
    #[value(help = "JUnit XML for CI systems")]
    Junit,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The first run (an id, `last`, `-2`, …).
    #[arg(allow_hyphen_values = true, value_name = "A")]
    pub a: String,

    /// The second run.
    #[arg(allow_hyphen_values = true, value_name = "B")]
    pub b: String,

    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

const PLAN_EXAMPLES: &str = "\
Durations are the median of each task's last 10 successful runs; a task with no
history counts as 1s. The prediction runs volley's own scheduler in virtual time.

Examples:
  volley plan                        every task (or settings.default) on the default slots
  volley plan build -j 8             what would -j 8 give me for `build`?
  volley plan --format dot | dot -Tsvg > plan.svg
  volley plan --format mermaid       paste into a Markdown file";

const STATUS_EXAMPLES: &str = "\
Examples:
  volley status                      the run in progress: running tasks, done/total, time left
  volley status --json               the same with stable field names";

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Tasks to plan (default: `settings.default`, else every task).
    pub tasks: Vec<String>,

    #[command(flatten)]
    pub jobs: JobsArgs,

    #[arg(long, value_enum, default_value_t = PlanFormat::Text, value_name = "FORMAT")]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Levels, durations, critical path and predictions for several slot counts.
    Text,
    /// Graphviz (critical path in red).
    Dot,
    /// A Mermaid flowchart (critical path in red).
    Mermaid,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output with stable field names.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Halt {
    Never,
    Soon,
    Now,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    volley_core::config::parse_duration(text)
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Slots: at most N tasks at once (default: `settings.jobs`, else the CPU count).
    #[arg(short = 'j', long = "jobs", env = "VOLLEY_JOBS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,

    /// Run one task at a time (same as -j 1).
    #[arg(long, conflicts_with = "jobs")]
    pub no_parallel: bool,
}

impl JobsArgs {
    pub fn slots(&self) -> Option<usize> {
        if self.no_parallel { Some(1) } else { self.jobs.map(|j| j as usize) }
    }
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// How task output is shown.
    #[arg(long, value_enum, default_value_t = OutputWhen::Prefixed, value_name = "MODE")]
    pub output: OutputWhen,

    /// `auto`: a live footer when stderr is a terminal; `plain`: never.
    #[arg(long, value_enum, default_value_t = ProgressWhen::Auto, value_name = "MODE")]
    pub progress: ProgressWhen,

    /// Write every event as JSON lines to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputWhen {
    /// Each line as it arrives, as `name | line`.
    Prefixed,
    /// A task's output as one block when it ends.
    Grouped,
    /// Only status lines and the summary.
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressWhen {
    Auto,
    Plain,
}
