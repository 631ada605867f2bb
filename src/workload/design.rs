//! The load design: each workload's rate varied over the judged window in a
//! known pattern, so that the growth can be attributed to what drives it.
//!
//! With every workload at a constant rate, time, messages and connections
//! rise together: a leak per message, one per connection and one on a
//! timer draw the same straight line, and no fit can tell them apart
//! (growth per message is then only the whole growth divided by a rate).
//! Varying the rates breaks the tie. From the end of warm-up the judged
//! window is cut into blocks; each *driver* (a workload's sends, a collab
//! workload's connections when it churns) gets one binary digit of the
//! block number — driver 0 the lowest, so it alternates every block,
//! driver 1 every two blocks, and so on — and runs at [`HIGH`] times its
//! planned rate in blocks where its digit is 1 and [`LOW`] times where it
//! is 0. These square waves (Rademacher functions) are orthogonal to each
//! other and to the constant over every whole cycle of `2^drivers` blocks,
//! so the joint fit of memory against time and each driver's cumulative
//! count (`analysis::joint`) separates them, and each driver's mean rate
//! over a cycle is the planned one.
//!
//! Pacing reads the design through [`Driver::advance`]: a send period (or
//! a connection's lifetime) is measured in *design time*, in which an
//! hour at [`HIGH`] counts as `HIGH` hours, so a schedule speeds up and
//! slows down with its blocks without any task knowing about them.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A driver's rate in its high blocks, times the planned rate.
pub const HIGH: f64 = 1.8;
/// A driver's rate in its low blocks, times the planned rate: never zero,
/// so latency and deliveries stay measured and no idle timeout fires.
pub const LOW: f64 = 0.2;
/// Blocks per judged window by default, for up to three drivers: one
/// whole cycle of eight.
pub const DEFAULT_BLOCKS: u32 = 8;

/// What a profile asks for: `[run] load_design`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadDesign {
    /// Every workload at its planned rate throughout (the default).
    #[default]
    Steady,
    /// Blocks of high and low rate, a different pattern per driver.
    Alternate,
}

/// What drives a workload's share of the growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// Messages or requests sent.
    Messages,
    /// Connections opened.
    Connections,
}

impl DriverKind {
    /// One of it, in words: `message`, `connection`.
    pub fn unit(self) -> &'static str {
        match self {
            DriverKind::Messages => "message",
            DriverKind::Connections => "connection",
        }
    }
}

/// The design of one run: when the blocks start and how long they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    /// The end of warm-up: blocks start here; before it every rate is the
    /// planned one.
    pub start: Instant,
    /// One block.
    pub block: Duration,
}

/// One driver's place in the design.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Driver {
    /// The run's design.
    pub design: Design,
    /// Which binary digit of the block number sets its level.
    pub digit: u32,
}

/// A driver as recorded in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverSummary {
    /// The workload.
    pub workload: String,
    /// Its sends or its connections.
    pub driver: DriverKind,
    /// The digit of the block number that sets its level.
    pub digit: u32,
}

/// The design as recorded in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignSummary {
    /// `alternate`.
    pub kind: LoadDesign,
    /// Seconds from the run's start to the first block (the planned
    /// warm-up).
    pub start_s: f64,
    /// One block, seconds.
    pub block_s: f64,
    /// The high and low rates, times the planned rate.
    pub high: f64,
    /// See `high`.
    pub low: f64,
    /// Every driver, in digit order.
    pub drivers: Vec<DriverSummary>,
}

impl Driver {
    /// The rate at `t`, times the planned rate.
    pub fn level(&self, t: Instant) -> f64 {
        if t < self.design.start {
            return 1.0;
        }
        let k = (t - self.design.start).as_secs_f64() / self.design.block.as_secs_f64();
        level_of(k as u64, self.digit)
    }

    /// The instant `design_time` of design time after `from`: the end of a
    /// send period or a connection's lifetime, sped up in high blocks and
    /// slowed down in low ones.
    pub fn advance(&self, from: Instant, design_time: Duration) -> Instant {
        let mut left = design_time.as_secs_f64();
        let mut at = from;
        let block = self.design.block.as_secs_f64();
        // Whole blocks are crossed one at a time: a period spans at most a
        // few of them (a low block is 1/LOW times slower).
        for _ in 0..10_000 {
            if at < self.design.start {
                let to_start = (self.design.start - at).as_secs_f64();
                if left <= to_start {
                    return at + Duration::from_secs_f64(left);
                }
                left -= to_start;
                at = self.design.start;
                continue;
            }
            let into = (at - self.design.start).as_secs_f64();
            let k = (into / block) as u64;
            let rate = level_of(k, self.digit);
            let block_left = (k as f64 + 1.0) * block - into;
            let needed = left / rate;
            if needed <= block_left {
                return at + Duration::from_secs_f64(needed);
            }
            left -= block_left * rate;
            // Past the block's end, never short of it from rounding.
            at += Duration::from_secs_f64(block_left) + Duration::from_nanos(1);
        }
        at + Duration::from_secs_f64(left / LOW)
    }

