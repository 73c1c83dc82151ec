//! Every class of configuration error, as the user sees it (`render(false)` snapshots).

use super::Severity;
use super::test_support::{FakeFs, errors, errors_with, load_err};

#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    insta::assert_snapshot!(errors(
        r#"
[settigns]
jobs = 2

[tasks.build]
run = "make"
dpes = ["x"]
timout = "1m"
frobnicate = 1

[services.db]
run = "postgres"
ready = { tcp = "localhost:5432", intervall = "1s" }
"#
    ));
}

#[test]
fn wrong_types_say_what_was_expected() {
    insta::assert_snapshot!(errors(
        r#"
[settings]
jobs = "4"
shell = "bash -c"
fail_fast = "yes"
env = { A = [1] }

[tasks.build]
run = 42
deps = "setup"
retries = 1.5
success_codes = ["0"]

[tasks.setup]
run = "true"
"#
    ));
}

#[test]
fn bad_durations_sizes_and_numbers() {
    insta::assert_snapshot!(errors(
        r#"
[settings]
kill_timeout = "10"
sample_interval = "-1s"
jobs = 0

[settings.pools]
network = 0

[settings.alerts]
min_free_memory = "500MB!"
min_free_disk = "lots"
slow_factor = 0.5
regression = 12

[tasks.a]
run = "true"
timeout = "0s"
budget = "1d"
retry_delay = "soon"
success_codes = [256]
"#
    ));
}

#[test]
fn bad_probes_regex_url_signal_and_restart() {
    insta::assert_snapshot!(errors(
        r#"
[services.a]
run = "a"
ready = { log = "ready (" }
stop_signal = "TERMINATE"
restart = "on_failure"

[services.b]
run = "b"
ready = { http = "https://localhost/health" }
healthcheck = { tcp = "localhost" }

[services.c]
run = "c"
ready = { tcp = "127.0.0.1:1", http = "http://x/", retries = 2 }
healthcheck = { interval = "1s" }

[services.d]
run = "d"
ready = { command = "true", status = 200 }
"#
    ));
}

#[test]
fn unknown_dependencies_suggest_existing_names() {
    insta::assert_snapshot!(errors(
        r#"
[settings]
default = ["tset", "redis"]

[tasks.build]
run = "make"

[tasks.test]
run = "make test"
deps = ["biuld", "nothing-like-it"]

[services.redis]
run = "redis-server"
deps = ["build"]
"#
    ));
}

#[test]
fn duplicate_and_invalid_names() {
    insta::assert_snapshot!(errors(
        r#"
[tasks.web]
run = "a"

[tasks."has space"]
run = "b"

[services.web]
run = "c"
"#
    ));
}

#[test]
fn slurm_executor_is_refused_rather_than_run_locally() {
    let rendered =
        errors("[settings]\nexecutor = \"slurm\"\n\n[tasks.a]\nrun = \"a\"\nexecutor = \"slurm\"\n");
    assert_eq!(
        rendered.matches("`executor = \"slurm\"` is not available in this version of volley").count(),
        2
    );
    assert!(rendered.contains("remove `executor` to run tasks on this machine"));
}

#[test]
fn undefined_pool_and_bad_executor() {
    insta::assert_snapshot!(errors(
        r#"
[settings]
executor = "kubernetes"
pools = { network = 2 }

[tasks.a]
run = "a"
pool = "netwrok"
slurm = { cpus = 0, mem = "lots" }
"#
    ));
}

#[test]
fn missing_dir_and_files() {
    let fs = FakeFs::new(&["dir-ok"], &["file.txt", ".env"]);
    insta::assert_snapshot!(errors_with(
        r#"
[settings]
dotenv = [".env", "?.env.local", "missing.env", "dir-ok"]

[tasks.a]
run = "a {item}"
dir = "nowhere"
for_each = { file = "items.txt" }

[tasks.b]
run = "b"
dir = "file.txt"

[services.c]
run = "c"
dir = "dir-ok"
"#,
        &fs
    ));
}

#[test]
fn placeholder_rules() {
    insta::assert_snapshot!(errors(
        r#"
[tasks.no-fanout]
run = "echo {item}"

[tasks.no-placeholder]
run = "echo hi"
for_each = { items = ["a"] }

[tasks.batch-needs-items]
run = "echo {item}"
for_each = { items = ["a", "b"] }
batch = 2

[tasks.two-sources]
run = "echo {item}"
for_each = { items = ["a"], command = "ls" }

[tasks.no-source]
run = "echo {item}"
for_each = {}

[services.s]
run = "serve {items}"
"#
    ));
}

