//! Resource sampling (SPEC §5): every `sample_interval` while tasks run, one pass
//! over `/proc` builds the process table, attributes each process to the running
//! attempt whose tree holds it, and measures the machine (available memory, free
//! disk under the state dir, load). The runner turns each pass into a `Sample`
//! event, keeps each attempt's peaks, and feeds the alert decisions of
//! `volley_core::alerts`.
//!
//! Depends on `volley-core`'s event vocabulary only; never on the runner, the
//! executor or the recorder. Linux only for now ([`system_reader`] is `None`
//! elsewhere, and then there are no samples).

mod reader;
mod sampler;
mod table;

#[cfg(target_os = "linux")]
mod procfs_reader;

pub use reader::{IoBytes, Machine, ResourceReader, system_reader};
pub use sampler::{Sampler, Tick, TreeSample};
pub use table::{Attribution, ProcessEntry, TreeTotals, parse_stat, totals};
