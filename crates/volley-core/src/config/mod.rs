//! `volley.toml` text → a validated [`Project`](crate::model::Project), or every
//! problem in the file at once (SPEC §1, "Validation").
//!
//! The text is parsed with toml's spanned tree (`DeTable::parse_recoverable`) and
//! walked by hand, table by table, so that every unknown key, wrong type, bad value
//! and broken reference is reported with its byte span, not just the first. Only the
//! first TOML syntax error is reported: after one, the recovering parser cascades.
//!
//! Pure: no file reads, no clocks. The only outside question (does this `dir` or
//! `dotenv` file exist?) goes through [`FileSystem`].
//!
//! Decisions where SPEC §1 is silent:
//! - `env` values (and `for_each.items`) may be strings, integers, floats or booleans;
//!   non-strings are converted to their TOML text (`PORT = 8000` → `"8000"`), as
//!   docker compose does. Arrays, tables and datetimes are errors.
//! - Sizes may also be plain integers (bytes).
//! - Durations accept jiff's friendly format (`"1h 30m"`, `"5 hours"`, `"1.5s"`,
//!   ISO `"PT1H"`); negatives and days are rejected; `timeout`, `budget` and probe
//!   `interval`/`timeout` must be greater than zero.
//! - `jobs` or `batch` on a task without `for_each`, and an empty `for_each.items`,
//!   are warnings, returned in `Project::warnings`.
//! - `retries` is accepted in `healthcheck` only; `status` with `http` only.
//! - A service's `{item}` / `{items}` is an error, as in a task without `for_each`.

mod address;
mod diagnostic;
mod file_system;
mod load;
mod paths;
mod service;
mod settings;
mod task;
mod unit;
mod units;
mod walker;

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_valid;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use file_system::{FileSystem, PathKind};
pub use load::load;
pub use units::{format_size, parse_duration, parse_size};
