//! `volley run`: load, plan, wire the sinks, drive the runner, map the result.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use volley_core::event::EventSink;
use volley_core::model::Project;
use volley_core::simulate::simulate;

use super::args::{Cli, OutputArgs, OutputWhen, ProgressWhen, RunArgs};
use super::{CliError, color_choice, exit, project};
use crate::exec::{OUTPUT_BACKLOG_LIMIT, OutputBacklog, WatchdogLink};
use crate::record;
use crate::runner::{self, BaseEnv, MonitorOptions, PlanError, RunOptions, RunPlan, Runner, Selection};
use crate::ui::{self, EventsWriter, OutputMode, TerminalOptions, TerminalReporter};

pub fn run(cli: &Cli, args: &RunArgs) -> Result<i32, CliError> {
    // First, while volley has one thread and little memory (see `fork_watchdog`); a
    // dry run starts no process.
    let early_watchdog = (!args.dry_run).then(fork_watchdog);
    let color_stderr = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let file = project::locate(cli.file.as_deref())?;
    // A run reads its history through the connection it records with, opened while
    // the file is parsed; a dry run reads it read-only and leaves nothing behind.
    let prefetch = (!args.dry_run).then(|| record::HistoryPrefetch::start(project::default_state_dir(&file)));
    let project = project::load_file(file, color_stderr)?;
    let selection =
        Selection { names: args.tasks.clone(), jobs: args.jobs.slots(), keep_going: args.keep_going };
    let names = project.tasks.iter().map(|t| t.name.as_str());
    let history = prefetch.and_then(|p| p.finish(&project.settings.state_dir));
    let expected = match &history {
        Some(history) => history.expectations(names),
        None => record::expectations(&project.settings.state_dir, names),
    };
    let plan = runner::build(&project, &selection, &expected).map_err(|e| plan_error(&e))?;
    if args.dry_run {
        print!("{}", dry_run(&project, &plan));
        return Ok(exit::SUCCESS);
    }
    let base_env = BaseEnv::load(&project).map_err(|e| CliError::usage(e.to_string()))?;
    let settings = DriveSettings {
        watchdog: early_watchdog.unwrap_or_else(fork_watchdog),
        shell: project.settings.shell.clone(),
        kill_timeout: project.settings.kill_timeout,
        state_dir: project.settings.state_dir.clone(),
        keep_logs: Some(project.settings.keep_logs),
        halt_now: false,
        keep_order: false,
        monitor: MonitorOptions {
            sample_interval: project.settings.sample_interval,
            alerts: project.settings.alerts.clone(),
            state_dir: project.settings.state_dir.clone(),
        },
    };
    // Services the tasks need are ready before the first task and stopped after the
    // last one (unless a `volley up` supervisor owns them); the run records them.
    let run_id = new_run_id();
    let services = runner::RunServices::start(&project, &plan.services, &base_env, &run_id)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let result = drive(cli, &args.output, plan, base_env, settings, history, &run_id);
    services.stop();
    result
}

/// Overrides `settings.sample_interval` (also for `volley exec`, which has no file).
const SAMPLE_INTERVAL_VAR: &str = "VOLLEY_SAMPLE_INTERVAL";

/// Forks the orphan watchdog ([`WatchdogLink::fork`]). Commands that run tasks call
/// it first: volley must still have a single thread, and the less memory it has, the
/// fewer of its pages are copied on write while the watchdog lives. A failure is
/// the run's first warning; the run goes on unprotected.
pub(super) fn fork_watchdog() -> Result<WatchdogLink, String> {
    WatchdogLink::fork_or_warning("tasks")
}

/// How to drive a planned run, beyond the plan itself.
pub(super) struct DriveSettings {
    /// From [`fork_watchdog`].
    pub watchdog: Result<WatchdogLink, String>,
    pub shell: Vec<String>,
    pub kill_timeout: Duration,
    pub state_dir: std::path::PathBuf,
    /// How many runs keep their task logs, this one included; `None`: all.
    pub keep_logs: Option<usize>,
    pub halt_now: bool,
    pub keep_order: bool,
    /// Sampling and alerts; `VOLLEY_SAMPLE_INTERVAL` overrides the interval.
    pub monitor: MonitorOptions,
}

