//! What happens to services, as the supervisor reports it to its observers (the
//! terminal of a foreground `up`, the supervisor's own log, the history).

use std::sync::Arc;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// A process was spawned; `attempt` counts from 1 (restarts included).
    ServiceStarting {
        name: Arc<str>,
        attempt: u32,
        pid: u32,
    },
    /// Its readiness probe passed, this long after its process was spawned.
    ServiceReady {
        name: Arc<str>,
        time_to_ready_us: u64,
    },
    /// Exited or failed a probe; restarted after `restart_in_us` if set.
    ServiceFailed {
        name: Arc<str>,
        reason: String,
        restart_in_us: Option<u64>,
    },
    /// It exited on its own after ready, with status 0, and is not restarted.
    ServiceExited {
        name: Arc<str>,
    },
    ServiceStopping {
        name: Arc<str>,
    },
    /// Stopped after a stop request; `killed`: it ignored its stop signal.
    ServiceStopped {
        name: Arc<str>,
        time_to_stop_us: u64,
        killed: bool,
    },
}
