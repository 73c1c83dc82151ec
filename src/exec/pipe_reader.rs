//! [`PipeReader`]: one of a task's output pipes, read into bounded line batches.
//!
//! Reads start at [`READ_SIZE`], a default pipe's capacity. A task that fills a whole
//! read keeps its pipe full: its pipe is enlarged to [`BULK_PIPE_SIZE`] and reads
//! grow to [`BULK_READ_SIZE`], so the task runs on while volley works through a batch
//! and each batch takes fewer wake-ups and system calls. Quiet tasks never pay the
//! extra `fcntl`. The kernel refuses the enlargement beyond the user's pipe quota
//! (`/proc/sys/fs/pipe-user-pages-soft`); reads then just stay small.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use volley_core::event::Stream;

use super::lines::{BULK_READ_SIZE, LineSplitter, READ_SIZE};

/// Pipe capacity for a task that fills its pipe faster than volley reads it.
pub const BULK_PIPE_SIZE: usize = 1 << 20;

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
    /// The task has filled a read: its pipe is enlarged and reads are bigger.
    bulk: bool,
}

impl PipeReader {
    pub(super) fn new(rx: pipe::Receiver, stream: Stream) -> Self {
        PipeReader { rx, lines: LineSplitter::default(), stream, open: true, bulk: false }
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
        if rustix::pipe::fcntl_setpipe_size(&self.rx, BULK_PIPE_SIZE).is_ok() {
            self.lines.set_read_size(BULK_READ_SIZE);
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rustix::pipe::{PipeFlags, fcntl_getpipe_size, pipe_with};

    use super::*;

    /// Runs `test` with a [`PipeReader`] on a fresh pipe and the pipe's write end.
    fn with_pipe_reader(test: impl AsyncFnOnce(PipeReader, std::fs::File)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let (read, write) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
            test(PipeReader::new(receiver(read).expect("receiver"), Stream::Stdout), write.into()).await;
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
