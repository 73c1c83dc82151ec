//! [`TerminalReporter`]: the event sink that talks to the person at the terminal.
//!
//! Output modes (SPEC §2): *prefixed* prints each chunk of lines as it arrives,
//! *grouped* holds a task's lines until it ends and prints them as one block after its
//! status line, *quiet* prints only status lines and the summary. Status lines and task
//! output go to stdout, in event order; interrupts and warnings go to stderr. Every
//! byte leaves through the [`OutputWriter`] thread, so `event()` never waits for the
//! terminal.

use std::io::Write;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
use volley_core::event::{AttemptEnd, Event, EventSink, Stream, TaskKey};
use volley_core::graph::UnitId;
use volley_core::summary::RunSummary;

use super::footer::Footer;
use super::grouped::{GROUP_MEMORY_LIMIT, GroupBuffer};
use super::prefix::Prefixer;
use super::status::status_line;
use super::writer::OutputWriter;
use crate::exec::OutputBacklog;

/// `--output prefixed|grouped|quiet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    #[default]
    Prefixed,
    Grouped,
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalOptions {
    pub mode: OutputMode,
    /// Colour stdout (see [`super::resolve_color`]).
    pub color: bool,
    /// Draw the live footer on stderr: the caller checks that stderr is a terminal
    /// and `--progress` is not `plain`.
    pub footer: bool,
    /// Print the summary table when the run ends.
    pub summary: bool,
}

pub struct TerminalReporter {
    options: TerminalOptions,
    writer: OutputWriter,
    prefixer: Prefixer,
    summary: RunSummary,
    footer: Option<Footer>,
    groups: HashMap<TaskKey, GroupBuffer>,
    group_limit: usize,
    last_end: HashMap<TaskKey, AttemptEnd>,
    fan_out: HashMap<UnitId, Arc<str>>,
    finished: bool,
}

impl TerminalReporter {
    /// Writes to the process's stdout and stderr, counting what waits to be written
    /// in `backlog` (see [`OutputBacklog`]).
    pub fn new(options: TerminalOptions, backlog: Option<Arc<OutputBacklog>>) -> Self {
        Self::writing_to(options, Box::new(std::io::stdout()), Box::new(std::io::stderr()), backlog)
    }

    /// Writes to the given streams (tests, replays). The footer, if enabled, is still
    /// drawn on the real stderr.
    pub fn with_output(
        options: TerminalOptions,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Self {
        Self::writing_to(options, stdout, stderr, None)
    }

    fn writing_to(
        options: TerminalOptions,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        backlog: Option<Arc<OutputBacklog>>,
    ) -> Self {
        let footer = options.footer.then(Footer::new);
        let writer = OutputWriter::spawn(stdout, stderr, footer.as_ref().map(Footer::multi), backlog);
        TerminalReporter {
            options,
            writer,
            prefixer: Prefixer::new(options.color),
            summary: RunSummary::new(),
            footer,
            groups: HashMap::new(),
            group_limit: GROUP_MEMORY_LIMIT,
            last_end: HashMap::new(),
            fan_out: HashMap::new(),
            finished: false,
        }
    }

    /// The summary so far (the CLI reads counts from it).
    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }

    /// Waits until everything reported so far has been written out (before the caller
    /// prints to the terminal itself).
    pub fn flush(&self) {
        self.writer.sync();
    }

    /// True once stdout was closed under us (`volley run | head`).
    pub fn stdout_closed(&self) -> bool {
        self.writer.stdout_closed()
    }

    #[cfg(test)]
    pub(crate) fn set_group_limit(&mut self, limit: usize) {
        self.group_limit = limit;
    }

    fn status(&self, event: &Event, last_end: Option<&AttemptEnd>) -> Option<Vec<u8>> {
        let mut line = status_line(event, last_end, self.options.color)?.into_bytes();
        line.push(b'\n');
        Some(line)
    }

    fn is_fan_out_task(&self, key: TaskKey, name: &str) -> bool {
        self.fan_out.get(&key.unit).is_some_and(|task| **task == *name)
    }

