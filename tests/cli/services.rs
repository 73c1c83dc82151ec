//! Services end to end (SPEC §4): real processes on loopback, started by the stand-in
//! `tests/data/service.py`, which appends `<time> <name> <what>` lines to an events
//! file so start order, promptness and stop order are measured from timestamps.

use std::time::Duration;

pub use crate::support::volley;
use crate::support::{Test, alive, read_pids, signal, wait_for};

pub const SERVICE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/service.py");

/// A free loopback port (bound, then released for the service to take).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A `run` line: the shell notes when it started, then becomes the stand-in service.
pub fn service(name: &str, flags: &str) -> String {
    format!(
        "echo \\\"$(date +%s.%N) {name} spawned\\\" >> events; exec python3 {SERVICE_PY} --name {name} --events-file events --pid-file pids {flags}"
    )
}

/// `(time, name, what)` lines of the events file.
pub fn events(test: &Test) -> Vec<(f64, String, String)> {
    test.read("events")
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let t = parts.next()?.parse().ok()?;
            Some((t, parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

pub fn first(events: &[(f64, String, String)], name: &str, what: &str) -> f64 {
    events
        .iter()
        .find(|(_, n, w)| n == name && w == what)
        .map_or_else(|| panic!("no `{name} {what}` in {events:?}"), |(t, _, _)| *t)
}

pub fn count(events: &[(f64, String, String)], name: &str, what: &str) -> usize {
    events.iter().filter(|(_, n, w)| n == name && w == what).count()
}

/// Stops whatever a test left running, even when it fails half-way.
pub struct Cleanup<'a>(pub &'a Test);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = volley(self.0, &["down"]);
        for pid in read_pids(&self.0.path("pids")) {
            signal(pid as u32, libc::SIGKILL);
        }
    }
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("volley did not exit within {limit:?}");
}

/// redis-like `db` (tcp) → `api` (http) → `worker` (log line); `web` (no probe) beside.
fn chain(db: u16, api: u16) -> String {
    format!(
        r#"
[services.db]
run = "{db_run}"
ready = {{ tcp = "127.0.0.1:{db}", interval = "20ms" }}

[services.api]
run = "{api_run}"
deps = ["db"]
ready = {{ http = "http://127.0.0.1:{api}/health", status = 200, interval = "20ms" }}

[services.worker]
run = "{worker_run}"
deps = ["api"]
ready = {{ log = "Worker process is ready" }}

[services.web]
run = "{web_run}"
"#,
        db_run = service("db", &format!("--port {db} --delay 0.3")),
        api_run = service("api", &format!("--port {api} --delay 0.2")),
        worker_run = service("worker", "--delay 0.2 --ready-line 'Worker process is ready'"),
        web_run = service("web", ""),
    )
}

#[test]
fn foreground_up_starts_each_service_promptly_after_its_deps_and_ctrl_c_stops_all() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let test = Test::with_toml(&chain(free_port(), free_port())).args(&["up"]);
    let _cleanup = Cleanup(&test);
    let mut volley = test.spawn();
    assert!(
        wait_for(Duration::from_secs(20), || test.read("volley.stdout").contains("✓ worker ready")),
        "not ready: {}",
        test.read("volley.stdout")
    );
    let ev = events(&test);
    let bound = 0.3;
    let api_start = first(&ev, "api", "spawned") - first(&ev, "db", "ready");
    let worker_start = first(&ev, "worker", "spawned") - first(&ev, "api", "ready");
    assert!((0.0..bound).contains(&api_start), "api started {api_start:.3}s after db was ready");
    assert!((0.0..bound).contains(&worker_start), "worker started {worker_start:.3}s after api was ready");
    assert!(first(&ev, "web", "spawned") < first(&ev, "db", "ready"), "web needs nothing: starts at once");
    let stdout = test.read("volley.stdout");
    assert!(stdout.contains("db     | ready"), "output is tagged: {stdout}");

    let pids = read_pids(&test.path("pids"));
    signal(volley.id(), libc::SIGINT);
    assert_eq!(wait_exit(&mut volley, Duration::from_secs(15)), Some(130));
    assert!(wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))), "all stopped: {pids:?}");
    let ev = events(&test);
    assert!(first(&ev, "worker", "stopped") <= first(&ev, "api", "stopped"), "dependents stop first");
    assert!(first(&ev, "api", "stopped") <= first(&ev, "db", "stopped"));
}

