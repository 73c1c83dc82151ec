//! The probe tasks of one attempt: readiness (retried every `interval` until
//! `timeout`) and, once ready, liveness (every `interval`, failing after `retries`
//! consecutive failed checks). Each reports to the supervisor with its attempt
//! number and is aborted when the attempt ends.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use volley_core::model::{Probe, ProbeCheck, ServiceSpec};

use super::probe::{ProbeContext, check_once};
use super::supervisor::Note;
use crate::ui::format_duration;

/// The longest a single check may take (it is also cut at the probe's deadline).
const CHECK_LIMIT: Duration = Duration::from_secs(5);

pub(super) fn readiness(
    service: usize,
    attempt: u32,
    spec: &ServiceSpec,
    context: &ProbeContext,
    tx: UnboundedSender<Note>,
) -> AbortHandle {
    let probe = spec.ready.clone();
    let context = context.clone();
    let task = async move {
        let Some(probe) = probe else {
            // No probe: ready once it has run for the default interval.
            tokio::time::sleep(Probe::DEFAULT_INTERVAL).await;
            let _ = tx.send(Note::Ready { service, attempt });
            return;
        };
        match &probe.check {
            ProbeCheck::Delay(delay) => {
                tokio::time::sleep(*delay).await;
                let _ = tx.send(Note::Ready { service, attempt });
            }
            ProbeCheck::Log(re) => {
                // Lines are matched by the supervisor as they arrive; this is the deadline.
                tokio::time::sleep(probe.timeout).await;
                let reason =
                    format!("no output line matched /{re}/ within {}", format_duration(probe.timeout));
                let _ = tx.send(Note::ProbeFailed { service, attempt, reason });
            }
            ProbeCheck::Tcp(_) | ProbeCheck::Http { .. } | ProbeCheck::Command(_) => {
                let deadline = Instant::now() + probe.timeout;
                loop {
                    let started = Instant::now();
                    let limit =
                        CHECK_LIMIT.min(deadline.saturating_duration_since(started)).max(probe.interval);
                    let result = check_once(&probe.check, &context, limit).await;
                    let ok = result.ok;
                    let message = result.message.clone();
                    let _ = tx.send(Note::Probe { service, attempt, result });
                    if ok {
                        let _ = tx.send(Note::Ready { service, attempt });
                        return;
                    }
                    let next = started + probe.interval;
                    if next >= deadline {
                        let reason =
                            format!("not ready within {}: {message}", format_duration(probe.timeout));
                        let _ = tx.send(Note::ProbeFailed { service, attempt, reason });
                        return;
                    }
                    tokio::time::sleep_until(next).await;
                }
            }
        }
    };
    tokio::spawn(task).abort_handle()
}

pub(super) fn liveness(
    service: usize,
    attempt: u32,
    probe: &Probe,
    context: &ProbeContext,
    tx: UnboundedSender<Note>,
) -> AbortHandle {
    let probe = probe.clone();
    let context = context.clone();
    let task = async move {
        let mut failures = 0u32;
        loop {
            tokio::time::sleep(probe.interval).await;
            let limit = CHECK_LIMIT.min(probe.interval.max(Duration::from_millis(100)));
            let result = match &probe.check {
                // A log or delay check has nothing to re-check after ready.
                ProbeCheck::Log(_) | ProbeCheck::Delay(_) => return,
                _ => check_once(&probe.check, &context, limit).await,
            };
            let message = result.message.clone();
            failures = if result.ok { 0 } else { failures + 1 };
            let _ = tx.send(Note::Probe { service, attempt, result });
            // Like Docker's `retries`: this many consecutive failures make it unhealthy.
            if failures >= probe.retries.max(1) {
                let reason = format!("healthcheck failed {failures} times in a row: {message}");
                let _ = tx.send(Note::ProbeFailed { service, attempt, reason });
                return;
            }
        }
    };
    tokio::spawn(task).abort_handle()
}