    fn task_finished(&mut self, event: &Event, key: TaskKey, name: &str) {
        let last_end = if self.is_fan_out_task(key, name) { None } else { self.last_end.remove(&key) };
        let mut out = self.status(event, last_end.as_ref()).unwrap_or_default();
        if self.is_fan_out_task(key, name) {
            self.writer.stdout(out);
            return;
        }
        match self.groups.remove(&key) {
            Some(group) => {
                let block = group.finish();
                out.extend_from_slice(&block.memory);
                self.writer.stdout(out);
                if let Some(path) = block.spilled {
                    self.writer.stdout_file(path);
                }
                if block.dropped > 0 {
                    let note =
                        format!("… {} bytes of {name}'s output not shown: see its log\n", block.dropped);
                    self.writer.stdout(note.into_bytes());
                }
            }
            None => self.writer.stdout(out),
        }
    }

    fn run_finished(&mut self) {
        // The footer must be gone before the summary, or its redraw would tear it.
        if let Some(footer) = &mut self.footer {
            footer.clear();
        }
        self.flush_groups();
        if self.options.summary {
            let mut text = b"\n".to_vec();
            text.extend_from_slice(self.summary.render(self.options.color).as_bytes());
            self.writer.stdout(text);
        }
    }

    /// Output of tasks that never finished (an aborted run) is still shown.
    fn flush_groups(&mut self) {
        let mut keys: Vec<TaskKey> = self.groups.keys().copied().collect();
        keys.sort();
        for key in keys {
            if let Some(group) = self.groups.remove(&key) {
                let block = group.finish();
                self.writer.stdout(block.memory);
                if let Some(path) = block.spilled {
                    self.writer.stdout_file(path);
                }
            }
        }
    }
}

impl EventSink for TerminalReporter {
    fn event(&mut self, event: &Event) {
        if self.options.summary {
            self.summary.observe(event);
        }
        if let Some(footer) = &mut self.footer {
            footer.event(event);
        }
        let quiet = self.options.mode == OutputMode::Quiet;
        match event {
            Event::RunStarted { tasks, .. } => tasks.iter().for_each(|t| self.prefixer.widen(&t.name)),
            Event::InstancesPlanned { unit, name, .. } => {
                self.fan_out.insert(*unit, name.clone());
            }
            Event::AttemptStarted { key, name, attempt, .. } => {
                self.prefixer.widen(name);
                if let Some(line) = self.status(event, None) {
                    self.writer.stdout(line);
                }
                // In a block, the attempts' outputs would otherwise run together.
                if let Some(group) = self.groups.get_mut(key).filter(|_| *attempt > 1) {
                    let mut header = Vec::new();
                    let text = format!("── attempt {attempt} ──\n");
                    self.prefixer.format(name, Stream::Stdout, text.as_bytes(), &mut header);
                    group.push(&header);
                }
            }
            Event::Output { key, name, stream, lines, .. } if !quiet => {
                let mut out = Vec::new();
                self.prefixer.format(name, *stream, &lines.0, &mut out);
                if self.options.mode == OutputMode::Grouped {
                    let limit = self.group_limit;
                    self.groups.entry(*key).or_insert_with(|| GroupBuffer::new(limit)).push(&out);
                } else {
                    self.writer.stdout(out);
                }
            }
            Event::AttemptFinished { key, end, .. } => {
                self.last_end.insert(*key, end.clone());
                if let Some(line) = self.status(event, None) {
                    self.writer.stdout(line);
                }
            }
            Event::TaskFinished { key, name, .. } => self.task_finished(event, *key, name),
            Event::Interrupting { .. } | Event::Warning { .. } => {
                if let Some(line) = self.status(event, None) {
                    self.writer.stderr(line);
                }
            }
            Event::Alert(_) => {
                if let Some(line) = self.status(event, None) {
                    self.writer.stdout(line);
                }
            }
            Event::RunFinished { .. } => self.run_finished(),
            Event::Output { .. } | Event::Sample { .. } => {}
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(footer) = &mut self.footer {
            footer.clear();
        }
        self.flush_groups();
        self.writer.close();
    }
}

impl Drop for TerminalReporter {
    fn drop(&mut self) {
        self.finish();
    }
}
