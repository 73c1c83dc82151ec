//! Valid files produce the right model: the spec's full example, defaults, warnings.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::test_support::{FakeFs, load_ok};
use crate::model::{
    Alerts, DotenvFile, ExecutorKind, ForEach, Pool, ProbeCheck, RestartPolicy, Signal, SlurmSpec,
};

/// SPEC §1's example, with every key used once.
const FULL: &str = r#"
[settings]                      # every key optional
jobs = 4
shell = ["bash", "-eo", "pipefail", "-c"]
fail_fast = false
kill_timeout = "5s"
sample_interval = "0s"
default = ["essential"]
env = { LANG = "C.UTF-8", PORT = 8000, DEBUG = true }
dotenv = [".env", "?.env.local"]
state_dir = ".state"
keep_logs = 20
executor = "local"

[settings.pools]
network = 3

[settings.alerts]
min_free_memory = "500MiB"
min_free_disk = "5GiB"
slow_factor = 2
regression = 0.20

[tasks.homebrew]
run = """
curl -fsSL https://brew.sh/install.sh
  | bash
"""

[tasks.essential]
run = "brew bundle --file Brewfile.essential"
deps = ["homebrew"]
description = "Packages later steps need"
dir = "install"
env = { HOMEBREW_NO_AUTO_UPDATE = "1" }
timeout = "10m"
retries = 2
retry_delay = "2s"
allow_failure = true
success_codes = [0, 3]
pool = "network"
budget = "90s"
sources = ["Brewfile.*"]
outputs = []
executor = "local"
slurm = { partition = "gpu", cpus = 4, mem = "16G" }

[tasks.upgrade]
for_each = { command = "pip list --outdated --format=freeze | cut -d= -f1" }
run = "pip install --upgrade {items}"
jobs = 5
batch = 2

[tasks.listed]
for_each = { items = ["a", "b c", 3] }
run = "echo {item}"

[tasks.filed]
for_each = { file = "packages.txt" }
run = "echo {item}"

[services.redis]
run = "redis-server --port 6380 --save ''"
ready = { tcp = "127.0.0.1:6380" }
stop_signal = "INT"
stop_timeout = "30s"
dir = "install"
env = { A = "b" }
description = "cache"

[services.backend]
run = "uvicorn app:app --port 8000"
deps = ["redis"]
ready = { http = "http://127.0.0.1:8000/health", status = 204, interval = "50ms", timeout = "30s" }
restart = "on-failure"
max_restarts = 3
restart_delay = "2s"
healthcheck = { http = "http://127.0.0.1:8000/health", interval = "5s", retries = 5 }

[services.worker]
run = "dramatiq app.tasks"
deps = ["redis", "backend"]
ready = { log = "Worker process is ready" }
restart = "always"

[services.cli]
run = "sleep infinity"
ready = { command = "redis-cli -p 6380 ping" }
healthcheck = { delay = "2s" }
"#;

fn fs() -> FakeFs {
    FakeFs::new(&["install"], &[".env", "packages.txt"])
}

