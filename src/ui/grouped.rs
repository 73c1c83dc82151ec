//! Grouped output: a task's formatted lines held back until it ends, then printed as
//! one block.
//!
//! Memory is bounded: past [`GROUP_MEMORY_LIMIT`] bytes a task's further output goes
//! to a temporary file under `std::env::temp_dir()`, which the writer thread streams
//! to stdout after the in-memory part and then deletes. If the file cannot be made,
//! the excess is dropped with a note pointing at the task's log, rather than growing
//! without bound.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Output kept in memory per task before spilling to disk.
pub const GROUP_MEMORY_LIMIT: usize = 4 << 20;

static SPILL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One task's held-back output.
#[derive(Debug)]
pub struct GroupBuffer {
    limit: usize,
    memory: Vec<u8>,
    spill: Option<Spill>,
    dropped: usize,
}

#[derive(Debug)]
struct Spill {
    path: PathBuf,
    file: BufWriter<File>,
}

/// What to print for a finished task: `memory` first, then the spilled file.
#[derive(Debug)]
pub struct GroupBlock {
    pub memory: Vec<u8>,
    pub spilled: Option<PathBuf>,
    /// Bytes that could not be kept (no temporary file).
    pub dropped: usize,
}

impl GroupBuffer {
    pub fn new(limit: usize) -> Self {
        GroupBuffer { limit, memory: Vec::new(), spill: None, dropped: 0 }
    }

    /// Appends formatted output.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.spill.is_none() && self.dropped == 0 && self.memory.len() + bytes.len() <= self.limit {
            self.memory.extend_from_slice(bytes);
            return;
        }
        if self.spill.is_none() && self.dropped == 0 {
            self.spill = Spill::create();
        }
        let written = match &mut self.spill {
            Some(spill) => spill.file.write_all(bytes).is_ok(),
            None => false,
        };
        if !written {
            self.dropped += bytes.len();
        }
    }

    #[cfg(test)]
    pub fn memory_len(&self) -> usize {
        self.memory.len()
    }

    /// Ends the buffer: what to print, in order.
    pub fn finish(mut self) -> GroupBlock {
        let memory = std::mem::take(&mut self.memory);
        // A spill whose tail cannot be flushed is deleted by `Spill::drop`.
        let spilled = self.spill.take().and_then(|mut spill| {
            spill.file.flush().ok()?;
            Some(std::mem::take(&mut spill.path))
        });
        GroupBlock { memory, spilled, dropped: self.dropped }
    }
}

impl Spill {
    fn create() -> Option<Spill> {
        let n = SPILL_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("volley-{}-{n}.grouped", std::process::id()));
        let file = OpenOptions::new().write(true).create_new(true).open(&path).ok()?;
        Some(Spill { path, file: BufWriter::with_capacity(1 << 20, file) })
    }
}

impl Drop for Spill {
    /// A buffer dropped without being printed (an aborted run) leaves no file behind.
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_stays_in_memory() {
        let mut buffer = GroupBuffer::new(100);
        buffer.push(b"a | one\n");
        buffer.push(b"a | two\n");
        let block = buffer.finish();
        assert_eq!(block.memory, b"a | one\na | two\n");
        assert!(block.spilled.is_none());
    }

    #[test]
    fn output_past_the_limit_spills_to_a_file_in_order() {
        let mut buffer = GroupBuffer::new(16);
        buffer.push(b"0123456789\n");
        buffer.push(b"abcdefghij\n");
        buffer.push(b"short\n");
        assert_eq!(buffer.memory_len(), 11, "memory stops growing at the limit");
        let block = buffer.finish();
        assert_eq!(block.memory, b"0123456789\n");
        let path = block.spilled.expect("a spill file");
        assert_eq!(std::fs::read(&path).expect("spill file"), b"abcdefghij\nshort\n");
        std::fs::remove_file(path).expect("remove");
    }

    #[test]
    fn unprinted_spill_files_are_removed() {
        let mut buffer = GroupBuffer::new(1);
        buffer.push(b"spilled\n");
        let path = buffer.spill.as_ref().map(|s| s.path.clone()).expect("spilled");
        assert!(path.exists());
        drop(buffer);
        assert!(!path.exists());
    }
}
