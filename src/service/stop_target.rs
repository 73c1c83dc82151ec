//! Whom a service's stop signal goes to.
//!
//! A service runs as `sh -c "<run>"`. Some shells `exec` a lone command, so the
//! leader of the process group *is* the service; others stay as a parent that
//! waits. A waiting shell dies at once on SIGTERM, and then the executor ends the
//! attempt (and kills the rest of the group after a short drain), which would cut the
//! service's own graceful shutdown short. So while the leader is still our shell,
//! the stop signal goes to the shell's children — the commands of `run` — and the
//! shell exits when they have; otherwise it goes to the whole group, as for tasks.
//! A shell that outlives the children it was waiting for (a `while` loop in `run`,
//! which starts the next command instead of exiting) gets the stop signal too, with
//! its whole group, [`SHELL_GRACE`] after they are gone. Either way the whole group
//! gets SIGKILL after `stop_timeout`.

use std::path::Path;
use std::time::Duration;

/// How long a waiting shell may take to exit after the children it waited for have.
pub const SHELL_GRACE: Duration = Duration::from_millis(100);

/// The pids to signal individually, or empty to signal the whole group.
pub fn wrapper_children(leader: u32, shell: &Path) -> Vec<u32> {
    let exe = std::fs::read_link(format!("/proc/{leader}/exe")).ok();
    let shell = std::fs::canonicalize(shell).ok();
    if exe.is_none() || exe != shell {
        return Vec::new();
    }
    // A shell is single-threaded: its one task lists all its children.
    std::fs::read_to_string(format!("/proc/{leader}/task/{leader}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether any of `children` is still a child of `leader` (a child stays listed until
/// the shell has reaped it).
pub fn any_still_running(leader: u32, children: &[u32]) -> bool {
    let listed =
        std::fs::read_to_string(format!("/proc/{leader}/task/{leader}/children")).unwrap_or_default();
    listed.split_whitespace().filter_map(|p| p.parse::<u32>().ok()).any(|p| children.contains(&p))
}

/// Sends `signal` to one process; a process that is gone already is no error.
pub fn signal_process(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes no pointers. The pid was read from our own group's
    // leader's children a moment ago; a child is not reaped (so its pid cannot be
    // reused) until that leader waits for it.
    unsafe {
        libc::kill(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_waiting_shell_is_skipped_for_its_children() {
        let shell = crate::exec::resolve_program("sh", None).expect("sh");
        // `sleep` twice so the shell cannot exec the last command.
        let mut child = Command::new(&shell).args(["-c", "sleep 30; sleep 30"]).spawn().expect("spawn sh");
        let pid = child.id();
        let mut children = Vec::new();
        for _ in 0..100 {
            children = wrapper_children(pid, &shell);
            if !children.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(children.len(), 1, "the sleep under the shell");
        assert!(wrapper_children(pid, Path::new("/bin/true")).is_empty(), "not our shell: whole group");
        for c in children {
            signal_process(c, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
