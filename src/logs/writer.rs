//! [`LogWriter`]: one file per task or instance, holding the raw bytes of every line
//! it printed, stdout and stderr interleaved in arrival order and unmarked, the way
//! `cmd > file 2>&1` would have written them. When a task is retried, each later
//! attempt starts with a `── attempt N ──` line (the first attempt is the top of the
//! file, so a task that passes first time has no header at all).
//!
//! Throughput: a `Lines` chunk is written as one slice into a `BufWriter` (large
//! chunks go straight to the file), flushed when the task ends, on interrupt and in
//! `finish()`. Files are opened when a task starts and closed when it finishes, so a
//! fan-out of thousands never holds more files open than there are running instances.
//!
//! Which lines came from stderr is kept beside the log, in `<name>.log.stderr`
//! (`stderr_marks`), created at the first stderr line, for `volley logs` to mark them.
//!
//! At its start the writer removes the logs of runs older than the last `keep`
//! (`retention`), on a thread of its own that `finish()` waits for.
//!
//! The run's directory is created on first use. Any I/O error prints one warning for
//! the whole run and that log (or all logs, if the directory cannot be made) stops;
//! the run is never failed by its logs.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
use volley_core::event::{Event, EventSink, Stream, TaskKey};
use volley_core::graph::UnitId;

use super::file_name::log_path;
use super::retention;
use super::stderr_marks::MarksWriter;

/// One task's open log.
struct TaskLog {
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes written so far: where the next batch lands.
    written: u64,
    /// Opened at the first stderr batch; `None` again after a failure to write marks.
    marks: Option<MarksWriter>,
    marks_failed: bool,
}

pub struct LogWriter {
    dir: PathBuf,
    dir_ready: bool,
    /// The directory could not be created: nothing more is tried.
    disabled: bool,
    warned: bool,
    /// `None`: this task's log failed and is not retried.
    files: HashMap<TaskKey, Option<TaskLog>>,
    fan_out: HashMap<UnitId, Arc<str>>,
    pruning: Option<std::thread::JoinHandle<()>>,
}

impl LogWriter {
    /// `dir` is `<state_dir>/logs/<run-id>/`; nothing is created until a task prints
    /// something. With `keep`, the logs of all but the last `keep` runs (this one
    /// included) go.
    pub fn new(dir: PathBuf, keep: Option<usize>) -> Self {
        let pruning = match (keep, dir.parent(), dir.file_name()) {
            (Some(keep), Some(logs), Some(current)) => {
                let (logs, current) = (logs.to_path_buf(), current.to_os_string());
                let prune = move || {
                    if let Err(error) = retention::prune(&logs, &current, keep) {
                        eprintln!("volley: warning: cannot remove old logs in {}: {error}", logs.display());
                    }
                };
                std::thread::Builder::new().name("volley-prune-logs".into()).spawn(prune).ok()
            }
            _ => None,
        };
        LogWriter {
            dir,
            dir_ready: false,
            disabled: false,
            warned: false,
            files: HashMap::new(),
            fan_out: HashMap::new(),
            pruning,
        }
    }

