//! `volley logs [-f] [-n N] [NAME...]`: the services' output from their log files
//! (`<state_dir>/logs/services/`), tagged `name | line` like `volley run`; `-f`
//! keeps printing lines as the supervisor appends them, across rotations. With
//! `--run RUN`, the task logs of a recorded run instead. Lines a log's marks say came
//! from stderr are marked as `volley run` marks them.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use volley_core::model::Project;

use super::args::{Cli, LogsArgs};
use super::{CliError, color_choice, exit, project, up};
use crate::logs::{marks_path, parse_marks, split_by_stream};
use crate::record;
use crate::service::log_path;
use crate::ui::{self, Prefixer};

/// How often `-f` looks for new lines. Files give no wake-up without inotify; a
/// tenth of a second is below what a person notices.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

struct Followed {
    name: Arc<str>,
    path: PathBuf,
    offset: u64,
    /// A partial last line, kept until its newline arrives.
    pending: Vec<u8>,
    /// Bytes of the marks file read so far, and the stderr ranges read from it.
    marks_offset: u64,
    marks: Vec<Range<u64>>,
}

pub fn logs(cli: &Cli, args: &LogsArgs) -> Result<i32, CliError> {
    let color_err = ui::resolve_color(color_choice(cli.color), std::io::stderr().is_terminal());
    let project = project::load(cli.file.as_deref(), color_err)?;
    let sources = if let Some(run) = &args.run {
        run_sources(&project.settings.state_dir, run, &args.names, project.settings.keep_logs)?
    } else {
        up::check_names(&project, &args.names)?;
        service_sources(&project, &args.names)
    };
    let color = ui::resolve_color(color_choice(cli.color), std::io::stdout().is_terminal());
    let mut prefixer = Prefixer::new(color);
    for (name, _, _) in &sources {
        prefixer.widen(name);
    }
    let mut out = Vec::new();
    let mut followed = Vec::new();
    for (name, older, current) in sources {
        let (text, marks, follow) = read_source(name, &older, current);
        let tail = last_lines(&text, args.lines);
        for (stream, lines) in split_by_stream(tail, (text.len() - tail.len()) as u64, &marks) {
            prefixer.format(&follow.name, stream, lines, &mut out);
        }
        followed.push(follow);
    }
    if !write_out(&out) {
        return Ok(exit::SUCCESS);
    }
    if !args.follow {
        return Ok(exit::SUCCESS);
    }
    loop {
        std::thread::sleep(FOLLOW_EVERY);
        let mut out = Vec::new();
        for f in &mut followed {
            let (start, lines) = f.read_new();
            for (stream, run) in split_by_stream(&lines, start, &f.marks) {
                prefixer.format(&f.name, stream, run, &mut out);
            }
        }
        if !out.is_empty() && !write_out(&out) {
            return Ok(exit::SUCCESS);
        }
    }
}

/// A name, its older files (oldest first) and its current file.
type Source = (Arc<str>, Vec<PathBuf>, PathBuf);

fn service_sources(project: &Project, names: &[String]) -> Vec<Source> {
    let names: Vec<&str> = if names.is_empty() {
        project.services.iter().map(|s| s.name.as_str()).collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let state_dir = &project.settings.state_dir;
    names
        .into_iter()
        .map(|name| {
            let older =
                (1..=crate::service::log_file_keep()).rev().map(|n| log_path(state_dir, name, n)).collect();
            (Arc::from(name), older, log_path(state_dir, name, 0))
        })
        .collect()
}

/// The task logs of a recorded run: `RUN` is an id, `last`, `-N` or a run id
/// string (the log directory's name).
fn run_sources(
    state_dir: &Path,
    run: &str,
    names: &[String],
    keep_logs: usize,
) -> Result<Vec<Source>, CliError> {
    let logs = state_dir.join("logs");
    let key = if logs.join(run).is_dir() && !run.is_empty() && !run.contains('/') {
        run.to_owned()
    } else {
        let selector = record::RunSelector::parse(run).ok_or_else(|| {
            CliError::usage(format!("`{run}` is not a run: expected an id, `last`, `-N` or a run id string"))
                .with_help("`volley history` lists the recorded runs with their ids")
        })?;
        let conn = record::open_for_reading(state_dir)
            .ok_or_else(|| CliError::usage(format!("no history in {}", state_dir.display())))?;
        let failed = |e: rusqlite::Error| CliError::Runtime(format!("cannot read the history: {e}"));
        let id = record::resolve_run(&conn, selector)
            .map_err(failed)?
            .ok_or_else(|| CliError::usage(format!("no run `{run}` in the history")))?;
        conn.query_row("SELECT run_key FROM runs WHERE id = ?1", [id], |row| row.get(0)).map_err(failed)?
    };
    let dir = logs.join(&key);
    let mut sources: Vec<Source> = if names.is_empty() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "log"));
        files
            .into_iter()
            .map(|p| {
                let name = p.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                (Arc::from(name.as_str()), Vec::new(), p)
            })
            .collect()
    } else {
        names.iter().map(|n| (Arc::from(n.as_str()), Vec::new(), crate::logs::log_path(&dir, n))).collect()
    };
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    if sources.is_empty() && !dir.is_dir() {
        return Err(CliError::usage(format!("run `{key}` has no logs in {}", logs.display())).with_help(
            format!(
                "a run without output has none, and only the last {keep_logs} runs keep theirs \
                 (`keep_logs` in `[settings]`)"
            ),
        ));
    }
    Ok(sources)
}

