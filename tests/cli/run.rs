//! `volley run`: order, slots, failure policy, retries, timeouts, exit statuses.

use crate::support::{Test, wait_for};
use std::time::Duration;

/// Each task appends "start NAME" / "end NAME" to `trace`, so tests can check order
/// and overlap from what the processes themselves saw.
fn traced(name: &str, deps: &[&str], seconds: f64) -> String {
    let deps = deps.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(", ");
    format!(
        "[tasks.{name}]\ndeps = [{deps}]\nrun = \"echo start {name} >> trace; sleep {seconds}; echo end {name} >> trace\"\n\n"
    )
}

fn trace(test: &Test) -> Vec<String> {
    test.read("trace").lines().map(str::to_string).collect()
}

fn position(trace: &[String], line: &str) -> usize {
    trace.iter().position(|l| l == line).unwrap_or_else(|| panic!("{line:?} not in {trace:?}"))
}

/// The most tasks that were running at once, from the trace.
fn max_overlap(trace: &[String]) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for line in trace {
        if line.starts_with("start ") {
            now += 1;
            max = max.max(now);
        } else if line.starts_with("end ") {
            now -= 1;
        }
    }
    max
}

#[test]
fn dependencies_finish_before_dependents_start() {
    let toml = [
        traced("a", &[], 0.05),
        traced("b", &["a"], 0.05),
        traced("c", &["a"], 0.05),
        traced("d", &["b", "c"], 0.0),
    ]
    .concat();
    let test = Test::with_toml(&toml).args(&["run", "-j", "4"]);
    test.run().code(0).stdout_has("✓ d");
    let t = trace(&test);
    assert!(position(&t, "end a") < position(&t, "start b"));
    assert!(position(&t, "end a") < position(&t, "start c"));
    assert!(position(&t, "end b") < position(&t, "start d"));
    assert!(position(&t, "end c") < position(&t, "start d"));
    assert_eq!(max_overlap(&t), 2, "b and c run together: {t:?}");
}

#[test]
fn named_tasks_run_with_their_dependencies_only() {
    let toml = [traced("a", &[], 0.0), traced("b", &["a"], 0.0), traced("other", &[], 0.0)].concat();
    let test = Test::with_toml(&toml).args(&["run", "b"]);
    test.run().code(0);
    let t = trace(&test);
    assert!(t.contains(&"end b".to_string()) && t.contains(&"end a".to_string()));
    assert!(!t.iter().any(|l| l.contains("other")), "{t:?}");
}

#[test]
fn settings_default_is_what_a_bare_run_runs() {
    let toml = format!("[settings]\ndefault = [\"b\"]\n\n{}{}", traced("a", &[], 0.0), traced("b", &[], 0.0));
    let test = Test::with_toml(&toml).args(&["run"]);
    test.run().code(0);
    assert_eq!(trace(&test), ["start b", "end b"]);
}

#[test]
fn slots_limit_concurrency() {
    let toml: String = (0..6).map(|i| traced(&format!("t{i}"), &[], 0.15)).collect();
    let test = Test::with_toml(&toml).args(&["run", "-j", "2"]);
    test.run().code(0);
    assert_eq!(max_overlap(&trace(&test)), 2);

    let test = Test::with_toml(&toml).args(&["run", "--no-parallel"]);
    test.run().code(0);
    assert_eq!(max_overlap(&trace(&test)), 1);

    let test = Test::with_toml(&toml).args(&["run"]).env("VOLLEY_JOBS", "3");
    test.run().code(0);
    assert_eq!(max_overlap(&trace(&test)), 3);
}

#[test]
fn pools_limit_their_members_inside_the_slots() {
    let mut toml = String::from("[settings]\njobs = 4\n[settings.pools]\nnet = 1\n\n");
    for i in 0..3 {
        toml.push_str(&traced(&format!("n{i}"), &[], 0.15));
        toml.push_str("pool = \"net\"\n\n");
    }
    let test = Test::with_toml(&toml).args(&["run"]);
    test.run().code(0);
    assert_eq!(max_overlap(&trace(&test)), 1);
}

