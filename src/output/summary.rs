//! `summary.json`: the machine-readable verdict of a run.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::allocations::leaks::{Leaks, Window};
use crate::allocations::ProfilerKind;
use crate::analysis::attribution::Attribution;
use crate::analysis::{EarlyFail, Growth, Judgement, Metric, NoiseModel, Verdict, WarmupRule};
use crate::process::{ExitInfo, TargetMode};
use crate::sampler::ProcessSummary;
use crate::units::Rate;
use crate::workload::checks::{self, LoadCheck};
use crate::workload::WorkloadSummary;

/// Method description stored with every growth estimate.
pub const METHOD: &str = "GLS slope over block minima; noise model (stationary AR(1) + white, or random walk + white) chosen by the DF-GLS unit-root test (Elliott, Rothenberg & Stock 1996) and fitted by REML; Student-t 95% interval";

/// Everything a person or a CI job needs to know about a run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// memsoak version that wrote this.
    pub memsoak_version: String,
    /// Run name.
    pub name: String,
    /// `pass`, `fail` or `inconclusive`.
    pub verdict: Verdict,
    /// Why, one line each.
    pub reasons: Vec<String>,
    /// The process exit code memsoak returned for this run.
    pub exit_code: i32,
    /// True when the run was interrupted and judged on the data so far.
    pub partial: bool,
    /// The judged metric.
    pub metric: Metric,
    /// Why the judged metric is not the one asked for, if so.
    pub metric_note: Option<String>,
    /// Growth fit; absent with too few samples.
    pub growth: Option<GrowthSummary>,
    /// The limit, bytes per hour.
    pub threshold_bytes_per_hour: f64,
    /// The limit as the user wrote it, e.g. `10MB/h`.
    pub threshold: Rate,
    /// RSS ceiling, bytes.
    pub max_rss_bytes: Option<u64>,
    /// Largest tree RSS seen, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// When the peak was seen, seconds.
    pub peak_rss_elapsed_s: Option<f64>,
    /// Samples written.
    pub samples: u64,
    /// Samples judged (after warm-up, with a metric value).
    pub samples_judged: u64,
    /// Samples taken more than a quarter interval late.
    pub late_samples: u64,
    /// Ticks skipped because the sampler fell behind.
    pub missed_ticks: u64,
    /// Ticks whose reading failed.
    pub failed_samples: u64,
    /// Elapsed time of the last sample, seconds.
    pub duration_s: f64,
    /// The planned duration, seconds.
    pub planned_duration_s: Option<f64>,
    /// Warm-up judged by, seconds (found in the data with `warmup_auto`).
    pub warmup_s: f64,
    /// Whether the warm-up was found in the data (`--warmup auto`).
    #[serde(default)]
    pub warmup_auto: bool,
    /// The judged window was held past the warm-up until this (seconds):
    /// memsoak was working on the target (a profiler's baseline, a heap
    /// snapshot), whose cost is not the target's growth. `report` holds
    /// it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_held_until_s: Option<f64>,
    /// Sampling interval, seconds.
    pub interval_s: Option<f64>,
    /// The process under test.
    pub target: Option<TargetSummary>,
    /// Where the memory was read from: the process tree, a cgroup, or a
    /// Prometheus query (with each series judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::source::SourceSummary>,
    /// Start of the measured clock (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// Profile file used.
    pub profile: Option<String>,
    /// `samples.csv` columns the platform could not fill.
    pub unavailable_columns: Vec<String>,
    /// Workload totals.
    #[serde(default)]
    pub workloads: Vec<WorkloadSummary>,
    /// The load's checks, each workload's (`verdict` is `load_failure`
    /// when one failed).
    #[serde(default)]
    pub load_checks: Vec<LoadCheck>,
    /// The load design the workloads ran (`[run] load_design`), when not
    /// steady.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_design: Option<crate::workload::design::DesignSummary>,
    /// With a load design: the growth attributed to time and to each
    /// driver by a joint fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_drivers: Option<GrowthDrivers>,
    /// The tree's processes at the last sample (biggest first).
    #[serde(default)]
    pub processes: Vec<ProcessSummary>,
    /// Where and how the run was made.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Set when `--fail-fast` ended the run early.
    #[serde(default)]
    pub fail_fast: Option<EarlyFail>,
    /// Where the growth is: classes, resources and processes judged like
    /// the tree (absent for a recording without `breakdown.csv` and
    /// `processes.csv`).
    #[serde(default)]
    pub attribution: Option<Attribution>,
    /// Where it leaks: the profiler's top sites (`--profiler`); the whole
    /// result is in `leaks.json`.
    #[serde(default)]
    pub leaks: Option<LeaksSummary>,
    /// A browser page's heap snapshots (`--heap-snapshots`): the files, the
    /// constructors that gained the most objects, the detached DOM nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_snapshots: Option<crate::source::page::HeapSnapshots>,
}

