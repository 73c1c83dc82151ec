//! Per-task log files: `<state_dir>/logs/<run-id>/<name>.log`, every line a task
//! printed, with its stderr marks beside it (`<name>.log.stderr`), for `volley logs
//! --run` and for the summary's failure report; and the removal of older runs' logs
//! beyond `settings.keep_logs`.
//!
//! The writer consumes events only. Logs are a side system: an I/O error is one
//! warning on stderr and never fails the run.

mod file_name;
mod retention;
mod stderr_marks;
mod writer;

pub use file_name::{file_name, log_path};
#[cfg(test)]
pub use stderr_marks::read_marks;
pub use stderr_marks::{MarksWriter, marks_path, parse_marks, split_by_stream};
pub use writer::LogWriter;
