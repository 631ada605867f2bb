//! Fail-fast (`--fail-fast`): planned looks at the growth during the run,
//! with the false-fail probability spent over them.
//!
//! This is statistical policy, so it lives with the statistics: the
//! sampler feeds [`FailFastMonitor`] each sample's time and the analyser,
//! and the monitor alone decides when a look is due and whether it fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{normal_quantile, Analyzer, FIT_BLOCKS};

/// Early-fail rule (`--fail-fast`): the growth is checked at `looks`
/// planned looks during the run, and the run fails early when, at one of
/// them, the lower confidence bound of the growth is above the limit.
///
/// Each look uses a one-sided bound at level `1 − alpha/looks`, so by the
/// union bound (Bonferroni alpha spending) the chance that *any* look fails
/// a run whose true growth is at or below the limit is at most `alpha`,
/// however the looks fall. The price is a stricter bound per look: an
/// over-limit leak must be clearer to be caught early than at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailFast {
    /// Number of planned looks.
    pub looks: u32,
    /// Family-wise false early-fail probability.
    pub alpha: f64,
}

impl FailFast {
    /// The default: 20 looks, 1% family-wise.
    pub const DEFAULT: FailFast = FailFast {
        looks: 20,
        alpha: 0.01,
    };

    /// The normal quantile each look's bound uses.
    pub fn z(&self) -> f64 {
        normal_quantile(1.0 - self.alpha / f64::from(self.looks.max(1)))
    }
}

/// A run failed early (`--fail-fast`); `fail_fast` in `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyFail {
    /// The look that failed it (1-based).
    pub look: u32,
    /// Planned looks.
    pub looks: u32,
    /// When, seconds since start.
    pub elapsed_s: f64,
    /// The growth's lower bound at that look, bytes/hour.
    pub lower_bound_bytes_per_hour: f64,
    /// Family-wise false-fail probability of the rule.
    pub alpha: f64,
}

/// Schedules the looks of one run and takes them.
#[derive(Debug, Clone)]
pub struct FailFastMonitor {
    rule: FailFast,
    warmup_s: f64,
    every_s: f64,
    min_block_s: f64,
    looks_taken: u32,
    fired: bool,
}

impl FailFastMonitor {
    /// Looks spread evenly over the judged window (`duration − warmup`), at
    /// least `interval` apart, against the analyser's limit at each look.
    pub fn new(
        rule: FailFast,
        analyzer: &Analyzer,
        duration: Duration,
        interval: Duration,
    ) -> Self {
        let c = analyzer.criteria();
        let every = (duration.saturating_sub(c.warmup.planned()) / rule.looks.max(1)).max(interval);
        FailFastMonitor {
            rule,
            warmup_s: c.warmup.planned().as_secs_f64(),
            every_s: every.as_secs_f64(),
            // The shortest block the end-of-run judgement will fit.
            min_block_s: duration.as_secs_f64() / (2 * FIT_BLOCKS) as f64,
            looks_taken: 0,
            fired: false,
        }
    }

    /// Called after each sample at `elapsed_s`: takes the next look when it
    /// is due, and returns the early fail the first time a look finds the
    /// growth's lower bound above the limit. No looks follow a fail.
    pub fn observe(&mut self, elapsed_s: f64, analyzer: &Analyzer) -> Option<EarlyFail> {
        let due = self.warmup_s + f64::from(self.looks_taken + 1) * self.every_s;
        if self.fired || self.looks_taken >= self.rule.looks || elapsed_s < due {
            return None;
        }
        self.looks_taken += 1;
        let bound = analyzer.early_fail_bound(&self.rule, self.min_block_s);
        // The analyser's limit now (a many-series source scales it with
        // the series answering).
        let limit = analyzer.criteria().max_growth_bytes_per_hour;
        tracing::info!(
            "fail-fast look {} of {} at {elapsed_s:.0}s: growth lower bound {} bytes/h, limit {:.0}",
            self.looks_taken,
            self.rule.looks,
            bound.map_or("unknown".into(), |b| format!("{b:.0}")),
            limit
        );
        let lower = bound.filter(|lo| *lo > limit)?;
        self.fired = true;
        Some(EarlyFail {
            look: self.looks_taken,
            looks: self.rule.looks,
            elapsed_s,
            lower_bound_bytes_per_hour: lower,
            alpha: self.rule.alpha,
        })
    }
}