/// The joint fit of memory against time and each driver's cumulative
/// count, under a load design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowthDrivers {
    /// Growth time alone drives, bytes per hour.
    pub time_bytes_per_hour: f64,
    /// Its 95% interval.
    pub time_ci95_bytes_per_hour: [f64; 2],
    /// Each driver's growth per unit.
    pub drivers: Vec<DriverGrowth>,
    /// The noise model the series selected.
    pub noise: NoiseModel,
    /// Block points fitted.
    pub blocks: usize,
    /// The method, in words.
    pub method: String,
}

/// The growth one driver leaves per unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverGrowth {
    /// The workload.
    pub workload: String,
    /// Its sends or its connections.
    pub driver: crate::workload::design::DriverKind,
    /// Bytes per message or connection; absent when its count did not
    /// vary over the judged window (nothing to fit it to).
    pub bytes_per_unit: Option<f64>,
    /// The 95% interval.
    pub ci95_bytes: Option<[f64; 2]>,
}

/// How the joint fit is described in summaries.
pub const JOINT_METHOD: &str = "GLS of the judged block series on time and each driver's cumulative count, under the load design's blocks; the verdict's noise models, REML grid and Student-t 95% intervals";

/// The profiler's result in brief; `file` has the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaksSummary {
    /// `leaks.json`, relative to the run folder.
    pub file: String,
    /// Which profiler.
    pub profiler: ProfilerKind,
    /// The profiled window.
    pub window: Window,
    /// Sites below this many bytes are noise.
    pub noise_floor_bytes: u64,
    /// The largest site above the floor.
    pub top_site: Option<TopSite>,
    /// The largest sites above the floor, all processes, largest first
    /// (at most [`LeaksSummary::TOP`]).
    pub top_sites: Vec<TopSite>,
    /// Sites above the floor, all processes.
    pub sites_above_floor: usize,
    /// Types that gained the most live objects, all processes.
    pub top_types: Vec<TopType>,
    /// Why there are no sites, and how to fix it.
    pub error: Option<String>,
    /// What a reader should know.
    pub notes: Vec<String>,
    /// Commands that open the profiler's files.
    pub commands: Vec<String>,
}

/// A site, flattened for readers: its innermost frame and its process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopSite {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Bytes grown in the window.
    pub bytes: i64,
    /// Allocations.
    pub count: i64,
    /// The innermost frame's function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: Option<u32>,
}

/// A type's growth, with its process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopType {
    /// Process id.
    pub pid: u32,
    /// Type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Live objects gained.
    pub count_delta: i64,
}

impl LeaksSummary {
    /// Sites and types listed in the summary.
    pub const TOP: usize = 5;

