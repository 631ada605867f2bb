//! Work due at the end of warm-up: the allocation profiler's baseline and
//! a page's baseline heap snapshot. Both wait for one moment (a little
//! before warm-up ends, so what the work itself costs lands in the
//! warm-up), then run on their own task so sampling and load go on, and
//! are awaited before the final step at the end of the run. While the work
//! runs it holds the judged window ([`crate::sampler::WindowHold`]): a baseline
//! that takes longer than its lead (a debugger attaching to a large
//! process, a heap snapshot of hundreds of MB) pushes the window's start
//! past it instead of counting its cost as growth. One state machine
//! serves both.

use std::future::Future;
use std::time::Duration;

use crate::allocations;
use crate::sampler::HoldGuard;

/// One piece of work through the run: waiting for the end of warm-up,
/// then running, then done.
pub(super) enum AtWarmup<T> {
    /// Not started (`None`: nothing to do this run).
    Waiting(Option<T>),
    /// Started; the task hands the value back (`None`: it panicked).
    Started(tokio::task::JoinHandle<Option<T>>),
}

impl<T: Send + 'static> AtWarmup<T> {
    /// Work that waits for the end of warm-up, when there is any.
    pub(super) fn new(value: Option<T>) -> AtWarmup<T> {
        AtWarmup::Waiting(value)
    }

    /// Whether it still waits to start.
    pub(super) fn pending(&self) -> bool {
        matches!(self, AtWarmup::Waiting(Some(_)))
    }

    /// Starts the work on its own task: `work` takes the value and hands
    /// it back when done.
    pub(super) fn start<F, Fut>(&mut self, work: F)
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Option<T>> + Send + 'static,
    {
        if let AtWarmup::Waiting(value) = self {
            if let Some(v) = value.take() {
                *self = AtWarmup::Started(tokio::spawn(work(v)));
            }
        }
    }

    /// Whether the work was started and is still running.
    pub(super) fn running(&self) -> bool {
        matches!(self, AtWarmup::Started(h) if !h.is_finished())
    }

    /// Stops work still running (its task is cancelled) and drops it.
    pub(super) fn abandon(self) {
        if let AtWarmup::Started(h) = self {
            h.abort();
        }
    }

    /// The value, once the work (if started) is done.
    pub(super) async fn done(self) -> Option<T> {
        match self {
            AtWarmup::Waiting(v) => v,
            AtWarmup::Started(h) => h.await.ok().flatten(),
        }
    }
}

/// The profiler's baseline, on a blocking thread (a debugger attaching
/// takes a second or more).
pub(super) fn profiler_baseline(
    work: &mut AtWarmup<allocations::Session>,
    pids: Vec<u32>,
    elapsed_s: f64,
    hold: HoldGuard,
) {
    work.start(move |mut session| async move {
        let done = tokio::task::spawn_blocking(move || {
            session.baseline(&pids, elapsed_s);
            session
        })
        .await
        .ok();
        drop(hold);
        done
    });
}

/// The page's baseline heap snapshot.
pub(super) fn snapshot_baseline(
    work: &mut AtWarmup<crate::source::page::Snapshots>,
    elapsed_s: f64,
    hold: HoldGuard,
) {
    work.start(move |mut snapshots| async move {
        snapshots.baseline(elapsed_s).await;
        drop(hold);
        Some(snapshots)
    });
}

/// When the work is due: shortly before the planned warm-up ends.
pub(super) fn due(planned_warmup: Duration) -> Duration {
    planned_warmup - allocations::baseline_lead(planned_warmup)
}
