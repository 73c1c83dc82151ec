//! The one thread that writes to the terminal.
//!
//! `event()` must never block on a slow terminal or `| less` (a blocked `write(2)` on
//! the runner's thread would stall timeouts and probes), so formatted batches go over
//! an unbounded channel to this thread, which owns a `BufWriter` on stdout and flushes
//! when the channel is drained: one syscall per burst, not per line. With a footer,
//! each drained burst is written inside one `MultiProgress::suspend` (never per line:
//! each suspend redraws every bar). After a burst the thread lingers for [`LINGER`]
//! before taking the next: sends to a thread that is not blocked in `recv` cost a
//! queue push instead of a futex wake-up and a context switch, which with one status
//! line per short task was a tenth of volley's cost per task. Output is at most that
//! much later on screen; `sync` and `close` cut the wait short.
//!
//! A closed stdout (`volley run | head`) stops stdout writing quietly: later batches
//! are dropped, the run goes on, [`OutputWriter::stdout_closed`] tells the caller.
//! Given an [`OutputBacklog`], the writer counts what waits in the channel, and the
//! executor stops reading the tasks' output while that is too much: memory stays
//! bounded however far the terminal falls behind.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::MultiProgress;

use crate::exec::OutputBacklog;

/// Bytes written inside one `suspend` before letting the footer redraw.
const BURST_BYTES: usize = 8 << 20;
/// How long the thread lets messages gather after writing a burst.
const LINGER: Duration = Duration::from_millis(5);

enum Message {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// Copy this file to stdout, then delete it (grouped output spilled to disk).
    StdoutFile(PathBuf),
    /// Everything sent before has been written and flushed.
    Synced(Sender<()>),
}

/// Handle to the writer thread.
pub struct OutputWriter {
    tx: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    stdout_closed: Arc<AtomicBool>,
    /// Set (with an unpark) when someone waits for the thread: stop lingering.
    hurry: Arc<Hurry>,
    backlog: Option<Arc<OutputBacklog>>,
}

/// Why the thread should not linger: a one-off `sync`, or `close` (for good: after it
/// the thread only writes what is left, and must not wait between those bursts).
#[derive(Default)]
struct Hurry {
    once: AtomicBool,
    closing: AtomicBool,
}

impl OutputWriter {
    /// Starts the thread. `footer`, when drawn, is suspended around every burst;
    /// `backlog` counts the bytes waiting to be written.
    pub fn spawn(
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        footer: Option<MultiProgress>,
        backlog: Option<Arc<OutputBacklog>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let stdout_closed = Arc::new(AtomicBool::new(false));
        let closed = stdout_closed.clone();
        let hurry = Arc::new(Hurry::default());
        let hurry_seen = hurry.clone();
        let backlog_seen = backlog.clone();
        let thread = std::thread::Builder::new()
            .name("volley-output".into())
            .spawn(move || {
                let stdout = BufWriter::with_capacity(256 << 10, stdout);
                Drain { rx, stdout, stderr, closed, hurry: hurry_seen, backlog: backlog_seen }
                    .run(footer.as_ref());
            })
            .ok();
        // Without a thread (cannot happen in practice) output is dropped, never blocking.
        OutputWriter { tx: thread.as_ref().map(|_| tx), thread, stdout_closed, hurry, backlog }
    }

