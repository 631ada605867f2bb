//! The validated configurations of `memsoak report` and `memsoak compare`:
//! the flags checked once, the way `run`'s are ([`super::RunConfig`]), so
//! the commands receive what they can act on and never re-read raw flags.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::ConfigError;
use crate::cli::{CompareArgs, JudgeArgs, ReportArgs};
use crate::source::prometheus::window::{rfc3339, WindowRequest, MAX_STEPS};
use crate::source::PrometheusSpec;
use crate::units::Rate;

/// `memsoak report`, decided.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// What is judged.
    pub input: ReportInput,
    /// Where the outputs go (`--out`).
    pub out: Option<PathBuf>,
    /// The judging flags; each falls back to the run's own setting.
    pub judge: JudgeArgs,
    /// Exit with the growth verdict alone.
    pub growth_only: bool,
    /// Replay the recording through `--fail-fast`'s planned looks.
    pub replay_fail_fast: bool,
}

/// What `report` judges.
#[derive(Debug, Clone)]
pub enum ReportInput {
    /// A recording on disk.
    Recording(Located),
    /// A past window of a Prometheus query, read into a new run folder.
    Prometheus(WindowRequest),
}

/// A recording on disk, and where its outputs go.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The samples CSV.
    pub csv: PathBuf,
    /// The run folder it belongs to, when it is a run's `samples.csv`: its
    /// `summary.json` holds the run's settings and facts, its
    /// `workload.csv` the load.
    pub run_folder: Option<PathBuf>,
    /// Where the outputs go without `--out`.
    pub default_out: PathBuf,
}

impl Located {
    /// A folder is a run folder; a file named `samples.csv` is its run
    /// folder's; any other CSV stands alone, and its outputs go to a folder
    /// of its own beside it, so a run's summary there is never replaced.
    pub fn locate(path: &Path) -> Located {
        if path.is_dir() {
            return Located {
                csv: path.join("samples.csv"),
                run_folder: Some(path.to_path_buf()),
                default_out: path.to_path_buf(),
            };
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.file_name().is_some_and(|n| n == "samples.csv") {
            return Located {
                csv: path.to_path_buf(),
                run_folder: Some(parent.clone()),
                default_out: parent,
            };
        }
        let stem = path
            .file_stem()
            .map_or_else(|| "samples".into(), |s| s.to_string_lossy().into_owned());
        Located {
            csv: path.to_path_buf(),
            run_folder: None,
            default_out: parent.join(format!("{stem}-report")),
        }
    }
}

impl ReportConfig {
    /// Checks the flags of `memsoak report`.
    pub fn from_args(args: &ReportArgs) -> Result<ReportConfig, ConfigError> {
        let input = match (&args.prometheus, &args.path) {
            (Some(url), _) => ReportInput::Prometheus(window(args, url)?),
            (None, Some(p)) => ReportInput::Recording(Located::locate(p)),
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "give a run folder or CSV, or --prometheus with --query, --start and --end"
                        .into(),
                ))
            }
        };
        Ok(ReportConfig {
            input,
            out: args.out.clone(),
            judge: args.judge.clone(),
            growth_only: args.growth_only,
            replay_fail_fast: args.fail_fast,
        })
    }
}

