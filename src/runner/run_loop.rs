//! [`Runner`]: drives one run from the first start to the last exit.
//!
//! The loop is: start everything the scheduler allows; wait for the next thing to
//! happen (a process event, a timer, a signal); tell the scheduler; repeat. It is the
//! only place that knows about both processes and scheduling decisions, and it never
//! prints: it emits events. A slot stays held by an instance across retry delays.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use volley_core::event::{
    AttemptEnd, Event, EventSink, PlannedPool, PlannedTask, RunStatus, Stream, TaskKey,
};
use volley_core::graph::UnitId;
use volley_core::schedule::{Scheduler, Work};

use super::direct::{DirectExec, Launch};
use super::env::BaseEnv;
use super::fanout::FanOut;
use super::monitoring::{MonitorOptions, Monitoring};
use super::plan::RunPlan;
use super::timers::{Timer, Timers};
use crate::exec::{ExecEvent, LocalExecutor, OutputBacklog, WatchdogLink};

mod finishing;
mod stopping;

/// Everything about a run that is not the plan.
#[derive(Debug)]
pub struct RunOptions {
    pub run_id: Arc<str>,
    /// volley's own command line, for the record.
    pub command_line: Vec<String>,
    /// Wall-clock start, µs since the Unix epoch.
    pub started_at_us: i64,
    /// The shell, program first; the `run` string is appended.
    pub shell: Vec<String>,
    pub kill_timeout: Duration,
    /// Where per-task logs go, for the paths reported in events.
    pub log_dir: Option<PathBuf>,
    /// The terminal's backlog: the tasks' output is not read while it is full.
    pub output_backlog: Arc<OutputBacklog>,
    /// On the first failure, stop running tasks too (`volley exec --halt now`).
    pub halt_now: bool,
    /// Resource sampling and alerts.
    pub monitor: MonitorOptions,
}

/// One instance that holds a slot: running, or waiting to retry.
#[derive(Debug)]
struct Holder {
    name: Arc<str>,
    /// The command this instance runs (rendered once, reused by retries).
    command: Arc<str>,
    /// `Some` while this holder lists a fan-out task's items: its stdout so far.
    listing: Option<Vec<u8>>,
    attempt: u32,
    slot: u32,
    first_start: Instant,
    attempt_start: Instant,
    /// How long it was ready before it got its slot.
    wait_us: u64,
    /// `None` while waiting for a retry.
    running: bool,
    timed_out: bool,
    interrupted: bool,
    /// Its log file has been written to: it printed, or was retried (the log writer
    /// heads every later attempt). Silent tasks have no log file.
    logged: bool,
}

pub struct Runner<'s> {
    plan: RunPlan,
    options: RunOptions,
    scheduler: Scheduler,
    executor: LocalExecutor,
    exec_events: mpsc::UnboundedReceiver<ExecEvent>,
    sinks: &'s mut [Box<dyn EventSink>],
    base_env: BaseEnv,
    shell_program: PathBuf,
    /// Set when commands that are only words may skip the shell.
    direct: Option<DirectExec>,
    start: Instant,
    holders: HashMap<TaskKey, Holder>,
    timers: Timers,
    interrupts: u32,
    failed: bool,
    monitoring: Monitoring,
    /// Set if sampling could not start, for a warning once the run has started.
    monitoring_warning: Option<String>,
    watchdog_warning: Option<String>,
    /// When each unit's last instance (or task) finished, and when a fan-out's items
    /// were listed: a unit is ready once its dependencies are done (and its items known).
    done_at: HashMap<UnitId, Instant>,
    listed_at: HashMap<UnitId, Instant>,
    /// While handling finished attempts: their events, held back until the tasks they
    /// made ready have been started (see [`Runner::on_exec_events`]).
    deferred: Option<Vec<Event>>,
}

