//! `--keep-order`: results in input order while instances still run in parallel.
//!
//! Wraps another sink. The lowest unfinished instance passes through live; later
//! instances' events are held until every instance before them has finished, then
//! released in order (GNU parallel's `-k`). Events that belong to no instance pass
//! straight through, except `RunFinished`, which first releases everything held.
//!
//! Held output is kept in memory up to [`SPILL_LIMIT`]; beyond it, it goes to an
//! unlinked temporary file (GNU parallel spills to temporary files too) and is read
//! back when released, so a slow first instance does not make volley hold what all
//! the others print. Released output is read back one chunk at a time, and only while
//! the terminal's [`OutputBacklog`] has room: what a slow reader has not taken yet
//! stays in the file. The rest of the release goes on at the next event (the output
//! brake stops the tasks' own output meanwhile) and, at the end of the run, waits for
//! the reader.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use volley_core::event::{Event, EventSink, Lines, Stream, TaskKey};

use super::spill::Spill;
use crate::exec::OutputBacklog;

/// How often the end of a run looks whether the reader has taken some output.
const WAIT_FOR_READER: Duration = Duration::from_millis(1);

/// Bytes of held output kept in memory before the rest goes to a file.
pub const SPILL_LIMIT: usize = 16 << 20;

pub struct KeepOrder {
    inner: Box<dyn EventSink>,
    /// The instance whose events pass through live.
    next: u32,
    held: BTreeMap<u32, Vec<Held>>,
    finished: BTreeSet<u32>,
    /// Bytes of output held in memory, against `limit`.
    in_memory: usize,
    limit: usize,
    spill: Spill,
    /// Released, in order, but not passed on yet: the reader was behind.
    releasing: VecDeque<Held>,
    backlog: Option<Arc<OutputBacklog>>,
}

/// A held event, or held output whose bytes wait in the spill file.
enum Held {
    Event(Event),
    Spilled { t_us: u64, key: TaskKey, name: Arc<str>, stream: Stream, at: u64, len: usize },
}

impl KeepOrder {
    /// `backlog`: what `inner` has queued for its reader, if it counts it.
    pub fn new(inner: Box<dyn EventSink>, backlog: Option<Arc<OutputBacklog>>) -> Self {
        Self::with_limit(inner, backlog, SPILL_LIMIT, std::env::temp_dir())
    }

    /// Keeps at most `limit` bytes of held output in memory; the rest goes to a file
    /// created (and at once unlinked) in `spill_dir`.
    pub fn with_limit(
        inner: Box<dyn EventSink>,
        backlog: Option<Arc<OutputBacklog>>,
        limit: usize,
        spill_dir: PathBuf,
    ) -> Self {
        KeepOrder {
            inner,
            next: 0,
            held: BTreeMap::new(),
            finished: BTreeSet::new(),
            in_memory: 0,
            limit,
            spill: Spill::new(spill_dir),
            releasing: VecDeque::new(),
            backlog,
        }
    }

    fn hold(&mut self, instance: u32, event: &Event) {
        let held = match event {
            Event::Output { t_us, key, name, stream, lines }
                if self.in_memory + lines.0.len() > self.limit =>
            {
                match self.spill.append(&lines.0) {
                    Some(at) => Held::Spilled {
                        t_us: *t_us,
                        key: *key,
                        name: name.clone(),
                        stream: *stream,
                        at,
                        len: lines.0.len(),
                    },
                    // No file: hold it in memory after all rather than lose it.
                    None => self.in_memory_copy(event),
                }
            }
            _ => self.in_memory_copy(event),
        };
        self.held.entry(instance).or_default().push(held);
    }

    fn in_memory_copy(&mut self, event: &Event) -> Held {
        if let Event::Output { lines, .. } = event {
            self.in_memory += lines.0.len();
        }
        Held::Event(event.clone())
    }

    /// Passes on what is released, in order, as far as the reader keeps up (all of
    /// it if `wait`, waiting for the reader).
    fn pass_released(&mut self, wait: bool) {
        while let Some(held) = self.releasing.front() {
            let spilled = matches!(held, Held::Spilled { .. });
            if spilled && self.backlog.as_ref().is_some_and(|b| b.is_full()) {
                if !wait {
                    return;
                }
                std::thread::sleep(WAIT_FOR_READER);
                continue;
            }
            match self.releasing.pop_front().expect("a front") {
                Held::Event(event) => {
                    if let Event::Output { lines, .. } = &event {
                        self.in_memory -= lines.0.len();
                    }
                    self.inner.event(&event);
                }
                Held::Spilled { t_us, key, name, stream, at, len } => {
                    let lines = Lines(self.spill.read(at, len));
                    self.inner.event(&Event::Output { t_us, key, name, stream, lines });
                }
            }
        }
        if self.held.is_empty() {
            self.spill.clear();
        }
    }

