//! `memsoak report PATH`: judge a run folder or any CSV again.
//!
//! Prepare: find the CSV and the run's previous `summary.json`, scan the
//! recording, and resolve the judging flags (flag, then the previous
//! summary, then the default). Measure: stream the recording through the
//! analyser. Conclude: a summary re-judged from typed facts, written with
//! the reports. Bounded memory whatever the file's size ([`Recording`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::{exit, exit_code_for, write_reports, Failure};
use crate::analysis::{
    Analyzer, BlockStat, Criteria, EarlyFail, FailFast, FailFastMonitor, Judgement, Metric,
};
use crate::cli::{JudgeArgs, ReportArgs};
use crate::config::{JudgeFallback, JudgeSettings};
use crate::output::{terminal, Judging, Summary};
use crate::recording::samples::Recording;
use crate::units::Warmup;
use crate::workload::state_growth_per_unit;

/// What `report` was pointed at.
struct Input {
    /// The samples CSV.
    csv: PathBuf,
    /// The run folder it belongs to, when it is a run's `samples.csv`: its
    /// `summary.json` holds the run's settings and facts, its
    /// `workload.csv` the load.
    run_folder: Option<PathBuf>,
    /// Where the outputs go without `--out`.
    default_out: PathBuf,
}

impl Input {
    /// A folder is a run folder; a file named `samples.csv` is its run
    /// folder's; any other CSV stands alone, and its outputs go to a folder
    /// of its own beside it, so a run's summary there is never replaced.
    fn locate(path: &Path) -> Input {
        if path.is_dir() {
            return Input {
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
            return Input {
                csv: path.to_path_buf(),
                run_folder: Some(parent.clone()),
                default_out: parent,
            };
        }
        let stem = path
            .file_stem()
            .map_or_else(|| "samples".into(), |s| s.to_string_lossy().into_owned());
        Input {
            csv: path.to_path_buf(),
            run_folder: None,
            default_out: parent.join(format!("{stem}-report")),
        }
    }
}

/// The run's own `summary.json`, if it has one. One that exists but cannot
/// be read is an error when the new summary would replace it (its facts
/// would be lost), a warning otherwise.
fn previous_summary(run_folder: &Path, out_dir: &Path) -> Result<Option<Summary>, Failure> {
    let path = run_folder.join("summary.json");
    if !path.exists() {
        return Ok(None);
    }
    match Summary::load(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if same_folder(run_folder, out_dir) => Err(Failure::Usage(e.context(format!(
            "memsoak will not replace a summary it cannot read: fix or move '{}', or write elsewhere with --out",
            path.display()
        )))),
        Err(e) => {
            eprintln!("memsoak: warning: {e:#}; judging with the flags and defaults alone");
            Ok(None)
        }
    }
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Runs `memsoak report`; `quiet` prints the verdict line only. Returns
/// the summary written.
pub(crate) fn report_command(args: &ReportArgs, quiet: bool) -> Result<Summary, Failure> {
    let fetched = match &args.prometheus {
        Some(url) => Some(fetch_window(args, url, quiet)?),
        None => None,
    };
    let path = match (&fetched, &args.path) {
        (Some(dir), _) => dir.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "give a run folder or CSV, or --prometheus with --query, --start and --end"
            )))
        }
    };
    let input = Input::locate(&path);
    let out_dir = args.out.clone().unwrap_or(input.default_out.clone());
    let previous = match &input.run_folder {
        Some(folder) => previous_summary(folder, &out_dir)?,
        None => None,
    };
    let mut memory_source = previous.as_ref().and_then(|p| p.source.clone());
    let replay = args.fail_fast.then(|| replay_plan(previous.as_ref()));
    let mut judged =
        judge_csv(&input.csv, &args.judge, previous.as_ref(), replay).map_err(Failure::Usage)?;
    if let Some(folder) = &input.run_folder {
        judged.judgement = super::judge_source(
            folder,
            &judged.analyzer,
            memory_source.as_mut(),
            &judged.settings.max_growth,
        );
    }
    // A replay decides the fail-fast outcome; the live run's own look is
    // not applied on top of it.
    let previous = match (replay, previous) {
        (Some(_), Some(p)) => Some(Summary {
            fail_fast: None,
            ..p
        }),
        (_, p) => p,
    };
    let warmup_s = judged.judgement.warmup_s;
    let judged_s = judged.judgement.last_elapsed_s - warmup_s;
    // Counts after warm-up are only known for the run's own warm-up.
    let same_warmup = previous
        .as_ref()
        .is_some_and(|p| (p.warmup_s - warmup_s).abs() < 1e-6);
    let workloads = previous
        .iter()
        .flat_map(|p| p.workloads.iter().cloned())
        .map(|mut w| {
            let steady = same_warmup && w.growth_per_message_bytes.is_some();
            state_growth_per_unit(&mut w, steady, judged.judgement.growth.as_ref(), judged_s);
            w
        })
        .collect();
    let name = input
        .csv
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    // A run that did not end well keeps its exit code unless the user asks
    // for the growth verdict alone.
    let unfinished = previous.as_ref().and_then(|p| {
        if p.target.as_ref().is_some_and(|t| t.failure.is_some()) {
            Some(exit::TARGET)
        } else if p.partial {
            Some(exit::INTERRUPTED)
        } else {
            None
        }
    });
    let on_inconclusive = judged.settings.on_inconclusive;
    let criteria = judged.criteria();
    let growth_only = args.growth_only;
    let mut summary = Summary::rejudged(
        &judged.judgement,
        Judging {
            metric: judged.metric,
            metric_note: judged.metric_note,
            limit: judged.settings.max_growth,
            warmup_auto: judged.settings.warmup_auto,
            max_rss_bytes: judged.settings.max_rss_bytes,
        },
        previous,
        name,
        workloads,
        |verdict| exit_code(verdict, unfinished, growth_only, on_inconclusive),
    );
    if let Some(src) = memory_source {
        if src.kind == crate::source::SourceKind::Prometheus && summary.metric_note.is_none() {
            summary.metric_note = Some(crate::source::PROMETHEUS_NOTE.into());
        }
        summary.source = Some(src);
    }
    if let Some(early) = judged.replayed.take() {
        summary.replay_fail_fast(early);
        summary.exit_code = exit_code(summary.verdict, unfinished, growth_only, on_inconclusive);
    }
    if let Some(folder) = &input.run_folder {
        super::attribute(
            &mut summary,
            folder,
            &judged.recording,
            &criteria,
            judged.judgement.growth.as_ref(),
        );
        match crate::allocations::leaks::Leaks::read(folder) {
            Ok(l) => summary.leaks = l.as_ref().map(crate::output::LeaksSummary::of),
            Err(e) => eprintln!("memsoak: warning: no profiler sites: {e:#}"),
        }
    }
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create '{}'", out_dir.display()))
        .map_err(Failure::Io)?;
    let written = summary.write(&out_dir);
    if written.is_ok() {
        write_reports(
            &out_dir,
            input.run_folder.as_deref(),
            Ok(&judged.recording),
            &summary,
        );
    }
    let target_failed = summary.target.as_ref().is_some_and(|t| t.failure.is_some());
    super::print_summary(
        &terminal::render_for(&summary, &out_dir, quiet),
        summary.verdict,
        target_failed,
    );
    written.map_err(Failure::Io)?;
    Ok(summary)
}

