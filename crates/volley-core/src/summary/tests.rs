//! Summary snapshots: whole runs fed as events, rendered without colour.

use std::fmt::Write as _;
use std::sync::Arc;

use super::*;
use crate::event::{PlannedTask, Stream};

/// Feeds a `RunSummary` with terse calls; times in milliseconds.
struct Run {
    summary: RunSummary,
    /// The peak memory the next `attempt_end` reports.
    peak_rss_bytes: Option<u64>,
}

fn key(unit: u32, instance: u32) -> TaskKey {
    TaskKey { unit: UnitId(unit), instance }
}

const S: u64 = 1_000;

impl Run {
    /// `tasks`: (name, deps by index).
    fn new(tasks: &[(&str, &[u32])]) -> Self {
        let tasks = tasks
            .iter()
            .enumerate()
            .map(|(i, (name, deps))| PlannedTask {
                deps: deps.iter().map(|d| UnitId(*d)).collect(),
                ..PlannedTask::new(UnitId(i as u32), Arc::from(*name))
            })
            .collect();
        let mut summary = RunSummary::new();
        summary.observe(&Event::RunStarted {
            run_id: Arc::from("r1"),
            command: vec!["volley".into(), "run".into()],
            jobs: 4,
            started_at_us: 0,
            tasks,
            dry_run: false,
        });
        Run { summary, peak_rss_bytes: None }
    }

    fn start(&mut self, k: TaskKey, name: &str, attempt: u32, ms: u64) -> &mut Self {
        self.summary.observe(&Event::AttemptStarted {
            t_us: ms * S,
            key: k,
            name: name.into(),
            attempt,
            slot: 0,
            pid: 100,
            expected_us: None,
        });
        self
    }

    fn out(&mut self, k: TaskKey, name: &str, text: &str) -> &mut Self {
        self.summary.observe(&Event::Output {
            t_us: 0,
            key: k,
            name: name.into(),
            stream: Stream::Stdout,
            lines: Lines(text.as_bytes().to_vec()),
        });
        self
    }

    fn attempt_end(
        &mut self,
        k: TaskKey,
        name: &str,
        attempt: u32,
        end: AttemptEnd,
        ms: (u64, u64),
    ) -> &mut Self {
        self.summary.observe(&Event::AttemptFinished {
            t_us: ms.1 * S,
            key: k,
            name: name.into(),
            attempt,
            success: end == AttemptEnd::Exited { code: 0 },
            end,
            duration_us: (ms.1 - ms.0) * S,
            cpu_user_us: (ms.1 - ms.0) * S / 2,
            cpu_system_us: (ms.1 - ms.0) * S / 10,
            retry_in_us: None,
            peak_rss_bytes: self.peak_rss_bytes.take(),
            read_bytes: None,
            written_bytes: None,
            wait_us: 0,
        });
        self
    }

    fn finish(
        &mut self,
        k: TaskKey,
        name: &str,
        status: TaskStatus,
        ms: (u64, u64),
        attempts: u32,
    ) -> &mut Self {
        self.summary.observe(&Event::TaskFinished {
            t_us: ms.1 * S,
            key: k,
            name: name.into(),
            status,
            duration_us: (ms.1 - ms.0) * S,
            attempts,
            allowed_failure: false,
            flaky: status == TaskStatus::Succeeded && attempts > 1,
            needs: None,
            log: Some(format!(".volley/logs/r1/{name}.log")),
        });
        self
    }

    /// One successful single-attempt task.
    fn ok(&mut self, k: TaskKey, name: &str, ms: (u64, u64)) -> &mut Self {
        self.start(k, name, 1, ms.0).attempt_end(k, name, 1, AttemptEnd::Exited { code: 0 }, ms).finish(
            k,
            name,
            TaskStatus::Succeeded,
            ms,
            1,
        )
    }

    fn end(&mut self, status: RunStatus, wall_ms: u64) -> String {
        self.summary.observe(&Event::RunFinished { t_us: wall_ms * S, status, wall_us: wall_ms * S });
        self.summary.render(false)
    }
}