    /// The brief of a profiler's result.
    pub fn of(l: &Leaks) -> LeaksSummary {
        let mut sites: Vec<TopSite> = l
            .sites_above_floor()
            .map(|(p, s)| {
                let f = s.frames.first();
                TopSite {
                    pid: p.pid,
                    name: p.name.clone(),
                    bytes: s.bytes,
                    count: s.count,
                    function: f.map(|f| f.function.clone()).unwrap_or_default(),
                    file: f.map(|f| f.file.clone()).unwrap_or_default(),
                    line: f.and_then(|f| f.line),
                }
            })
            .collect();
        sites.sort_by_key(|x| std::cmp::Reverse(x.bytes));
        let sites_above_floor = sites.len();
        sites.truncate(Self::TOP);
        let mut types: Vec<TopType> = l
            .processes
            .iter()
            .flat_map(|p| {
                p.types.iter().map(move |t| TopType {
                    pid: p.pid,
                    type_name: t.type_name.clone(),
                    count_delta: t.count_delta,
                })
            })
            .filter(|t| t.count_delta > 0)
            .collect();
        types.sort_by_key(|x| std::cmp::Reverse(x.count_delta));
        types.truncate(Self::TOP);
        LeaksSummary {
            file: crate::allocations::leaks::FILE.into(),
            profiler: l.profiler,
            window: l.window,
            noise_floor_bytes: l.noise_floor_bytes,
            top_site: sites.first().cloned(),
            top_sites: sites,
            sites_above_floor,
            top_types: types,
            error: l.error.clone(),
            notes: l.notes.clone(),
            commands: l.commands.clone(),
        }
    }
}

/// The machine and the command line of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Host name.
    pub host: String,
    /// Operating system and kernel release.
    pub kernel: String,
    /// memsoak's version.
    pub memsoak_version: String,
    /// memsoak's command line.
    pub command_line: Vec<String>,
}

impl Environment {
    /// This machine and process.
    pub fn current() -> Environment {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .ok()
        };
        Environment {
            host: read("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
            kernel: format!(
                "{} {}",
                std::env::consts::OS,
                read("/proc/sys/kernel/osrelease").unwrap_or_default()
            )
            .trim()
            .to_string(),
            memsoak_version: env!("CARGO_PKG_VERSION").into(),
            command_line: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        }
    }
}

/// The growth estimate, in bytes per hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowthSummary {
    /// GLS slope over block minima.
    pub slope_bytes_per_hour: f64,
    /// 95% interval `[lo, hi]`.
    pub ci95_bytes_per_hour: [f64; 2],
    /// Slope ± interval in the limit's unit, for people.
    pub display: String,
    /// Fitted line value at elapsed 0, bytes (for charts).
    pub intercept_bytes: f64,
    /// Points fitted.
    pub blocks: usize,
    /// Samples per block.
    pub samples_per_block: u32,
    /// The slope's variance relative to independent noise of the same size.
    pub variance_inflation: f64,
    /// The noise model the data selected: `stationary` or `random_walk`
    /// (absent in summaries written before memsoak chose one).
    #[serde(default)]
    pub noise: Option<NoiseModel>,
    /// The method, with citations.
    pub method: String,
}

/// The process under test and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// `launch` or `attach`.
    pub mode: TargetMode,
    /// Root pid.
    pub pid: u32,
    /// Command line of a launched target.
    pub command: Vec<String>,
    /// How it ended, if it did before memsoak stopped it.
    pub exit: Option<ExitInfo>,
    /// The same, in words.
    pub exit_description: Option<String>,
    /// Target failure message (exit code 3), if any.
    pub failure: Option<String>,
    /// The last lines the target wrote to stderr, when it failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// Most processes seen in the tree at once.
    pub max_processes: u32,
}

impl GrowthSummary {
    /// From the analysis result, formatted in the limit's unit.
    pub fn new(g: &Growth, unit: &crate::units::RateUnit) -> GrowthSummary {
        GrowthSummary {
            slope_bytes_per_hour: g.slope_bytes_per_hour,
            ci95_bytes_per_hour: g.ci95_bytes_per_hour,
            display: format!(
                "{} (95% CI {} … {})",
                unit.format(g.slope_bytes_per_hour),
                unit.format_number(g.ci95_bytes_per_hour[0]),
                unit.format(g.ci95_bytes_per_hour[1])
            ),
            intercept_bytes: g.intercept_bytes,
            blocks: g.blocks,
            samples_per_block: g.samples_per_block,
            variance_inflation: g.variance_inflation,
            noise: Some(g.noise),
            method: METHOD.into(),
        }
    }
}

