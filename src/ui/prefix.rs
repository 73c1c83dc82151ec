//! Prefixed output: every line as `name | line`, stderr lines as `name ! line`.
//!
//! The separator marks the stream so it survives without colour, in a pipe and in
//! `grep` (`grep ' ! '` finds what tasks wrote to stderr); with colour the `!` is red
//! too. Names are padded to the widest name seen so far (capped at [`MAX_NAME_WIDTH`],
//! longer ones cut with `…`) and coloured by [`name_style`].
//!
//! This is the hot path of the throughput target: a whole `Lines` chunk is formatted
//! into one buffer with `memchr`, the prefix bytes are prebuilt per name, and a chunk
//! that is valid UTF-8 without `\r` (the usual case) is copied line by line with no
//! per-line allocation. Otherwise invalid bytes become U+FFFD and `\r` starts a new
//! line, so progress bars drawn with `\r` do not overwrite the prefix.

use std::collections::HashMap;
use std::sync::Arc;

use anstyle::{AnsiColor, Style};
use volley_core::event::Stream;

use super::color::name_style;

/// Names wider than this are cut so one long instance name cannot push every line right.
pub const MAX_NAME_WIDTH: usize = 24;

const STDERR_MARK: Style = AnsiColor::Red.on_default();

/// Formats output chunks; remembers the name column width and each name's prefix.
#[derive(Debug)]
pub struct Prefixer {
    color: bool,
    width: usize,
    prefixes: HashMap<Arc<str>, Prefixes>,
}

#[derive(Debug)]
struct Prefixes {
    width: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Prefixer {
    pub fn new(color: bool) -> Self {
        Prefixer { color, width: 0, prefixes: HashMap::new() }
    }

    /// Widens the name column for `name` (up to [`MAX_NAME_WIDTH`]).
    pub fn widen(&mut self, name: &str) {
        self.width = self.width.max(name.chars().count().min(MAX_NAME_WIDTH));
    }

    /// The padded (and maybe cut) name, without colour: status lines and the footer
    /// align with it.
    pub fn padded(&self, name: &str) -> String {
        pad(name, self.width)
    }

    /// Appends `lines` (complete lines, each ending in `\n`) to `out`, prefixed.
    pub fn format(&mut self, name: &Arc<str>, stream: Stream, lines: &[u8], out: &mut Vec<u8>) {
        let prefix = self.prefix(name, stream);
        out.reserve(lines.len() + lines.len() / 4 + prefix.len());
        let plain = memchr::memchr(b'\r', lines).is_none() && std::str::from_utf8(lines).is_ok();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', lines) {
            push_line(out, prefix, &lines[start..end], plain);
            start = end + 1;
        }
        if start < lines.len() {
            // `Lines` promises a final newline; an unterminated tail still gets a line.
            push_line(out, prefix, &lines[start..], plain);
        }
    }

    fn prefix(&mut self, name: &Arc<str>, stream: Stream) -> &[u8] {
        let (width, color) = (self.width, self.color);
        let entry = self.prefixes.entry(name.clone()).or_insert_with(|| Prefixes::build(name, width, color));
        if entry.width != width {
            *entry = Prefixes::build(name, width, color);
        }
        match stream {
            Stream::Stdout => &entry.stdout,
            Stream::Stderr => &entry.stderr,
        }
    }
}

impl Prefixes {
    fn build(name: &str, width: usize, color: bool) -> Self {
        let padded = pad(name, width);
        let (name_part, mark) = if color {
            let style = name_style(name);
            (
                format!("{}{padded}{}", style.render(), style.render_reset()),
                format!("{}!{}", STDERR_MARK.render(), STDERR_MARK.render_reset()),
            )
        } else {
            (padded, "!".to_owned())
        };
        Prefixes {
            width,
            stdout: format!("{name_part} | ").into_bytes(),
            stderr: format!("{name_part} {mark} ").into_bytes(),
        }
    }
}

fn push_line(out: &mut Vec<u8>, prefix: &[u8], line: &[u8], plain: bool) {
    if plain {
        out.extend_from_slice(prefix);
        out.extend_from_slice(line);
        out.push(b'\n');
        return;
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut pieces = line.split(|b| *b == b'\r').filter(|p| !p.is_empty()).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(prefix);
        out.push(b'\n');
    }
    for piece in pieces {
        out.extend_from_slice(prefix);
        out.extend_from_slice(String::from_utf8_lossy(piece).as_bytes());
        out.push(b'\n');
    }
}

