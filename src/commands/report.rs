//! `memsoak report PATH`: judge a run folder or any CSV again.
//!
//! Prepare: the validated configuration ([`ReportConfig`]), a Prometheus
//! window read into a run folder when asked, the run's previous
//! `summary.json`, the recording scanned, the judging flags resolved
//! (flag, then the previous summary, then the default). Measure: stream
//! the recording through the analyser. Conclude: a summary re-judged from
//! typed facts, written with the reports. Bounded memory whatever the
//! file's size ([`Recording`]).

use std::path::Path;
use std::time::Duration;

use anyhow::bail;

use super::{exit, exit_code_for, write_reports, Failure};
use crate::analysis::{Analyzer, EarlyFail, FailFast, FailFastMonitor, Judgement, Metric};
use crate::cli::{JudgeArgs, ReportArgs};
use crate::config::report::seconds;
use crate::config::{JudgeFallback, JudgeSettings, Located, ReportConfig, ReportInput};
use crate::output::{terminal, Judging, Rejudged, Summary};
use crate::recording::samples::Recording;
use crate::source::prometheus::window::{rfc3339, WindowRequest};
use crate::source::{SourceKind, SourceSummary};
use crate::units::Warmup;
use crate::workload::{state_growth_per_unit, WorkloadSummary};

/// Runs `memsoak report`; `quiet` prints the verdict line only. Returns
/// the summary written.
pub(crate) fn report_command(args: &ReportArgs, quiet: bool) -> Result<Summary, Failure> {
    let config = ReportConfig::from_args(args).map_err(|e| Failure::Usage(e.into()))?;
    let (located, window) = match &config.input {
        ReportInput::Recording(l) => (l.clone(), None),
        ReportInput::Prometheus(w) => read_window(w, config.out.as_deref(), quiet)?,
    };
    let out_dir = config.out.clone().unwrap_or(located.default_out.clone());
    let previous = match &located.run_folder {
        Some(folder) => previous_summary(folder, &out_dir)?,
        None => None,
    };
    let replay = config
        .replay_fail_fast
        .then(|| replay_plan(previous.as_ref()));
    let judged = judge_csv(&located.csv, &config.judge, previous.as_ref(), replay)
        .map_err(Failure::Usage)?;
    let mut source = window
        .as_ref()
        .map(|(s, _)| s.clone())
        .or_else(|| previous.as_ref().and_then(|p| p.source.clone()));
    let judgement = match (&mut source, &located.run_folder) {
        (Some(src), Some(folder)) => {
            src.judge(folder, &judged.analyzer, &judged.settings.max_growth)
        }
        _ => judged.judgement.clone(),
    };
    let name = match &window {
        Some(_) => "prometheus".to_string(),
        None => located
            .csv
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned()),
    };
    let summary = rejudge(
        &config,
        &located,
        judged,
        &judgement,
        Facts {
            previous,
            source,
            name,
            started_at: window.map(|(_, start)| start),
        },
    );
    write_and_print(&summary, &out_dir, &located, quiet)?;
    Ok(summary)
}

/// What the re-judged summary keeps beside the new judgement.
struct Facts {
    previous: Option<Summary>,
    source: Option<SourceSummary>,
    name: String,
    started_at: Option<String>,
}

