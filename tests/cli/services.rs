//! Services end to end (SPEC §4): real processes on loopback, started by the stand-in
//! `tests/data/service.py`, which appends `<time> <name> <what>` lines to an events
//! file so start order, promptness and stop order are measured from timestamps.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::{Run, Test, VOLLEY, alive, read_pids, signal, wait_for};

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
fn events(test: &Test) -> Vec<(f64, String, String)> {
    test.read("events")
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let t = parts.next()?.parse().ok()?;
            Some((t, parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

fn first(events: &[(f64, String, String)], name: &str, what: &str) -> f64 {
    events
        .iter()
        .find(|(_, n, w)| n == name && w == what)
        .map_or_else(|| panic!("no `{name} {what}` in {events:?}"), |(t, _, _)| *t)
}

fn count(events: &[(f64, String, String)], name: &str, what: &str) -> usize {
    events.iter().filter(|(_, n, w)| n == name && w == what).count()
}

/// Runs volley in `test`'s project with `args`.
pub fn volley(test: &Test, args: &[&str]) -> Run {
    let output = std::process::Command::new(VOLLEY)
        .args(args)
        .current_dir(test.dir.path())
        .env_remove("VOLLEY_JOBS")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run volley");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Stops whatever a test left running, even when it fails half-way.
struct Cleanup<'a>(&'a Test);

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
    let mut volley = test.spawn();
    assert!(wait_for(Duration::from_secs(20), || read_pids(&test.path("pids")).len() == 2), "both started");
    let pids = read_pids(&test.path("pids"));
    signal(volley.id(), libc::SIGKILL);
    let _ = volley.wait();
    assert!(
        wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))),
        "services survived volley's SIGKILL: {pids:?}"
    );
}

#[test]
fn a_crashing_service_is_restarted_per_policy_then_up_fails_with_its_last_lines() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.flaky]\nrun = \"{}\"\nready = {{ delay = \"2s\" }}\nrestart = \"on-failure\"\nmax_restarts = 2\nrestart_delay = \"50ms\"\n\n[services.after]\nrun = \"{}\"\ndeps = [\"flaky\"]\n",
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
fn a_probe_that_never_passes_fails_the_service_after_its_timeout() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let port = free_port();
    let toml = format!(
        "[services.deaf]\nrun = \"{}\"\nready = {{ tcp = \"127.0.0.1:{port}\", interval = \"50ms\", timeout = \"400ms\" }}\n",
        service("deaf", "")
    );
    let test = Test::with_toml(&toml).args(&["up", "-d"]);
    let _cleanup = Cleanup(&test);
    let started = std::time::Instant::now();
    test.run().code(1).stderr_has("service `deaf` failed: not ready within 0.4s");
    assert!(started.elapsed() < Duration::from_secs(10));
    let pids = read_pids(&test.path("pids"));
    assert!(
        wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))),
        "the failed service is killed"
    );
}

