//! The `Test` builder: a temporary project, the real binary, and helpers to wait
//! for files with deadlines instead of sleeping.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const VOLLEY: &str = env!("CARGO_BIN_EXE_volley");

pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(!self.stdout.contains(needle), "stdout has {needle:?}\n--- stdout\n{}", self.stdout);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stderr\n{}\n--- stdout\n{}",
            self.stderr,
            self.stdout
        );
        self
    }
}

impl Test {
    pub fn new() -> Test {
        Test { dir: tempfile::tempdir().expect("temp dir"), args: Vec::new(), env: Vec::new(), cwd: None }
    }

    /// A project whose volley.toml is `toml`.
    pub fn with_toml(toml: &str) -> Test {
        let test = Test::new();
        test.write("volley.toml", toml);
        test
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write");
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_default()
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn cwd(mut self, relative: &str) -> Test {
        self.cwd = Some(self.path(relative));
        self
    }

    pub fn command(&self) -> Command {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.command_with(&args)
    }

    /// `volley ARGS` in this project (its `cwd` and `env`), instead of the builder's args.
    pub fn command_with(&self, args: &[&str]) -> Command {
        let mut command = Command::new(VOLLEY);
        command
            .args(args)
            .current_dir(self.cwd.clone().unwrap_or_else(|| self.dir.path().to_path_buf()))
            .env_remove("VOLLEY_JOBS")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    pub fn run(&self) -> Run {
        Run::of(self.command())
    }

    /// Starts volley without waiting; stdout and stderr go to files in the project.
    pub fn spawn(&self) -> Child {
        let mut command = self.command();
        command
            .stdout(std::fs::File::create(self.path("volley.stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(self.path("volley.stderr")).expect("stderr file"));
        command.spawn().expect("spawn volley")
    }
}

/// Polls until `condition` holds, for at most `limit`.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid we own; no memory is involved.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Whether a system tool is present; skips (or fails under `VOLLEY_TEST_REQUIRE_ALL=1`).
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("VOLLEY_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "{tool} is required (VOLLEY_TEST_REQUIRE_ALL=1)"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

impl Run {
    /// Runs `command` to the end and keeps what it printed.
    pub fn of(mut command: Command) -> Run {
        let output: Output = command.output().expect("run volley");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// `volley ARGS` in `test`'s project, whatever args the builder was given.
pub fn volley(test: &Test, args: &[&str]) -> Run {
    Run::of(test.command_with(args))
}

/// The command [`volley`] runs, to spawn or adjust.
pub fn command(test: &Test, args: &[&str]) -> Command {
    test.command_with(args)
}

/// Makes the recorded runs of task `name` in `test`'s history take `ms` each, in
/// `tasks` and in the baseline the scheduler reads (`baselines`, rebuilt from `tasks`
/// as the schema-5 migration does).
pub fn seed_duration(test: &Test, name: &str, ms: i64) {
    let conn = rusqlite::Connection::open(test.path(".volley/history.db")).expect("history");
    conn.execute("UPDATE tasks SET duration_us = ?2 WHERE name = ?1", rusqlite::params![name, ms * 1000])
        .expect("seed tasks");
    conn.execute(
        "UPDATE baselines SET recent = (
             SELECT json_group_array(json_array(run_id, duration_us) ORDER BY id) FROM (
                 SELECT run_id, duration_us, id FROM tasks
                 WHERE name = ?1 AND status = 'succeeded' AND flaky = 0 ORDER BY id DESC LIMIT 11))
         WHERE name = ?1",
        [name],
    )
    .expect("seed baselines");
}
