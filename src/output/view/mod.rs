//! The report view: what every human-facing output says, decided once.
//!
//! Terminal, Markdown, HTML and JUnit outputs all say the same things — the
//! verdict header, the judged window, the limit in the user's unit, the
//! peak, the load, the outcome of each check — in different markup. The
//! view words them once from a [`Summary`]; each renderer only lays them
//! out (hyperfine's `MarkupExporter` does the same for its tables). No
//! renderer re-derives a verdict or re-parses a unit. New sections (e.g.
//! attribution, leak sites) are added here once and rendered thinly.

mod sections;
mod table;

use crate::analysis::Verdict;
use crate::source::SourceKind;
use crate::units::{format_elapsed, format_mb};
use crate::workload::{Totals, WorkloadKind};

use super::Summary;
use sections::{heap_snapshots, where_it_grows, where_it_leaks};
pub(crate) use sections::{SnapshotRow, SnapshotsView, WhereItGrows, WhereItLeaks};
pub(crate) use table::Table;

/// Share of sends that may fail before the workload check fails.
pub(crate) const MAX_ERROR_RATIO: f64 = 0.01;

/// A summary worded for people.
#[derive(Debug, Clone)]
pub(crate) struct ReportView<'a> {
    /// The summary behind the view, for renderers that list raw facts.
    pub summary: &'a Summary,
    /// `PASS`, `FAIL` or `INCONCLUSIVE`.
    pub verdict_word: String,
    /// ` (partial: interrupted)` or empty.
    pub partial: &'static str,
    /// `anon grows 73.0 MB/h (95% CI 63.0 … 82.7 MB/h), limit 10.0 MB/h`;
    /// for a target that failed, the failure (it decides the exit code).
    pub headline: String,
    /// The growth and the limit, when the headline is a target failure.
    pub growth_line: Option<String>,
    /// The limit in the user's unit: `10.0 MB/h`.
    pub limit: String,
    /// `90 s after a 30 s warm-up: 92 of 122 samples`.
    pub judged_window: String,
    /// `11.2 MB at 114 s`, when RSS was read.
    pub peak: Option<String>,
    /// The RSS ceiling: `200.0 MB`.
    pub ceiling: Option<String>,
    /// The peak with the ceiling: `11.2 MB at 114 s (ceiling 200.0 MB)`.
    pub peak_and_ceiling: Option<String>,
    /// The load, one row per workload.
    pub load: Vec<LoadRow<'a>>,
    /// The checks a CI system shows as test cases: the four of every run,
    /// then one per load check.
    pub checks: Vec<Check>,
    /// The load checks, one `✓ editors: delivery loss 0% (0 of 5756) ≤ 5%`
    /// line each.
    pub load_checks: Vec<String>,
    /// Under a load design, the growth by driver: `time-driven: 0.3 MB/h
    /// (95% CI …)`, `editors: 714 bytes per message (95% CI …)`.
    pub growth_drivers: Vec<String>,
    /// "Where it grows", when the run has an attribution.
    pub where_it_grows: Option<WhereItGrows>,
    /// "Where it leaks", when a profiler ran.
    pub where_it_leaks: Option<WhereItLeaks>,
    /// "Heap snapshots", when a browser page's were taken.
    pub heap_snapshots: Option<SnapshotsView>,
}

/// One workload, worded.
#[derive(Debug, Clone)]
pub(crate) struct LoadRow<'a> {
    /// Workload name.
    pub name: &'a str,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its totals.
    pub totals: &'a Totals,
    /// `847 bytes (95% CI 732 … 960)` per message, when stated.
    pub per_message: Option<String>,
    /// The same per connection, when stated.
    pub per_connection: Option<String>,
    /// The bare per-message figure, `847 B`, for compact tables.
    pub per_message_short: Option<String>,
    /// `health '/health' flagged: unhealthy for 75s`, one per flagged step.
    pub flagged_health: Vec<String>,
    /// Restarts a health step counted, one line per step that follows a
    /// counter: `restarts in 'GET /agents/health': planner 6 (at 20s, 40s…), assistant 0`.
    pub restarts: Vec<String>,
}

/// One check of the run, as a CI test case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// The test case name.
    pub name: String,
    /// How it came out.
    pub outcome: Outcome,
}

/// A check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Passed.
    Pass,
    /// Failed, with the message.
    Fail(String),
    /// Not applicable or not decided, with the reason.
    Skip(String),
}

