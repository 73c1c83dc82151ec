//! Old runs' task logs are removed: only the last `settings.keep_logs` runs keep
//! theirs (default [`DEFAULT_KEEP_LOGS`](volley_core::model::Settings::DEFAULT_KEEP_LOGS)).
//!
//! Each run's logs are a directory `<state_dir>/logs/<run-id>/`. Run ids start with
//! the run's start time to the second (`20261124-013700-ab12`), then a random part,
//! so runs are ordered by that time, then by when their directory was made.
//! `services/` holds the services' logs, which rotate on their own, and is
//! never touched. A run prunes at its start, on a thread of its own, and waits for
//! that thread at its end.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

/// The directory of the services' logs, beside the runs' directories.
const SERVICES: &str = "services";

/// The length of a run id's start time, `20261124-013700`.
const STARTED_TO_THE_SECOND: usize = 15;

/// Removes the log directories of all runs but the `keep` newest, counting the
/// running one (`current`, which may not exist yet). Returns how many it removed.
pub fn prune(logs_dir: &Path, current: &OsStr, keep: usize) -> io::Result<usize> {
    let mut runs: Vec<_> = match std::fs::read_dir(logs_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| e.file_name() != SERVICES && e.file_name() != current)
            .map(|e| {
                let made = e.metadata().and_then(|m| m.created().or_else(|_| m.modified())).ok();
                let name = e.file_name();
                let second =
                    name.as_encoded_bytes().iter().take(STARTED_TO_THE_SECOND).copied().collect::<Vec<u8>>();
                (second, made, name)
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    runs.sort();
    let others_kept = keep.saturating_sub(1);
    let old = runs.len().saturating_sub(others_kept);
    for (_, _, name) in &runs[..old] {
        std::fs::remove_dir_all(logs_dir.join(name))?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_newest_runs_and_the_services_stay() {
        let dir = tempfile::tempdir().expect("dir");
        for run in ["20261122-090000-aaaa", "20261123-100000-bbbb", "20261124-080000-cccc", "services"] {
            std::fs::create_dir_all(dir.path().join(run)).expect("mkdir");
            std::fs::write(dir.path().join(run).join("a.log"), "x\n").expect("write");
        }
        let removed = prune(dir.path(), OsStr::new("20261124-090000-dddd"), 2).expect("prune");
        assert_eq!(removed, 2);
        assert_eq!(names(dir.path()), ["20261124-080000-cccc", "services"]);
        assert_eq!(prune(dir.path(), OsStr::new("20261124-090000-dddd"), 2).expect("again"), 0);
    }

    #[test]
    fn runs_of_one_second_go_in_the_order_they_were_made() {
        let dir = tempfile::tempdir().expect("dir");
        for run in ["20261124-090000-ffff", "20261124-090000-0000"] {
            std::fs::create_dir_all(dir.path().join(run)).expect("mkdir");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(prune(dir.path(), OsStr::new("20261124-090001-aaaa"), 2).expect("prune"), 1);
        assert_eq!(names(dir.path()), ["20261124-090000-0000"], "the one made last stays");
    }

    #[test]
    fn the_running_one_is_never_removed_and_no_directory_is_no_error() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("20261124-090000-dddd")).expect("mkdir");
        assert_eq!(prune(dir.path(), OsStr::new("20261124-090000-dddd"), 1).expect("prune"), 0);
        assert_eq!(names(dir.path()), ["20261124-090000-dddd"]);
        assert_eq!(prune(&dir.path().join("none"), OsStr::new("x"), 1).expect("missing"), 0);
    }
}
