//! [`Recorder`]: the event sink that records a run in `history.db`.
//!
//! The runner must never wait on `SQLite`, so the sink only forwards events over a
//! channel to one recorder thread that owns the `Connection` (it is `Send`, not
//! `Sync`). That thread writes everything waiting in the channel in one IMMEDIATE
//! transaction and commits at once, and bursts (many tasks finishing together) cost
//! one commit. After a commit it lets events gather for [`COALESCE`] before the next
//! one, so a stream of short tasks costs at most one commit (and one wake-up of this
//! thread) per window instead of one per event: a finished task is on disk within
//! 50 ms. Each commit rewrites every page it touches (a finished task's `baselines`
//! row sits at its name's place), and on a two-core machine that work and those
//! wake-ups come out of the tasks' own CPU time.
//!
//! After the run's first commit the thread folds a large write-ahead log left by an
//! earlier run into the database, and at the end it closes without folding its own:
//! the waits for the disk fall while tasks run, not after the last one
//! ([`schema::close`]).
//!
//! Any database problem prints one warning and turns recording off for the rest of
//! the run; the user's run goes on (SPEC §5).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use volley_core::event::{Event, EventSink};

use super::history::History;
use super::schema::{self, RecordError};
use super::writer::Writer;

/// Events waiting in the channel beyond this many are written in the next transaction.
const MAX_BATCH: usize = 512;
/// The shortest time between two commits while events keep coming.
const COALESCE: Duration = Duration::from_millis(50);

pub struct Recorder {
    sender: Option<mpsc::Sender<Event>>,
    thread: Option<JoinHandle<()>>,
    /// Set at close: stop waiting for more events to gather.
    closing: Arc<AtomicBool>,
}

impl Recorder {
    /// Starts the recorder thread for `state_dir`. Opening the database happens on
    /// that thread, so a slow or locked database does not delay the first task.
    pub fn start(state_dir: PathBuf) -> Recorder {
        Self::spawn(state_dir, None)
    }

    /// Starts the recorder thread with the history the run has opened already; an
    /// error opening it is the recorder's one warning.
    pub fn start_with(history: History) -> Recorder {
        let (state_dir, conn) = history.into_parts();
        Self::spawn(state_dir, Some(conn))
    }

    fn spawn(state_dir: PathBuf, opened: Option<Result<Connection, RecordError>>) -> Recorder {
        let (sender, receiver) = mpsc::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let closing_seen = Arc::clone(&closing);
        let thread = std::thread::Builder::new()
            .name("volley-recorder".into())
            .spawn(move || record(&state_dir, opened, &receiver, &closing_seen));
        match thread {
            Ok(thread) => Recorder { sender: Some(sender), thread: Some(thread), closing },
            Err(e) => {
                warn(&format!("cannot start the recorder thread: {e}"));
                Recorder { sender: None, thread: None, closing }
            }
        }
    }

    /// Waits until everything sent has been written (or given up on).
    fn close(&mut self) {
        self.sender = None;
        self.closing.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl EventSink for Recorder {
    fn event(&mut self, event: &Event) {
        // Output is in the log files; warnings and interrupts leave their trace in
        // the statuses that follow.
        if matches!(event, Event::Output { .. } | Event::Warning { .. } | Event::Interrupting { .. }) {
            return;
        }
        if let Some(sender) = &self.sender
            && sender.send(event.clone()).is_err()
        {
            // The thread has stopped (it warned already): stop cloning events for it.
            self.sender = None;
        }
        if matches!(event, Event::RunFinished { .. }) {
            // The last event: the thread writes it and closes the database now, while
            // the other sinks print the summary.
            self.closing.store(true, Ordering::Release);
            if let Some(thread) = &self.thread {
                thread.thread().unpark();
            }
        }
    }

    fn finish(&mut self) {
        self.close();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}

fn warn(message: &str) {
    eprintln!("warning: history not recorded: {message}");
}

/// The recorder thread: opens the database at the first event (unless `opened`),
/// then writes batches until the sink closes the channel. After an error it drains
/// without writing.
fn record(
    state_dir: &std::path::Path,
    opened: Option<Result<Connection, RecordError>>,
    receiver: &mpsc::Receiver<Event>,
    closing: &AtomicBool,
) {
    let Ok(first) = receiver.recv() else { return };
    if matches!(first, Event::RunStarted { dry_run: true, .. }) {
        return;
    }
    let mut writer = match opened.unwrap_or_else(|| schema::open_for_writing(state_dir)) {
        Ok(conn) => Some(Writer::new(conn)),
        Err(e) => {
            warn(&describe(&e));
            None
        }
    };
    let mut batch = vec![first];
    let mut folded = false;
    loop {
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        if let Some(w) = &mut writer
            && let Err(e) = w.write(&batch)
        {
            warn(&describe(&RecordError::Database {
                path: state_dir.join(schema::FILE_NAME).display().to_string(),
                source: e,
            }));
            writer = None;
        }
        if batch.iter().any(|e| matches!(e, Event::RunFinished { .. })) {
            break;
        }
        if let Some(w) = writer.as_ref().filter(|_| !folded) {
            // Once the run is on record, and while its tasks run: the disk waits here
            // cost the run nothing. A failure only leaves the log for the next run.
            folded = true;
            let _ = w.fold_in_large_log(state_dir);
        }
        batch.clear();
        let committed_at = Instant::now();
        match receiver.recv() {
            Ok(event) => batch.push(event),
            Err(_) => break,
        }
        // Sends do not wake a thread that is not blocked in `recv`: while parked here,
        // the runner hands over events at the cost of a queue push.
        let gathered = committed_at + COALESCE;
        while !closing.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= gathered {
                break;
            }
            std::thread::park_timeout(gathered - now);
        }
    }
    if let Some(w) = writer {
        w.close();
    }
}

/// The error and its causes on one line, with a hint for the usual fixes.
fn describe(error: &RecordError) -> String {
    let hint = match error {
        RecordError::Database { source, .. } if is_corrupt(source) => {
            " (the file is damaged: move it aside and volley starts a new history)"
        }
        RecordError::Database { source, .. } if is_busy(source) => " (another volley held it too long)",
        _ => "",
    };
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let shown = c.to_string();
        if !text.contains(&shown) {
            text = format!("{text}: {shown}");
        }
        cause = c.source();
    }
    format!("{text}{hint}")
}

fn is_corrupt(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
