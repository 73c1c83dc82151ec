//! Output: prefixed lines, grouped blocks, quiet mode, logs, the event stream,
//! long lines and invalid UTF-8, the summary.

use crate::support::Test;

#[test]
fn prefixed_lines_carry_the_task_name_and_mark_stderr() {
    let run = Test::with_toml("[tasks.say]\nrun = \"echo hello; echo oops >&2\"\n").args(&["run"]).run();
    run.code(0).stdout_has("▶ say").stdout_has("say | hello").stdout_has("say ! oops").stdout_has("✓ say");
}

#[test]
fn partial_last_line_is_printed() {
    Test::with_toml("[tasks.p]\nrun = \"printf 'no newline'\"\n")
        .args(&["run"])
        .run()
        .code(0)
        .stdout_has("p | no newline");
}

#[test]
fn lines_of_parallel_tasks_never_interleave() {
    let toml = r#"
[tasks.a]
run = "for i in $(seq 2000); do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa$i; done"
[tasks.b]
run = "for i in $(seq 2000); do echo bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb$i; done"
"#;
    let run = Test::with_toml(toml).args(&["run", "-j", "2"]).run();
    run.code(0);
    for tag in ["a", "b"] {
        let letters = tag.repeat(70);
        let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with(&format!("{tag} | "))).collect();
        assert_eq!(lines.len(), 2000, "every line of {tag} arrives whole");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("{tag} | {letters}{}", i + 1));
        }
    }
}

#[test]
fn invalid_utf8_is_shown_lossily() {
    Test::with_toml("[tasks.bin]\nrun = \"printf 'a\\\\377b\\\\n'\"\n")
        .args(&["run"])
        .run()
        .code(0)
        .stdout_has("bin | a\u{fffd}b");
}

#[test]
fn grouped_output_prints_each_task_as_one_block() {
    let toml = "[tasks.a]\nrun = \"echo a1; sleep 0.2; echo a2\"\n[tasks.b]\nrun = \"echo b1; sleep 0.1; echo b2\"\n";
    let run = Test::with_toml(toml).args(&["run", "-j", "2", "--output", "grouped"]).run();
    run.code(0);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("a1") || l.contains("a2") || l.contains("b1") || l.contains("b2"))
        .collect();
    let a1 = lines.iter().position(|l| l.contains("a1")).expect("a1");
    assert!(lines[a1 + 1].contains("a2"), "a's lines together: {lines:?}");
    let b1 = lines.iter().position(|l| l.contains("b1")).expect("b1");
    assert!(lines[b1 + 1].contains("b2"), "b's lines together: {lines:?}");
}

#[test]
fn quiet_output_shows_only_status_and_summary() {
    let run =
        Test::with_toml("[tasks.noisy]\nrun = \"echo chatter\"\n").args(&["run", "--output", "quiet"]).run();
    run.code(0).stdout_has("✓ noisy").stdout_lacks("chatter");
}

