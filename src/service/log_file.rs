//! A service's log file under `<state_dir>/logs/services/`: raw output lines,
//! capped in size, with rotated copies (`NAME.log.1` newest … `NAME.log.3` oldest).
//!
//! Writes are unbuffered (one `write` per batch of lines) so `volley logs -f` sees
//! lines as they arrive. Batches from stderr are marked in `NAME.log.stderr`, which
//! rotates with its log (`crate::logs::stderr_marks`). An I/O error disables the
//! file with one warning instead of stopping the service: logs are a side system.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use volley_core::event::Stream;

use crate::logs::{MarksWriter, marks_path};

pub const DEFAULT_CAP: u64 = 10 * 1024 * 1024;
pub const DEFAULT_KEEP: u32 = 3;

pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    /// Opened at the first stderr batch written to the current file.
    marks: Option<MarksWriter>,
    size: u64,
    cap: u64,
    keep: u32,
    broken: bool,
}

/// How many rotated copies a service log keeps.
pub fn log_file_keep() -> u32 {
    DEFAULT_KEEP
}

/// The directory of service logs.
pub fn logs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("logs").join("services")
}

/// `NAME.log`, or its rotated copy `NAME.log.N` (N ≥ 1).
pub fn log_path(state_dir: &Path, name: &str, rotation: u32) -> PathBuf {
    let base = crate::logs::log_path(&logs_dir(state_dir), name);
    if rotation == 0 {
        base
    } else {
        let mut text = base.into_os_string();
        text.push(format!(".{rotation}"));
        PathBuf::from(text)
    }
}

impl LogFile {
    pub fn new(path: PathBuf, cap: u64, keep: u32) -> LogFile {
        LogFile { path, file: None, marks: None, size: 0, cap, keep, broken: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `lines` from `stream`; returns an error only the first time writing fails.
    pub fn write(&mut self, stream: Stream, lines: &[u8]) -> io::Result<()> {
        if self.broken {
            return Ok(());
        }
        let result = self.try_write(stream, lines);
        if result.is_err() {
            self.broken = true;
            self.file = None;
        }
        result
    }

    fn try_write(&mut self, stream: Stream, lines: &[u8]) -> io::Result<()> {
        if self.file.is_some() && self.size > 0 && self.size + lines.len() as u64 > self.cap {
            self.rotate()?;
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
            if self.size > 0 && self.size + lines.len() as u64 > self.cap {
                return self.try_write(stream, lines);
            }
        }
        if stream == Stream::Stderr {
            if self.marks.is_none() {
                // A new log starts with no marks; one appended to keeps its own.
                self.marks = Some(MarksWriter::open(&self.path, self.size == 0)?);
            }
            if let Some(marks) = self.marks.as_mut() {
                marks.mark(self.size, lines.len())?;
            }
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(lines)?;
            self.size += lines.len() as u64;
        }
        Ok(())
    }

    /// Moves `NAME.log` to `NAME.log.1` (and each older copy one further), each with
    /// its marks; a log without marks leaves none behind from an older copy.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        self.marks = None;
        let rotated = |n: u32| {
            let mut text = self.path.clone().into_os_string();
            text.push(format!(".{n}"));
            PathBuf::from(text)
        };
        let rename = |from: &Path, to: &Path| match std::fs::rename(from, to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::remove_file(to).or(Ok(())),
            result => result,
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
            let _ = std::fs::remove_file(marks_path(&self.path));
        } else {
            let _ = std::fs::remove_file(rotated(self.keep));
            let _ = std::fs::remove_file(marks_path(&rotated(self.keep)));
            for n in (1..self.keep).rev() {
                match std::fs::rename(rotated(n), rotated(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                rename(&marks_path(&rotated(n)), &marks_path(&rotated(n + 1)))?;
            }
            std::fs::rename(&self.path, rotated(1))?;
            rename(&marks_path(&self.path), &marks_path(&rotated(1)))?;
        }
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_at_the_cap_keeping_the_newest_copies() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("svc.log");
        let mut log = LogFile::new(path.clone(), 20, 2);
        for n in 0..10 {
            let stream = if n % 2 == 0 { Stream::Stdout } else { Stream::Stderr };
            log.write(stream, format!("line {n:02}\n").as_bytes()).expect("write");
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", path.display()));
        // 8-byte lines, 20-byte cap: two lines per file.
        assert_eq!(read(&path), "line 08\nline 09\n");
        assert_eq!(read(&with(".1")), "line 06\nline 07\n");
        assert_eq!(read(&with(".2")), "line 04\nline 05\n");
        assert!(!with(".3").exists(), "only `keep` rotated copies");
        for file in [path.clone(), with(".1"), with(".2")] {
            assert!(std::fs::metadata(&file).expect("meta").len() <= 20);
            // Each file's second line (an odd one) came from stderr.
            assert_eq!(crate::logs::read_marks(&file), vec![8..16], "{}", file.display());
        }
        assert!(!marks_path(&with(".3")).exists(), "marks rotate out with their log");
    }

    #[test]
    fn an_existing_file_is_appended_to() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("a").join("svc.log");
        LogFile::new(path.clone(), 1000, 3).write(Stream::Stderr, b"one\n").expect("write");
        LogFile::new(path.clone(), 1000, 3).write(Stream::Stderr, b"two\n").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "one\ntwo\n");
        assert_eq!(crate::logs::read_marks(&path), vec![0..8], "marks are appended to as well");
    }
}