impl<'s> Runner<'s> {
    /// Must be called inside a tokio runtime (the executor registers pipe readers).
    /// `watchdog`: the orphan guard (forked before volley's first thread), or why
    /// there is none, which becomes the run's first warning.
    pub fn new(
        plan: RunPlan,
        options: RunOptions,
        watchdog: Result<WatchdogLink, String>,
        base_env: BaseEnv,
        sinks: &'s mut [Box<dyn EventSink>],
    ) -> std::io::Result<Self> {
        let shell_name = options.shell.first().map_or("sh", String::as_str);
        let shell_program = crate::exec::resolve_program(shell_name, base_env.path_var())?;
        let (tx, exec_events) = mpsc::unbounded_channel();
        let (watchdog, watchdog_warning) = match watchdog {
            Ok(mut link) => {
                link.mark_run(&options.run_id);
                (Some(link), None)
            }
            Err(warning) => (None, Some(warning)),
        };
        let mut executor = LocalExecutor::new(tx, watchdog)?;
        executor.hold_output_for(Arc::clone(&options.output_backlog));
        let scheduler = Scheduler::new(&plan.graph, plan.units.clone(), plan.limits.clone(), plan.policy);
        let (monitoring, monitoring_warning) = Monitoring::new(&options.monitor);
        let direct = DirectExec::for_shell(&options.shell);
        Ok(Runner {
            plan,
            options,
            scheduler,
            executor,
            exec_events,
            sinks,
            base_env,
            shell_program,
            direct,
            start: Instant::now(),
            holders: HashMap::new(),
            timers: Timers::default(),
            interrupts: 0,
            failed: false,
            monitoring,
            monitoring_warning,
            watchdog_warning,
            done_at: HashMap::new(),
            listed_at: HashMap::new(),
            deferred: None,
        })
    }

