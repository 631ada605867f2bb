//! memsoak's own helper processes: a profiler's debugger, trace
//! interpreter and compressor run as memsoak's children, so a walk of
//! memsoak's descendants (the launched target's tree) would count them as
//! the target's. They register here and every walk leaves them, and their
//! own children, out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static HELPERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// How many are registered: a walk with none takes no lock.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Marks `pid` as memsoak's helper until [`release`].
pub fn register(pid: u32) {
    if let Ok(mut h) = HELPERS.lock() {
        h.push(pid);
        COUNT.store(h.len(), Ordering::Release);
    }
}

/// Forgets a helper that ended.
pub fn release(pid: u32) {
    if let Ok(mut h) = HELPERS.lock() {
        h.retain(|&p| p != pid);
        COUNT.store(h.len(), Ordering::Release);
    }
}

/// The helpers now (empty, without locking, when there are none).
pub fn current() -> Vec<u32> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    HELPERS.lock().map(|h| h.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn registers_and_releases() {
        super::register(4_000_001);
        assert!(super::current().contains(&4_000_001));
        super::release(4_000_001);
        assert!(!super::current().contains(&4_000_001));
    }
}
