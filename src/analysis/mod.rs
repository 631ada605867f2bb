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
#[doc(hidden)]
pub mod families;
mod hints;
pub mod joint;
pub(crate) mod trend;

#[cfg(test)]
mod simulations;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use blocks::{BlockStat, Blocks};
pub use failfast::{EarlyFail, FailFast, FailFastMonitor};
pub use trend::{fit, normal_quantile, NoiseModel, Trend};

/// Blocks kept for the fit: between this and twice this many.
pub const FIT_BLOCKS: usize = 48;

/// Fewest samples after warm-up for which a trend is fitted at all.
pub const MIN_JUDGED_SAMPLES: u64 = 10;

/// One-sided 5% normal quantile: how clearly a growth must slow down for
/// fail-fast to wait.
const DECELERATION_Z: f64 = 1.645;

/// Where `--warmup auto` may end the warm-up, as fractions of the run so
/// far (never past half of it).
const AUTO_WARMUP_STARTS: [f64; 7] = [
    1.0 / 40.0,
    1.0 / 20.0,
    1.0 / 10.0,
    1.0 / 6.0,
    1.0 / 4.0,
    1.0 / 3.0,
    1.0 / 2.0,
];

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
    /// A browser page's JavaScript heap in use (`JSHeapUsedSize`), read
    /// through the DevTools protocol.
    #[serde(rename = "js_heap")]
    JsHeap,
    /// A browser page's JavaScript heap and Blink's heap together (where
    /// DOM nodes live): all the page's own memory.
    #[serde(rename = "page_heap")]
    PageHeap,
    /// Everything a cgroup is charged (`memory.current`): what its memory
    /// limit is held against.
    Usage,
    /// A Prometheus query's value, summed over its series.
    Query,
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

    /// Every metric, the tree's first: a recording may hold any of them.
    pub const ALL: [Metric; 7] = [
        Metric::Anon,
        Metric::Pss,
        Metric::Rss,
        Metric::JsHeap,
        Metric::PageHeap,
        Metric::Usage,
        Metric::Query,
    ];

    /// Whether the metric is a browser page's heap (read through the
    /// DevTools protocol), not the memory of processes.
    pub fn is_page_heap(self) -> bool {
        matches!(self, Metric::JsHeap | Metric::PageHeap)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Rss => "rss",
            Metric::Pss => "pss",
            Metric::Anon => "anon",
            Metric::JsHeap => "js_heap",
            Metric::PageHeap => "page_heap",
            Metric::Usage => "usage",
            Metric::Query => "query",
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
    /// The run's load failed one of its checks (deliveries lost, errors,
    /// a rate never reached): the memory was not judged, because a soak
    /// whose load did not arrive proves nothing about the backend either
    /// way. Set on a run's summary by the load checks
    /// (`workload::checks`); the growth analysis never gives it.
    #[serde(rename = "load_failure")]
    LoadFailure,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::LoadFailure => "load failure",
        })
    }
}

/// What the analysis is asked to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    /// Where the judged window starts.
    pub warmup: WarmupRule,
    /// Largest acceptable growth, bytes per hour.
    pub max_growth_bytes_per_hour: f64,
    /// RSS ceiling of the whole tree, if any.
    pub max_rss_bytes: Option<u64>,
    /// Block statistic the trend is fitted to.
    pub block_stat: BlockStat,
}

/// How the end of warm-up is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmupRule {
    /// The first this long is not judged.
    Fixed(Duration),
    /// Found in the data (`--warmup auto`). `planned` is the warm-up the
    /// workloads and profilers time themselves by, and the start judged
    /// while there is too little data to look.
    Found {
        /// The planned warm-up.
        planned: Duration,
    },
}

impl WarmupRule {
    /// The fixed warm-up, or the planned one of a found warm-up.
    pub fn planned(&self) -> Duration {
        match *self {
            WarmupRule::Fixed(d) | WarmupRule::Found { planned: d } => d,
        }
    }

    /// Whether the warm-up is found in the data.
    pub fn is_found(&self) -> bool {
        matches!(self, WarmupRule::Found { .. })
    }
}

