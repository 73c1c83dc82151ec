//! [`PipeReader`]: one of a task's output pipes, read into bounded line batches.
//!
//! A pipe starts unwatched: it is not registered with the runtime. Most short tasks
//! are over before their output would be read, and once a task has exited and
//! nothing else holds the pipe's write end, its output is all in the pipe: it is read
//! at once, without blocking ([`read_closed`]). Registering a pipe,
//! switching it to non-blocking mode, waking up for its end-of-file and
//! deregistering it cost two thirds of what the pipes cost per task of `true`
//! (docs/benchmarks.md, "Unwatched pipes"). A task still running after
//! [`UNWATCHED_FOR`], or a pipe held open by something the task left behind, is
//! watched ([`PipeReader::watch`]) and read as it comes.
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
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use volley_core::event::Stream;

use super::lines::{BULK_READ_SIZE, LineSplitter, READ_SIZE};

/// How long a task's pipes stay unwatched: until it exits, or this long. A task that
/// writes more than a pipe holds in that time waits for the rest of it.
pub const UNWATCHED_FOR: Duration = Duration::from_millis(5);
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
fn receiver(fd: OwnedFd) -> io::Result<pipe::Receiver> {
    // It is a pipe; `from_owned_fd` would re-check that with two more syscalls.
    rustix::io::ioctl_fionbio(&fd, true)?;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

/// The read end, before and after [`PipeReader::watch`].
enum End {
    /// Blocking, unknown to the runtime.
    Unwatched(OwnedFd),
    Watched(pipe::Receiver),
    /// Registering it failed, which closed it.
    Lost,
}

/// One pipe being read into line batches.
pub(super) struct PipeReader {
    end: End,
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
    /// An unwatched reader of `fd`, the read end of a pipe.
    pub(super) fn new(fd: OwnedFd, stream: Stream) -> Self {
        Self::with_budget(fd, stream, &BULK_PIPES)
    }

    fn with_budget(fd: OwnedFd, stream: Stream, budget: &'static BulkBudget) -> Self {
        PipeReader {
            end: End::Unwatched(fd),
            lines: LineSplitter::default(),
            stream,
            open: true,
            bulk: false,
            enlarged: false,
            budget,
        }
    }

    /// Registers an open pipe with the runtime, so that [`PipeReader::read`] can wait
    /// for it. Must be called inside the runtime. On an error the pipe is closed.
    pub(super) fn watch(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.end, End::Lost) {
            End::Unwatched(fd) if self.open => match receiver(fd) {
                Ok(rx) => self.end = End::Watched(rx),
                Err(e) => {
                    self.open = false;
                    return Err(e);
                }
            },
            end => self.end = end,
        }
        Ok(())
    }

    /// Reads what is left in a pipe whose write end is closed everywhere, up to its end.
    /// `holds_data`: `poll` saw data in it (an empty one is closed without a read).
    fn read_to_end(&mut self, holds_data: bool) -> io::Result<Option<Vec<u8>>> {
        let End::Unwatched(fd) = &self.end else { return Ok(None) };
        if holds_data {
            loop {
                let buffer = self.lines.buffer();
                // Without writers, a blocking read returns what the pipe holds, then 0.
                let (filled, _) = rustix::io::read(fd, buffer.spare_capacity_mut())?;
                let n = filled.len();
                // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
                unsafe { buffer.set_len(buffer.len() + n) };
                if n == 0 {
                    break;
                }
            }
        }
        self.open = false;
        Ok(self.lines.finish())
    }

    /// Cancel-safe: no data is lost if another branch wins. The pipe must be watched.
    pub(super) async fn read(&mut self) -> io::Result<usize> {
        let End::Watched(rx) = &mut self.end else {
            return Err(io::Error::other("read of an unwatched pipe"));
        };
        let read = rx.read_buf(self.lines.buffer()).await;
        if !self.bulk && matches!(read, Ok(n) if n >= READ_SIZE) {
            self.bulk = true;
            self.enlarge();
        }
        read
    }

    /// See the module's documentation.
    fn enlarge(&mut self) {
        let End::Watched(rx) = &self.end else { return };
        if !self.budget.take() {
            return;
        }
        if rustix::pipe::fcntl_setpipe_size(rx, BULK_PIPE_SIZE).is_ok() {
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

/// For each of the unwatched, open `pipes` whose write end is closed everywhere
/// (`POLLHUP` on its read end), reads what is left in it up to its end and returns
/// its lines; the others are left as they are. Never blocks; one `poll` for all.
pub(super) fn read_closed<const N: usize>(pipes: [&mut PipeReader; N]) -> [io::Result<Option<Vec<u8>>>; N] {
    let mut polled = [const { None }; N];
    let mut fds = Vec::with_capacity(N);
    for (i, pipe) in pipes.iter().enumerate() {
        if let (End::Unwatched(fd), true) = (&pipe.end, pipe.open) {
            polled[i] = Some(fds.len());
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
    }
    if fds.is_empty() {
        return [const { Ok(None) }; N];
    }
    if let Err(e) = poll(&mut fds, Some(&Timespec { tv_sec: 0, tv_nsec: 0 })) {
        return std::array::from_fn(|_| Err(io::Error::from(e)));
    }
    let revents: Vec<PollFlags> = fds.iter().map(PollFd::revents).collect();
    let mut pipes = pipes;
    std::array::from_fn(|i| match polled[i].map(|at| revents[at]) {
        Some(seen) if seen.contains(PollFlags::HUP) => pipes[i].read_to_end(seen.contains(PollFlags::IN)),
        _ => Ok(None),
    })
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
        let mut reader = PipeReader::with_budget(read, Stream::Stdout, budget);
        reader.watch().expect("watch");
        (reader, write.into())
    }

    fn pipe_size(reader: &PipeReader) -> usize {
        let End::Watched(rx) = &reader.end else { panic!("not watched") };
        fcntl_getpipe_size(rx).expect("size")
    }

    /// Fills `reader`'s pipe with one read's worth and reads it; returns the pipe's size.
    async fn fill_and_read(reader: &mut PipeReader, task: &mut std::fs::File) -> usize {
        task.write_all(&vec![b'x'; READ_SIZE]).expect("fill the pipe");
        let read = reader.read().await;
        assert_eq!(*read.as_ref().expect("read"), READ_SIZE);
        pipe_size(reader)
    }

    #[test]
    fn a_pipe_that_cannot_be_watched_is_closed() {
        runtime().block_on(async {
            // epoll refuses a regular file (EPERM), as it might refuse a pipe when the
            // user's epoll watches are used up.
            let file = tempfile::tempfile().expect("file");
            let mut reader = PipeReader::new(OwnedFd::from(file), Stream::Stderr);
            assert!(reader.watch().is_err());
            assert!(!reader.open && matches!(reader.end, End::Lost));
            assert!(reader.watch().is_ok(), "once lost, nothing more to do");
        });
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
            assert_eq!(pipe_size(&reader), READ_SIZE, "the kernel's default");
            let line: Vec<u8> = [b'x'; 99].iter().chain(b"\n").copied().collect();
            let lines = line.repeat(BULK_PIPE_SIZE / 100);
            task.write_all(&lines[..READ_SIZE]).expect("fill the pipe");
            let read = reader.read().await;
            assert_eq!(*read.as_ref().expect("read"), READ_SIZE);
            assert_eq!(reader.lines_after(&read).expect("lines").len(), READ_SIZE / 100 * 100);

            assert_eq!(pipe_size(&reader), BULK_PIPE_SIZE);
            // Far more than a default pipe holds, written without a reader: it fits now.
            task.write_all(&lines).expect("write into the bigger pipe");
            let read = reader.read().await;
            assert!(*read.as_ref().expect("read") > READ_SIZE, "reads stay small: {read:?}");
        });
    }

    /// An unwatched reader on a fresh pipe, with the pipe's write end.
    fn unwatched() -> (PipeReader, std::fs::File) {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        (PipeReader::new(read, Stream::Stdout), write.into())
    }

    #[test]
    fn a_closed_pipe_is_read_to_its_end_without_being_watched() {
        let (mut reader, mut task) = unwatched();
        task.write_all(b"one\ntwo\nno newline").expect("write");
        drop(task);
        let [lines] = read_closed([&mut reader]);
        assert_eq!(lines.expect("read").as_deref(), Some(&b"one\ntwo\nno newline\n"[..]));
        assert!(!reader.open);
        assert!(matches!(reader.end, End::Unwatched(_)));
    }

    #[test]
    fn a_pipe_still_held_open_is_left_unread_without_blocking() {
        let (mut reader, mut task) = unwatched();
        let (mut empty, _held) = unwatched();
        task.write_all(b"early\n").expect("write");
        let [lines, nothing] = read_closed([&mut reader, &mut empty]);
        assert_eq!(lines.expect("poll"), None);
        assert_eq!(nothing.expect("poll"), None);
        assert!(reader.open && empty.open);
        // Watched, it reads what was left, then what comes.
        runtime().block_on(async {
            reader.watch().expect("watch");
            let read = reader.read().await;
            assert_eq!(reader.lines_after(&read).as_deref(), Some(&b"early\n"[..]));
            drop(task);
            let eof = reader.read().await;
            assert_eq!(reader.lines_after(&eof), None);
            assert!(!reader.open);
        });
    }

    #[test]
    fn an_empty_closed_pipe_is_closed_and_a_watched_one_is_left_to_the_runtime() {
        let (mut empty, task) = unwatched();
        drop(task);
        let [lines] = read_closed([&mut empty]);
        assert_eq!(lines.expect("poll"), None);
        assert!(!empty.open);
        with_pipe_reader(async |mut watched, task| {
            drop(task);
            let [lines] = read_closed([&mut watched]);
            assert_eq!(lines.expect("poll"), None);
            assert!(watched.open, "only the runtime reads a watched pipe");
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
            assert_eq!(pipe_size(&reader), READ_SIZE);
        });
    }
}