/// The summary of a recording judged again.
fn rejudge(
    config: &ReportConfig,
    located: &Located,
    judged: Judged,
    judgement: &Judgement,
    facts: Facts,
) -> Summary {
    let Facts {
        previous,
        source,
        name,
        started_at,
    } = facts;
    let mut workloads = restated_workloads(previous.as_ref(), judgement);
    let growth_drivers = match (&located.run_folder, previous.as_ref()) {
        (Some(folder), Some(p)) => super::growth_drivers(
            folder,
            &judged.analyzer,
            p.load_design.as_ref(),
            &mut workloads,
        ),
        _ => None,
    };
    // A run that did not end well keeps its exit code unless the user
    // asks for the growth verdict alone.
    let unfinished = previous.as_ref().and_then(|p| {
        if p.target.as_ref().is_some_and(|t| t.failure.is_some()) {
            Some(exit::TARGET)
        } else if p.partial {
            Some(exit::INTERRUPTED)
        } else {
            None
        }
    });
    let (attribution, leaks) = match &located.run_folder {
        Some(folder) => folder_findings(folder, &judged, judgement, &workloads),
        None => (None, None),
    };
    let prometheus = source.as_ref().map(SourceSummary::kind) == Some(SourceKind::Prometheus);
    let judging = Judging {
        metric: judged.metric,
        metric_note: judged
            .metric_note
            .or_else(|| prometheus.then(|| crate::source::PROMETHEUS_NOTE.into())),
        limit: judged.settings.max_growth.clone(),
        warmup: judged.settings.warmup,
        max_rss_bytes: judged.settings.max_rss_bytes,
    };
    let on_inconclusive = judged.settings.on_inconclusive;
    let growth_only = config.growth_only;
    Summary::rejudged(
        judgement,
        Rejudged {
            judging,
            previous,
            name,
            workloads,
            source,
            started_at,
            attribution,
            leaks,
            replayed: judged.replayed,
            growth_drivers,
        },
        |verdict| match unfinished {
            Some(code) if !growth_only => code,
            _ => exit_code_for(verdict, on_inconclusive),
        },
    )
}

/// The run's workloads with growth per message and per connection stated
/// again for the new judgement (counts after warm-up are only known for
/// the run's own warm-up).
fn restated_workloads(previous: Option<&Summary>, judgement: &Judgement) -> Vec<WorkloadSummary> {
    let warmup_s = judgement.warmup_s;
    let judged_s = judgement.last_elapsed_s - warmup_s;
    let same_warmup = previous.is_some_and(|p| (p.warmup_s - warmup_s).abs() < 1e-6);
    previous
        .iter()
        .flat_map(|p| p.workloads.iter().cloned())
        .map(|mut w| {
            let steady = same_warmup && w.growth_per_message_bytes.is_some();
            state_growth_per_unit(&mut w, steady, judgement.growth.as_ref(), judged_s);
            w
        })
        .collect()
}

/// Where it grows and the profiler's sites, from a run folder's files.
fn folder_findings(
    folder: &Path,
    judged: &Judged,
    judgement: &Judgement,
    workloads: &[WorkloadSummary],
) -> (
    Option<crate::analysis::attribution::Attribution>,
    Option<crate::output::LeaksSummary>,
) {
    let attribution = super::attribution(
        folder,
        &judged.recording,
        &judged.settings.criteria(),
        judgement,
        judged.metric,
        &judged.settings.max_growth.unit,
        workloads,
    );
    let leaks = match crate::allocations::leaks::Leaks::read(folder) {
        Ok(l) => l.as_ref().map(crate::output::LeaksSummary::of),
        Err(e) => {
            eprintln!("memsoak: warning: no profiler sites: {e:#}");
            None
        }
    };
    (attribution, leaks)
}

/// Writes the summary and the reports into `out_dir`, and prints it.
fn write_and_print(
    summary: &Summary,
    out_dir: &Path,
    located: &Located,
    quiet: bool,
) -> Result<(), Failure> {
    use anyhow::Context;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("could not create '{}'", out_dir.display()))
        .map_err(Failure::Io)?;
    let written = summary.write(out_dir);
    if written.is_ok() {
        let recording = Recording::scan(&located.csv);
        let recording = recording.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"));
        write_reports(out_dir, located.run_folder.as_deref(), recording, summary);
    }
    let target_failed = summary.target.as_ref().is_some_and(|t| t.failure.is_some());
    super::print_summary(
        &terminal::render_for(summary, out_dir, quiet),
        summary.verdict,
        target_failed,
    );
    written.map_err(Failure::Io)
}

