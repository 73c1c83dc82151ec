//! Services (SPEC §4): the supervisor that starts them in readiness order, probes,
//! restarts and stops them; its control socket; their log files and PID files.
//!
//! The decisions live in `volley_core::services`; this module owns the processes
//! (through `exec`'s `LocalExecutor`), the probes' I/O, the socket and the files.
//! Nothing here prints except through an [`Observer`].

mod log_file;
mod observer;
pub mod pids;
mod probe;
mod probing;
mod socket;
mod stop_target;
mod supervisor;

pub use log_file::{LogFile, log_file_keep, log_path, logs_dir};
pub use observer::LineObserver;
pub use probe::{ProbeContext, ProbeResult, check_once};
pub use socket::{
    Bound, Client, FailedService, InFlight, Incoming, ProbeReport, Request, Response, ServiceReport,
    SocketError, StopReport, SupervisorPaths, bind, remove_stale, serve,
};
pub use supervisor::{Control, Ending, Observer, Supervisor, SupervisorOptions, fork_watchdog};
