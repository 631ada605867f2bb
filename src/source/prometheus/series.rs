//! Judging each series of a many-series source (the replicas a
//! Prometheus query answers for) and the fleet, into one verdict.
//!
//! Each series in `series.csv` is judged with the same estimator and
//! limit as a process tree, on its own clock (a replica that restarted
//! has its own warm-up), streamed with one bounded analyser per series.
//! A series is *counted* in the run's verdict when it has a growth
//! estimate and covers at least half of the fleet's judged window; a
//! shorter one (a replica that restarted late) is listed, not counted,
//! so one restart does not make a night's run inconclusive. The run's
//! verdict is the worst of the counted series and of the fleet sum, which
//! is judged against the limit times the number of series answering at
//! the end (replicas each within the limit pass together).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, Criteria, Judgement, Verdict};
use crate::source::PrometheusSummary;
use crate::units::Rate;

/// At most this many series are judged (a file edited to hold more keeps
/// memory bounded).
const MAX_JUDGED: usize = super::MAX_SERIES;

/// One series, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesJudgement {
    /// Its name (labels, `#N` after a restart).
    pub name: String,
    /// First and last seen, seconds since the run's start.
    pub first_s: f64,
    /// Last seen.
    pub last_s: f64,
    /// Readings.
    pub samples: u64,
    /// Its last value, bytes.
    pub last_bytes: f64,
    /// Slope, bytes per hour, when it could be fitted.
    pub slope_bytes_per_hour: Option<f64>,
    /// 95% interval.
    pub ci95_bytes_per_hour: Option<[f64; 2]>,
    /// Its own verdict.
    pub verdict: Verdict,
    /// Whether it counts in the run's verdict.
    pub counted: bool,
    /// Why it does not count, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_counted: Option<String>,
}

/// Why a series shorter than half the window is not counted.
pub const TOO_SHORT: &str = "too short to judge alone (under half the judged window)";

/// Series named one by one in the run's reasons; the rest are counted.
const NAMED_IN_REASONS: usize = 10;

struct Running {
    name: String,
    first_s: f64,
    last_s: f64,
    last: f64,
    analyzer: Analyzer,
}

/// Judges every series of `series.csv` (`path`) with `criteria`; counts
/// those covering at least half of `fleet_window_s`.
pub fn judge(
    path: &Path,
    criteria: &Criteria,
    fleet_window_s: f64,
) -> anyhow::Result<Vec<SeriesJudgement>> {
    let mut running: Vec<Running> = Vec::new();
    crate::recording::breakdown::read_breakdown(path, |t, name, v| {
        let i = match running.iter().position(|r| r.name == name) {
            Some(i) => i,
            None if running.len() < MAX_JUDGED => {
                running.push(Running {
                    name: name.to_string(),
                    first_s: t,
                    last_s: t,
                    last: v,
                    analyzer: Analyzer::new(criteria.clone()),
                });
                running.len() - 1
            }
            None => return,
        };
        let r = &mut running[i];
        r.last_s = t;
        r.last = v;
        r.analyzer.observe(t - r.first_s, Some(v), None);
    })?;
    Ok(running
        .into_iter()
        .map(|r| {
            let j = r.analyzer.judge();
            let judged_s = j.last_elapsed_s - j.warmup_s;
            let long_enough = judged_s >= fleet_window_s / 2.0;
            let counted = j.growth.is_some() && long_enough;
            let not_counted = match (counted, long_enough) {
                (true, _) => None,
                (false, false) => Some(TOO_SHORT.to_string()),
                (false, true) => Some(format!(
                    "no trend to fit ({})",
                    j.reasons.first().map_or("no reason given", String::as_str)
                )),
            };
            SeriesJudgement {
                name: r.name,
                first_s: r.first_s,
                last_s: r.last_s,
                samples: j.samples,
                last_bytes: r.last,
                slope_bytes_per_hour: j.growth.as_ref().map(|g| g.slope_bytes_per_hour),
                ci95_bytes_per_hour: j.growth.as_ref().map(|g| g.ci95_bytes_per_hour),
                verdict: j.verdict,
                counted,
                not_counted,
            }
        })
        .collect())
}

/// Judges a Prometheus run's data: each series of `series.csv` in `dir`
/// against the limit, and the fleet sum against the limit times the
/// series answering at the end, folded into the worst verdict. The
/// series and their count go into `source`. Without `series.csv` (an
/// older recording), the fleet sum alone.
pub fn judge_fleet(
    source: &mut PrometheusSummary,
    dir: &Path,
    analyzer: &Analyzer,
    limit: &Rate,
) -> Judgement {
    let path = dir.join(super::SERIES_CSV);
    if !path.is_file() {
        return analyzer.judge();
    }
    // The series are held to the limit itself, whatever the analyser was
    // last judging the fleet against.
    let criteria = Criteria {
        max_growth_bytes_per_hour: limit.bytes_per_hour,
        ..analyzer.criteria().clone()
    };
    let fleet_first = analyzer.judge();
    let window = fleet_first.last_elapsed_s - fleet_first.warmup_s;
    let series = match judge(&path, &criteria, window) {
        Ok(s) => s,
        Err(e) => {
            let mut j = fleet_first;
            j.reasons
                .push(format!("the series were not judged one by one: {e:#}"));
            return j;
        }
    };
    let n = answering_at_end(&series).max(1);
    let mut fleet = analyzer.clone();
    fleet.set_max_growth(limit.bytes_per_hour * n as f64);
    let mut judgement = fleet.judge();
    if n > 1 {
        judgement.reasons.push(format!(
            "the fleet sum of {n} series is judged against {n} × the limit ({})",
            limit.unit.format(limit.bytes_per_hour * n as f64)
        ));
    }
    combine(&mut judgement, &series, |v| limit.unit.format(v));
    source.series = series;
    source.series_at_end = Some(n);
    judgement
}