/// How the judgement was asked for: the settings every summary records.
#[derive(Debug, Clone, PartialEq)]
pub struct Judging {
    /// The metric judged.
    pub metric: Metric,
    /// Why the judged metric is not the one asked for, if so.
    pub metric_note: Option<String>,
    /// The growth limit.
    pub limit: Rate,
    /// How the end of warm-up was decided.
    pub warmup: WarmupRule,
    /// RSS ceiling, bytes.
    pub max_rss_bytes: Option<u64>,
}

/// How the sampler's run went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingFacts {
    /// Samples taken more than a quarter interval late.
    pub late_samples: u64,
    /// Ticks skipped because the sampler fell behind.
    pub missed_ticks: u64,
    /// Ticks whose reading failed.
    pub failed_samples: u64,
    /// The first failure message, if any.
    pub first_failure: Option<String>,
    /// `samples.csv` columns the platform could not fill.
    pub unavailable_columns: Vec<String>,
    /// The tree's processes at the last sample.
    pub processes: Vec<ProcessSummary>,
}

/// Everything a finished `memsoak run` knows, typed.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Run name.
    pub name: String,
    /// Profile file used.
    pub profile: Option<String>,
    /// How the judgement was asked for.
    pub judging: Judging,
    /// The planned duration, seconds.
    pub planned_duration_s: f64,
    /// Sampling interval, seconds.
    pub interval_s: f64,
    /// Start of the measured clock (RFC 3339, UTC).
    pub started_at: String,
    /// How sampling went.
    pub sampling: SamplingFacts,
    /// Workload totals, growth per unit already stated.
    pub workloads: Vec<WorkloadSummary>,
    /// Workloads whose tasks died, one line each with the first panic:
    /// the load was not what the profile asked for (its `tasks alive`
    /// check fails).
    pub load_failures: Vec<String>,
    /// The target and how it ended.
    pub target: TargetSummary,
    /// Set when an interruption ended the run.
    pub partial: bool,
    /// Set when `--fail-fast` ended the run.
    pub fail_fast: Option<EarlyFail>,
    /// This machine and command line.
    pub environment: Environment,
    /// What the memory was read from, with what it saw.
    pub source: Option<crate::source::SourceSummary>,
    /// Where the growth is (absent before the run ends).
    pub attribution: Option<Attribution>,
    /// What the profiler found, with `--profiler`.
    pub leaks: Option<LeaksSummary>,
    /// A page's heap snapshots compared, with `--heap-snapshots`.
    pub heap_snapshots: Option<crate::source::page::HeapSnapshots>,
    /// The load design, when not steady.
    pub load_design: Option<crate::workload::design::DesignSummary>,
    /// Under a load design, the joint fit.
    pub growth_drivers: Option<GrowthDrivers>,
}

/// What `memsoak report` knows of a recording it judges again.
#[derive(Debug, Clone)]
pub struct Rejudged {
    /// How the new judgement was asked for.
    pub judging: Judging,
    /// The run's own summary, when the recording is a run folder's.
    pub previous: Option<Summary>,
    /// The name of a recording without a summary.
    pub name: String,
    /// The run's workloads, growth per unit stated for the new judgement.
    pub workloads: Vec<WorkloadSummary>,
    /// The memory source, judged again (the run's, or a Prometheus window
    /// just read).
    pub source: Option<crate::source::SourceSummary>,
    /// When the recording started, when no summary says.
    pub started_at: Option<String>,
    /// Where the growth is, judged again.
    pub attribution: Option<Attribution>,
    /// The profiler's sites, read again.
    pub leaks: Option<LeaksSummary>,
    /// With `--fail-fast`: the look a live run would have stopped at
    /// (`Some(None)`: none would have).
    pub replayed: Option<Option<EarlyFail>>,
    /// Under the run's load design, the joint fit again.
    pub growth_drivers: Option<GrowthDrivers>,
}

