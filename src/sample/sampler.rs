//! [`Sampler`]: a thread that measures every running attempt's process tree and the
//! machine every `sample_interval`, and hands each pass to the runner as a [`Tick`].
//!
//! A thread rather than a timer on the runtime thread, so a pass (a few hundred
//! µs of `/proc` reads) never delays spawning or output. The runner tells it which
//! attempts run through a shared map under a mutex: registering an attempt is a
//! map insert, and the thread is woken early only when it has gone idle (nothing
//! ran at its last tick) or the sampler is dropped; a run of 3000 short tasks costs
//! no thread wake-ups per task. While nothing runs, it sleeps and takes no samples.
//!
//! What a tick knows (and does not): RSS is summed over the tree's live processes;
//! CPU % is the growth of the tree's total CPU ticks over the interval (clock-tick
//! resolution, usually 10 ms); IO bytes are the tree's cumulative counters, which
//! keep the bytes of children their parents waited for, but lose those of a child
//! reaped outside the tree. An attempt shorter than one interval gets no sample.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use foldhash::{HashMap, HashMapExt};
use tokio::sync::mpsc::UnboundedSender;
use volley_core::event::TaskKey;

use super::reader::{Machine, ResourceReader};
use super::table::{Attribution, ProcessEntry, totals};

/// One attempt's tree in one pass.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSample {
    pub key: TaskKey,
    pub attempt: u32,
    pub name: Arc<str>,
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub read_bytes: Option<u64>,
    pub written_bytes: Option<u64>,
}

/// One sampling pass.
#[derive(Debug, Clone)]
pub struct Tick {
    pub at: Instant,
    pub tasks: Vec<TreeSample>,
    pub machine: Machine,
}

/// An attempt the sampler watches: its process group leader and when it started.
#[derive(Debug, Clone)]
struct Watched {
    name: Arc<str>,
    pid: u32,
    since: Instant,
}

type AttemptId = (TaskKey, u32);

#[derive(Default)]
struct Shared {
    attempts: BTreeMap<AttemptId, Watched>,
    closed: bool,
    /// The thread found nothing to sample and waits to be told otherwise. Only then
    /// does `track` wake it: between two tasks of a busy run the map is empty for a
    /// moment, which must not cost a wake-up per task.
    idle: bool,
}

