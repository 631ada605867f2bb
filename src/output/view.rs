//! The report view: what every human-facing output says, decided once.
//!
//! Terminal, Markdown, HTML and JUnit outputs all say the same things — the
//! verdict header, the judged window, the limit in the user's unit, the
//! peak, the load, the outcome of each check — in different markup. The
//! view words them once from a [`Summary`]; each renderer only lays them
//! out (hyperfine's `MarkupExporter` does the same for its tables). No
//! renderer re-derives a verdict or re-parses a unit. New sections (e.g.
//! attribution, leak sites) are added here once and rendered thinly.

use crate::analysis::attribution::{
    format_rate, process_label, signed, SeriesAttribution, TrendWord, Unit,
};
use crate::analysis::Verdict;
use crate::units::{format_elapsed, format_mb};
use crate::workload::{Totals, WorkloadKind};

use super::Summary;
use crate::source::SourceKind;

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
    /// The checks a CI system shows as test cases.
    pub checks: [Check; 4],
    /// "Where it grows", when the run has an attribution.
    pub where_it_grows: Option<WhereItGrows>,
    /// "Where it leaks", when a profiler ran.
    pub where_it_leaks: Option<WhereItLeaks>,
    /// "Heap snapshots", when a browser page's were taken.
    pub heap_snapshots: Option<SnapshotsView>,
}

/// A page's heap snapshots compared, worded.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotsView {
    /// `+5250 detached DOM nodes (Detached <span> +5000, …); most objects
    /// gained: <span> +5000, …`, or why there is no comparison.
    pub headline: String,
    /// `baseline at 15s, final at 40s`.
    pub window: String,
    /// The classes that gained the most objects.
    pub constructors: Vec<SnapshotRow>,
    /// The detached DOM nodes gained, by class.
    pub detached: Vec<SnapshotRow>,
    /// The snapshot files, relative to the run folder, with their sizes.
    pub files: Vec<(String, String)>,
}

/// One class of the comparison, worded.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotRow {
    /// `Detached <div>`, `(closure)`.
    pub name: String,
    /// `+5000`.
    pub gained: String,
    /// Objects in the final snapshot.
    pub at_end: String,
    /// Own size gained: `+520.0 KB`.
    pub size: String,
}

fn heap_snapshots(s: &Summary) -> Option<SnapshotsView> {
    let h = s.heap_snapshots.as_ref()?;
    let row = |c: &crate::devtools::snapshot::ClassDelta| SnapshotRow {
        name: c.name.clone(),
        gained: format!("{:+}", c.count_delta),
        at_end: c.count_final.to_string(),
        size: signed(
            &format_bytes(c.self_size_delta_bytes as f64),
            c.self_size_delta_bytes as f64,
        ),
    };
    let brief = |rows: &[crate::devtools::snapshot::ClassDelta]| {
        rows.iter()
            .take(3)
            .map(|c| format!("{} {:+}", c.name, c.count_delta))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let headline = match (&h.diff, &h.error) {
        (Some(d), _) => {
            let detached = if d.detached_nodes.delta > 0 {
                format!(
                    "{:+} detached DOM nodes ({})",
                    d.detached_nodes.delta,
                    brief(&d.detached_nodes.by_name)
                )
            } else {
                format!(
                    "no detached DOM nodes gained ({} at the end)",
                    d.detached_nodes.r#final
                )
            };
            if d.constructors.is_empty() {
                format!("{detached}; no class gained objects")
            } else {
                format!(
                    "{detached}; most objects gained: {}",
                    brief(&d.constructors)
                )
            }
        }
        (None, Some(e)) => format!("no comparison: {e}"),
        (None, None) => "no comparison".into(),
    };
    let at = |f: &Option<crate::source::page::SnapshotFile>| {
        f.as_ref()
            .map_or("not taken".into(), |f| format_elapsed(f.elapsed_s))
    };
    Some(SnapshotsView {
        headline,
        window: format!("baseline at {}, final at {}", at(&h.baseline), at(&h.last)),
        constructors: h
            .diff
            .iter()
            .flat_map(|d| d.constructors.iter().map(row))
            .collect(),
        detached: h
            .diff
            .iter()
            .flat_map(|d| d.detached_nodes.by_name.iter().map(row))
            .collect(),
        files: [&h.baseline, &h.last]
            .into_iter()
            .flatten()
            .filter(|f| !f.deleted)
            .map(|f| (f.file.clone(), format_bytes(f.bytes as f64)))
            .collect(),
    })
}

/// The profiler's sites, worded.
#[derive(Debug, Clone)]
pub(crate) struct WhereItLeaks {
    /// `tracemalloc: +41.8 MB in the window at broadcast (backend/collab.py:57) in pid 123 (uvicorn)`,
    /// or why there is nothing.
    pub headline: String,
    /// `sites allocated between 30s and 2m and still live at 2m; noise floor 64.0 KB`.
    pub window: String,
    /// The top sites above the floor.
    pub rows: Vec<LeakRow>,
    /// `dict +152000 (pid 123)`.
    pub types: Vec<String>,
    /// The profiler's notes.
    pub notes: Vec<String>,
    /// Commands that open the profiler's files, from the run folder.
    pub commands: Vec<String>,
}

/// One site, worded.
#[derive(Debug, Clone)]
pub(crate) struct LeakRow {
    /// `pid 123 (uvicorn)`.
    pub process: String,
    /// The innermost frame's function.
    pub function: String,
    /// `backend/collab.py:57`.
    pub place: String,
    /// `+41.8 MB`.
    pub bytes: String,
    /// `+152000`.
    pub count: String,
}

/// Bytes for people: `512 B`, `64.0 KB`, `41.8 MB`, `1.20 GB` (powers of
/// 1000, like the rest of memsoak).
pub(crate) fn format_bytes(bytes: f64) -> String {
    let a = bytes.abs();
    if a < 1e3 {
        format!("{bytes:.0} B")
    } else if a < 1e6 {
        format!("{:.1} KB", bytes / 1e3)
    } else if a < 1e9 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.2} GB", bytes / 1e9)
    }
}

