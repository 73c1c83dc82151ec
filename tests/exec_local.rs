//! `LocalExecutor` against real processes: exit statuses, signals, CPU time, the exact
//! environment, directory, stdin, separate streams, lines, grandchildren.
//! Synchronisation is by output, files and deadlines, never by sleeping.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use volley::exec::{Environment, ExecEvent, LocalExecutor, SpawnRequest, resolve_program};
use volley_core::event::{AttemptEnd, Stream, TaskKey};
use volley_core::graph::UnitId;

const DEADLINE: Duration = Duration::from_secs(30);

fn key(n: u32) -> TaskKey {
    TaskKey { unit: UnitId(n), instance: 0 }
}

fn sh(n: u32, script: &str) -> SpawnRequest {
    SpawnRequest {
        arg0: None,
        key: key(n),
        program: resolve_program("sh", Some("/usr/bin:/bin".as_ref())).expect("sh"),
        args: vec!["-c".into(), script.into()],
        env: Environment::new([("PATH", "/usr/bin:/bin")]),
        dir: std::env::temp_dir(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// What one attempt produced.
#[derive(Debug, Default)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    batches: usize,
    end: Option<AttemptEnd>,
    cpu_us: u64,
}

impl Outcome {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Feeds one event into the outcomes; true once `Exited`.
fn absorb(outcome: &mut Outcome, event: ExecEvent) -> bool {
    match event {
        ExecEvent::Output { stream, lines, .. } => {
            assert!(outcome.end.is_none(), "output after exit");
            assert!(!lines.0.is_empty() && lines.0.ends_with(b"\n"), "batch is not whole lines");
            outcome.batches += 1;
            match stream {
                Stream::Stdout => outcome.stdout.extend_from_slice(&lines.0),
                Stream::Stderr => outcome.stderr.extend_from_slice(&lines.0),
            }
            false
        }
        ExecEvent::Exited { end, cpu_user_us, cpu_system_us, .. } => {
            outcome.end = Some(end);
            outcome.cpu_us = cpu_user_us + cpu_system_us;
            true
        }
    }
}

async fn next(rx: &mut UnboundedReceiver<ExecEvent>) -> ExecEvent {
    tokio::time::timeout(DEADLINE, rx.recv()).await.expect("event in time").expect("channel open")
}

/// Runs one request to completion.
fn run(req: SpawnRequest) -> Outcome {
    runtime().block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        exec.spawn(req).expect("spawn");
        let mut outcome = Outcome::default();
        while !absorb(&mut outcome, next(&mut rx).await) {}
        assert_eq!(exec.running(), 0);
        outcome
    })
}

/// True once `pid` is gone or a zombie, polling until the deadline.
fn dies_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) => {
                return true;
            }
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{} never written", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn exit_codes_are_reported() {
    assert_eq!(run(sh(0, "true")).end, Some(AttemptEnd::Exited { code: 0 }));
    assert_eq!(run(sh(0, "exit 3")).end, Some(AttemptEnd::Exited { code: 3 }));
}

#[test]
fn death_by_signal_is_reported() {
    assert_eq!(run(sh(0, "kill -TERM $$")).end, Some(AttemptEnd::Signaled { signal: libc::SIGTERM }));
}