/// A slope with its interval, in bytes per hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// GLS slope, bytes/hour.
    pub slope_bytes_per_hour: f64,
    /// 95% interval, bytes/hour.
    pub ci95_bytes_per_hour: [f64; 2],
    /// Value of the fitted line at elapsed time 0, bytes.
    pub intercept_bytes: f64,
    /// Points (blocks) the fit used.
    pub blocks: usize,
    /// Samples per block.
    pub samples_per_block: u32,
    /// The slope's variance relative to independent noise of the same size.
    pub variance_inflation: f64,
    /// The noise model the data selected.
    pub noise: NoiseModel,
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
    /// The warm-up judged by, seconds: the fixed one, or the one found by
    /// `--warmup auto`.
    pub warmup_s: f64,
    /// The window was held past the warm-up until this (seconds) while
    /// memsoak worked on the target ([`Analyzer::hold_until`]).
    pub held_until_s: Option<f64>,
    /// Whether the RSS ceiling was crossed.
    pub ceiling_crossed: bool,
}

/// Where `--warmup auto` put the end of warm-up.
#[derive(Debug, Clone, Copy)]
struct FoundWarmup {
    /// Seconds since start.
    start: f64,
    /// Whether an earlier start agreed with the last one's slope (false:
    /// the footprint was still moving everywhere the ladder looked).
    settled: bool,
}

