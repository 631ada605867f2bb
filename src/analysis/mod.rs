//! Judging memory growth: is the footprint after warm-up rising faster than
//! the limit allows?
//!
//! The analysis is a pure, streaming function of the samples: [`Analyzer`]
//! receives `(elapsed, value)` pairs one at a time (from the live sampler or
//! from a CSV file) and keeps only bounded block summaries ([`blocks`]), so
//! judging an 8-hour run costs the same memory as judging a 2-minute one.
//! The trend and its honest 95% interval come from [`trend`].
//!
//! The verdict is three-valued, because a soak test that is too short or too
//! noisy to tell must say so rather than guess:
//! - **pass**: the whole 95% interval of the slope lies below the limit;
//! - **fail**: the whole interval lies above it, or the RSS ceiling was crossed;
//! - **inconclusive**: the interval straddles the limit, or there were too
//!   few samples after warm-up to fit a trend.

pub mod attribution;
pub(crate) mod blocks;
pub(crate) mod failfast;
mod hints;
pub(crate) mod trend;

#[cfg(test)]
mod simulations;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use blocks::{BlockStat, Blocks};
pub use failfast::{EarlyFail, FailFast, FailFastMonitor};
pub use trend::{normal_quantile, theil_sen, theil_sen_at, Trend};

/// Blocks kept for the fit: between this and twice this many.
pub const FIT_BLOCKS: usize = 48;

/// Fewest samples after warm-up for which a trend is fitted at all.
pub const MIN_JUDGED_SAMPLES: u64 = 10;

/// The memory measure whose growth is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Resident set size summed over the process tree (double-counts shared pages).
    Rss,
    /// Proportional set size: shared pages split among their sharers, so the
    /// sum over a tree is what the tree really costs.
    Pss,
    /// Anonymous resident memory (heap, stacks): where heap leaks live.
    Anon,
}

impl Metric {
    /// Default preference order: anonymous, then PSS, then RSS.
    ///
    /// Anonymous memory is the default because heap leaks are anonymous
    /// memory by definition, and because it depends on the target alone:
    /// RSS moves when the kernel evicts or re-reads code pages, and PSS moves
    /// when *unrelated* processes map the same files (an interpreter's or a
    /// shared binary's pages are split among every process using them, so
    /// PSS rises when other processes exit; memsoak measured a 100 MB/h
    /// leak as 500 MB/h through PSS while other processes sharing the
    /// binary came and went). Its one blind spot, copy-on-write pages
    /// counted once per forked worker, only matters when workers are forked
    /// during the judged window; use `--metric pss` for that layout.
    pub const PREFERENCE: [Metric; 3] = [Metric::Anon, Metric::Pss, Metric::Rss];
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Rss => "rss",
            Metric::Pss => "pss",
            Metric::Anon => "anon",
        })
    }
}

/// The outcome of judging a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Growth is below the limit with 95% confidence, ceiling not crossed.
    Pass,
    /// Growth is above the limit with 95% confidence, or the ceiling was crossed.
    Fail,
    /// The data cannot tell.
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// What the analysis is asked to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    /// Samples before this are warm-up and not judged.
    pub warmup: Duration,
    /// Largest acceptable growth, bytes per hour.
    pub max_growth_bytes_per_hour: f64,
    /// RSS ceiling of the whole tree, if any.
    pub max_rss_bytes: Option<u64>,
    /// Block statistic the trend is fitted to.
    pub block_stat: BlockStat,
}

/// A slope with its interval, in bytes per hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// Theil–Sen slope, bytes/hour.
    pub slope_bytes_per_hour: f64,
    /// 95% interval, bytes/hour.
    pub ci95_bytes_per_hour: [f64; 2],
    /// Value of the fitted line at elapsed time 0, bytes.
    pub intercept_bytes: f64,
    /// Points (blocks) the fit used.
    pub blocks: usize,
    /// Samples per block.
    pub samples_per_block: u32,
    /// Autocorrelation variance inflation applied (≥ 1).
    pub variance_inflation: f64,
}

