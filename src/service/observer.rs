//! [`LineObserver`]: the supervisor's reports as text lines — service output as
//! `name | line` (the same prefixing as `volley run`) and one status line per
//! lifecycle event — written by a dedicated thread so a slow terminal never stalls
//! probes or timers.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use anstyle::{AnsiColor, Style};
use volley_core::event::{Lines, Stream};
use volley_core::services::ServiceEvent;

use super::supervisor::Observer;
use crate::ui::{Prefixer, format_duration, name_style};

pub struct LineObserver {
    prefixer: Prefixer,
    color: bool,
    show_output: bool,
    tx: Option<Sender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl LineObserver {
    /// `names`: every service, to size the name column. `show_output`: false for a
    /// detached supervisor, whose service output is in the log files already.
    pub fn new(out: Box<dyn Write + Send>, color: bool, show_output: bool, names: &[&str]) -> LineObserver {
        let mut prefixer = Prefixer::new(color);
        for name in names {
            prefixer.widen(name);
        }
        let (tx, rx) = channel();
        let thread = std::thread::spawn(move || write_all(out, &rx));
        LineObserver { prefixer, color, show_output, tx: Some(tx), thread: Some(thread) }
    }

    fn send(&self, bytes: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(bytes);
        }
    }

    fn paint(&self, text: &str, style: Style) -> String {
        if self.color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_owned() }
    }
}

fn write_all(mut out: Box<dyn Write + Send>, rx: &Receiver<Vec<u8>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = first;
        while let Ok(more) = rx.try_recv() {
            batch.extend_from_slice(&more);
        }
        // A closed stdout (`volley up | head`) stops the output, not the services.
        if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

impl Drop for LineObserver {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Observer for LineObserver {
    fn output(&mut self, name: &Arc<str>, stream: Stream, lines: &Lines) {
        if self.show_output {
            let mut out = Vec::new();
            self.prefixer.format(name, stream, &lines.0, &mut out);
            self.send(out);
        }
    }

    fn event(&mut self, event: &ServiceEvent) {
        let bold = Style::new().bold();
        let name = |n: &str| self.paint(n, name_style(n));
        let us = |t: u64| format_duration(std::time::Duration::from_micros(t));
        let line = match event {
            ServiceEvent::ServiceStarting { name: n, attempt, pid } => {
                let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                format!("{} {} starting, pid {pid}{again}", self.paint("▶", bold), name(n))
            }
            ServiceEvent::ServiceReady { name: n, time_to_ready_us } => {
                let check = self.paint("✓", AnsiColor::Green.on_default());
                format!("{check} {} ready after {}", name(n), us(*time_to_ready_us))
            }
            ServiceEvent::ServiceFailed { name: n, reason, restart_in_us } => {
                let then = restart_in_us.map_or(String::new(), |d| format!("; restarting in {}", us(d)));
                format!("{} {} failed: {reason}{then}", self.paint("✗", AnsiColor::Red.on_default()), name(n))
            }
            ServiceEvent::ServiceExited { name: n } => format!("■ {} exited with 0", name(n)),
            ServiceEvent::ServiceStopping { name: n } => format!("■ {} stopping", name(n)),
            ServiceEvent::ServiceStopped { name: n, time_to_stop_us, killed } => {
                let how = if *killed { " (killed: it ignored its stop signal)" } else { "" };
                format!("■ {} stopped in {}{how}", name(n), us(*time_to_stop_us))
            }
        };
        self.send(format!("{line}\n").into_bytes());
    }
}
