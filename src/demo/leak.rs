//! The demo backend's deliberate leaks: memory that is allocated, touched
//! and never freed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::AppState;

/// Byte written into leaked memory so every page is really resident.
const FILL: u8 = 0x5A;

/// Size of one leak slab: big enough that malloc maps it on its own
/// (above glibc's mmap threshold), so it never sits among the server's
/// short-lived allocations.
const SLAB: usize = 256 << 10;

/// Leaked bytes, kept reachable forever.
///
/// Leaks are written end to end into large slabs rather than allocated
/// one small block each: a small block lands among the connection buffers
/// malloc frees and reuses, and the fragmentation around it would add to
/// resident memory beyond the bytes leaked (about 10% per leaked
/// connection, measured). With slabs, resident memory grows by what
/// `memsoak_demo_leaked_bytes` says, to the page, so memsoak's figures
/// can be checked against the injected ones. The slabs are still malloc's
/// (heap in the memory classes).
#[derive(Default)]
pub(super) struct Leak {
    slabs: Mutex<Vec<Vec<u8>>>,
    total: AtomicU64,
}

impl Leak {
    /// Writes `bytes` more into the slabs (touching every page) and keeps
    /// them.
    pub(super) fn retain(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let Ok(mut slabs) = self.slabs.lock() else {
            return;
        };
        let mut left = bytes as usize;
        while left > 0 {
            if slabs.last().is_none_or(|s| s.len() == s.capacity()) {
                slabs.push(Vec::with_capacity(SLAB));
            }
            let Some(slab) = slabs.last_mut() else {
                return;
            };
            let n = left.min(slab.capacity() - slab.len());
            slab.resize(slab.len() + n, FILL);
            left -= n;
        }
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes leaked so far.
    pub(super) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Leaks `bytes_per_sec` steadily, in a block every 100 ms.
pub(super) async fn drip(state: Arc<AppState>, bytes_per_sec: f64) {
    every_tick(bytes_per_sec, |bytes| state.leak.retain(bytes)).await;
}

/// Calls `each(n)` every 100 ms with the whole number of events due at
/// `per_second`, carrying fractions over.
async fn every_tick(per_second: f64, mut each: impl FnMut(u64)) {
    let period = Duration::from_millis(100);
    let mut tick = tokio::time::interval(period);
    let mut owed = 0.0;
    loop {
        tick.tick().await;
        owed += per_second * period.as_secs_f64();
        let whole = owed.floor();
        owed -= whole;
        if whole >= 1.0 {
            each(whole as u64);
        }
    }
}

/// Opens `/dev/null` at `per_second` and never closes it: descriptors
/// leak while memory stays flat.
pub(super) async fn fds(per_second: f64) {
    let mut kept: Vec<std::fs::File> = Vec::new();
    let mut warned = false;
    every_tick(per_second, |n| {
        for _ in 0..n {
            match std::fs::File::open("/dev/null") {
                Ok(f) => kept.push(f),
                Err(e) if !warned => {
                    warned = true;
                    eprintln!(
                        "demo-backend: --leak-fds: {e} (the open-file limit?); leaking no more"
                    );
                }
                Err(_) => {}
            }
        }
    })
    .await;
}

/// Starts threads at `per_second` that park forever: threads and their
/// stacks leak.
pub(super) async fn threads(per_second: f64) {
    let mut kept = Vec::new();
    let mut warned = false;
    every_tick(per_second, |n| {
        for _ in 0..n {
            let started = std::thread::Builder::new()
                .name("demo-leaked".into())
                .stack_size(256 * 1024)
                .spawn(|| loop {
                    std::thread::park();
                });
            match started {
                Ok(t) => kept.push(t),
                Err(e) if !warned => {
                    warned = true;
                    eprintln!("demo-backend: --leak-threads: {e}; leaking no more");
                }
                Err(_) => {}
            }
        }
    })
    .await;
}

/// Maps anonymous memory at `bytes_per_sec` with `mmap` (outside malloc),
/// touches it and never unmaps it. Each mapping is named `[anon: memsoak
/// demo leak]` where the kernel allows names (5.17+ with
/// `CONFIG_ANON_VMA_NAME`), as runtimes that map their own memory do.
pub(super) async fn mmaps(bytes_per_sec: f64) {
    use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
    let page = 4096.0;
    // Whole pages at a time: the rest is owed to the next tick.
    every_tick(bytes_per_sec / page, |pages| {
        let Some(len) = std::num::NonZeroUsize::new(pages as usize * page as usize) else {
            return;
        };
        // SAFETY: a fresh private anonymous mapping, aliasing nothing;
        // it is written through its own pointer and never unmapped.
        let mapped = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        };
        if let Ok(ptr) = mapped {
            // SAFETY: the mapping is `len` bytes, readable and writable.
            unsafe { std::ptr::write_bytes(ptr.as_ptr().cast::<u8>(), FILL, len.get()) };
            let _ = nix::sys::prctl::set_vma_anon_name(ptr, len, Some(c"memsoak demo leak"));
        }
    })
    .await;
}
