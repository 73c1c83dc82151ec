//! A task's exit must not wake volley's other threads.
//!
//! Every child's exit sends volley `SIGCHLD`, which it leaves at its default
//! (ignore): the kernel then drops it where it is raised, unless the thread it is
//! meant for blocks it. The thread that spawns blocks signals around each `clone`
//! (the child shares its memory until `execve`), and that window is most of its
//! time when tasks are short; a `SIGCHLD` raised then was handed to another thread,
//! woken only to ignore it (about 200 wake-ups of the sampler in a run of 2000 tasks
//! of `true`, each on a CPU that a task or the runtime needed).
//!
//! The check spawns short tasks back to back, as the runner does, while a second
//! thread sleeps in `read`, and counts that thread's context switches.
//!
//! A custom harness (`harness = false` in Cargo.toml): libtest's own threads would
//! take some of the signals, so the sleeping thread must be the only other one.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use tokio::sync::mpsc::unbounded_channel;
use volley::exec::{Environment, ExecEvent, LocalExecutor, SpawnRequest, resolve_program};
use volley_core::event::TaskKey;
use volley_core::graph::UnitId;

const TASKS: u32 = 400;
const DEADLINE: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = "exits_of_tasks_do_not_wake_other_threads";
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{name}: test");
        }
        return;
    }
    if args.iter().find(|a| !a.starts_with('-')).is_none_or(|filter| name.contains(filter.as_str())) {
        println!("test {name} ...");
        exits_of_tasks_do_not_wake_other_threads();
        println!("test {name} ... ok");
    }
}

fn exits_of_tasks_do_not_wake_other_threads() {
    let (sleeper_end, mut release) = std::io::pipe().expect("pipe");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let sleeper = std::thread::spawn(move || {
        let mut sleeper_end = sleeper_end;
        tid_tx.send(rustix::thread::gettid().as_raw_nonzero().get()).expect("send tid");
        let mut byte = [0u8; 1];
        // Interrupted reads are restarted by the kernel (`SIGCHLD` has no handler):
        // only the context switches show that this thread was woken.
        sleeper_end.read_exact(&mut byte).expect("release");
    });
    let tid = tid_rx.recv().expect("tid");
    wait_until_asleep(tid);
    let before = switches(tid);

    let program = resolve_program("true", Some("/usr/bin:/bin".as_ref())).expect("true");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        let mut exited = 0;
        for n in 0..TASKS {
            exec.spawn(SpawnRequest {
                arg0: None,
                key: TaskKey { unit: UnitId(n), instance: 0 },
                program: program.clone(),
                args: Vec::new(),
                env: Environment::new([("PATH", "/usr/bin:/bin")]),
                dir: std::env::temp_dir(),
            })
            .expect("spawn");
            // Two at a time, as with two slots: each exit falls while the next spawns.
            if exec.running() >= 2 {
                exited += wait_for_an_exit(&mut rx).await;
            }
        }
        while exited < TASKS {
            exited += wait_for_an_exit(&mut rx).await;
        }
    });

    let woken = switches(tid) - before;
    release.write_all(b"x").expect("release the sleeper");
    sleeper.join().expect("sleeper");
    println!("  the sleeping thread was woken {woken} times during {TASKS} tasks");
    assert!(woken <= 2, "the exits of {TASKS} tasks woke a sleeping thread {woken} times");
}

async fn wait_for_an_exit(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ExecEvent>) -> u32 {
    loop {
        let event = tokio::time::timeout(DEADLINE, rx.recv()).await.expect("event in time").expect("open");
        if matches!(event, ExecEvent::Exited { .. }) {
            return 1;
        }
    }
}

/// Voluntary and involuntary context switches of thread `tid` of this process.
fn switches(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).expect("thread status");
    status
        .lines()
        .filter(|line| {
            line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches")
        })
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Waits until thread `tid` sleeps (state `S`), so that its count no longer moves.
fn wait_until_asleep(tid: i32) {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("thread stat");
        if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('S')) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the sleeper never slept");
        std::thread::sleep(Duration::from_millis(1));
    }
}