#[test]
fn detached_up_status_logs_restart_and_down_round_trip() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let port = free_port();
    let toml = format!(
        "[services.db]\nrun = \"{}\"\nready = {{ tcp = \"127.0.0.1:{port}\", interval = \"20ms\" }}\n\n[services.app]\nrun = \"{}\"\ndeps = [\"db\"]\nready = {{ log = \"app up\" }}\n\n[services.stubborn]\nrun = \"{}\"\ndeps = [\"db\"]\nstop_timeout = \"700ms\"\n",
        service("db", &format!("--port {port} --stop-delay 0.1")),
        service("app", "--ready-line 'app up'"),
        service("stubborn", "--ignore-term"),
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    let up = volley(&test, &["up", "-d", "app"]);
    up.code(0).stdout_has("app ready").stdout_has("db ready");
    assert!(!up.stdout.contains("stubborn"), "only what was asked for and its deps");

    // The socket is owner-only and its path is recorded in the state dir.
    let record: serde_json::Value =
        serde_json::from_str(&test.read(".volley/supervisor.json")).expect("supervisor.json");
    let socket = record["socket"].as_str().expect("socket path");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(socket).expect("socket").permissions());
    assert_eq!(mode & 0o777, 0o600);

    // A second `up -d` adds to the running supervisor.
    volley(&test, &["up", "-d", "stubborn"]).code(0).stdout_has("stubborn ready");

    let status = volley(&test, &["status", "--json"]);
    status.code(0);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    let services: HashMap<String, serde_json::Value> = json["services"]["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| (s["name"].as_str().expect("name").to_owned(), s.clone()))
        .collect();
    for name in ["db", "app", "stubborn"] {
        assert_eq!(services[name]["state"], "ready", "{name}: {}", status.stdout);
        assert!(alive(services[name]["pid"].as_i64().expect("pid") as i32));
        assert!(services[name]["rss_bytes"].as_u64().expect("rss") > 0);
    }
    assert_eq!(services["db"]["last_probe"]["ok"], true);
    volley(&test, &["status"])
        .code(0)
        .stdout_has("stubborn")
        .stdout_has("ready")
        .stdout_has("no run in progress");

    volley(&test, &["logs", "app"]).code(0).stdout_has("app | app up");

    let old_app = services["app"]["pid"].as_i64().expect("pid") as i32;
    volley(&test, &["restart", "app"]).code(0).stdout_has("app ready");
    assert!(wait_for(Duration::from_secs(3), || !alive(old_app)), "the old process is gone");
    assert_eq!(count(&events(&test), "db", "spawned"), 1, "restart touches nothing else");

    let pids = read_pids(&test.path("pids"));
    let down_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let down = volley(&test, &["down"]);
    down.code(0).stdout_has("stubborn stopped in").stdout_has("(killed after its stop timeout)");
    assert!(wait_for(Duration::from_secs(3), || pids.iter().all(|p| !alive(*p))), "no orphans after down");
    let ev = events(&test);
    let app_stop = first(&ev, "app", "stopped") - down_at;
    assert!(app_stop < 0.5, "app stops beside stubborn, not after it: {app_stop:.3}s");
    let waited = first(&ev, "db", "stopped") - first(&ev, "app", "stopped");
    // app stops at once, in parallel with stubborn, which is killed after 700ms; db
    // gets its signal only then.
    assert!(waited > 0.5, "db stopped {waited:.3}s after app: it must wait for stubborn");
    volley(&test, &["status"]).code(0).stdout_has("no supervisor is running");
    assert!(read_pids_dir(&test).is_empty(), "PID files are removed");

    // The `up -d` is recorded as a run; its report shows the services' timeline.
    let report = volley(&test, &["report"]);
    report.code(0).stdout_has("volley up -d").stdout_has("services (start-up and shutdown timeline)");
    assert!(
        report.stdout.lines().any(|l| l.contains("stubborn") && l.contains("killed after its stop timeout")),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.lines().any(|l| l.contains("app") && l.contains("ready after")),
        "{}",
        report.stdout
    );
}

