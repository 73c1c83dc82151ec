//! Processes: spawning attempts in their own process groups, reading their output as
//! bounded line batches, reaping them with CPU times, signalling whole groups, and the
//! watchdog that kills every group if volley itself dies.
//!
//! Depends on `volley-core`'s event vocabulary only; the runner drives it and turns
//! [`ExecEvent`]s into run events.

mod backlog;
mod environment;
mod group;
mod lines;
mod local;
mod pipe_reader;
mod reap;
mod request;
mod spawn;
mod watchdog;

pub use backlog::{OUTPUT_BACKLOG_LIMIT, OutputBacklog};
pub use environment::Environment;
pub use group::signal_group;
pub use lines::{LineSplitter, MAX_LINE, READ_SIZE};
pub use local::{DRAIN, LocalExecutor};
pub use request::{ExecEvent, SpawnRequest, resolve_program};
pub use watchdog::WatchdogLink;