    /// Passes `event` on now, or after what is still being released.
    fn pass(&mut self, event: &Event) {
        if self.releasing.is_empty() {
            self.inner.event(event);
        } else {
            let held = self.in_memory_copy(event);
            self.releasing.push_back(held);
        }
    }

    fn release_finished(&mut self) {
        while self.finished.remove(&self.next) {
            self.next += 1;
            if let Some(events) = self.held.remove(&self.next) {
                self.releasing.extend(events);
            }
        }
        self.pass_released(false);
    }

    /// Bytes of held output in memory now.
    #[cfg(test)]
    fn held_in_memory(&self) -> usize {
        self.in_memory
    }
}

/// The instance an event belongs to, if it belongs to one.
fn instance_of(event: &Event) -> Option<(u32, bool)> {
    match event {
        Event::AttemptStarted { key, .. }
        | Event::Output { key, .. }
        | Event::AttemptFinished { key, .. } => Some((key.instance, false)),
        Event::TaskFinished { key, .. } => Some((key.instance, true)),
        _ => None,
    }
}

impl EventSink for KeepOrder {
    fn event(&mut self, event: &Event) {
        self.pass_released(false);
        match instance_of(event) {
            Some((instance, finished)) if instance >= self.next => {
                if instance == self.next {
                    self.pass(event);
                } else {
                    self.hold(instance, event);
                }
                if finished {
                    self.finished.insert(instance);
                    self.release_finished();
                }
            }
            Some(_) => self.pass(event),
            None => {
                if matches!(event, Event::RunFinished { .. }) {
                    for events in std::mem::take(&mut self.held).into_values() {
                        self.releasing.extend(events);
                    }
                    self.pass_released(true);
                }
                self.pass(event);
            }
        }
    }

