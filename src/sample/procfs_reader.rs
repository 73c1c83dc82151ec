//! [`ProcfsReader`]: the Linux [`ResourceReader`], reading `/proc`.
//!
//! A full pass lists `/proc` once and reads each process's `stat` into one reused
//! buffer; a tree walk reads only the given processes and, through
//! `/proc/<pid>/task/<tid>/children` (every thread: children belong to the thread
//! that forked them), their descendants. `stat` is the hot file, so it is parsed by
//! hand ([`parse_stat`]) instead of through `procfs::process::Stat`, which allocates
//! a few strings per process (see the `per_tick_cost` measurement in `sampler.rs`).
//! The rarer files (`io` of our own processes, `meminfo`, `loadavg`) go through
//! procfs. A process that exits between the listing and the read is simply missing
//! from the pass.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use procfs::Current;

use super::reader::{IoBytes, Machine, ResourceReader};
use super::table::{ProcessEntry, parse_stat};

pub struct ProcfsReader {
    page_size: u64,
    ticks_per_second: u64,
    /// Where free disk space is measured: the state dir, or its nearest existing
    /// ancestor until the recorder has created it.
    disk_path: PathBuf,
    buffer: Vec<u8>,
    path: String,
    /// Tree walks: pids already read this walk, and pids still to read.
    seen: HashSet<u32>,
    queue: Vec<u32>,
    /// `false` once a kernel without `CONFIG_PROC_CHILDREN` showed itself.
    children_files: bool,
}

impl ProcfsReader {
    pub fn new(disk_path: PathBuf) -> Self {
        ProcfsReader {
            page_size: procfs::page_size(),
            ticks_per_second: procfs::ticks_per_second().max(1),
            disk_path,
            buffer: vec![0; 1024],
            path: String::with_capacity(64),
            seen: HashSet::new(),
            queue: Vec::new(),
            children_files: true,
        }
    }

    /// Reads `self.path` into the buffer with plain `read`s: `read_to_end` would first
    /// ask the file's size (a `statx` and an `lseek` per file, and /proc says 0).
    fn read_path(&mut self) -> std::io::Result<usize> {
        let mut file = File::open(&self.path)?;
        let mut filled = 0;
        loop {
            if filled == self.buffer.len() {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
            let room = self.buffer.len() - filled;
            match file.read(&mut self.buffer[filled..]) {
                // /proc generates the whole file in one read when it fits.
                Ok(n) if n < room => return Ok(filled + n),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues the children of every thread of `pid`. `false` if this kernel has no
    /// `children` files.
    fn queue_children(&mut self, pid: u32, threads: u32) -> bool {
        use std::fmt::Write as _;
        if threads <= 1 {
            // The usual case: the only thread's id is the pid; no need to list them.
            return self.queue_thread_children(pid, pid);
        }
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/task");
        let Ok(threads) = std::fs::read_dir(&self.path) else { return true };
        for thread in threads.flatten() {
            let Some(tid) = thread.file_name().to_str().and_then(|t| t.parse().ok()) else { continue };
            if !self.queue_thread_children(pid, tid) {
                return false;
            }
        }
        true
    }

    fn queue_thread_children(&mut self, pid: u32, tid: u32) -> bool {
        use std::fmt::Write as _;
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/task/{tid}/children");
        match self.read_path() {
            Ok(len) => {
                let text = std::str::from_utf8(&self.buffer[..len]).unwrap_or("");
                self.queue.extend(text.split_ascii_whitespace().filter_map(|c| c.parse::<u32>().ok()));
                true
            }
            // The thread exists but has no `children` file: a kernel without
            // CONFIG_PROC_CHILDREN.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                !Path::new(&self.path).parent().is_some_and(Path::exists)
            }
            Err(_) => true, // the thread or the process is gone
        }
    }

    fn read_stat(&mut self, pid: u32) -> Option<ProcessEntry> {
        use std::fmt::Write as _;
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/stat");
        let len = self.read_path().ok()?;
        parse_stat(&self.buffer[..len], self.page_size)
    }
}

impl ResourceReader for ProcfsReader {
    fn ticks_per_second(&self) -> u64 {
        self.ticks_per_second
    }

    fn processes(&mut self, table: &mut Vec<ProcessEntry>) {
        table.clear();
        let Ok(dir) = std::fs::read_dir("/proc") else { return };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(process) = self.read_stat(pid) {
                table.push(process);
            }
        }
    }

    fn trees(&mut self, roots: &[u32], table: &mut Vec<ProcessEntry>) -> bool {
        if !self.children_files {
            return false;
        }
        table.clear();
        self.seen.clear();
        self.queue.clear();
        self.queue.extend_from_slice(roots);
        while let Some(pid) = self.queue.pop() {
            if !self.seen.insert(pid) {
                continue;
            }
            let Some(process) = self.read_stat(pid) else { continue };
            table.push(process);
            if !self.queue_children(pid, process.threads) {
                self.children_files = false;
                return false;
            }
        }
        true
    }

    fn io(&mut self, pid: u32) -> Option<IoBytes> {
        use procfs::FromBufRead;
        use std::fmt::Write as _;
        // Our buffer and procfs's parser: `Process::new(pid).io()` would open the
        // process directory first, twice the system calls for every member each tick.
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/io");
        let len = self.read_path().ok()?;
        let io = procfs::process::Io::from_buf_read(&self.buffer[..len]).ok()?;
        Some(IoBytes { read: io.read_bytes, written: io.write_bytes })
    }

    fn machine(&mut self) -> Machine {
        let mem_available = procfs::Meminfo::current().ok().and_then(|m| m.mem_available);
        // Parsed as f32: round to the two decimals `/proc/loadavg` has.
        let load1 = procfs::LoadAverage::current().ok().map(|l| (f64::from(l.one) * 100.0).round() / 100.0);
        Machine { mem_available, disk_free: disk_free(&self.disk_path), load1 }
    }
}

/// Free space for unprivileged users on the file system holding `path` (or its
/// nearest existing ancestor).
fn disk_free(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let stats = rustix::fs::statvfs(existing).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}