/// The exit code of a re-judged run: a run that did not end well keeps
/// its code unless the growth verdict alone is asked for.
fn exit_code(
    verdict: crate::analysis::Verdict,
    unfinished: Option<i32>,
    growth_only: bool,
    on_inconclusive: crate::profile::OnInconclusive,
) -> i32 {
    match unfinished {
        Some(code) if !growth_only => code,
        _ => exit_code_for(verdict, on_inconclusive),
    }
}

/// How `--fail-fast` looks are planned for a replay: the run's planned
/// duration and interval, from its summary; for another CSV, the
/// recording's own span and spacing (taken in [`judge_csv`]).
#[derive(Debug, Clone, Copy)]
pub struct ReplayPlan {
    /// Planned duration, when the run's summary says.
    pub duration: Option<Duration>,
    /// Sampling interval, when the run's summary says.
    pub interval: Option<Duration>,
}

fn replay_plan(previous: Option<&Summary>) -> ReplayPlan {
    let secs = |s: Option<f64>| s.and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok());
    ReplayPlan {
        duration: secs(previous.and_then(|p| p.planned_duration_s)),
        interval: secs(previous.and_then(|p| p.interval_s)),
    }
}

/// A CSV judged as `report` judges it.
pub struct Judged {
    /// The analysis result.
    pub judgement: Judgement,
    /// The metric judged.
    pub metric: Metric,
    /// Why it is not the run's own metric, if so.
    pub metric_note: Option<String>,
    /// The settings judged with.
    pub settings: JudgeSettings,
    /// The recording, scanned.
    pub recording: Recording,
    /// The analyser, fed with the recording.
    pub analyzer: Analyzer,
    /// With a replay of `--fail-fast`: the look that would have stopped
    /// the run, or `None` when none would have.
    pub replayed: Option<Option<EarlyFail>>,
}

