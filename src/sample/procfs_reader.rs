//! [`ProcfsReader`]: the Linux [`ResourceReader`], reading `/proc`.
//!
//! One pass lists `/proc` once and reads each process's `stat` into one reused
//! buffer: that file is read for every process on the machine each tick, so it is
//! parsed by hand ([`parse_stat`]) instead of through `procfs::process::Stat`, which
//! allocates a few strings per process (see the `per_tick_cost` measurement in
//! `sampler.rs`). The rarer files (`io` of our own processes, `meminfo`, `loadavg`)
//! go through procfs. A process that exits between the listing and the read is
//! simply missing from the pass.

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
}

impl ProcfsReader {
    pub fn new(disk_path: PathBuf) -> Self {
        ProcfsReader {
            page_size: procfs::page_size(),
            ticks_per_second: procfs::ticks_per_second().max(1),
            disk_path,
            buffer: Vec::with_capacity(1024),
            path: String::with_capacity(32),
        }
    }

    fn read_stat(&mut self, pid: u32) -> Option<ProcessEntry> {
        use std::fmt::Write as _;
        self.path.clear();
        let _ = write!(self.path, "/proc/{pid}/stat");
        self.buffer.clear();
        File::open(&self.path).ok()?.read_to_end(&mut self.buffer).ok()?;
        parse_stat(&self.buffer, self.page_size)
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

    fn io(&mut self, pid: u32) -> Option<IoBytes> {
        let io = procfs::process::Process::new(pid as i32).ok()?.io().ok()?;
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
