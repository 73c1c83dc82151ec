//! [`ServiceRecorder`]: records a `volley up` as a run (SPEC §5: every run, `up`
//! included) with its service lifecycle events in `service_events` (schema v3).
//!
//! While its services run the row's status is `serving`, not `running`: `volley
//! status` lists runs in progress, and its services section covers an `up`.
//!
//! Like the task [`Recorder`](super::Recorder), the supervisor never waits on
//! `SQLite`: events go over a channel to one thread that owns the connection and
//! commits each batch at once. Any database problem prints one warning and turns
//! recording off; the services go on.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior, params};
use volley_core::event::RunStatus;
use volley_core::services::ServiceEvent;

use super::schema;

enum Message {
    Event(u64, ServiceEvent),
    Finish(RunStatus, u64),
}

pub struct ServiceRecorder {
    sender: Option<mpsc::Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
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
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("volley-service-recorder".into())
            .spawn(move || {
                if let Err(e) = record(&state_dir, &run, &receiver) {
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
    run: &UpRun,
    receiver: &mpsc::Receiver<Message>,
) -> Result<(), String> {
    let mut conn = schema::open_for_writing(state_dir).map_err(|e| e.to_string())?;
    let failed = |e: rusqlite::Error| e.to_string();
    let command = serde_json::to_string(&run.command).map_err(|e| e.to_string())?;
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
    )
    .map_err(failed)?;
    let run_id = conn.last_insert_rowid();
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter());
        write(&mut conn, run_id, run.started_at_us, &batch).map_err(failed)?;
    }
    Ok(())
}

fn write(conn: &mut Connection, run_id: i64, started_at_us: i64, batch: &[Message]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for message in batch {
        match message {
            Message::Event(t_us, event) => {
                let (name, kind, attempt, pid, duration, detail) = columns(event);
                tx.prepare_cached(
                    "INSERT INTO service_events (run_id, t_us, name, event, attempt, pid, duration_us, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![run_id, *t_us as i64, name, kind, attempt, pid, duration, detail])?;
            }
            Message::Finish(status, wall_us) => {
                let (text, code) = match status {
                    RunStatus::Succeeded => ("succeeded", 0),
                    RunStatus::Failed => ("failed", 1),
                    RunStatus::Interrupted => ("interrupted", 130),
                };
                tx.execute(
                    "UPDATE runs SET status = ?2, exit_code = ?3, wall_us = ?4, ended_at_us = ?5 WHERE id = ?1",
                    params![run_id, text, code, *wall_us as i64, started_at_us + *wall_us as i64],
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
