//! [`Spill`]: an append-only scratch file for output held back by `--keep-order`:
//! nameless where the filesystem allows (`O_TMPFILE`), owner-only, gone with volley.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The spill file: created on first use, unlinked at once (so nothing is left
/// behind, even by a crash), emptied whenever nothing is held.
pub(super) struct Spill {
    dir: PathBuf,
    file: Option<File>,
    end: u64,
    /// The file could not be made, or a failed write could not be undone: hold
    /// everything in memory from then on.
    broken: bool,
}

impl Spill {
    pub(super) fn new(dir: PathBuf) -> Spill {
        Spill { dir, file: None, end: 0, broken: false }
    }

    /// Appends `bytes`; returns where they start, or `None` if they could not be
    /// written (disk full, no temporary directory).
    pub(super) fn append(&mut self, bytes: &[u8]) -> Option<u64> {
        if self.broken {
            return None;
        }
        if self.file.is_none() {
            self.file = self.create();
            self.broken = self.file.is_none();
        }
        let file = self.file.as_mut()?;
        if file.write_all_at(bytes, self.end).is_err() {
            // Cut off a partial write, or later offsets would point at the wrong bytes.
            self.broken = file.set_len(self.end).is_err();
            return None;
        }
        let at = self.end;
        self.end += bytes.len() as u64;
        Some(at)
    }

    /// A file without a name (`O_TMPFILE`), or, where the filesystem has none, one
    /// unlinked as soon as it is made; readable by this user only either way.
    fn create(&self) -> Option<File> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut options = File::options();
        options.read(true).write(true).mode(0o600);
        if let Ok(file) = options.clone().custom_flags(libc::O_TMPFILE).open(&self.dir) {
            return Some(file);
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("volley-keep-order-{}-{n}", std::process::id()));
        let file = options.create_new(true).open(&path).ok()?;
        let _ = std::fs::remove_file(&path);
        Some(file)
    }

    /// The `len` bytes at `at`; what cannot be read back comes back as a note, so the
    /// output shows the gap instead of hiding it.
    pub(super) fn read(&self, at: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        match self.file.as_ref().map(|f| f.read_exact_at(&mut bytes, at)) {
            Some(Ok(())) => bytes,
            _ => format!("[volley: {len} bytes of held output could not be read back]\n").into_bytes(),
        }
    }

    pub(super) fn clear(&mut self) {
        if self.end > 0
            && let Some(file) = &self.file
            && file.set_len(0).is_ok()
        {
            self.end = 0;
        }
    }
}