/// The analysis result.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in plain words, one line each.
    pub reasons: Vec<String>,
    /// The growth fit, when there were enough samples.
    pub growth: Option<Growth>,
    /// All samples seen.
    pub samples: u64,
    /// Samples after warm-up with a value for the metric.
    pub samples_judged: u64,
    /// Largest RSS seen, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// When the peak was seen, seconds since start.
    pub peak_rss_elapsed_s: Option<f64>,
    /// Elapsed time of the last sample, seconds.
    pub last_elapsed_s: f64,
    /// Whether the RSS ceiling was crossed.
    pub ceiling_crossed: bool,
}

/// Streaming analyser: feed samples in time order, then [`Analyzer::judge`].
#[derive(Debug, Clone)]
pub struct Analyzer {
    criteria: Criteria,
    blocks: Blocks,
    samples: u64,
    peak_rss: Option<(u64, f64)>,
    last_elapsed_s: f64,
}

impl Analyzer {
    /// A fresh analyser for the given criteria.
    pub fn new(criteria: Criteria) -> Analyzer {
        Analyzer {
            criteria,
            blocks: Blocks::new(FIT_BLOCKS),
            samples: 0,
            peak_rss: None,
            last_elapsed_s: 0.0,
        }
    }

    /// The criteria this analyser judges by.
    pub fn criteria(&self) -> &Criteria {
        &self.criteria
    }

    /// Adds one sample: seconds since start, the judged metric (absent when
    /// not sampled this tick) and the tree's RSS (for the peak and ceiling).
    pub fn observe(&mut self, elapsed_s: f64, metric_bytes: Option<f64>, rss_bytes: Option<u64>) {
        self.samples += 1;
        self.last_elapsed_s = elapsed_s;
        if let Some(rss) = rss_bytes {
            if self.peak_rss.is_none_or(|(peak, _)| rss > peak) {
                self.peak_rss = Some((rss, elapsed_s));
            }
        }
        if elapsed_s >= self.criteria.warmup.as_secs_f64() {
            if let Some(y) = metric_bytes.filter(|y| y.is_finite()) {
                self.blocks.push(elapsed_s, y);
            }
        }
    }

    /// The lower bound of the growth (bytes/hour) at one early-fail look,
    /// or `None` while there are too few samples.
    pub fn early_fail_bound(&self, rule: &FailFast) -> Option<f64> {
        if self.blocks.samples() < 3 * MIN_JUDGED_SAMPLES {
            return None;
        }
        theil_sen_at(&self.blocks.points(self.criteria.block_stat), rule.z()).map(|t| t.lo * 3600.0)
    }

    /// Judges what has been observed so far.
    pub fn judge(&self) -> Judgement {
        let c = &self.criteria;
        let judged = self.blocks.samples();
        let mut reasons = Vec::new();

        let ceiling_crossed = match (c.max_rss_bytes, self.peak_rss) {
            (Some(limit), Some((peak, at))) if peak > limit => {
                reasons.push(format!(
                    "RSS ceiling crossed: peak {} at {:.0}s exceeds {}",
                    crate::units::format_mb(peak as f64),
                    at,
                    crate::units::format_mb(limit as f64)
                ));
                true
            }
            _ => false,
        };

        let fitted = (judged >= MIN_JUDGED_SAMPLES)
            .then(|| theil_sen(&self.blocks.points(c.block_stat)))
            .flatten();
        let growth = fitted
            .as_ref()
            .map(|t| Growth {
                slope_bytes_per_hour: t.slope * 3600.0,
                ci95_bytes_per_hour: [t.lo * 3600.0, t.hi * 3600.0],
                intercept_bytes: t.intercept,
                blocks: t.points,
                samples_per_block: self.blocks.span(),
                variance_inflation: t.variance_inflation,
            })
            // Values near the float range (a corrupt recording) overflow
            // the slopes: no estimate rather than an infinite one.
            .filter(|g| {
                g.slope_bytes_per_hour.is_finite()
                    && g.ci95_bytes_per_hour.iter().all(|v| v.is_finite())
            });

        let growth_verdict = match &growth {
            None if judged < MIN_JUDGED_SAMPLES => {
                reasons.push(format!(
                    "too few samples after warm-up to fit a trend ({judged}, need {MIN_JUDGED_SAMPLES}): run longer or shorten the warm-up"
                ));
                Verdict::Inconclusive
            }
            None if fitted.is_some() => {
                reasons.push(
                    "the values are too large for a trend to be computed (a corrupt recording?)"
                        .into(),
                );
                Verdict::Inconclusive
            }
            None => {
                reasons.push(format!(
                    "the {judged} samples after warm-up span no time (all at the same elapsed time): no trend can be fitted"
                ));
                Verdict::Inconclusive
            }
            Some(g) if g.ci95_bytes_per_hour[0] > c.max_growth_bytes_per_hour => {
                reasons.push("growth above the limit: the whole 95% interval is above it".into());
                Verdict::Fail
            }
            Some(g) if g.ci95_bytes_per_hour[1] < c.max_growth_bytes_per_hour => Verdict::Pass,
            Some(_) => {
                reasons.push(
                    "the 95% interval of the growth straddles the limit: run longer to decide"
                        .into(),
                );
                Verdict::Inconclusive
            }
        };

        let verdict = if ceiling_crossed {
            Verdict::Fail
        } else {
            growth_verdict
        };
        Judgement {
            verdict,
            reasons,
            growth,
            samples: self.samples,
            samples_judged: judged,
            peak_rss_bytes: self.peak_rss.map(|p| p.0),
            peak_rss_elapsed_s: self.peak_rss.map(|p| p.1),
            last_elapsed_s: self.last_elapsed_s,
            ceiling_crossed,
        }
    }
}