    pub async fn run(mut self) -> std::io::Result<RunStatus> {
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        self.start = Instant::now();
        // First, so that the recorder's first commit overlaps the spawns.
        self.emit_run_started();
        for message in [self.watchdog_warning.take(), self.monitoring_warning.take()].into_iter().flatten() {
            let t_us = self.t_us();
            self.emit(&Event::Warning { t_us, message });
        }
        loop {
            self.start_ready();
            if self.scheduler.is_finished() && self.holders.is_empty() {
                break;
            }
            let deadline = self.timers.next_deadline();
            tokio::select! {
                event = self.exec_events.recv() => {
                    if let Some(event) = event {
                        self.on_exec_events(event);
                    }
                }
                () = sleep_until(deadline) => self.fire_due_timers(),
                Some(tick) = self.monitoring.next_tick() => {
                    let t_us = tick.at.saturating_duration_since(self.start.into_std()).as_micros() as u64;
                    for event in self.monitoring.on_tick(tick, t_us) {
                        self.emit(&event);
                    }
                }
                _ = sigint.recv() => self.on_interrupt("SIGINT"),
                _ = sigterm.recv() => self.on_interrupt("SIGTERM"),
                _ = sighup.recv() => self.on_interrupt("SIGHUP"),
            }
        }
        self.report_not_started();
        let status = if self.interrupts > 0 {
            RunStatus::Interrupted
        } else if self.failed {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        let t_us = self.t_us();
        self.emit(&Event::RunFinished { t_us, status, wall_us: t_us });
        for sink in self.sinks.iter_mut() {
            sink.finish();
        }
        Ok(status)
    }

    fn t_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn emit(&mut self, event: &Event) {
        if let Some(deferred) = &mut self.deferred
            && !matches!(event, Event::Output { .. })
        {
            deferred.push(event.clone());
            return;
        }
        for sink in self.sinks.iter_mut() {
            sink.event(event);
        }
    }

    /// Handles `first` and whatever else is queued. The tasks that finishing attempts
    /// make ready are started before the sinks hear of anything (the summary, the
    /// recorder, the terminal): a dependent's start waits for the scheduler only, as
    /// in make. The sinks then get the events in their usual order; output is never
    /// held back, so a task's output still precedes its status line.
    fn on_exec_events(&mut self, first: ExecEvent) {
        self.deferred = Some(Vec::new());
        self.on_exec_event(first);
        while let Ok(event) = self.exec_events.try_recv() {
            self.on_exec_event(event);
        }
        self.start_ready();
        for event in self.deferred.take().unwrap_or_default() {
            self.emit(&event);
        }
    }

    fn name(&self, key: TaskKey) -> Arc<str> {
        match self.holders.get(&key) {
            Some(holder) => holder.name.clone(),
            None => self.plan.execs[key.unit.index()].name.clone(),
        }
    }

    fn emit_run_started(&mut self) {
        let tasks = self
            .plan
            .graph
            .ids()
            .filter(|u| self.plan.units[u.index()].included)
            .map(|u| PlannedTask {
                unit: u,
                name: self.plan.execs[u.index()].name.clone(),
                deps: self.plan.graph.deps(u).to_vec(),
                expected_us: self.plan.execs[u.index()].expected.map(|d| d.as_micros() as u64),
                pool: self.plan.units[u.index()].pool.and_then(|p| {
                    let name = self.plan.pool_names.get(p)?.clone();
                    Some(PlannedPool { name, limit: *self.plan.limits.pools.get(p)? })
                }),
                cap: self.plan.units[u.index()].cap,
            })
            .collect();
        self.emit(&Event::RunStarted {
            run_id: self.options.run_id.clone(),
            command: self.options.command_line.clone(),
            jobs: self.plan.limits.slots,
            started_at_us: self.options.started_at_us,
            tasks,
            dry_run: false,
        });
        // Fan-outs whose items are already known: say how many instances follow.
        let known: Vec<_> = self
            .plan
            .graph
            .ids()
            .filter(|u| self.plan.units[u.index()].included)
            .filter_map(|u| {
                let exec = &self.plan.execs[u.index()];
                let fan_out = exec.fan_out.as_ref()?;
                let count = FanOut::instance_count(fan_out.items.as_ref()?, fan_out.batch);
                Some((u, exec.name.clone(), count))
            })
            .collect();
        for (unit, name, count) in known {
            self.emit(&Event::InstancesPlanned { t_us: 0, unit, name, count });
        }
    }

    fn start_ready(&mut self) {
        while let Some(work) = self.scheduler.next() {
            let (key, slot, name, command, listing) = match work {
                Work::Start { key, slot } => {
                    let exec = &self.plan.execs[key.unit.index()];
                    let (name, command) = match &exec.fan_out {
                        Some(fan_out) => fan_out.instance(&exec.name, key.instance),
                        None => (exec.name.clone(), exec.run.clone()),
                    };
                    (key, slot, name, command, None)
                }
                Work::ListItems { unit, slot } => {
                    let exec = &self.plan.execs[unit.index()];
                    let command =
                        exec.fan_out.as_ref().and_then(|f| f.list_command.clone()).unwrap_or_default();
                    let name = Arc::from(format!("{} (items)", exec.name));
                    (TaskKey { unit, instance: TaskKey::LISTING }, slot, name, command, Some(Vec::new()))
                }
            };
            let now = Instant::now();
            let wait_us = now.saturating_duration_since(self.ready_at(key)).as_micros() as u64;
            if key.instance != TaskKey::LISTING {
                self.watch_for_alerts(key, &name);
            }
            let holder = Holder {
                name,
                command: Arc::from(command),
                listing,
                attempt: 1,
                slot,
                first_start: now,
                attempt_start: now,
                wait_us,
                running: false,
                timed_out: false,
                interrupted: false,
                logged: false,
            };
            self.holders.insert(key, holder);
            self.start_attempt(key);
        }
    }

    /// When `key` became ready: its dependencies' last finish, and for a fan-out
    /// instance the end of its item listing; the run's start if neither.
    fn ready_at(&self, key: TaskKey) -> Instant {
        let deps = self.plan.graph.deps(key.unit).iter().filter_map(|d| self.done_at.get(d));
        let listed = self.listed_at.get(&key.unit).filter(|_| key.instance != TaskKey::LISTING);
        deps.chain(listed).copied().max().unwrap_or(self.start)
    }

    /// Budget (every task and instance) and slow (plain tasks with a usual duration:
    /// the median is the whole task's, not one instance's) alerts, on a timer.
    fn watch_for_alerts(&mut self, key: TaskKey, name: &Arc<str>) {
        let exec = &self.plan.execs[key.unit.index()];
        let expected = exec.expected.filter(|_| exec.fan_out.is_none());
        let budget = exec.budget;
        let t_us = self.t_us();
        if let Some(at_us) = self.monitoring.task_started(key, name.clone(), t_us, expected, budget) {
            self.timers.set_alert(self.start + Duration::from_micros(at_us));
        }
    }

    fn start_attempt(&mut self, key: TaskKey) {
        let Some(holder) = self.holders.get(&key) else { return };
        let (command, name) = (holder.command.clone(), holder.name.clone());
        let exec = &self.plan.execs[key.unit.index()];
        let task_path =
            exec.env.iter().rev().find(|(var, _)| var == "PATH").map(|(_, path)| OsStr::new(path));
        let path_var = task_path.or_else(|| self.base_env.path_var());
        let direct = self.direct.as_mut().and_then(|direct| direct.program(&command, path_var));
        let skips_shell = direct.is_some();
        let launch = direct.unwrap_or_else(|| self.shell_command(&command));
        let env = self.base_env.for_task(&exec.env, &name, &self.options.run_id);
        let now = Instant::now();
        let mut spawned = self.executor.spawn(launch.request(key, env, exec.dir.clone()));
        if spawned.is_err() && skips_shell {
            // The program vanished or is not executable: let the shell say why, as usual.
            let env = self.base_env.for_task(&exec.env, &name, &self.options.run_id);
            spawned = self.executor.spawn(self.shell_command(&command).request(key, env, exec.dir.clone()));
        }
        let Some(holder) = self.holders.get_mut(&key) else { return };
        let (timeout, expected_us) = (exec.timeout, exec.expected.map(|d| d.as_micros() as u64));
        holder.attempt_start = now;
        holder.timed_out = false;
        let (attempt, slot) = (holder.attempt, holder.slot);
        holder.logged |= attempt > 1;
        // From before the spawn: the attempt's recorded span must contain the process's.
        let t_us = now.saturating_duration_since(self.start).as_micros() as u64;
        match spawned {
            Ok(pid) => {
                holder.running = true;
                self.monitoring.attempt_started(key, attempt, &name, pid);
                if let Some(timeout) = timeout {
                    self.timers.set(now + timeout, Timer::Timeout { key, attempt });
                }
                self.emit(&Event::AttemptStarted { t_us, key, name, attempt, slot, pid, expected_us });
            }
            Err(error) => {
                self.emit(&Event::AttemptStarted { t_us, key, name, attempt, slot, pid: 0, expected_us });
                let message = format!("cannot start `{}`: {error}", self.shell_program.display());
                self.finish_attempt(key, AttemptEnd::SpawnFailed { message }, 0, 0);
            }
        }
    }

    /// `settings.shell` with `command` appended.
    fn shell_command(&self, command: &str) -> Launch {
        let mut args: Vec<OsString> = self.options.shell.iter().skip(1).map(OsString::from).collect();
        args.push(OsString::from(command));
        Launch { program: self.shell_program.clone(), arg0: None, args }
    }

    fn on_exec_event(&mut self, event: ExecEvent) {
        match event {
            ExecEvent::Output { key, stream, lines } => {
                if let Some(holder) = self.holders.get_mut(&key) {
                    if stream == Stream::Stdout
                        && let Some(listing) = holder.listing.as_mut()
                    {
                        listing.extend_from_slice(&lines.0);
                        return;
                    }
                    holder.logged = true;
                }
                let (t_us, name) = (self.t_us(), self.name(key));
                self.emit(&Event::Output { t_us, key, name, stream, lines });
            }
            ExecEvent::Exited { key, end, cpu_user_us, cpu_system_us } => {
                self.finish_attempt(key, end, cpu_user_us, cpu_system_us);
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
