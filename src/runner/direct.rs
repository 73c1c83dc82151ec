//! Which attempts skip the shell, and where their programs are.
//!
//! A `run` string that is only words ([`simple_argv`]) is executed directly when the
//! shell is the default `sh -c`: the result is the same, one `exec` of a shell
//! cheaper (make does the same). Another shell, or options to it, may give the same
//! words another meaning, so then every command goes through it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use volley_core::event::TaskKey;
use volley_core::simple_command::simple_argv;

use crate::exec::{Environment, SpawnRequest, resolve_program};

pub struct DirectExec {
    /// Programs found, by name, with the `PATH` they were looked up in. Only hits are
    /// kept: a program an earlier task installs is found by the tasks after it.
    found: HashMap<String, (Option<OsString>, PathBuf)>,
}

impl DirectExec {
    /// `None` unless `shell` is the default `sh -c`.
    pub fn for_shell(shell: &[String]) -> Option<Self> {
        (shell == ["sh", "-c"]).then(|| DirectExec { found: HashMap::new() })
    }

    /// The program, its `argv[0]` (the word as typed, as a shell passes it) and its
    /// arguments that run `command` without a shell, or `None` when it needs the shell
    /// or its program is not on `path_var`.
    pub fn program(&mut self, command: &str, path_var: Option<&OsStr>) -> Option<Launch> {
        let mut words = simple_argv(command)?.into_iter();
        let name = words.next()?;
        let arg0 = Some(OsString::from(&name));
        let program = if name.starts_with('/') {
            PathBuf::from(name)
        } else if path_var.is_some_and(|path| !all_absolute(path)) {
            // Empty or relative entries count from the task's directory: the shell knows.
            return None;
        } else {
            match self.found.get(&name) {
                Some((path, program)) if path.as_deref() == path_var => program.clone(),
                _ => {
                    let program = resolve_program(&name, path_var).ok()?;
                    self.found.insert(name, (path_var.map(OsStr::to_os_string), program.clone()));
                    program
                }
            }
        };
        Some(Launch { program, arg0, args: words.map(OsString::from).collect() })
    }
}

fn all_absolute(path_var: &OsStr) -> bool {
    path_var.as_encoded_bytes().split(|b| *b == b':').all(|dir| dir.first() == Some(&b'/'))
}

/// What to execute for an attempt: a program found directly, or the shell.
pub struct Launch {
    pub program: PathBuf,
    pub arg0: Option<OsString>,
    pub args: Vec<OsString>,
}

impl Launch {
    pub fn request(self, key: TaskKey, mut env: Environment, dir: PathBuf) -> SpawnRequest {
        if self.arg0.is_some() {
            // A shell would export its working directory as PWD; without one, the
            // program would see volley's.
            env.set("PWD", std::path::absolute(&dir).unwrap_or_else(|_| dir.clone()));
        }
        SpawnRequest { key, program: self.program, arg0: self.arg0, args: self.args, env, dir }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct() -> DirectExec {
        DirectExec::for_shell(&["sh".into(), "-c".into()]).expect("default shell")
    }

    #[test]
    fn only_the_default_shell_is_skipped() {
        assert!(
            DirectExec::for_shell(&["bash".into(), "-eo".into(), "pipefail".into(), "-c".into()]).is_none()
        );
        assert!(DirectExec::for_shell(&["sh".into(), "-c".into()]).is_some());
    }

    #[test]
    fn programs_are_found_on_the_task_path() {
        let mut direct = direct();
        let found = direct.program("sh -n 'a b'", Some(OsStr::new("/usr/bin:/bin"))).expect("simple");
        assert!(found.program.is_absolute() && found.program.ends_with("sh"));
        assert_eq!(found.arg0.as_deref(), Some(OsStr::new("sh")));
        assert_eq!(found.args, [OsString::from("-n"), OsString::from("a b")]);
        // A different PATH is looked up again, not served from the first answer.
        assert!(direct.program("sh", Some(OsStr::new("/nonexistent"))).is_none());
        assert!(direct.program("volley-no-such-program x", None).is_none());
        assert!(direct.program("sh", Some(OsStr::new("/usr/bin::/bin"))).is_none());
        assert!(direct.program("sh", Some(OsStr::new("bin:/usr/bin:/bin"))).is_none());
        assert!(direct.program("echo $HOME", None).is_none());
    }

    #[test]
    fn the_words_are_the_ones_sh_would_pass() {
        for command in [
            "/usr/bin/printf '<%s>' 'a  b' c",
            "/usr/bin/printf '<%s>' x 'it''s' -n",
            "/usr/bin/printf '<%s>' '' a'b c'd",
        ] {
            let found = direct().program(command, None).expect("simple");
            let ours = std::process::Command::new(found.program).args(found.args).output().expect("direct");
            let shell = std::process::Command::new("sh").arg("-c").arg(command).output().expect("sh");
            assert_eq!(ours.stdout, shell.stdout, "{command:?}");
            assert!(!ours.stdout.is_empty());
        }
    }
}