/// The default warm-up when none is given: 10% of the planned duration, at
/// least 30 s, but never more than half the run.
///
/// Backends allocate caches, pools and JIT state in their first minutes; a
/// fixed fraction scales that allowance with the run, and the 30 s floor
/// covers interpreter start-up on short runs.
pub fn default_warmup(duration: Duration) -> Duration {
    let tenth = duration / 10;
    let floor = Duration::from_secs(30);
    tenth.max(floor).min(duration / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria(limit: f64) -> Criteria {
        Criteria {
            warmup: Duration::from_secs(10),
            max_growth_bytes_per_hour: limit,
            max_rss_bytes: None,
            block_stat: BlockStat::Min,
        }
    }

    #[test]
    fn steep_growth_fails_and_flat_passes() {
        let mut steep = Analyzer::new(criteria(10e6));
        let mut flat = Analyzer::new(criteria(10e6));
        for i in 0..600 {
            let t = i as f64;
            steep.observe(t, Some(50e6 + t * 100e6 / 3600.0), Some(1));
            flat.observe(t, Some(50e6 + (i % 3) as f64 * 4096.0), Some(1));
        }
        let s = steep.judge();
        assert_eq!(s.verdict, Verdict::Fail);
        assert!((s.growth.unwrap().slope_bytes_per_hour - 100e6).abs() < 1.0);
        assert_eq!(flat.judge().verdict, Verdict::Pass);
    }

    #[test]
    fn warmup_is_ignored_and_too_few_samples_is_inconclusive() {
        let mut a = Analyzer::new(criteria(10e6));
        for i in 0..15 {
            a.observe(i as f64, Some(1e9 * i as f64), Some(1));
        }
        let j = a.judge();
        assert_eq!(j.samples, 15);
        assert_eq!(j.samples_judged, 5);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.growth.is_none());
    }

    #[test]
    fn ceiling_fails_a_flat_run() {
        let mut c = criteria(10e6);
        c.max_rss_bytes = Some(100);
        let mut a = Analyzer::new(c);
        for i in 0..100 {
            a.observe(i as f64, Some(50.0), Some(if i == 50 { 101 } else { 50 }));
        }
        let j = a.judge();
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.ceiling_crossed);
        assert_eq!(j.peak_rss_bytes, Some(101));
        assert_eq!(j.peak_rss_elapsed_s, Some(50.0));
    }

    #[test]
    fn default_warmup_rule() {
        let m = |s| Duration::from_secs(s);
        assert_eq!(default_warmup(m(120)), m(30));
        assert_eq!(default_warmup(m(40)), m(20));
        assert_eq!(default_warmup(m(8 * 3600)), m(48 * 60));
    }
}
