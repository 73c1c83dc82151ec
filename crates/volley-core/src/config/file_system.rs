//! The one question validation asks of the outside world: does this path exist, and
//! is it a file or a directory? The core does no I/O; the CLI passes the real file
//! system, tests a fake.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    File,
    Dir,
}

/// What the validator may ask of the file system.
pub trait FileSystem {
    /// `None`: the path does not exist (or cannot be inspected).
    fn kind(&self, path: &Path) -> Option<PathKind>;
}
