//! The pacing core every workload kind shares: when to send, how a stop
//! interrupts a wait, and which sends count as judged.
//!
//! Pacing is open-loop ([`OpenLoop`]): sends are due on a fixed schedule
//! that does not slow down when the target does, so a slow backend meets
//! the same offered load as a fast one, and a send made a whole period late
//! is counted as late rather than hidden (the coordinated-omission problem
//! of closed-loop load generators). Clients and agents start spread over
//! the ramp-up ([`ramp_delay`]); every wait ends early when the run stops
//! ([`sleep_or_stop`]); sends and connects after warm-up are counted apart
//! ([`JudgedFrom`]) for growth per message and per connection.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::design::Driver;
use super::stats::{bump, Stats};
use super::Phase;

/// When starter `i` of `n` starts: spread evenly over `ramp_up`.
pub(crate) fn ramp_delay(ramp_up: Duration, i: u32, n: u32) -> Duration {
    ramp_up.mul_f64(f64::from(i) / f64::from(n.max(1)))
}

/// Sleeps for `d` unless the run leaves [`Phase::Run`] first; true when
/// the whole time passed and the run still runs.
pub(crate) async fn sleep_or_stop(d: Duration, phase: &mut watch::Receiver<Phase>) -> bool {
    until_or_stop(Instant::now() + d, phase).await
}

/// Waits until `at` unless the run leaves [`Phase::Run`] first; true when
/// the time came and the run still runs.
pub(crate) async fn until_or_stop(at: Instant, phase: &mut watch::Receiver<Phase>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => false,
        _ = phase.wait_for(|p| *p != Phase::Run) => true,
    };
    !stopped && *phase.borrow() == Phase::Run
}

/// An open-loop schedule: one send due every `period` (of design time,
/// under a load design: shorter in high blocks, longer in low ones).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenLoop {
    period: Duration,
    next: Instant,
    driver: Option<Driver>,
}

impl OpenLoop {
    /// The first send due at `first`, then one every `period`, varied by
    /// `driver`'s blocks when the run has a load design.
    pub(crate) fn new(period: Duration, first: Instant, driver: Option<Driver>) -> OpenLoop {
        OpenLoop {
            period,
            next: first,
            driver,
        }
    }

    /// When the next send is due.
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// The due send is being made now: counts it late in `stats` when it is
    /// more than a whole period after its time, and schedules the next.
    pub(crate) fn advance(&mut self, stats: &Stats) {
        if Instant::now().saturating_duration_since(self.next) > self.period {
            bump(&stats.late);
        }
        self.next = match &self.driver {
            Some(d) => d.advance(self.next, self.period),
            None => self.next + self.period,
        };
    }
}

/// The end of warm-up: sends and connects from then on are judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JudgedFrom(pub Instant);

impl JudgedFrom {
    /// Counts one send made at `at`.
    pub(crate) fn sent(&self, stats: &Stats, at: Instant) {
        bump(&stats.sent);
        if at >= self.0 {
            bump(&stats.sent_judged);
        }
    }

    /// Counts one connection opened now.
    pub(crate) fn connected(&self, stats: &Stats) {
        bump(&stats.connects);
        if Instant::now() >= self.0 {
            bump(&stats.connects_judged);
        }
    }
}
