//! Fan-out: `volley exec` and `for_each`, with real processes.

use std::time::Duration;

use crate::support::Test;

/// Items that would be shell code if they were not quoted.
const HOSTILE: [&str; 6] = ["$(touch pwned)", "`touch pwned`", "it's", "a b  c", "semi;colon", "-n"];

#[test]
fn exec_items_arrive_literally() {
    let mut args = vec!["exec", "printf '%s\\n' {} >> items.txt", ":::"];
    args.extend(HOSTILE);
    let test = Test::new().args(&args);
    test.run().code(0);
    let mut got: Vec<String> = test.read("items.txt").lines().map(str::to_string).collect();
    got.sort();
    let mut want: Vec<String> = HOSTILE.iter().map(|s| (*s).to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(!test.path("pwned").exists(), "an item ran as shell code");
}

#[test]
fn exec_reads_items_from_stdin_and_appends_without_placeholder() {
    let test = Test::new().args(&["exec", "-j", "2", "touch"]);
    let mut child = test.command().stdin(std::process::Stdio::piped()).spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"one\n\ntwo words\n").expect("write");
    }
    assert!(child.wait().expect("wait").success());
    assert!(test.path("one").exists() && test.path("two words").exists());
}

#[test]
fn exec_placeholders_follow_gnu_parallel() {
    let test = Test::new().args(&[
        "exec",
        "-j",
        "1",
        "echo {#} {.} {/} {//} {/.} >> out.txt",
        ":::",
        "dir/file.tar.gz",
    ]);
    test.run().code(0);
    assert_eq!(test.read("out.txt").trim(), "1 dir/file.tar file.tar.gz dir file.tar");
    let test = Test::new().args(&["exec", "echo {1}-{2} >> out.txt", ":::", "a", "b", ":::", "1", "2"]);
    test.run().code(0);
    let mut lines: Vec<String> = test.read("out.txt").lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["a-1", "a-2", "b-1", "b-2"]);
}

#[test]
fn exec_bad_group_number_is_a_usage_error() {
    Test::new().args(&["exec", "echo {3}", ":::", "a", ":::", "b"]).run().code(2).stderr_has("group 3");
}

#[test]
fn exec_keep_order_prints_results_in_input_order() {
    let run = Test::new()
        .args(&[
            "exec",
            "-j",
            "4",
            "--keep-order",
            "sleep 0.$((5 - {})); echo item-{}",
            ":::",
            "1",
            "2",
            "3",
            "4",
        ])
        .run();
    run.code(0);
    let order: Vec<&str> = run.stdout.lines().filter_map(|l| l.split(" | ").nth(1)).collect();
    assert_eq!(order, ["item-1", "item-2", "item-3", "item-4"]);
}

#[test]
fn exec_results_print_as_they_complete_by_default() {
    let run = Test::new()
        .args(&["exec", "-j", "4", "sleep 0.$((5 - {})); echo item-{}", ":::", "1", "2", "3", "4"])
        .run();
    run.code(0);
    let order: Vec<&str> = run.stdout.lines().filter_map(|l| l.split(" | ").nth(1)).collect();
    assert_eq!(order, ["item-4", "item-3", "item-2", "item-1"]);
}

#[test]
fn exec_failures_count_and_exit_1() {
    let run = Test::new().args(&["exec", "-j", "2", "[ {} -ne 2 ]", ":::", "1", "2", "3"]).run();
    run.code(1).stdout_has("2 succeeded, 1 failed");
}

#[test]
fn exec_halt_soon_starts_nothing_new_and_now_stops_running_items() {
    let test = Test::new().args(&[
        "exec",
        "-j",
        "1",
        "--halt",
        "soon",
        "[ {} -ne 1 ] && touch ran-{}",
        ":::",
        "1",
        "2",
        "3",
    ]);
    test.run().code(1);
    assert!(!test.path("ran-2").exists() && !test.path("ran-3").exists());

    let started = std::time::Instant::now();
    let test = Test::new().args(&[
        "exec",
        "-j",
        "2",
        "--halt",
        "now",
        "if [ {} = fail ]; then sleep 0.2; exit 1; else sleep 30; fi",
        ":::",
        "fail",
        "slow",
    ]);
    test.run().code(1);
    assert!(started.elapsed() < Duration::from_secs(15), "--halt now stops the running item");
}