/// Reads a source's files, oldest first, each before its marks: their text one after
/// the other, the stderr ranges in it, and where following picks up.
fn read_source(name: Arc<str>, older: &[PathBuf], current: PathBuf) -> (Vec<u8>, Vec<Range<u64>>, Followed) {
    let mut text = Vec::new();
    let mut marks = Vec::new();
    let (mut current_base, mut marks_offset) = (0, 0);
    for path in older.iter().chain([&current]) {
        current_base = text.len() as u64;
        text.extend(std::fs::read(path).unwrap_or_default());
        let (ranges, read) = whole_marks(&std::fs::read(marks_path(path)).unwrap_or_default());
        marks_offset = read;
        marks.extend(ranges.into_iter().map(|r| r.start + current_base..r.end + current_base));
    }
    let in_current = marks
        .iter()
        .filter(|r| r.end > current_base)
        .map(|r| r.start.saturating_sub(current_base)..r.end - current_base);
    let follow = Followed {
        name,
        offset: text.len() as u64 - current_base,
        path: current,
        pending: Vec::new(),
        marks_offset,
        marks: in_current.collect(),
    };
    (text, marks, follow)
}

/// The marks in the complete lines of `bytes`, and how many bytes those lines take.
fn whole_marks(bytes: &[u8]) -> (Vec<Range<u64>>, u64) {
    let whole = memchr::memrchr(b'\n', bytes).map_or(0, |at| at + 1);
    (parse_marks(&bytes[..whole]), whole as u64)
}

/// Writes to stdout; false once stdout is closed (`volley logs -f | head`).
fn write_out(bytes: &[u8]) -> bool {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).and_then(|()| stdout.flush()).is_ok()
}

/// The last `n` lines of `text` (each ending in `\n`, the last one possibly not).
fn last_lines(text: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    match memchr::memrchr_iter(b'\n', body).nth(n - 1) {
        Some(at) => &text[at + 1..],
        None => text,
    }
}

impl Followed {
    /// Complete new lines since the last call, with the offset in the file where they
    /// start. A file shorter than what was read has been rotated: the new one is read
    /// from its start. The marks are read after the lines, so that every stderr line
    /// read has its mark (the writer marks first).
    fn read_new(&mut self) -> (u64, Vec<u8>) {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return (self.offset, Vec::new()) };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            self.offset = 0;
            self.pending.clear();
            self.marks_offset = 0;
            self.marks.clear();
        }
        if len == self.offset || file.seek(SeekFrom::Start(self.offset)).is_err() {
            return (self.offset, Vec::new());
        }
        let mut fresh = Vec::new();
        if file.take(len - self.offset).read_to_end(&mut fresh).is_err() {
            return (self.offset, Vec::new());
        }
        self.offset += fresh.len() as u64;
        self.pending.extend(fresh);
        self.read_new_marks();
        let start = self.offset - self.pending.len() as u64;
        // Marks of lines already shown are not needed again.
        self.marks.retain(|r| r.end > start);
        match memchr::memrchr(b'\n', &self.pending) {
            Some(at) => {
                let rest = self.pending.split_off(at + 1);
                (start, std::mem::replace(&mut self.pending, rest))
            }
            None => (start, Vec::new()),
        }
    }

    /// Adds the marks written since the last call (whole lines only).
    fn read_new_marks(&mut self) {
        let Ok(mut file) = std::fs::File::open(marks_path(&self.path)) else { return };
        if file.seek(SeekFrom::Start(self.marks_offset)).is_err() {
            return;
        }
        let mut fresh = Vec::new();
        if file.read_to_end(&mut fresh).is_err() {
            return;
        }
        let (ranges, read) = whole_marks(&fresh);
        self.marks_offset += read;
        self.marks.extend(ranges);
    }
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn last_lines_takes_the_tail() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc\n", 5), b"a\nb\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 1), b"c");
        assert_eq!(last_lines(b"a\n", 0), b"");
    }
}

/// `volley logs -f` is the spelling users know (tail, docker, journalctl), but `-f`
/// is volley's global `--file`: after the `logs` subcommand, a bare `-f` becomes
/// `--follow`. `-f PATH` before the subcommand keeps naming the file.
pub fn follow_flag(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut skip_value = false;
    let mut in_logs = false;
    for arg in args.iter_mut().skip(1) {
        if skip_value {
            skip_value = false;
            continue;
        }
        if in_logs && arg == "-f" {
            *arg = "--follow".into();
        } else if !in_logs && (arg == "-f" || arg == "--file" || arg == "--color") {
            skip_value = true;
        } else if !in_logs && arg == "logs" {
            in_logs = true;
        } else if !in_logs && !arg.to_string_lossy().starts_with('-') {
            // Another subcommand: leave everything as it is.
            break;
        }
    }
    args
}

#[cfg(test)]
mod follow_tests {
    use super::follow_flag;

    fn args(list: &[&str]) -> Vec<String> {
        follow_flag(list.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dash_f_after_logs_follows_and_before_names_the_file() {
        assert_eq!(args(&["volley", "logs", "-f", "web"]), ["volley", "logs", "--follow", "web"]);
        assert_eq!(
            args(&["volley", "-f", "x.toml", "logs", "-f"]),
            ["volley", "-f", "x.toml", "logs", "--follow"]
        );
        assert_eq!(args(&["volley", "run", "-f", "logs"]), ["volley", "run", "-f", "logs"]);
    }
}
