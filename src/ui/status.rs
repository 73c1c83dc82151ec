//! Status lines (SPEC §2 "Output"): one line per thing that happened to a task.
//!
//! `▶ name` / `▶ name (attempt 2)`, `✓ name 1.2s`, `✓ name 1.2s (flaky: passed on
//! attempt 2)`, `✗ name exit 3 after 0.4s`, `✗ name killed by SIGKILL after 0.4s`,
//! `… (allowed)`, `⏱ name timed out after 10s`, `↷ name skipped (needs essential)`,
//! `≡ name cached`, `↻ name failed (exit 1), retrying in 2s`, `⚠ name is over its
//! budget of 0.3s and still running` / `⚠ free disk space is …` (alerts). Pure formatting: the
//! symbol carries the meaning without colour; colour only reinforces it.

use std::time::Duration;

use anstyle::Style;
use volley_core::event::{AttemptEnd, Event, TaskStatus};
use volley_core::summary::{self, describe_end};

use super::color::name_style;

use volley_core::summary::palette::{BOLD, CYAN, DIM, GREEN, RED, YELLOW};

/// A [`Duration`] for people: `0.4s`, `12.3s`, `2m05s`, `1h02m`.
pub fn format_duration(duration: Duration) -> String {
    summary::format_duration(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
}

fn us(duration_us: u64) -> String {
    summary::format_duration(duration_us)
}

/// The status line for `event`, if it has one, without a newline. `last_end` is how
/// the task's last attempt ended (from its `AttemptFinished`), for failures.
pub fn status_line(event: &Event, last_end: Option<&AttemptEnd>, color: bool) -> Option<String> {
    let paint = |text: &str, style: Style| {
        if color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_owned() }
    };
    let name = |name: &str| paint(name, name_style(name));
    let line = match event {
        Event::AttemptStarted { name: n, attempt, .. } => {
            let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            format!("{} {}{again}", paint("▶", BOLD), name(n))
        }
        Event::AttemptFinished { name: n, end, retry_in_us: Some(delay), .. } => {
            let what = match end {
                AttemptEnd::TimedOut => "timed out".to_owned(),
                end => format!("failed ({})", describe_end(end)),
            };
            format!("{} {} {what}, retrying in {}", paint("↻", YELLOW), name(n), us(*delay))
        }
        Event::TaskFinished {
            name: n, status, duration_us, attempts, allowed_failure, flaky, needs, ..
        } => {
            let allowed = if *allowed_failure { " (allowed)" } else { "" };
            let failed = if *allowed_failure { YELLOW } else { RED };
            let d = us(*duration_us);
            match status {
                TaskStatus::Succeeded if *flaky => {
                    format!("{} {} {d} (flaky: passed on attempt {attempts})", paint("✓", YELLOW), name(n))
                }
                TaskStatus::Succeeded => format!("{} {} {d}", paint("✓", GREEN), name(n)),
                TaskStatus::Failed => {
                    let how = match last_end {
                        Some(AttemptEnd::SpawnFailed { message }) => {
                            return Some(format!(
                                "{} {} could not start: {message}{allowed}",
                                paint("✗", failed),
                                name(n)
                            ));
                        }
                        Some(end @ (AttemptEnd::Exited { .. } | AttemptEnd::Signaled { .. })) => {
                            describe_end(end)
                        }
                        _ => "failed".to_owned(),
                    };
                    format!("{} {} {how} after {d}{allowed}", paint("✗", failed), name(n))
                }
                TaskStatus::TimedOut => {
                    format!("{} {} timed out after {d}{allowed}", paint("⏱", failed), name(n))
                }
                TaskStatus::Skipped => match needs {
                    Some(needs) => format!("{} {} skipped (needs {needs})", paint("↷", DIM), name(n)),
                    None => format!("{} {} skipped", paint("↷", DIM), name(n)),
                },
                // Fail-fast can leave many tasks unstarted; the summary lists them.
                TaskStatus::NotStarted => return None,
                TaskStatus::Interrupted => {
                    format!("{} {} interrupted after {d}", paint("⊘", YELLOW), name(n))
                }
                TaskStatus::Cached => format!("{} {} cached", paint("≡", CYAN), name(n)),
                TaskStatus::Resumed => {
                    format!("{} {} resumed (done in an earlier run)", paint("≡", CYAN), name(n))
                }
            }
        }
        Event::Interrupting { signal, .. } => format!(
            "{} {signal}: stopping running tasks (interrupt again to kill them now)",
            paint("⊘", YELLOW)
        ),
        Event::Warning { message, .. } => format!("{} {message}", paint("warning:", YELLOW)),
        // Task alerts start with the task's name already (`build has run …`).
        Event::Alert(alert) => format!("{} {}", paint("⚠", YELLOW), paint(&alert.message, YELLOW)),
        _ => return None,
    };
    Some(line)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use volley_core::event::{Alert, AlertKind, TaskKey};
    use volley_core::graph::UnitId;

    use super::*;

    const KEY: TaskKey = TaskKey { unit: UnitId(0), instance: 0 };

    fn finished(status: TaskStatus, duration_us: u64, attempts: u32, allowed: bool, flaky: bool) -> Event {
        Event::TaskFinished {
            t_us: 0,
            key: KEY,
            name: "essential".into(),
            status,
            duration_us,
            attempts,
            allowed_failure: allowed,
            flaky,
            needs: (status == TaskStatus::Skipped).then(|| "homebrew".into()),
            log: None,
        }
    }

    fn attempt(attempt: u32, end: AttemptEnd, retry_in_us: Option<u64>) -> Event {
        Event::AttemptFinished {
            t_us: 0,
            key: KEY,
            name: "essential".into(),
            attempt,
            end,
            success: false,
            duration_us: 0,
            cpu_user_us: 0,
            cpu_system_us: 0,
            retry_in_us,
            peak_rss_bytes: None,
            read_bytes: None,
            written_bytes: None,
            wait_us: 0,
        }
    }

    fn started(attempt: u32) -> Event {
        Event::AttemptStarted {
            t_us: 0,
            key: KEY,
            name: "essential".into(),
            attempt,
            slot: 0,
            pid: 1,
            expected_us: None,
        }
    }

    fn all_lines(color: bool) -> String {
        let exit3 = AttemptEnd::Exited { code: 3 };
        let kill = AttemptEnd::Signaled { signal: 9 };
        let spawn = AttemptEnd::SpawnFailed { message: "No such file or directory".into() };
        let cases: Vec<(Event, Option<AttemptEnd>)> = vec![
            (started(1), None),
            (started(2), None),
            (attempt(1, AttemptEnd::Exited { code: 1 }, Some(2_000_000)), None),
            (attempt(1, AttemptEnd::TimedOut, Some(4_000_000)), None),
            (attempt(3, exit3.clone(), None), None),
            (finished(TaskStatus::Succeeded, 1_200_000, 1, false, false), None),
            (finished(TaskStatus::Succeeded, 1_200_000, 2, false, true), None),
            (finished(TaskStatus::Failed, 400_000, 1, false, false), Some(exit3.clone())),
            (finished(TaskStatus::Failed, 400_000, 1, true, false), Some(exit3)),
            (finished(TaskStatus::Failed, 65_000_000, 1, false, false), Some(kill)),
            (finished(TaskStatus::Failed, 0, 1, false, false), Some(spawn)),
            (finished(TaskStatus::TimedOut, 10_000_000, 1, false, false), Some(AttemptEnd::TimedOut)),
            (finished(TaskStatus::Skipped, 0, 0, false, false), None),
            (finished(TaskStatus::NotStarted, 0, 0, false, false), None),
            (finished(TaskStatus::Interrupted, 3_700_000_000, 1, false, false), None),
            (finished(TaskStatus::Cached, 0, 0, false, false), None),
            (finished(TaskStatus::Resumed, 0, 0, false, false), None),
            (Event::Interrupting { t_us: 0, signal: "SIGINT".into() }, None),
            (Event::Warning { t_us: 0, message: "cannot write the history".into() }, None),
            (
                Event::Alert(Alert {
                    t_us: 0,
                    kind: AlertKind::Budget,
                    name: Some("essential".into()),
                    message: "essential is over its budget of 0.3s and still running".into(),
                    value: 2.1e6,
                    threshold: 3e5,
                }),
                None,
            ),
            (
                Event::Alert(Alert {
                    t_us: 0,
                    kind: AlertKind::Disk,
                    name: None,
                    message: "free disk space is 3.2 GiB, below min_free_disk = 5 GiB".into(),
                    value: 3.2e9,
                    threshold: 5e9,
                }),
                None,
            ),
        ];
        let mut out = String::new();
        for (event, end) in &cases {
            match status_line(event, end.as_ref(), color) {
                Some(line) => writeln!(out, "{line}"),
                None => writeln!(out, "(none)"),
            }
            .expect("write to String");
        }
        out
    }

    #[test]
    fn status_line_for_every_status() {
        insta::assert_snapshot!(all_lines(false));
    }

    #[test]
    fn status_lines_in_colour() {
        insta::assert_snapshot!(all_lines(true));
    }
}
