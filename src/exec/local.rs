//! [`LocalExecutor`]: runs attempts as local processes and reports what they do.
//!
//! Each attempt is started by [`Spawner`] (a `vfork`-style clone and `execve`, never
//! a copying fork) in its own process group (pgid == pid), stdin `/dev/null`, stdout
//! and stderr piped, exactly the given environment. One tokio task per attempt
//! ([`supervise`]) leaves the pipes unwatched for the attempt's first
//! [`UNWATCHED_FOR`] (an attempt over by then has its output read at once, see
//! [`PipeReader`]), then reads both pipes concurrently into bounded line batches (pausing
//! while the terminal's [`OutputBacklog`] is full), learns of the leader's exit
//! and how it ended without reaping it, waits for EOF on both pipes (at most
//! [`DRAIN`] of reading after the exit, since a background grandchild may hold them)
//! and sends `Exited` after all its `Output`. Only once the runner has had its turn
//! (it starts what the exit made ready) does it SIGKILL whatever is left of the group,
//! while the zombie leader still pins its id, deregister it from the watchdog and reap
//! the leader: the `kill` and the `wait4` are kept off the path from one task's exit to
//! the next one's start, as are the two `pipe2` of each spawn (made after the previous
//! one).
//!
//! Must be created and used inside a tokio runtime with I/O and time enabled; it spawns
//! from the calling thread (keep that the runtime thread, never `spawn_blocking`).
//! Dropping it SIGKILLs every group still live and tells the watchdog `bye`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use foldhash::HashMap;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::Pid;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use volley_core::event::{Lines, Stream, TaskKey};

use super::backlog::OutputBacklog;
use super::group::signal_group;
use super::pipe_reader::{PipeReader, UNWATCHED_FOR, read_closed};
use super::reap::{ExitWaiter, reap};
use super::request::{ExecEvent, SpawnRequest};
use super::spawn::{Spawned, Spawner};
use super::watchdog::{BATCH, WatchdogLink};

/// How long output may still arrive after the leader exited.
pub const DRAIN: Duration = Duration::from_millis(100);

pub struct LocalExecutor {
    events: UnboundedSender<ExecEvent>,
    handle: Handle,
    shared: Arc<Mutex<Shared>>,
    /// Every attempt's stdin, opened once per executor.
    dev_null: OwnedFd,
    /// While it is full, pipes are not read ([`OutputBacklog`]).
    backlog: Option<Arc<OutputBacklog>>,
    spawner: Spawner,
    /// The next attempt's stdout and stderr pipes, made after the last spawn.
    spare_pipes: Option<[(OwnedFd, OwnedFd); 2]>,
}

/// State shared with the per-attempt tasks.
#[derive(Default)]
struct Shared {
    /// Attempts whose `Exited` has not been sent: key → pgid. While listed, the group
    /// id is pinned by its leader (running or zombie), so signalling it is safe.
    live: HashMap<TaskKey, u32>,
    /// Groups whose `Exited` has been sent, not yet killed: their zombie leaders pin
    /// the ids until then.
    ending: Vec<u32>,
    watchdog: Option<WatchdogLink>,
    /// Wakes the task that writes the watchdog's queue (see [`flush_watchdog`]).
    watchdog_due: Arc<Notify>,
}