/// Streaming analyser: feed samples in time order, then [`Analyzer::judge`].
#[derive(Debug, Clone)]
pub struct Analyzer {
    criteria: Criteria,
    blocks: Blocks,
    samples: u64,
    peak_rss: Option<(u64, f64)>,
    last_elapsed_s: f64,
    /// The judged window starts after this (seconds): the end of work
    /// memsoak did to the target as warm-up ended (a profiler's baseline,
    /// a heap snapshot), whose cost is not the target's growth.
    held_until_s: f64,
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
            held_until_s: f64::NEG_INFINITY,
        }
    }

    /// Keeps the judged window from starting before `elapsed_s`: memsoak
    /// was working on the target then (a profiler attaching, a heap
    /// snapshot being written), and what that costs the target would read
    /// as growth. Called for each sample taken while such work runs, or
    /// once with the recorded end before a recording is replayed.
    pub fn hold_until(&mut self, elapsed_s: f64) {
        if elapsed_s.is_nan() || elapsed_s <= self.held_until_s {
            return;
        }
        self.held_until_s = elapsed_s;
        // A fixed warm-up's blocks start at the warm-up: any taken before
        // the hold are dropped, so the window starts after it.
        if !self.criteria.warmup.is_found() && self.blocks.samples() > 0 {
            self.blocks = Blocks::new(FIT_BLOCKS);
        }
    }

    /// Where the judged window may start at the earliest (seconds), when
    /// work on the target held it past its start.
    pub fn held_until_s(&self) -> Option<f64> {
        self.held_until_s.is_finite().then_some(self.held_until_s)
    }

    /// The criteria this analyser judges by.
    pub fn criteria(&self) -> &Criteria {
        &self.criteria
    }

    /// Judges against another growth limit from now on (the fleet of a
    /// many-series source is judged against the limit times its series).
    pub fn set_max_growth(&mut self, bytes_per_hour: f64) {
        self.criteria.max_growth_bytes_per_hour = bytes_per_hour;
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
        let judged = self.criteria.warmup.is_found()
            || (elapsed_s >= self.criteria.warmup.planned().as_secs_f64()
                && elapsed_s > self.held_until_s);
        if judged {
            if let Some(y) = metric_bytes.filter(|y| y.is_finite()) {
                self.blocks.push(elapsed_s, y);
            }
        }
    }

    /// The lower bound of the growth (bytes/hour) at one early-fail look,
    /// or `None` while there are too few samples.
    ///
    /// Blocks are merged to at least `min_block_s` seconds each: early in
    /// a run the blocks are short, and a minimum over a minute of a
    /// ten-minute sawtooth is mostly where in its cycle the minute fell.
    /// Looks given the block length of the final judgement see the data
    /// as it will.
    pub fn early_fail_bound(&self, rule: &FailFast, min_block_s: f64) -> Option<f64> {
        let (from, judged, settled) = self.window_found();
        // A found warm-up that had to go to the last rung means the start
        // is still moving: no early verdict on it.
        if judged < 3 * MIN_JUDGED_SAMPLES || !settled {
            return None;
        }
        // Looks are planned after the planned warm-up and judge only what
        // came after it: a start found early in a short window is still
        // close to a cache that may be filling.
        let from = from.max(self.criteria.warmup.planned().as_secs_f64());
        let blocks = self.blocks.blocks_from(from).count().max(1);
        let block_s = (self.last_elapsed_s - from.max(0.0)) / blocks as f64;
        let group = if block_s > 0.0 {
            (min_block_s / block_s).ceil().max(1.0) as usize
        } else {
            1
        };
        let points = self
            .blocks
            .points_grouped(self.criteria.block_stat, from, group);
        let whole = fit(&points)?;
        // A footprint still settling grows fast and then slower: that is
        // not a leak to stop the run for. Growth whose second half is
        // slower than its first (one-sided 5% test of the difference) is
        // left to later looks; a steady leak passes it 95% of the time.
        // And the growth must hold in the recent half on its own: early in
        // a run, blocks are short next to a slow sawtooth and a settling
        // start can pass for a steady climb over the whole window.
        let (first, second) = points.split_at(points.len() / 2);
        let (a, b) = (fit(first)?, fit(second)?);
        if a.slope - b.slope > DECELERATION_Z * a.se.hypot(b.se) {
            return None;
        }
        Some(whole.lower(rule.z()).min(b.lower(rule.z())) * 3600.0)
    }

    /// The trend of the blocks starting at or after `from` seconds.
    /// The block points the judgement fits (time, block statistic), for a
    /// joint fit of the same series against other regressors.
    pub fn judged_points(&self) -> Vec<(f64, f64)> {
        let (from, _) = self.window();
        self.blocks.points_from(self.criteria.block_stat, from)
    }

    fn fit_from(&self, from: f64) -> Option<Trend> {
        fit(&self.blocks.points_from(self.criteria.block_stat, from))
    }

    /// Samples in the blocks starting at or after `from` seconds.
    fn samples_from(&self, from: f64) -> u64 {
        self.blocks
            .blocks_from(from)
            .map(|b| u64::from(b.count))
            .sum()
    }

    /// The judged window: where it starts (seconds) and its samples.
    fn window(&self) -> (f64, u64) {
        let (from, samples, _) = self.window_found();
        (from, samples)
    }

    /// [`Analyzer::window`] and whether the found warm-up has settled
    /// (always, for a fixed one): the ladder is fitted once.
    fn window_found(&self) -> (f64, u64, bool) {
        if !self.criteria.warmup.is_found() {
            return (f64::NEG_INFINITY, self.blocks.samples(), true);
        }
        let found = self.auto_warmup();
        (found.start, self.samples_from(found.start), found.settled)
    }

    /// `--warmup auto`: the earliest candidate start whose slope agrees
    /// with the one fitted on the second half of the run.
    ///
    /// A warm-up that is still settling bends the start of the series, so
    /// a fit that includes it disagrees with one that does not; a fit that
    /// starts after it agrees. The candidates are a fixed ladder (the
    /// first 30 s or 1% of the run, then 1/40 … 1/2 of it), each fitted
    /// with the full estimator, and the yardstick is the 95% interval of
    /// the last (half-run) fit: under noise alone the earliest start
    /// agrees about 95% of the time and keeps all the data.
    fn auto_warmup(&self) -> FoundWarmup {
        let end = self.last_elapsed_s;
        // Never before work memsoak did on the target ended: candidates
        // before it move up to it.
        let held = self.held_until_s + 1e-9;
        let floor = (end / 100.0).max(30.0).min(end / 2.0).max(held);
        let mut starts: Vec<f64> = std::iter::once(floor)
            .chain(AUTO_WARMUP_STARTS.iter().map(|f| f * end))
            .filter(|&s| s >= floor)
            .collect();
        starts.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        let fits: Vec<(f64, Trend)> = starts
            .iter()
            .filter(|&&s| self.samples_from(s) >= MIN_JUDGED_SAMPLES)
            .filter_map(|&s| self.fit_from(s).map(|t| (s, t)))
            .collect();
        // Too little data to look (or none yet): the planned warm-up.
        let Some((last_start, last)) = fits.last() else {
            return FoundWarmup {
                start: self.criteria.warmup.planned().as_secs_f64().max(held),
                settled: true,
            };
        };
        let agreed = fits[..fits.len() - 1]
            .iter()
            .find(|(_, t)| last.lo <= t.slope && t.slope <= last.hi);
        FoundWarmup {
            start: agreed.map_or(*last_start, |(s, _)| *s),
            settled: agreed.is_some() || fits.len() == 1,
        }
    }

    /// Judges what has been observed so far.
    pub fn judge(&self) -> Judgement {
        let c = &self.criteria;
        let (from, judged) = self.window();
        let warmup_s = match c.warmup {
            WarmupRule::Found { .. } => from,
            WarmupRule::Fixed(d) => d.as_secs_f64().max(self.held_until_s),
        };
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
            .then(|| self.fit_from(from))
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
                noise: t.noise,
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
            warmup_s,
            held_until_s: self.held_until_s(),
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
            warmup: WarmupRule::Fixed(Duration::from_secs(10)),
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
        let g = s.growth.unwrap();
        assert!((g.slope_bytes_per_hour / 100e6 - 1.0).abs() < 1e-6, "{g:?}");
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
    fn work_on_the_target_holds_the_window_past_the_warm_up() {
        // A baseline that costs the target 40 MB between 10 s and 60 s
        // (past the 10 s warm-up), flat before and after: held, the window
        // starts after it and sees no growth; unheld, the climb reads as
        // growth.
        let level = |t: f64| 50e6 + 40e6 * ((t - 10.0) / 50.0).clamp(0.0, 1.0);
        for warmup in [
            WarmupRule::Fixed(Duration::from_secs(10)),
            WarmupRule::Found {
                planned: Duration::from_secs(10),
            },
        ] {
            let c = Criteria {
                warmup,
                ..criteria(10e6)
            };
            let (mut held, mut free) = (Analyzer::new(c.clone()), Analyzer::new(c));
            for i in 0..1200 {
                let t = f64::from(i);
                let y = level(t) + f64::from(i % 7) * 1e3;
                if (5.0..=60.0).contains(&t) {
                    held.hold_until(t);
                }
                held.observe(t, Some(y), Some(1));
                free.observe(t, Some(y), Some(1));
            }
            let (h, f) = (held.judge(), free.judge());
            assert!(h.warmup_s >= 60.0, "{warmup:?}: {h:?}");
            assert_eq!(h.held_until_s, Some(60.0));
            assert_eq!(h.verdict, Verdict::Pass, "{warmup:?}: {h:?}");
            let slope = h.growth.unwrap().slope_bytes_per_hour;
            assert!(slope.abs() < 1e6, "{warmup:?}: {slope}");
            if !warmup.is_found() {
                let unheld = f.growth.unwrap().slope_bytes_per_hour;
                assert!(unheld > 10e6, "{unheld}");
                assert_ne!(f.verdict, Verdict::Pass);
            }
            // A replay told the recorded hold judges the same.
            let mut replay = Analyzer::new(Criteria {
                warmup: match warmup {
                    WarmupRule::Fixed(_) => WarmupRule::Fixed(Duration::from_secs_f64(h.warmup_s)),
                    w => w,
                },
                ..criteria(10e6)
            });
            replay.hold_until(60.0);
            for i in 0..1200 {
                let t = f64::from(i);
                replay.observe(t, Some(level(t) + f64::from(i % 7) * 1e3), Some(1));
            }
            assert_eq!(replay.judge().growth, h.growth, "{warmup:?}");
        }
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
    fn auto_warmup_skips_a_settling_start_and_keeps_a_steady_one() {
        let auto = |settling: f64| {
            let mut a = Analyzer::new(Criteria {
                warmup: WarmupRule::Found {
                    planned: Duration::from_secs(360),
                },
                ..criteria(10e6)
            });
            // An hour at 1 Hz: a cache filling with a 6-minute time
            // constant (`settling` bytes still to come), small noise.
            for t in 0..3600 {
                let t = t as f64;
                let wobble = ((t * 0.7).sin() + (t * 0.13).cos()) * 20e3;
                a.observe(
                    t,
                    Some(100e6 - settling * (-t / 360.0).exp() + wobble),
                    None,
                );
            }
            a.judge()
        };
        let steady = auto(0.0);
        assert_eq!(
            steady.warmup_s, 35.99,
            "1% of the run (last sample at 3599 s)"
        );
        let settling = auto(50e6);
        assert!(
            settling.warmup_s >= 600.0 && settling.warmup_s <= 1800.0,
            "found {} s",
            settling.warmup_s
        );
        let g = settling.growth.unwrap();
        assert!(g.ci95_bytes_per_hour[0] <= 1e6, "{g:?}");
        assert_eq!(settling.verdict, Verdict::Pass);
    }

    #[test]
    fn default_warmup_rule() {
        let m = |s| Duration::from_secs(s);
        assert_eq!(default_warmup(m(120)), m(30));
        assert_eq!(default_warmup(m(40)), m(20));
        assert_eq!(default_warmup(m(8 * 3600)), m(48 * 60));
    }
}
