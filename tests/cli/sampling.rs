//! Resource sampling and alerts with real processes: peak memory of a task's whole
//! process tree in `history.db`, a grandchild that left the group still counted,
//! a budget alert shown while the task runs, a machine alert said once, the wait
//! for a slot, and sampling turned off. Bounds are generous: two noisy cores.

use std::time::Duration;

use rusqlite::Connection;

use crate::support::{Test, require_tool, wait_for};

const MIB: i64 = 1 << 20;

fn db(test: &Test) -> Connection {
    Connection::open(test.path(".volley/history.db")).expect("open history.db")
}

fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
    conn.query_row(sql, [], |row| row.get(0)).expect(sql)
}

/// A project whose `hold.py MIB SECONDS [spin]` holds MIB MiB for SECONDS, asleep or
/// spinning on one core.
fn with_hold_script(toml: &str) -> Test {
    let test = Test::with_toml(toml);
    test.write(
        "hold.py",
        "import sys, time\n\
         b = bytearray(int(sys.argv[1]) << 20)\n\
         spin = len(sys.argv) > 3\n\
         end = time.time() + float(sys.argv[2])\n\
         while time.time() < end:\n\
         \x20   if not spin:\n\
         \x20       time.sleep(0.05)\n",
    );
    test
}

#[test]
fn peak_memory_of_a_task_is_recorded() {
    if !require_tool("python3") {
        return;
    }
    let toml = "[settings]\nsample_interval = \"100ms\"\n\n[tasks.big]\nrun = \"python3 hold.py 100 1.5\"\n";
    let test = with_hold_script(toml).args(&["run"]);
    let run = test.run();
    run.code(0).stdout_has("mem");
    let conn = db(&test);
    let peak: i64 = one(&conn, "SELECT peak_rss_bytes FROM attempts WHERE name = 'big'");
    assert!((95 * MIB..400 * MIB).contains(&peak), "peak {peak} bytes");
    let rows: i64 = one(&conn, "SELECT count(*) FROM samples WHERE name = 'big'");
    assert!(rows >= 5, "{rows} samples of a 1.5 s task at 100 ms");
    let max_rss: i64 = one(&conn, "SELECT max(rss_bytes) FROM samples WHERE name = 'big'");
    assert_eq!(max_rss, peak, "the peak is the largest sample");
    let machine: i64 = one(
        &conn,
        "SELECT count(*) FROM samples WHERE name IS NULL AND mem_available_bytes > 0 AND disk_free_bytes > 0",
    );
    assert!(machine >= 5, "one machine row per tick: {machine}");
    // The summary shows it beside the CPU time.
    assert!(run.stdout.lines().any(|l| l.starts_with("big ") && l.contains(" MiB")), "{}", run.stdout);
}

#[test]
fn a_grandchild_that_left_the_group_counts_toward_the_tree() {
    if !require_tool("python3") || !require_tool("setsid") {
        return;
    }
    // sh → sh → setsid (waits) → python in its own session, spinning on 80 MiB.
    let toml = "[settings]\nsample_interval = \"100ms\"\n\n\
                [tasks.tree]\nrun = \"sh -c 'setsid -w python3 hold.py 80 1.5 spin'; true\"\n";
    let test = with_hold_script(toml).args(&["run"]);
    test.run().code(0);
    let conn = db(&test);
    let peak: i64 = one(&conn, "SELECT peak_rss_bytes FROM attempts WHERE name = 'tree'");
    assert!((75 * MIB..400 * MIB).contains(&peak), "peak {peak} bytes");
    let busiest: f64 = one(&conn, "SELECT max(cpu_percent) FROM samples WHERE name = 'tree'");
    // Generous: on a loaded machine the spinner may get a fraction of a core; the
    // shells and `setsid` alone would show 0.
    assert!((10.0..=220.0).contains(&busiest), "a spinning grandchild shows as CPU: {busiest}%");
}