#[test]
fn cpu_time_of_a_busy_loop_is_measured() {
    let out = run(sh(0, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"));
    assert_eq!(out.end, Some(AttemptEnd::Exited { code: 0 }));
    assert!(out.cpu_us > 0, "cpu {}", out.cpu_us);
}

#[test]
fn environment_is_exactly_the_given_one() {
    let req = SpawnRequest {
        arg0: None,
        key: key(0),
        program: PathBuf::from("/usr/bin/env"),
        args: vec![],
        env: Environment::new([("FOO", "bar baz"), ("PATH", "/nowhere")]),
        dir: std::env::temp_dir(),
    };
    assert_eq!(run(req).stdout(), "FOO=bar baz\nPATH=/nowhere\n");
}

#[test]
fn runs_in_the_given_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut req = sh(0, "pwd -P");
    req.dir = dir.path().to_path_buf();
    let expected = dir.path().canonicalize().expect("canonical");
    assert_eq!(run(req).stdout(), format!("{}\n", expected.display()));
}

#[test]
fn stdin_is_dev_null() {
    let out = run(sh(0, "readlink /proc/$$/fd/0; cat; echo after"));
    assert_eq!(out.stdout(), "/dev/null\nafter\n");
}

#[test]
fn stdout_and_stderr_are_separate() {
    let out = run(sh(0, "echo out; echo err >&2; echo out2"));
    assert_eq!(out.stdout(), "out\nout2\n");
    assert_eq!(out.stderr, b"err\n");
}

#[test]
fn lines_come_in_batches() {
    let out = run(sh(0, "seq 1 100000"));
    let expected = (1..=100_000).map(|i| i.to_string()).collect::<Vec<_>>().join("\n") + "\n";
    assert_eq!(out.stdout(), expected);
    assert!(out.batches < 2000, "{} batches for 100000 lines", out.batches);
}

#[test]
fn partial_last_line_and_carriage_returns_become_lines() {
    let out = run(sh(0, r"printf '10%%\r20%%\r\n30%%\nno newline'"));
    assert_eq!(out.stdout(), "10%\n20%\r\n30%\nno newline\n");
}

#[test]
fn invalid_utf8_passes_through_as_bytes() {
    let out = run(sh(0, r"printf '\377\376ok\200\n'"));
    assert_eq!(out.stdout, b"\xff\xfeok\x80\n");
}

#[test]
fn grandchild_holding_the_pipe_does_not_hang_completion() {
    let started = Instant::now();
    let out = run(sh(0, "sleep 30 & echo $!"));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(out.end, Some(AttemptEnd::Exited { code: 0 }));
    let grandchild: u32 = out.stdout().trim().parse().expect("pid");
    assert!(dies_within(grandchild, Duration::from_secs(5)), "leftover of the group survived");
}

#[test]
fn output_a_grandchild_writes_just_after_the_leader_exits_is_kept() {
    // The leader exits young, before its pipes are watched; the grandchild still
    // holds them, so they must be watched now rather than read to their end (which
    // would wait for the grandchild's `sleep 30`).
    let started = Instant::now();
    let out = run(sh(0, "(sleep 0.05; echo late; sleep 30) & echo early"));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(out.stdout(), "early\nlate\n");
}

#[test]
fn leftovers_that_closed_the_pipes_are_killed_at_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 >/dev/null 2>&1 & echo $! > '{}'", pidfile.display());
    assert_eq!(run(sh(0, &script)).end, Some(AttemptEnd::Exited { code: 0 }));
    let grandchild: u32 = wait_for_file(&pidfile).trim().parse().expect("pid");
    assert!(dies_within(grandchild, Duration::from_secs(5)));
}

#[test]
fn leftovers_are_killed_while_the_executor_runs_on() {
    // Killed after `Exited` is sent (the runner starts the next task first), not only
    // when the executor is dropped.
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 >/dev/null 2>&1 & echo $! > '{}'", pidfile.display());
    runtime().block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        exec.spawn(sh(1, &script)).expect("spawn");
        let mut first = Outcome::default();
        while !absorb(&mut first, next(&mut rx).await) {}
        assert_eq!(first.end, Some(AttemptEnd::Exited { code: 0 }));
        let grandchild: u32 = wait_for_file(&pidfile).trim().parse().expect("pid");
        exec.spawn(sh(2, "sleep 0.2")).expect("spawn");
        let mut second = Outcome::default();
        while !absorb(&mut second, next(&mut rx).await) {}
        assert!(dies_within(grandchild, Duration::from_secs(5)), "the first task's leftover survived");
        drop(exec);
    });
}

