//! The terminal reporter end to end: events in, the bytes a person would see out.

use std::fmt::Write as _;
use std::sync::Arc;

use volley_core::event::{
    AttemptEnd, Event, EventSink, Lines, PlannedTask, RunStatus, Stream, TaskKey, TaskStatus,
};
use volley_core::graph::UnitId;

use super::writer::tests::Shared;
use super::{OutputMode, TerminalOptions, TerminalReporter};

fn key(unit: u32) -> TaskKey {
    TaskKey { unit: UnitId(unit), instance: 0 }
}

fn planned(unit: u32, name: &str, deps: &[u32]) -> PlannedTask {
    PlannedTask {
        deps: deps.iter().map(|d| UnitId(*d)).collect(),
        ..PlannedTask::new(UnitId(unit), name.into())
    }
}

fn started(unit: u32, name: &str, t_ms: u64) -> Event {
    Event::AttemptStarted {
        t_us: t_ms * 1000,
        key: key(unit),
        name: name.into(),
        attempt: 1,
        slot: unit,
        pid: 1,
        expected_us: None,
    }
}

fn output(unit: u32, name: &str, stream: Stream, text: &str) -> Event {
    Event::Output {
        t_us: 0,
        key: key(unit),
        name: name.into(),
        stream,
        lines: Lines(text.as_bytes().to_vec()),
    }
}

fn ended(unit: u32, name: &str, code: i32, ms: (u64, u64)) -> [Event; 2] {
    let status = if code == 0 { TaskStatus::Succeeded } else { TaskStatus::Failed };
    [
        Event::AttemptFinished {
            t_us: ms.1 * 1000,
            key: key(unit),
            name: name.into(),
            attempt: 1,
            end: AttemptEnd::Exited { code },
            success: code == 0,
            duration_us: (ms.1 - ms.0) * 1000,
            cpu_user_us: 1000,
            cpu_system_us: 0,
            retry_in_us: None,
            peak_rss_bytes: None,
            read_bytes: None,
            written_bytes: None,
            wait_us: 0,
        },
        Event::TaskFinished {
            t_us: ms.1 * 1000,
            key: key(unit),
            name: name.into(),
            status,
            duration_us: (ms.1 - ms.0) * 1000,
            attempts: 1,
            allowed_failure: false,
            flaky: false,
            needs: None,
            log: Some(format!("logs/{name}.log")),
        },
    ]
}

/// Two tasks whose output interleaves; `test` fails.
fn run() -> Vec<Event> {
    let mut events = vec![
        Event::RunStarted {
            run_id: Arc::from("r1"),
            command: vec!["volley".into()],
            jobs: 2,
            started_at_us: 0,
            tasks: vec![planned(0, "build", &[]), planned(1, "test-all", &[])],
            dry_run: false,
        },
        started(0, "build", 0),
        started(1, "test-all", 1),
        output(0, "build", Stream::Stdout, "compiling\n"),
        output(1, "test-all", Stream::Stdout, "running 2 tests\n"),
        output(0, "build", Stream::Stderr, "warning: unused\n"),
        output(1, "test-all", Stream::Stderr, "test b failed\n"),
    ];
    events.extend(ended(0, "build", 0, (0, 1_200)));
    events.extend(ended(1, "test-all", 101, (1, 2_500)));
    events.push(Event::RunFinished { t_us: 2_600_000, status: RunStatus::Failed, wall_us: 2_600_000 });
    events
}

fn render(mode: OutputMode, summary: bool, events: &[Event]) -> (String, String) {
    let (out, err) = (Shared::default(), Shared::default());
    let options = TerminalOptions { mode, color: false, footer: false, summary };
    let mut reporter = TerminalReporter::with_output(options, Box::new(out.clone()), Box::new(err.clone()));
    for event in events {
        reporter.event(event);
    }
    reporter.finish();
    (out.text(), err.text())
}

#[test]
fn prefixed_run() {
    let (out, _) = render(OutputMode::Prefixed, true, &run());
    insta::assert_snapshot!(out);
}

