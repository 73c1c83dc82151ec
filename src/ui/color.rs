//! Whether to colour, and which colour each task name gets.
//!
//! The decision is made once per stream and pushed to both styling stacks (anstream
//! for our text, console for indicatif's footer), because they read `NO_COLOR`
//! differently (CRATES.md "Colours"). A name's colour comes from FNV-1a over its
//! bytes, stable across runs and Rust releases (`DefaultHasher` is neither).

use anstyle::{Ansi256Color, AnsiColor, Color, Style};

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Resolves `--color` against the environment and whether the stream is a terminal,
/// and pushes the result to anstream and console. `NO_COLOR` (non-empty, per
/// no-color.org) and `TERM=dumb` turn `auto` off; `CLICOLOR_FORCE` turns it on.
pub fn resolve_color(choice: ColorChoice, stream_is_tty: bool) -> bool {
    let enabled = decide_color(choice, stream_is_tty, |name| std::env::var_os(name));
    console::set_colors_enabled(enabled);
    console::set_colors_enabled_stderr(enabled);
    let global = if enabled { anstream::ColorChoice::Always } else { anstream::ColorChoice::Never };
    global.write_global();
    enabled
}

/// The pure part of [`resolve_color`]: `env` looks a variable up.
pub fn decide_color(
    choice: ColorChoice,
    stream_is_tty: bool,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") => true,
        ColorChoice::Auto if env("TERM").is_some_and(|v| v == "dumb") => false,
        ColorChoice::Auto if env("CLICOLOR").is_some_and(|v| v == "0") => false,
        ColorChoice::Auto => stream_is_tty,
    }
}

/// Readable on dark and light backgrounds; red is left out because it means failure.
const PALETTE: [Color; 12] = [
    Color::Ansi(AnsiColor::Cyan),
    Color::Ansi(AnsiColor::Magenta),
    Color::Ansi(AnsiColor::Blue),
    Color::Ansi(AnsiColor::Green),
    Color::Ansi(AnsiColor::Yellow),
    Color::Ansi(AnsiColor::BrightCyan),
    Color::Ansi(AnsiColor::BrightMagenta),
    Color::Ansi(AnsiColor::BrightBlue),
    Color::Ansi(AnsiColor::BrightGreen),
    Color::Ansi256(Ansi256Color(208)),
    Color::Ansi256(Ansi256Color(141)),
    Color::Ansi256(Ansi256Color(37)),
];

/// FNV-1a, 64 bit: five lines, stable forever.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The stable colour of a task name. Fan-out instances (`name[item]`) share their
/// task's colour so a fan-out reads as one group.
pub fn name_style(name: &str) -> Style {
    let base = name.split_once('[').map_or(name, |(task, _)| task);
    let color = PALETTE[(fnv1a(base.as_bytes()) % PALETTE.len() as u64) as usize];
    Style::new().fg_color(Some(color))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, OsString)> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn auto_follows_the_terminal_and_the_environment() {
        assert!(decide_color(ColorChoice::Auto, true, env(&[])));
        assert!(!decide_color(ColorChoice::Auto, false, env(&[])));
        assert!(!decide_color(ColorChoice::Auto, true, env(&[("NO_COLOR", "1")])));
        assert!(decide_color(ColorChoice::Auto, true, env(&[("NO_COLOR", "")])), "empty NO_COLOR is unset");
        assert!(decide_color(ColorChoice::Auto, false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!decide_color(ColorChoice::Auto, false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!decide_color(ColorChoice::Auto, true, env(&[("TERM", "dumb")])));
    }

    #[test]
    fn explicit_choice_wins() {
        assert!(decide_color(ColorChoice::Always, false, env(&[("NO_COLOR", "1")])));
        assert!(!decide_color(ColorChoice::Never, true, env(&[("CLICOLOR_FORCE", "1")])));
    }

    #[test]
    fn name_colours_are_stable_and_shared_by_instances() {
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c, "the published FNV-1a test vector");
        assert_eq!(name_style("upgrade[requests]"), name_style("upgrade"));
        assert_eq!(name_style("build"), name_style("build"));
    }
}
