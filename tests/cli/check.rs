//! Validation from the command line: every error at once, located, exit 2.

use crate::support::Test;

#[test]
fn valid_file_checks_ok() {
    Test::with_toml("[tasks.a]\nrun = \"true\"\n").args(&["check"]).run().code(0).stdout_has("ok");
}

#[test]
fn errors_are_located_hinted_and_all_reported() {
    let run = Test::with_toml("[tasks.build]\nrun = \"make\"\ndpes = [\"x\"]\ntimeout = \"ten\"\n")
        .args(&["check"])
        .run();
    run.code(2).stderr_has("volley.toml:3:").stderr_has("deps").stderr_has("volley.toml:4:");
}

#[test]
fn cycle_is_printed_as_a_path() {
    let run = Test::with_toml(
        "[tasks.a]\nrun = \"true\"\ndeps = [\"b\"]\n[tasks.b]\nrun = \"true\"\ndeps = [\"a\"]\n",
    )
    .args(&["check"])
    .run();
    run.code(2).stderr_has("a → b → a");
}

#[test]
fn run_validates_before_running_anything() {
    let test =
        Test::with_toml("[tasks.a]\nrun = \"touch ran\"\n[tasks.b]\nrun = \"true\"\ndeps = [\"nope\"]\n")
            .args(&["run", "a"]);
    test.run().code(2);
    assert!(!test.path("ran").exists());
}

#[test]
fn unknown_task_name_suggests_the_closest() {
    Test::with_toml("[tasks.build]\nrun = \"true\"\n")
        .args(&["run", "biuld"])
        .run()
        .code(2)
        .stderr_has("did you mean `build`?");
}

#[test]
fn missing_file_is_a_usage_error() {
    Test::new().args(&["run"]).run().code(2).stderr_has("no volley.toml");
}

#[test]
fn syntax_error_is_located() {
    Test::with_toml("[tasks.a\nrun = \"true\"\n").args(&["check"]).run().code(2).stderr_has("volley.toml:1:");
}

#[test]
fn bad_usage_exits_2_and_help_shows_examples() {
    Test::new().args(&["run", "--jobs", "zero"]).run().code(2);
    Test::new().args(&["--help"]).run().code(0).stdout_has("Examples:");
    Test::new().args(&["--version"]).run().code(0).stdout_has("volley");
    Test::new().args(&["completions", "bash"]).run().code(0).stdout_has("volley");
}