#[test]
fn a_task_over_its_budget_is_flagged_while_it_runs() {
    let toml =
        "[settings]\nsample_interval = \"1s\"\n\n[tasks.slow]\nrun = \"sleep 4\"\nbudget = \"300ms\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    let mut child = test.spawn();
    // The alert comes from a timer, not the (1 s) sample tick, and before the task ends.
    let flagged = wait_for(Duration::from_secs(3), || test.read("volley.stdout").contains("over its budget"));
    let still_running = child.try_wait().expect("try_wait").is_none();
    let status = child.wait().expect("wait");
    let stdout = test.read("volley.stdout");
    assert!(flagged, "no live budget alert within 3 s:\n{stdout}");
    assert!(still_running, "volley ended before the alert was checked:\n{stdout}");
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("⚠ slow is over its budget of 0.3s and still running"), "{stdout}");
    let alert_line = stdout.lines().position(|l| l.contains("over its budget")).expect("alert line");
    let done_line = stdout.lines().position(|l| l.starts_with("✓ slow")).expect("done line");
    assert!(alert_line < done_line, "the alert precedes the task's end:\n{stdout}");
    assert!(stdout.contains("alerts\n  ⚠ budget at"), "the summary lists it:\n{stdout}");
    let conn = db(&test);
    let (kind, name, value, threshold): (String, String, f64, f64) = conn
        .query_row("SELECT kind, name, value, threshold FROM alerts", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .expect("one alert row");
    assert_eq!((kind.as_str(), name.as_str()), ("budget", "slow"));
    assert!(
        (threshold - 300_000.0).abs() < 1.0 && value > threshold && value < 3_000_000.0,
        "{value} / {threshold}"
    );
}

#[test]
fn low_disk_alerts_once_per_run() {
    let toml = "[settings]\nsample_interval = \"100ms\"\njobs = 1\n\n[settings.alerts]\nmin_free_disk = \"1000000TiB\"\n\n\
                [tasks.a]\nrun = \"sleep 0.6\"\n\n[tasks.b]\nrun = \"sleep 0.6\"\n";
    let test = Test::with_toml(toml).args(&["run", "--events", "events.jsonl"]);
    let run = test.run();
    run.code(0);
    let live = run.stdout.lines().filter(|l| l.starts_with("⚠ free disk space is")).count();
    assert_eq!(live, 1, "{}", run.stdout);
    assert!(run.stdout.contains("below min_free_disk = 976.6 PiB"), "{}", run.stdout);
    let conn = db(&test);
    assert_eq!(one::<i64>(&conn, "SELECT count(*) FROM alerts WHERE kind = 'disk' AND name IS NULL"), 1);
    let ticks: i64 = one(&conn, "SELECT count(*) FROM samples WHERE name IS NULL");
    assert!(ticks >= 5, "many low-disk samples, one alert: {ticks}");
    // Both new events are in the --events stream.
    let events = test.read("events.jsonl");
    assert!(events.lines().any(|l| l.contains(r#""event":"sample""#) && l.contains(r#""disk_free_bytes""#)));
    assert_eq!(events.lines().filter(|l| l.contains(r#""event":"alert""#)).count(), 1, "{events}");
}

#[test]
fn the_wait_for_a_slot_is_recorded() {
    let toml = "[tasks.a]\nrun = \"sleep 0.5\"\n\n[tasks.b]\nrun = \"sleep 0.5\"\n\n[tasks.c]\nrun = \"true\"\ndeps = [\"a\", \"b\"]\n";
    let test = Test::with_toml(toml).args(&["run", "-j", "1"]);
    test.run().code(0);
    let conn = db(&test);
    let waits: Vec<i64> = conn
        .prepare("SELECT wait_us FROM attempts ORDER BY started_us")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(waits.len(), 3);
    assert!(waits[0] < 200_000, "the first starts at once: {waits:?}");
    assert!((400_000..3_000_000).contains(&waits[1]), "the second waits for the only slot: {waits:?}");
    assert!(waits[2] < 200_000, "c is ready when b ends, and b's slot is free: {waits:?}");
}

#[test]
fn sampling_off_records_no_samples_and_no_peaks() {
    let toml = "[settings]\nsample_interval = \"0s\"\n\n[tasks.a]\nrun = \"sleep 0.4\"\n";
    let test = Test::with_toml(toml).args(&["run"]);
    let run = test.run();
    run.code(0);
    let conn = db(&test);
    assert_eq!(one::<i64>(&conn, "SELECT count(*) FROM samples"), 0);
    assert_eq!(one::<i64>(&conn, "SELECT count(*) FROM attempts WHERE peak_rss_bytes IS NULL"), 1);
    assert!(!run.stdout.contains(" mem "), "no memory column without samples:\n{}", run.stdout);
}

#[test]
fn a_bad_sample_interval_override_is_a_usage_error() {
    let test =
        Test::with_toml("[tasks.a]\nrun = \"true\"\n").args(&["run"]).env("VOLLEY_SAMPLE_INTERVAL", "fast");
    let run = test.run();
    run.code(2).stderr_has("VOLLEY_SAMPLE_INTERVAL=fast");
}