#[test]
fn full_spec_example_loads_with_every_value() {
    let p = load_ok(FULL, &fs());
    assert_eq!(p.root, PathBuf::from("/p"));
    // Keys of features this volley does not have are parsed, and flagged.
    let warnings = p.warnings.render(false);
    assert_eq!(p.warnings.len(), 2, "{warnings}");
    assert!(warnings.contains("has `sources`/`outputs`, but this version of volley has no cache"));
    assert!(warnings.contains("has no effect: this version of volley runs every task locally"));
    let s = &p.settings;
    assert_eq!(s.jobs, Some(4));
    assert_eq!(s.shell, ["bash", "-eo", "pipefail", "-c"]);
    assert!(!s.fail_fast);
    assert_eq!(s.kill_timeout, Duration::from_secs(5));
    assert_eq!(s.sample_interval, Duration::ZERO);
    assert_eq!(s.default, ["essential"]);
    let env: Vec<(&str, &str)> = s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("LANG", "C.UTF-8"), ("PORT", "8000"), ("DEBUG", "true")]);
    assert_eq!(
        s.dotenv,
        [
            DotenvFile { path: "/p/.env".into(), optional: false },
            DotenvFile { path: "/p/.env.local".into(), optional: true }
        ]
    );
    assert_eq!(s.state_dir, PathBuf::from("/p/.state"));
    assert_eq!(s.keep_logs, 20);
    assert_eq!(s.pools, [Pool { name: "network".into(), limit: 3 }]);
    assert_eq!(
        s.alerts,
        Alerts {
            min_free_memory: Some(500 << 20),
            min_free_disk: Some(5 << 30),
            slow_factor: 2.0,
            regression: 0.20
        }
    );
    assert_eq!(s.executor, ExecutorKind::Local);

    let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["homebrew", "essential", "upgrade", "listed", "filed"]);
    assert_eq!(p.tasks[0].run, "curl -fsSL https://brew.sh/install.sh\n  | bash\n");
    let t = p.task("essential").expect("essential");
    assert_eq!(t.run, "brew bundle --file Brewfile.essential");
    assert_eq!(t.deps, ["homebrew"]);
    assert_eq!(t.description.as_deref(), Some("Packages later steps need"));
    assert_eq!(t.dir, Some(PathBuf::from("/p/install")));
    assert_eq!(t.env, [("HOMEBREW_NO_AUTO_UPDATE".to_string(), "1".to_string())]);
    assert_eq!(t.timeout, Some(Duration::from_secs(600)));
    assert_eq!(t.retries, 2);
    assert_eq!(t.retry_delay, Duration::from_secs(2));
    assert!(t.allow_failure);
    assert_eq!(t.success_codes, [0, 3]);
    assert_eq!(t.pool.as_deref(), Some("network"));
    assert_eq!(t.budget, Some(Duration::from_secs(90)));
    assert_eq!(t.sources, ["Brewfile.*"]);
    assert!(t.outputs.is_empty());
    assert_eq!(t.executor, Some(ExecutorKind::Local));
    assert_eq!(
        t.slurm,
        Some(SlurmSpec { partition: Some("gpu".into()), cpus: Some(4), mem: Some("16G".into()) })
    );
    let up = p.task("upgrade").expect("upgrade");
    assert_eq!(
        up.for_each,
        Some(ForEach::Command("pip list --outdated --format=freeze | cut -d= -f1".into()))
    );
    assert_eq!((up.jobs, up.batch), (Some(5), 2));
    let items = ["a", "b c", "3"].map(String::from).to_vec();
    assert_eq!(p.task("listed").expect("listed").for_each, Some(ForEach::Items(items)));
    assert_eq!(p.task("filed").expect("filed").for_each, Some(ForEach::File("/p/packages.txt".into())));

    let redis = p.service("redis").expect("redis");
    assert!(
        matches!(&redis.ready.as_ref().expect("ready").check, ProbeCheck::Tcp(a) if a == "127.0.0.1:6380")
    );
    assert_eq!(redis.stop_signal, Signal::Int);
    assert_eq!(redis.stop_timeout, Some(Duration::from_secs(30)));
    assert_eq!(redis.dir, Some(PathBuf::from("/p/install")));
    assert_eq!(redis.description.as_deref(), Some("cache"));
    let backend = p.service("backend").expect("backend");
    let ready = backend.ready.as_ref().expect("ready");
    assert!(
        matches!(&ready.check, ProbeCheck::Http { url, status: 204 } if url == "http://127.0.0.1:8000/health")
    );
    assert_eq!((ready.interval, ready.timeout), (Duration::from_millis(50), Duration::from_secs(30)));
    assert_eq!(backend.restart, RestartPolicy::OnFailure);
    assert_eq!((backend.max_restarts, backend.restart_delay), (3, Duration::from_secs(2)));
    let health = backend.healthcheck.as_ref().expect("healthcheck");
    assert!(matches!(&health.check, ProbeCheck::Http { status: 200, .. }));
    assert_eq!((health.interval, health.retries), (Duration::from_secs(5), 5));
    let worker = p.service("worker").expect("worker");
    assert_eq!(worker.deps, ["redis", "backend"]);
    assert_eq!(worker.restart, RestartPolicy::Always);
    match &worker.ready.as_ref().expect("ready").check {
        ProbeCheck::Log(re) => assert!(re.is_match("INFO Worker process is ready")),
        other => panic!("expected a log probe, got {other:?}"),
    }
    let cli = p.service("cli").expect("cli");
    assert!(
        matches!(cli.ready.as_ref().expect("ready").check, ProbeCheck::Command(ref c) if c == "redis-cli -p 6380 ping")
    );
    assert!(
        matches!(cli.healthcheck.as_ref().expect("health").check, ProbeCheck::Delay(d) if d == Duration::from_secs(2))
    );
}