#[test]
fn peak_memory_and_alerts_are_shown_when_known() {
    use crate::event::{Alert, AlertKind};
    let mut run = Run::new(&[("compile", &[]), ("link", &[0]), ("tiny", &[])]);
    run.peak_rss_bytes = Some(734 << 20);
    run.ok(key(0, 0), "compile", (0, 4_000));
    run.summary.observe(&Event::Alert(Alert {
        t_us: 4_600 * S,
        kind: AlertKind::Budget,
        name: Some("link".into()),
        message: "link is over its budget of 1.5s and still running".into(),
        value: 1.6e6,
        threshold: 1.5e6,
    }));
    run.peak_rss_bytes = Some(12 << 20);
    run.ok(key(1, 0), "link", (4_010, 6_000));
    // Shorter than one sampling interval: never measured.
    run.ok(key(2, 0), "tiny", (0, 40));
    let text = run.end(RunStatus::Succeeded, 6_050);
    let (alerts, count) = run.summary.alerts();
    assert_eq!((alerts.len(), count), (1, 1));
    insta::assert_snapshot!(text);
}

#[test]
fn all_green_run() {
    let mut run = Run::new(&[("bootstrap", &[]), ("brew", &[0]), ("essential", &[1]), ("fonts", &[0])]);
    run.ok(key(0, 0), "bootstrap", (0, 1_200))
        .ok(key(3, 0), "fonts", (1_210, 9_000))
        .ok(key(1, 0), "brew", (1_205, 4_300))
        .ok(key(2, 0), "essential", (4_310, 12_400));
    let text = run.end(RunStatus::Succeeded, 12_450);
    assert_eq!(run.summary.counts().succeeded, 4);
    insta::assert_snapshot!(text);
}

#[test]
fn failed_run_with_skip_and_last_lines() {
    let mut run = Run::new(&[("homebrew", &[]), ("essential", &[0]), ("symlinks", &[1]), ("node", &[0])]);
    run.ok(key(0, 0), "homebrew", (0, 2_000)).start(key(1, 0), "essential", 1, 2_010).start(
        key(3, 0),
        "node",
        1,
        2_020,
    );
    let many: String = (1..=14).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "installing package {i}");
        s
    });
    run.out(key(1, 0), "essential", &many).out(key(1, 0), "essential", "error: brew bundle failed\n");
    run.out(key(3, 0), "node", "node ok\n");
    run.attempt_end(key(1, 0), "essential", 1, AttemptEnd::Exited { code: 3 }, (2_010, 2_410)).finish(
        key(1, 0),
        "essential",
        TaskStatus::Failed,
        (2_010, 2_410),
        1,
    );
    run.summary.observe(&Event::TaskFinished {
        t_us: 2_410 * S,
        key: key(2, 0),
        name: "symlinks".into(),
        status: TaskStatus::Skipped,
        duration_us: 0,
        attempts: 0,
        allowed_failure: false,
        flaky: false,
        needs: Some("essential".into()),
        log: None,
    });
    run.attempt_end(key(3, 0), "node", 1, AttemptEnd::Exited { code: 0 }, (2_020, 5_000)).finish(
        key(3, 0),
        "node",
        TaskStatus::Succeeded,
        (2_020, 5_000),
        1,
    );
    let text = run.end(RunStatus::Failed, 5_020);
    let counts = run.summary.counts();
    assert_eq!((counts.failed, counts.skipped, counts.succeeded), (1, 1, 2));
    assert!(!text.contains("package 5\n"), "only the last 10 lines are kept");
    let colored = run.summary.render(true);
    assert!(colored.contains("\x1b[31m✗ exit 3"), "{colored}");
    assert_eq!(without_escapes(&colored), text, "colour only wraps the padded cells");
    insta::assert_snapshot!(text);
}

/// `text` without its ANSI escape sequences (`ESC [ … m`).
fn without_escapes(text: &str) -> String {
    let mut plain = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        plain.push_str(&rest[..at]);
        rest = rest[at..].find('m').map_or("", |end| &rest[at + end + 1..]);
    }
    plain.push_str(rest);
    plain
}

#[test]
fn flaky_retry() {
    let mut run = Run::new(&[("fetch", &[])]);
    let k = key(0, 0);
    run.start(k, "fetch", 1, 0)
        .out(k, "fetch", "connection reset\n")
        .attempt_end(k, "fetch", 1, AttemptEnd::Exited { code: 1 }, (0, 300))
        .start(k, "fetch", 2, 2_300)
        .attempt_end(k, "fetch", 2, AttemptEnd::Exited { code: 0 }, (2_300, 3_500))
        .finish(k, "fetch", TaskStatus::Succeeded, (0, 3_500), 2);
    let text = run.end(RunStatus::Succeeded, 3_510);
    assert_eq!(run.summary.counts().flaky, 1);
    assert_eq!(run.summary.tasks().next().map(|t| t.last_lines().count()), Some(0), "dropped on success");
    insta::assert_snapshot!(text);
}