/// `name` cut to `width` characters (with `…`) and padded to it.
pub fn pad(name: &str, width: usize) -> String {
    let len = name.chars().count();
    if len > width && width > 0 {
        let mut cut: String = name.chars().take(width - 1).collect();
        cut.push('…');
        cut
    } else {
        format!("{name:width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(prefixer: &mut Prefixer, name: &str, stream: Stream, lines: &[u8]) -> String {
        let mut out = Vec::new();
        prefixer.format(&Arc::from(name), stream, lines, &mut out);
        String::from_utf8(out).expect("formatted output is UTF-8")
    }

    fn prefixer(color: bool, names: &[&str]) -> Prefixer {
        let mut p = Prefixer::new(color);
        for name in names {
            p.widen(name);
        }
        p
    }

    #[test]
    fn chunk_without_colour() {
        let mut p = prefixer(false, &["build", "lint-everything"]);
        let text = format(&mut p, "build", Stream::Stdout, b"compiling a\ncompiling b\n\nfinished\n");
        insta::assert_snapshot!(text, @r"
        build           | compiling a
        build           | compiling b
        build           | 
        build           | finished
        ");
    }

    #[test]
    fn chunk_with_colour() {
        let mut p = prefixer(true, &["build"]);
        let text = format(&mut p, "build", Stream::Stdout, b"one\n");
        let text = format!("{text}{}", format(&mut p, "build", Stream::Stderr, b"two\n"));
        insta::assert_debug_snapshot!(text);
    }

    #[test]
    fn stderr_lines_are_marked() {
        let mut p = prefixer(false, &["test"]);
        let text = format(&mut p, "test", Stream::Stderr, b"warning: unused\n");
        assert_eq!(text, "test ! warning: unused\n");
    }

    #[test]
    fn invalid_utf8_is_shown_lossily() {
        let mut p = prefixer(false, &["bin"]);
        let text = format(&mut p, "bin", Stream::Stdout, b"ok\nbad \xff\xfe bytes\n");
        assert_eq!(text, "bin | ok\nbin | bad \u{fffd}\u{fffd} bytes\n");
    }

    #[test]
    fn carriage_returns_start_new_lines() {
        let mut p = prefixer(false, &["pip"]);
        let text = format(&mut p, "pip", Stream::Stdout, b"10%\r50%\r100%\r\ndone\r\n");
        assert_eq!(text, "pip | 10%\npip | 50%\npip | 100%\npip | done\n");
    }

    #[test]
    fn long_names_are_cut_and_the_column_grows_with_new_names() {
        let mut p = prefixer(false, &["a"]);
        assert_eq!(format(&mut p, "a", Stream::Stdout, b"x\n"), "a | x\n");
        p.widen("upgrade[some-very-long-package-name]");
        assert_eq!(
            format(&mut p, "upgrade[some-very-long-package-name]", Stream::Stdout, b"x\n"),
            "upgrade[some-very-long-… | x\n"
        );
        assert_eq!(format(&mut p, "a", Stream::Stdout, b"x\n"), format!("{:24} | x\n", "a"));
    }

    /// `cargo test --release --lib ui::prefix -- --ignored --nocapture`
    #[test]
    #[ignore = "throughput measurement; run in release"]
    fn prefixed_formatting_throughput() {
        let line = [b'x'; 99];
        let mut chunk = Vec::with_capacity(64 * 1024);
        while chunk.len() + 100 <= 64 * 1024 {
            chunk.extend_from_slice(&line);
            chunk.push(b'\n');
        }
        let mut p = prefixer(true, &["build", "test", "lint", "docs"]);
        let name: Arc<str> = Arc::from("build");
        let total = 4 * 50 * 1024 * 1024;
        let mut sink = std::io::sink();
        let started = std::time::Instant::now();
        let mut done = 0;
        while done < total {
            let mut out = Vec::new();
            p.format(&name, Stream::Stdout, &chunk, &mut out);
            std::io::Write::write_all(&mut sink, &out).expect("sink");
            done += chunk.len();
        }
        let secs = started.elapsed().as_secs_f64();
        println!("prefixed formatting: {:.0} MiB/s", done as f64 / secs / 1024.0 / 1024.0);
    }
}