/// How a result is shown: the colour of the terminal's verdict line, the
/// class of the HTML banner, the mark of the Markdown heading. A target
/// failure shows as a failure whatever the growth verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Passed.
    Pass,
    /// Failed, or the target failed.
    Fail,
    /// The data cannot tell.
    Inconclusive,
}

impl Tone {
    /// The tone of `verdict`, for a run whose target failed or not.
    pub(crate) fn of(verdict: Verdict, target_failed: bool) -> Tone {
        match (target_failed, verdict) {
            (true, _) | (false, Verdict::Fail | Verdict::LoadFailure) => Tone::Fail,
            (false, Verdict::Pass) => Tone::Pass,
            (false, Verdict::Inconclusive) => Tone::Inconclusive,
        }
    }
}

impl<'a> ReportView<'a> {
    /// Words `s`.
    pub(crate) fn new(s: &'a Summary) -> ReportView<'a> {
        let unit = &s.threshold.unit;
        let limit = unit.format(s.threshold_bytes_per_hour);
        let peak = s.peak_rss_bytes.map(|p| {
            format!(
                "{} at {}",
                format_mb(p as f64),
                format_elapsed(s.peak_rss_elapsed_s.unwrap_or(0.0))
            )
        });
        let peak_and_ceiling = peak.as_ref().map(|p| match s.max_rss_bytes {
            Some(c) => format!("{p} (ceiling {})", format_mb(c as f64)),
            None => p.clone(),
        });
        let growth = match &s.growth {
            Some(g) => format!("{} grows {}", measured_name(s), g.display),
            None => "no growth estimate".into(),
        };
        let growth_and_limit = format!("{growth}, limit {limit}");
        let target_failure = s.target.as_ref().and_then(|t| t.failure.clone());
        // A load failure leads with what failed; the growth follows, shown
        // for the reader but not judged.
        let load_failure = (s.verdict == Verdict::LoadFailure && target_failure.is_none())
            .then(|| {
                let failed: Vec<_> = s.load_checks.iter().filter(|c| !c.passed).collect();
                let more = match failed.len() {
                    0 | 1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                failed
                    .first()
                    .map(|c| format!("load check failed: {}: {}{more}", c.workload, c.text))
            })
            .flatten();
        let growth_and_limit = match &load_failure {
            Some(_) => format!("{growth_and_limit} (not judged)"),
            None => growth_and_limit,
        };
        let failure = target_failure.or(load_failure);
        ReportView {
            summary: s,
            verdict_word: match &failure {
                Some(_) if s.verdict != Verdict::LoadFailure => "TARGET FAILURE".into(),
                _ => s.verdict.to_string().to_uppercase(),
            },
            partial: if s.partial {
                " (partial: interrupted)"
            } else {
                ""
            },
            growth_line: failure.as_ref().map(|_| growth_and_limit.clone()),
            headline: failure.unwrap_or(growth_and_limit),
            limit,
            judged_window: format!(
                "{} after a {} warm-up{}: {} of {} samples",
                format_elapsed(s.duration_s - s.warmup_s),
                format_elapsed(s.warmup_s),
                if s.warmup_auto {
                    " (found in the data)"
                } else {
                    ""
                },
                s.samples_judged,
                s.samples
            ),
            peak,
            ceiling: s.max_rss_bytes.map(|c| format_mb(c as f64)),
            peak_and_ceiling,
            load: s.workloads.iter().map(load_row).collect(),
            checks: checks(s),
            load_checks: s.load_checks.iter().map(|c| c.line()).collect(),
            growth_drivers: growth_drivers(s),
            where_it_grows: where_it_grows(s),
            where_it_leaks: where_it_leaks(s),
            heap_snapshots: heap_snapshots(s),
        }
    }

    /// How the result is shown.
    pub(crate) fn tone(&self) -> Tone {
        Tone::of(self.summary.verdict, self.growth_line.is_some())
    }

    /// The target failure message, if the target failed.
    pub(crate) fn target_failure(&self) -> Option<&'a str> {
        self.summary
            .target
            .as_ref()
            .and_then(|t| t.failure.as_deref())
    }

    /// The key numbers, label and text, in reading order.
    pub(crate) fn key_numbers(&self) -> Vec<(String, String)> {
        let s = self.summary;
        let mut rows = vec![(
            "Verdict".to_string(),
            format!("{} (exit code {})", s.verdict, s.exit_code),
        )];
        if let Some(g) = &s.growth {
            rows.push(("Growth".into(), g.display.clone()));
            rows.push(("Method".into(), g.method.clone()));
        }
        rows.push(("Judged metric".into(), s.metric.to_string()));
        rows.push(("Limit".into(), self.limit.clone()));
        if let Some(p) = &self.peak {
            rows.push(("Peak RSS".into(), p.clone()));
        }
        if let Some(c) = &self.ceiling {
            rows.push(("RSS ceiling".into(), c.clone()));
        }
        rows.push(("Judged window".into(), self.judged_window.clone()));
        if !self.growth_drivers.is_empty() {
            rows.push(("Growth by driver".into(), self.growth_drivers.join("; ")));
        }
        for w in &self.load {
            if let Some(m) = &w.per_message {
                rows.push((format!("Growth per message ({})", w.name), m.clone()));
            }
            if let Some(c) = &w.per_connection {
                rows.push((format!("Growth per connection ({})", w.name), c.clone()));
            }
        }
        for (label, text) in self.source_rows() {
            rows.push((label, text));
        }
        if let Some(t) = &s.target {
            rows.push((
                "Target".into(),
                match t.mode {
                    crate::process::TargetMode::None => {
                        "none: the memory source alone was read".into()
                    }
                    _ => format!("{} pid {}: {}", t.mode, t.pid, t.command.join(" ")),
                },
            ));
            if let Some(e) = &t.exit_description {
                rows.push(("Target ended".into(), e.clone()));
            }
            if let Some(f) = &t.failure {
                rows.push(("Target failure".into(), f.clone()));
            }
        }
        if let Some(n) = &s.metric_note {
            rows.push(("Note".into(), n.clone()));
        }
        rows
    }

    /// The memory source, each series of a many-series source with its
    /// verdict, and restarts; nothing for the process tree.
    pub(crate) fn source_rows(&self) -> Vec<(String, String)> {
        let s = self.summary;
        let Some(src) = s.source.as_ref().filter(|x| x.kind() != SourceKind::Tree) else {
            return Vec::new();
        };
        let mut rows = vec![("Memory source".to_string(), src.describe())];
        let prometheus = src.prometheus();
        if let Some(w) = prometheus.and_then(|p| p.window.as_ref()) {
            rows.push((
                "Window".into(),
                format!("{} … {}, step {}s", w.start, w.end, w.step_s),
            ));
        }
        let unit = &s.threshold.unit;
        for x in prometheus.iter().flat_map(|p| &p.series) {
            let growth = match (x.slope_bytes_per_hour, x.ci95_bytes_per_hour) {
                (Some(v), Some([lo, hi])) => format!(
                    "{} (95% CI {} … {})",
                    unit.format(v),
                    unit.format(lo),
                    unit.format(hi)
                ),
                _ => "no estimate".into(),
            };
            rows.push((
                format!("Series {}", x.name),
                format!(
                    "{}: {growth}{}",
                    x.verdict,
                    match (x.counted, x.not_counted.as_deref()) {
                        (true, _) => String::new(),
                        (false, Some(why))
                            if why != crate::source::prometheus::series::TOO_SHORT =>
                        {
                            format!(" (not counted: {why})")
                        }
                        (false, _) => " (too short to count)".into(),
                    }
                ),
            ));
        }
        let restarts = src.restarts();
        if restarts > 0 {
            let first = src.restart_events().next();
            rows.push((
                "Restarts".into(),
                format!(
                    "{restarts}{}{}",
                    first.map_or(String::new(), |e| format!(
                        "; first: {} at {}",
                        e.series,
                        crate::units::format_elapsed(e.elapsed_s)
                    )),
                    if src.restarts_fail() {
                        " (a target failure: --restarts-fail)"
                    } else {
                        " (events; each restarted replica judged as a new series)"
                    }
                ),
            ));
        }
        rows
    }

    /// Sampling trouble, when there was any:
    /// `2 late, 0 missed ticks, 1 failed readings`.
    pub(crate) fn sampling_trouble(&self) -> Option<String> {
        let s = self.summary;
        (s.late_samples + s.missed_ticks + s.failed_samples > 0).then(|| {
            format!(
                "{} late, {} missed ticks, {} failed readings",
                s.late_samples, s.missed_ticks, s.failed_samples
            )
        })
    }
}

fn load_row(w: &crate::workload::WorkloadSummary) -> LoadRow<'_> {
    // At constant rates time, messages and connections rose together and
    // no fit can tell them apart: the figure is the whole growth divided
    // by this workload's rate, a bound. Under a load design the joint fit
    // measured it.
    let bound = |value: Option<f64>, ci: Option<[f64; 2]>| match (value, ci) {
        (Some(b), Some([lo, hi])) => Some(format!(
            "at most {b:.0} bytes (95% CI {lo:.0} … {hi:.0}), if all growth came from this workload"
        )),
        _ => None,
    };
    let joint = |value: Option<f64>, ci: Option<[f64; 2]>| match (value, ci) {
        (Some(b), Some([lo, hi])) => Some(format!(
            "{b:.0} bytes (95% CI {lo:.0} … {hi:.0}), from the load design's joint fit"
        )),
        _ => None,
    };
    let per_message = joint(
        w.joint_growth_per_message_bytes,
        w.joint_growth_per_message_ci95_bytes,
    )
    .or_else(|| bound(w.growth_per_message_bytes, w.growth_per_message_ci95_bytes));
    let per_connection = joint(
        w.joint_growth_per_connection_bytes,
        w.joint_growth_per_connection_ci95_bytes,
    )
    .or_else(|| {
        bound(
            w.growth_per_connection_bytes,
            w.growth_per_connection_ci95_bytes,
        )
    });
    LoadRow {
        name: &w.name,
        kind: w.kind,
        totals: &w.totals,
        per_message,
        per_connection,
        per_message_short: match w.joint_growth_per_message_bytes {
            Some(b) => Some(format!("{b:.0} B")),
            None => w.growth_per_message_bytes.map(|b| format!("≤ {b:.0} B")),
        },
        flagged_health: w
            .health
            .iter()
            .filter(|h| h.flagged)
            .map(|h| {
                format!(
                    "health '{}' flagged: unhealthy for {:.0}s",
                    h.name, h.longest_unhealthy_s
                )
            })
            .collect(),
        restarts: w.health.iter().filter_map(restarts_line).collect(),
    }
}

