//! Test helpers: a fake file system and shortcuts to load a file or render its errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Diagnostics, FileSystem, PathKind, load};
use crate::model::Project;

/// A file system that knows only the paths it was given.
#[derive(Default)]
pub(super) struct FakeFs {
    paths: HashMap<PathBuf, PathKind>,
}

impl FakeFs {
    /// `dirs` and `files` are relative to the project root, which is `/p` for
    /// [`load_ok`] and the current directory for [`errors_with`].
    pub fn new(dirs: &[&str], files: &[&str]) -> Self {
        let mut paths = HashMap::new();
        for d in dirs {
            paths.insert(PathBuf::from(d), PathKind::Dir);
        }
        for f in files {
            paths.insert(PathBuf::from(f), PathKind::File);
        }
        FakeFs { paths }
    }
}

impl FileSystem for FakeFs {
    fn kind(&self, path: &Path) -> Option<PathKind> {
        self.paths.get(path.strip_prefix("/p").unwrap_or(path)).copied()
    }
}

pub(super) fn load_ok(text: &str, fs: &FakeFs) -> Project {
    match load(Path::new("/p/volley.toml"), text, fs) {
        Ok(project) => project,
        Err(diagnostics) => panic!("expected a valid file, got:\n{}", diagnostics.render(false)),
    }
}

/// The rendered errors of an invalid file, with the path shortened to `volley.toml`.
pub(super) fn errors(text: &str) -> String {
    errors_with(text, &FakeFs::default())
}

/// The diagnostics of an invalid file named `volley.toml`.
pub(super) fn load_err(text: &str) -> Diagnostics {
    let Err(diagnostics) = load(Path::new("volley.toml"), text, &FakeFs::default()) else {
        panic!("expected errors");
    };
    diagnostics
}

pub(super) fn errors_with(text: &str, fs: &FakeFs) -> String {
    match load(Path::new("volley.toml"), text, fs) {
        Ok(_) => panic!("expected errors"),
        Err(diagnostics) => diagnostics.render(false),
    }
}
