//! What a task's process sees: environment layers, working directory, stdin,
//! its own process group.

use crate::support::Test;

#[test]
fn environment_layers_override_in_order() {
    let test = Test::with_toml(
        r#"
[settings]
dotenv = [".env", "?missing.env"]
env = { FROM_SETTINGS = "settings", OVERRIDDEN = "settings" }

[tasks.show]
env = { OVERRIDDEN = "task" }
run = "echo \"$FROM_PROCESS $FROM_DOTENV $FROM_SETTINGS $OVERRIDDEN $VOLLEY_TASK\" > env.txt; echo \"$VOLLEY_RUN_ID\" > run-id.txt"
"#,
    )
    .env("FROM_PROCESS", "process")
    .env("FROM_DOTENV", "process-loses")
    .args(&["run"]);
    test.write(".env", "FROM_DOTENV=dotenv\nOVERRIDDEN=dotenv\n");
    test.run().code(0);
    assert_eq!(test.read("env.txt").trim(), "process dotenv settings task show");
    assert!(!test.read("run-id.txt").trim().is_empty());
}

#[test]
fn missing_required_dotenv_is_a_configuration_error() {
    Test::with_toml("[settings]\ndotenv = [\"nope.env\"]\n[tasks.a]\nrun = \"true\"\n")
        .args(&["run"])
        .run()
        .code(2);
}

#[test]
fn dir_sets_the_working_directory() {
    let test = Test::with_toml("[tasks.here]\ndir = \"sub\"\nrun = \"pwd > ../where.txt\"\n").args(&["run"]);
    std::fs::create_dir_all(test.path("sub")).expect("mkdir");
    test.run().code(0);
    assert!(test.read("where.txt").trim().ends_with("/sub"));
}

#[test]
fn stdin_is_dev_null_and_each_task_has_its_own_group() {
    let test = Test::with_toml(
        "[tasks.probe]\nrun = \"cat > stdin.txt; ps -o pgid= -p $$ > pgid.txt; echo $$ > pid.txt\"\n",
    )
    .args(&["run"]);
    test.run().code(0);
    assert_eq!(test.read("stdin.txt"), "", "stdin is empty, and cat did not hang");
    assert_eq!(
        test.read("pgid.txt").trim(),
        test.read("pid.txt").trim(),
        "the task leads its own process group"
    );
}

#[test]
fn custom_shell_is_used() {
    let test = Test::with_toml(
        "[settings]\nshell = [\"bash\", \"-eo\", \"pipefail\", \"-c\"]\n[tasks.pipe]\nrun = \"false | true\"\n",
    )
    .args(&["run"]);
    test.run().code(1);
}
