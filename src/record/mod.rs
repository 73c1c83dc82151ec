//! The run history in `<state_dir>/history.db` (SQLite): the schema and its
//! migrations, the [`Recorder`] sink that writes runs as they happen, and the
//! queries behind expectations, `volley history` and `--check`.
//!
//! Recording is a side system: it never fails or slows the user's run; problems
//! become one warning. Statistics live in `volley_core::history` (pure).

mod baseline;
mod history;
mod plan_query;
mod query;
mod recorder;
mod report_query;
mod schema;
mod service_query;
mod service_recorder;
mod status_query;
mod writer;

pub use history::{History, HistoryPrefetch};
pub use plan_query::{FanOutHistory, fan_out_history, fan_out_history_from};
pub use query::{CheckedTask, RunRow, TaskRun, check, expectations, expectations_in, runs, task_runs};
pub use recorder::Recorder;
pub use report_query::{
    AlertRow, AttemptRow, RunRecord, RunSelector, SampleRow, TaskRow, UnitRow, load_run, resolve_run,
};
pub use schema::{FILE_NAME, SCHEMA_VERSION, open_for_reading};
pub use service_query::{ServiceEventRow, service_events};
pub use service_recorder::{ServiceRecorder, UpRun};
pub use status_query::{LiveRun, LiveUnit, RunningAttempt, live_runs, newest_run_id};