fn criteria_of(settings: &JudgeSettings) -> Criteria {
    Criteria {
        warmup: settings.warmup,
        warmup_auto: settings.warmup_auto,
        max_growth_bytes_per_hour: settings.max_growth.bytes_per_hour,
        max_rss_bytes: settings.max_rss_bytes,
        block_stat: BlockStat::Min,
    }
}

impl Judged {
    /// The criteria the recording was judged by.
    pub fn criteria(&self) -> Criteria {
        criteria_of(&self.settings)
    }
}

/// Judges `csv_path` (streamed, in bounded memory) with the flags in
/// `judge`, falling back to a previous summary's settings. Writes nothing.
pub fn judge_csv(
    csv_path: &Path,
    judge: &JudgeArgs,
    previous: Option<&Summary>,
    replay: Option<ReplayPlan>,
) -> anyhow::Result<Judged> {
    let recording = Recording::scan(csv_path)?;
    // Times from files may be anything (a hand-edited summary, a huge
    // elapsed_s): out-of-range values fall back rather than panic.
    let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).ok();
    let settings = JudgeSettings::resolve(
        judge,
        JudgeFallback {
            warmup: previous.and_then(|p| {
                if p.warmup_auto {
                    Some(Warmup::Auto)
                } else {
                    secs(p.warmup_s).map(Warmup::Fixed)
                }
            }),
            max_growth: previous.map(|p| p.threshold.clone()),
            max_rss_bytes: previous.and_then(|p| p.max_rss_bytes),
            metric: previous.map(|p| p.metric),
            on_inconclusive: None,
        },
        secs(recording.last_elapsed_s).unwrap_or(Duration::MAX),
    );
    let best = recording
        .metrics_with_values
        .first()
        .copied()
        .unwrap_or(Metric::Rss);
    let (metric, metric_note) = match (judge.metric.map(Metric::from), settings.metric) {
        (_, Some(m)) if recording.metrics_with_values.contains(&m) => (m, None),
        (Some(m), _) => bail!(
            "'{}' has no values in column '{}': choose another --metric",
            csv_path.display(),
            m.column()
        ),
        // The run's own metric is missing (a run killed before its first
        // reading, or a summary from another platform): the best measured.
        (None, Some(m)) => (
            best,
            Some(format!(
                "the run's metric {m} has no values in '{}'; judged {best}",
                csv_path.display()
            )),
        ),
        (None, None) => (best, None),
    };
    let mut analyzer = Analyzer::new(criteria_of(&settings));
    let replayed = match replay {
        None => {
            recording.feed(&mut analyzer, metric)?;
            None
        }
        Some(plan) => {
            // The looks a live run with this duration and interval takes,
            // against the same analyser, after the same samples.
            let span = Duration::try_from_secs_f64(recording.last_elapsed_s.max(0.0))
                .unwrap_or(Duration::MAX);
            let spacing = recording.last_elapsed_s / recording.rows.saturating_sub(1).max(1) as f64;
            let interval = plan.interval.unwrap_or_else(|| {
                Duration::try_from_secs_f64(spacing.max(0.001)).unwrap_or(Duration::from_secs(1))
            });
            let mut monitor = FailFastMonitor::new(
                FailFast::DEFAULT,
                &analyzer,
                plan.duration.unwrap_or(span),
                interval,
            );
            let mut early = None;
            recording.feed_each(&mut analyzer, metric, |t, a| {
                if early.is_none() {
                    early = monitor.observe(t, a);
                }
            })?;
            Some(early)
        }
    };
    Ok(Judged {
        judgement: analyzer.judge(),
        analyzer,
        metric,
        metric_note,
        settings,
        recording,
        replayed,
    })
}