impl Summary {
    /// The summary of a finished run: the judgement, overridden by a
    /// fail-fast look when one fired, with every fact of the run.
    /// `exit_code` maps the final verdict to the process exit code.
    pub fn of_run(
        judgement: &Judgement,
        facts: RunFacts,
        exit_code: impl FnOnce(Verdict) -> i32,
    ) -> Summary {
        let mut s = Summary::judged(judgement, facts.judging);
        let f = facts.sampling;
        if let Some(first) = &f.first_failure {
            s.reasons.push(format!(
                "{} sample(s) failed; first: {first}",
                f.failed_samples
            ));
        }
        // A target that ended early is the cause: "run longer" is not the
        // advice.
        if facts.target.failure.is_some() {
            for r in &mut s.reasons {
                if let Some(i) = r.find("): run longer") {
                    r.truncate(i + 1);
                    r.push_str(": the target ended before enough were taken");
                }
            }
        }
        s.reasons.extend(facts.load_failures);
        if let Some(e) = &facts.fail_fast {
            s.fail_early(e);
        }
        let mut processes = f.processes;
        processes.sort_by_key(|p| std::cmp::Reverse(p.rss_bytes));
        let mut s = Summary {
            name: facts.name,
            partial: facts.partial,
            late_samples: f.late_samples,
            missed_ticks: f.missed_ticks,
            failed_samples: f.failed_samples,
            planned_duration_s: Some(facts.planned_duration_s),
            interval_s: Some(facts.interval_s),
            target: Some(facts.target),
            started_at: Some(facts.started_at),
            profile: facts.profile,
            unavailable_columns: f.unavailable_columns,
            workloads: facts.workloads,
            processes,
            environment: Some(facts.environment),
            fail_fast: facts.fail_fast,
            source: facts.source,
            attribution: facts.attribution,
            leaks: facts.leaks,
            heap_snapshots: facts.heap_snapshots,
            load_design: facts.load_design,
            growth_drivers: facts.growth_drivers,
            ..s
        };
        s.judge_load();
        s.exit_code = exit_code(s.verdict);
        s
    }

    /// Judges the load's checks from the workloads' totals: a failed one
    /// makes the run a load failure (unless the target failed, which is
    /// the cause), its reason first.
    fn judge_load(&mut self) {
        self.load_checks = checks::judge(&self.workloads);
        if let Some(reason) = checks::failure_reason(&self.load_checks) {
            if self.target.as_ref().is_none_or(|t| t.failure.is_none()) {
                self.verdict = Verdict::LoadFailure;
            }
            self.reasons.insert(0, reason);
        }
    }

    /// A recording judged again (`memsoak report`): the new judgement, with
    /// the run's own facts kept from its previous summary when there is
    /// one. `exit_code` maps the final verdict to the process exit code.
    pub fn rejudged(
        judgement: &Judgement,
        facts: Rejudged,
        exit_code: impl FnOnce(Verdict) -> i32,
    ) -> Summary {
        let mut s = Summary::judged(judgement, facts.judging);
        let fail_fast = match facts.replayed {
            // A replay of the looks decides.
            Some(replayed) => replayed,
            // The live run's look stands when its lower bound is still
            // above the limit judged by now.
            None => facts
                .previous
                .as_ref()
                .and_then(|p| p.fail_fast)
                .filter(|e| e.lower_bound_bytes_per_hour > s.threshold_bytes_per_hour),
        };
        if let Some(e) = &fail_fast {
            s.fail_early(e);
        }
        let s = Summary {
            fail_fast,
            growth_drivers: facts.growth_drivers,
            workloads: facts.workloads,
            attribution: facts.attribution,
            leaks: facts.leaks,
            ..s
        };
        let mut s = match facts.previous {
            Some(p) => Summary {
                name: p.name,
                partial: p.partial,
                late_samples: p.late_samples,
                missed_ticks: p.missed_ticks,
                failed_samples: p.failed_samples,
                planned_duration_s: p.planned_duration_s,
                interval_s: p.interval_s,
                target: p.target,
                source: facts.source.or(p.source),
                started_at: p.started_at,
                profile: p.profile,
                unavailable_columns: p.unavailable_columns,
                processes: p.processes,
                environment: p.environment,
                heap_snapshots: p.heap_snapshots,
                load_design: p.load_design,
                ..s
            },
            None => Summary {
                name: facts.name,
                source: facts.source,
                started_at: facts.started_at,
                ..s
            },
        };
        s.judge_load();
        s.exit_code = exit_code(s.verdict);
        s
    }

