//! The orphan guarantee end to end, without the CLI: this test binary plays
//! "volley". Run with the argument `__fake_volley`, it forks its watchdog first
//! thing, then starts a `LocalExecutor` guarded by it and one task with a
//! grandchild. The checks kill the fake volley and check that every process of its
//! task, grandchild included, is gone within the two-second budget. The last check
//! forks the watchdog right after joining a thread, as `volley run` does.
//!
//! A custom harness (`harness = false` in Cargo.toml): volley forks its watchdog
//! only while it has a single thread, and libtest runs every test on a thread of
//! its own. `cargo test --test exec_watchdog [NAME]` runs the checks in order.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::unbounded_channel;
use volley::exec::{Environment, ExecEvent, LocalExecutor, SpawnRequest, WatchdogLink, resolve_program};
use volley_core::event::TaskKey;
use volley_core::graph::UnitId;

const FAKE_VOLLEY: &str = "__fake_volley";
const DIR_VAR: &str = "VOLLEY_EXEC_TEST_DIR";
/// Set: the task's grandchild leaves the task's process group (`setsid`).
const ESCAPE_VAR: &str = "VOLLEY_EXEC_TEST_ESCAPE";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(FAKE_VOLLEY) {
        fake_volley();
        return;
    }
    // None of the checks is ignored: `--list --ignored` lists nothing.
    let listing = args.iter().any(|a| a == "--list");
    if listing && args.iter().any(|a| a == "--ignored") {
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let checks: [(&str, fn()); 4] = [
        ("sigkill_of_volley_kills_its_process_groups", sigkill_of_volley_kills_its_process_groups),
        (
            "watchdog_survives_ctrl_c_to_volleys_process_group",
            watchdog_survives_ctrl_c_to_volleys_process_group,
        ),
        (
            "sigkill_of_volley_kills_processes_that_left_the_group",
            sigkill_of_volley_kills_processes_that_left_the_group,
        ),
        (
            "the_watchdog_forks_right_after_a_thread_is_joined",
            the_watchdog_forks_right_after_a_thread_is_joined,
        ),
    ];
    for (name, check) in checks {
        if listing {
            // As libtest lists, for test runners that ask first.
            println!("{name}: test");
        } else if filter.is_none_or(|f| name.contains(f.as_str())) {
            println!("test {name} ...");
            check();
            println!("test {name} ... ok");
        }
    }
}

fn fake_volley() {
    let run_id = format!("exec-test-{}", std::process::id());
    let mut watchdog = WatchdogLink::fork().expect("fork the watchdog");
    watchdog.mark_run(&run_id);
    let dir = std::env::var_os(DIR_VAR).expect("dir");
    let dir = Path::new(&dir);
    let escape = if std::env::var_os(ESCAPE_VAR).is_some() { "setsid " } else { "" };
    let script = format!(
        "{escape}sleep 1000 & echo $! > '{gc}.tmp'; mv '{gc}.tmp' '{gc}'; echo $$ > '{l}.tmp'; mv '{l}.tmp' '{l}'; wait",
        gc = dir.join("grandchild").display(),
        l = dir.join("leader").display(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let (tx, mut rx) = unbounded_channel();
        let mut exec = LocalExecutor::new(tx, Some(watchdog)).expect("executor");
        exec.spawn(SpawnRequest {
            arg0: None,
            key: TaskKey { unit: UnitId(0), instance: 0 },
            program: resolve_program("sh", None).expect("sh"),
            args: vec!["-c".into(), script.into()],
            env: Environment::new([
                ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
                // As the runner sets it: the watchdog's last resort finds processes by it.
                ("VOLLEY_RUN_ID".to_owned(), run_id.clone()),
            ]),
            dir: dir.to_path_buf(),
        })
        .expect("spawn");
        // Until killed: the task never ends by itself.
        while let Some(event) = rx.recv().await {
            assert!(!matches!(event, ExecEvent::Exited { .. }), "task ended early");
        }
    });
}

fn pid_from(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text.trim().parse().expect("pid");
        }
        assert!(Instant::now() < deadline, "{} never written", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Gone, or a zombie waiting for init.
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Starts a fake volley in its own process group, waits for its task to be up,
/// applies `kill`, and returns how long the task's processes took to die.
fn task_survival_after(kill: impl FnOnce(&std::process::Child)) -> Option<Duration> {
    survival_after(false, kill)
}

fn survival_after(escape: bool, kill: impl FnOnce(&std::process::Child)) -> Option<Duration> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut volley = Command::new(std::env::current_exe().expect("exe"));
    if escape {
        volley.env(ESCAPE_VAR, "1");
    }
    let mut volley = volley
        .arg(FAKE_VOLLEY)
        .env(DIR_VAR, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("fake volley");
    let grandchild = pid_from(&dir.path().join("grandchild"));
    let leader = pid_from(&dir.path().join("leader"));
    assert!(!is_dead(grandchild) && !is_dead(leader));
    let killed = Instant::now();
    kill(&volley);
    volley.wait().expect("reap fake volley");
    let deadline = killed + Duration::from_secs(10);
    while Instant::now() < deadline {
        if is_dead(grandchild) && is_dead(leader) {
            return Some(killed.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Don't leave them behind if the guarantee failed.
    for pid in [grandchild, leader] {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    None
}

fn sigkill_of_volley_kills_its_process_groups() {
    let took = task_survival_after(|volley| {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(volley.id() as i32, libc::SIGKILL) };
    });
    let took = took.expect("task processes outlived volley");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

fn watchdog_survives_ctrl_c_to_volleys_process_group() {
    // The terminal's Ctrl-C goes to volley's process group. This fake volley has no
    // handler and dies of it; the watchdog, in its own group, must live to clean up.
    let took = task_survival_after(|volley| {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(-(volley.id() as i32), libc::SIGINT) };
    });
    let took = took.expect("task processes outlived volley");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

fn sigkill_of_volley_kills_processes_that_left_the_group() {
    // `killpg` cannot reach a `setsid` grandchild; its `VOLLEY_RUN_ID` gives it away.
    let took = survival_after(true, |volley| {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(volley.id() as i32, libc::SIGKILL) };
    });
    let took = took.expect("a process that left the task's group outlived volley");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// `volley run` joins its history thread, then forks the watchdog of the services its
/// tasks need: a thread just joined can still be listed in `/proc/self/task`, which
/// must not make the single-thread check refuse the fork.
fn the_watchdog_forks_right_after_a_thread_is_joined() {
    for round in 0..5000 {
        std::thread::spawn(|| {}).join().expect("join");
        let link = WatchdogLink::fork().unwrap_or_else(|e| panic!("round {round}: {e}"));
        link.bye();
    }
}
