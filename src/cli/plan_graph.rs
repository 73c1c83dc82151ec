//! `volley plan --format dot|mermaid`: the planned graph for Graphviz or Mermaid,
//! each task labelled with its expected duration, the critical path drawn in red.
//!
//! Edges go from a dependency to what needs it (the direction work flows). Names are
//! escaped for each language, so a name can never break out of its label.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::plan::{PlanModel, expected_text};

const CRITICAL: &str = "#d62728";

/// Graphviz: names are quoted IDs (backslash and double quote escaped).
pub fn dot(model: &PlanModel) -> String {
    let mut out =
        String::from("digraph volley {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n");
    let critical = critical_edges(model);
    for (depth, level) in model.levels.iter().enumerate() {
        let _ = writeln!(out, "  subgraph level_{} {{\n    rank=same;", depth + 1);
        for unit in level {
            let label = format!("{}\n{}", unit.name, expected_text(unit));
            let style = if unit.on_critical_path {
                format!(", color=\"{CRITICAL}\", penwidth=2")
            } else {
                String::new()
            };
            let _ = writeln!(out, "    {} [label={}{style}];", dot_id(&unit.name), dot_id(&label));
        }
        out.push_str("  }\n");
    }
    for (from, to) in &model.edges {
        let style = if critical.contains(&(from.as_str(), to.as_str())) {
            format!(" [color=\"{CRITICAL}\", penwidth=2]")
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {} -> {}{style};", dot_id(from), dot_id(to));
    }
    out.push_str("}\n");
    out
}

fn dot_id(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Mermaid flowchart: node ids are generated (`t0`, `t1`, …) because task names may
/// hold characters Mermaid reads as syntax; names appear only in quoted labels.
pub fn mermaid(model: &PlanModel) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut critical_nodes = Vec::new();
    for unit in model.levels.iter().flatten() {
        let id = format!("t{}", ids.len());
        let _ = writeln!(
            out,
            "  {id}[\"{}<br/>{}\"]",
            mermaid_text(&unit.name),
            mermaid_text(&expected_text(unit))
        );
        if unit.on_critical_path {
            critical_nodes.push(id.clone());
        }
        ids.insert(&unit.name, id);
    }
    let critical = critical_edges(model);
    let mut critical_links = Vec::new();
    for (n, (from, to)) in model.edges.iter().enumerate() {
        let (Some(a), Some(b)) = (ids.get(from.as_str()), ids.get(to.as_str())) else { continue };
        let _ = writeln!(out, "  {a} --> {b}");
        if critical.contains(&(from.as_str(), to.as_str())) {
            critical_links.push(n.to_string());
        }
    }
    if !critical_nodes.is_empty() {
        let _ = writeln!(out, "  classDef critical stroke:{CRITICAL},stroke-width:3px");
        let _ = writeln!(out, "  class {} critical", critical_nodes.join(","));
    }
    if !critical_links.is_empty() {
        let _ = writeln!(out, "  linkStyle {} stroke:{CRITICAL},stroke-width:3px", critical_links.join(","));
    }
    out
}

/// Mermaid labels take HTML entities; these are the characters that end or confuse one.
fn mermaid_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("#quot;"),
            '<' => escaped.push_str("#lt;"),
            '>' => escaped.push_str("#gt;"),
            '#' => escaped.push_str("#35;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Consecutive pairs of the critical path.
fn critical_edges(model: &PlanModel) -> Vec<(&str, &str)> {
    model.critical_path.windows(2).map(|w| (w[0].as_str(), w[1].as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_ids_escape_quotes_backslashes_and_newlines() {
        assert_eq!(dot_id(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(dot_id("x\n1s"), r#""x\n1s""#);
    }

    #[test]
    fn mermaid_labels_cannot_close_their_quotes() {
        assert_eq!(mermaid_text(r#"x"]; click"#), "x#quot;]; click");
        assert_eq!(mermaid_text("<b>#1"), "#lt;b#gt;#35;1");
    }
}
