//! The sampling pass against a fake process table, the thread's cadence, and (ignored)
//! the cost of one pass over the real `/proc`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use volley_core::event::TaskKey;
use volley_core::graph::UnitId;

use super::super::reader::{IoBytes, Machine, ResourceReader};
use super::super::table::ProcessEntry;
use super::*;

/// A reader whose process table the test rewrites between passes.
#[derive(Clone, Default)]
struct FakeReader {
    table: Arc<Mutex<Vec<ProcessEntry>>>,
    /// pid → IO counters; pids not listed are unreadable.
    io: Arc<Mutex<HashMap<u32, IoBytes>>>,
    passes: Arc<Mutex<u32>>,
    full_scans: Arc<Mutex<u32>>,
}

impl ResourceReader for FakeReader {
    fn ticks_per_second(&self) -> u64 {
        100
    }

    fn processes(&mut self, table: &mut Vec<ProcessEntry>) {
        *self.passes.lock().expect("lock") += 1;
        *self.full_scans.lock().expect("lock") += 1;
        table.clone_from(&self.table.lock().expect("lock"));
    }

    /// Like the kernel's `children` files: down from `roots` by parent pid only.
    fn trees(&mut self, roots: &[u32], table: &mut Vec<ProcessEntry>) -> bool {
        *self.passes.lock().expect("lock") += 1;
        let all = self.table.lock().expect("lock");
        table.clear();
        let mut queue = roots.to_vec();
        while let Some(pid) = queue.pop() {
            if table.iter().any(|e| e.pid == pid) {
                continue;
            }
            if let Some(entry) = all.iter().find(|e| e.pid == pid) {
                table.push(*entry);
                queue.extend(all.iter().filter(|e| e.ppid == pid).map(|e| e.pid));
            }
        }
        true
    }

    fn io(&mut self, pid: u32) -> Option<IoBytes> {
        self.io.lock().expect("lock").get(&pid).copied()
    }

    fn machine(&mut self) -> Machine {
        Machine { mem_available: Some(1 << 30), disk_free: Some(5 << 30), load1: Some(0.5) }
    }
}

fn key(unit: u32) -> TaskKey {
    TaskKey { unit: UnitId(unit), instance: 0 }
}

fn p(pid: u32, parent: u32, group: u32, cpu_ticks: u64, rss_mib: u64) -> ProcessEntry {
    ProcessEntry { pid, ppid: parent, pgid: group, cpu_ticks, rss_bytes: rss_mib << 20, threads: 1 }
}

fn watch(pass: &mut Pass, attempts: &[(u32, u32, Instant)]) {
    pass.watched = attempts
        .iter()
        .map(|(unit, pid, since)| {
            ((key(*unit), 1), Watched { name: Arc::from(format!("t{unit}")), pid: *pid, since: *since })
        })
        .collect();
}

#[test]
fn a_pass_sums_each_tree_and_rates_cpu_over_the_interval() {
    let reader = FakeReader::default();
    let mut pass = Pass::new(Box::new(reader.clone()));
    let t0 = Instant::now();
    // t0: attempt 0 = sh 100 → worker 101 (left the group); attempt 1 = 200.
    *reader.table.lock().expect("lock") =
        vec![p(1, 0, 1, 999, 1), p(100, 50, 100, 10, 2), p(101, 100, 101, 40, 100), p(200, 50, 200, 5, 3)];
    reader
        .io
        .lock()
        .expect("lock")
        .extend([(100, IoBytes { read: 10, written: 1 }), (101, IoBytes { read: 4_000, written: 2_000 })]);
    watch(&mut pass, &[(0, 100, t0), (1, 200, t0)]);

    let first = pass.sample(t0 + Duration::from_millis(500));
    assert_eq!(first.tasks.len(), 2);
    let a = &first.tasks[0];
    assert_eq!((a.key, a.attempt, a.rss_bytes), (key(0), 1, 102 << 20));
    assert_eq!((a.read_bytes, a.written_bytes), (Some(4_010), Some(2_001)));
    // 50 ticks = 0.5 s of CPU in 0.5 s since the attempt started.
    assert!((a.cpu_percent - 100.0).abs() < 1e-6, "{}", a.cpu_percent);
    let b = &first.tasks[1];
    assert_eq!((b.read_bytes, b.written_bytes), (None, None), "unreadable io is unknown, not zero");
    assert!((b.cpu_percent - 10.0).abs() < 1e-6, "{}", b.cpu_percent);
    assert_eq!(first.machine.load1, Some(0.5));

    // The worker keeps both cores busy for the next 100 ms: +20 ticks.
    *reader.table.lock().expect("lock") =
        vec![p(100, 50, 100, 10, 2), p(101, 100, 101, 60, 100), p(200, 50, 200, 5, 3)];
    let second = pass.sample(t0 + Duration::from_millis(600));
    assert!((second.tasks[0].cpu_percent - 200.0).abs() < 1e-6, "{}", second.tasks[0].cpu_percent);
    assert!(second.tasks[1].cpu_percent.abs() < 1e-6);
}

#[test]
fn full_scans_are_rare_and_members_once_seen_are_followed_by_pid() {
    let reader = FakeReader::default();
    let mut pass = Pass::new(Box::new(reader.clone()));
    let t0 = Instant::now();
    // 101 is in attempt 0's group but was orphaned to init before any pass.
    *reader.table.lock().expect("lock") =
        vec![p(1, 0, 1, 0, 1), p(100, 50, 100, 0, 1), p(101, 1, 100, 0, 64)];
    watch(&mut pass, &[(0, 100, t0)]);
    let ms = |n: u64| t0 + Duration::from_millis(n);
    assert_eq!(pass.sample(ms(100)).tasks[0].rss_bytes, 65 << 20, "the first pass scans everything");
    // The walks in between reach 101 by its pid, though no parent link leads to it.
    for n in 2..=10 {
        assert_eq!(pass.sample(ms(n * 100)).tasks[0].rss_bytes, 65 << 20);
    }
    assert_eq!(*reader.full_scans.lock().expect("lock"), 1, "one full scan in the first 1 s");
    pass.sample(ms(1_100));
    assert_eq!(*reader.full_scans.lock().expect("lock"), 2, "and one per second after that");
    assert_eq!(*reader.passes.lock().expect("lock"), 11);
}

