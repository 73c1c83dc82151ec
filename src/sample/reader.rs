//! [`ResourceReader`]: the narrow seam between the sampler and the operating system.
//!
//! Linux reads `/proc` ([`super::procfs_reader::ProcfsReader`]); other systems have
//! no reader yet, so they get no samples (CPU time still comes from `wait4`).

use std::path::PathBuf;

use super::table::ProcessEntry;

/// Cumulative storage bytes of one process (`/proc/<pid>/io` `read_bytes`,
/// `write_bytes`): what reached the block layer, not every `read(2)` (`rchar`),
/// which would count the task's own output pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoBytes {
    pub read: u64,
    pub written: u64,
}

/// Machine-wide figures; `None` where unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Machine {
    pub mem_available: Option<u64>,
    pub disk_free: Option<u64>,
    pub load1: Option<f64>,
}

pub trait ResourceReader: Send {
    /// Clock ticks per second of [`ProcessEntry::cpu_ticks`].
    fn ticks_per_second(&self) -> u64;
    /// Replaces `table` with every process visible now.
    fn processes(&mut self, table: &mut Vec<ProcessEntry>);
    /// Replaces `table` with `roots` and all their descendants (found through
    /// parent-child links, not by scanning every process). `false`: this system
    /// cannot walk trees; use [`Self::processes`].
    fn trees(&mut self, roots: &[u32], table: &mut Vec<ProcessEntry>) -> bool;
    /// One process's IO counters, if readable (hardened kernels may refuse).
    fn io(&mut self, pid: u32) -> Option<IoBytes>;
    fn machine(&mut self) -> Machine;
}

/// The reader for this system, if there is one. `disk_path`: where free disk space
/// is measured (the state dir).
pub fn system_reader(disk_path: PathBuf) -> Option<Box<dyn ResourceReader>> {
    #[cfg(target_os = "linux")]
    {
        Some(Box::new(super::procfs_reader::ProcfsReader::new(disk_path)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = disk_path;
        None
    }
}