impl Shared {
    /// Sends the watchdog a line (`send` returns true if it was only queued), waking
    /// the flushing task for a queued one.
    fn tell_watchdog(&mut self, send: impl FnOnce(&mut WatchdogLink) -> bool) {
        if self.watchdog.as_mut().is_some_and(send) {
            self.watchdog_due.notify_one();
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LocalExecutor {
    /// `watchdog`: the orphan guard its groups are registered with (`None`: no
    /// protection, for tests). It is told `bye` when the executor is dropped.
    pub fn new(events: UnboundedSender<ExecEvent>, watchdog: Option<WatchdogLink>) -> io::Result<Self> {
        let handle = Handle::try_current().map_err(io::Error::other)?;
        let dev_null = std::fs::File::open("/dev/null")?.into();
        let spawner = Spawner::new()?;
        let guarded = watchdog.is_some();
        let shared = Arc::new(Mutex::new(Shared { watchdog, ..Shared::default() }));
        if guarded {
            let due = Arc::clone(&lock(&shared).watchdog_due);
            handle.spawn(flush_watchdog(Arc::downgrade(&shared), due));
        }
        Ok(LocalExecutor { events, handle, shared, dev_null, spawner, backlog: None, spare_pipes: None })
    }

    /// Holds the tasks' output back while `backlog` is over its limit.
    pub fn hold_output_for(&mut self, backlog: Arc<OutputBacklog>) {
        self.backlog = Some(backlog);
    }

    /// Starts one attempt; returns its pid, which is also its process group id.
    pub fn spawn(&mut self, req: SpawnRequest) -> io::Result<u32> {
        let SpawnRequest { key, program, arg0, args, env, dir } = req;
        let first = arg0.unwrap_or_else(|| program.clone().into_os_string());
        let argv: Vec<&OsStr> =
            std::iter::once(first.as_os_str()).chain(args.iter().map(OsString::as_os_str)).collect();
        let [(stdout, stdout_child), (stderr, stderr_child)] = match self.spare_pipes.take() {
            Some(pipes) => pipes,
            None => output_pipes()?,
        };
        let stdio = [self.dev_null.as_fd(), stdout_child.as_fd(), stderr_child.as_fd()];
        let spawned = self.spawner.spawn(&program, &argv, &env, &dir, stdio);
        drop((stdout_child, stderr_child));
        self.spare_pipes = output_pipes().ok();
        let Spawned { pid: leader, pidfd } = spawned?;
        let pgid = leader.as_raw_nonzero().get().unsigned_abs();
        {
            let mut shared = lock(&self.shared);
            shared.tell_watchdog(|w| w.register(pgid));
            shared.live.insert(key, pgid);
        }
        let _runtime = self.handle.enter();
        match ExitWaiter::new(leader, pidfd) {
            Ok(waiter) => {
                let attempt = Attempt { key, leader, pgid, waiter };
                let report = Reporter { key, events: self.events.clone(), backlog: self.backlog.clone() };
                let out = PipeReader::new(stdout, Stream::Stdout);
                let err = PipeReader::new(stderr, Stream::Stderr);
                self.handle.spawn(supervise(attempt, out, err, Arc::clone(&self.shared), report));
                Ok(pgid)
            }
            Err(e) => {
                // Undo the spawn: the group is pinned until we reap the leader.
                let _ = signal_group(pgid, libc::SIGKILL);
                let _ = reap(leader, false);
                let mut shared = lock(&self.shared);
                shared.live.remove(&key);
                shared.tell_watchdog(|w| w.deregister(pgid));
                Err(e)
            }
        }
    }

    /// Sends `signal` to the whole process group of `key`'s running attempt. Does
    /// nothing if there is none (it has already been reported as exited).
    pub fn signal(&mut self, key: TaskKey, signal: i32) {
        let shared = lock(&self.shared);
        if let Some(&pgid) = shared.live.get(&key) {
            let _ = signal_group(pgid, signal);
        }
    }

    /// Sends `signal` to every process group whose attempt has not been reported
    /// exited, or was reported and has not had what is left of it killed yet.
    pub fn kill_all(&mut self, signal: i32) {
        let shared = lock(&self.shared);
        for &pgid in shared.live.values().chain(&shared.ending) {
            let _ = signal_group(pgid, signal);
        }
    }

    /// Attempts started and not yet reported as `Exited`.
    pub fn running(&self) -> usize {
        lock(&self.shared).live.len()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        let mut shared = lock(&self.shared);
        for &pgid in shared.live.values().chain(&shared.ending) {
            let _ = signal_group(pgid, libc::SIGKILL);
        }
        if let Some(w) = shared.watchdog.take() {
            w.bye();
        }
    }
}

/// A pipe for an attempt's stdout and one for its stderr: (volley's read end, the
/// child's write end) each.
fn output_pipes() -> io::Result<[(OwnedFd, OwnedFd); 2]> {
    Ok([pipe_with(PipeFlags::CLOEXEC)?, pipe_with(PipeFlags::CLOEXEC)?])
}

/// Writes what the watchdog link queued, [`BATCH`] after it was queued; ends with the
/// executor.
async fn flush_watchdog(shared: Weak<Mutex<Shared>>, due: Arc<Notify>) {
    loop {
        due.notified().await;
        tokio::time::sleep(BATCH).await;
        let Some(shared) = shared.upgrade() else { return };
        let mut shared = lock(&shared);
        if let Some(w) = shared.watchdog.as_mut().filter(|w| w.pending()) {
            w.flush();
            if w.pending() {
                // The pipe is full (the watchdog is slow): try again next round.
                shared.watchdog_due.notify_one();
            }
        }
    }
}

struct Attempt {
    key: TaskKey,
    leader: Pid,
    pgid: u32,
    waiter: ExitWaiter,
}

struct Reporter {
    key: TaskKey,
    events: UnboundedSender<ExecEvent>,
    backlog: Option<Arc<OutputBacklog>>,
}

impl Reporter {
    /// The output already reported waits for a slow terminal: read no more.
    fn held_back(&self) -> bool {
        self.backlog.as_ref().is_some_and(|b| b.is_full())
    }

    /// Waits while [`Reporter::held_back`]; returns how long it waited.
    async fn room(&self) -> Duration {
        match &self.backlog {
            Some(backlog) if backlog.is_full() => {
                let held = Instant::now();
                backlog.room().await;
                held.elapsed()
            }
            _ => Duration::ZERO,
        }
    }

    /// `pipe` can no longer be read: it is closed (the task's further writes to it
    /// fail, as they would if volley had stopped reading), and its log says why.
    fn lost(&self, pipe: &mut PipeReader, error: &io::Error) {
        pipe.open = false;
        let which = if pipe.stream == Stream::Stdout { "stdout" } else { "stderr" };
        let why = format!("volley: cannot read this task's {which} any further: {error}\n");
        self.output(Stream::Stderr, Some(why.into_bytes()));
    }

    fn output(&self, stream: Stream, lines: Option<Vec<u8>>) {
        if let Some(lines) = lines {
            let _ = self.events.send(ExecEvent::Output { key: self.key, stream, lines: Lines(lines) });
        }
    }

    /// Reports a batch, then lets the event loop handle it before this task reads
    /// on: a pipe that always has data would otherwise be read for a whole
    /// cooperative budget (128 reads) at a time, and batches pile up in memory.
    async fn output_and_yield(&self, stream: Stream, lines: Option<Vec<u8>>) {
        if lines.is_some() {
            self.output(stream, lines);
            tokio::task::yield_now().await;
        }
    }
}

async fn supervise(
    mut attempt: Attempt,
    mut out: PipeReader,
    mut err: PipeReader,
    shared: Arc<Mutex<Shared>>,
    report: Reporter,
) {
    // The pipes stay unwatched while the task is young (see `PipeReader`).
    let exited_young = tokio::select! {
        biased;
        ended = attempt.waiter.exited() => Some(ended),
        () = tokio::time::sleep(UNWATCHED_FOR) => None,
    };
    if exited_young.is_some() {
        report.room().await;
        let [out_lines, err_lines] = read_closed([&mut out, &mut err]);
        for (pipe, lines) in [(&mut out, out_lines), (&mut err, err_lines)] {
            match lines {
                Ok(lines) => report.output(pipe.stream, lines),
                Err(e) => report.lost(pipe, &e),
            }
        }
    }
    for pipe in [&mut out, &mut err] {
        if let Err(e) = pipe.watch() {
            report.lost(pipe, &e);
        }
    }

    // Until the leader exits.
    let ended = match exited_young {
        Some(ended) => ended,
        None => 'running: loop {
            if report.held_back() {
                tokio::select! {
                    _ = report.room() => {}
                    ended = attempt.waiter.exited() => break 'running ended,
                }
            }
            tokio::select! {
                biased;
                r = out.read(), if out.open => report.output_and_yield(out.stream, out.lines_after(&r)).await,
                r = err.read(), if err.open => report.output_and_yield(err.stream, err.lines_after(&r)).await,
                ended = attempt.waiter.exited() => break ended,
            }
        },
    };
    // Until both pipes close, or the drain deadline, which does not run while the
    // output is held back: what the task wrote before it exited is not lost.
    let mut deadline = Instant::now() + DRAIN;
    while out.open || err.open {
        deadline += report.room().await;
        tokio::select! {
            r = out.read(), if out.open => report.output_and_yield(out.stream, out.lines_after(&r)).await,
            r = err.read(), if err.open => report.output_and_yield(err.stream, err.lines_after(&r)).await,
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    for pipe in [&mut out, &mut err] {
        if pipe.open {
            report.output(pipe.stream, pipe.finish());
        }
    }
    let Attempt { key, leader, pgid, waiter } = attempt;
    {
        let mut shared = lock(&shared);
        if shared.live.get(&key) == Some(&pgid) {
            shared.live.remove(&key);
        }
        shared.ending.push(pgid);
    }
    let _ = report.events.send(ExecEvent::Exited {
        key,
        end: ended.end,
        cpu_user_us: ended.cpu_user_us,
        cpu_system_us: ended.cpu_system_us,
    });
    // Let the runner start whatever this exit made ready first: what is left here
    // (killing the group, reaping, closing the pipes and the pidfd) is six system calls.
    tokio::task::yield_now().await;
    {
        let mut shared = lock(&shared);
        // The zombie leader pins the group id: this cannot hit a stranger, and after it
        // the group is dying, so the watchdog no longer needs to know it.
        let _ = signal_group(pgid, libc::SIGKILL);
        shared.ending.retain(|&ending| ending != pgid);
        shared.tell_watchdog(|w| w.deregister(pgid));
    }
    let _ = reap(leader, true);
    drop((out, err, waiter));
}

#[cfg(test)]
mod tests {
    use volley_core::graph::UnitId;

    use super::*;

    #[test]
    fn a_lost_pipe_is_closed_and_said_in_the_tasks_stderr() {
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let key = TaskKey { unit: UnitId(3), instance: 0 };
        let report = Reporter { key, events, backlog: None };
        let file = tempfile::tempfile().expect("file");
        let mut pipe = PipeReader::new(OwnedFd::from(file), Stream::Stdout);
        report.lost(&mut pipe, &io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(!pipe.open);
        let Ok(ExecEvent::Output { key: said_of, stream, lines }) = received.try_recv() else {
            panic!("no output event");
        };
        assert_eq!((said_of, stream), (key, Stream::Stderr));
        let text = String::from_utf8_lossy(&lines.0);
        assert!(text.starts_with("volley: cannot read this task's stdout any further: "), "{text}");
        assert!(text.ends_with('\n'), "a whole line: {text}");
    }
}
