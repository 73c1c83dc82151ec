//! Starting an attempt's process: `clone(CLONE_VM | CLONE_VFORK)` and `execve`, as
//! glibc's `posix_spawn` does, minus what made that cost twice as much per spawn here
//! (docs/design/runner.md): a fresh stack mapped and unmapped for every child (the
//! unmap interrupts volley's other threads to flush their TLBs), a `getrlimit` per
//! file action, and a reset loop that asks the kernel about all 64 signals in the
//! child while volley waits. The child reuses one stack and resets only the signals
//! volley catches ([`CAUGHT`]); a debug assertion checks that list against the
//! process's real dispositions at every spawn of the test suite.
//!
//! The child gets its own process group, the given stdin, stdout and stderr, the
//! working directory `dir`, an empty signal mask and `SIGPIPE` back at its default
//! (volley ignores it, and an ignored signal stays ignored across `exec`). Two system
//! calls are spared on the path where volley waits for each child: the pidfd comes
//! with the `clone` (`CLONE_PIDFD`) instead of a `pidfd_open` after it, and a child
//! whose `dir` is volley's own working directory inherits it instead of calling
//! `chdir` (volley never changes its working directory). It shares volley's memory
//! until `execve`, so it runs only plain system calls on data prepared beforehand,
//! with every signal but `SIGCHLD` blocked until the last step; `CLONE_VFORK` keeps
//! the calling thread suspended until then, so a failure's errno can be left in
//! shared memory.

use std::ffi::{CString, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::process::Pid;

use super::environment::Environment;

/// Signals volley or its libraries install handlers for, plus `SIGPIPE`, which
/// Rust's runtime ignores: tokio's `INT`, `TERM` and `HUP` (run loop, `volley up`)
/// and std's `SEGV` and `BUS` (stack overflow reports). A handler must not run in
/// the child, which shares volley's memory; a new one fails the debug assertion.
const CAUGHT: [libc::c_int; 6] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGSEGV, libc::SIGBUS, libc::SIGPIPE];

/// The child's stack: small, since it only makes system calls.
const STACK_SIZE: usize = 64 * 1024;

/// Starts processes from one thread at a time (`&mut self`), reusing one stack.
pub struct Spawner {
    stack: Stack,
    /// volley's working directory, which a child with that `dir` keeps without `chdir`.
    cwd: Option<CString>,
    /// Whether to ask `clone` for a pidfd; cleared when the kernel refuses (before 5.2).
    clone_pidfd: bool,
}

/// A started child.
pub struct Spawned {
    /// Its pid, which is also its process group id.
    pub pid: Pid,
    /// A pidfd for it, when the kernel gave one with the `clone`.
    pub pidfd: Option<OwnedFd>,
}

impl Spawner {
    pub fn new() -> io::Result<Spawner> {
        let cwd = std::env::current_dir().ok().and_then(|dir| c_string(dir.as_os_str()).ok());
        Ok(Spawner { stack: Stack::new()?, cwd, clone_pidfd: true })
    }

    /// Runs `program` (a path) with `argv` (`argv[0]` included) in `dir`, with
    /// `stdio` as its descriptors 0, 1 and 2.
    pub fn spawn(
        &mut self,
        program: &Path,
        argv: &[impl AsRef<OsStr>],
        env: &Environment,
        dir: &Path,
        stdio: [BorrowedFd<'_>; 3],
    ) -> io::Result<Spawned> {
        if let Some(name) = env.unpassable() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("environment variable {} contains a NUL byte", name.to_string_lossy()),
            ));
        }
        debug_assert_caught_covers_every_handler();
        let program = c_string(program.as_os_str())?;
        let dir = c_string(dir.as_os_str())?;
        let argv = argv.iter().map(|a| c_string(a.as_ref())).collect::<io::Result<Vec<_>>>()?;
        let argv_ptrs: Vec<*const libc::c_char> =
            argv.iter().map(|a| a.as_ptr()).chain([ptr::null()]).collect();
        // Sized up front: a filtered iterator gives `collect` no length, and growing
        // to a usual environment's size took five reallocations per spawn.
        let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(env.len_at_most() + 1);
        envp.extend(env.entries().map(std::ffi::CStr::as_ptr).chain([ptr::null()]));
        // The child's `dup2`s must not overwrite a source before using it, which only
        // a source below 3 could (volley started with a standard descriptor closed).
        let [input, output, errors] = stdio;
        let sources = [above_stdio(input)?, above_stdio(output)?, above_stdio(errors)?];

        let child = Child {
            program: program.as_ptr(),
            argv: argv_ptrs.as_ptr(),
            envp: envp.as_ptr(),
            dir: if self.cwd.as_ref() == Some(&dir) { ptr::null() } else { dir.as_ptr() },
            stdio: [sources[0].raw(), sources[1].raw(), sources[2].raw()],
            default_action: default_action(),
            empty_mask: empty_mask(),
            error: AtomicI32::new(0),
        };
        let spawned = match self.stack.run(&child, self.clone_pidfd) {
            Err(error) if self.clone_pidfd && error.raw_os_error() == Some(libc::EINVAL) => {
                self.clone_pidfd = false;
                self.stack.run(&child, false)?
            }
            started => started?,
        };
        let error = child.error.load(Ordering::Acquire);
        if error != 0 {
            // It has exited: reap it so that no zombie is left.
            let _ = rustix::process::waitpid(Some(spawned.pid), rustix::process::WaitOptions::empty());
            return Err(io::Error::from_raw_os_error(error));
        }
        Ok(spawned)
    }
}

