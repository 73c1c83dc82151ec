//! Waiting for one child's exit and reaping it with its resource usage.
//!
//! Invariants:
//! - Exactly one waiter per pid, and only for pids we spawned: `wait4(pid)`, never
//!   `waitpid(-1)`, and SIGCHLD is never set to `SIG_IGN` (either would steal statuses).
//! - Waiting and reaping are separate steps. [`ExitWaiter::exited`] learns that the
//!   leader is gone (a pidfd becoming readable, or `waitid(WNOWAIT)` on a helper
//!   thread where pidfds are unavailable) and how it ended, with its CPU time, from
//!   `waitid(WNOWAIT)`, which leaves it a zombie: its pid, and so the process group
//!   id, cannot be reused until [`reap`] is called. The caller reports the exit at
//!   once and signals the group afterwards without risk of hitting a stranger.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr;

use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use volley_core::event::AttemptEnd;

/// How a reaped process ended, with the CPU time it and its waited-for descendants used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub end: AttemptEnd,
    pub cpu_user_us: u64,
    pub cpu_system_us: u64,
}

/// Learns when a child has exited, and how, without reaping it.
pub struct ExitWaiter {
    pid: Pid,
    how: Notice,
}

enum Notice {
    Pidfd(AsyncFd<OwnedFd>),
    /// Fallback: a helper thread blocked in `waitid(WNOWAIT)`.
    Thread(oneshot::Receiver<()>),
}

impl ExitWaiter {
    /// Waits on `pidfd` if the spawn gave one, else opens one for `pid`. Must be
    /// called inside a tokio runtime (the pidfd is registered with it).
    pub fn new(pid: Pid, pidfd: Option<OwnedFd>) -> io::Result<Self> {
        if let Some(fd) =
            pidfd.map_or_else(|| rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok(), Some)
        {
            // SAFETY: the `OwnedFd` moves into the `AsyncFd`, which alone keeps it open
            // (it is never taken out) until the registration is dropped.
            if let Ok(fd) = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                return Ok(ExitWaiter { pid, how: Notice::Pidfd(fd) });
            }
        }
        Self::thread(pid)
    }

    /// The portable fallback: a helper thread blocked in `waitid(WNOWAIT)`.
    pub fn thread(pid: Pid) -> io::Result<Self> {
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new().name(format!("wait-{}", pid.as_raw_nonzero())).spawn(move || {
            // Stops once it has exited, or is not our child any more (ECHILD).
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
            while let Err(rustix::io::Errno::INTR) = rustix::process::waitid(WaitId::Pid(pid), options) {}
            let _ = tx.send(());
        })?;
        Ok(ExitWaiter { pid, how: Notice::Thread(rx) })
    }

    /// Resolves once the child has exited, with how it ended; it is then a zombie
    /// until [`reap`], so that its process group id stays its own. Cancel-safe.
    pub async fn exited(&mut self) -> Reaped {
        match &mut self.how {
            Notice::Pidfd(fd) => {
                while let Ok(mut ready) = fd.readable().await {
                    // Confirm before trusting the readiness.
                    match peek(Target::Pidfd(ready.get_inner().as_fd()), false) {
                        Ok(Some(ended)) => return ended,
                        Ok(None) => ready.clear_ready(),
                        Err(e) => return lost(Some(e)),
                    }
                }
            }
            Notice::Thread(rx) => {
                let _ = rx.await;
            }
        }
        // The helper thread has seen the exit (or lost the child), or the pidfd can no
        // longer be awaited (the runtime is shutting down): ask, waiting if need be.
        match peek(Target::Pid(self.pid), true) {
            Ok(Some(ended)) => ended,
            Ok(None) => lost(None),
            Err(e) => lost(Some(e)),
        }
    }
}

/// A child to [`peek`] at.
#[derive(Clone, Copy)]
enum Target<'a> {
    Pidfd(BorrowedFd<'a>),
    Pid(Pid),
}

/// How `target` ended and the CPU time it used, if it has exited, leaving it a
/// zombie (`WNOWAIT`). The kernel fills in the resource usage it would give `wait4`;
/// glibc's `waitid` does not pass that fifth argument, so this is the system call.
/// `block`: wait for the exit instead of returning `None` while it runs.
fn peek(target: Target<'_>, block: bool) -> io::Result<Option<Reaped>> {
    let (idtype, id) = match target {
        Target::Pidfd(fd) => (libc::P_PIDFD, fd.as_raw_fd().unsigned_abs()),
        Target::Pid(pid) => (libc::P_PID, pid.as_raw_nonzero().get().unsigned_abs()),
    };
    let options = libc::WEXITED | libc::WNOWAIT | if block { 0 } else { libc::WNOHANG };
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    loop {
        // SAFETY: `info` and `usage` are valid, writable and live for the call; the
        // kernel writes within them.
        let r = unsafe {
            libc::syscall(libc::SYS_waitid, idtype, id, info.as_mut_ptr(), options, usage.as_mut_ptr())
        };
        if r == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: both are plain integers (and unions of them), valid when all-zero; the
    // kernel filled them in on success.
    let (info, usage) = unsafe { (info.assume_init(), usage.assume_init()) };
    // SAFETY: for a `waitid` result, the pid and status are the fields the kernel set.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let end = if info.si_code == libc::CLD_EXITED {
        AttemptEnd::Exited { code: status }
    } else {
        AttemptEnd::Signaled { signal: status }
    };
    Ok(Some(Reaped {
        end,
        cpu_user_us: timeval_us(usage.ru_utime),
        cpu_system_us: timeval_us(usage.ru_stime),
    }))
}