/// The joint fit's lines: time first, then each driver.
fn growth_drivers(s: &Summary) -> Vec<String> {
    let Some(g) = &s.growth_drivers else {
        return Vec::new();
    };
    let unit = &s.threshold.unit;
    let [lo, hi] = g.time_ci95_bytes_per_hour;
    let mut lines = vec![format!(
        "time-driven {} (95% CI {} … {})",
        unit.format(g.time_bytes_per_hour),
        unit.format_number(lo),
        unit.format(hi)
    )];
    for d in &g.drivers {
        let per = d.driver.unit();
        lines.push(match (d.bytes_per_unit, d.ci95_bytes) {
            (Some(b), Some([lo, hi])) => format!(
                "{}: {b:.0} bytes per {per} (95% CI {lo:.0} … {hi:.0})",
                d.workload
            ),
            _ => format!(
                "{}: per {per} not measured (its count did not vary)",
                d.workload
            ),
        });
    }
    lines
}

/// Times shown per item in a restarts line (all are in `summary.json`).
const RESTART_TIMES: usize = 4;

/// A health step's restarts per item, most first.
fn restarts_line(h: &crate::workload::agent::HealthSummary) -> Option<String> {
    let path = h.restarts_path.as_ref()?;
    let mut items: Vec<(&String, &u64)> = h.restarts.iter().collect();
    items.sort_by_key(|(name, n)| (std::cmp::Reverse(**n), (*name).clone()));
    let words: Vec<String> = items
        .iter()
        .map(|(item, n)| {
            let times = h.restart_times_s.get(*item).map_or(String::new(), |t| {
                let shown: Vec<String> = t
                    .iter()
                    .take(RESTART_TIMES)
                    .map(|s| format_elapsed(*s))
                    .collect();
                let more = if t.len() > RESTART_TIMES { ", …" } else { "" };
                format!(" (at {}{more})", shown.join(", "))
            });
            format!("{item} {n}{times}")
        })
        .collect();
    let words = if words.is_empty() {
        format!("'{path}' matched nothing in the answers")
    } else {
        words.join(", ")
    };
    Some(format!("restarts in '{}': {words}", h.name))
}