/// Everything the child needs, prepared by the parent: the child may not allocate.
struct Child {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// Null: stay in volley's working directory.
    dir: *const libc::c_char,
    stdio: [libc::c_int; 3],
    default_action: libc::sigaction,
    empty_mask: libc::sigset_t,
    /// The errno of the step that failed; 0 if `execve` succeeded.
    error: AtomicI32,
}

/// Runs in the child, on [`Stack`], sharing volley's memory: system calls only.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the `Child` that `Stack::run` borrows for the whole
    // life of this function (the parent is suspended until `execve` or exit).
    let child = unsafe { &*arg.cast::<Child>() };
    // SAFETY: plain system calls on descriptors, strings and structures the parent
    // prepared and keeps alive; no allocation, no locks, no unwinding.
    unsafe {
        let ok = libc::setpgid(0, 0) == 0
            && (0..3).all(|target| libc::dup2(child.stdio[target as usize], target) == target)
            && (child.dir.is_null() || libc::chdir(child.dir) == 0)
            && CAUGHT.iter().all(|&signal| {
                libc::sigaction(signal, &raw const child.default_action, ptr::null_mut()) == 0
            })
            && libc::sigprocmask(libc::SIG_SETMASK, &raw const child.empty_mask, ptr::null_mut()) == 0;
        if ok {
            libc::execve(child.program, child.argv, child.envp);
        }
        child.error.store(*libc::__errno_location(), Ordering::Release);
        libc::_exit(127)
    }
}

/// The child's stack: mapped once, with a guard page below it.
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    fn new() -> io::Result<Stack> {
        // SAFETY: a fresh private anonymous mapping, owned by `Stack` until `Drop`.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base };
        // SAFETY: the lowest page of our own mapping.
        if unsafe { libc::mprotect(base, page_size(), libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// Clones a child running [`child_main`] on this stack, with a pidfd if
    /// `with_pidfd`; returns once it has called `execve` successfully or exited.
    fn run(&mut self, child: &Child, with_pidfd: bool) -> io::Result<Spawned> {
        let mut pidfd: libc::c_int = -1;
        let flags = libc::CLONE_VM
            | libc::CLONE_VFORK
            | libc::SIGCHLD
            | if with_pidfd { libc::CLONE_PIDFD } else { 0 };
        // SAFETY: the stack top is inside our mapping and 16-byte aligned; `child`
        // outlives the call, which returns only after the child has left this stack.
        // Signals are blocked around `clone` so that no handler of volley's can run
        // in the child before it resets them. Not `SIGCHLD`, which has no handler
        // (the debug assertion holds every handler to `CAUGHT`): blocked, each exit
        // of another task during this window woke another thread of volley's only to
        // drop it; unblocked, the kernel drops it at once (tests/exec_signals.rs).
        let pid = unsafe {
            let top = self.base.cast::<u8>().add(STACK_SIZE).cast::<libc::c_void>();
            let mut all = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigfillset(all.as_mut_ptr());
            libc::sigdelset(all.as_mut_ptr(), libc::SIGCHLD);
            let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
            libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), previous.as_mut_ptr());
            // With `CLONE_PIDFD`, the kernel stores the pidfd (close-on-exec) where the
            // parent's thread id would go.
            let pid =
                libc::clone(child_main, top, flags, ptr::from_ref(child).cast_mut().cast(), &raw mut pidfd);
            let error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, previous.as_ptr(), ptr::null_mut());
            if pid < 0 {
                return Err(error);
            }
            pid
        };
        // SAFETY: a descriptor the kernel has just opened for us, owned by nobody else.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("clone returned no pid"))?;
        Ok(Spawned { pid, pidfd })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our mapping, no child uses it any more (`run` waited).
        unsafe { libc::munmap(self.base, STACK_SIZE) };
    }
}