#[test]
fn a_tree_whose_total_drops_reads_as_idle_not_negative() {
    let reader = FakeReader::default();
    let mut pass = Pass::new(Box::new(reader.clone()));
    let t0 = Instant::now();
    *reader.table.lock().expect("lock") = vec![p(100, 1, 100, 10, 1), p(101, 1, 100, 90, 1)];
    watch(&mut pass, &[(0, 100, t0)]);
    pass.sample(t0 + Duration::from_millis(100));
    // 101 was re-parented to init and reaped there: its 90 ticks leave the tree.
    *reader.table.lock().expect("lock") = vec![p(100, 1, 100, 12, 1)];
    let tick = pass.sample(t0 + Duration::from_millis(200));
    assert!(tick.tasks[0].cpu_percent.abs() < 1e-6);
}

#[test]
fn attempts_whose_leader_is_gone_are_left_out_and_forgotten() {
    let reader = FakeReader::default();
    let mut pass = Pass::new(Box::new(reader.clone()));
    let t0 = Instant::now();
    *reader.table.lock().expect("lock") = vec![p(100, 1, 100, 10, 1)];
    watch(&mut pass, &[(0, 100, t0), (1, 300, t0)]);
    let tick = pass.sample(t0 + Duration::from_millis(100));
    assert_eq!(tick.tasks.iter().map(|t| t.key).collect::<Vec<_>>(), vec![key(0)]);
    watch(&mut pass, &[]);
    let tick = pass.sample(t0 + Duration::from_millis(200));
    assert!(tick.tasks.is_empty());
    assert!(pass.last.is_empty(), "per-attempt state is dropped with the attempt");
}

#[test]
fn the_thread_ticks_only_while_attempts_run() {
    let reader = FakeReader::default();
    *reader.table.lock().expect("lock") = vec![p(100, 1, 100, 10, 1)];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sampler = Sampler::start(Duration::from_millis(20), Box::new(reader.clone()), tx).expect("thread");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(*reader.passes.lock().expect("lock"), 0, "idle: no passes");

    let started = Instant::now();
    sampler.track(key(0), 1, "t0".into(), 100);
    let first = rx.blocking_recv().expect("a tick");
    assert_eq!(first.tasks.len(), 1);
    assert!(first.at >= started + Duration::from_millis(20), "the first pass waits one interval");
    let second = rx.blocking_recv().expect("a second tick");
    // On a cadence from the first due time, so a late wake-up does not shift it.
    assert!(second.at >= started + Duration::from_millis(40));

    sampler.untrack(key(0), 1);
    while rx.try_recv().is_ok() {}
    let passes = *reader.passes.lock().expect("lock");
    std::thread::sleep(Duration::from_millis(150));
    assert!(*reader.passes.lock().expect("lock") <= passes + 1, "no ticks once nothing runs");

    let dropped = Instant::now();
    drop(sampler);
    assert!(dropped.elapsed() < Duration::from_secs(1), "drop wakes and joins the thread");
}

/// This thread's CPU time, not wall time: the machine is shared and noisy.
#[cfg(target_os = "linux")]
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The cost of one pass over this machine's `/proc` (hand-parsed `stat`, as the
/// sampler does) next to the same table built with `procfs::process::all_processes`.
/// Run: `cargo test --release --lib per_tick_cost -- --ignored --nocapture`.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "measurement"]
fn per_tick_cost() {
    use super::super::procfs_reader::ProcfsReader;
    let mut reader = ProcfsReader::new(std::env::temp_dir());
    let mut table = Vec::new();
    let mut attribution = Attribution::default();
    let rounds: u32 = 2_000;
    let started = cpu_time();
    for _ in 0..rounds {
        reader.processes(&mut table);
        let _ = attribution.attribute(&table, &[std::process::id()]);
    }
    let ours = cpu_time().saturating_sub(started) / rounds;
    // A walk of a small tree: this test process and a child shell with its sleep.
    let mut child = std::process::Command::new("sh").args(["-c", "sleep 30; true"]).spawn().expect("sh");
    std::thread::sleep(Duration::from_millis(50));
    let mut walked = Vec::new();
    let started = cpu_time();
    for _ in 0..rounds {
        assert!(reader.trees(&[child.id()], &mut walked));
    }
    let walk = cpu_time().saturating_sub(started) / rounds;
    let _ = child.kill();
    let _ = child.wait();
    let machine_started = cpu_time();
    for _ in 0..rounds {
        let _ = reader.machine();
    }
    let machine = cpu_time().saturating_sub(machine_started) / rounds;
    let started = cpu_time();
    let mut count = 0;
    for _ in 0..rounds / 4 {
        count = procfs::process::all_processes()
            .expect("all_processes")
            .filter_map(|p| p.ok()?.stat().ok())
            .count();
    }
    let with_procfs = cpu_time().saturating_sub(started) / (rounds / 4);
    println!(
        "{} processes: full scan + attribution {ours:?} CPU per pass (procfs Stat: {with_procfs:?}, {count} read); \
         walk of a {}-process tree {walk:?}; machine figures {machine:?}",
        table.len(),
        walked.len()
    );
}
