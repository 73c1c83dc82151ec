//! Interrupts and the orphan guarantee: no process started by volley outlives it.

use std::time::{Duration, Instant};

use crate::support::{Test, alive, read_pids, signal, wait_for};

/// A task that records its shell's pid and a grandchild's pid, then waits.
const TWO_LEVELS: &str = "sleep 300 & echo $! >> pids; echo $$ >> pids; wait";

fn wait_for_pids(test: &Test, count: usize) -> Vec<i32> {
    assert!(
        wait_for(Duration::from_secs(10), || read_pids(&test.path("pids")).len() >= count),
        "tasks did not start"
    );
    read_pids(&test.path("pids"))
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("volley did not exit within {limit:?}");
}

#[test]
fn interrupt_stops_every_task_and_exits_130() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let toml = format!(
            "[tasks.a]\nrun = \"trap 'echo term > got-term-a; exit 1' TERM; {TWO_LEVELS}\"\n[tasks.b]\nrun = \"{TWO_LEVELS}\"\n[tasks.later]\ndeps = [\"a\"]\nrun = \"touch later-ran\"\n"
        );
        let test = Test::with_toml(&toml).args(&["run", "-j", "2"]);
        let mut volley = test.spawn();
        let pids = wait_for_pids(&test, 4);
        signal(volley.id(), sig);
        assert_eq!(wait_exit(&mut volley, Duration::from_secs(15)), Some(130));
        assert!(
            wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))),
            "all processes gone: {pids:?}"
        );
        assert!(!test.path("later-ran").exists(), "nothing new starts after an interrupt");
        let stdout = test.read("volley.stdout");
        assert!(stdout.contains('a') && !stdout.contains("✓ later"), "{stdout}");
    }
}

#[test]
fn second_interrupt_kills_at_once() {
    let toml = format!(
        "[settings]\nkill_timeout = \"60s\"\n[tasks.stubborn]\nrun = \"trap '' TERM; {TWO_LEVELS}\"\n"
    );
    let test = Test::with_toml(&toml).args(&["run"]);
    let mut volley = test.spawn();
    let pids = wait_for_pids(&test, 2);
    signal(volley.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(volley.try_wait().expect("wait").is_none(), "the stubborn task holds the first interrupt");
    let started = Instant::now();
    signal(volley.id(), libc::SIGINT);
    assert_eq!(wait_exit(&mut volley, Duration::from_secs(10)), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the second interrupt does not wait for the grace period"
    );
    assert!(
        wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))),
        "all processes gone: {pids:?}"
    );
}

#[test]
fn sigkill_of_volley_leaves_no_process_behind() {
    let toml = format!("[tasks.a]\nrun = \"{TWO_LEVELS}\"\n[tasks.b]\nrun = \"{TWO_LEVELS}\"\n");
    let test = Test::with_toml(&toml).args(&["run", "-j", "2"]);
    let mut volley = test.spawn();
    let pids = wait_for_pids(&test, 4);
    signal(volley.id(), libc::SIGKILL);
    let _ = volley.wait();
    let gone = wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p)));
    // Clean up before asserting, so a failure does not leak sleeps into other tests.
    for pid in &pids {
        signal(*pid as u32, libc::SIGKILL);
    }
    assert!(
        gone,
        "processes survived volley's SIGKILL: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

/// The parent and process group of a process, from `/proc/PID/stat`.
fn parent_and_group(pid: i32) -> Option<(u32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(1);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// A process as `/proc` shows it.
#[derive(Debug)]
struct Seen {
    pid: i32,
    group: i32,
    cwd: String,
    /// Each open descriptor and its target, in order.
    descriptors: Vec<(String, String)>,
}

/// The child of `parent` named `name`, if any.
fn find_child(parent: u32, name: &str) -> Option<Seen> {
    let link = |path: String| std::fs::read_link(path).map(|p| p.display().to_string()).unwrap_or_default();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let Some((its_parent, group)) = parent_and_group(pid) else { continue };
        if its_parent != parent || comm.trim() != name {
            continue;
        }
        let mut descriptors: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()?
            .flatten()
            .map(|fd| {
                let fd = fd.file_name().to_string_lossy().into_owned();
                let target = link(format!("/proc/{pid}/fd/{fd}"));
                (fd, target)
            })
            .collect();
        descriptors.sort();
        return Some(Seen { pid, group, cwd: link(format!("/proc/{pid}/cwd")), descriptors });
    }
    None
}

#[test]
fn the_watchdog_is_a_fork_that_holds_nothing_of_volleys() {
    // Forked, not executed (a millisecond of start-up less); in a group of its own, so
    // Ctrl-C at the terminal is volley's to handle; holding only its pipe and
    // /dev/null: not volley's stdout, which a pipeline would wait on, nor its history.
    let toml = format!("[tasks.a]\nrun = \"{TWO_LEVELS}\"\n");
    let test = Test::with_toml(&toml).args(&["run"]);
    let mut volley = test.spawn();
    let pids = wait_for_pids(&test, 2);
    let watchdog = find_child(volley.id(), "volley-watchdog");
    signal(volley.id(), libc::SIGINT);
    assert_eq!(wait_exit(&mut volley, Duration::from_secs(15)), Some(130));
    assert!(wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))));
    let watchdog = watchdog.expect("no child of volley named volley-watchdog");
    assert_eq!(watchdog.group, watchdog.pid, "the watchdog shares a process group");
    assert_eq!(watchdog.cwd, "/");
    let fds = &watchdog.descriptors;
    let numbers: Vec<&str> = fds.iter().map(|(fd, _)| fd.as_str()).collect();
    assert_eq!(numbers, ["0", "1", "2"], "{fds:?}");
    assert!(fds[0].1.starts_with("pipe:"), "{fds:?}");
    assert_eq!((fds[1].1.as_str(), fds[2].1.as_str()), ("/dev/null", "/dev/null"));
    assert!(wait_for(Duration::from_secs(3), || !alive(watchdog.pid)), "the watchdog outlived volley's end");
}
