//! [`PipeReader`]: one of a task's output pipes, read into bounded line batches.
//!
//! Reads start at [`READ_SIZE`], a default pipe's capacity. A task that fills a whole
//! read keeps its pipe full: its pipe is enlarged to [`BULK_PIPE_SIZE`] and reads
//! grow to [`BULK_READ_SIZE`], so the task runs on while volley works through a batch
//! and each batch takes fewer wake-ups and system calls. Quiet tasks never pay the
//! extra `fcntl`.
//!
//! At most [`MAX_BULK_PIPES`] pipes are enlarged at once: once an unprivileged user's
//! pipes hold more than `/proc/sys/fs/pipe-user-pages-soft` (64 MiB by default), the
//! kernel gives every new pipe of theirs, in any program, two pages only. Beyond the
//! budget, or if the kernel refuses, reads just stay small.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use volley_core::event::Stream;

use super::lines::{BULK_READ_SIZE, LineSplitter, READ_SIZE};

/// Pipe capacity for a task that fills its pipe faster than volley reads it.
pub const BULK_PIPE_SIZE: usize = 1 << 20;
/// Enlarged pipes alive at once: a quarter of the default per-user soft limit.
pub const MAX_BULK_PIPES: usize = 16;

/// How many pipes of this process are enlarged now, against a maximum.
pub(super) struct BulkBudget {
    alive: AtomicUsize,
    max: usize,
}

impl BulkBudget {
    pub(super) const fn new(max: usize) -> Self {
        BulkBudget { alive: AtomicUsize::new(0), max }
    }

    fn take(&self) -> bool {
        self.alive
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .is_ok()
    }