#[test]
fn defaults_fill_an_almost_empty_file() {
    let p = load_ok("[tasks.a]\nrun = \"true\"\n[services.s]\nrun = \"sleep 9\"\n", &FakeFs::default());
    let s = &p.settings;
    assert_eq!((s.jobs, s.fail_fast), (None, true));
    assert_eq!(s.shell, ["sh", "-c"]);
    assert_eq!(s.kill_timeout, Duration::from_secs(10));
    assert_eq!(s.sample_interval, Duration::from_millis(250));
    assert_eq!(s.state_dir, PathBuf::from("/p/.volley"));
    assert_eq!(s.keep_logs, 100);
    assert_eq!(s.alerts, Alerts::default());
    let t = &p.tasks[0];
    assert_eq!((t.retries, t.retry_delay, t.batch), (0, Duration::from_secs(1), 1));
    assert_eq!(t.success_codes, [0]);
    assert!(t.for_each.is_none() && t.jobs.is_none() && t.executor.is_none());
    let svc = &p.services[0];
    assert_eq!((svc.stop_signal, svc.restart, svc.stop_timeout), (Signal::Term, RestartPolicy::No, None));
    assert!(svc.ready.is_none() && svc.healthcheck.is_none());
}

#[test]
fn empty_file_is_a_project_without_units() {
    let p = load_ok("", &FakeFs::default());
    assert!(p.tasks.is_empty() && p.services.is_empty());
}

#[test]
fn probe_defaults_come_from_the_model() {
    let p = load_ok("[services.s]\nrun = \"x\"\nready = { delay = \"1s\" }\n", &FakeFs::default());
    let ready = p.services[0].ready.as_ref().expect("ready");
    assert_eq!(ready.interval, crate::model::Probe::DEFAULT_INTERVAL);
    assert_eq!(ready.timeout, crate::model::Probe::DEFAULT_TIMEOUT);
    assert_eq!(ready.retries, crate::model::Probe::DEFAULT_RETRIES);
}

#[test]
fn warnings_do_not_fail_the_load() {
    let text =
        "[tasks.a]\nrun = \"echo {item}\"\nfor_each = { items = [] }\n[tasks.b]\nrun = \"x\"\njobs = 2\n";
    let p = load_ok(text, &FakeFs::default());
    assert_eq!(p.warnings.len(), 2);
    insta::assert_snapshot!(p.warnings.render(false));
}

#[test]
fn items_placeholder_with_batch_one_is_fine() {
    let p =
        load_ok("[tasks.a]\nrun = \"echo {items}\"\nfor_each = { items = [\"x\"] }\n", &FakeFs::default());
    assert_eq!(p.tasks[0].batch, 1);
}

#[test]
fn generated_file_with_5000_tasks_loads() {
    let text = generated(5000);
    let p = load_ok(&text, &FakeFs::default());
    assert_eq!(p.tasks.len(), 5000);
    assert_eq!(p.tasks[4999].deps.len(), 3);
}

/// 5000 tasks, each but the first few depending on three earlier ones.
pub(super) fn generated(n: usize) -> String {
    let mut text = String::from("[settings]\njobs = 8\n\n");
    for i in 0..n {
        let _ = writeln!(text, "[tasks.task-{i}]\nrun = \"echo {i} && sleep 0\"");
        if i >= 3 {
            let _ = writeln!(text, "deps = [\"task-{}\", \"task-{}\", \"task-{}\"]", i - 1, i / 2, i - 3);
        }
        text.push_str("timeout = \"10m\"\n\n");
    }
    text
}

/// Release-mode timing: `cargo test -p volley-core --release config::tests_valid::time_5000 -- --ignored --nocapture`.
#[test]
#[ignore = "a timing measurement, run by hand in release mode"]
fn time_5000_task_load() {
    let text = generated(5000);
    let fs = FakeFs::default();
    let _ = load_ok(&text, &fs);
    let runs = 20;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        let _ = load_ok(&text, &fs);
    }
    let each = start.elapsed() / runs;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        let _ = toml::de::DeTable::parse_recoverable(&text);
    }
    let parse = start.elapsed() / runs;
    println!(
        "5000-task file ({} KiB): {each:?} per load, of which TOML parsing {parse:?}",
        text.len() / 1024
    );
}
