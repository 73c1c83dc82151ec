//! How a run stops and what its timers do: attempt timeouts (SIGTERM, then SIGKILL
//! after the grace period), retry delays, task alert checks, `--halt now`,
//! interrupts, and the report of units that never started.

use std::time::Duration;

use tokio::time::Instant;
use volley_core::event::{Event, TaskStatus};
use volley_core::schedule::{AttemptResult, Decision};

use super::Runner;
use crate::runner::timers::Timer;

impl Runner<'_> {
    pub(super) fn fire_due_timers(&mut self) {
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
                Timer::Alert => {
                    let (alerts, next) = self.monitoring.due(self.t_us());
                    for alert in &alerts {
                        self.emit(alert);
                    }
                    if let Some(at_us) = next {
                        self.timers.set_alert(self.start + Duration::from_micros(at_us));
                    }
                }
            }
        }
    }

    /// `--halt now`: start nothing new and stop what runs, as for an interrupt, but
    /// the run ends as failed rather than interrupted.
    pub(super) fn halt(&mut self) {
        self.scheduler.stop_starting();
        let kill_at = Instant::now() + self.options.kill_timeout;
        for (key, holder) in &mut self.holders {
            if holder.running && !holder.interrupted {
                holder.interrupted = true;
                self.executor.signal(*key, libc::SIGTERM);
                self.timers.set(kill_at, Timer::Kill { key: *key, attempt: holder.attempt });
            }
        }
    }

    /// First interrupt: start nothing new, SIGTERM every group, SIGKILL after the
    /// grace period. Second: SIGKILL at once.
    pub(super) fn on_interrupt(&mut self, signal_name: &str) {
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

    pub(super) fn report_not_started(&mut self) {
        let t_us = self.t_us();
        for unit in self.scheduler.not_started() {
            self.never_ran(t_us, unit, TaskStatus::NotStarted, None);
        }
    }
}
