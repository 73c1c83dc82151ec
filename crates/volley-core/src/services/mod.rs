//! Services (SPEC §4) as pure decisions: the lifecycle states, the restart policy,
//! and the order in which services start (each once everything it depends on is
//! ready) and stop (each once everything that depends on it has stopped).
//!
//! [`Board`] is a state machine fed with what happened (`ready`, `exited`, a probe
//! failed, a restart delay elapsed, a user asked for `up`/`down`/`restart`) and
//! answering with [`Action`]s for the orchestrator in the binary to carry out. It
//! reads no clock and owns no process, so its tests drive it in virtual time.

mod board;
mod event;
mod state;
#[cfg(test)]
mod tests;

pub use board::{Action, Board, BoardSpec, Progress};
pub use event::ServiceEvent;
pub use state::ServiceState;
