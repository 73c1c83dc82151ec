//! [`History`]: a run's history, opened before the run to plan with and then handed
//! to the [`super::Recorder`]; and [`HistoryPrefetch`], which opens it on a thread of
//! its own while the project file is parsed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::baseline::all_recent_successes;
use super::query::expectations_with;
use super::schema::{self, RecordError};
use crate::runner::Expectations;

/// Names whose baselines a prefetch reads at most (a history of many fan-out
/// instances can hold far more names than a run asks about).
const PREFETCH_MAX_NAMES: usize = 50_000;

/// A run's history opened for writing before the run: the scheduler reads its
/// expectations through it, then the [`super::Recorder`] writes into it. One open
/// instead of two: opening a WAL database creates and removes its `-wal` and `-shm`
/// files.
pub struct History {
    state_dir: PathBuf,
    conn: Result<Connection, RecordError>,
    /// Every name's recent successes, when a prefetch read them.
    preloaded: Option<HashMap<String, Vec<u64>>>,
}

impl History {
    /// `None` when there is no history yet: then there is nothing to read, and the
    /// recorder creates it once the run starts (not on a usage error before that).
    pub fn open(state_dir: &Path) -> Option<History> {
        state_dir.join(schema::FILE_NAME).is_file().then(|| History {
            state_dir: state_dir.to_path_buf(),
            conn: schema::open_for_writing(state_dir),
            preloaded: None,
        })
    }

    /// What history says each of `names` usually takes (none if it cannot be read).
    pub fn expectations<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Expectations {
        match &self.conn {
            Ok(conn) => expectations_with(conn, names, self.preloaded.as_ref()),
            Err(_) => Expectations::default(),
        }
    }

    pub(super) fn into_parts(self) -> (PathBuf, Result<Connection, RecordError>) {
        (self.state_dir, self.conn)
    }
}

/// [`History::open`] of the state dir a project has unless its file names another,
/// with every baseline read, on a thread of its own: on a large project, parsing the
/// file and opening a long history (reading back its write-ahead log) each take
/// milliseconds, and the run needs both before its first task.
pub struct HistoryPrefetch {
    state_dir: PathBuf,
    thread: Option<JoinHandle<Option<History>>>,
}

impl HistoryPrefetch {
    /// Starts opening the history in `state_dir`. Call it after any fork that needs
    /// volley to have a single thread.
    pub fn start(state_dir: PathBuf) -> HistoryPrefetch {
        let dir = state_dir.clone();
        let thread = std::thread::Builder::new()
            .name("volley-history".into())
            .spawn(move || {
                let mut history = History::open(&dir)?;
                if let Ok(conn) = &history.conn {
                    history.preloaded = all_recent_successes(conn, PREFETCH_MAX_NAMES).ok().flatten();
                }
                Some(history)
            })
            .ok();
        HistoryPrefetch { state_dir, thread }
    }

    /// The history of `state_dir` (the project's, now that its file is read): the
    /// prefetched one if it is the same directory, else opened now.
    pub fn finish(mut self, state_dir: &Path) -> Option<History> {
        let prefetched = self.thread.take().and_then(|thread| thread.join().ok());
        match prefetched {
            Some(history) if self.state_dir == state_dir => history,
            _ => History::open(state_dir),
        }
    }
}

impl Drop for HistoryPrefetch {
    /// A run that stops before `finish` (a bad file) still waits for the thread, which
    /// may be migrating the history.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
