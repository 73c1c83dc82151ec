//! PID files: `<state_dir>/pids/<name>.pid` holds `<pid> <start time>` of each running
//! service process, so `volley status` can tell a live service from a stale file and
//! never signals a process that merely reused the pid (its start time differs).

use std::path::{Path, PathBuf};

/// The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(crate::logs::file_name(name)).with_extension("pid")
}

pub fn write(dir: &Path, name: &str, pid: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let start = start_time(pid).unwrap_or(0);
    std::fs::write(path(dir, name), format!("{pid} {start}\n"))
}

pub fn remove(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(path(dir, name));
}

/// A recorded service process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    pub path: PathBuf,
    pub pid: u32,
    pub start: u64,
}

impl PidFile {
    /// The recorded process is still the one running under that pid.
    pub fn is_ours(&self) -> bool {
        self.start != 0 && start_time(self.pid) == Some(self.start)
    }
}

pub fn read_all(dir: &Path) -> Vec<PidFile> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pid"))
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let mut parts = text.split_whitespace();
            let pid = parts.next()?.parse().ok()?;
            let start = parts.next()?.parse().ok()?;
            Some(PidFile { path, pid, start })
        })
        .collect()
}

/// With no supervisor running, every PID file is left over. Files whose process is
/// gone (or whose pid now belongs to another process) are removed; the ones whose
/// process is still ours (same pid and start time: an orphan of a supervisor that
/// died with its watchdog) are returned, and with `kill` their groups are killed
/// and their files removed too. Returns (files removed, orphans).
pub fn clean_stale(dir: &Path, kill: bool) -> (usize, Vec<PidFile>) {
    let mut removed = 0;
    let mut orphans = Vec::new();
    for file in read_all(dir) {
        if file.is_ours() {
            if !kill {
                orphans.push(file);
                continue;
            }
            let _ = crate::exec::signal_group(file.pid, libc::SIGKILL);
            orphans.push(file.clone());
        }
        if std::fs::remove_file(&file.path).is_ok() {
            removed += 1;
        }
    }
    (removed, orphans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_pid_is_not_ours() {
        let dir = tempfile::tempdir().expect("dir");
        let me = std::process::id();
        write(dir.path(), "svc", me).expect("write");
        let files = read_all(dir.path());
        assert_eq!(files.len(), 1);
        assert!(files[0].is_ours());
        let other = PidFile { start: files[0].start + 1, ..files[0].clone() };
        assert!(!other.is_ours(), "same pid, other start time");
        remove(dir.path(), "svc");
        assert!(read_all(dir.path()).is_empty());
    }

    #[test]
    fn stale_files_of_strangers_are_removed_without_signals() {
        let dir = tempfile::tempdir().expect("dir");
        // Our own pid with a wrong start time: must not be signalled.
        std::fs::write(dir.path().join("x.pid"), format!("{} 1\n", std::process::id())).expect("write");
        assert_eq!(clean_stale(dir.path(), true), (1, Vec::new()));
    }
}
