//! Scheduling decisions: which ready work starts next on which slot, within the global
//! slots, pools and per-unit caps; what an attempt's end means (retry with doubling
//! delay, or final); and what a failure skips under fail-fast or keep-going.
//!
//! Pure, like the rest of the core: the runner feeds it outcomes and acts on its
//! [`Work`] and [`Decision`]s; `simulate` drives the same code in virtual time.

mod plan;
mod ready;
mod scheduler;

pub use plan::{AttemptResult, Decision, FailPolicy, Finished, Instances, Limits, Skipped, UnitPlan, Work};
pub use scheduler::Scheduler;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod properties_failure;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_failure;
#[cfg(test)]
mod timeline_tests;