/// Wires the sinks, runs the event loop on a current-thread runtime, and returns
/// the exit status. Shared by `run` and `exec`. `history`: opened already (to plan
/// with), or opened by the recorder; `run_id`: from [`new_run_id`].
pub(super) fn drive(
    cli: &Cli,
    output: &OutputArgs,
    plan: RunPlan,
    base_env: BaseEnv,
    settings: DriveSettings,
    history: Option<record::History>,
    run_id: &str,
) -> Result<i32, CliError> {
    let mut monitor = settings.monitor;
    if let Some(interval) = std::env::var_os(SAMPLE_INTERVAL_VAR) {
        let text = interval.to_string_lossy();
        monitor.sample_interval = volley_core::config::parse_duration(&text).map_err(|e| {
            CliError::usage(format!("{SAMPLE_INTERVAL_VAR}={text}: {e}"))
                .with_help("a duration such as `250ms` or `1s`; `0s` turns sampling off")
        })?;
    }
    let log_dir = settings.state_dir.join("logs").join(run_id);
    let backlog = Arc::new(OutputBacklog::new(OUTPUT_BACKLOG_LIMIT));
    let logs = crate::logs::LogWriter::new(log_dir.clone(), settings.keep_logs);
    let mut sinks = sinks(cli, output, logs, settings.keep_order, &backlog)?;
    sinks.push(Box::new(match history {
        Some(history) => record::Recorder::start_with(history),
        None => record::Recorder::start(settings.state_dir.clone()),
    }));
    let options = RunOptions {
        run_id: Arc::from(run_id),
        command_line: std::env::args().collect(),
        started_at_us: jiff::Timestamp::now().as_microsecond(),
        shell: settings.shell,
        kill_timeout: settings.kill_timeout,
        log_dir: Some(log_dir),
        output_backlog: backlog,
        halt_now: settings.halt_now,
        monitor,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the event loop: {e}")))?;
    let status = runtime
        .block_on(async {
            let runner = Runner::new(plan, options, settings.watchdog, base_env, &mut sinks)?;
            runner.run().await
        })
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    Ok(status.exit_code())
}

fn sinks(
    cli: &Cli,
    output: &OutputArgs,
    logs: crate::logs::LogWriter,
    keep_order: bool,
    backlog: &Arc<OutputBacklog>,
) -> Result<Vec<Box<dyn EventSink>>, CliError> {
    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    let events_to_stdout = output.events.as_deref().is_some_and(|p| p.as_os_str() == "-");
    // With `--events -`, stdout belongs to the JSON stream: no human output there.
    if !events_to_stdout {
        let mode = match output.output {
            OutputWhen::Prefixed => OutputMode::Prefixed,
            OutputWhen::Grouped => OutputMode::Grouped,
            OutputWhen::Quiet => OutputMode::Quiet,
        };
        let color = ui::resolve_color(color_choice(cli.color), std::io::stdout().is_terminal());
        let footer = output.progress == ProgressWhen::Auto && std::io::stderr().is_terminal();
        let terminal: Box<dyn EventSink> = Box::new(TerminalReporter::new(
            TerminalOptions { mode, color, footer, summary: true },
            Some(Arc::clone(backlog)),
        ));
        sinks.push(if keep_order {
            Box::new(ui::KeepOrder::new(terminal, Some(Arc::clone(backlog))))
        } else {
            terminal
        });
    }
    sinks.push(Box::new(logs));
    if let Some(path) = &output.events {
        let writer = EventsWriter::open(path)
            .map_err(|e| CliError::usage(format!("cannot write events to {}: {e}", path.display())))?;
        sinks.push(Box::new(writer));
    }
    Ok(sinks)
}

pub(super) fn plan_error(error: &PlanError) -> CliError {
    let help = error.help();
    let cli_error = CliError::usage(error.to_string());
    match help {
        Some(help) => cli_error.with_help(help),
        None => cli_error,
    }
}

/// `YYYYMMDD-HHMMSS-xxxx` in UTC: sortable, readable, unique per process. UTC, because
/// finding the local zone makes jiff walk the whole zoneinfo tree, a few milliseconds
/// of every run's start-up.
pub(super) fn new_run_id() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let nanos = now.timestamp().subsec_nanosecond().unsigned_abs();
    let salt = (std::process::id() ^ nanos.rotate_left(7)) & 0xffff;
    format!("{}-{salt:04x}", now.strftime("%Y%m%d-%H%M%S"))
}

/// The order the scheduler would start tasks in, from a simulation of the real
/// scheduler; with history, the predicted timeline too.
fn dry_run(project: &Project, plan: &RunPlan) -> String {
    use std::fmt::Write;
    let known = plan
        .execs
        .iter()
        .enumerate()
        .filter(|(i, _)| plan.units[*i].included)
        .all(|(_, e)| e.expected.is_some());
    let durations: Vec<Duration> = (0..plan.graph.len())
        .map(|i| plan.execs.get(i).and_then(|e| e.expected).unwrap_or(Duration::from_secs(1)))
        .collect();
    let timeline = simulate(&plan.graph, plan.units.clone(), plan.limits.clone(), &durations);
    let mut entries = timeline.entries.clone();
    entries.sort_by_key(|e| (e.start, e.slot));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "would run {} task{} on {} slot{} (nothing is run with --dry-run):",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        plan.limits.slots,
        if plan.limits.slots == 1 { "" } else { "s" }
    );
    let width = entries.iter().map(|e| plan.graph.name(e.key.unit).len()).max().unwrap_or(0);
    for (n, entry) in entries.iter().enumerate() {
        let exec = &plan.execs[entry.key.unit.index()];
        let first_line = exec.run.lines().next().unwrap_or("");
        let more = if exec.run.trim_end().contains('\n') { " …" } else { "" };
        if known {
            let _ = writeln!(
                out,
                "{:>4}. {:<width$}  at {:>7}  {first_line}{more}",
                n + 1,
                exec.name,
                ui::format_duration(entry.start)
            );
        } else {
            let _ = writeln!(out, "{:>4}. {:<width$}  {first_line}{more}", n + 1, exec.name);
        }
    }
    if known {
        let _ = writeln!(out, "predicted wall time: {}", ui::format_duration(timeline.makespan));
    } else {
        let _ = writeln!(out, "no timing history yet for {}: order only", project.file.display());
    }
    out
}
