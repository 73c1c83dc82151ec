//! Signal delivery to whole process groups.
//!
//! Every task runs in its own process group whose id is the leader's pid, so one
//! `killpg` reaches the shell and everything it started (except processes that
//! called `setsid`/`setpgid` to leave the group: a documented limitation).
//! `ESRCH` (the group is empty) is the normal end of a group and is not an error.

use std::io;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// Sends `signal` to process group `pgid`. Returns `Ok(false)` if the group no longer
/// exists. Refuses pgid 0 and 1 (our own group and "every process").
pub fn signal_group(pgid: u32, signal: i32) -> io::Result<bool> {
    let Some(group) = i32::try_from(pgid).ok().filter(|p| *p > 1).and_then(Pid::from_raw) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal process group {pgid}"),
        ));
    };
    let result = match Signal::from_named_raw(signal) {
        Some(sig) => rustix::process::kill_process_group(group, sig),
        None if signal == 0 => rustix::process::test_kill_process_group(group),
        None => {
            // Realtime signals have no rustix name.
            // SAFETY: kill(2) takes no pointers; a negative pid addresses the group.
            let r = unsafe { libc::kill(-group.as_raw_nonzero().get(), signal) };
            if r == 0 {
                Ok(())
            } else {
                Err(Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::INVAL))
            }
        }
    };
    match result {
        Ok(()) => Ok(true),
        Err(Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dangerous_group_ids() {
        assert!(signal_group(0, libc::SIGKILL).is_err());
        assert!(signal_group(1, libc::SIGKILL).is_err());
        assert!(signal_group(u32::MAX, libc::SIGKILL).is_err());
    }

    #[test]
    fn missing_group_is_not_an_error() {
        // pid_max is at most 2^22 on Linux, so this group cannot exist.
        assert!(!signal_group(i32::MAX as u32, libc::SIGTERM).expect("signal"));
        assert!(!signal_group(i32::MAX as u32, 0).expect("probe"));
    }
}