#[test]
fn every_task_has_a_log_file() {
    let test =
        Test::with_toml("[tasks.logged]\nrun = \"echo to-stdout; echo to-stderr >&2\"\n").args(&["run"]);
    test.run().code(0);
    let logs: Vec<_> = walk(&test.path(".volley/logs"));
    let log = logs.iter().find(|p| p.ends_with("logged.log")).unwrap_or_else(|| panic!("no log in {logs:?}"));
    let content = std::fs::read_to_string(log).expect("log");
    assert!(content.contains("to-stdout") && content.contains("to-stderr"), "{content}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn events_stream_is_versioned_json_lines() {
    let test = Test::with_toml("[tasks.a]\nrun = \"echo hi\"\n[tasks.b]\ndeps = [\"a\"]\nrun = \"true\"\n")
        .args(&["run", "--events", "events.jsonl"]);
    test.run().code(0);
    let events: Vec<serde_json::Value> =
        test.read("events.jsonl").lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert!(events.iter().all(|e| e["version"] == 1));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert!(
        kinds.contains(&"attempt_started") && kinds.contains(&"output") && kinds.contains(&"task_finished")
    );
}

/// `run_started` says which pool each task draws from and its instances' cap: the
/// footer's time left simulates them.
#[test]
fn run_started_names_each_tasks_pool_and_cap() {
    let toml = "[settings.pools]\nnet = 1\n[tasks.fetch]\nrun = \"true\"\npool = \"net\"\n\
                [tasks.each]\nfor_each = { items = [\"a\", \"b\", \"c\"] }\njobs = 2\nrun = \"true {item}\"\n";
    let test = Test::with_toml(toml).args(&["run", "--events", "events.jsonl"]);
    test.run().code(0);
    let started: serde_json::Value = test
        .read("events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .find(|e| e["event"] == "run_started")
        .expect("run_started");
    let task = |name: &str| {
        started["tasks"].as_array().expect("tasks").iter().find(|t| t["name"] == name).cloned().expect(name)
    };
    assert_eq!(task("fetch")["pool"], serde_json::json!({"name": "net", "limit": 1}));
    assert_eq!(task("fetch")["cap"], serde_json::Value::Null);
    assert_eq!(task("each")["pool"], serde_json::Value::Null);
    assert_eq!(task("each")["cap"], 2);
}

/// `task_finished` names a log file exactly when one was written: the task printed,
/// or was retried (later attempts are headed in the log).
#[test]
fn task_finished_names_a_log_only_when_one_was_written() {
    let toml = "[tasks.talks]\nrun = \"echo hi\"\n[tasks.silent]\nrun = \"true\"\n\
                [tasks.retried]\nrun = \"test -f marker || { touch marker; exit 1; }\"\n\
                retries = 1\nretry_delay = \"10ms\"\n";
    let test = Test::with_toml(toml).args(&["run", "--events", "events.jsonl"]);
    test.run().code(0);
    let logs: std::collections::HashMap<String, serde_json::Value> = test
        .read("events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .filter(|e| e["event"] == "task_finished")
        .map(|e| (e["name"].as_str().expect("name").to_owned(), e["log"].clone()))
        .collect();
    assert_eq!(logs["silent"], serde_json::Value::Null, "{logs:?}");
    for name in ["talks", "retried"] {
        let path = logs[name].as_str().unwrap_or_else(|| panic!("no log for {name}: {logs:?}"));
        assert!(std::path::Path::new(path).is_file(), "{path} was not written");
    }
}

#[test]
fn events_to_stdout_keep_stdout_pure_json() {
    let run = Test::with_toml("[tasks.a]\nrun = \"echo hi\"\n").args(&["run", "--events", "-"]).run();
    run.code(0);
    for line in run.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
}

#[test]
fn summary_shows_wall_time_speedup_and_critical_path() {
    let toml = "[tasks.a]\nrun = \"sleep 0.2\"\n[tasks.b]\nrun = \"sleep 0.2\"\n[tasks.c]\ndeps = [\"a\"]\nrun = \"sleep 0.1\"\n";
    let run = Test::with_toml(toml).args(&["run", "-j", "2"]).run();
    run.code(0).stdout_has("a → c");
    let lower = run.stdout.to_lowercase();
    assert!(lower.contains("wall") && lower.contains("speed-up"), "{}", run.stdout);
}

#[test]
fn failure_summary_shows_log_path_and_last_lines() {
    let run = Test::with_toml("[tasks.bad]\nrun = \"echo first-clue; echo last-clue; exit 2\"\n")
        .args(&["run"])
        .run();
    run.code(1).stdout_has(".log").stdout_has("last-clue");
}

#[test]
fn a_60_mb_line_keeps_memory_bounded() {
    let test = Test::with_toml("[tasks.big]\nrun = \"head -c 60000000 /dev/zero | tr '\\\\0' a; echo\"\n")
        .args(&["run", "--output", "quiet", "--progress", "plain"]);
    let peak_kb = peak_rss_kib_of(test.command().stdout(std::process::Stdio::null()));
    assert!(peak_kb < 64 * 1024, "volley peaked at {peak_kb} KiB for a 60 MB line");
}

/// Tasks whose pipes are always full (`cat` of a cached file) are read in bulk, but
/// never faster than the run can print what was read: batches must not pile up.
#[test]
fn tasks_that_keep_their_pipes_full_keep_memory_bounded() {
    let test = Test::with_toml("").args(&["exec", "-j4", "--output", "prefixed", "cat big.txt # {}", ":::"]);
    let line = "0123456789".repeat(10) + "\n";
    std::fs::write(test.path("big.txt"), line.repeat(400_000)).expect("write big.txt");
    let test = test.args(&["a", "b", "c", "d"]);
    let peak_kb = peak_rss_kib_of(test.command().stdout(std::process::Stdio::null()));
    assert!(peak_kb < 36 * 1024, "volley peaked at {peak_kb} KiB forwarding 4 x 40 MB");
}

/// volley's peak resident size while it runs `command` to the end.
fn peak_rss_kib_of(command: &mut std::process::Command) -> u64 {
    let mut child = command.spawn().expect("spawn");
    let mut peak_kb = 0u64;
    while child.try_wait().expect("wait").is_none() {
        peak_kb = peak_kb.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().expect("wait").success(), "volley failed");
    peak_kb
}

/// The peak resident size of process `pid` so far (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `test`'s command with a reader that takes nothing for `stall`, then reads
/// everything: volley's peak RSS meanwhile and what it printed.
fn read_after_a_stall(test: &Test, stall: std::time::Duration) -> (u64, String) {
    let mut volley = test.command().stdout(std::process::Stdio::piped()).spawn().expect("spawn");
    let mut peak_kb = 0;
    let until = std::time::Instant::now() + stall;
    while std::time::Instant::now() < until {
        peak_kb = peak_kb.max(peak_rss_kib(volley.id()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut volley.stdout.take().expect("stdout"), &mut out).expect("read");
    assert!(volley.wait().expect("wait").success(), "volley failed");
    (peak_kb, out)
}

/// When whoever reads volley's stdout stops reading (a paused `| less`), volley must
/// not go on reading its tasks' output into memory: the tasks are held back, and
/// nothing is lost once the reader reads again.
#[test]
fn a_stalled_reader_holds_the_tasks_back_instead_of_filling_memory() {
    const LINE: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789";
    const LINES: usize = 2_000_000;
    let toml = format!("[tasks.big]\nrun = \"yes {LINE} | head -n {LINES}\"\n");
    let test = Test::with_toml(&toml).args(&["run", "--output", "prefixed"]);
    // 94 MB to print; nothing read for a second and a half.
    let (peak_kb, out) = read_after_a_stall(&test, std::time::Duration::from_millis(1500));
    let task_lines = out.lines().filter(|l| l.ends_with(LINE)).count();
    assert_eq!(task_lines, LINES, "lines lost or broken");
    assert!(peak_kb < 64 * 1024, "volley peaked at {peak_kb} KiB while its reader stalled");
}

/// On a terminal a live footer shows the running task and the overall bar, and is
/// cleared before the summary. Driven through a real pseudo-terminal with tmux.
#[test]
fn footer_is_drawn_on_a_terminal_and_cleared_at_the_end() {
    if !crate::support::require_tool("tmux") {
        return;
    }
    let test = Test::with_toml("[tasks.slowpoke]\nrun = \"sleep 2; touch finished\"\n");
    let session = format!("volley-footer-{}", std::process::id());
    let command = format!("cd {} && {} run; sleep 30", test.dir.path().display(), crate::support::VOLLEY);
    let tmux = |args: &[&str]| std::process::Command::new("tmux").args(args).output().expect("tmux");
    tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "20", &command]);
    let capture =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned();
    let saw_footer = crate::support::wait_for(std::time::Duration::from_secs(5), || {
        let screen = capture();
        screen.contains("slowpoke") && screen.contains("0/1")
    });
    let during = capture();
    crate::support::wait_for(std::time::Duration::from_secs(10), || test.path("finished").exists());
    crate::support::wait_for(std::time::Duration::from_secs(5), || capture().to_lowercase().contains("wall"));
    let after = capture();
    tmux(&["kill-session", "-t", &session]);
    assert!(saw_footer, "no footer on the terminal:\n{during}");
    assert!(!after.contains("0/1"), "footer left behind:\n{after}");
}

/// A line of `keep_order_exec`'s instance 1, and how many it prints (62 MB).
const HELD_LINE: &str = "0123456789abcdefghij0123456789abcdefghij";
const HELD_LINES: usize = 1_500_000;

/// `exec --keep-order` of two items: 0 sleeps a second, then prints `zero-done`; 1
/// prints its 62 MB at once, which must wait for 0.
fn keep_order_exec() -> Test {
    let command = format!(
        "if [ {{}} = 0 ]; then sleep 1; echo zero-done; else yes {HELD_LINE} | head -n {HELD_LINES}; fi"
    );
    Test::new().args(&["exec", "-j", "2", "--keep-order", "--output", "prefixed", &command, ":::", "0", "1"])
}

/// `printed` has instance 0's line first, then every line of instance 1, whole.
fn assert_held_output_whole(printed: &str) {
    let first_held = printed.find(HELD_LINE).expect("instance 1's output");
    assert!(printed.find("zero-done").is_some_and(|at| at < first_held), "instance 0 came first");
    let held = printed.lines().filter(|l| l.ends_with(HELD_LINE)).count();
    assert_eq!(held, HELD_LINES, "held output lost or broken");
}

/// `--keep-order` holds what later instances print until the earlier ones finish;
/// beyond a limit that waits in a file, not in volley's memory, and comes back whole
/// and in order.
#[test]
fn keep_order_holds_big_output_in_a_file_not_in_memory() {
    let test = keep_order_exec();
    let out = std::fs::File::create(test.path("out.txt")).expect("create out.txt");
    let peak_kb = peak_rss_kib_of(test.command().stdout(out));
    assert_held_output_whole(&std::fs::read_to_string(test.path("out.txt")).expect("read out.txt"));
    assert!(peak_kb < 56 * 1024, "volley peaked at {peak_kb} KiB holding 62 MB for --keep-order");
}

/// What `--keep-order` releases from its file goes to a stalled reader only as fast
/// as that reader takes it: volley does not read the file back into memory at once.
#[test]
fn keep_order_releases_held_output_at_the_pace_of_a_stalled_reader() {
    // Released after a second to a reader that reads nothing for three.
    let (peak_kb, out) = read_after_a_stall(&keep_order_exec(), std::time::Duration::from_secs(3));
    assert_held_output_whole(&out);
    assert!(peak_kb < 56 * 1024, "volley peaked at {peak_kb} KiB releasing 62 MB to a stalled reader");
}