    pub fn stdout(&self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.send_counted(bytes.len(), Message::Stdout(bytes));
        }
    }

    pub fn stderr(&self, bytes: Vec<u8>) {
        self.send_counted(bytes.len(), Message::Stderr(bytes));
    }

    /// Sends `message`, whose `len` bytes wait in the backlog until written.
    fn send_counted(&self, len: usize, message: Message) {
        if let Some(backlog) = &self.backlog {
            backlog.queued(len);
            if self.try_send(message).is_some() {
                backlog.written(len);
            }
        } else {
            self.send(message);
        }
    }

    /// Streams a spilled file to stdout in order with other batches; the thread deletes it.
    pub fn stdout_file(&self, path: PathBuf) {
        if let Some(Message::StdoutFile(path)) = self.try_send(Message::StdoutFile(path)) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Waits until everything sent so far is written (e.g. before clearing the footer).
    pub fn sync(&self) {
        let (tx, rx) = mpsc::channel();
        self.send(Message::Synced(tx));
        self.hurry.once.store(true, Ordering::Release);
        self.wake();
        let _ = rx.recv();
    }

    fn wake(&self) {
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }

    /// True once stdout failed (usually a closed pipe).
    pub fn stdout_closed(&self) -> bool {
        self.stdout_closed.load(Ordering::Relaxed)
    }

    /// Writes out everything queued and stops the thread.
    pub fn close(&mut self) {
        self.tx = None;
        self.hurry.closing.store(true, Ordering::Release);
        self.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn send(&self, message: Message) {
        let _ = self.try_send(message);
    }

    /// Returns the message when it could not be queued (the thread is gone).
    fn try_send(&self, message: Message) -> Option<Message> {
        match &self.tx {
            Some(tx) => tx.send(message).err().map(|e| e.0),
            None => Some(message),
        }
    }
}

impl Drop for OutputWriter {
    fn drop(&mut self) {
        self.close();
    }
}

struct Drain {
    rx: Receiver<Message>,
    stdout: BufWriter<Box<dyn Write + Send>>,
    stderr: Box<dyn Write + Send>,
    closed: Arc<AtomicBool>,
    hurry: Arc<Hurry>,
    backlog: Option<Arc<OutputBacklog>>,
}

impl Drain {
    fn run(mut self, footer: Option<&MultiProgress>) {
        while let Ok(first) = self.rx.recv() {
            match footer {
                Some(footer) => footer.suspend(|| self.burst(first)),
                None => self.burst(first),
            }
            self.linger();
        }
        self.flush();
    }

    /// Lets messages gather for [`LINGER`], unless someone is waiting for us.
    fn linger(&self) {
        let until = Instant::now() + LINGER;
        loop {
            if self.hurry.closing.load(Ordering::Acquire) || self.hurry.once.swap(false, Ordering::AcqRel) {
                return;
            }
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::park_timeout(until - now);
        }
    }

    /// Writes `first` and whatever else is already queued, then flushes.
    fn burst(&mut self, first: Message) {
        let mut written = self.handle(first);
        while written < BURST_BYTES {
            match self.rx.try_recv() {
                Ok(message) => written += self.handle(message),
                Err(_) => break,
            }
        }
        self.flush();
    }

    fn handle(&mut self, message: Message) -> usize {
        match message {
            Message::Stdout(bytes) => {
                self.write_stdout(&bytes);
                self.written(bytes.len())
            }
            Message::Stderr(bytes) => {
                // Keep stdout and stderr in the order they were sent.
                self.flush();
                let _ = self.stderr.write_all(&bytes);
                let _ = self.stderr.flush();
                self.written(bytes.len())
            }
            Message::StdoutFile(path) => {
                let written = self.copy_file(&path);
                let _ = std::fs::remove_file(&path);
                written
            }
            Message::Synced(done) => {
                self.flush();
                let _ = done.send(());
                0
            }
        }
    }

    /// Counts `len` bytes out of the backlog (the `BufWriter` holds at most its
    /// capacity more); returns `len`.
    fn written(&self, len: usize) -> usize {
        if let Some(backlog) = &self.backlog {
            backlog.written(len);
        }
        len
    }

    fn copy_file(&mut self, path: &PathBuf) -> usize {
        let Ok(mut file) = File::open(path) else { return 0 };
        let mut buf = vec![0; 1 << 20];
        let mut total = 0;
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => {
                    self.write_stdout(&buf[..n]);
                    total += n;
                }
            }
        }
    }

    fn write_stdout(&mut self, bytes: &[u8]) {
        if !self.closed.load(Ordering::Relaxed) && self.stdout.write_all(bytes).is_err() {
            self.stdout_failed();
        }
    }

    fn flush(&mut self) {
        if !self.closed.load(Ordering::Relaxed) && self.stdout.flush().is_err() {
            self.stdout_failed();
        }
    }

    /// A closed pipe (or any other stdout error): stop writing stdout, say nothing.
    fn stdout_failed(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
        // Drop whatever is buffered so later flushes cannot fail again.
        let _ = std::mem::replace(&mut self.stdout, BufWriter::new(Box::new(io::sink())));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    pub struct Shared(pub Arc<Mutex<Vec<u8>>>);

    impl Shared {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
        }
    }

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn batches_arrive_in_order() {
        let out = Shared::default();
        let mut writer = OutputWriter::spawn(Box::new(out.clone()), Box::new(io::sink()), None, None);
        for i in 0..1000 {
            writer.stdout(format!("{i}\n").into_bytes());
        }
        writer.close();
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        let expected: String = (0..1000).map(|i| i.to_string() + "\n").collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn close_does_not_wait_out_a_linger() {
        // With the bug this guards against, every close took at least LINGER: the
        // wake-up was used up by the last burst, and the thread lingered once more.
        let fastest = (0..5)
            .map(|_| {
                let mut writer = OutputWriter::spawn(Box::new(io::sink()), Box::new(io::sink()), None, None);
                writer.stdout(b"first\n".to_vec());
                std::thread::sleep(Duration::from_millis(1));
                writer.stdout(b"second\n".to_vec());
                let started = Instant::now();
                writer.close();
                started.elapsed()
            })
            .min()
            .expect("five closes");
        assert!(fastest < LINGER / 2, "close took {fastest:?}");
    }

    #[test]
    fn closed_stdout_stops_quietly() {
        let err = Shared::default();
        let mut writer = OutputWriter::spawn(Box::new(Closed), Box::new(err.clone()), None, None);
        writer.stdout(b"lost\n".to_vec());
        writer.sync();
        assert!(writer.stdout_closed());
        writer.stdout(b"also lost\n".to_vec());
        writer.stderr(b"still shown\n".to_vec());
        writer.close();
        assert_eq!(err.0.lock().expect("lock").as_slice(), b"still shown\n");
    }
}