#[test]
fn grouped_run_prints_each_task_as_a_block() {
    let (out, _) = render(OutputMode::Grouped, false, &run());
    insta::assert_snapshot!(out, @r"
    ▶ build
    ▶ test-all
    ✓ build 1.2s
    build    | compiling
    build    ! warning: unused
    ✗ test-all exit 101 after 2.5s
    test-all | running 2 tests
    test-all ! test b failed
    ");
}

#[test]
fn quiet_run_prints_only_status_lines() {
    let (out, _) = render(OutputMode::Quiet, false, &run());
    insta::assert_snapshot!(out, @r"
    ▶ build
    ▶ test-all
    ✓ build 1.2s
    ✗ test-all exit 101 after 2.5s
    ");
}

#[test]
fn grouped_output_past_the_memory_limit_spills_and_comes_back_in_order() {
    let (out, err) = (Shared::default(), Shared::default());
    let options = TerminalOptions { mode: OutputMode::Grouped, color: false, footer: false, summary: false };
    let mut reporter = TerminalReporter::with_output(options, Box::new(out.clone()), Box::new(err));
    reporter.set_group_limit(64);
    reporter.event(&started(0, "big", 0));
    let mut expected = String::from("▶ big\n✓ big 1s\n");
    for i in 0..100 {
        reporter.event(&output(0, "big", Stream::Stdout, &format!("line {i}\n")));
        let _ = writeln!(expected, "big | line {i}");
    }
    for event in ended(0, "big", 0, (0, 1_000)) {
        reporter.event(&event);
    }
    reporter.finish();
    assert_eq!(out.text(), expected);
}

#[test]
fn interrupts_and_warnings_go_to_stderr() {
    let events = [
        Event::Interrupting { t_us: 0, signal: "SIGINT".into() },
        Event::Warning { t_us: 0, message: "cannot record the run".into() },
    ];
    let (out, err) = render(OutputMode::Prefixed, false, &events);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "⊘ SIGINT: stopping running tasks (interrupt again to kill them now)\nwarning: cannot record the run\n"
    );
}

/// The consumer side of the 4 × 50 MB target: prefixed reporter (to a sink, through
/// the writer thread) plus the summary, fed 64 KiB chunks of 100-byte lines.
/// `cargo test --release --lib -- ui::tests::reporter_throughput --ignored --nocapture`
#[test]
#[ignore = "throughput measurement; run in release"]
fn reporter_throughput() {
    let mut chunk = Vec::with_capacity(64 * 1024);
    while chunk.len() + 100 <= 64 * 1024 {
        chunk.extend_from_slice(&[b'x'; 99]);
        chunk.push(b'\n');
    }
    let names = ["alpha", "beta", "gamma", "delta"];
    let options = TerminalOptions { mode: OutputMode::Prefixed, color: true, footer: false, summary: true };
    let mut reporter =
        TerminalReporter::with_output(options, Box::new(std::io::sink()), Box::new(std::io::sink()));
    let tasks = names.iter().enumerate().map(|(i, n)| planned(i as u32, n, &[])).collect();
    reporter.event(&Event::RunStarted {
        run_id: Arc::from("r"),
        command: vec![],
        jobs: 4,
        started_at_us: 0,
        tasks,
        dry_run: false,
    });
    let events: Vec<Event> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Event::Output {
            t_us: 0,
            key: key(i as u32),
            name: Arc::from(*n),
            stream: Stream::Stdout,
            lines: Lines(chunk.clone()),
        })
        .collect();
    let total = 4 * 50 * 1024 * 1024;
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < total {
        for event in &events {
            reporter.event(event);
            done += chunk.len();
        }
    }
    reporter.finish();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "terminal reporter (prefixed, colour, to a sink): {:.0} MiB/s",
        done as f64 / secs / 1024.0 / 1024.0
    );
}

#[test]
fn grouped_block_separates_attempts() {
    let mut events = vec![started(0, "fetch", 0), output(0, "fetch", Stream::Stdout, "reset\n")];
    events.push(Event::AttemptFinished {
        t_us: 0,
        key: key(0),
        name: "fetch".into(),
        attempt: 1,
        end: AttemptEnd::Exited { code: 1 },
        success: false,
        duration_us: 0,
        cpu_user_us: 0,
        cpu_system_us: 0,
        retry_in_us: Some(1_000_000),
        peak_rss_bytes: None,
        read_bytes: None,
        written_bytes: None,
        wait_us: 0,
    });
    events.push(Event::AttemptStarted {
        t_us: 0,
        key: key(0),
        name: "fetch".into(),
        attempt: 2,
        slot: 0,
        pid: 2,
        expected_us: None,
    });
    events.push(output(0, "fetch", Stream::Stdout, "ok\n"));
    events.push(Event::TaskFinished {
        t_us: 0,
        key: key(0),
        name: "fetch".into(),
        status: TaskStatus::Succeeded,
        duration_us: 2_300_000,
        attempts: 2,
        allowed_failure: false,
        flaky: true,
        needs: None,
        log: None,
    });
    let (out, _) = render(OutputMode::Grouped, false, &events);
    insta::assert_snapshot!(out, @r"
    ▶ fetch
    ↻ fetch failed (exit 1), retrying in 1s
    ▶ fetch (attempt 2)
    ✓ fetch 2.3s (flaky: passed on attempt 2)
    fetch | reset
    fetch | ── attempt 2 ──
    fetch | ok
    ");
}