// SAFETY: the mapping is owned exclusively and only used through `&mut self`.
unsafe impl Send for Stack {}

fn page_size() -> usize {
    rustix::param::page_size()
}

fn default_action() -> libc::sigaction {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask and no flags.
    unsafe { MaybeUninit::<libc::sigaction>::zeroed().assume_init() }
}

fn empty_mask() -> libc::sigset_t {
    let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set.
    unsafe {
        libc::sigemptyset(mask.as_mut_ptr());
        mask.assume_init()
    }
}

/// A descriptor numbered 3 or more: `fd` itself, or a close-on-exec duplicate.
enum Source<'a> {
    Borrowed(BorrowedFd<'a>),
    Duplicate(OwnedFd),
}

impl Source<'_> {
    fn raw(&self) -> libc::c_int {
        match self {
            Source::Borrowed(fd) => fd.as_raw_fd(),
            Source::Duplicate(fd) => fd.as_raw_fd(),
        }
    }
}

fn above_stdio(fd: BorrowedFd<'_>) -> io::Result<Source<'_>> {
    if fd.as_raw_fd() > 2 {
        Ok(Source::Borrowed(fd))
    } else {
        Ok(Source::Duplicate(rustix::io::fcntl_dupfd_cloexec(fd, 3)?))
    }
}

/// Every signal with a handler must be in [`CAUGHT`] (debug builds, so every test).
/// glibc's own 32 and 33 are sent only to threads of this process, never the child.
fn debug_assert_caught_covers_every_handler() {
    #[cfg(debug_assertions)]
    for signal in (1..32).chain(libc::SIGRTMIN()..=libc::SIGRTMAX()) {
        let mut action = default_action();
        // SAFETY: only reads the disposition.
        if unsafe { libc::sigaction(signal, ptr::null(), &raw mut action) } != 0 {
            continue;
        }
        let handled = action.sa_sigaction != libc::SIG_DFL && action.sa_sigaction != libc::SIG_IGN;
        assert!(!handled || CAUGHT.contains(&signal), "signal {signal} has a handler: add it to CAUGHT");
    }
}

fn c_string(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} contains a NUL byte", s.to_string_lossy()))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    fn run(program: &str, argv: &[&str], env: &Environment, dir: &Path) -> io::Result<(String, i32)> {
        let null = std::fs::File::open("/dev/null")?;
        let (out_read, out_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let stdio = [null.as_fd(), out_write.as_fd(), null.as_fd()];
        let pid = Spawner::new()?.spawn(Path::new(program), argv, env, dir, stdio)?.pid;
        drop(out_write);
        let mut out = String::new();
        std::fs::File::from(out_read).read_to_string(&mut out)?;
        let status = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())?
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
    fn a_child_in_volleys_own_directory_runs_there_too() {
        let cwd = std::env::current_dir().expect("cwd");
        let env = Environment::new([("PATH", "/usr/bin:/bin")]);
        let (out, status) = run("/bin/sh", &["sh", "-c", "pwd -P"], &env, &cwd).expect("spawn");
        assert_eq!(
            (out.trim_end(), status),
            (cwd.canonicalize().expect("canonical").to_str().expect("utf-8"), 0)
        );
    }

    #[test]
    fn the_clone_gives_a_pidfd_for_the_child() {
        let null = std::fs::File::open("/dev/null").expect("null");
        let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];
        let env = Environment::default();
        let spawned = Spawner::new()
            .expect("spawner")
            .spawn(Path::new("/bin/sh"), &["sh", "-c", "exit 3"], &env, Path::new("/"), stdio)
            .expect("spawn");
        let pidfd = spawned.pidfd.expect("Linux 5.2 or later gives a pidfd with the clone");
        let options = rustix::process::WaitIdOptions::EXITED;
        let status = rustix::process::waitid(rustix::process::WaitId::PidFd(pidfd.as_fd()), options)
            .expect("waitid")
            .expect("a status");
        assert_eq!(status.exit_status(), Some(3));
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
    fn a_standard_descriptor_as_source_is_moved_out_of_the_childs_way() {
        // Were volley started with stdout closed, a pipe could be fd 1, and the
        // child's `dup2(src, 0)` must not overwrite it before `dup2(it, 1)`.
        let stderr = std::io::stderr();
        let source = above_stdio(stderr.as_fd()).expect("duplicate");
        assert!(source.raw() > 2, "fd {}", source.raw());
        let (read, _write) = rustix::pipe::pipe().expect("pipe");
        assert_eq!(above_stdio(read.as_fd()).expect("as is").raw(), read.as_raw_fd());
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