    /// Design time between `from_s` and `to_s` seconds after the design's
    /// start (negative: before it): what a schedule at the planned rate
    /// would have done in that much plain time.
    pub fn design_seconds(&self, from_s: f64, to_s: f64) -> f64 {
        let block = self.design.block.as_secs_f64();
        let mut total = 0.0;
        let mut at = from_s;
        if at < 0.0 {
            total += to_s.min(0.0) - at;
            at = 0.0;
        }
        while at < to_s {
            let k = (at / block).floor();
            let end = ((k + 1.0) * block).min(to_s);
            total += (end - at) * level_of(k as u64, self.digit);
            at = end;
        }
        total
    }
}

/// Block `k`'s level for the driver on `digit`.
fn level_of(k: u64, digit: u32) -> f64 {
    if digit < 64 && (k >> digit) & 1 == 1 {
        HIGH
    } else {
        LOW
    }
}

/// The drivers `specs` give a load design: each workload that sends at a
/// rate, and each collab workload that churns.
pub fn drivers_of(specs: &[super::WorkloadSpec]) -> u32 {
    specs
        .iter()
        .map(|s| {
            u32::from(s.schedule().is_some())
                + u32::from(
                    matches!(s, super::WorkloadSpec::Collab(c) if c.churn_interval.is_some()),
                )
        })
        .sum()
}

/// The block length for a judged window of `judged` and `drivers`
/// drivers: the window holds whole cycles of `2^drivers` blocks when it
/// can ([`DEFAULT_BLOCKS`] blocks for up to three drivers).
pub fn block_for(judged: Duration, drivers: u32) -> Duration {
    let blocks = 2u32.saturating_pow(drivers.clamp(1, 6)).max(DEFAULT_BLOCKS);
    judged / blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(digit: u32) -> Driver {
        Driver {
            design: Design {
                start: Instant::now() + Duration::from_secs(10),
                block: Duration::from_secs(10),
            },
            digit,
        }
    }

    #[test]
    fn digits_make_square_waves_of_doubling_period() {
        let d0 = driver(0);
        let d1 = driver(1);
        let at = |s: u64| d0.design.start + Duration::from_secs(s) + Duration::from_millis(1);
        let levels = |d: &Driver| (0..4).map(|k| d.level(at(k * 10))).collect::<Vec<_>>();
        assert_eq!(levels(&d0), [LOW, HIGH, LOW, HIGH]);
        assert_eq!(levels(&d1), [LOW, LOW, HIGH, HIGH]);
        assert_eq!(d0.level(d0.design.start - Duration::from_secs(1)), 1.0);
    }

    #[test]
    fn a_period_in_design_time_stretches_in_low_blocks() {
        let d = driver(0);
        let start = d.design.start;
        // Block 0 is low: one second of design time takes five.
        let t = d.advance(start, Duration::from_secs(1));
        assert!(((t - start).as_secs_f64() - 1.0 / LOW).abs() < 1e-6);
        // Crossing into the high block 1: 2 s of design time in block 0
        // (10 s), the remaining 1 s at 1.8×.
        let t = d.advance(start, Duration::from_secs(3));
        assert!(((t - start).as_secs_f64() - (10.0 + 1.0 / HIGH)).abs() < 1e-6);
        // Before the design, time is plain.
        let before = start - Duration::from_secs(5);
        let t = d.advance(before, Duration::from_secs(6));
        assert!(((t - start).as_secs_f64() - 1.0 / LOW).abs() < 1e-6);
    }

    #[test]
    fn a_whole_cycle_runs_at_the_planned_rate_on_average() {
        for digit in 0..3 {
            let d = driver(digit);
            let s = d.design_seconds(0.0, 80.0);
            assert!((s - 80.0).abs() < 1e-9, "digit {digit}: {s}");
        }
        assert!((driver(0).design_seconds(-5.0, 10.0) - (5.0 + 10.0 * LOW)).abs() < 1e-9);
    }
}
