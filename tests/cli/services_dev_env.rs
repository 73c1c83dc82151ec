//! `examples/dev-env` end to end with a real `redis-server`: `up -d`, a task that
//! needs the backend, `status`, `logs`, `down`. The example's fixed ports are
//! replaced with free ones so tests can run side by side.

use std::time::Duration;

use crate::examples::copy_example;
use crate::services::{free_port, volley};
use crate::support::{alive, wait_for};

#[test]
fn dev_env_example_starts_by_readiness_serves_a_task_and_stops() {
    if !crate::support::require_tool("redis-server") || !crate::support::require_tool("python3") {
        return;
    }
    let test = copy_example("dev-env");
    let mut toml = test.read("volley.toml");
    for port in ["6380", "8000", "8001"] {
        toml = toml.replace(port, &free_port().to_string());
    }
    test.write("volley.toml", &toml);
    let cleanup = scopeguard(&test);

    let up = volley(&test, &["up", "-d"]);
    up.code(0).stdout_has("all ready in");
    for name in ["redis", "backend", "worker", "frontend", "monitor"] {
        up.stdout_has(&format!("{name} ready"));
    }
    volley(&test, &["run", "smoke"]).code(0).stdout_has("backend answered 200");

    let status = volley(&test, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    let services = json["services"]["services"].as_array().expect("services");
    let pids: Vec<i32> = services.iter().map(|s| s["pid"].as_i64().expect("pid") as i32).collect();
    assert_eq!(pids.len(), 5);
    assert!(services.iter().all(|s| s["state"] == "ready"), "{}", status.stdout);
    volley(&test, &["logs", "worker"]).code(0).stdout_has("worker | Worker process is ready");

    let down = volley(&test, &["down"]);
    down.code(0).stdout_has("stopped 5 service(s)");
    assert!(wait_for(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))), "everything stopped");
    drop(cleanup);
}

/// Runs `volley down` if the test fails half-way, so no redis outlives it.
fn scopeguard(test: &crate::support::Test) -> impl Drop + '_ {
    struct Down<'a>(&'a crate::support::Test);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = volley(self.0, &["down"]);
        }
    }
    Down(test)
}
