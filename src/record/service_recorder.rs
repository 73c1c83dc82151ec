//! [`ServiceRecorder`]: records a `volley up` as a run (SPEC §5: every run, `up`
//! included) with its service lifecycle events in `service_events` (schema v3), or
//! the services a `volley run` starts under that run's row
//! ([`ServiceRecorder::attach`]).
//!
//! While its services run an `up`'s row has status `serving`, not `running`: `volley
//! status` lists runs in progress, and its services section covers an `up`.
//!
//! A `run`'s services are ready before its first task, so before the task recorder
//! has written the run's row: their events wait in memory until the row is there,
//! at the next event or when the services have stopped, and are timed from the
//! run's start like its tasks (negative before it). If the run is never recorded,
//! neither are they.
//!
//! Like the task [`Recorder`](super::Recorder), the supervisor never waits on
//! `SQLite`: events go over a channel to one thread that owns the connection and
//! commits each batch at once. Any database problem prints one warning and turns
//! recording off; the services go on.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use volley_core::event::RunStatus;
use volley_core::services::ServiceEvent;

use super::schema;

enum Message {
    /// Microseconds since the recorder started.
    Event(u64, ServiceEvent),
    Finish(RunStatus, u64),
}

pub struct ServiceRecorder {
    sender: Option<mpsc::Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
}

/// Which run the events belong to.
enum Target {
    /// A new run, for an `up`.
    Up(UpRun),
    /// The run whose `run_key` this is, written by the task recorder; `started_at_us`
    /// is the wall clock when this recorder started.
    Run { run_key: String, started_at_us: i64 },
}

/// The run row the events go under, and how to turn the recorder's offsets into
/// offsets from that run's start.
#[derive(Clone, Copy)]
struct RunRow {
    id: i64,
    started_at_us: i64,
    offset_us: i64,
    /// The recorder's own run (an `up`): it completes the row at the end.
    owned: bool,
}

/// How the `up` run is described in `runs`.
pub struct UpRun {
    pub run_key: String,
    pub command: Vec<String>,
    pub started_at_us: i64,
    /// The number of services the file declares (shown where runs show slots).
    pub services: usize,
}

impl ServiceRecorder {
    pub fn start(state_dir: PathBuf, run: UpRun) -> ServiceRecorder {
        Self::spawn(state_dir, Target::Up(run))
    }

    /// Records under the run `run_key` (a `volley run`'s), once its row exists.
    pub fn attach(state_dir: PathBuf, run_key: String) -> ServiceRecorder {
        let started_at_us = jiff::Timestamp::now().as_microsecond();
        Self::spawn(state_dir, Target::Run { run_key, started_at_us })
    }

    fn spawn(state_dir: PathBuf, target: Target) -> ServiceRecorder {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("volley-service-recorder".into())
            .spawn(move || {
                if let Err(e) = record(&state_dir, &target, &receiver) {
                    eprintln!("warning: service history not recorded: {e}");
                }
            })
            .ok();
        ServiceRecorder { sender: Some(sender), thread, started: Instant::now() }
    }

    pub fn event(&mut self, event: &ServiceEvent) {
        let t_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(sender) = &self.sender
            && sender.send(Message::Event(t_us, event.clone())).is_err()
        {
            self.sender = None;
        }
    }