#[test]
fn fan_out_task() {
    let mut run = Run::new(&[("list", &[]), ("upgrade", &[0]), ("small", &[0])]);
    run.ok(key(0, 0), "list", (0, 500));
    for (unit, name, count) in [(1, "upgrade", 25u32), (2, "small", 3)] {
        run.summary.observe(&Event::InstancesPlanned {
            t_us: 500 * S,
            unit: UnitId(unit),
            name: name.into(),
            count,
        });
        for i in 0..count {
            let inst = format!("{name}[pkg{i}]");
            let start = 500 + u64::from(i / 5) * 1_000;
            let k = key(unit, i);
            match i {
                3 => {
                    run.start(k, &inst, 1, start)
                        .out(k, &inst, "ERROR: no matching distribution\n")
                        .attempt_end(k, &inst, 1, AttemptEnd::Exited { code: 1 }, (start, start + 700))
                        .finish(k, &inst, TaskStatus::Failed, (start, start + 700), 1);
                }
                24 => {
                    run.finish(k, &inst, TaskStatus::NotStarted, (start, start), 0);
                }
                _ => {
                    run.ok(k, &inst, (start, start + 900));
                }
            }
        }
    }
    // The fan-out task's own finish is its aggregate, not one more instance.
    run.finish(key(1, 0), "upgrade", TaskStatus::Failed, (500, 5_400), 1);
    let text = run.end(RunStatus::Failed, 5_450);
    assert_eq!(run.summary.counts().total(), 1 + 25 + 3);
    insta::assert_snapshot!(text);
}

#[test]
fn interrupted_run() {
    let mut run = Run::new(&[("server-setup", &[]), ("ide", &[0]), ("docs", &[0]), ("final", &[1, 2])]);
    run.ok(key(0, 0), "server-setup", (0, 4_000)).start(key(1, 0), "ide", 1, 4_010).start(
        key(2, 0),
        "docs",
        1,
        4_020,
    );
    run.summary.observe(&Event::Interrupting { t_us: 6_000 * S, signal: "SIGINT".into() });
    run.attempt_end(key(1, 0), "ide", 1, AttemptEnd::Interrupted, (4_010, 6_100))
        .finish(key(1, 0), "ide", TaskStatus::Interrupted, (4_010, 6_100), 1)
        .attempt_end(key(2, 0), "docs", 1, AttemptEnd::Signaled { signal: 9 }, (4_020, 16_100))
        .finish(key(2, 0), "docs", TaskStatus::Interrupted, (4_020, 16_100), 1);
    let text = run.end(RunStatus::Interrupted, 16_150);
    assert_eq!(run.summary.counts().unfinished, 1, "`final` never reported");
    insta::assert_snapshot!(text);
}

#[test]
fn critical_path_follows_the_dependency_that_finished_last() {
    let mut run = Run::new(&[("a", &[]), ("b", &[]), ("c", &[0, 1]), ("d", &[])]);
    run.ok(key(0, 0), "a", (0, 1_000)).ok(key(1, 0), "b", (0, 3_000)).ok(key(2, 0), "c", (3_000, 5_000)).ok(
        key(3, 0),
        "d",
        (0, 4_000),
    );
    let (path, length) = run.summary.critical_path();
    let names: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    assert_eq!(names, ["b", "c"]);
    assert_eq!(length, 5_000 * S);
}

#[test]
fn huge_chunk_keeps_only_the_tail() {
    let mut run = Run::new(&[("big", &[])]);
    let k = key(0, 0);
    let mut chunk = Vec::new();
    for i in 0..100_000 {
        chunk.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    chunk.extend_from_slice(&[b'x'; 2_000]);
    chunk.push(b'\n');
    run.start(k, "big", 1, 0).out(k, "big", std::str::from_utf8(&chunk).unwrap_or_default());
    let record = run.summary.tasks().next().expect("a record");
    let lines: Vec<&[u8]> = record.last_lines().collect();
    assert_eq!(lines.len(), LAST_LINES);
    assert_eq!(lines[0], b"line 99991");
    assert_eq!(lines[9].len(), MAX_KEPT_LINE);
}
