//! Finding and loading `volley.toml`: upward search like cargo, the real file system
//! for the validator's existence checks, and diagnostics rendered for the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use volley_core::config::{self, FileSystem, PathKind};
use volley_core::model::{Project, Settings};

use super::CliError;
use super::args::Cli;

pub const FILE_NAME: &str = "volley.toml";

/// From this size on, the heap the parse will use is mapped in beforehand
/// ([`crate::memory::prefault_heap`]).
const PREFAULT_FROM: usize = 32 << 10;

struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn kind(&self, path: &Path) -> Option<PathKind> {
        let meta = std::fs::metadata(path).ok()?;
        Some(if meta.is_dir() { PathKind::Dir } else { PathKind::File })
    }
}

/// `volley.toml` in `start` or the nearest parent that has one.
pub fn find(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join(FILE_NAME)).find(|candidate| candidate.is_file())
}

/// Locates, reads and validates the project file. Warnings go to stderr.
pub fn load(explicit: Option<&Path>, color: bool) -> Result<Project, CliError> {
    load_file(locate(explicit)?, color)
}

/// The project file: `explicit`, or the nearest `volley.toml` upwards.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::usage(format!("cannot read the current directory: {e}")))?;
    find(&cwd).ok_or_else(|| {
        CliError::usage(format!("no {FILE_NAME} in {} or any parent directory", cwd.display()))
            .with_help("create one, or name one with `-f PATH`; see `volley --help`")
    })
}

/// The state directory of the project in `file` unless the file sets `state_dir`.
pub fn default_state_dir(file: &Path) -> PathBuf {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    absolute.parent().unwrap_or(Path::new("/")).join(Settings::DEFAULT_STATE_DIR)
}

/// Reads and validates the project file at `path`. Warnings go to stderr.
pub fn load_file(path: PathBuf, color: bool) -> Result<Project, CliError> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    if text.len() >= PREFAULT_FROM {
        let _ = crate::memory::prefault_heap(text.len() * 40);
    }
    let absolute = std::path::absolute(&path).unwrap_or(path);
    let project =
        config::load(&absolute, &text, &RealFileSystem).map_err(|d| CliError::Config(d.render(color)))?;
    if !project.warnings.is_empty() {
        eprint!("{}", project.warnings.render(color && std::io::stderr().is_terminal()));
    }
    Ok(project)
}

/// Where the history is, and the regression threshold to judge it by: from volley.toml
/// when there is one; without (history written by `volley exec`), `.volley` in the
/// current directory and the default threshold.
pub fn history_location(cli: &Cli) -> Result<(PathBuf, f64), CliError> {
    let default_threshold = volley_core::model::Alerts::default().regression;
    if cli.file.is_none() {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::usage(format!("cannot read the current directory: {e}")))?;
        if find(&cwd).is_none() {
            return Ok((cwd.join(Settings::DEFAULT_STATE_DIR), default_threshold));
        }
    }
    let project = load(cli.file.as_deref(), false)?;
    Ok((project.settings.state_dir.clone(), project.settings.alerts.regression))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The history a run opens before its file is parsed is the one the file's
    /// settings then name, unless it names another.
    #[test]
    fn the_default_state_dir_is_the_one_a_file_without_state_dir_gets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("sub").join(FILE_NAME);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, "[tasks.a]\nrun = \"true\"\n").expect("write");
        let project = load_file(file.clone(), false).expect("valid");
        assert_eq!(default_state_dir(&file), project.settings.state_dir);
        std::fs::write(&file, "[settings]\nstate_dir = \"elsewhere\"\n[tasks.a]\nrun = \"true\"\n")
            .expect("write");
        let project = load_file(file.clone(), false).expect("valid");
        assert_ne!(default_state_dir(&file), project.settings.state_dir);
    }
}