/// Someone else reaped our child (a stray `waitpid(-1)` elsewhere): the status is gone.
fn lost(err: Option<io::Error>) -> Reaped {
    let why = err.map_or_else(|| "no status".to_owned(), |e| e.to_string());
    Reaped {
        end: AttemptEnd::SpawnFailed { message: format!("exit status lost: {why}") },
        cpu_user_us: 0,
        cpu_system_us: 0,
    }
}

/// Reaps `pid`, whose end [`ExitWaiter::exited`] has already told (or which is being
/// given up), with `wait4`; returns whether it had exited (`nohang`: `false` if not).
pub fn reap(pid: Pid, nohang: bool) -> io::Result<bool> {
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: null status and usage pointers are allowed: nothing is written back.
        let r = unsafe { libc::wait4(pid.as_raw_nonzero().get(), ptr::null_mut(), flags, ptr::null_mut()) };
        match r {
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            0 => return Ok(false),
            _ => return Ok(true),
        }
    }
}

fn timeval_us(t: libc::timeval) -> u64 {
    (t.tv_sec as u64).saturating_mul(1_000_000).saturating_add(t.tv_usec as u64)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::*;

    /// Runs `script` in its own group and returns how the waiter saw its end, then how
    /// `wait4` did when reaping it.
    #[allow(clippy::zombie_processes)] // reaped by `wait4_with_usage`, not by `Child::wait`
    fn waits_then_reaps(script: &str, thread: bool) -> (Reaped, Reaped) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let child = Command::new("sh").args(["-c", script]).process_group(0).spawn().expect("spawn");
            let pid = Pid::from_child(&child);
            let mut waiter =
                if thread { ExitWaiter::thread(pid) } else { ExitWaiter::new(pid, None) }.expect("waiter");
            let seen = waiter.exited().await;
            // Exited but not reaped: the zombie still holds the pid.
            assert!(std::fs::metadata(format!("/proc/{}", child.id())).is_ok());
            (seen, wait4_with_usage(pid))
        })
    }

    /// What the waiter is checked against: `wait4`'s own status and resource usage.
    fn wait4_with_usage(pid: Pid) -> Reaped {
        let mut status: libc::c_int = 0;
        let mut usage = MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `status` and `usage` are valid and writable for the call.
        let r = unsafe { libc::wait4(pid.as_raw_nonzero().get(), &raw mut status, 0, usage.as_mut_ptr()) };
        assert_eq!(r, pid.as_raw_nonzero().get(), "wait4: {}", io::Error::last_os_error());
        // SAFETY: wait4 filled it in; all-zero integers were valid anyway.
        let usage = unsafe { usage.assume_init() };
        let end = if libc::WIFSIGNALED(status) {
            AttemptEnd::Signaled { signal: libc::WTERMSIG(status) }
        } else {
            AttemptEnd::Exited { code: libc::WEXITSTATUS(status) }
        };
        Reaped { end, cpu_user_us: timeval_us(usage.ru_utime), cpu_system_us: timeval_us(usage.ru_stime) }
    }

    #[test]
    fn pidfd_waiter_learns_how_it_ended_without_reaping() {
        let (seen, reaped) = waits_then_reaps("exit 5", false);
        assert_eq!(seen.end, AttemptEnd::Exited { code: 5 });
        assert_eq!(seen, reaped);
    }

    #[test]
    fn thread_waiter_learns_how_it_ended_without_reaping() {
        let (seen, reaped) = waits_then_reaps("exit 5", true);
        assert_eq!(seen.end, AttemptEnd::Exited { code: 5 });
        assert_eq!(seen, reaped);
    }

    #[test]
    fn the_waiter_sees_a_signal_and_the_cpu_time_that_wait4_reports() {
        let (seen, reaped) =
            waits_then_reaps("i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; kill -9 $$", false);
        assert_eq!(seen.end, AttemptEnd::Signaled { signal: libc::SIGKILL });
        assert!(seen.cpu_user_us + seen.cpu_system_us > 0, "{seen:?}");
        assert_eq!(seen, reaped);
    }

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by `reap`, not by `Child::wait`
    fn reap_leaves_a_running_child_and_collects_it_once_exited() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("spawn");
        let pid = Pid::from_child(&child);
        assert!(!reap(pid, true).expect("wait4"), "still running");
        child.kill().expect("kill");
        assert!(reap(pid, false).expect("wait4"));
        assert!(std::fs::metadata(format!("/proc/{}", child.id())).is_err(), "the zombie is gone");
    }

    #[test]
    fn reaping_a_stranger_fails() {
        assert!(reap(Pid::from_raw(i32::MAX).expect("pid"), true).is_err());
    }
}