    /// Completes the run row and waits for everything to be written.
    pub fn finish(&mut self, status: RunStatus) {
        let wall_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Message::Finish(status, wall_us));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServiceRecorder {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn record(
    state_dir: &std::path::Path,
    target: &Target,
    receiver: &mpsc::Receiver<Message>,
) -> Result<(), String> {
    let mut conn = schema::open_for_writing(state_dir).map_err(|e| e.to_string())?;
    let failed = |e: rusqlite::Error| e.to_string();
    let mut row = match target {
        Target::Up(run) => Some(insert_up_run(&conn, run).map_err(failed)?),
        Target::Run { .. } => None,
    };
    let mut waiting: Vec<Message> = Vec::new();
    loop {
        let closed = match receiver.recv() {
            Ok(first) => {
                waiting.push(first);
                waiting.extend(receiver.try_iter());
                false
            }
            Err(_) => true,
        };
        if let (None, Target::Run { run_key, started_at_us }) = (row, target) {
            row = find_run(&conn, run_key, *started_at_us).map_err(failed)?;
        }
        if let Some(row) = row.filter(|_| !waiting.is_empty()) {
            write(&mut conn, row, &waiting).map_err(failed)?;
            waiting.clear();
        }
        if closed {
            return Ok(());
        }
    }
}

fn insert_up_run(conn: &Connection, run: &UpRun) -> rusqlite::Result<RunRow> {
    let command = serde_json::to_string(&run.command).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO runs (run_key, command, started_at_us, status, jobs, host, pid)
         VALUES (?1, ?2, ?3, 'serving', ?4, ?5, ?6)",
        params![
            run.run_key,
            command,
            run.started_at_us,
            run.services as i64,
            rustix::system::uname().nodename().to_string_lossy(),
            i64::from(std::process::id())
        ],
    )?;
    Ok(RunRow { id: conn.last_insert_rowid(), started_at_us: run.started_at_us, offset_us: 0, owned: true })
}

/// The row of the run `run_key`, if the task recorder has written it yet.
fn find_run(
    conn: &Connection,
    run_key: &str,
    recorder_started_at_us: i64,
) -> rusqlite::Result<Option<RunRow>> {
    conn.query_row("SELECT id, started_at_us FROM runs WHERE run_key = ?1", [run_key], |r| {
        let started_at_us: i64 = r.get(1)?;
        let offset_us = recorder_started_at_us - started_at_us;
        Ok(RunRow { id: r.get(0)?, started_at_us, offset_us, owned: false })
    })
    .optional()
}

fn write(conn: &mut Connection, row: RunRow, batch: &[Message]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for message in batch {
        match message {
            Message::Event(t_us, event) => {
                let (name, kind, attempt, pid, duration, detail) = columns(event);
                let t_us = (*t_us as i64).saturating_add(row.offset_us);
                tx.prepare_cached(
                    "INSERT INTO service_events (run_id, t_us, name, event, attempt, pid, duration_us, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![row.id, t_us, name, kind, attempt, pid, duration, detail])?;
            }
            Message::Finish(..) if !row.owned => {}
            Message::Finish(status, wall_us) => {
                let (text, code) = match status {
                    RunStatus::Succeeded => ("succeeded", 0),
                    RunStatus::Failed => ("failed", 1),
                    RunStatus::Interrupted => ("interrupted", 130),
                };
                tx.execute(
                    "UPDATE runs SET status = ?2, exit_code = ?3, wall_us = ?4, ended_at_us = ?5 WHERE id = ?1",
                    params![row.id, text, code, *wall_us as i64, row.started_at_us + *wall_us as i64],
                )?;
            }
        }
    }
    tx.commit()
}

type Columns<'a> = (&'a str, &'static str, Option<u32>, Option<u32>, Option<i64>, Option<&'a str>);

fn columns(event: &ServiceEvent) -> Columns<'_> {
    match event {
        ServiceEvent::ServiceStarting { name, attempt, pid } => {
            (name, "starting", Some(*attempt), Some(*pid), None, None)
        }
        ServiceEvent::ServiceReady { name, time_to_ready_us } => {
            (name, "ready", None, None, Some(*time_to_ready_us as i64), None)
        }
        ServiceEvent::ServiceFailed { name, reason, .. } => (name, "failed", None, None, None, Some(reason)),
        ServiceEvent::ServiceExited { name } => (name, "exited", None, None, None, None),
        ServiceEvent::ServiceStopping { name } => (name, "stopping", None, None, None, None),
        ServiceEvent::ServiceStopped { name, time_to_stop_us, killed } => {
            (name, "stopped", None, None, Some(*time_to_stop_us as i64), killed.then_some("killed"))
        }
    }
}
