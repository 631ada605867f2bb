//! `summary.json`: the machine-readable verdict of a run.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::analysis::{Growth, Judgement, Metric, Verdict};
use crate::target::ExitInfo;

/// Method description stored with every growth estimate.
pub const METHOD: &str = "Theil-Sen slope over block minima; Sen (1968) 95% interval with Hamed-Rao (1998) autocorrelation correction";

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
    pub threshold: String,
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
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Sampling interval, seconds.
    pub interval_s: Option<f64>,
    /// The process under test.
    pub target: Option<TargetSummary>,
    /// Start of the measured clock (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// Profile file used.
    pub profile: Option<String>,
    /// `samples.csv` columns the platform could not fill.
    pub unavailable_columns: Vec<String>,
    /// Workload totals.
    #[serde(default)]
    pub workloads: Vec<crate::workload::WorkloadSummary>,
    /// The tree's processes at the last sample (biggest first).
    #[serde(default)]
    pub processes: Vec<crate::sampler::ProcessSummary>,
    /// Where and how the run was made.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Set when `--fail-fast` ended the run early.
    #[serde(default)]
    pub fail_fast: Option<crate::sampler::EarlyFail>,
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
    /// Theil–Sen slope.
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
    /// Autocorrelation variance inflation applied.
    pub variance_inflation: f64,
    /// The method, with citations.
    pub method: String,
}

/// The process under test and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// `launch` or `attach`.
    pub mode: String,
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
            method: METHOD.into(),
        }
    }
}

impl Summary {
    /// Fills the verdict fields from a judgement; the caller sets the rest.
    pub fn from_judgement(j: &Judgement, limit: &crate::units::Rate) -> Summary {
        Summary {
            memsoak_version: env!("CARGO_PKG_VERSION").into(),
            name: String::new(),
            verdict: j.verdict,
            reasons: j.reasons.clone(),
            exit_code: 0,
            partial: false,
            metric: Metric::Rss,
            metric_note: None,
            growth: j
                .growth
                .as_ref()
                .map(|g| GrowthSummary::new(g, &limit.unit)),
            threshold_bytes_per_hour: limit.bytes_per_hour,
            threshold: limit.spec(),
            max_rss_bytes: None,
            peak_rss_bytes: j.peak_rss_bytes,
            peak_rss_elapsed_s: j.peak_rss_elapsed_s,
            samples: j.samples,
            samples_judged: j.samples_judged,
            late_samples: 0,
            missed_ticks: 0,
            failed_samples: 0,
            duration_s: j.last_elapsed_s,
            planned_duration_s: None,
            warmup_s: 0.0,
            interval_s: None,
            target: None,
            started_at: None,
            profile: None,
            unavailable_columns: Vec::new(),
            workloads: Vec::new(),
            processes: Vec::new(),
            environment: None,
            fail_fast: None,
        }
    }

    /// Writes `summary.json` atomically (temp file, then rename), so a
    /// reader never sees half a file.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("summary.json");
        let tmp = dir.join(".summary.json.tmp");
        let text = serde_json::to_string_pretty(self).context("could not serialise the summary")?;
        std::fs::write(&tmp, text + "\n")
            .with_context(|| format!("could not write '{}'", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("could not write '{}'", path.display()))
    }

    /// Whether the growth estimate alone fails the limit.
    pub fn growth_failed(&self) -> bool {
        self.growth
            .as_ref()
            .is_some_and(|g| g.ci95_bytes_per_hour[0] > self.threshold_bytes_per_hour)
    }

    /// Reads a `summary.json`, if there is a valid one.
    pub fn read(path: &Path) -> Option<Summary> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }
}