    /// The run failed at a fail-fast look: the verdict is fail, and the look
    /// is the first reason.
    fn fail_early(&mut self, e: &EarlyFail) {
        self.verdict = Verdict::Fail;
        self.reasons.insert(
            0,
            format!(
                "fail-fast: at look {} of {} ({:.0}s), the growth's lower bound {} exceeds the limit (at most {}% of runs within the limit fail early)",
                e.look,
                e.looks,
                e.elapsed_s,
                self.threshold.unit.format(e.lower_bound_bytes_per_hour),
                e.alpha * 100.0
            ),
        );
    }

    /// The verdict fields of a judgement; every fact of the run left empty.
    fn judged(j: &Judgement, judging: Judging) -> Summary {
        let limit = judging.limit;
        Summary {
            memsoak_version: env!("CARGO_PKG_VERSION").into(),
            name: String::new(),
            verdict: j.verdict,
            reasons: j.reasons.clone(),
            exit_code: 0,
            partial: false,
            metric: judging.metric,
            metric_note: judging.metric_note,
            growth: j
                .growth
                .as_ref()
                .map(|g| GrowthSummary::new(g, &limit.unit)),
            threshold_bytes_per_hour: limit.bytes_per_hour,
            threshold: limit,
            max_rss_bytes: judging.max_rss_bytes,
            peak_rss_bytes: j.peak_rss_bytes,
            peak_rss_elapsed_s: j.peak_rss_elapsed_s,
            samples: j.samples,
            samples_judged: j.samples_judged,
            late_samples: 0,
            missed_ticks: 0,
            failed_samples: 0,
            duration_s: j.last_elapsed_s,
            planned_duration_s: None,
            warmup_s: j.warmup_s,
            warmup_auto: judging.warmup.is_found(),
            warmup_held_until_s: j.held_until_s,
            interval_s: None,
            target: None,
            source: None,
            started_at: None,
            profile: None,
            unavailable_columns: Vec::new(),
            workloads: Vec::new(),
            load_checks: Vec::new(),
            load_design: None,
            growth_drivers: None,
            processes: Vec::new(),
            environment: None,
            fail_fast: None,
            attribution: None,
            leaks: None,
            heap_snapshots: None,
        }
    }

    /// Writes `summary.json` atomically (temp file, then rename), so a
    /// reader never sees half a file.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("summary.json");
        let tmp = dir.join(".summary.json.tmp");
        let text = serde_json::to_string_pretty(self).context("could not serialise the summary")?;
        let written = std::fs::write(&tmp, text + "\n")
            .with_context(|| format!("could not write '{}'", path.display()))
            .and_then(|()| {
                std::fs::rename(&tmp, &path)
                    .with_context(|| format!("could not write '{}'", path.display()))
            });
        if written.is_err() {
            // A half-written temporary file (a full disk) is not left behind.
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Whether the growth estimate alone fails the limit.
    pub fn growth_failed(&self) -> bool {
        let limit = self.judged_limit_bytes_per_hour();
        let series_failed = self
            .source
            .as_ref()
            .and_then(|src| src.prometheus())
            .is_some_and(|p| {
                p.series
                    .iter()
                    .any(|x| x.counted && x.verdict == Verdict::Fail)
            });
        series_failed
            || self
                .growth
                .as_ref()
                .is_some_and(|g| g.ci95_bytes_per_hour[0] > limit)
    }

    /// The limit the judged metric was held to: the limit, or for the
    /// fleet sum of a many-series source, the limit times the series
    /// answering at the end.
    pub fn judged_limit_bytes_per_hour(&self) -> f64 {
        let series = self
            .source
            .as_ref()
            .and_then(|s| s.prometheus())
            .and_then(|p| p.series_at_end)
            .unwrap_or(1)
            .max(1);
        self.threshold_bytes_per_hour * series as f64
    }

    /// Reads a `summary.json`; the error says which file and what is wrong
    /// with it.
    pub fn load(path: &Path) -> anyhow::Result<Summary> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read '{}'", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("'{}' is not a memsoak summary", path.display()))
    }
}
