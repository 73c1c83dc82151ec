//! Human formatting shared by the summary and the live status lines: durations and
//! how an attempt ended. Pure text; the terminal adapter adds colour and prefixes.

use crate::event::AttemptEnd;

/// A duration for people: `45ms`, `0.4s`, `12.3s`, `10s`, `2m05s`, `1h02m`.
///
/// Whole seconds drop the `.0` (`retrying in 2s`, `timed out after 10s`, as SPEC §2
/// writes them).
/// Rounds before choosing the unit, so 59.96 s reads `1m00s`, never `60.0s`.
/// Below 0.1 s the tenths would all read `0.0s`, so milliseconds are shown instead.
pub fn format_duration(us: u64) -> String {
    let ms = us.saturating_add(500) / 1_000;
    if ms < 100 {
        return format!("{ms}ms");
    }
    let tenths = us.saturating_add(50_000) / 100_000;
    if tenths < 600 {
        return match tenths % 10 {
            0 => format!("{}s", tenths / 10),
            t => format!("{}.{t}s", tenths / 10),
        };
    }
    let secs = us.saturating_add(500_000) / 1_000_000;
    if secs < 3_600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    let mins = us.saturating_add(30_000_000) / 60_000_000;
    format!("{}h{:02}m", mins / 60, mins % 60)
}

/// `us` from a reference point, signed: `-0.7s` before it, `+6s` after. What rounds
/// to `0ms` gets `+` either side, so no `-0ms`.
pub fn format_offset(us: i64) -> String {
    let shown = format_duration(us.unsigned_abs());
    let sign = if us < 0 && shown != "0ms" { '-' } else { '+' };
    format!("{sign}{shown}")
}

/// `SIGKILL` for 9. Linux numbering, which is what the executor reports; unknown
/// numbers read `signal 42`.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// How an attempt ended, as a fragment: `exit 3`, `killed by SIGKILL`, `timed out`.
pub fn describe_end(end: &AttemptEnd) -> String {
    match end {
        AttemptEnd::Exited { code } => format!("exit {code}"),
        AttemptEnd::Signaled { signal } => format!("killed by {}", signal_name(*signal)),
        AttemptEnd::TimedOut => "timed out".to_owned(),
        AttemptEnd::Interrupted => "interrupted".to_owned(),
        AttemptEnd::SpawnFailed { message } => format!("could not start: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_unit_after_rounding() {
        let cases = [
            (0, "0ms"),
            (45_000, "45ms"),
            (99_400, "99ms"),
            (99_600, "0.1s"),
            (400_000, "0.4s"),
            (2_000_000, "2s"),
            (10_040_000, "10s"),
            (1_249_999, "1.2s"),
            (12_340_000, "12.3s"),
            (59_940_000, "59.9s"),
            (59_960_000, "1m00s"),
            (125_000_000, "2m05s"),
            (3_599_600_000, "1h00m"),
            (3_720_000_000, "1h02m"),
            (90_000_000_000, "25h00m"),
        ];
        for (us, text) in cases {
            assert_eq!(format_duration(us), text, "{us} µs");
        }
    }

    #[test]
    fn offsets_are_signed_unless_they_round_to_zero() {
        assert_eq!(format_offset(-1_000_000), "-1s");
        assert_eq!(format_offset(-800_000), "-0.8s");
        assert_eq!(format_offset(-600), "-1ms");
        assert_eq!(format_offset(-400), "+0ms");
        assert_eq!(format_offset(0), "+0ms");
        assert_eq!(format_offset(6_000_000), "+6s");
    }

    #[test]
    fn attempt_ends_read_as_fragments() {
        assert_eq!(describe_end(&AttemptEnd::Exited { code: 3 }), "exit 3");
        assert_eq!(describe_end(&AttemptEnd::Signaled { signal: 9 }), "killed by SIGKILL");
        assert_eq!(describe_end(&AttemptEnd::Signaled { signal: 42 }), "killed by signal 42");
        assert_eq!(describe_end(&AttemptEnd::TimedOut), "timed out");
    }
}

/// The status colours, shared by the summary and the live status lines.
pub mod palette {
    use anstyle::{AnsiColor, Effects, Style};

    pub const GREEN: Style = AnsiColor::Green.on_default();
    pub const RED: Style = AnsiColor::Red.on_default();
    pub const YELLOW: Style = AnsiColor::Yellow.on_default();
    pub const CYAN: Style = AnsiColor::Cyan.on_default();
    pub const DIM: Style = Style::new().effects(Effects::DIMMED);
    pub const BOLD: Style = Style::new().effects(Effects::BOLD);
}