fn read_pids_dir(test: &Test) -> Vec<String> {
    std::fs::read_dir(test.path(".volley/pids"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn commands_name_unknown_services_clearly() {
    let test = Test::with_toml("[services.redis]\nrun = \"sleep 100\"\n[tasks.build]\nrun = \"true\"\n");
    volley(&test, &["up", "rediss"]).code(2).stderr_has("did you mean `redis`?");
    volley(&test, &["down", "build"]).code(2).stderr_has("`build` is a task");
    volley(&test, &["restart", "redis"]).code(2).stderr_has("no services are running");
    volley(&test, &["down"]).code(0).stdout_has("no services are running");
}

#[test]
fn a_task_that_needs_a_service_starts_it_waits_for_ready_and_stops_it_after() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let port = free_port();
    let toml = format!(
        "[services.db]\nrun = \"{}\"\nready = {{ http = \"http://127.0.0.1:{port}/health\", status = 200, interval = \"20ms\" }}\n\n[tasks.test]\ndeps = [\"db\"]\nrun = \"python3 -c 'import urllib.request as u; print(u.urlopen(\\\"http://127.0.0.1:{port}/health\\\").status)' > answer\"\n",
        service("db", &format!("--port {port} --delay 0.2"))
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["run", "test"]).code(0);
    assert_eq!(test.read("answer").trim(), "200", "the service was ready when the task ran");
    let pids = read_pids(&test.path("pids"));
    assert_eq!(pids.len(), 1);
    assert!(wait_for(Duration::from_secs(3), || !alive(pids[0])), "the run stops the service it started");
    assert_eq!(count(&events(&test), "db", "stopped"), 1);

    // Under a supervisor, the run uses the running service and leaves it running.
    volley(&test, &["up", "-d"]).code(0);
    volley(&test, &["run", "test"]).code(0);
    let pids = read_pids(&test.path("pids"));
    assert_eq!(pids.len(), 2, "no second db was started");
    assert!(alive(pids[1]), "the supervisor's service keeps running after the run");
    volley(&test, &["down"]).code(0);
}

#[test]
fn a_failing_healthcheck_after_ready_restarts_the_service_per_policy() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let (port, closed) = (free_port(), free_port());
    let toml = format!(
        "[services.api]\nrun = \"{}\"\nready = {{ tcp = \"127.0.0.1:{port}\", interval = \"20ms\" }}\nhealthcheck = {{ tcp = \"127.0.0.1:{closed}\", interval = \"100ms\", retries = 2 }}\nrestart = \"on-failure\"\nmax_restarts = 1\nrestart_delay = \"50ms\"\n",
        service("api", &format!("--port {port}"))
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["up", "-d"]).code(0).stdout_has("api ready");
    let state = || {
        let status = volley(&test, &["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap_or_default();
        json["services"]["services"][0].clone()
    };
    // `failed` is also the state during the restart delay: wait for the restart first.
    assert!(
        wait_for(Duration::from_secs(15), || count(&events(&test), "api", "spawned") == 2),
        "restarted after its healthcheck failed: {}",
        state()
    );
    assert!(
        wait_for(Duration::from_secs(15), || state()["state"] == "failed"),
        "liveness failures end in `failed`: {}",
        state()
    );
    assert_eq!(count(&events(&test), "api", "spawned"), 2, "one restart, then failed");
    let last = state();
    assert_eq!(last["restarts"], 1);
    assert_eq!(last["last_probe"]["ok"], false);
    volley(&test, &["logs", "api"]).code(0);
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
fn a_service_under_a_waiting_shell_still_gets_its_graceful_stop() {
    if !crate::support::require_tool("python3") {
        return;
    }
    // `; true` keeps the shell as the service's parent, whatever the shell.
    let toml = format!(
        "[services.slow]\nrun = \"python3 {SERVICE_PY} --name slow --events-file events --stop-delay 0.4; true\"\nready = {{ log = \"^ready\" }}\n"
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["up", "-d"]).code(0);
    let down = volley(&test, &["down"]);
    down.code(0);
    assert_eq!(count(&events(&test), "slow", "stopped"), 1, "it finished its own shutdown: {}", down.stdout);
    assert!(!down.stdout.contains("killed"), "{}", down.stdout);
}

#[test]
fn a_log_probe_deadline_does_not_fire_once_the_service_is_ready() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.quick]\nrun = \"{}\"\nready = {{ log = \"^ready\", timeout = \"300ms\" }}\n",
        service("quick", "")
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["up", "-d"]).code(0);
    std::thread::sleep(Duration::from_millis(800));
    let status = volley(&test, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(json["services"]["services"][0]["state"], "ready", "{}", status.stdout);
    assert_eq!(count(&events(&test), "quick", "spawned"), 1);
}

/// `/proc/<pid>/stat` field 22: the process's start time in clock ticks.
fn start_time(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, rest) = stat.rsplit_once(')').expect("stat format");
    rest.split_whitespace().nth(19).expect("start time").to_owned()
}

#[test]
fn left_over_pid_files_are_reported_by_status_and_only_our_processes_are_killed_by_down() {
    use std::os::unix::process::CommandExt;
    let test = Test::with_toml("[services.db]\nrun = \"sleep 100\"\n");
    // An orphan of a supervisor that died with its watchdog, and a file whose pid now
    // belongs to another process (same pid, different start time).
    let mut orphan =
        std::process::Command::new("sleep").arg("100").process_group(0).spawn().expect("spawn sleep");
    let mut stranger =
        std::process::Command::new("sleep").arg("100").process_group(0).spawn().expect("spawn sleep");
    test.write(".volley/pids/db.pid", &format!("{} {}\n", orphan.id(), start_time(orphan.id())));
    test.write(".volley/pids/old.pid", &format!("{} 1\n", stranger.id()));

    volley(&test, &["status"]).code(0).stdout_has(&format!("pid {} is still running", orphan.id()));
    assert!(alive(orphan.id() as i32), "status never kills");
    assert!(!test.path(".volley/pids/old.pid").exists(), "a reused pid's file is removed");

    volley(&test, &["down"]).code(0).stdout_has(&format!("killed pid {}", orphan.id()));
    let killed = wait_for(Duration::from_secs(3), || !alive(orphan.id() as i32));
    let _ = orphan.kill();
    let _ = orphan.wait();
    assert!(killed, "down kills the orphan's group");
    assert!(alive(stranger.id() as i32), "a process that is not ours is never signalled");
    assert!(!test.path(".volley/pids/db.pid").exists());
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn logs_of_a_recorded_run_are_shown_tagged() {
    let test =
        Test::with_toml("[tasks.build]\nrun = \"echo built it\"\n[tasks.lint]\nrun = \"echo linted\"\n");
    volley(&test, &["run"]).code(0);
    volley(&test, &["logs", "--run", "last"])
        .code(0)
        .stdout_has("build | built it")
        .stdout_has("lint  | linted");
    let only = volley(&test, &["logs", "--run", "1", "lint"]);
    only.code(0).stdout_has("lint | linted").stdout_lacks("build");
    volley(&test, &["logs", "--run", "7"]).code(2).stderr_has("no run `7`");
}
