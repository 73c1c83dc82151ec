//! Checks that ask the file system: a `dir` must be a directory, `dotenv` and
//! `for_each.file` entries must be files. Paths are resolved against the project root
//! (the directory of `volley.toml`), never the process's working directory.

use std::ops::Range;
use std::path::PathBuf;

use super::file_system::PathKind;
use super::walker::{Key, Value, Walker};

impl Walker<'_> {
    /// A directory, resolved against the project root; it must exist.
    pub fn dir(&mut self, value: &Value<'_>, key: &Key, place: &str) -> Option<PathBuf> {
        let text = self.string(value, key, place)?;
        let path = self.root.join(text);
        let problem = match self.fs.kind(&path) {
            Some(PathKind::Dir) => return Some(path),
            Some(PathKind::File) => "is a file, not a directory",
            None => "does not exist",
        };
        self.error(
            value.span(),
            format!("directory `{text}` of {place} {problem}"),
            problem,
            Some(format!(
                "`{}` is relative to `{}`; create the directory or fix the path",
                key.name,
                self.root_text()
            )),
        );
        None
    }

    /// A file that must exist (unless `optional`), resolved against the project root.
    /// `opt_out`: the user could have marked it optional with a leading `?`.
    pub fn file(
        &mut self,
        span: Range<usize>,
        text: &str,
        what: &str,
        optional: bool,
        opt_out: bool,
    ) -> PathBuf {
        let path = self.root.join(text);
        let problem = match self.fs.kind(&path) {
            Some(PathKind::File) => return path,
            None if optional => return path,
            Some(PathKind::Dir) => "is a directory, not a file",
            None => "does not exist",
        };
        let mut help = format!("paths are relative to `{}`", self.root_text());
        if opt_out && !optional {
            help.push_str("; prefix it with `?` if it may be missing");
        }
        self.error(span, format!("{what} `{text}` {problem}"), problem, Some(help));
        path
    }

    fn root_text(&self) -> String {
        let text = self.root.display().to_string();
        if text.is_empty() { ".".to_string() } else { text }
    }
}
