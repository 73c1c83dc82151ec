//! The runner's timers: attempt timeouts, SIGKILL escalation after a grace period,
//! retry delays, and the next moment a task alert (budget, slow) may be due. One
//! heap, one `sleep_until` in the event loop, no task per timer.
//!
//! A timer names the attempt it was set for; when it fires for an attempt that has
//! since ended, the runner ignores it. That is simpler than cancelling. The alert
//! check is armed once for the earliest moment asked ([`Timers::set_alert`]): every
//! task with a usual duration asks, and most finish long before, so one timer per
//! task meant one idle wake-up of the event loop per task.

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
    /// When the armed alert check fires, if one is armed.
    alert_at: Option<Instant>,
}

impl Timers {
    /// Sets a timer for one attempt; the alert check goes through [`Timers::set_alert`].
    pub fn set(&mut self, at: Instant, timer: Timer) {
        debug_assert!(timer != Timer::Alert, "the alert check is armed by set_alert");
        self.push(at, timer);
    }

    fn push(&mut self, at: Instant, timer: Timer) {
        self.sequence += 1;
        self.heap.push(Reverse((at, self.sequence, timer)));
    }

    /// Arms the alert check for `at` unless it is armed for then or earlier already:
    /// when that fires, the alert monitor names its next moment, which is re-armed.
    pub fn set_alert(&mut self, at: Instant) {
        if self.alert_at.is_some_and(|armed| armed <= at) {
            return;
        }
        self.alert_at = Some(at);
        self.push(at, Timer::Alert);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                let Reverse((at, _, timer)) = self.heap.pop()?;
                if timer == Timer::Alert && self.alert_at == Some(at) {
                    self.alert_at = None;
                }
                Some(timer)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn due(timers: &mut Timers, now: Instant) -> Vec<Timer> {
        std::iter::from_fn(|| timers.pop_due(now)).collect()
    }

    #[test]
    fn the_alert_check_is_armed_once_for_the_earliest_moment() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut timers = Timers::default();
        for n in [30, 40, 50] {
            timers.set_alert(ms(n));
        }
        timers.set_alert(ms(20));
        assert_eq!(due(&mut timers, ms(25)), [Timer::Alert]);
        // Fired: the next request arms it again; the superseded one at 30 still pops.
        timers.set_alert(ms(60));
        assert_eq!(due(&mut timers, ms(35)), [Timer::Alert]);
        assert_eq!(timers.next_deadline(), Some(ms(60)));
        timers.set_alert(ms(70));
        assert_eq!(due(&mut timers, ms(100)), [Timer::Alert]);
        assert_eq!(timers.next_deadline(), None);
    }
}
