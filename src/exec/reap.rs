//! Waiting for one child's exit and reaping it with its resource usage.
//!
//! Invariants:
//! - Exactly one waiter per pid, and only for pids we spawned: `wait4(pid)`, never
//!   `waitpid(-1)`, and SIGCHLD is never set to `SIG_IGN` (either would steal statuses).
//! - Waiting and reaping are separate steps. [`ExitWaiter::exited`] only learns that
//!   the leader is gone (a pidfd becoming readable, or `waitid(WNOWAIT)` on a helper
//!   thread where pidfds are unavailable); the zombie keeps the pid, and so the process
//!   group id, from being reused until [`reap`] is called. The caller signals the group
//!   in between without risk of hitting a stranger.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

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

/// Learns when a child has exited, without reaping it.
pub enum ExitWaiter {
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
                return Ok(ExitWaiter::Pidfd(fd));
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
        Ok(ExitWaiter::Thread(rx))
    }

    /// Resolves once the child has exited (it is then a zombie until [`reap`]).
    /// Cancel-safe.
    pub async fn exited(&mut self) {
        match self {
            ExitWaiter::Pidfd(fd) => loop {
                let Ok(mut ready) = fd.readable().await else { return };
                // Confirm, without reaping, before trusting the readiness.
                let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
                match rustix::process::waitid(WaitId::PidFd(ready.get_inner().as_fd()), options) {
                    Ok(None) | Err(rustix::io::Errno::INTR) => ready.clear_ready(),
                    _ => return,
                }
            },
            ExitWaiter::Thread(rx) => {
                let _ = rx.await;
            }
        }
    }
}

/// Reaps `pid` with `wait4`, returning `None` if it has not exited yet (`nohang`).
pub fn reap(pid: Pid, nohang: bool) -> io::Result<Option<Reaped>> {
    let mut status: libc::c_int = 0;
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: `status` and `usage` are valid, writable and live for the call; wait4
        // only writes within them.
        let r =
            unsafe { libc::wait4(pid.as_raw_nonzero().get(), &raw mut status, flags, usage.as_mut_ptr()) };
        match r {
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            0 => return Ok(None),
            _ => break,
        }
    }
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are valid; wait4
    // filled it on success.
    let usage = unsafe { usage.assume_init() };
    let end = if libc::WIFSIGNALED(status) {
        AttemptEnd::Signaled { signal: libc::WTERMSIG(status) }
    } else {
        AttemptEnd::Exited { code: libc::WEXITSTATUS(status) }
    };
    Ok(Some(Reaped {
        end,
        cpu_user_us: timeval_us(usage.ru_utime),
        cpu_system_us: timeval_us(usage.ru_stime),
    }))
}

fn timeval_us(t: libc::timeval) -> u64 {
    (t.tv_sec as u64).saturating_mul(1_000_000).saturating_add(t.tv_usec as u64)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::*;

    #[allow(clippy::zombie_processes)] // reaped by `reap`, not by `Child::wait`
    fn waits_and_reaps(thread: bool) -> Reaped {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let child = Command::new("sh").args(["-c", "exit 5"]).process_group(0).spawn().expect("spawn");
            let pid = Pid::from_child(&child);
            let mut waiter =
                if thread { ExitWaiter::thread(pid) } else { ExitWaiter::new(pid, None) }.expect("waiter");
            waiter.exited().await;
            // Exited but not reaped: the zombie still holds the pid.
            assert!(std::fs::metadata(format!("/proc/{}", child.id())).is_ok());
            reap(pid, true).expect("wait4").expect("exited")
        })
    }

    #[test]
    fn pidfd_waiter_learns_of_exit_without_reaping() {
        assert_eq!(waits_and_reaps(false).end, AttemptEnd::Exited { code: 5 });
    }

    #[test]
    fn thread_waiter_learns_of_exit_without_reaping() {
        assert_eq!(waits_and_reaps(true).end, AttemptEnd::Exited { code: 5 });
    }

    #[test]
    fn reaping_a_stranger_fails() {
        assert!(reap(Pid::from_raw(i32::MAX).expect("pid"), true).is_err());
    }
}
