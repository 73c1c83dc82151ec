//! [`OutputBacklog`]: how much task output waits for a slow consumer, and the
//! brake that holds the tasks back when it is too much.
//!
//! The terminal is written by a thread of its own, so that a slow terminal or a
//! paused `| less` never stalls the event loop. Without a brake, volley would go on
//! reading the tasks' pipes and queue everything they print for that thread: a task
//! printing 300 MB into a pipeline that stopped reading made volley hold 340 MB. The
//! writer counts what it was given and what it has written; while more than the
//! limit waits, the executor stops reading the tasks' pipes, so the tasks block on
//! their next write once their pipe is full, as they would writing to that terminal
//! themselves. The event loop goes on: timeouts, Ctrl-C and exits are handled.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Bytes of output queued for the terminal before the tasks are held back.
pub const OUTPUT_BACKLOG_LIMIT: usize = 16 << 20;

#[derive(Debug)]
pub struct OutputBacklog {
    queued: AtomicUsize,
    limit: usize,
    drained: Notify,
}

impl OutputBacklog {
    pub fn new(limit: usize) -> OutputBacklog {
        OutputBacklog { queued: AtomicUsize::new(0), limit, drained: Notify::new() }
    }

    /// `bytes` more wait for the consumer.
    pub fn queued(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::AcqRel);
    }

    /// `bytes` of those are written (or dropped): wakes the readers held back, if
    /// this brought the backlog down to the limit.
    pub fn written(&self, bytes: usize) {
        let before = self.queued.fetch_sub(bytes, Ordering::AcqRel);
        if before > self.limit && before - bytes <= self.limit {
            self.drained.notify_waiters();
        }
    }

    pub fn is_full(&self) -> bool {
        self.queued.load(Ordering::Acquire) > self.limit
    }

    /// Returns once the backlog is at most the limit.
    pub async fn room(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a `written` in between is not missed.
            drained.as_mut().enable();
            if !self.is_full() {
                return;
            }
            drained.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn readers_wait_while_the_backlog_is_over_the_limit() {
        let backlog = Arc::new(OutputBacklog::new(100));
        backlog.queued(60);
        backlog.room().await;
        backlog.queued(60);
        assert!(backlog.is_full());
        let waiting = tokio::spawn({
            let backlog = Arc::clone(&backlog);
            async move { backlog.room().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "went on over the limit");
        // Written from another thread, as the terminal's writer does.
        let writer = {
            let backlog = Arc::clone(&backlog);
            std::thread::spawn(move || backlog.written(30))
        };
        writer.join().expect("writer");
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("still waiting with room")
            .expect("task");
        assert!(!backlog.is_full());
    }
}
