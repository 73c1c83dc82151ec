//! The runner's timers: attempt timeouts, SIGKILL escalation after a grace period,
//! retry delays, and the next moment a task alert (budget, slow) may be due. One heap, one `sleep_until` in the event loop, no task per timer.
//!
//! A timer names the attempt it was set for; when it fires for an attempt that has
//! since ended, the runner ignores it. That is simpler than cancelling.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tokio::time::Instant;
use volley_core::event::TaskKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The attempt ran past its `timeout`: SIGTERM its group.
    Timeout { key: TaskKey, attempt: u32 },
    /// The grace period after SIGTERM is over: SIGKILL its group.
    Kill { key: TaskKey, attempt: u32 },
    /// The retry delay is over: start this attempt.
    Retry { key: TaskKey, attempt: u32 },
    /// A task may have run past its budget or its usual duration: ask the alert
    /// monitor (which says each alert once, so an early or repeated timer is harmless).
    Alert,
}

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    sequence: u64,
}

impl Timers {
    pub fn set(&mut self, at: Instant, timer: Timer) {
        self.sequence += 1;
        self.heap.push(Reverse((at, self.sequence, timer)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse((_, _, t))| t),
            _ => None,
        }
    }
}
