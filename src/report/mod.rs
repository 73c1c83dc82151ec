//! Reports of recorded runs: a [`Report`] digested from the history, rendered as
//! text, JSON, CSV, HTML, Chrome trace or `JUnit` XML, and the side-by-side
//! [`compare`] of two runs.
//!
//! Renderers are functions from a report to text: no database, no files, no
//! terminal (the caller decides colour and where the bytes go), so each format is
//! tested on a hand-built report. Everything from the history is user data and is
//! escaped for the format it lands in (`escape`).

pub mod compare;
mod critical;
mod csv;
mod escape;
mod html;
mod html_chart;
mod junit;
mod model;
#[cfg(test)]
mod tests;
mod text;
mod trace;

pub use model::{FORMAT_VERSION, Report, TaskEntry};

/// The formats of `volley report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
    Html,
    Trace,
    Junit,
}

impl Format {
    /// Whether rendering needs the sampled time series.
    pub fn wants_samples(self) -> bool {
        matches!(self, Format::Html | Format::Trace)
    }
}

/// `report` in `format`. `samples` switches CSV to the time series (and adds it to
/// JSON); `color` only affects text.
pub fn render(report: &Report, format: Format, samples: bool, color: bool) -> String {
    match format {
        Format::Text => text::render(report, color),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(report).unwrap_or_default();
            json.push('\n');
            json
        }
        Format::Csv if samples => csv::samples(report),
        Format::Csv => csv::attempts(report),
        Format::Html => html::render(report),
        Format::Trace => trace::render(report),
        Format::Junit => junit::render(report),
    }
}
