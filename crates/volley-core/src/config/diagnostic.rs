//! Configuration problems and their cargo-style rendering.
//!
//! A [`Diagnostic`] is plain data (message, byte span, label, help, 1-based line and
//! character column); [`Diagnostics`] owns the source text so it can render every
//! problem later with annotate-snippets, without the file being read again.
//! Invariant: spans are byte ranges into that source; rendering clamps them to char
//! boundaries, so a bad span can never panic.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a `volley.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A lowercase fragment naming the thing: "unknown key `dpes` in task `build`".
    pub message: String,
    /// Byte range in the source; `None` when the problem has no place in the file.
    pub span: Option<Range<usize>>,
    /// Shown under the caret.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
    pub severity: Severity,
    /// 1-based; 0 when there is no span.
    pub line: usize,
    /// 1-based, counted in characters; 0 when there is no span.
    pub column: usize,
}

/// Every problem found in one file, with what is needed to render them.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    file: String,
    source: Arc<str>,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(file: String, source: Arc<str>, items: Vec<Diagnostic>) -> Self {
        Diagnostics { file, source, items }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    #[must_use]
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.severity == Severity::Error).count()
    }

    #[must_use]
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Renders every diagnostic like rustc and cargo do (`error: …`, `--> file:line:col`,
    /// the source line with a labelled caret, `= help: …`), separated by blank lines.
    /// When there are errors, a last line counts them, as cargo's "could not compile".
    /// `color`: ANSI-styled, or plain text.
    #[must_use]
    pub fn render(&self, color: bool) -> String {
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        let mut out = String::new();
        for diagnostic in &self.items {
            out.push_str(&renderer.render(&[self.group(diagnostic)]));
            out.push_str("\n\n");
        }
        let errors = self.error_count();
        if errors > 0 {
            let mut summary =
                format!("could not load `{}` due to {} previous error{}", self.file, errors, plural(errors));
            let warnings = self.warning_count();
            if warnings > 0 {
                let _ = write!(summary, "; {warnings} warning{} emitted", plural(warnings));
            }
            out.push_str(&renderer.render(&[Group::with_title(Level::ERROR.primary_title(summary))]));
            out.push('\n');
        }
        out
    }

    fn group<'a>(&'a self, d: &'a Diagnostic) -> Group<'a> {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level.primary_title(d.message.as_str());
        let group = match d.span.as_ref().and_then(|span| excerpt(&self.source, span)) {
            Some((text, span)) => title.element(
                Snippet::source(text)
                    .line_start(d.line)
                    .path(self.file.as_str())
                    .annotation(AnnotationKind::Primary.span(span).label(d.label.as_str())),
            ),
            None => title.element(Origin::path(self.file.as_str())),
        };
        match &d.help {
            Some(help) => group.element(Level::HELP.message(help.as_str())),
            None => group,
        }
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The whole lines around `span` and the span relative to them. Only those lines go
/// to the renderer, so rendering many diagnostics of a big file stays linear.
fn excerpt<'s>(source: &'s str, span: &Range<usize>) -> Option<(&'s str, Range<usize>)> {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    // A span that ends just after a newline does not need the following line.
    let last = if end > start { floor_char_boundary(source, end - 1) } else { end };
    let line_end = source[last..].find('\n').map_or(source.len(), |i| last + i);
    let line_end = line_end.max(end);
    Some((source.get(line_start..line_end)?, start - line_start..end - line_start))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte offset → 1-based line and character column. Built on the first problem only,
/// so a valid file never pays for it.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    pub(crate) fn locate(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = source.get(line_start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "a = 1\nnäme = é\n";
        let index = LineIndex::new(src);
        let offset = src.find('é').expect("present");
        assert_eq!(index.locate(src, offset), (2, 8));
        assert_eq!(index.locate(src, 0), (1, 1));
        assert_eq!(index.locate(src, src.len()), (3, 1));
    }

    #[test]
    fn excerpt_is_the_lines_around_the_span() {
        let src = "one\ntwo three\nfour";
        let (text, span) = excerpt(src, &(8..13)).expect("excerpt");
        assert_eq!(text, "two three");
        assert_eq!(&text[span], "three");
        let (text, span) = excerpt(src, &(18..18)).expect("at the end");
        assert_eq!((text, span), ("four", 4..4));
    }

    #[test]
    fn out_of_range_spans_are_clamped() {
        let src = "é";
        let (text, span) = excerpt(src, &(1..99)).expect("clamped");
        assert_eq!((text, span), ("é", 0..2));
    }
}