fn where_it_leaks(s: &Summary) -> Option<WhereItLeaks> {
    let l = s.leaks.as_ref()?;
    let name = l.profiler.name();
    let place = |file: &str, line: Option<u32>| match line {
        Some(n) => format!("{file}:{n}"),
        None => file.to_string(),
    };
    let headline = match (&l.top_site, &l.error) {
        (Some(t), _) => format!(
            "{name}: +{} in the window at {} ({}) in pid {} ({}){}",
            format_bytes(t.bytes as f64),
            if t.function.is_empty() {
                "?"
            } else {
                &t.function
            },
            place(&t.file, t.line),
            t.pid,
            t.name,
            if l.sites_above_floor > 1 {
                format!("; {} sites above the noise floor", l.sites_above_floor)
            } else {
                String::new()
            }
        ),
        (None, Some(e)) => format!("{name} found no sites: {e}"),
        (None, None) => format!(
            "{name}: no allocation site grew by more than the noise floor ({}) in the window",
            format_bytes(l.noise_floor_bytes as f64)
        ),
    };
    Some(WhereItLeaks {
        headline,
        window: format!(
            "allocated between {} and {} and still live at {}; noise floor {}",
            format_elapsed(l.window.start_s),
            format_elapsed(l.window.end_s),
            format_elapsed(l.window.end_s),
            format_bytes(l.noise_floor_bytes as f64)
        ),
        rows: l
            .top_sites
            .iter()
            .map(|t| LeakRow {
                process: format!("pid {} ({})", t.pid, t.name),
                function: t.function.clone(),
                place: place(&t.file, t.line),
                bytes: format!("+{}", format_bytes(t.bytes as f64)),
                count: format!("{:+}", t.count),
            })
            .collect(),
        types: l
            .top_types
            .iter()
            .map(|t| format!("{} {:+} (pid {})", t.type_name, t.count_delta, t.pid))
            .collect(),
        notes: l.notes.clone(),
        commands: l.commands.clone(),
    })
}

/// The attribution, worded: the headline, one row per class, resource and
/// process, and the hints.
#[derive(Debug, Clone)]
pub(crate) struct WhereItGrows {
    /// The finding in one line.
    pub headline: String,
    /// Classes, then resources, then processes.
    pub rows: Vec<AttributionRow>,
    /// Each hint's text.
    pub hints: Vec<String>,
}

/// One judged series, worded.
#[derive(Debug, Clone)]
pub(crate) struct AttributionRow {
    /// `class`, `resource` or `process`.
    pub kind: &'static str,
    /// `heap`, `fds_socket`, `pid 123 (uvicorn)`.
    pub name: String,
    /// `+41.8 MB/h`, `+36000 fds/h`.
    pub rate: String,
    /// `40.1 … 43.5`, in the rate's unit.
    pub ci: String,
    /// The trend word.
    pub trend: TrendWord,
    /// `93%` of the judged growth, or empty.
    pub share: String,
}