/// The four checks of every run — memory growth, RSS ceiling, target
/// health and workload errors (any failed load check, or errors above
/// [`MAX_ERROR_RATIO`] of what was sent) — then each load check. They
/// read the verdict the analysis gave; an inconclusive run that exits 0
/// (`--on-inconclusive pass`) is a skipped growth check, not a passed one.
fn checks(s: &Summary) -> Vec<Check> {
    let growth = match (s.verdict, &s.growth) {
        (Verdict::LoadFailure, _) => Outcome::Skip("not judged: the load failed its checks".into()),
        (Verdict::Inconclusive, _) if s.exit_code == 0 => {
            Outcome::Skip(format!("inconclusive: {}", s.reasons.join("; ")))
        }
        (_, Some(g)) if s.growth_failed() => Outcome::Fail(format!(
            "memory grows {} (limit {})",
            g.display,
            s.threshold.unit.format(s.threshold_bytes_per_hour)
        )),
        (Verdict::Inconclusive, _) => {
            Outcome::Fail(format!("inconclusive: {}", s.reasons.join("; ")))
        }
        _ => Outcome::Pass,
    };
    let ceiling = match s.max_rss_bytes {
        None => Outcome::Skip("no RSS ceiling set".into()),
        Some(c) if s.peak_rss_bytes.is_some_and(|p| p > c) => Outcome::Fail(format!(
            "peak RSS {} bytes exceeds the ceiling of {c} bytes",
            s.peak_rss_bytes.unwrap_or(0)
        )),
        Some(_) => Outcome::Pass,
    };
    let flagged: Vec<String> = s
        .workloads
        .iter()
        .flat_map(|w| &w.health)
        .filter(|h| h.flagged)
        .map(|h| {
            format!(
                "health '{}' unhealthy for {:.0} s",
                h.name, h.longest_unhealthy_s
            )
        })
        .collect();
    let health = match (&s.target, s.target.as_ref().and_then(|t| t.failure.clone())) {
        (_, Some(f)) => Outcome::Fail(f),
        _ if !flagged.is_empty() => Outcome::Fail(flagged.join("; ")),
        // A recording judged by `memsoak report` tells nothing of a target.
        (None, None) => Outcome::Skip("no target: a recording judged on its own".into()),
        (Some(_), None) => Outcome::Pass,
    };
    let noisy: Vec<String> = s
        .workloads
        .iter()
        .filter(|w| w.totals.errors as f64 > MAX_ERROR_RATIO * w.totals.sent.max(1) as f64)
        .map(|w| {
            format!(
                "{}: {} errors in {} sent",
                w.name, w.totals.errors, w.totals.sent
            )
        })
        .collect();
    let noisy: Vec<String> = noisy
        .into_iter()
        .chain(
            s.load_checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.workload, c.text)),
        )
        .collect();
    let workload = if s.workloads.is_empty() {
        Outcome::Skip("no workloads".into())
    } else if noisy.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(noisy.join("; "))
    };
    let check = |name: &str, outcome| Check {
        name: name.to_string(),
        outcome,
    };
    let mut all = vec![
        check("memory growth", growth),
        check("RSS ceiling", ceiling),
        check("target health", health),
        check("workload errors", workload),
    ];
    all.extend(s.load_checks.iter().map(|c| {
        check(
            &format!("load check: {} {}", c.workload, c.check.label()),
            if c.passed {
                Outcome::Pass
            } else {
                Outcome::Fail(c.text.clone())
            },
        )
    }));
    all
}

