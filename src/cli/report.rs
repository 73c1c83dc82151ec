//! `volley report [RUN]`: one recorded run in the format asked for, to stdout or
//! atomically to a file. Also the pieces `volley compare` shares: finding the
//! history (read-only, never created) and resolving a RUN selector.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::args::{Cli, ReportArgs, ReportFormat};
use super::{CliError, exit, project};
use crate::record::{self, RunSelector};
use crate::report::{self, Format, Report};

/// Log lines attached to a failure (`junit` shows them all, text the last 10).
const LOG_TAIL_LINES: usize = 20;
/// How much of a log's end is read to find them: a task may have printed gigabytes.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

pub fn report(cli: &Cli, args: &ReportArgs) -> Result<i32, CliError> {
    let format = match args.format {
        ReportFormat::Text => Format::Text,
        ReportFormat::Json => Format::Json,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Html => Format::Html,
        ReportFormat::Trace => Format::Trace,
        ReportFormat::Junit => Format::Junit,
    };
    let history = History::open(cli)?;
    let id = history.run_id(&args.run)?;
    let with_samples = args.samples || format.wants_samples();
    let report = history.report(id, with_samples)?;
    let color = format == Format::Text
        && args.output.is_none()
        && crate::ui::resolve_color(super::color_choice(cli.color), std::io::stdout().is_terminal());
    let text = report::render(&report, format, args.samples, color);
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes())
            .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?,
        None => print_quietly(text.as_bytes())?,
    }
    Ok(exit::SUCCESS)
}

/// The project's history, opened read-only.
pub struct History {
    pub conn: Connection,
    pub path: PathBuf,
    /// `alerts.regression` from volley.toml, or its default.
    pub threshold: f64,
}

impl History {
    /// Finds the history like `volley history` does: the project's `state_dir`, or
    /// `.volley` here when there is no volley.toml (runs of `volley exec`).
    pub fn open(cli: &Cli) -> Result<History, CliError> {
        let (state_dir, threshold) = project::history_location(cli)?;
        let path = state_dir.join(record::FILE_NAME);
        let conn = record::open_for_reading(&state_dir).ok_or_else(|| {
            CliError::usage(format!("no history in {}", state_dir.display()))
                .with_help("runs are recorded by `volley run` and `volley exec`; run something first")
        })?;
        Ok(History { conn, path, threshold })
    }

    fn failed(&self, e: &rusqlite::Error) -> CliError {
        CliError::Runtime(format!("cannot read {}: {e}", self.path.display()))
    }

    /// The id of the run `text` names (`last`, `-2`, `42`).
    pub fn run_id(&self, text: &str) -> Result<i64, CliError> {
        let selector = RunSelector::parse(text).ok_or_else(|| {
            CliError::usage(format!(
                "`{text}` is not a run: expected an id, `last`, or `-N` (`-1` is the last run)"
            ))
            .with_help("`volley history` lists the recorded runs with their ids")
        })?;
        record::resolve_run(&self.conn, selector).map_err(|e| self.failed(&e))?.ok_or_else(|| {
            let what = match selector {
                RunSelector::Id(id) => format!("no run {id} in the history"),
                RunSelector::Back(n) => {
                    format!("the history holds fewer than {n} run{}", if n == 1 { "" } else { "s" })
                }
            };
            CliError::usage(what).with_help("`volley history` lists the recorded runs with their ids")
        })
    }

    /// Run `id` digested, with the end of each failure's log.
    pub fn report(&self, id: i64, with_samples: bool) -> Result<Report, CliError> {
        let record = record::load_run(&self.conn, id, with_samples)
            .map_err(|e| self.failed(&e))?
            .ok_or_else(|| CliError::usage(format!("no run {id} in the history")))?;
        let mut report = Report::build(&record, self.threshold);
        if with_samples {
            report.samples = Some(record.samples);
        }
        report.attach_last_lines(|path| log_tail(path, LOG_TAIL_LINES));
        Ok(report)
    }
}

/// The last `n` lines of a log file (lossy UTF-8); `None` when it is gone.
fn log_tail(path: &Path, n: usize) -> Option<Vec<String>> {
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let start = size.saturating_sub(LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    // The first line of a cut window is probably partial.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let lines = &lines[lines.len().saturating_sub(n)..];
    Some(lines.iter().map(|l| l.trim_end_matches('\r').to_string()).collect())
}

/// Writes to a temporary file beside `path`, then renames it over `path`: a reader
/// (a browser, a CI job) never sees half a report.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| std::io::Error::other("not a file name"))?;
    let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Prints to stdout; a closed pipe (`volley report | head`) is a quiet exit.
pub fn print_quietly(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
