//! What `[tasks.NAME]` and `[services.NAME]` have in common: each is a table with
//! `run`, `deps`, `description`, `dir` and `env`, read the same way.

use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

use super::walker::{Key, Value, Walker};

/// The shared keys as read so far.
#[derive(Default)]
pub(super) struct SharedKeys {
    pub run: String,
    /// `None` when `run` is missing.
    pub run_span: Option<Range<usize>>,
    pub deps: Vec<String>,
    /// One span per entry of `deps`.
    pub dep_spans: Vec<Range<usize>>,
    pub description: Option<String>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl SharedKeys {
    /// Reads `key` if it is one of the shared keys; false when it is not.
    pub fn read(&mut self, w: &mut Walker<'_>, key: &Key, value: &Value<'_>, place: &str) -> bool {
        match key.name {
            "run" => {
                self.run_span = Some(value.span());
                self.run = w.string(value, key, place).unwrap_or_default().to_string();
            }
            "deps" => {
                (self.deps, self.dep_spans) =
                    w.strings(value, key, place).unwrap_or_default().into_iter().unzip();
            }
            "description" => self.description = w.string(value, key, place).map(str::to_string),
            "dir" => self.dir = w.dir(value, key, place),
            "env" => self.env = w.env(value, key, place),
            _ => return false,
        }
        true
    }
}

/// The table of `[SECTION.NAME]` (`place` names it in messages); anything else is an
/// error and gives `None`.
pub(super) fn unit_table<'v, 'i>(
    w: &mut Walker<'_>,
    value: &'v Value<'i>,
    place: &str,
    section: &str,
    name: &str,
) -> Option<&'v DeTable<'i>> {
    if let DeValue::Table(table) = value.get_ref() {
        return Some(table);
    }
    w.error(
        value.span(),
        format!("{place} must be a table"),
        "expected a table",
        Some(format!("declare it as `[{section}.{name}]` with `run = \"…\"` inside")),
    );
    None
}