fn where_it_grows(s: &Summary) -> Option<WhereItGrows> {
    let a = s.attribution.as_ref()?;
    let unit = &s.threshold.unit;
    let share = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.0}%", v * 100.0));
    let series_row = |kind, x: &SeriesAttribution| AttributionRow {
        kind,
        name: x.name.clone(),
        rate: format_rate(x, unit),
        ci: match (x.unit, x.ci95_per_hour) {
            (_, None) => String::new(),
            (Unit::Bytes, Some([lo, hi])) => {
                format!("{} … {}", unit.format_number(lo), unit.format_number(hi))
            }
            (Unit::Count, Some([lo, hi])) => format!("{lo:.0} … {hi:.0}"),
        },
        trend: x.trend,
        share: share(x.share),
    };
    let mut rows: Vec<AttributionRow> = a
        .classes
        .iter()
        .map(|c| series_row("class", c))
        .chain(a.resources.iter().map(|r| series_row("resource", r)))
        .collect();
    rows.extend(a.processes.iter().map(|p| {
        AttributionRow {
            kind: "process",
            name: format!(
                "{}{}",
                process_label(p),
                if p.ended { ", ended" } else { "" }
            ),
            rate: p
                .slope_bytes_per_hour
                .map_or("n/a".into(), |v| signed(&unit.format(v), v)),
            ci: p.ci95_bytes_per_hour.map_or(String::new(), |[lo, hi]| {
                format!("{} … {}", unit.format_number(lo), unit.format_number(hi))
            }),
            trend: p.trend,
            share: share(p.share),
        }
    }));
    Some(WhereItGrows {
        headline: a.headline.clone(),
        rows,
        hints: a.hints.iter().map(|h| h.text.clone()).collect(),
    })
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
}

/// One check of the run, as a CI test case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// The test case name.
    pub name: &'static str,
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
        let failure = s.target.as_ref().and_then(|t| t.failure.clone());
        ReportView {
            summary: s,
            verdict_word: match &failure {
                Some(_) => "TARGET FAILURE".into(),
                None => s.verdict.to_string().to_uppercase(),
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
            where_it_grows: where_it_grows(s),
            where_it_leaks: where_it_leaks(s),
            heap_snapshots: heap_snapshots(s),
        }
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
        let Some(src) = s.source.as_ref().filter(|x| x.kind != SourceKind::Tree) else {
            return Vec::new();
        };
        let mut rows = vec![("Memory source".to_string(), src.describe())];
        if let Some(w) = &src.window {
            rows.push((
                "Window".into(),
                format!("{} … {}, step {}s", w.start, w.end, w.step_s),
            ));
        }
        let unit = &s.threshold.unit;
        for x in &src.series {
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
                    if x.counted {
                        ""
                    } else {
                        " (too short to count)"
                    }
                ),
            ));
        }
        let restarts = src.restarts();
        if restarts > 0 {
            let first = src.events.iter().find(|e| e.what.starts_with("restart"));
            rows.push((
                "Restarts".into(),
                format!(
                    "{restarts}{}{}",
                    first.map_or(String::new(), |e| format!(
                        "; first: {} at {}",
                        e.series,
                        crate::units::format_elapsed(e.elapsed_s)
                    )),
                    if src.restarts_fail {
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
    let per = |value: Option<f64>, ci: Option<[f64; 2]>| match (value, ci) {
        (Some(b), Some([lo, hi])) => Some(format!("{b:.0} bytes (95% CI {lo:.0} … {hi:.0})")),
        _ => None,
    };
    LoadRow {
        name: &w.name,
        kind: w.kind,
        totals: &w.totals,
        per_message: per(w.growth_per_message_bytes, w.growth_per_message_ci95_bytes),
        per_connection: per(
            w.growth_per_connection_bytes,
            w.growth_per_connection_ci95_bytes,
        ),
        per_message_short: w.growth_per_message_bytes.map(|b| format!("{b:.0} B")),
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
    }
}

/// The four checks: memory growth, RSS ceiling, target health and workload
/// errors (failed above [`MAX_ERROR_RATIO`] of what was sent). They read the
/// verdict the analysis gave; an inconclusive run that exits 0
/// (`--on-inconclusive pass`) is a skipped growth check, not a passed one.
fn checks(s: &Summary) -> [Check; 4] {
    let growth = match (s.verdict, &s.growth) {
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
    let workload = if s.workloads.is_empty() {
        Outcome::Skip("no workloads".into())
    } else if noisy.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(noisy.join("; "))
    };
    [
        Check {
            name: "memory growth",
            outcome: growth,
        },
        Check {
            name: "RSS ceiling",
            outcome: ceiling,
        },
        Check {
            name: "target health",
            outcome: health,
        },
        Check {
            name: "workload errors",
            outcome: workload,
        },
    ]
}

/// What grows, in the headline: the metric, or for Prometheus the
/// query's value summed over its series.
fn measured_name(s: &Summary) -> String {
    match &s.source {
        Some(src) if src.kind == SourceKind::Prometheus => match src.series.len() {
            0 | 1 => "the query's value".into(),
            n => format!("the sum of {n} series"),
        },
        Some(src) if src.kind == SourceKind::Cgroup => format!("cgroup {}", s.metric),
        _ => s.metric.to_string(),
    }
}