/// How many series answered at the end: those last seen within a second
/// of the latest.
pub fn answering_at_end(series: &[SeriesJudgement]) -> usize {
    let end = series.iter().map(|s| s.last_s).fold(f64::MIN, f64::max);
    series.iter().filter(|s| s.last_s >= end - 1.0).count()
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => 0,
        Verdict::Inconclusive => 1,
        Verdict::Fail => 2,
        // Not a series' verdict; ranked above all so it is never hidden.
        Verdict::LoadFailure => 3,
    }
}

/// Folds the counted series into the fleet's judgement: the worst verdict,
/// with a reason naming each series that is not a pass.
pub fn combine(fleet: &mut Judgement, series: &[SeriesJudgement], rate: impl Fn(f64) -> String) {
    let mut worst = fleet.verdict;
    let mut named = 0;
    let mut unnamed = 0;
    for s in series.iter().filter(|s| s.counted) {
        if rank(s.verdict) > rank(worst) {
            worst = s.verdict;
        }
        if matches!(s.verdict, Verdict::Pass | Verdict::LoadFailure) {
            continue;
        }
        // A fleet of hundreds failing together is a few lines, not
        // hundreds: every series is in `source.series` and the reports.
        if named == NAMED_IN_REASONS {
            unnamed += 1;
            continue;
        }
        named += 1;
        let interval = s
            .ci95_bytes_per_hour
            .map(|[lo, hi]| format!(" (95% CI {} … {})", rate(lo), rate(hi)))
            .unwrap_or_default();
        match s.verdict {
            Verdict::Fail => fleet.reasons.push(format!(
                "series {}: growth above the limit: {}{interval}",
                s.name,
                rate(s.slope_bytes_per_hour.unwrap_or(0.0))
            )),
            _ => fleet
                .reasons
                .push(format!("series {}: the data cannot tell{interval}", s.name)),
        }
    }
    if unnamed > 0 {
        fleet.reasons.push(format!(
            "… and {unnamed} more series above the limit or undecided (each in summary.json's source.series and the reports)"
        ));
    }
    // Grouped by why; a summary written before the reason was kept says
    // only that the series was short.
    let mut why: Vec<(&str, usize)> = Vec::new();
    for s in series.iter().filter(|s| !s.counted) {
        let w = s.not_counted.as_deref().unwrap_or(TOO_SHORT);
        match why.iter_mut().find(|(x, _)| *x == w) {
            Some((_, n)) => *n += 1,
            None => why.push((w, 1)),
        }
    }
    for (w, n) in why {
        let joint = if w == TOO_SHORT { "" } else { "with " };
        fleet
            .reasons
            .push(format!("{n} series {joint}{w}: listed, not counted"));
    }
    fleet.verdict = worst;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, verdict: Verdict, not_counted: Option<&str>) -> SeriesJudgement {
        SeriesJudgement {
            name: name.into(),
            first_s: 0.0,
            last_s: 100.0,
            samples: 100,
            last_bytes: 1e6,
            slope_bytes_per_hour: Some(50e6),
            ci95_bytes_per_hour: Some([40e6, 60e6]),
            verdict,
            counted: not_counted.is_none(),
            not_counted: not_counted.map(String::from),
        }
    }

    #[test]
    fn a_fleet_failing_together_names_ten_and_counts_the_rest() {
        let mut all: Vec<SeriesJudgement> = (0..15)
            .map(|i| series(&format!("pod=api-{i}"), Verdict::Fail, None))
            .collect();
        all.push(series("pod=late", Verdict::Pass, Some(TOO_SHORT)));
        all.push(series(
            "pod=flat",
            Verdict::Inconclusive,
            Some("no trend to fit (too few samples)"),
        ));
        let mut fleet = Judgement {
            verdict: Verdict::Pass,
            reasons: Vec::new(),
            growth: None,
            samples: 0,
            samples_judged: 0,
            peak_rss_bytes: None,
            peak_rss_elapsed_s: None,
            last_elapsed_s: 100.0,
            warmup_s: 10.0,
            held_until_s: None,
            ceiling_crossed: false,
        };
        combine(&mut fleet, &all, |v| format!("{v}"));
        assert_eq!(fleet.verdict, Verdict::Fail);
        let named = fleet
            .reasons
            .iter()
            .filter(|r| r.starts_with("series "))
            .count();
        assert_eq!(named, 10, "{:?}", fleet.reasons);
        assert!(
            fleet
                .reasons
                .iter()
                .any(|r| r.contains("and 5 more series")),
            "{:?}",
            fleet.reasons
        );
        assert!(fleet.reasons.iter().any(|r| r == "1 series too short to judge alone (under half the judged window): listed, not counted"), "{:?}", fleet.reasons);
        assert!(
            fleet
                .reasons
                .iter()
                .any(|r| r.starts_with("1 series with no trend to fit (too few samples)")),
            "{:?}",
            fleet.reasons
        );
    }
}