#[test]
fn sigkill_of_foreground_up_leaves_no_service_behind() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.a]\nrun = \"{}\"\n[services.b]\nrun = \"{}\"\ndeps = [\"a\"]\n",
        service("a", ""),
        service("b", "")
    );
    let test = Test::with_toml(&toml).args(&["up"]);
    let _cleanup = Cleanup(&test);
    let mut up = test.spawn();
    assert!(wait_for(Duration::from_secs(20), || read_pids(&test.path("pids")).len() == 2), "both started");
    let pids = read_pids(&test.path("pids"));
    let record: serde_json::Value =
        serde_json::from_str(&test.read(".volley/supervisor.json")).expect("supervisor.json");
    let socket = std::path::PathBuf::from(record["socket"].as_str().expect("socket path"));
    signal(up.id(), libc::SIGKILL);
    let _ = up.wait();
    assert!(
        wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))),
        "services survived volley's SIGKILL: {pids:?}"
    );
    // A SIGKILL leaves the socket file behind; `down` recognises it by the free lock.
    assert!(socket.exists(), "the dead supervisor's socket is still there");
    volley(&test, &["down"]).code(0).stdout_has("removed the socket of a supervisor that died");
    assert!(!socket.exists(), "down removes the stale socket");
    assert!(!test.path(".volley/supervisor.json").exists(), "and the stale record");
}

#[test]
fn a_crashing_service_is_restarted_per_policy_then_up_fails_with_its_last_lines() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.flaky]\nrun = \"{}\"\nready = {{ delay = \"5s\" }}\nrestart = \"on-failure\"\nmax_restarts = 2\nrestart_delay = \"50ms\"\n\n[services.after]\nrun = \"{}\"\ndeps = [\"flaky\"]\n",
        service("flaky", "--crash-after 0"),
        service("after", "")
    );
    let test = Test::with_toml(&toml).args(&["up"]);
    let _cleanup = Cleanup(&test);
    let run = test.run();
    run.code(1).stderr_has("service `flaky` failed").stderr_has("flaky: crashing");
    let ev = events(&test);
    assert_eq!(count(&ev, "flaky", "spawned"), 3, "first attempt + max_restarts: {ev:?}");
    assert_eq!(count(&ev, "after", "spawned"), 0, "its dependent never starts");
    assert!(run.stdout.contains("restarting in"), "{}", run.stdout);
}

#[test]
fn a_second_interrupt_kills_stubborn_services_at_once() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.stubborn]\nrun = \"{}\"\nready = {{ log = \"^ready\" }}\nstop_timeout = \"60s\"\n",
        service("stubborn", "--ignore-term")
    );
    let test = Test::with_toml(&toml).args(&["up"]);
    let _cleanup = Cleanup(&test);
    let mut up = test.spawn();
    assert!(wait_for(Duration::from_secs(20), || test.read("volley.stdout").contains("✓ stubborn ready")));
    let pids = read_pids(&test.path("pids"));
    signal(up.id(), libc::SIGINT);
    assert!(wait_for(Duration::from_secs(5), || test.read("volley.stdout").contains("ignoring SIGTERM")));
    assert!(up.try_wait().expect("wait").is_none(), "the first interrupt waits for the stop timeout");
    let started = std::time::Instant::now();
    signal(up.id(), libc::SIGINT);
    assert_eq!(wait_exit(&mut up, Duration::from_secs(10)), Some(130));
    assert!(started.elapsed() < Duration::from_secs(5), "the second interrupt does not wait");
    assert!(wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))));
}

#[test]
fn a_closed_terminal_stops_foreground_services_gracefully() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.calm]\nrun = \"{}\"\nready = {{ log = \"^ready\" }}\n",
        service("calm", "--stop-delay 0.2")
    );
    let test = Test::with_toml(&toml).args(&["up"]);
    let _cleanup = Cleanup(&test);
    let mut up = test.spawn();
    assert!(wait_for(Duration::from_secs(20), || test.read("volley.stdout").contains("✓ calm ready")));
    signal(up.id(), libc::SIGHUP);
    assert_eq!(wait_exit(&mut up, Duration::from_secs(10)), Some(130));
    assert_eq!(count(&events(&test), "calm", "stopped"), 1, "it ran its own shutdown");
}