/// The window `--prometheus URL --query Q --start T --end T [--step D]`.
fn window(args: &ReportArgs, url: &str) -> Result<WindowRequest, ConfigError> {
    let invalid = ConfigError::Invalid;
    let now = SystemTime::now();
    let start = parse_time(args.start.as_deref().unwrap_or(""), now)?;
    let end = parse_time(args.end.as_deref().unwrap_or(""), now)?;
    if end <= start {
        return Err(invalid(format!(
            "--end ({}) must be after --start ({})",
            rfc3339(end),
            rfc3339(start)
        )));
    }
    let step = args
        .step
        .unwrap_or_else(|| WindowRequest::default_step(start, end));
    if step < std::time::Duration::from_secs(1) {
        return Err(invalid(format!(
            "--step {} is under a second: Prometheus keeps one value per scrape (seconds apart), so a finer step only repeats values; give the scrape interval",
            humantime::format_duration(step)
        )));
    }
    if (end - start) / step.as_secs_f64() > MAX_STEPS {
        return Err(invalid(format!(
            "the window holds more than {MAX_STEPS} steps of {}: Prometheus refuses that; give a longer --step",
            humantime::format_duration(step)
        )));
    }
    let headers = args
        .prometheus_header
        .iter()
        .map(|h| {
            crate::source::parse_header(h).ok_or_else(|| {
                invalid(
                    "--prometheus-header must be `Name: value` (the value is not shown here)"
                        .into(),
                )
            })
        })
        .collect::<Result<std::collections::BTreeMap<_, _>, _>>()?;
    let trust = crate::tls::Trust {
        ca_file: args.tls.tls_ca.clone(),
        insecure: args.tls.tls_insecure,
    };
    trust.check().map_err(|e| invalid(format!("{e:#}")))?;
    let spec = PrometheusSpec {
        trust,
        url: url.to_string(),
        query: args.query.clone().unwrap_or_default(),
        step: Some(step),
        headers,
        restarts_fail: false,
    };
    // The URL and its `${ENV}` are checked now, before anything is read.
    crate::source::prometheus::connection(&spec).map_err(|e| invalid(format!("{e:#}")))?;
    Ok(WindowRequest {
        spec,
        start,
        end,
        step,
    })
}

/// `now`, `now-8h`, RFC 3339 or Unix seconds, as Unix seconds.
fn parse_time(text: &str, now: SystemTime) -> Result<f64, ConfigError> {
    let unix = |t: SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let text = text.trim();
    if text == "now" {
        return Ok(unix(now));
    }
    if let Some(ago) = text.strip_prefix("now-") {
        let d = crate::units::parse_positive_duration(ago)
            .map_err(|e| ConfigError::Invalid(format!("invalid time '{text}': {e}")))?;
        return Ok(unix(now) - d.as_secs_f64());
    }
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(secs);
        }
    }
    humantime::parse_rfc3339_weak(text).map(unix).map_err(|_| {
        ConfigError::Invalid(format!("invalid time '{text}': give RFC 3339 (2026-11-28T01:00:00Z), Unix seconds, `now` or `now-8h`"))
    })
}

/// `memsoak compare`, decided.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// The reference run folder.
    pub base: PathBuf,
    /// The run folder judged against it.
    pub new: PathBuf,
    /// NEW is worse when its slope exceeds BASE's by more than this.
    pub margin: Rate,
    /// NEW is also worse when its peak exceeds BASE's by more than this.
    pub peak_margin: Option<u64>,
    /// Where `compare.json` and the chart go.
    pub out: PathBuf,
}

impl CompareConfig {
    /// Checks the flags of `memsoak compare`: both folders hold a run.
    pub fn from_args(args: &CompareArgs) -> Result<CompareConfig, ConfigError> {
        for dir in [&args.base, &args.new] {
            if !dir.join("summary.json").exists() {
                return Err(ConfigError::Invalid(format!(
                    "'{}' is not a run folder: it has no summary.json",
                    dir.display()
                )));
            }
        }
        Ok(CompareConfig {
            base: args.base.clone(),
            new: args.new.clone(),
            margin: args.margin.clone(),
            peak_margin: args.peak_margin,
            out: args.out.clone().unwrap_or_else(|| args.new.clone()),
        })
    }
}

/// The elapsed time of `secs` as a [`Duration`], when it is one (times
/// read from files may be anything).
pub fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs.max(0.0)).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_take_every_documented_form_and_the_epoch() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        assert_eq!(parse_time("now", now).unwrap(), 10_000.0);
        assert_eq!(parse_time("now-1h", now).unwrap(), 6_400.0);
        assert_eq!(parse_time("0", now).unwrap(), 0.0);
        assert_eq!(parse_time("1764300000.5", now).unwrap(), 1_764_300_000.5);
        assert_eq!(parse_time("1970-01-01T00:01:40Z", now).unwrap(), 100.0);
        assert!(parse_time("-5", now).is_err());
        assert!(parse_time("yesterday", now).is_err());
    }
}
