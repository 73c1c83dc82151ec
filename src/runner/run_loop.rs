//! [`Runner`]: drives one run from the first start to the last exit.
//!
//! The loop is: start everything the scheduler allows; wait for the next thing to
//! happen (a process event, a timer, a signal); tell the scheduler; repeat. It is the
//! only place that knows about both processes and scheduling decisions, and it never
//! prints: it emits events. A slot stays held by an instance across retry delays.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use volley_core::event::{AttemptEnd, Event, EventSink, PlannedTask, RunStatus, TaskKey, TaskStatus};
use volley_core::schedule::{AttemptResult, Decision, Finished, Scheduler, Work};

use super::env::BaseEnv;
use super::plan::RunPlan;
use super::timers::{Timer, Timers};
use crate::exec::{ExecEvent, LocalExecutor, SpawnRequest};

/// Everything about a run that is not the plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_id: Arc<str>,
    /// volley's own command line, for the record.
    pub command_line: Vec<String>,
    /// Wall-clock start, µs since the Unix epoch.
    pub started_at_us: i64,
    /// The shell, program first; the `run` string is appended.
    pub shell: Vec<String>,
    pub kill_timeout: Duration,
    /// `Some`: the volley binary, run as the `__watchdog` orphan guard.
    pub watchdog_exe: Option<PathBuf>,
    /// Where per-task logs go, for the paths reported in events.
    pub log_dir: Option<PathBuf>,
}

/// One instance that holds a slot: running, or waiting to retry.
#[derive(Debug)]
struct Holder {
    attempt: u32,
    slot: u32,
    first_start: Instant,
    attempt_start: Instant,
    /// `None` while waiting for a retry.
    running: bool,
    timed_out: bool,
    interrupted: bool,
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
    start: Instant,
    holders: HashMap<TaskKey, Holder>,
    timers: Timers,
    interrupts: u32,
    failed: bool,
}

impl<'s> Runner<'s> {
    /// Must be called inside a tokio runtime (the executor registers pipe readers).
    pub fn new(
        plan: RunPlan,
        options: RunOptions,
        base_env: BaseEnv,
        sinks: &'s mut [Box<dyn EventSink>],
    ) -> std::io::Result<Self> {
        let shell_name = options.shell.first().map_or("sh", String::as_str);
        let shell_program = crate::exec::resolve_program(shell_name, base_env.path_var())?;
        let (tx, exec_events) = mpsc::unbounded_channel();
        let executor = LocalExecutor::new(tx, options.watchdog_exe.clone())?;
        let scheduler = Scheduler::new(&plan.graph, plan.units.clone(), plan.limits.clone(), plan.policy);
        Ok(Runner {
            plan,
            options,
            scheduler,
            executor,
            exec_events,
            sinks,
            base_env,
            shell_program,
            start: Instant::now(),
            holders: HashMap::new(),
            timers: Timers::default(),
            interrupts: 0,
            failed: false,
        })
    }