    /// The log file of task or instance `name` (what `TaskFinished::log` should say).
    pub fn path_for(&self, name: &str) -> PathBuf {
        log_path(&self.dir, name)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn warn(&mut self, what: &str, path: &Path, error: &io::Error) {
        if !std::mem::replace(&mut self.warned, true) {
            eprintln!(
                "volley: warning: cannot {what} {}: {error} (task logs are incomplete)",
                path.display()
            );
        }
    }

    /// The open log of `key`, opening it (and the directory) on first use.
    fn file(&mut self, key: TaskKey, name: &str) -> Option<&mut TaskLog> {
        if self.disabled {
            return None;
        }
        if !self.files.contains_key(&key) {
            if !self.dir_ready {
                if let Err(error) = std::fs::create_dir_all(&self.dir) {
                    self.disabled = true;
                    let dir = self.dir.clone();
                    self.warn("create the log directory", &dir, &error);
                    return None;
                }
                self.dir_ready = true;
            }
            let path = self.path_for(name);
            let file = match File::create(&path) {
                Ok(file) => Some(TaskLog {
                    path,
                    file: BufWriter::with_capacity(64 << 10, file),
                    written: 0,
                    marks: None,
                    marks_failed: false,
                }),
                Err(error) => {
                    self.warn("create the log file", &path, &error);
                    None
                }
            };
            self.files.insert(key, file);
        }
        self.files.get_mut(&key).and_then(Option::as_mut)
    }

    fn write(&mut self, key: TaskKey, name: &str, stream: Stream, bytes: &[u8]) {
        let Some(log) = self.file(key, name) else { return };
        let marked =
            if stream == Stream::Stderr && !log.marks_failed { log.mark(bytes.len()) } else { Ok(()) };
        let written = log.file.write_all(bytes);
        log.written += bytes.len() as u64;
        if let Err(error) = written {
            self.files.insert(key, None);
            let path = self.path_for(name);
            self.warn("write the log file", &path, &error);
        } else if let Err(error) = marked {
            let path = self.path_for(name);
            self.warn("mark the stderr lines of", &path, &error);
        }
    }

    fn close(&mut self, key: TaskKey, name: &str) {
        if let Some(Some(mut log)) = self.files.remove(&key)
            && let Err(error) = log.file.flush()
        {
            let path = self.path_for(name);
            self.warn("write the log file", &path, &error);
        }
    }

    fn flush_all(&mut self) {
        let mut failed = None;
        for log in self.files.values_mut().flatten() {
            if let Err(error) = log.file.flush() {
                failed = Some(error);
            }
        }
        if let Some(error) = failed {
            let dir = self.dir.clone();
            self.warn("write a log file in", &dir, &error);
        }
    }

    fn is_fan_out_task(&self, key: TaskKey, name: &str) -> bool {
        self.fan_out.get(&key.unit).is_some_and(|task| **task == *name)
    }
}

impl TaskLog {
    /// Marks the next `len` bytes as stderr; after a failure, marks stop for this log.
    fn mark(&mut self, len: usize) -> io::Result<()> {
        let result = match &mut self.marks {
            Some(marks) => marks.mark(self.written, len),
            None => MarksWriter::open(&self.path, true).and_then(|mut marks| {
                marks.mark(self.written, len)?;
                self.marks = Some(marks);
                Ok(())
            }),
        };
        if result.is_err() {
            self.marks = None;
            self.marks_failed = true;
        }
        result
    }
}

impl EventSink for LogWriter {
    fn event(&mut self, event: &Event) {
        match event {
            Event::InstancesPlanned { unit, name, .. } => {
                self.fan_out.insert(*unit, name.clone());
            }
            // Files are created on first output: a fan-out of 100 000 silent items
            // must not leave 100 000 empty files behind.
            Event::AttemptStarted { key, name, attempt, .. } if *attempt > 1 => {
                self.write(*key, name, Stream::Stdout, format!("── attempt {attempt} ──\n").as_bytes());
            }
            Event::Output { key, name, stream, lines, .. } => self.write(*key, name, *stream, &lines.0),
            Event::TaskFinished { key, name, .. } if !self.is_fan_out_task(*key, name) => {
                self.close(*key, name);
            }
            Event::Interrupting { .. } | Event::RunFinished { .. } => self.flush_all(),
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.flush_all();
        self.files.clear();
        if let Some(pruning) = self.pruning.take() {
            let _ = pruning.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use volley_core::event::{AttemptEnd, Lines, Stream, TaskStatus};

    use super::*;

    fn key(instance: u32) -> TaskKey {
        TaskKey { unit: UnitId(0), instance }
    }

    fn started(instance: u32, name: &str, attempt: u32) -> Event {
        Event::AttemptStarted {
            t_us: 0,
            key: key(instance),
            name: name.into(),
            attempt,
            slot: 0,
            pid: 1,
            expected_us: None,
        }
    }

    fn output(instance: u32, name: &str, stream: Stream, text: &[u8]) -> Event {
        Event::Output { t_us: 0, key: key(instance), name: name.into(), stream, lines: Lines(text.to_vec()) }
    }

    fn finished(instance: u32, name: &str) -> Event {
        Event::TaskFinished {
            t_us: 0,
            key: key(instance),
            name: name.into(),
            status: TaskStatus::Succeeded,
            duration_us: 0,
            attempts: 2,
            allowed_failure: false,
            flaky: true,
            needs: None,
            log: None,
        }
    }

    #[test]
    fn log_holds_raw_lines_of_both_streams_and_attempt_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run_dir = dir.path().join("logs").join("r1");
        let mut logs = LogWriter::new(run_dir.clone(), None);
        assert!(!run_dir.exists(), "created lazily");
        let failed = Event::AttemptFinished {
            t_us: 0,
            key: key(0),
            name: "fetch".into(),
            attempt: 1,
            end: AttemptEnd::Exited { code: 1 },
            success: false,
            duration_us: 0,
            cpu_user_us: 0,
            cpu_system_us: 0,
            retry_in_us: Some(1),
            peak_rss_bytes: None,
            read_bytes: None,
            written_bytes: None,
            wait_us: 0,
        };
        for event in [
            started(0, "fetch", 1),
            output(0, "fetch", Stream::Stdout, b"downloading\n"),
            output(0, "fetch", Stream::Stderr, b"reset \xff\n"),
            failed,
            started(0, "fetch", 2),
            output(0, "fetch", Stream::Stdout, b"downloading\ndone\n"),
            finished(0, "fetch"),
        ] {
            logs.event(&event);
        }
        logs.finish();
        let text = std::fs::read(logs.path_for("fetch")).expect("log file");
        assert_eq!(text, b"downloading\nreset \xff\n\xe2\x94\x80\xe2\x94\x80 attempt 2 \xe2\x94\x80\xe2\x94\x80\ndownloading\ndone\n");
        assert_eq!(
            super::super::read_marks(&logs.path_for("fetch")),
            vec![12..20],
            "the stderr line is marked"
        );
        assert_eq!(logs.path_for("fetch"), run_dir.join("fetch.log"));
    }

    #[test]
    fn instances_get_their_own_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut logs = LogWriter::new(dir.path().to_path_buf(), None);
        logs.event(&Event::InstancesPlanned { t_us: 0, unit: UnitId(0), name: "up".into(), count: 2 });
        for (i, item) in ["up[a]", "up[b/c]"].iter().enumerate() {
            logs.event(&started(i as u32, item, 1));
            logs.event(&output(i as u32, item, Stream::Stdout, format!("{item}\n").as_bytes()));
            logs.event(&finished(i as u32, item));
        }
        logs.event(&finished(0, "up"));
        logs.finish();
        assert_eq!(std::fs::read_to_string(logs.path_for("up[a]")).expect("a"), "up[a]\n");
        let marks = super::super::marks_path(&logs.path_for("up[a]"));
        assert!(!marks.exists(), "no stderr, no marks file");
        assert_eq!(std::fs::read_to_string(logs.path_for("up[b/c]")).expect("b/c"), "up[b/c]\n");
    }

    #[test]
    fn an_unwritable_directory_never_fails_the_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").expect("write");
        let mut logs = LogWriter::new(blocker.join("logs"), None);
        logs.event(&started(0, "a", 1));
        logs.event(&output(0, "a", Stream::Stdout, b"x\n"));
        logs.finish();
        assert!(logs.disabled && logs.warned);
    }
}

#[cfg(test)]
mod throughput {
    use volley_core::event::{Lines, Stream};

    use super::*;

    /// `cargo test --release --lib -- logs::writer::throughput --ignored --nocapture`
    #[test]
    #[ignore = "throughput measurement; run in release"]
    fn log_writer_throughput() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut logs = LogWriter::new(dir.path().join("r"), None);
        let mut chunk = Vec::with_capacity(64 * 1024);
        while chunk.len() + 100 <= 64 * 1024 {
            chunk.extend_from_slice(&[b'x'; 99]);
            chunk.push(b'\n');
        }
        let events: Vec<Event> = (0..4)
            .map(|i| Event::Output {
                t_us: 0,
                key: TaskKey { unit: UnitId(i), instance: 0 },
                name: format!("task{i}").into(),
                stream: Stream::Stdout,
                lines: Lines(chunk.clone()),
            })
            .collect();
        let total = 4 * 50 * 1024 * 1024;
        let started = std::time::Instant::now();
        let mut done = 0;
        while done < total {
            for event in &events {
                logs.event(event);
                done += chunk.len();
            }
        }
        logs.finish();
        let secs = started.elapsed().as_secs_f64();
        println!("log writer: {:.0} MiB/s", done as f64 / secs / 1024.0 / 1024.0);
    }
}
