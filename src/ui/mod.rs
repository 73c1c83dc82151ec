//! The terminal side of a run: prefixed / grouped / quiet output, status lines, the
//! live footer, colours, and the `--events` JSON-lines writer.
//!
//! Everything here consumes [`volley_core::event::Event`]s through
//! [`EventSink`](volley_core::event::EventSink) and nothing else: no imports of
//! `runner`, `exec` or `cli`. Terminal writes happen on one writer thread so a slow
//! terminal never stalls the runner.

mod color;
mod estimate;
mod events_file;
mod footer;
mod grouped;
mod keep_order;
mod prefix;
mod spill;
mod status;
mod terminal;
#[cfg(test)]
mod tests;
mod writer;

pub use color::{ColorChoice, decide_color, fnv1a, name_style, resolve_color};
pub use events_file::EventsWriter;
pub use keep_order::KeepOrder;
pub use prefix::{MAX_NAME_WIDTH, Prefixer};
pub use status::{format_duration, status_line};
pub use terminal::{OutputMode, TerminalOptions, TerminalReporter};