pub struct Sampler {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn lock(mutex: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sampler {
    /// Starts the sampling thread; ticks go to `ticks` until it is closed or the
    /// sampler is dropped.
    pub fn start(
        interval: Duration,
        reader: Box<dyn ResourceReader>,
        ticks: UnboundedSender<Tick>,
    ) -> std::io::Result<Sampler> {
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("volley-sampler".into())
            .spawn(move || sample_loop(&thread_shared, interval, Pass::new(reader), &ticks))?;
        Ok(Sampler { shared, thread: Some(thread) })
    }

    /// An attempt started: its process group `pid` is measured from the next tick on.
    pub fn track(&self, key: TaskKey, attempt: u32, name: Arc<str>, pid: u32) {
        let (mutex, wake) = &*self.shared;
        let mut shared = lock(mutex);
        shared.attempts.insert((key, attempt), Watched { name, pid, since: Instant::now() });
        if shared.idle {
            shared.idle = false;
            wake.notify_one();
        }
    }

    pub fn untrack(&self, key: TaskKey, attempt: u32) {
        lock(&self.shared.0).attempts.remove(&(key, attempt));
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        let (mutex, wake) = &*self.shared;
        lock(mutex).closed = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sample_loop(
    shared: &(Mutex<Shared>, Condvar),
    interval: Duration,
    mut pass: Pass,
    ticks: &UnboundedSender<Tick>,
) {
    let (mutex, wake) = shared;
    let mut guard = lock(mutex);
    let mut next: Option<Instant> = None;
    loop {
        if guard.closed {
            return;
        }
        let now = Instant::now();
        let due = *next.get_or_insert(now + interval);
        if now < due {
            guard = wake.wait_timeout(guard, due - now).unwrap_or_else(PoisonError::into_inner).0;
            continue;
        }
        if guard.attempts.is_empty() {
            // Nothing runs: sleep until something does, then wait a whole interval.
            next = None;
            guard.idle = true;
            while guard.idle && !guard.closed {
                guard = wake.wait(guard).unwrap_or_else(PoisonError::into_inner);
            }
            continue;
        }
        pass.watched.clear();
        pass.watched.extend(guard.attempts.iter().map(|(id, w)| (*id, w.clone())));
        drop(guard);
        let tick = pass.sample(Instant::now());
        if ticks.send(tick).is_err() {
            return;
        }
        // Keep the cadence; after a stall, start again from now instead of catching up.
        let after = Instant::now();
        next = Some(if due + interval > after { due + interval } else { after + interval });
        guard = lock(mutex);
    }
}

/// A full scan of `/proc` at most this often; in between, a tick walks only our
/// trees from their leaders and the members seen last time. The full scan finds
/// group members that were orphaned (re-parented out of the tree) before any walk
/// saw them; once seen, a member is followed by pid.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(1);

/// The work of one tick, with buffers kept from one tick to the next.
struct Pass {
    reader: Box<dyn ResourceReader>,
    table: Vec<ProcessEntry>,
    attribution: Attribution,
    watched: Vec<(AttemptId, Watched)>,
    leaders: Vec<u32>,
    /// Each attempt's CPU ticks at its previous sample, for CPU %, and the pass
    /// that last saw it (entries of attempts no longer watched are dropped).
    last: HashMap<AttemptId, (u64, Instant, u64)>,
    passes: u64,
    last_full_scan: Option<Instant>,
    /// Pids attributed to an attempt in the last pass, and the roots of a walk.
    members: Vec<u32>,
    roots: Vec<u32>,
}

impl Pass {
    fn new(reader: Box<dyn ResourceReader>) -> Self {
        Pass {
            reader,
            table: Vec::new(),
            attribution: Attribution::default(),
            watched: Vec::new(),
            leaders: Vec::new(),
            last: HashMap::new(),
            passes: 0,
            last_full_scan: None,
            members: Vec::new(),
            roots: Vec::new(),
        }
    }

    fn sample(&mut self, now: Instant) -> Tick {
        self.passes += 1;
        self.leaders.clear();
        self.leaders.extend(self.watched.iter().map(|(_, w)| w.pid));
        let full_due =
            self.last_full_scan.is_none_or(|at| now.saturating_duration_since(at) >= FULL_SCAN_EVERY);
        let walked = !full_due && {
            self.roots.clear();
            self.roots.extend_from_slice(&self.leaders);
            self.roots.extend_from_slice(&self.members);
            self.reader.trees(&self.roots, &mut self.table)
        };
        if !walked {
            self.reader.processes(&mut self.table);
            self.last_full_scan = Some(now);
        }
        let owner = self.attribution.attribute(&self.table, &self.leaders);
        self.members.clear();
        self.members.extend(self.table.iter().zip(owner).filter(|(_, o)| o.is_some()).map(|(e, _)| e.pid));
        let sums = totals(&self.table, owner, self.leaders.len());
        let mut io = vec![(None::<u64>, None::<u64>); self.leaders.len()];
        for (entry, owner) in self.table.iter().zip(owner) {
            let Some(leader) = *owner else { continue };
            if let Some(bytes) = self.reader.io(entry.pid) {
                let (read, written) = &mut io[leader];
                *read = Some(read.unwrap_or(0) + bytes.read);
                *written = Some(written.unwrap_or(0) + bytes.written);
            }
        }
        let tps = self.reader.ticks_per_second() as f64;
        let mut tasks = Vec::with_capacity(self.watched.len());
        for (((id, watched), sum), (read, written)) in self.watched.iter().zip(&sums).zip(io) {
            if sum.processes == 0 {
                continue; // the leader is gone (being reaped): nothing to measure
            }
            let (before, since, _) = self.last.get(id).copied().unwrap_or((0, watched.since, 0));
            let seconds = now.saturating_duration_since(since).as_secs_f64();
            let cpu = sum.cpu_ticks.saturating_sub(before) as f64 / tps;
            // Tenths of a percent: clock ticks are coarser than that anyway.
            let cpu_percent = if seconds > 0.0 { (cpu / seconds * 1000.0).round() / 10.0 } else { 0.0 };
            self.last.insert(*id, (sum.cpu_ticks, now, self.passes));
            tasks.push(TreeSample {
                key: id.0,
                attempt: id.1,
                name: watched.name.clone(),
                cpu_percent,
                rss_bytes: sum.rss_bytes,
                read_bytes: read,
                written_bytes: written,
            });
        }
        let pass = self.passes;
        self.last.retain(|_, (_, _, seen)| *seen == pass);
        Tick { at: now, tasks, machine: self.reader.machine() }
    }
}

#[cfg(test)]
#[path = "sampler_tests.rs"]
mod tests;