    fn finish(&mut self) {
        self.pass_released(true);
        self.inner.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use volley_core::event::{Lines, Stream, TaskKey, TaskStatus};
    use volley_core::graph::UnitId;

    use super::*;

    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl EventSink for Recorder {
        fn event(&mut self, event: &Event) {
            let line = match event {
                Event::Output { name, .. } => format!("out {name}"),
                Event::TaskFinished { name, .. } => format!("done {name}"),
                Event::RunFinished { .. } => "end".to_string(),
                _ => return,
            };
            self.0.lock().expect("lock").push(line);
        }
    }

    fn key(instance: u32) -> TaskKey {
        TaskKey { unit: UnitId(0), instance }
    }

    fn output(instance: u32) -> Event {
        Event::Output {
            t_us: 0,
            key: key(instance),
            name: Arc::from(instance.to_string()),
            stream: Stream::Stdout,
            lines: Lines(b"x\n".to_vec()),
        }
    }

    fn done(instance: u32) -> Event {
        Event::TaskFinished {
            t_us: 0,
            key: key(instance),
            name: Arc::from(instance.to_string()),
            status: TaskStatus::Succeeded,
            duration_us: 0,
            attempts: 1,
            allowed_failure: false,
            flaky: false,
            needs: None,
            log: None,
        }
    }

    #[test]
    fn later_instances_wait_for_earlier_ones() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut sink = KeepOrder::new(Box::new(Recorder(seen.clone())), None);
        for event in [output(2), done(2), output(0), output(1), done(0), done(1)] {
            sink.event(&event);
        }
        sink.event(&Event::RunFinished {
            t_us: 0,
            status: volley_core::event::RunStatus::Succeeded,
            wall_us: 0,
        });
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, ["out 0", "done 0", "out 1", "done 1", "out 2", "done 2", "end"]);
    }

    /// Records output with its bytes, and the ends.
    struct Texts(Arc<Mutex<Vec<String>>>);

    impl EventSink for Texts {
        fn event(&mut self, event: &Event) {
            let line = match event {
                Event::Output { name, lines, .. } => format!("{name}: {}", String::from_utf8_lossy(&lines.0)),
                Event::TaskFinished { name, .. } => format!("done {name}"),
                Event::RunFinished { .. } => "end".to_string(),
                _ => return,
            };
            self.0.lock().expect("lock").push(line);
        }
    }

    fn output_of(instance: u32, text: &str) -> Event {
        Event::Output {
            t_us: 0,
            key: key(instance),
            name: Arc::from(instance.to_string()),
            stream: Stream::Stdout,
            lines: Lines(text.as_bytes().to_vec()),
        }
    }

    fn run_finished() -> Event {
        Event::RunFinished { t_us: 0, status: volley_core::event::RunStatus::Succeeded, wall_us: 0 }
    }

    #[test]
    fn held_output_beyond_the_limit_waits_in_a_file_and_comes_back_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut sink =
            KeepOrder::with_limit(Box::new(Texts(seen.clone())), None, 8, dir.path().to_path_buf());
        let events = [
            output_of(1, "one a\n"),
            output_of(1, "one b\n"),
            output_of(2, "two a\n"),
            output_of(2, "two b\n"),
            done(2),
            output_of(0, "zero\n"),
            done(0),
            done(1),
            output_of(3, "three\n"),
            output_of(4, "four a\n"),
            output_of(4, "four b\n"),
            done(4),
        ];
        for event in &events {
            sink.event(event);
            assert!(sink.held_in_memory() <= 8, "{} bytes held in memory", sink.held_in_memory());
        }
        // Unlinked at once: nothing shows in the directory while output is spilled.
        assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0);
        // An interrupted run: 3 never finished, and what is held comes out at the end.
        sink.event(&run_finished());
        let seen = seen.lock().expect("lock").clone();
        let expected = [
            "0: zero\n",
            "done 0",
            "1: one a\n",
            "1: one b\n",
            "done 1",
            "2: two a\n",
            "2: two b\n",
            "done 2",
            "3: three\n",
            "4: four a\n",
            "4: four b\n",
            "done 4",
            "end",
        ];
        assert_eq!(seen, expected);
    }

    /// A terminal that queues what it is given in `backlog`, as the real one does,
    /// and records the text in order.
    struct Queueing {
        seen: Arc<Mutex<Vec<String>>>,
        backlog: Arc<OutputBacklog>,
        unwritten: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl EventSink for Queueing {
        fn event(&mut self, event: &Event) {
            if let Event::Output { lines, .. } = event {
                self.backlog.queued(lines.0.len());
                self.unwritten.fetch_add(lines.0.len(), std::sync::atomic::Ordering::SeqCst);
            }
            Texts(self.seen.clone()).event(event);
        }
    }

    #[test]
    fn spilled_output_is_released_only_as_fast_as_the_reader_takes_it() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let backlog = Arc::new(OutputBacklog::new(10));
        let unwritten = Arc::new(AtomicUsize::new(0));
        let terminal =
            Queueing { seen: seen.clone(), backlog: backlog.clone(), unwritten: unwritten.clone() };
        let mut sink =
            KeepOrder::with_limit(Box::new(terminal), Some(backlog.clone()), 8, dir.path().to_path_buf());
        let held = ["one a\n", "one b\n", "one c\n", "one d\n", "one e\n"];
        for text in held {
            sink.event(&output_of(1, text));
        }
        sink.event(&done(1));
        sink.event(&output_of(0, "zero\n"));
        sink.event(&done(0));
        // The reader has taken nothing: the backlog is full after the first of 1's
        // lines, and the spilled rest waits in the file.
        let texts = || seen.lock().expect("lock").clone();
        assert_eq!(texts(), ["0: zero\n", "done 0", "1: one a\n"]);
        // The reader takes what was queued; the next event passes on more.
        backlog.written(unwritten.swap(0, Ordering::SeqCst));
        sink.event(&output_of(3, "three\n"));
        assert_eq!(texts().len(), 5, "{:?}", texts());
        // At the end everything comes out, as fast as a reader on another thread takes it.
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (backlog, unwritten, stop) = (backlog.clone(), unwritten.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(2));
                    backlog.written(unwritten.swap(0, Ordering::SeqCst));
                }
            })
        };
        sink.event(&run_finished());
        stop.store(true, Ordering::SeqCst);
        reader.join().expect("reader");
        let expected = [
            "0: zero\n",
            "done 0",
            "1: one a\n",
            "1: one b\n",
            "1: one c\n",
            "1: one d\n",
            "1: one e\n",
            "done 1",
            "3: three\n",
            "end",
        ];
        assert_eq!(texts(), expected);
    }

    #[test]
    fn without_a_spill_file_held_output_stays_in_memory_and_is_not_lost() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let nowhere = PathBuf::from("/nonexistent/volley-spill");
        let mut sink = KeepOrder::with_limit(Box::new(Texts(seen.clone())), None, 4, nowhere);
        for event in [output_of(1, "one\n"), output_of(1, "more\n"), output_of(0, "zero\n"), done(0), done(1)]
        {
            sink.event(&event);
        }
        sink.event(&run_finished());
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, ["0: zero\n", "done 0", "1: one\n", "1: more\n", "done 1", "end"]);
    }
}
