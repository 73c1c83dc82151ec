//! What follows an attempt's exit: its result, the scheduler's decision (a retry or
//! the task's end, with what that skips), the items a listing step produced, and the
//! events that say so.

use std::sync::Arc;

use tokio::time::Instant;
use volley_core::event::{AttemptEnd, Event, TaskKey, TaskStatus};
use volley_core::fanout::Product;
use volley_core::graph::UnitId;
use volley_core::schedule::{AttemptResult, Decision, Finished};

use super::Runner;
use crate::runner::fanout::{FanOut, items_from_lines};
use crate::runner::timers::Timer;

impl Runner<'_> {
    pub(super) fn finish_attempt(
        &mut self,
        key: TaskKey,
        end: AttemptEnd,
        cpu_user_us: u64,
        cpu_system_us: u64,
    ) {
        let Some(holder) = self.holders.get_mut(&key) else { return };
        holder.running = false;
        let end = if holder.interrupted {
            AttemptEnd::Interrupted
        } else if holder.timed_out {
            AttemptEnd::TimedOut
        } else {
            end
        };
        let success_codes = &self.plan.execs[key.unit.index()].success_codes;
        let success = matches!(end, AttemptEnd::Exited { code } if success_codes.contains(&code));
        let result = match end {
            _ if success => AttemptResult::Succeeded,
            AttemptEnd::Interrupted => AttemptResult::Interrupted,
            AttemptEnd::TimedOut => AttemptResult::TimedOut,
            _ => AttemptResult::Failed,
        };
        let attempt = holder.attempt;
        let duration_us = holder.attempt_start.elapsed().as_micros() as u64;
        // Retries keep their slot: only the first attempt waited for one.
        let wait_us = if attempt == 1 { holder.wait_us } else { 0 };
        let peaks = self.monitoring.attempt_finished(key, attempt);
        let decision = match holder.listing.take() {
            Some(stdout) => Decision::Finished(self.items_listed(key, success.then_some(stdout))),
            None => self.scheduler.attempt_finished(key, result),
        };
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
            peak_rss_bytes: peaks.rss_bytes,
            read_bytes: peaks.read_bytes,
            written_bytes: peaks.written_bytes,
            wait_us,
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

    /// A listing step ended: its stdout lines (if it succeeded) become the instances.
    fn items_listed(&mut self, key: TaskKey, stdout: Option<Vec<u8>>) -> Finished {
        let unit = key.unit;
        let Some(stdout) = stdout else { return self.scheduler.items_listed(unit, None) };
        let items = items_from_lines(&stdout);
        let Some(fan_out) = self.plan.execs[unit.index()].fan_out.as_mut() else {
            return self.scheduler.items_listed(unit, None);
        };
        let product = Arc::new(Product::new(vec![items]));
        let count = FanOut::instance_count(&product, fan_out.batch);
        fan_out.items = Some(product);
        let (t_us, name) = (self.t_us(), self.plan.execs[unit.index()].name.clone());
        self.emit(&Event::InstancesPlanned { t_us, unit, name, count });
        self.scheduler.items_listed(unit, Some(count))
    }

    pub(super) fn task_finished(&mut self, key: TaskKey, finished: &Finished) {
        let Some(holder) = self.holders.remove(&key) else { return };
        self.monitoring.task_finished(key);
        let now = Instant::now();
        let finished_at =
            if key.instance == TaskKey::LISTING { &mut self.listed_at } else { &mut self.done_at };
        finished_at.entry(key.unit).and_modify(|at| *at = (*at).max(now)).or_insert(now);
        if !finished.status.is_success() && !finished.allowed_failure {
            self.failed = true;
            if self.options.halt_now {
                self.halt();
            }
        }
        let (t_us, name) = (self.t_us(), holder.name.clone());
        let log = self.log_path(&name, holder.logged);
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
            let needs = self.plan.execs[skipped.needs.index()].name.clone();
            self.never_ran(t_us, skipped.unit, TaskStatus::Skipped, Some(needs));
        }
    }

    /// `TaskFinished` for a task that never started: skipped below a failure
    /// (`needs` names it), or not started when the run ended.
    pub(super) fn never_ran(&mut self, t_us: u64, unit: UnitId, status: TaskStatus, needs: Option<Arc<str>>) {
        let key = TaskKey { unit, instance: 0 };
        let name = self.name(key);
        self.emit(&Event::TaskFinished {
            t_us,
            key,
            name,
            status,
            duration_us: 0,
            attempts: 0,
            allowed_failure: false,
            flaky: false,
            needs,
            log: None,
        });
    }

    /// The log file of a task that has one. Known from the events, not asked of the
    /// file system: one system call less between a task's exit and the next start.
    fn log_path(&self, name: &str, logged: bool) -> Option<String> {
        let dir = self.options.log_dir.as_ref().filter(|_| logged)?;
        Some(crate::logs::log_path(dir, name).display().to_string())
    }
}
