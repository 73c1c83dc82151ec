//! Recorded-run statistics: medians, noise (MAD), baselines, regression decisions
//! and sparklines.
//!
//! Pure: durations come in as numbers, verdicts and strings go out. No `SQLite` here
//! (the `volley` crate's `record` module reads the database and calls these), so
//! `volley history`, `--check`, `report` and `plan` all judge a run the same way.

mod regression;
mod sparkline;
mod stats;

pub use regression::{BASELINE_RUNS, Baseline, MIN_PRIOR_SAMPLES, MIN_REGRESSION_US, Verdict};
pub use sparkline::sparkline;
pub use stats::{mad, median};