    fn give_back(&self) {
        self.alive.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The budget every task's pipes share.
static BULK_PIPES: BulkBudget = BulkBudget::new(MAX_BULK_PIPES);

/// The read end of a task's pipe, registered with the runtime.
pub(super) fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    // It is a pipe; `from_owned_fd` would re-check that with two more syscalls.
    rustix::io::ioctl_fionbio(&fd, true)?;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

/// One pipe being read into line batches.
pub(super) struct PipeReader {
    rx: pipe::Receiver,
    lines: LineSplitter,
    pub(super) stream: Stream,
    pub(super) open: bool,
    /// The task has filled a read: enlarging its pipe has been tried.
    bulk: bool,
    /// This pipe holds one of the budget's enlargements.
    enlarged: bool,
    budget: &'static BulkBudget,
}

impl PipeReader {
    pub(super) fn new(rx: pipe::Receiver, stream: Stream) -> Self {
        Self::with_budget(rx, stream, &BULK_PIPES)
    }

    fn with_budget(rx: pipe::Receiver, stream: Stream, budget: &'static BulkBudget) -> Self {
        PipeReader {
            rx,
            lines: LineSplitter::default(),
            stream,
            open: true,
            bulk: false,
            enlarged: false,
            budget,
        }
    }

    /// Cancel-safe: no data is lost if another branch wins.
    pub(super) async fn read(&mut self) -> io::Result<usize> {
        let read = self.rx.read_buf(self.lines.buffer()).await;
        if !self.bulk && matches!(read, Ok(n) if n >= READ_SIZE) {
            self.bulk = true;
            self.enlarge();
        }
        read
    }

    /// See the module's documentation.
    fn enlarge(&mut self) {
        if !self.budget.take() {
            return;
        }
        if rustix::pipe::fcntl_setpipe_size(&self.rx, BULK_PIPE_SIZE).is_ok() {
            self.enlarged = true;
            self.lines.set_read_size(BULK_READ_SIZE);
        } else {
            self.budget.give_back();
        }
    }

    /// Turns a read result into the lines to report; EOF or an error closes the pipe.
    pub(super) fn lines_after(&mut self, read: &io::Result<usize>) -> Option<Vec<u8>> {
        if matches!(read, Ok(n) if *n > 0) {
            self.lines.take_lines()
        } else {
            self.open = false;
            self.lines.finish()
        }
    }

    /// The pipe is given up on (the drain deadline passed): the pending partial line.
    pub(super) fn finish(&mut self) -> Option<Vec<u8>> {
        self.lines.finish()
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        if self.enlarged {
            self.budget.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rustix::pipe::{PipeFlags, fcntl_getpipe_size, pipe_with};

    use super::*;

    /// Runs `test` with a [`PipeReader`] on a fresh pipe and the pipe's write end.
    fn with_pipe_reader(test: impl AsyncFnOnce(PipeReader, std::fs::File)) {
        runtime().block_on(async {
            let (reader, task) = pipe_reader(&BULK_PIPES);
            test(reader, task).await;
        });
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
    }

    /// A reader on a fresh pipe, with the pipe's write end. Inside a runtime.
    fn pipe_reader(budget: &'static BulkBudget) -> (PipeReader, std::fs::File) {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        (PipeReader::with_budget(receiver(read).expect("receiver"), Stream::Stdout, budget), write.into())
    }

    /// Fills `reader`'s pipe with one read's worth and reads it; returns the pipe's size.
    async fn fill_and_read(reader: &mut PipeReader, task: &mut std::fs::File) -> usize {
        task.write_all(&vec![b'x'; READ_SIZE]).expect("fill the pipe");
        let read = reader.read().await;
        assert_eq!(*read.as_ref().expect("read"), READ_SIZE);
        fcntl_getpipe_size(&reader.rx).expect("size")
    }

    #[test]
    fn no_more_pipes_are_enlarged_at_once_than_the_budget_allows() {
        let budget: &'static BulkBudget = Box::leak(Box::new(BulkBudget::new(2)));
        runtime().block_on(async {
            let mut pipes: Vec<_> = (0..3).map(|_| pipe_reader(budget)).collect();
            let mut sizes = Vec::new();
            for (reader, task) in &mut pipes {
                sizes.push(fill_and_read(reader, task).await);
            }
            assert_eq!(sizes, [BULK_PIPE_SIZE, BULK_PIPE_SIZE, READ_SIZE]);
            // A finished task gives its enlargement back.
            drop(pipes.remove(0));
            let (mut reader, mut task) = pipe_reader(budget);
            assert_eq!(fill_and_read(&mut reader, &mut task).await, BULK_PIPE_SIZE);
        });
    }

    #[test]
    fn a_task_that_fills_a_read_gets_a_bigger_pipe_and_bigger_reads() {
        with_pipe_reader(async |mut reader, mut task| {
            assert_eq!(fcntl_getpipe_size(&reader.rx).expect("size"), READ_SIZE, "the kernel's default");
            let line: Vec<u8> = [b'x'; 99].iter().chain(b"\n").copied().collect();
            let lines = line.repeat(BULK_PIPE_SIZE / 100);
            task.write_all(&lines[..READ_SIZE]).expect("fill the pipe");
            let read = reader.read().await;
            assert_eq!(*read.as_ref().expect("read"), READ_SIZE);
            assert_eq!(reader.lines_after(&read).expect("lines").len(), READ_SIZE / 100 * 100);

            assert_eq!(fcntl_getpipe_size(&reader.rx).expect("size"), BULK_PIPE_SIZE);
            // Far more than a default pipe holds, written without a reader: it fits now.
            task.write_all(&lines).expect("write into the bigger pipe");
            let read = reader.read().await;
            assert!(*read.as_ref().expect("read") > READ_SIZE, "reads stay small: {read:?}");
        });
    }

    #[test]
    fn a_quiet_task_keeps_the_default_pipe() {
        with_pipe_reader(async |mut reader, mut task| {
            task.write_all(b"one line\n").expect("write");
            drop(task);
            let read = reader.read().await;
            assert_eq!(reader.lines_after(&read).as_deref(), Some(&b"one line\n"[..]));
            let eof = reader.read().await;
            assert_eq!(*eof.as_ref().expect("eof"), 0);
            assert_eq!(reader.lines_after(&eof), None);
            assert!(!reader.open);
            assert_eq!(fcntl_getpipe_size(&reader.rx).expect("size"), READ_SIZE);
        });
    }
}
