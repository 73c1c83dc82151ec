//! What the runner asks of an executor and what it hears back.
//!
//! Per task key, every [`ExecEvent::Output`] precedes the one [`ExecEvent::Exited`].

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use volley_core::event::{AttemptEnd, Lines, Stream, TaskKey};

use super::environment::Environment;

/// One attempt to start: `program args...` in `dir` with exactly `env`.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    pub key: TaskKey,
    /// An absolute path (see [`resolve_program`]): `execve` does not search `PATH`.
    pub program: PathBuf,
    /// The program's `argv[0]` when it differs from `program` (a shell passes the
    /// word as typed, not the path it found).
    pub arg0: Option<OsString>,
    pub args: Vec<OsString>,
    /// The complete environment of the process (nothing is inherited).
    pub env: Environment,
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// One or more complete lines (each ending in `\n`) from one stream.
    Output { key: TaskKey, stream: Stream, lines: Lines },
    /// The attempt is over: its leader was reaped and its output drained. `end` is
    /// `Exited` or `Signaled`. CPU times come from `wait4` and cover the leader and the
    /// descendants it waited for.
    Exited { key: TaskKey, end: AttemptEnd, cpu_user_us: u64, cpu_system_us: u64 },
}

/// Finds `name` the way a shell would, once, so every spawn can use an absolute path.
/// A name containing `/` is returned as given. Empty `PATH` entries (the current
/// directory) are skipped; without a `PATH`, `/usr/local/bin:/usr/bin:/bin` is searched.
pub fn resolve_program(name: &str, path_var: Option<&OsStr>) -> io::Result<PathBuf> {
    if name.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty program name"));
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    path_var
        .as_bytes()
        .split(|b| *b == b':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(OsStr::from_bytes(dir)).join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("program `{name}` not found in PATH")))
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_in_path() {
        let found = resolve_program("sh", Some(OsStr::new("/nonexistent::/usr/bin:/bin"))).expect("sh");
        assert!(found.is_absolute());
        assert!(found.ends_with("sh"));
    }

    #[test]
    fn default_path_is_used_without_one() {
        assert!(resolve_program("sh", None).expect("sh").is_absolute());
    }

    #[test]
    fn names_with_a_slash_are_kept() {
        assert_eq!(resolve_program("./x/y", None).expect("path"), PathBuf::from("./x/y"));
    }

    #[test]
    fn missing_program_is_not_found() {
        let err =
            resolve_program("volley-no-such-program", Some(OsStr::new("/usr/bin"))).expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("volley-no-such-program"));
    }

    #[test]
    fn directories_are_not_programs() {
        // `/usr` contains a directory `bin`, which is not executable as a program.
        assert!(resolve_program("bin", Some(OsStr::new("/usr"))).is_err());
    }
}