    pub async fn run(mut self) -> std::io::Result<RunStatus> {
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        self.start = Instant::now();
        self.emit_run_started();
        loop {
            self.start_ready();
            if self.scheduler.is_finished() && self.holders.is_empty() {
                break;
            }
            let deadline = self.timers.next_deadline();
            tokio::select! {
                event = self.exec_events.recv() => {
                    if let Some(event) = event {
                        self.on_exec_event(event);
                        // Drain what else is queued before going round the loop again.
                        while let Ok(event) = self.exec_events.try_recv() {
                            self.on_exec_event(event);
                        }
                    }
                }
                () = sleep_until(deadline) => self.fire_due_timers(),
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
        for sink in self.sinks.iter_mut() {
            sink.event(event);
        }
    }

    fn name(&self, key: TaskKey) -> Arc<str> {
        self.plan.execs[key.unit.index()].name.clone()
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
    }

    fn start_ready(&mut self) {
        while let Some(work) = self.scheduler.next() {
            match work {
                Work::Start { key, slot } => {
                    let now = Instant::now();
                    self.holders.insert(
                        key,
                        Holder {
                            attempt: 1,
                            slot,
                            first_start: now,
                            attempt_start: now,
                            running: false,
                            timed_out: false,
                            interrupted: false,
                        },
                    );
                    self.start_attempt(key);
                }
                Work::ListItems { unit, .. } => {
                    // Fan-out over a command's output arrives with `for_each`; until
                    // then every unit has a known instance count and this is unused.
                    let finished = self.scheduler.items_listed(unit, Some(1));
                    debug_assert!(finished.skipped.is_empty());
                }
            }
        }
    }

    fn start_attempt(&mut self, key: TaskKey) {
        let exec = &self.plan.execs[key.unit.index()];
        let mut args: Vec<OsString> = self.options.shell.iter().skip(1).map(OsString::from).collect();
        args.push(OsString::from(&exec.run));
        let request = SpawnRequest {
            key,
            program: self.shell_program.clone(),
            args,
            env: self.base_env.for_task(&exec.env, &exec.name, &self.options.run_id),
            dir: exec.dir.clone(),
        };
        let timeout = exec.timeout;
        let expected_us = exec.expected.map(|d| d.as_micros() as u64);
        let name = exec.name.clone();
        let now = Instant::now();
        let Some(holder) = self.holders.get_mut(&key) else { return };
        holder.attempt_start = now;
        holder.timed_out = false;
        let (attempt, slot) = (holder.attempt, holder.slot);
        match self.executor.spawn(request) {
            Ok(pid) => {
                holder.running = true;
                if let Some(timeout) = timeout {
                    self.timers.set(now + timeout, Timer::Timeout { key, attempt });
                }
                let t_us = self.t_us();
                self.emit(&Event::AttemptStarted { t_us, key, name, attempt, slot, pid, expected_us });
            }
            Err(error) => {
                let t_us = self.t_us();
                self.emit(&Event::AttemptStarted { t_us, key, name, attempt, slot, pid: 0, expected_us });
                let message = format!("cannot start `{}`: {error}", self.shell_program.display());
                self.finish_attempt(key, AttemptEnd::SpawnFailed { message }, 0, 0);
            }
        }
    }

    fn on_exec_event(&mut self, event: ExecEvent) {
        match event {
            ExecEvent::Output { key, stream, lines } => {
                let (t_us, name) = (self.t_us(), self.name(key));
                self.emit(&Event::Output { t_us, key, name, stream, lines });
            }
            ExecEvent::Exited { key, end, cpu_user_us, cpu_system_us } => {
                self.finish_attempt(key, end, cpu_user_us, cpu_system_us);
            }
        }
    }

    fn finish_attempt(&mut self, key: TaskKey, end: AttemptEnd, cpu_user_us: u64, cpu_system_us: u64) {
        let Some(holder) = self.holders.get_mut(&key) else { return };
        holder.running = false;
        let end = if holder.interrupted {
            AttemptEnd::Interrupted
        } else if holder.timed_out {
            AttemptEnd::TimedOut
        } else {
            end
        };
        let success = matches!(end, AttemptEnd::Exited { code } if self.plan.execs[key.unit.index()].success_codes.contains(&code));
        let result = match end {
            _ if success => AttemptResult::Succeeded,
            AttemptEnd::Interrupted => AttemptResult::Interrupted,
            AttemptEnd::TimedOut => AttemptResult::TimedOut,
            _ => AttemptResult::Failed,
        };
        let attempt = holder.attempt;
        let duration_us = holder.attempt_start.elapsed().as_micros() as u64;
        let decision = self.scheduler.attempt_finished(key, result);
        let retry_in_us = match &decision {
            Decision::Retry { delay, .. } => Some(delay.as_micros() as u64),
            Decision::Finished(_) => None,
        };
        let (t_us, name) = (self.t_us(), self.name(key));
        self.emit(&Event::AttemptFinished {
            t_us,
            key,
            name,
            attempt,
            end,
            success,
            duration_us,
            cpu_user_us,
            cpu_system_us,
            retry_in_us,
        });
        match decision {
            Decision::Retry { attempt, delay } => {
                if let Some(holder) = self.holders.get_mut(&key) {
                    holder.attempt = attempt;
                }
                self.timers.set(Instant::now() + delay, Timer::Retry { key, attempt });
            }
            Decision::Finished(finished) => self.task_finished(key, &finished),
        }
    }

    fn task_finished(&mut self, key: TaskKey, finished: &Finished) {
        let Some(holder) = self.holders.remove(&key) else { return };
        if !finished.status.is_success() && !finished.allowed_failure {
            self.failed = true;
        }
        let (t_us, name) = (self.t_us(), self.name(key));
        let log = self.log_path(&name);
        self.emit(&Event::TaskFinished {
            t_us,
            key,
            name: name.clone(),
            status: finished.status,
            duration_us: holder.first_start.elapsed().as_micros() as u64,
            attempts: finished.attempts,
            allowed_failure: finished.allowed_failure,
            flaky: finished.flaky,
            needs: None,
            log,
        });
        for skipped in &finished.skipped {
            self.failed = true;
            let key = TaskKey { unit: skipped.unit, instance: 0 };
            let needs = Some(self.plan.execs[skipped.needs.index()].name.clone());
            let name = self.name(key);
            self.emit(&Event::TaskFinished {
                t_us,
                key,
                name,
                status: TaskStatus::Skipped,
                duration_us: 0,
                attempts: 0,
                allowed_failure: false,
                flaky: false,
                needs,
                log: None,
            });
        }
    }

    fn log_path(&self, name: &str) -> Option<String> {
        let dir = self.options.log_dir.as_ref()?;
        Some(crate::logs::log_path(dir, name).display().to_string())
    }

    fn fire_due_timers(&mut self) {
        while let Some(timer) = self.timers.pop_due(Instant::now()) {
            match timer {
                Timer::Timeout { key, attempt } => {
                    let kill_at = Instant::now() + self.options.kill_timeout;
                    let Some(holder) = self.holders.get_mut(&key) else { continue };
                    if holder.attempt != attempt || !holder.running || holder.interrupted {
                        continue;
                    }
                    holder.timed_out = true;
                    self.executor.signal(key, libc::SIGTERM);
                    self.timers.set(kill_at, Timer::Kill { key, attempt });
                }
                Timer::Kill { key, attempt } => {
                    if self.holders.get(&key).is_some_and(|h| h.attempt == attempt && h.running) {
                        self.executor.signal(key, libc::SIGKILL);
                    }
                }
                Timer::Retry { key, attempt } => {
                    if self.holders.get(&key).is_some_and(|h| h.attempt == attempt && !h.running) {
                        self.start_attempt(key);
                    }
                }
            }
        }
    }

    /// First interrupt: start nothing new, SIGTERM every group, SIGKILL after the
    /// grace period. Second: SIGKILL at once.
    fn on_interrupt(&mut self, signal_name: &str) {
        self.interrupts += 1;
        if self.interrupts > 1 {
            self.executor.kill_all(libc::SIGKILL);
            return;
        }
        self.scheduler.stop_starting();
        let t_us = self.t_us();
        self.emit(&Event::Interrupting { t_us, signal: signal_name.to_string() });
        let kill_at = Instant::now() + self.options.kill_timeout;
        let mut waiting_to_retry = Vec::new();
        for (key, holder) in &mut self.holders {
            holder.interrupted = true;
            if holder.running {
                self.executor.signal(*key, libc::SIGTERM);
                self.timers.set(kill_at, Timer::Kill { key: *key, attempt: holder.attempt });
            } else {
                waiting_to_retry.push(*key);
            }
        }
        waiting_to_retry.sort();
        for key in waiting_to_retry {
            // Its next attempt never started: the task ends here, interrupted.
            if let Decision::Finished(finished) =
                self.scheduler.attempt_finished(key, AttemptResult::Interrupted)
            {
                self.task_finished(key, &finished);
            }
        }
    }

    fn report_not_started(&mut self) {
        let t_us = self.t_us();
        for unit in self.scheduler.not_started() {
            let key = TaskKey { unit, instance: 0 };
            let name = self.name(key);
            self.emit(&Event::TaskFinished {
                t_us,
                key,
                name,
                status: TaskStatus::NotStarted,
                duration_us: 0,
                attempts: 0,
                allowed_failure: false,
                flaky: false,
                needs: None,
                log: None,
            });
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