#[test]
fn longest_remaining_path_starts_first() {
    // With one slot, the head of the long chain must start before the lone tasks
    // declared ahead of it.
    let toml = [
        traced("lone1", &[], 0.0),
        traced("lone2", &[], 0.0),
        traced("c1", &[], 0.0),
        traced("c2", &["c1"], 0.0),
        traced("c3", &["c2"], 0.0),
    ]
    .concat();
    let test = Test::with_toml(&toml).args(&["run", "-j", "1"]);
    test.run().code(0);
    assert_eq!(trace(&test)[0], "start c1");
}

#[test]
fn failure_exits_1_and_skips_dependents() {
    let toml = "[tasks.bad]\nrun = \"echo oops; exit 3\"\n[tasks.after]\ndeps = [\"bad\"]\nrun = \"touch after-ran\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    let run = test.run();
    run.code(1).stdout_has("✗ bad exit 3").stdout_has("↷ after skipped (needs bad)").stdout_has("oops");
    assert!(!test.path("after-ran").exists());
}

#[test]
fn fail_fast_starts_nothing_new_and_keep_going_runs_the_rest() {
    let toml = "[tasks.bad]\nrun = \"exit 1\"\n[tasks.slow]\nrun = \"sleep 0.3\"\n[tasks.later]\ndeps = [\"slow\"]\nrun = \"touch later-ran\"\n";
    let test = Test::with_toml(toml).args(&["run", "-j", "2"]);
    test.run().code(1);
    assert!(!test.path("later-ran").exists(), "fail-fast must not start `later`");

    let test = Test::with_toml(toml).args(&["run", "-j", "2", "--keep-going"]);
    test.run().code(1);
    assert!(test.path("later-ran").exists(), "--keep-going runs what does not depend on the failure");
}

#[test]
fn allowed_failure_keeps_the_run_green_and_dependents_run() {
    let toml = "[tasks.optional]\nallow_failure = true\nrun = \"exit 4\"\n[tasks.next]\ndeps = [\"optional\"]\nrun = \"touch next-ran\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    test.run().code(0).stdout_has("✗ optional exit 4");
    assert!(test.path("next-ran").exists());
}

#[test]
fn success_codes_decide_success() {
    let toml = "[tasks.grep]\nsuccess_codes = [0, 1]\nrun = \"exit 1\"\n";
    Test::with_toml(toml).args(&["run"]).run().code(0).stdout_has("✓ grep");
}

#[test]
fn retry_that_passes_is_reported_flaky() {
    // Fails the first time (no marker yet), passes the second.
    let toml = "[tasks.flaky]\nretries = 2\nretry_delay = \"50ms\"\nrun = \"if [ -f marker ]; then echo second; else touch marker; echo first; exit 1; fi\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    test.run().code(0).stdout_has("flaky").stdout_has("second");
}

#[test]
fn retries_run_every_attempt_with_a_doubling_delay() {
    let toml =
        "[tasks.never]\nretries = 2\nretry_delay = \"100ms\"\nrun = \"date +%s.%N >> attempts; exit 1\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    test.run().code(1);
    let times: Vec<f64> = test.read("attempts").lines().filter_map(|l| l.parse().ok()).collect();
    assert_eq!(times.len(), 3, "three attempts");
    assert!(times[1] - times[0] >= 0.09, "first delay ≥ 100ms: {times:?}");
    assert!(times[2] - times[1] >= 0.19, "second delay doubled: {times:?}");
}

#[test]
fn timeout_terminates_the_whole_group() {
    let toml = "[settings]\nkill_timeout = \"1s\"\n[tasks.hang]\ntimeout = \"300ms\"\nrun = \"sleep 30 & echo $! > child; wait\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    let started = std::time::Instant::now();
    test.run().code(1).stdout_has("⏱ hang timed out");
    assert!(started.elapsed() < Duration::from_secs(10));
    let child: i32 = test.read("child").trim().parse().expect("child pid");
    assert!(wait_for(Duration::from_secs(2), || !crate::support::alive(child)), "grandchild killed");
}

