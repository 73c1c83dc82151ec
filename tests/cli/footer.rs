//! The live footer once history exists: each running task against its usual
//! duration, and the overall bar's predicted time left counting down. Driven through
//! a real pseudo-terminal with tmux, like the footer test in `output.rs`.

use std::time::Duration;

use crate::support::{Test, VOLLEY, require_tool, seed_duration, volley, wait_for};

#[test]
fn footer_shows_usual_durations_and_the_time_left() {
    if !require_tool("tmux") {
        return;
    }
    // `slow` waits for a file the test creates, so the footer can be read at leisure.
    let toml = "[tasks.slow]\nrun = \"i=0; while [ ! -f release ] && [ $i -lt 1500 ]; do i=$((i+1)); sleep 0.02; done\"\n\
                [tasks.after]\nrun = \"true\"\ndeps = [\"slow\"]\n";
    let test = Test::with_toml(toml);
    test.write("release", "");
    volley(&test, &["run", "--output", "quiet"]).code(0);
    seed_duration(&test, "slow", 40_000);
    seed_duration(&test, "after", 2_000);
    std::fs::remove_file(test.path("release")).expect("remove release");

    let session = format!("volley-footer-usual-{}", std::process::id());
    let command = format!("cd {} && {VOLLEY} run; sleep 30", test.dir.path().display());
    let tmux = |args: &[&str]| std::process::Command::new("tmux").args(args).output().expect("tmux");
    tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "20", &command]);
    let capture =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned();
    // slow's 40 s and after's 2 s, minus what has run: between 38 s and 42 s left.
    let saw = wait_for(Duration::from_secs(10), || {
        let screen = capture();
        screen.contains("slow")
            && screen.contains("/ usual 40s")
            && time_left(&screen).is_some_and(|s| (38.0..=42.0).contains(&s))
    });
    let during = capture();
    test.write("release", "");
    wait_for(Duration::from_secs(10), || capture().to_lowercase().contains("wall"));
    let after = capture();
    tmux(&["kill-session", "-t", &session]);
    assert!(saw, "no usual duration or time left in the footer:\n{during}");
    assert!(!after.contains("left"), "footer left behind:\n{after}");
}

/// The seconds in the footer's `~41.9s left`, if shown.
fn time_left(screen: &str) -> Option<f64> {
    let end = screen.find("s left")?;
    let start = screen[..end].rfind('~')? + 1;
    screen[start..end].parse().ok()
}