/// The replica a series belongs to: its name without the `#N` a restart
/// gives it.
fn replica_of(name: &str) -> &str {
    match name.rsplit_once(" #") {
        Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => base,
        _ => name,
    }
}

/// What grows, in the headline: the metric, or for Prometheus the
/// query's value summed over its series.
fn measured_name(s: &Summary) -> String {
    match &s.source {
        Some(src) if src.kind() == SourceKind::Prometheus => {
            // A replica that restarted is a new series (`NAME #2`) but
            // the same replica: replicas are counted, not generations.
            let series = src.prometheus().map_or(&[][..], |p| &p.series[..]);
            let mut replicas: Vec<&str> = series.iter().map(|x| replica_of(&x.name)).collect();
            replicas.sort_unstable();
            replicas.dedup();
            match (replicas.len(), series.len()) {
                (0 | 1, 0 | 1) => "the query's value".into(),
                (1, _) => "the query's value (one replica, restarted)".into(),
                (r, n) if n > r => format!("the sum of {r} series ({n} with restarts)"),
                (r, _) => format!("the sum of {r} series"),
            }
        }
        Some(src) if src.kind() == SourceKind::Cgroup => format!("cgroup {}", s.metric),
        _ => s.metric.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_restarted_series_is_the_same_replica() {
        assert_eq!(super::replica_of("pod=api-1 #2"), "pod=api-1");
        assert_eq!(super::replica_of("pod=api-1"), "pod=api-1");
        assert_eq!(super::replica_of("pod=a #b"), "pod=a #b");
    }
}