#[test]
fn exec_timeout_and_retries_apply_per_item() {
    let test = Test::new().args(&[
        "exec",
        "--timeout",
        "200ms",
        "--retries",
        "1",
        "echo x >> tries-{}; sleep 5",
        ":::",
        "a",
    ]);
    let started = std::time::Instant::now();
    test.run().code(1).stdout_has("timed out");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(test.read("tries-a").lines().count(), 2, "one retry after the timeout");
}

#[test]
fn for_each_instances_share_the_task_cap() {
    let toml = r#"
[settings]
jobs = 8
[tasks.fan]
for_each = { items = ["1", "2", "3", "4", "5", "6"] }
jobs = 2
run = "echo start {item} >> trace; sleep 0.2; echo end >> trace"
"#;
    let test = Test::with_toml(toml).args(&["run"]);
    test.run().code(0).stdout_has("fan[1]").stdout_has("6 succeeded, 0 failed, 0 skipped");
    let (mut now, mut max) = (0i32, 0i32);
    for line in test.read("trace").lines() {
        now += if line.starts_with("start") { 1 } else { -1 };
        max = max.max(now);
    }
    assert_eq!(max, 2, "at most `jobs` instances at once");
}

#[test]
fn for_each_command_lists_items_and_dependents_wait_for_all() {
    let toml = r#"
[tasks.fan]
for_each = { command = "printf 'a\nb\n\nc\n'" }
run = "sleep 0.1; touch done-{item}"
[tasks.after]
deps = ["fan"]
run = "ls done-a done-b done-c > seen"
"#;
    let test = Test::with_toml(toml).args(&["run", "-j", "3"]);
    test.run().code(0).stdout_has("fan (items)");
    assert_eq!(test.read("seen").lines().count(), 3);
}

#[test]
fn failed_listing_skips_dependents() {
    let toml = "[tasks.fan]\nfor_each = { command = \"exit 3\" }\nrun = \"echo {item}\"\n[tasks.after]\ndeps = [\"fan\"]\nrun = \"touch after\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    test.run().code(1).stdout_has("skipped");
    assert!(!test.path("after").exists());
}

#[test]
fn for_each_file_and_batches() {
    let toml =
        "[tasks.batch]\nfor_each = { file = \"list.txt\" }\nbatch = 2\nrun = \"echo {items} >> batches\"\n";
    let test = Test::with_toml(toml).args(&["run", "-j", "1"]);
    test.write("list.txt", "a\nb b\n\nc\n");
    test.run().code(0);
    assert_eq!(test.read("batches"), "a b b\nc\n");
}

#[test]
fn placeholder_without_for_each_is_a_configuration_error() {
    Test::with_toml("[tasks.a]\nrun = \"echo {item}\"\n")
        .args(&["check"])
        .run()
        .code(2)
        .stderr_has("for_each");
}

#[test]
fn bulk_upgrade_example_counts_done_and_failed() {
    let test = crate::examples::copy_example("bulk-upgrade").args(&["run", "--output", "quiet"]);
    let run = test.run();
    run.code(0).stdout_has("24 succeeded, 1 failed, 0 skipped").stdout_has("legacy-pinned-lib");
    assert!(test.read("upgraded/numpy").is_empty() && test.path("upgraded/numpy").exists());
}

#[test]
fn exec_options_take_attached_values_and_the_command_keeps_its_own_flags() {
    // `-j4` is volley's option (as in GNU parallel); flags after the command are the command's.
    let test = Test::new().args(&["exec", "-j4", "--output", "quiet", "printf", "-- %s\\n", ":::", "a", "b"]);
    test.run().code(0);
    let test = Test::new().args(&["exec", "-j1", "sh", "-c", "'echo $0 >> out.txt'", ":::", "x"]);
    test.run().code(0);
    assert_eq!(test.read("out.txt").trim(), "x");
}
