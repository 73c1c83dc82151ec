//! The schema walker's toolbox: typed reads of spanned TOML values that record a
//! diagnostic (with span, label and help) instead of failing, and "did you mean".
//!
//! Every read returns `Option`: `None` means a problem was recorded and the caller
//! falls back to a default, so the walk always continues and reports everything.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::diagnostic::{Diagnostic, Diagnostics, LineIndex, Severity};
use super::file_system::FileSystem;
use super::units::{parse_duration, parse_size};

pub(super) type Value<'i> = Spanned<DeValue<'i>>;
pub(super) type KeyName<'i> = Spanned<DeString<'i>>;

/// A key a table accepts, with an example used in "write it like …" help.
#[derive(Debug)]
pub(super) struct Key {
    pub name: &'static str,
    pub example: &'static str,
}

pub(super) const DURATION_HELP: &str = "durations look like `500ms`, `10s`, `2m`, `1h30m`";

pub(super) struct Walker<'a> {
    pub src: &'a str,
    pub root: &'a Path,
    pub fs: &'a dyn FileSystem,
    lines: Option<LineIndex>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Walker<'a> {
    pub fn new(src: &'a str, root: &'a Path, fs: &'a dyn FileSystem) -> Self {
        Walker { src, root, fs, lines: None, diagnostics: Vec::new() }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn finish(self, file: &Path) -> Diagnostics {
        // A valid file keeps no copy of its text: there is nothing to render.
        let source = if self.diagnostics.is_empty() { Arc::from("") } else { Arc::from(self.src) };
        Diagnostics::new(file.display().to_string(), source, self.diagnostics)
    }

    fn push(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        let lines = self.lines.get_or_insert_with(|| LineIndex::new(self.src));
        let (line, column) = lines.locate(self.src, span.start);
        self.diagnostics.push(Diagnostic {
            message,
            span: Some(span),
            label: label.to_string(),
            help,
            severity,
            line,
            column,
        });
    }

    pub fn error(&mut self, span: Range<usize>, message: String, label: &str, help: Option<String>) {
        self.push(Severity::Error, span, message, label, help);
    }

    pub fn warning(&mut self, span: Range<usize>, message: String, label: &str, help: Option<String>) {
        self.push(Severity::Warning, span, message, label, help);
    }

    /// The span of `needle` inside the source text of `span`, or `span` itself (the
    /// needle may be spelled with escapes in the source).
    pub fn sub_span(&self, span: &Range<usize>, needle: &str) -> Range<usize> {
        self.src
            .get(span.clone())
            .and_then(|text| text.find(needle))
            .map_or(span.clone(), |i| span.start + i..span.start + i + needle.len())
    }

    /// The entries of `table` whose keys are in `keys`; every other key is reported.
    pub fn known_entries<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        keys: &'static [Key],
        place: &str,
    ) -> Vec<(&'static Key, &'t KeyName<'i>, &'t Value<'i>)> {
        let mut known = Vec::with_capacity(table.len());
        for (name, value) in table {
            match keys.iter().find(|k| k.name == name.get_ref().as_ref()) {
                Some(key) => known.push((key, name, value)),
                None => self.unknown_key(name, keys, place),
            }
        }
        known
    }

    fn unknown_key(&mut self, name: &KeyName<'_>, keys: &[Key], place: &str) {
        let help = match closest(name.get_ref(), keys.iter().map(|k| k.name)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys: {}", keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")),
        };
        self.error(
            name.span(),
            format!("unknown key `{}` in {place}", name.get_ref()),
            "unknown key",
            Some(help),
        );
    }

    pub fn wrong_type(&mut self, value: &Value<'_>, key: &Key, place: &str, expected: &str) {
        self.error(
            value.span(),
            format!("wrong type for `{}` in {place}", key.name),
            &format!("expected {expected}, found {}", article(value.get_ref())),
            Some(format!("write it like `{}`", key.example)),
        );
    }

    pub fn string<'v>(&mut self, value: &'v Value<'_>, key: &Key, place: &str) -> Option<&'v str> {
        if let DeValue::String(s) = value.get_ref() {
            Some(s)
        } else {
            self.wrong_type(value, key, place, "a string");
            None
        }
    }

    pub fn boolean(&mut self, value: &Value<'_>, key: &Key, place: &str) -> Option<bool> {
        if let DeValue::Boolean(b) = value.get_ref() {
            Some(*b)
        } else {
            self.wrong_type(value, key, place, "a boolean (`true` or `false`)");
            None
        }
    }

    pub fn table<'v, 'i>(&mut self, value: &'v Value<'i>, key: &Key, place: &str) -> Option<&'v DeTable<'i>> {
        if let DeValue::Table(t) = value.get_ref() {
            Some(t)
        } else {
            self.wrong_type(value, key, place, "a table");
            None
        }
    }

    /// An integer within `min..=max`.
    pub fn integer(&mut self, value: &Value<'_>, key: &Key, place: &str, min: i64, max: i64) -> Option<i64> {
        let DeValue::Integer(i) = value.get_ref() else {
            self.wrong_type(value, key, place, "an integer");
            return None;
        };
        let n = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok();
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let label = if max >= i64::from(u32::MAX) {
                    format!("must be at least {min}")
                } else {
                    format!("must be from {min} to {max}")
                };
                self.error(
                    value.span(),
                    format!("`{}` in {place} is out of range", key.name),
                    &label,
                    Some(format!("write it like `{}`", key.example)),
                );
                None
            }
        }
    }

    /// A float or an integer, finite.
    pub fn number(&mut self, value: &Value<'_>, key: &Key, place: &str) -> Option<f64> {
        let n = match value.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => {
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok().map(|n| n as f64)
            }
            _ => {
                self.wrong_type(value, key, place, "a number");
                return None;
            }
        };
        match n {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.error(
                    value.span(),
                    format!("`{}` in {place} is not a finite number", key.name),
                    "not a finite number",
                    Some(format!("write it like `{}`", key.example)),
                );
                None
            }
        }
    }

    /// A duration string; `positive`: zero is rejected too.
    pub fn duration(
        &mut self,
        value: &Value<'_>,
        key: &Key,
        place: &str,
        positive: bool,
    ) -> Option<Duration> {
        let text = self.string(value, key, place)?;
        match parse_duration(text) {
            Ok(d) if positive && d.is_zero() => {
                self.error(
                    value.span(),
                    format!("`{}` in {place} must be greater than zero", key.name),
                    "zero",
                    Some(format!("remove `{}` for no limit, or give a positive duration", key.name)),
                );
                None
            }
            Ok(d) => Some(d),
            Err(reason) => {
                self.error(
                    value.span(),
                    format!("invalid duration for `{}` in {place}", key.name),
                    &reason,
                    Some(DURATION_HELP.to_string()),
                );
                None
            }
        }
    }

    /// A size string (`"500MiB"`) or an integer number of bytes.
    pub fn size(&mut self, value: &Value<'_>, key: &Key, place: &str) -> Option<u64> {
        if let DeValue::Integer(_) = value.get_ref() {
            return self.integer(value, key, place, 0, i64::MAX).map(|n| n as u64);
        }
        let DeValue::String(text) = value.get_ref() else {
            self.wrong_type(value, key, place, "a size string");
            return None;
        };
        match parse_size(text) {
            Ok(n) => Some(n),
            Err(reason) => {
                self.error(
                    value.span(),
                    format!("invalid size for `{}` in {place}", key.name),
                    &reason,
                    Some("sizes look like `500MiB`, `5GiB`, `1.5GB` (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)".into()),
                );
                None
            }
        }
    }

    /// An array of strings, each with its span. Elements of the wrong type are reported
    /// one by one and skipped.
    pub fn strings(
        &mut self,
        value: &Value<'_>,
        key: &Key,
        place: &str,
    ) -> Option<Vec<(String, Range<usize>)>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(value, key, place, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let DeValue::String(s) = item.get_ref() {
                out.push((s.to_string(), item.span()));
            } else {
                self.wrong_type(item, key, place, "a string");
            }
        }
        Some(out)
    }

    /// A string, integer, float or boolean as text (`env` values, `for_each.items`).
    pub fn scalar_text(&mut self, value: &Value<'_>, key: &Key, place: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Integer(i) => Some(
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                    .map_or_else(|_| i.as_str().to_string(), |n| n.to_string()),
            ),
            DeValue::Float(f) => Some(f.as_str().to_string()),
            DeValue::Boolean(b) => Some(b.to_string()),
            _ => {
                self.wrong_type(value, key, place, "a string");
                None
            }
        }
    }

    /// One of `options`, with a "did you mean" for near misses.
    pub fn choice(&mut self, value: &Value<'_>, key: &Key, place: &str, options: &[&str]) -> Option<usize> {
        let text = self.string(value, key, place)?;
        if let Some(i) = options.iter().position(|o| *o == text) {
            return Some(i);
        }
        let quoted = options.iter().map(|o| format!("`\"{o}\"`")).collect::<Vec<_>>().join(", ");
        let help = match closest(text, options.iter().copied()) {
            Some(best) => format!("did you mean `\"{best}\"`?"),
            None => format!("use one of {quoted}"),
        };
        self.error(
            value.span(),
            format!("invalid `{}` in {place}", key.name),
            &format!("expected one of {quoted}"),
            Some(help),
        );
        None
    }

    /// `env = { KEY = "value" }` in file order.
    pub fn env(&mut self, value: &Value<'_>, key: &Key, place: &str) -> Vec<(String, String)> {
        let Some(table) = self.table(value, key, place) else { return Vec::new() };
        let mut out = Vec::with_capacity(table.len());
        for (name, value) in table {
            let name_text = name.get_ref().as_ref();
            if name_text.is_empty() || name_text.contains(['=', '\0']) {
                self.error(
                    name.span(),
                    format!("invalid environment variable name `{name_text}` in {place}"),
                    "not a variable name",
                    Some("names must be non-empty and contain neither `=` nor NUL".to_string()),
                );
                continue;
            }
            if let Some(text) = self.scalar_text(value, key, place) {
                if text.contains('\0') {
                    self.error(
                        value.span(),
                        format!("NUL byte in `{name_text}` in {place}"),
                        "contains NUL",
                        None,
                    );
                } else {
                    out.push((name_text.to_string(), text));
                }
            }
        }
        out
    }

    /// Tasks and services share names that must match `[A-Za-z0-9_.-]+`.
    pub fn check_name(&mut self, name: &KeyName<'_>, kind: &str) -> bool {
        let text = name.get_ref().as_ref();
        let valid =
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            self.error(
                name.span(),
                format!("invalid {kind} name `{text}`"),
                "invalid name",
                Some("names may contain only letters, digits, `_`, `.` and `-`".to_string()),
            );
        }
        valid
    }
}

/// "an integer", "a string", … for "expected X, found Y".
pub(super) fn article(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The candidate most similar to `word`, if any is similar enough to be a typo.
pub(super) fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(&word, &candidate.to_lowercase());
        if score >= 0.8 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn closest_finds_typos_only() {
        let keys = ["run", "deps", "description", "dir", "env"];
        assert_eq!(closest("dpes", keys), Some("deps"));
        assert_eq!(closest("Deps", keys), Some("deps"));
        assert_eq!(closest("descripton", keys), Some("description"));
        assert_eq!(closest("zzz", keys), None);
    }
}