#[test]
fn cycle_is_one_error_with_the_full_path() {
    let text = r#"
[tasks.a]
run = "a"
deps = ["b"]

[tasks.b]
run = "b"
deps = ["c"]

[tasks.c]
run = "c"
deps = ["a"]

[tasks.self]
run = "s"
deps = ["self"]
"#;
    let rendered = errors(text);
    assert_eq!(rendered.matches("dependency cycle").count(), 1);
    insta::assert_snapshot!(rendered);
}

#[test]
fn missing_run_and_non_table_units() {
    insta::assert_snapshot!(errors(
        r#"
tasks = ["a"]

[services]
redis = "redis-server"

[services.api]
description = "no run here"
"#
    ));
}

#[test]
fn unknown_top_level_table() {
    insta::assert_snapshot!(errors("[task.build]\nrun = \"make\"\n\n[build]\nrun = \"x\"\n"));
}

#[test]
fn only_the_first_syntax_error_is_reported() {
    let text = "[tasks.build\nrun = \"make\"\ndeps = [\"a\"\n[tasks.b]\nrun = tru\n";
    let rendered = errors(text);
    assert_eq!(rendered.matches("error: invalid TOML").count(), 1);
    insta::assert_snapshot!(rendered);
}

#[test]
fn duplicate_table_is_a_syntax_error() {
    insta::assert_snapshot!(errors("[tasks.a]\nrun = \"a\"\n\n[tasks.a]\nrun = \"b\"\n"));
}

#[test]
fn columns_are_counted_in_characters_after_non_ascii() {
    let text = "[tasks.héllo]\ndescription = \"ünïcødé ✓\"; run = \"x\"\nrun = \"x\"\n[tasks.b]\nrun = \"b\"\nenv = { 名前 = \"値\", X = [1] }\n";
    let diagnostics = load_err(text);
    let first = diagnostics.iter().next().expect("one error");
    assert_eq!((first.line, first.column), (2, 26));
    insta::assert_snapshot!(diagnostics.render(false));
}

#[test]
fn non_ascii_before_a_semantic_error() {
    let text = "[tasks.build]\ndescription = \"Größe ✓\"\nrun = \"x\"\nenv = { NAME = \"ünï\", BAD = [1] }\n";
    let diagnostics = load_err(text);
    let d = diagnostics.iter().next().expect("one error");
    assert_eq!((d.line, d.column), (4, 29));
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "wrong type for `env` in task `build`");
    insta::assert_snapshot!(diagnostics.render(false));
}

#[test]
fn warnings_are_reported_beside_errors() {
    let rendered = errors("[tasks.a]\nrun = \"a\"\nbatch = 2\ntimeout = 5\n");
    assert!(rendered.contains("warning: `batch` has no effect"));
    assert!(rendered.ends_with("due to 1 previous error; 1 warning emitted\n"));
}

#[test]
fn styled_rendering_uses_ansi_escapes() {
    let diagnostics = load_err("[tasks.a]\nrn = \"x\"\n");
    assert!(diagnostics.render(true).contains('\u{1b}'));
    assert!(!diagnostics.render(false).contains('\u{1b}'));
}

#[test]
fn array_of_tables_is_not_a_task_table() {
    let rendered = errors("[[tasks]]\nrun = \"make\"\n");
    assert!(rendered.contains("error: `tasks` must be a table of tasks"), "{rendered}");
}

#[test]
fn dotted_and_inline_tables_are_the_same_tasks() {
    let text = "tasks.a.run = \"a\"\ntasks.b = { run = \"b\", deps = [\"a\"] }\n";
    let p = super::test_support::load_ok(text, &FakeFs::default());
    assert_eq!(p.tasks.len(), 2);
    assert_eq!(p.tasks[1].deps, ["a"]);
}

#[test]
fn keep_logs_is_a_count_of_runs() {
    for (value, expected) in [("0", "at least 1"), ("-3", "at least 1"), ("\"all\"", "an integer")] {
        let text = errors(&format!("[settings]\nkeep_logs = {value}\n[tasks.a]\nrun = \"true\"\n"));
        assert!(text.contains("keep_logs"), "{value}: {text}");
        assert!(text.contains(expected), "{value}: {text}");
        assert!(text.contains("keep_logs = 100"), "the hint shows an example: {text}");
    }
}
