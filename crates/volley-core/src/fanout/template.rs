//! Command templates with GNU-parallel-style placeholders.
//!
//! Recognised: `{}` the item (all of a combination's items, space-separated, when
//! there are several `:::` groups), `{.}` without its extension, `{/}` basename,
//! `{//}` directory, `{/.}` basename without extension, `{#}` the 1-based index,
//! `{N}` (and `{N.}`, `{N/}`, `{N//}`, `{N/.}`) the item of group N, and for the
//! file's `for_each`: `{item}` and `{items}` (a batch, space-separated). Anything
//! else in braces — `${VAR}`, `awk '{print $1}'`, `{ a; b; }` — is left alone.

use super::quote::shell_quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    Whole,
    NoExtension,
    Basename,
    Dirname,
    BasenameNoExtension,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `{}`, `{item}` (group `None`) or `{N}` (group `Some(N)`, 1-based).
    Item { group: Option<usize>, transform: Transform },
    /// `{items}`: every item of the batch.
    Items,
    /// `{#}`.
    Index,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(Placeholder),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("placeholder {{{group}}} names input group {group}, but there {} only {groups}", if *.groups == 1 { "is" } else { "are" })]
    NoSuchGroup { group: usize, groups: usize },
}

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let placeholder = if rest[..open].ends_with('$') {
                None
            } else {
                after.find('}').and_then(|close| parse_placeholder(&after[..close]).map(|p| (p, close)))
            };
            if let Some((placeholder, close)) = placeholder {
                literal.push_str(&rest[..open]);
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Placeholder(placeholder));
                rest = &after[close + 1..];
            } else {
                literal.push_str(&rest[..=open]);
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Template { parts }
    }

    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(p) => Some(*p),
            Part::Literal(_) => None,
        })
    }

    /// Whether any placeholder takes an item (so the items are not appended).
    pub fn takes_items(&self) -> bool {
        self.placeholders().any(|p| !matches!(p, Placeholder::Index))
    }

    /// Checks `{N}` placeholders against the number of input groups.
    pub fn check_groups(&self, groups: usize) -> Result<(), TemplateError> {
        for placeholder in self.placeholders() {
            if let Placeholder::Item { group: Some(group), .. } = placeholder
                && (group == 0 || group > groups)
            {
                return Err(TemplateError::NoSuchGroup { group, groups });
            }
        }
        Ok(())
    }

    /// The command for one instance: `items` are one per `:::` group, or a batch;
    /// `index` is 1-based. With no item placeholder the items are appended.
    pub fn render(&self, items: &[&str], index: usize) -> String {
        let all = || items.iter().map(|i| shell_quote(i)).collect::<Vec<_>>().join(" ");
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(Placeholder::Index) => out.push_str(&index.to_string()),
                Part::Placeholder(Placeholder::Items) => out.push_str(&all()),
                Part::Placeholder(Placeholder::Item { group: None, transform }) => {
                    let transformed: Vec<String> =
                        items.iter().map(|i| shell_quote(&apply(i, *transform))).collect();
                    out.push_str(&transformed.join(" "));
                }
                Part::Placeholder(Placeholder::Item { group: Some(group), transform }) => {
                    let item = items.get(group.wrapping_sub(1)).copied().unwrap_or("");
                    out.push_str(&shell_quote(&apply(item, *transform)));
                }
            }
        }
        if !self.takes_items() && !items.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&all());
        }
        out
    }
}

fn parse_placeholder(inner: &str) -> Option<Placeholder> {
    match inner {
        "item" => return Some(Placeholder::Item { group: None, transform: Transform::Whole }),
        "items" => return Some(Placeholder::Items),
        "#" => return Some(Placeholder::Index),
        _ => {}
    }
    let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = inner.split_at(digits);
    let transform = match suffix {
        "" => Transform::Whole,
        "." => Transform::NoExtension,
        "/" => Transform::Basename,
        "//" => Transform::Dirname,
        "/." => Transform::BasenameNoExtension,
        _ => return None,
    };
    let group = if number.is_empty() { None } else { Some(number.parse().ok()?) };
    Some(Placeholder::Item { group, transform })
}

fn apply(item: &str, transform: Transform) -> String {
    let basename = |s: &str| s.rsplit_once('/').map_or(s, |(_, b)| b).to_string();
    let without_extension = |s: &str| {
        let cut = s.rfind('.').filter(|&dot| dot > s.rfind('/').map_or(0, |slash| slash + 1));
        cut.map_or(s, |dot| &s[..dot]).to_string()
    };
    match transform {
        Transform::Whole => item.to_string(),
        Transform::NoExtension => without_extension(item),
        Transform::Basename => basename(item),
        Transform::Dirname => match item.rsplit_once('/') {
            Some(("", _)) => "/".to_string(),
            Some((dir, _)) => dir.to_string(),
            None => ".".to_string(),
        },
        Transform::BasenameNoExtension => without_extension(&basename(item)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, items: &[&str]) -> String {
        Template::parse(template).render(items, 7)
    }

    #[test]
    fn item_is_substituted_quoted() {
        assert_eq!(render("echo {}", &["a b"]), "echo 'a b'");
        assert_eq!(render("echo {item}", &["$(rm -rf ~)"]), "echo '$(rm -rf ~)'");
        assert_eq!(render("pip install --upgrade {item}", &["numpy"]), "pip install --upgrade numpy");
    }

    #[test]
    fn without_a_placeholder_the_item_is_appended() {
        assert_eq!(render("gzip -9", &["my file"]), "gzip -9 'my file'");
        assert_eq!(render("echo {#}", &["x"]), "echo 7 x");
    }

    #[test]
    fn path_transforms_follow_gnu_parallel() {
        assert_eq!(render("{.}", &["dir.d/file.tar.gz"]), "dir.d/file.tar");
        assert_eq!(render("{.}", &["dir.d/file"]), "dir.d/file");
        assert_eq!(render("{/}", &["dir/file.txt"]), "file.txt");
        assert_eq!(render("{//}", &["dir/sub/file.txt"]), "dir/sub");
        assert_eq!(render("{//}", &["file.txt"]), ".");
        assert_eq!(render("{/.}", &["dir/file.txt"]), "file");
        assert_eq!(render("{.}", &[".bashrc"]), ".bashrc");
    }

    #[test]
    fn numbered_groups_pick_their_item() {
        assert_eq!(render("cp {1} {2}/", &["a.txt", "out dir"]), "cp a.txt 'out dir'/");
        assert_eq!(render("echo {}", &["a", "b"]), "echo a b");
        assert_eq!(render("echo {2.}", &["a", "b.c"]), "echo b");
    }

    #[test]
    fn batches_fill_items() {
        assert_eq!(render("install {items}", &["a", "b c"]), "install a 'b c'");
    }

    #[test]
    fn shell_braces_are_left_alone() {
        assert_eq!(render("echo ${HOME} {}", &["x"]), "echo ${HOME} x");
        assert_eq!(render("awk '{print $1}' {}", &["f"]), "awk '{print $1}' f");
        assert_eq!(render("{ echo a; } && echo {}", &["x"]), "{ echo a; } && echo x");
        assert_eq!(render("unclosed {", &["x"]), "unclosed { x");
    }

    #[test]
    fn group_numbers_are_checked() {
        assert!(Template::parse("{1} {2}").check_groups(2).is_ok());
        assert_eq!(
            Template::parse("{3}").check_groups(2),
            Err(TemplateError::NoSuchGroup { group: 3, groups: 2 })
        );
        assert!(Template::parse("{0}").check_groups(1).is_err());
    }
}