#[test]
fn signal_reaches_grandchildren() {
    let dir = tempfile::tempdir().expect("tempdir");
    let got = dir.path().join("got");
    // The leader ignores TERM and reports its child's status; the child traps TERM.
    let script = format!(
        "trap '' TERM; ( trap 'echo got > \"{}\"; exit 7' TERM; echo ready; sleep 1000 & wait ) & wait $!; exit $?",
        got.display()
    );
    let out = runtime().block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        exec.spawn(sh(1, &script)).expect("spawn");
        let mut outcome = Outcome::default();
        while !outcome.stdout.starts_with(b"ready\n") {
            assert!(!absorb(&mut outcome, next(&mut rx).await), "exited before the signal");
        }
        exec.signal(key(1), libc::SIGTERM);
        exec.signal(key(99), libc::SIGTERM); // unknown keys are ignored
        while !absorb(&mut outcome, next(&mut rx).await) {}
        outcome
    });
    assert_eq!(out.end, Some(AttemptEnd::Exited { code: 7 }));
    assert_eq!(std::fs::read_to_string(got).expect("trap ran"), "got\n");
}

#[test]
fn kill_all_stops_every_group_and_running_counts_live_attempts() {
    runtime().block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        let a = exec.spawn(sh(1, "echo up; sleep 1000")).expect("spawn");
        let b = exec.spawn(sh(2, "echo up; sleep 1000 & wait")).expect("spawn");
        assert_ne!(a, b);
        assert_eq!(exec.running(), 2);
        let mut ups = 0;
        while ups < 2 {
            if let ExecEvent::Output { lines, .. } = next(&mut rx).await {
                ups += lines.iter().filter(|l| *l == b"up").count();
            }
        }
        exec.kill_all(libc::SIGKILL);
        let mut ended = Vec::new();
        while ended.len() < 2 {
            if let ExecEvent::Exited { key, end, .. } = next(&mut rx).await {
                assert_eq!(end, AttemptEnd::Signaled { signal: libc::SIGKILL });
                ended.push(key);
            }
        }
        ended.sort();
        assert_eq!(ended, [key(1), key(2)]);
        assert_eq!(exec.running(), 0);
    });
}

#[test]
fn spawn_failure_is_an_error_and_leaves_nothing_running() {
    runtime().block_on(async {
        let (tx, _rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        let mut req = sh(0, "true");
        req.dir = PathBuf::from("/nonexistent/volley-test-dir");
        assert!(exec.spawn(req).is_err());
        let mut req = sh(0, "true");
        req.program = PathBuf::from("/nonexistent/volley-test-program");
        assert!(exec.spawn(req).is_err());
        assert_eq!(exec.running(), 0);
    });
}

#[test]
fn many_attempts_in_parallel_all_report() {
    runtime().block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, None).expect("executor");
        for n in 0..50 {
            exec.spawn(sh(n, &format!("echo {n}; echo e{n} >&2; exit {}", n % 3))).expect("spawn");
        }
        let mut outcomes: Vec<Outcome> = (0..50).map(|_| Outcome::default()).collect();
        let mut done = 0;
        while done < 50 {
            let event = next(&mut rx).await;
            let n = match &event {
                ExecEvent::Output { key, .. } | ExecEvent::Exited { key, .. } => key.unit.0 as usize,
            };
            done += usize::from(absorb(&mut outcomes[n], event));
        }
        for (n, o) in outcomes.iter().enumerate() {
            assert_eq!(o.stdout(), format!("{n}\n"));
            assert_eq!(o.stderr, format!("e{n}\n").into_bytes());
            assert_eq!(o.end, Some(AttemptEnd::Exited { code: n as i32 % 3 }));
        }
    });
}

#[test]
fn executor_needs_a_runtime() {
    let (tx, _rx) = unbounded_channel();
    assert!(LocalExecutor::new(tx, None).is_err());
}

#[test]
fn programs_resolve_once() {
    let path: OsString = "/usr/bin:/bin".into();
    let sh = resolve_program("sh", Some(&path)).expect("sh");
    assert!(sh.is_absolute());
}