/// Reads a past window from Prometheus (`--prometheus --query --start
/// --end`) into a new run folder (`--out`, else `reports/prometheus-<UTC
/// time>`): `samples.csv`, `series.csv` and a summary naming the source,
/// which the rest of `report` then judges like any run folder.
fn fetch_window(args: &ReportArgs, url: &str, quiet: bool) -> Result<PathBuf, Failure> {
    use crate::source::{prometheus, PrometheusSpec, SourceSummary, Window};
    let usage = |e: anyhow::Error| Failure::Usage(e);
    let query = args.query.clone().unwrap_or_default();
    let now = std::time::SystemTime::now();
    let start = parse_time(args.start.as_deref().unwrap_or(""), now).map_err(usage)?;
    let end = parse_time(args.end.as_deref().unwrap_or(""), now).map_err(usage)?;
    if end <= start {
        return Err(usage(anyhow::anyhow!(
            "--end ({}) must be after --start ({})",
            rfc3339(end),
            rfc3339(start)
        )));
    }
    // Prometheus answers at most 11,000 points per series.
    let step = args
        .step
        .unwrap_or_else(|| Duration::from_secs_f64(((end - start) / 10_000.0).ceil().max(1.0)));
    if (end - start) / step.as_secs_f64() > 11_000.0 {
        return Err(usage(anyhow::anyhow!(
            "the window holds more than 11000 steps of {}: Prometheus refuses that; give a longer --step",
            humantime::format_duration(step)
        )));
    }
    let headers = args
        .prometheus_header
        .iter()
        .map(|h| match crate::source::parse_header(h) {
            Some(pair) => Ok(pair),
            None => Err(usage(anyhow::anyhow!(
                "--prometheus-header must be `Name: value` (the value is not shown here)"
            ))),
        })
        .collect::<Result<std::collections::BTreeMap<_, _>, _>>()?;
    let spec = PrometheusSpec {
        url: url.to_string(),
        query: query.clone(),
        step: Some(step),
        headers,
        restarts_fail: false,
    };
    let client = prometheus::Client::new(
        crate::source::connection(&spec).map_err(usage)?,
        Duration::from_secs(60),
    )
    .map_err(usage)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::Io(anyhow::Error::new(e).context("could not start the async runtime"))
        })?;
    let series = runtime
        .block_on(client.range(&query, start, end, step))
        .map_err(|e| {
            usage(e.context(format!(
                "could not read the window from Prometheus (query {query})"
            )))
        })?;
    if series.iter().all(|(_, v)| v.is_empty()) {
        return Err(usage(anyhow::anyhow!(
            "the query answered no series between {} and {}: check the selector and the window",
            rfc3339(start),
            rfc3339(end)
        )));
    }
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => crate::config::default_out_dir("prometheus"),
    };
    super::run_folder::prepare(
        &dir,
        crate::live::Options {
            quiet,
            status_every: super::STATUS_EVERY,
        },
    )?;
    let (events, rows) =
        prometheus::write_range(&dir, series, start, end, step).map_err(Failure::Io)?;
    tracing::info!("{rows} steps read from Prometheus into {}", dir.display());
    let mut source = SourceSummary::of_kind(crate::source::SourceKind::Prometheus);
    source.prometheus = Some(url.to_string());
    source.query = Some(query);
    source.window = Some(Window {
        start: rfc3339(start),
        end: rfc3339(end),
        step_s: step.as_secs_f64(),
    });
    source.events = events;
    let empty = Analyzer::new(Criteria {
        warmup: Duration::ZERO,
        warmup_auto: crate::config::defaults::WARMUP_AUTO,
        max_growth_bytes_per_hour: 0.0,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    })
    .judge();
    let limit = crate::config::default_limit();
    let mut first = Summary::rejudged(
        &empty,
        Judging {
            metric: Metric::Rss,
            metric_note: None,
            limit,
            warmup_auto: crate::config::defaults::WARMUP_AUTO,
            max_rss_bytes: None,
        },
        None,
        "prometheus".into(),
        Vec::new(),
        |_| 0,
    );
    first.source = Some(source);
    first.metric_note = Some(crate::source::PROMETHEUS_NOTE.into());
    first.started_at = Some(rfc3339(start));
    first.write(&dir).map_err(Failure::Io)?;
    Ok(dir)
}

fn rfc3339(unix_s: f64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs_f64(unix_s.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `now`, `now-8h`, RFC 3339 or Unix seconds, as Unix seconds.
fn parse_time(text: &str, now: std::time::SystemTime) -> anyhow::Result<f64> {
    let unix = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let text = text.trim();
    if text == "now" {
        return Ok(unix(now));
    }
    if let Some(ago) = text.strip_prefix("now-") {
        let d = crate::units::parse_positive_duration(ago)
            .map_err(|e| anyhow::anyhow!("invalid time '{text}': {e}"))?;
        return Ok(unix(now) - d.as_secs_f64());
    }
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return Ok(secs);
        }
    }
    humantime::parse_rfc3339_weak(text)
        .map(unix)
        .map_err(|_| anyhow::anyhow!("invalid time '{text}': give RFC 3339 (2026-11-28T01:00:00Z), Unix seconds, `now` or `now-8h`"))
}
