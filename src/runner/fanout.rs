//! Fan-out instances: how a `for_each` task or a `volley exec` becomes N instances,
//! each with its own name and command line.
//!
//! Items are held once (a lazy [`Product`] of the input groups); an instance's
//! command is rendered only when it starts, so 100 000 items cost their strings and
//! nothing more.

use std::sync::Arc;

use volley_core::fanout::{Product, Template};

/// Longest item text shown in an instance name; longer items are cut with `…`.
const MAX_LABEL: usize = 48;

/// How instances are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `task[item]`, for `for_each` in the file.
    Task,
    /// The item itself, for `volley exec` (as GNU parallel's `--tag`).
    Item,
}

#[derive(Debug, Clone)]
pub struct FanOut {
    pub template: Template,
    /// `None` until a `for_each.command` has listed them.
    pub items: Option<Arc<Product>>,
    /// The command whose stdout lines are the items.
    pub list_command: Option<String>,
    /// Items per instance (a single input group when above 1).
    pub batch: usize,
    pub naming: Naming,
}

impl FanOut {
    pub fn instance_count(items: &Product, batch: usize) -> u32 {
        let batch = batch.max(1);
        u32::try_from(items.len().div_ceil(batch)).unwrap_or(u32::MAX)
    }

    /// The name and command of one instance (0-based).
    pub fn instance(&self, task: &str, instance: u32) -> (Arc<str>, String) {
        let Some(items) = &self.items else { return (Arc::from(task), String::new()) };
        let index = instance as usize;
        let chosen: Vec<&str> = if self.batch > 1 {
            let start = index * self.batch;
            (start..(start + self.batch).min(items.len()))
                .filter_map(|i| items.get(i).and_then(|c| c.first().copied()))
                .collect()
        } else {
            items.get(index).unwrap_or_default()
        };
        let command = self.template.render(&chosen, index + 1);
        let label = label(&chosen.join(" "));
        let name = match self.naming {
            Naming::Task => format!("{task}[{label}]"),
            Naming::Item => label,
        };
        (Arc::from(name), command)
    }
}

/// Item text fit for one status line: control characters made visible, cut long.
fn label(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { '␤' } else { c }).collect();
    if clean.chars().count() <= MAX_LABEL {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX_LABEL - 1).collect();
    cut.push('…');
    cut
}

/// Items from a listing command's stdout or a file: one per line, blank lines
/// ignored, a trailing `\r` dropped.
pub fn items_from_lines(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fan_out(items: &[&str], batch: usize, naming: Naming, template: &str) -> FanOut {
        let group = items.iter().map(|s| (*s).to_string()).collect();
        FanOut {
            template: Template::parse(template),
            items: Some(Arc::new(Product::new(vec![group]))),
            list_command: None,
            batch,
            naming,
        }
    }

    #[test]
    fn instances_are_named_after_their_items() {
        let f = fan_out(&["numpy", "a b"], 1, Naming::Task, "pip install {item}");
        assert_eq!(f.instance("upgrade", 1), (Arc::from("upgrade[a b]"), "pip install 'a b'".to_string()));
        let f = fan_out(&["x.txt"], 1, Naming::Item, "gzip {}");
        assert_eq!(f.instance("exec", 0).0.as_ref(), "x.txt");
    }

    #[test]
    fn batches_take_consecutive_items() {
        let f = fan_out(&["a", "b", "c"], 2, Naming::Task, "install {items}");
        let items = f.items.as_ref().expect("items");
        assert_eq!(FanOut::instance_count(items, 2), 2);
        assert_eq!(f.instance("t", 0).1, "install a b");
        assert_eq!(f.instance("t", 1), (Arc::from("t[c]"), "install c".to_string()));
    }

    #[test]
    fn long_and_multi_line_items_get_short_labels() {
        let long = "x".repeat(100);
        let f = fan_out(&[&long, "two\nlines"], 1, Naming::Item, "echo {}");
        assert_eq!(f.instance("e", 0).0.chars().count(), MAX_LABEL);
        assert_eq!(f.instance("e", 1).0.as_ref(), "two␤lines");
    }

    #[test]
    fn lines_become_items() {
        assert_eq!(items_from_lines(b"a\r\n\n  \nb\n"), ["a", "b"]);
    }
}
