//! The states of SPEC §4: pending → starting → ready → stopping → stopped;
//! starting → failed; failed → starting (restart).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Wanted, waiting for what it depends on to be ready (or not wanted yet).
    Pending,
    /// Its process runs; the readiness probe has not passed yet.
    Starting,
    Ready,
    /// Sent its stop signal; waiting for it to exit.
    Stopping,
    Stopped,
    /// Exited before ready, failed its probe, or crashed; may be restarted per policy.
    Failed,
}

impl ServiceState {
    /// The word used by `volley status`, the socket protocol and the history.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Pending => "pending",
            ServiceState::Starting => "starting",
            ServiceState::Ready => "ready",
            ServiceState::Stopping => "stopping",
            ServiceState::Stopped => "stopped",
            ServiceState::Failed => "failed",
        }
    }

    /// A process of the service may be running.
    pub fn is_running(self) -> bool {
        matches!(self, ServiceState::Starting | ServiceState::Ready | ServiceState::Stopping)
    }
}
