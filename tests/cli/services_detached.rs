//! Services under a detached supervisor: `up -d`, `status`, `logs`, `restart`,
//! `down`, probes and restarts over time, left-over PID files.

use std::collections::HashMap;
use std::time::Duration;

use super::services::{Cleanup, SERVICE_PY, count, events, first, free_port, service, volley};
use crate::support::{Test, alive, read_pids, wait_for};

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

    volley(&test, &["logs", "app"]).code(0).stdout_has("app | app up").stdout_has("app ! app warming");

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
fn a_log_probe_deadline_does_not_fire_once_the_service_is_ready() {
    if !crate::support::require_tool("python3") {
        return;
    }
    let toml = format!(
        "[services.quick]\nrun = \"{}\"\nready = {{ log = \"^ready\", timeout = \"3s\" }}\n",
        service("quick", "")
    );
    let test = Test::with_toml(&toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["up", "-d"]).code(0);
    // Past the probe's deadline, counted from the spawn.
    let spawned = first(&events(&test), "quick", "spawned");
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64((spawned + 3.5 - now).max(0.0)));
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
fn logs_follow_marks_the_stderr_lines_that_arrive() {
    let toml = "[services.chatty]\nrun = \"i=0; while true; do i=$((i+1)); echo out $i; echo err $i >&2; \
                sleep 0.05; done\"\nready = { log = \"out 1\" }\n";
    let test = Test::with_toml(toml);
    let _cleanup = Cleanup(&test);
    volley(&test, &["up", "-d"]).code(0);
    let mut follow = crate::support::command(&test, &["logs", "-f", "-n", "0", "chatty"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs -f");
    let stdout = follow.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().map_while(Result::ok).take(6).collect::<Vec<String>>()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let lines = reader.join().expect("reader");
    assert_eq!(lines.len(), 6, "{lines:?}");
    for line in &lines {
        let number = line.rsplit(' ').next().expect("a number");
        let expected = if line.contains(" err ") {
            format!("chatty ! err {number}")
        } else {
            format!("chatty | out {number}")
        };
        assert_eq!(line, &expected, "{lines:?}");
    }
    assert!(lines.iter().any(|l| l.contains(" ! ")) && lines.iter().any(|l| l.contains(" | ")), "{lines:?}");
}

#[test]
fn a_service_written_as_a_shell_loop_stops_on_its_stop_signal() {
    // The stop signal goes to what the shell runs (here one `sleep` of many), so that a
    // command under a waiting shell shuts down gracefully; a shell that outlives it
    // gets the signal too instead of waiting for the stop timeout's SIGKILL.
    let test = Test::with_toml(
        "[services.loop]\nrun = \"while true; do sleep 0.05; done\"\nstop_timeout = \"20s\"\n",
    );
    let _cleanup = Cleanup(&test);
    volley(&test, &["up", "-d"]).code(0);
    let started = std::time::Instant::now();
    volley(&test, &["down"]).code(0).stdout_has("loop stopped in").stdout_lacks("killed");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}
