//! `/proc/PID/mem`: malloc's chunk headers read in place, so an unnamed
//! mapping can be told to be malloc's large allocations or not.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Chunk headers followed per mapping at most; a longer chain is taken as
/// malloc's without reading further.
const MAX_CHUNKS: usize = 4096;

/// A process's memory, read through `/proc/PID/mem` (permitted to the
/// process's parent, the same user under a permissive ptrace policy, and
/// root): only malloc's chunk headers are read, 16 bytes each, without
/// stopping the process.
#[derive(Debug)]
pub(crate) struct ProcMem(File);

impl ProcMem {
    /// Opens `/proc/PID/mem`.
    pub(crate) fn open(pid: i32) -> io::Result<ProcMem> {
        File::open(format!("/proc/{pid}/mem")).map(ProcMem)
    }

    /// Whether `[start, end)` holds glibc mmapped chunks end to end: each
    /// starts with `prev_size` 0 and a size that is a whole number of
    /// pages with `IS_MMAPPED` set (and not `NON_MAIN_ARENA`), the next
    /// starting where it ends (the kernel merges neighbouring mappings).
    /// `None` when the memory cannot be read.
    pub(crate) fn malloc_chunks(&self, start: u64, end: u64, page: u64) -> Option<bool> {
        const IS_MMAPPED: u64 = 0x2;
        const NON_MAIN_ARENA: u64 = 0x4;
        let mut at = start;
        for _ in 0..MAX_CHUNKS {
            let mut header = [0u8; 16];
            self.0.read_exact_at(&mut header, at).ok()?;
            let prev_size = u64::from_ne_bytes(header[..8].try_into().ok()?);
            let size_field = u64::from_ne_bytes(header[8..].try_into().ok()?);
            let size = size_field & !0x7;
            let valid = prev_size == 0
                && size_field & IS_MMAPPED != 0
                && size_field & NON_MAIN_ARENA == 0
                && size >= page
                && size % page == 0
                && size <= end - at;
            if !valid {
                return Some(false);
            }
            at += size;
            if at == end {
                return Some(true);
            }
        }
        Some(true)
    }
}