#[test]
fn timeout_escalates_to_sigkill_after_the_grace_period() {
    let toml = "[settings]\nkill_timeout = \"300ms\"\n[tasks.stubborn]\ntimeout = \"200ms\"\nrun = \"trap '' TERM; sleep 30\"\n";
    let started = std::time::Instant::now();
    Test::with_toml(toml).args(&["run"]).run().code(1).stdout_has("timed out");
    assert!(started.elapsed() < Duration::from_secs(10), "SIGKILL after the grace period");
}

#[test]
fn dry_run_runs_nothing_and_shows_the_order() {
    let toml = [traced("a", &[], 0.0), traced("b", &["a"], 0.0)].concat();
    let test = Test::with_toml(&toml).args(&["run", "--dry-run"]);
    let run = test.run();
    run.code(0).stdout_has("1. a").stdout_has("2. b");
    assert!(!test.path("trace").exists());
}

#[test]
fn file_is_found_upward_and_paths_are_relative_to_it() {
    let test = Test::with_toml("[tasks.where]\nrun = \"pwd > where.txt\"\n").cwd("sub/deeper");
    std::fs::create_dir_all(test.path("sub/deeper")).expect("mkdir");
    let test = test.args(&["run"]);
    test.run().code(0);
    let root = test.dir.path().canonicalize().expect("canonical");
    assert_eq!(test.read("where.txt").trim(), root.to_string_lossy());
}

#[test]
fn plain_word_commands_behave_as_under_the_shell() {
    // Commands that are only words skip `sh -c`; quoting, the task's PATH (relative
    // entries count from the task's directory), a missing program and exit codes must
    // come out exactly as the shell would make them.
    let test = Test::new().args(&["run"]);
    let bin = test.path("bin");
    test.write(
        "volley.toml",
        &format!(
            r#"
[tasks.quoted]
run = "touch 'a b' c"

[tasks.tool]
run = "mytool --flag 'x y'"
env = {{ PATH = "{bin}:/usr/bin:/bin" }}

[tasks.relative]
run = "mytool relative"
dir = "bin"
env = {{ PATH = ".:/usr/bin:/bin" }}

[tasks.missing]
run = "volley-no-such-program arg"
allow_failure = true

[tasks.where]
run = "/usr/bin/env"
dir = "bin"

[tasks.code]
run = "false"
success_codes = [1]
"#,
            bin = bin.display()
        ),
    );
    test.write("bin/mytool", "#!/bin/sh\nprintf '%s|' \"$@\" >> \"$(dirname \"$0\")/../tool.out\"\n");
    let mut perms = std::fs::metadata(test.path("bin/mytool")).expect("tool").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(test.path("bin/mytool"), perms).expect("chmod");
    test.run().code(0).stdout_has("missing");
    assert!(test.path("a b").exists() && test.path("c").exists());
    let calls = test.read("tool.out");
    assert_eq!(calls.len(), "--flag|x y|relative|".len(), "{calls}");
    assert!(calls.contains("--flag|x y|") && calls.contains("relative|"), "{calls}");
    let log = std::fs::read_dir(test.path(".volley/logs"))
        .expect("logs")
        .flatten()
        .map(|run| std::fs::read_to_string(run.path().join("missing.log")).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("volley-no-such-program: not found"), "{log}");
    let env = std::fs::read_dir(test.path(".volley/logs"))
        .expect("logs")
        .flatten()
        .map(|run| std::fs::read_to_string(run.path().join("where.log")).unwrap_or_default())
        .collect::<String>();
    assert!(env.lines().any(|line| line == format!("PWD={}", bin.display())), "{env}");
}
