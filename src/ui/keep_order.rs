//! `--keep-order`: results in input order while instances still run in parallel.
//!
//! Wraps another sink. The lowest unfinished instance passes through live; later
//! instances' events are held until every instance before them has finished, then
//! released in order (GNU parallel's `-k`). Events that belong to no instance pass
//! straight through, except `RunFinished`, which first releases everything held.

use std::collections::{BTreeMap, BTreeSet};

use volley_core::event::{Event, EventSink};

pub struct KeepOrder {
    inner: Box<dyn EventSink>,
    /// The instance whose events pass through live.
    next: u32,
    held: BTreeMap<u32, Vec<Event>>,
    finished: BTreeSet<u32>,
}

impl KeepOrder {
    pub fn new(inner: Box<dyn EventSink>) -> Self {
        KeepOrder { inner, next: 0, held: BTreeMap::new(), finished: BTreeSet::new() }
    }

    fn release_finished(&mut self) {
        while self.finished.remove(&self.next) {
            self.next += 1;
            if let Some(events) = self.held.remove(&self.next) {
                for event in &events {
                    self.inner.event(event);
                }
            }
        }
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
        match instance_of(event) {
            Some((instance, finished)) if instance >= self.next => {
                if instance == self.next {
                    self.inner.event(event);
                } else {
                    self.held.entry(instance).or_default().push(event.clone());
                }
                if finished {
                    self.finished.insert(instance);
                    self.release_finished();
                }
            }
            Some(_) => self.inner.event(event),
            None => {
                if matches!(event, Event::RunFinished { .. }) {
                    for events in std::mem::take(&mut self.held).into_values() {
                        for held in &events {
                            self.inner.event(held);
                        }
                    }
                }
                self.inner.event(event);
            }
        }
    }

    fn finish(&mut self) {
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
        let mut sink = KeepOrder::new(Box::new(Recorder(seen.clone())));
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
}