/// Reads a past window from Prometheus into a new run folder (`--out`,
/// else `reports/prometheus-<UTC time>`), which the rest of `report` then
/// judges like any run folder; returns it with the source's summary and
/// the window's start.
fn read_window(
    window: &WindowRequest,
    out: Option<&Path>,
    quiet: bool,
) -> Result<(Located, Option<(SourceSummary, String)>), Failure> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => crate::config::default_out_dir("prometheus"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::Io(anyhow::Error::new(e).context("could not start the async runtime"))
        })?;
    // The window is asked for before the folder is made: a query that
    // answers nothing leaves no folder behind.
    let fetched = runtime.block_on(window.fetch()).map_err(Failure::Usage)?;
    super::run_folder::prepare(
        &dir,
        crate::live::Options {
            quiet,
            status_every: super::STATUS_EVERY,
        },
    )?;
    let source = fetched.write_into(&dir).map_err(Failure::Io)?;
    Ok((
        Located {
            csv: dir.join("samples.csv"),
            run_folder: Some(dir.clone()),
            default_out: dir,
        },
        Some((source, rfc3339(window.start))),
    ))
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
    ReplayPlan {
        duration: previous
            .and_then(|p| p.planned_duration_s)
            .and_then(seconds),
        interval: previous.and_then(|p| p.interval_s).and_then(seconds),
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

impl Judged {
    /// The criteria the recording was judged by.
    pub fn criteria(&self) -> crate::analysis::Criteria {
        self.settings.criteria()
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
    let settings = JudgeSettings::resolve(
        judge,
        JudgeFallback {
            warmup: previous.and_then(|p| {
                if p.warmup_auto {
                    Some(Warmup::Auto)
                } else {
                    seconds(p.warmup_s).map(Warmup::Fixed)
                }
            }),
            max_growth: previous.map(|p| p.threshold.clone()),
            max_rss_bytes: previous.and_then(|p| p.max_rss_bytes),
            metric: previous.map(|p| p.metric),
            on_inconclusive: None,
        },
        seconds(recording.last_elapsed_s).unwrap_or(Duration::MAX),
    );
    let (metric, metric_note) = choose_metric(
        &recording,
        csv_path,
        judge.metric.map(Metric::from),
        settings.metric,
    )?;
    let mut analyzer = Analyzer::new(settings.criteria());
    if let Some(held) = previous.and_then(|p| p.warmup_held_until_s) {
        analyzer.hold_until(held);
    }
    let replayed = match replay {
        None => {
            recording.feed(&mut analyzer, metric)?;
            None
        }
        Some(plan) => Some(replay_looks(&recording, &mut analyzer, metric, plan)?),
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

/// The metric to judge in `recording`: the one asked for (a flag, else
/// the run's own), with a note when the run's own has no values.
fn choose_metric(
    recording: &Recording,
    csv_path: &Path,
    flag: Option<Metric>,
    asked: Option<Metric>,
) -> anyhow::Result<(Metric, Option<String>)> {
    let has = |m: Metric| recording.metrics_with_values.contains(&m);
    let best = recording
        .metrics_with_values
        .first()
        .copied()
        .unwrap_or(Metric::Rss);
    Ok(match (flag, asked) {
        (_, Some(m)) if has(m) => (m, None),
        // `rss` where a source's footprint has its own column (a cgroup's
        // charge, a query's sum: what `rss_bytes` held before they had).
        (_, Some(Metric::Rss)) if has(Metric::Query) || has(Metric::Usage) => {
            let own = if has(Metric::Query) {
                Metric::Query
            } else {
                Metric::Usage
            };
            (
                own,
                Some(format!(
                    "rss is this source's {own} (the {} column): judged {own}",
                    own.column()
                )),
            )
        }
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
    })
}

/// Feeds the recording through the looks a live run with the plan's
/// duration and interval takes, against the same analyser, after the same
/// samples; the look that would have stopped it.
fn replay_looks(
    recording: &Recording,
    analyzer: &mut Analyzer,
    metric: Metric,
    plan: ReplayPlan,
) -> anyhow::Result<Option<EarlyFail>> {
    let span = seconds(recording.last_elapsed_s).unwrap_or(Duration::MAX);
    let spacing = recording.last_elapsed_s / recording.rows.saturating_sub(1).max(1) as f64;
    let interval = plan
        .interval
        .unwrap_or_else(|| seconds(spacing.max(0.001)).unwrap_or(Duration::from_secs(1)));
    let mut monitor = FailFastMonitor::new(
        FailFast::DEFAULT,
        analyzer,
        plan.duration.unwrap_or(span),
        interval,
    );
    let mut early = None;
    recording.feed_each(analyzer, metric, |t, a| {
        if early.is_none() {
            early = monitor.observe(t, a);
        }
    })?;
    Ok(early)
}
