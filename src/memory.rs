//! glibc's allocator, set for volley's one heavy allocation pattern: output batches.
//!
//! A task that prints fast makes the runtime thread allocate a batch of up to a
//! pipe's worth of lines per read, and the formatted copy of it, which other threads
//! free a moment later. With glibc's defaults the top of the heap shrinks back with
//! `brk` as soon as a few such batches are freed (the trim threshold follows the
//! largest freed block, a few hundred KiB), and the next batches fault the same pages
//! in again: 25 000 page faults and a quarter of volley's CPU time for 200 MB of
//! output (`bench/output.sh`). A fixed trim threshold of 16 MiB keeps those pages;
//! a fixed mmap threshold keeps batches on the heap (and stops glibc from moving the
//! trim threshold). Memory still in use is unchanged; only freed memory, at most
//! [`TRIM_THRESHOLD`] of it, is kept for reuse instead of returned.

/// Freed memory at the top of the heap kept for reuse.
pub const TRIM_THRESHOLD: usize = 16 << 20;
/// Allocations from this size on get their own mapping (a 60 MB line does not stay
/// in the heap).
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Applies the settings above; call once, first thing in `main`. A no-op off glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        // SAFETY: mallopt only changes allocator parameters; any value is accepted.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        }
    }
}

/// Blocks [`prefault_heap`] maps in: under glibc's mmap threshold, so they come from
/// the heap and stay there once freed.
const PREFAULT_BLOCK: usize = 256 << 10;

/// Maps `bytes` (at most [`TRIM_THRESHOLD`]) of heap in at once, for a burst of small
/// allocations about to follow: parsing a large `volley.toml` allocates about 40 times
/// the file's size, and faulting that in page by page took a fifth of the parse (1 960
/// page faults for a 2000-task file, 1.7 ms on the test VM). The blocks are mapped
/// with `MADV_POPULATE_WRITE` (Linux 5.14; on older kernels this does nothing) and
/// freed at once: the heap keeps them (see [`TRIM_THRESHOLD`]) for the parse to use.
/// Returns whether the kernel mapped them.
pub fn prefault_heap(bytes: usize) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let blocks: Vec<Vec<u8>> = (0..bytes.min(TRIM_THRESHOLD) / PREFAULT_BLOCK)
            .map(|_| Vec::with_capacity(PREFAULT_BLOCK))
            .collect();
        let page = rustix::param::page_size();
        blocks.iter().all(|block| {
            let start = (block.as_ptr() as usize).next_multiple_of(page);
            let end = (block.as_ptr() as usize + PREFAULT_BLOCK) / page * page;
            // SAFETY: whole pages inside a block this function owns; populating only
            // faults them in, as writing would, and changes no contents.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) == 0 }
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = bytes;
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn minor_faults_of_this_thread() -> i64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given.
        let usage = unsafe {
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()), 0);
            usage.assume_init()
        };
        usage.ru_minflt
    }

    /// The output pattern: a burst of batches, all freed, again and again. Once the
    /// first burst has been faulted in, the later ones must reuse its pages.
    #[test]
    fn freed_output_batches_are_reused_without_faulting_pages_in_again() {
        const BATCH: usize = 192 << 10;
        tune_allocator();
        let burst = || {
            let batches: Vec<Vec<u8>> = (0..24).map(|i| vec![i; BATCH]).collect();
            std::hint::black_box(&batches);
        };
        burst();
        let before = minor_faults_of_this_thread();
        for _ in 0..10 {
            burst();
        }
        let faults = minor_faults_of_this_thread() - before;
        // Without the settings every burst faults its 4.5 MiB in again: over 10 000
        // faults. A few stray ones are the test harness's.
        assert!(faults < 500, "{faults} page faults for bursts that should reuse freed memory");
    }

    /// What parsing does after [`prefault_heap`]: many small allocations, all written.
    #[test]
    fn a_prefaulted_heap_serves_small_allocations_without_page_faults() {
        const BYTES: usize = 4 << 20;
        tune_allocator();
        let small_allocations = || {
            let pieces: Vec<Vec<u8>> = (0..BYTES / 256).map(|i| vec![i as u8; 200]).collect();
            std::hint::black_box(&pieces);
        };
        if !prefault_heap(2 * BYTES) {
            eprintln!("skipped: this kernel cannot populate memory ahead (MADV_POPULATE_WRITE, Linux 5.14)");
            return;
        }
        let before = minor_faults_of_this_thread();
        small_allocations();
        let faults = minor_faults_of_this_thread() - before;
        // Unprepared, the ~4 MiB are faulted in page by page: about a thousand faults.
        assert!(faults < 200, "{faults} page faults on a heap mapped in beforehand");
    }
}
