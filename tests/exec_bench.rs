//! Spawn throughput, run by hand (release): 3000 × `sh -c true`, two at a time,
//! through `LocalExecutor` on a current-thread runtime with the watchdog on, against
//! `seq 3000 | xargs -P2 -n1 true` on the same machine; and output throughput.
//!
//! `cargo test --release --test exec_bench -- --ignored --nocapture`
//!
//! A custom harness (`harness = false` in Cargo.toml), since the watchdog is forked
//! only while the process has a single thread; without `--ignored` it skips.

use std::process::{Command, Stdio};
use std::time::Instant;

use tokio::sync::mpsc::unbounded_channel;
use volley::exec::{Environment, ExecEvent, LocalExecutor, SpawnRequest, WatchdogLink, resolve_program};
use volley_core::event::{AttemptEnd, TaskKey};
use volley_core::graph::UnitId;

const JOBS: u32 = 3000;
const SLOTS: u32 = 2;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // Nothing to list: the benchmarks are not tests.
        return;
    }
    if !std::env::args().any(|a| a == "--ignored") {
        println!("exec_bench: benchmarks, skipped; run them with `-- --ignored` in release mode");
        return;
    }
    spawn_throughput_against_xargs();
    output_throughput();
}

fn executor_ms_per_job() -> f64 {
    let watchdog = WatchdogLink::fork().expect("fork the watchdog");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let sh = resolve_program("sh", None).expect("sh");
    let env = Environment::new([("PATH", "/usr/bin:/bin"), ("HOME", "/tmp")]);
    rt.block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, Some(watchdog)).expect("executor");
        let request = |n: u32| SpawnRequest {
            arg0: None,
            key: TaskKey { unit: UnitId(n), instance: 0 },
            program: sh.clone(),
            args: vec!["-c".into(), "true".into()],
            env: env.clone(),
            dir: std::env::temp_dir(),
        };
        let start = Instant::now();
        let (mut started, mut done) = (0, 0);
        while started < SLOTS {
            exec.spawn(request(started)).expect("spawn");
            started += 1;
        }
        while done < JOBS {
            if let Some(ExecEvent::Exited { end, .. }) = rx.recv().await {
                assert_eq!(end, AttemptEnd::Exited { code: 0 });
                done += 1;
                if started < JOBS {
                    exec.spawn(request(started)).expect("spawn");
                    started += 1;
                }
            }
        }
        start.elapsed().as_secs_f64() * 1000.0 / f64::from(JOBS)
    })
}

fn xargs_ms_per_job() -> f64 {
    let items = (1..=JOBS).map(|i| i.to_string()).collect::<Vec<_>>().join("\n") + "\n";
    let start = Instant::now();
    let mut xargs = Command::new("xargs")
        .args(["-P", &SLOTS.to_string(), "-n", "1", "true"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("xargs");
    std::io::Write::write_all(&mut xargs.stdin.take().expect("stdin"), items.as_bytes()).expect("write");
    assert!(xargs.wait().expect("wait").success());
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(JOBS)
}

fn spawn_throughput_against_xargs() {
    for round in 1..=3 {
        let ours = executor_ms_per_job();
        let xargs = xargs_ms_per_job();
        eprintln!(
            "round {round}: LocalExecutor sh -c true: {ours:.3} ms/job; xargs -P{SLOTS} true: {xargs:.3} ms/job; ratio {:.2}",
            ours / xargs
        );
    }
}

fn output_throughput() {
    const TASKS: u32 = 4;
    const BYTES: u64 = 50_000_000;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let sh = resolve_program("sh", None).expect("sh");
    let script = format!("yes 'a line of output such as a build tool prints, 60 bytes' | head -c {BYTES}");
    let (bytes, secs) = rt.block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        let start = Instant::now();
        for n in 0..TASKS {
            exec.spawn(SpawnRequest {
                arg0: None,
                key: TaskKey { unit: UnitId(n), instance: 0 },
                program: sh.clone(),
                args: vec!["-c".into(), script.clone().into()],
                env: Environment::new([("PATH", "/usr/bin:/bin")]),
                dir: std::env::temp_dir(),
            })
            .expect("spawn");
        }
        let (mut bytes, mut done) = (0u64, 0);
        while done < TASKS {
            match rx.recv().await.expect("event") {
                ExecEvent::Output { lines, .. } => bytes += lines.0.len() as u64,
                ExecEvent::Exited { .. } => done += 1,
            }
        }
        (bytes, start.elapsed().as_secs_f64())
    });
    // `head -c` cuts the last line, which gets a `\n`.
    assert!((u64::from(TASKS) * BYTES..=u64::from(TASKS) * (BYTES + 1)).contains(&bytes), "{bytes} bytes");
    eprintln!(
        "{TASKS} × {BYTES} bytes through LocalExecutor: {:.0} MiB/s",
        bytes as f64 / secs / 1_048_576.0
    );
}
