//! Which bytes of a log file came from stderr, kept beside it in `<log>.stderr`.
//!
//! A log holds the raw bytes a task or service printed, both streams interleaved
//! as they arrived, so that `cat` and `grep` see exactly the program's output. The
//! stream of each line is kept apart, as one `START LEN` line (decimal byte offset
//! and length in the log) per batch of stderr lines, so that `volley logs` can mark
//! stderr lines as `volley run` does. A writer appends the mark before the bytes it
//! describes: a reader that reads the log first and the marks second has a mark for
//! every stderr byte it saw.
//!
//! A log without marks (written before volley kept them, or whose marks could not be
//! written) reads as all stdout.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use volley_core::event::Stream;

/// The marks file of the log at `log`.
pub fn marks_path(log: &Path) -> PathBuf {
    let mut path = OsString::from(log.as_os_str());
    path.push(".stderr");
    PathBuf::from(path)
}

/// Appends the stderr marks of one log file.
pub struct MarksWriter {
    file: File,
}

impl MarksWriter {
    /// Opens the marks of `log` for appending; `fresh` empties them first (the log
    /// itself starts empty).
    pub fn open(log: &Path, fresh: bool) -> io::Result<MarksWriter> {
        let mut options = OpenOptions::new();
        if fresh {
            options.write(true).create(true).truncate(true);
        } else {
            options.append(true).create(true);
        }
        Ok(MarksWriter { file: options.open(marks_path(log))? })
    }

    /// Records that the `len` bytes at `offset` in the log are stderr.
    pub fn mark(&mut self, offset: u64, len: usize) -> io::Result<()> {
        self.file.write_all(format!("{offset} {len}\n").as_bytes())
    }
}

/// The stderr ranges of the log at `log`, in order and merged; empty without marks.
#[cfg(test)]
pub fn read_marks(log: &Path) -> Vec<Range<u64>> {
    std::fs::read(marks_path(log)).map(|bytes| parse_marks(&bytes)).unwrap_or_default()
}

/// Parses marks; a line that does not read as two numbers is left out.
pub fn parse_marks(bytes: &[u8]) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let Some((start, len)) = std::str::from_utf8(line).ok().and_then(|l| l.split_once(' ')) else {
            continue;
        };
        let (Ok(start), Ok(len)) = (start.parse::<u64>(), len.parse::<u64>()) else { continue };
        let range = start..start.saturating_add(len);
        match ranges.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => ranges.push(range),
        }
    }
    ranges.sort_by_key(|r| r.start);
    ranges
}

/// Splits `text`, which starts at byte `offset` of a log with stderr `ranges`, into
/// runs of whole lines from one stream.
pub fn split_by_stream<'a>(text: &'a [u8], offset: u64, ranges: &[Range<u64>]) -> Vec<(Stream, &'a [u8])> {
    let mut runs: Vec<(Stream, &'a [u8])> = Vec::new();
    let mut run_start = 0;
    let mut line_start = 0;
    while line_start < text.len() {
        let line_end =
            memchr::memchr(b'\n', &text[line_start..]).map_or(text.len(), |at| line_start + at + 1);
        let at = offset + line_start as u64;
        let stream = if is_marked(ranges, at) { Stream::Stderr } else { Stream::Stdout };
        match runs.last_mut() {
            Some((previous, run)) if *previous == stream => *run = &text[run_start..line_end],
            _ => {
                run_start = line_start;
                runs.push((stream, &text[line_start..line_end]));
            }
        }
        line_start = line_end;
    }
    runs
}

/// Whether byte `at` lies in one of `ranges` (sorted, not overlapping).
fn is_marked(ranges: &[Range<u64>], at: u64) -> bool {
    let after = ranges.partition_point(|r| r.end <= at);
    ranges.get(after).is_some_and(|r| r.contains(&at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_merge_and_skip_what_they_cannot_read() {
        assert_eq!(parse_marks(b"0 4\n4 2\n10 3\nbad\n20 x\n30 1"), vec![0..6, 10..13, 30..31]);
        assert_eq!(parse_marks(b""), Vec::<Range<u64>>::new());
    }

    #[test]
    fn lines_split_into_runs_of_one_stream() {
        let text = b"out 1\nerr 1\nerr 2\nout 2\nerr 3";
        let ranges = [106..118, 124..129];
        let runs = split_by_stream(text, 100, &ranges);
        assert_eq!(
            runs,
            vec![
                (Stream::Stdout, &b"out 1\n"[..]),
                (Stream::Stderr, &b"err 1\nerr 2\n"[..]),
                (Stream::Stdout, &b"out 2\n"[..]),
                (Stream::Stderr, &b"err 3"[..]),
            ]
        );
        assert_eq!(split_by_stream(text, 100, &[]), vec![(Stream::Stdout, &text[..])]);
    }

    #[test]
    fn a_writer_appends_or_starts_afresh() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("a.log");
        MarksWriter::open(&log, true).expect("open").mark(3, 4).expect("mark");
        MarksWriter::open(&log, false).expect("open").mark(7, 2).expect("mark");
        assert_eq!(read_marks(&log), vec![3..9]);
        MarksWriter::open(&log, true).expect("open").mark(0, 1).expect("mark");
        assert_eq!(read_marks(&log), vec![0..1]);
        assert!(read_marks(&dir.path().join("none.log")).is_empty());
    }
}
