//! The demo backend's deliberate leaks: memory that is allocated, touched
//! and never freed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::AppState;

/// Byte written into leaked memory so every page is really resident.
const FILL: u8 = 0x5A;

/// Leaked blocks, kept reachable forever.
#[derive(Default)]
pub(super) struct Leak {
    blocks: Mutex<Vec<Box<[u8]>>>,
    total: AtomicU64,
}

impl Leak {
    /// Allocates `bytes`, touches them and keeps them.
    pub(super) fn retain(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let block = vec![FILL; bytes as usize].into_boxed_slice();
        if let Ok(mut blocks) = self.blocks.lock() {
            blocks.push(block);
            self.total.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Bytes leaked so far.
    pub(super) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Leaks `bytes_per_sec` steadily, in a block every 100 ms.
pub(super) async fn drip(state: Arc<AppState>, bytes_per_sec: f64) {
    let period = Duration::from_millis(100);
    let mut tick = tokio::time::interval(period);
    let mut owed = 0.0;
    loop {
        tick.tick().await;
        owed += bytes_per_sec * period.as_secs_f64();
        let whole = owed.floor();
        owed -= whole;
        state.leak.retain(whole as u64);
    }
}
