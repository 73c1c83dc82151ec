//! `--events FILE|-`: every event as one JSON line, versioned by
//! [`EventLine`](volley_core::event::EventLine) (`{"version":1,"event":"…",…}`).
//!
//! Buffered, flushed after every event: events are per chunk of output, not per line,
//! so that is a handful of writes per second for a live consumer (`| jq`). A write
//! error is a side system failing: one warning on stderr, then the stream stops and
//! the run goes on.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use volley_core::event::{Event, EventLine, EventSink};

pub struct EventsWriter {
    out: Option<BufWriter<Box<dyn Write + Send>>>,
    what: String,
}

impl EventsWriter {
    /// A file (created or truncated), or stdout for `-`.
    pub fn open(path: &Path) -> io::Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Self::new(Box::new(io::stdout()), "stdout"));
        }
        let file = File::create(path)?;
        Ok(Self::new(Box::new(file), &path.display().to_string()))
    }

    /// Any writer; `what` names it in the warning.
    pub fn new(out: Box<dyn Write + Send>, what: &str) -> Self {
        EventsWriter { out: Some(BufWriter::with_capacity(256 << 10, out)), what: what.to_owned() }
    }

    fn write(out: &mut BufWriter<Box<dyn Write + Send>>, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut *out, &EventLine::new(event))?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

impl EventSink for EventsWriter {
    fn event(&mut self, event: &Event) {
        let Some(out) = &mut self.out else { return };
        if let Err(error) = Self::write(out, event) {
            // A closed stdout under `--events -` is a quiet stop, like any closed pipe.
            if error.kind() != io::ErrorKind::BrokenPipe {
                eprintln!("volley: warning: cannot write events to {}: {error}; events stop here", self.what);
            }
            self.out = None;
        }
    }

    fn finish(&mut self) {
        if let Some(out) = &mut self.out {
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use volley_core::event::{Lines, RunStatus, Stream, TaskKey};
    use volley_core::graph::UnitId;

    use super::*;

    #[test]
    fn one_versioned_json_line_per_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut writer = EventsWriter::open(&path).expect("open");
        let key = TaskKey { unit: UnitId(0), instance: 0 };
        let events = [
            Event::Output {
                t_us: 5,
                key,
                name: Arc::from("build"),
                stream: Stream::Stderr,
                lines: Lines(b"one\ntwo \xff\n".to_vec()),
            },
            Event::Warning { t_us: 6, message: "disk is slow".into() },
            Event::RunFinished { t_us: 7, status: RunStatus::Succeeded, wall_us: 7 },
        ];
        for event in &events {
            writer.event(event);
        }
        writer.finish();
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
        assert_eq!(lines.len(), events.len());
        assert!(lines.iter().all(|l| l["version"] == 1));
        insta::assert_snapshot!(text);
    }
}
