//! Starting one attempt's process with `posix_spawn`.
//!
//! What std's `Command` does on its `posix_spawn` path, minus the per-spawn copies of
//! the environment (see [`Environment`]) and of the `/dev/null` descriptor: the child
//! gets its own process group, `/dev/null` as stdin, fresh pipes as stdout and
//! stderr, the working directory `dir`, an empty signal mask and `SIGPIPE` back at
//! its default (volley ignores it, and an ignored signal stays ignored across
//! `exec`). glibc resets every signal handler in the child before `exec` and
//! reports `exec` failures as the call's result, as std relies on too.

use std::ffi::{CString, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::Pid;

use super::environment::Environment;

/// A started process: its pid (also its process group id) and the read ends of its
/// stdout and stderr.
pub struct Spawned {
    pub pid: Pid,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Runs `program` (a path) with `argv` (`argv[0]` included) in `dir`.
pub fn spawn(
    program: &Path,
    argv: &[impl AsRef<OsStr>],
    env: &Environment,
    dir: &Path,
    stdin: BorrowedFd<'_>,
) -> io::Result<Spawned> {
    if let Some(name) = env.unpassable() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("environment variable {} contains a NUL byte", name.to_string_lossy()),
        ));
    }
    let program = c_string(program.as_os_str())?;
    let dir = c_string(dir.as_os_str())?;
    let argv = argv.iter().map(|a| c_string(a.as_ref())).collect::<io::Result<Vec<_>>>()?;
    let argv_ptrs: Vec<*mut libc::c_char> =
        argv.iter().map(|a| a.as_ptr().cast_mut()).chain([ptr::null_mut()]).collect();
    let envp: Vec<*mut libc::c_char> =
        env.entries().map(|e| e.as_ptr().cast_mut()).chain([ptr::null_mut()]).collect();
    let (stdout, stdout_child) = pipe_with(PipeFlags::CLOEXEC)?;
    let (stderr, stderr_child) = pipe_with(PipeFlags::CLOEXEC)?;

    let actions = FileActions::new()?;
    actions.dup2(stdin.as_raw_fd(), 0)?;
    actions.dup2(stdout_child.as_raw_fd(), 1)?;
    actions.dup2(stderr_child.as_raw_fd(), 2)?;
    actions.chdir(&dir)?;
    let attributes = Attributes::new()?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: the C strings and pointer arrays
    // (each ending in a null pointer) outlive it, and the actions and attributes were
    // initialised by their constructors.
    let result = unsafe {
        libc::posix_spawn(
            &raw mut pid,
            program.as_ptr(),
            &raw const actions.0,
            &raw const attributes.0,
            argv_ptrs.as_ptr(),
            envp.as_ptr(),
        )
    };
    check(result)?;
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("posix_spawn returned no pid"))?;
    Ok(Spawned { pid, stdout, stderr })
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} contains a NUL byte", s.to_string_lossy()))
    })
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(result)) }
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<FileActions> {
        let mut actions = MaybeUninit::uninit();
        // SAFETY: init writes the whole value before it is read.
        check(unsafe { libc::posix_spawn_file_actions_init(actions.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        Ok(FileActions(unsafe { actions.assume_init() }))
    }

    fn dup2(&self, fd: libc::c_int, target: libc::c_int) -> io::Result<()> {
        // SAFETY: the actions are initialised; glibc only records the numbers. Its
        // child clears close-on-exec when `fd == target`.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(self.as_ptr(), fd, target) })
    }

    fn chdir(&self, dir: &CString) -> io::Result<()> {
        // SAFETY: the actions are initialised; glibc copies the path.
        check(unsafe { libc::posix_spawn_file_actions_addchdir_np(self.as_ptr(), dir.as_ptr()) })
    }

    fn as_ptr(&self) -> *mut libc::posix_spawn_file_actions_t {
        (&raw const self.0).cast_mut()
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&raw mut self.0) };
    }
}

struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    /// Own process group, empty signal mask, `SIGPIPE` at its default.
    fn new() -> io::Result<Attributes> {
        let mut attributes = MaybeUninit::uninit();
        // SAFETY: init writes the whole value before it is read.
        check(unsafe { libc::posix_spawnattr_init(attributes.as_mut_ptr()) })?;
        // SAFETY: initialised just above; from here `Drop` destroys it.
        let mut attributes = Attributes(unsafe { attributes.assume_init() });
        let attr = &raw mut attributes.0;
        // SAFETY: `attr` is initialised; the signal sets are initialised by
        // `sigemptyset` before use.
        unsafe {
            let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(empty.as_mut_ptr());
            let empty = empty.assume_init();
            let mut pipe_only = empty;
            libc::sigaddset(&raw mut pipe_only, libc::SIGPIPE);
            check(libc::posix_spawnattr_setpgroup(attr, 0))?;
            check(libc::posix_spawnattr_setsigmask(attr, &raw const empty))?;
            check(libc::posix_spawnattr_setsigdefault(attr, &raw const pipe_only))?;
            #[allow(clippy::cast_possible_truncation)] // the flags fit a c_short by definition
            let flags = (libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
            check(libc::posix_spawnattr_setflags(attr, flags))?;
        }
        Ok(attributes)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&raw mut self.0) };
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    fn run(program: &str, argv: &[&str], env: &Environment, dir: &Path) -> io::Result<(String, i32)> {
        let null = std::fs::File::open("/dev/null")?;
        let spawned = spawn(Path::new(program), argv, env, dir, null.as_fd())?;
        let mut out = String::new();
        std::fs::File::from(spawned.stdout).read_to_string(&mut out)?;
        let status = rustix::process::waitpid(Some(spawned.pid), rustix::process::WaitOptions::empty())?
            .and_then(|(_, s)| s.exit_status())
            .unwrap_or(-1);
        Ok((out, status))
    }

    #[test]
    fn the_child_gets_exactly_the_environment() {
        let mut env = Environment::new([("ONLY", "this")]);
        env.set("AND", "that");
        let (out, status) = run("/usr/bin/env", &["env"], &env, Path::new("/")).expect("spawn");
        assert_eq!((out.as_str(), status), ("ONLY=this\nAND=that\n", 0));
    }

    #[test]
    fn the_child_gets_argv_as_given_the_directory_and_its_own_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = "echo \"$(tr '\\0' '\\n' < /proc/$$/cmdline | head -1)|$0|$1|$(pwd -P)\"; \
                      [ \"$(cut -d' ' -f5 /proc/$$/stat)\" = $$ ] && exit 7";
        let env = Environment::new([("PATH", "/usr/bin:/bin")]);
        let (out, status) =
            run("/bin/sh", &["sh-as-typed", "-c", script, "zero", "one"], &env, dir.path()).expect("spawn");
        let pwd = dir.path().canonicalize().expect("canonical");
        assert_eq!(out, format!("sh-as-typed|zero|one|{}\n", pwd.display()));
        assert_eq!(status, 7, "the child leads its own process group");
    }

    #[test]
    fn sigpipe_is_back_at_its_default_and_the_mask_empty() {
        let env = Environment::new([("PATH", "/usr/bin:/bin")]);
        let (out, _) = run(
            "/bin/sh",
            &["sh", "-c", "grep -E '^(SigBlk|SigIgn)' /proc/self/status"],
            &env,
            Path::new("/"),
        )
        .expect("spawn");
        for line in out.lines() {
            let mask = u64::from_str_radix(line.split_whitespace().nth(1).expect("mask"), 16).expect("hex");
            if line.starts_with("SigBlk") {
                assert_eq!(mask, 0, "{line}");
            } else {
                assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE ignored: {line}");
            }
        }
    }

    #[test]
    fn failures_to_start_are_errors_not_children() {
        let env = Environment::default();
        let missing = run("/nonexistent/program", &["x"], &env, Path::new("/")).expect_err("missing program");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let no_dir = run("/bin/sh", &["sh"], &env, Path::new("/nonexistent-dir")).expect_err("missing dir");
        assert_eq!(no_dir.kind(), io::ErrorKind::NotFound);
        let bad = Environment::new([("BAD", "a\0b")]);
        let nul = run("/bin/sh", &["sh"], &bad, Path::new("/")).expect_err("NUL in env");
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
        assert!(nul.to_string().contains("BAD"), "{nul}");
    }
}
