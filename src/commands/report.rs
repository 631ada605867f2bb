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

use super::{exit_code_for, write_reports, Failure};
use crate::analysis::{Analyzer, BlockStat, Criteria, Judgement, Metric};
use crate::cli::{JudgeArgs, ReportArgs};
use crate::config::{JudgeFallback, JudgeSettings};
use crate::output::{terminal, Judging, Summary};
use crate::samples::Recording;
use crate::workload::state_growth_per_unit;

/// Runs `memsoak report`; `quiet` prints the verdict line only. Returns
/// the summary written.
pub fn report_command(args: &ReportArgs, quiet: bool) -> Result<Summary, Failure> {
    let (csv_path, folder) = if args.path.is_dir() {
        (args.path.join("samples.csv"), args.path.clone())
    } else {
        let parent = args
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (args.path.clone(), parent)
    };
    let previous = Summary::read(&folder.join("summary.json"));
    let out_dir = args.out.clone().unwrap_or_else(|| folder.clone());
    let judged = judge_csv(&csv_path, &args.judge, previous.as_ref()).map_err(Failure::Usage)?;
    let warmup_s = judged.settings.warmup.as_secs_f64();
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
    let name = csv_path
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    let on_inconclusive = judged.settings.on_inconclusive;
    let summary = Summary::rejudged(
        &judged.judgement,
        Judging {
            metric: judged.metric,
            metric_note: None,
            limit: judged.settings.max_growth,
            warmup_s,
            max_rss_bytes: judged.settings.max_rss_bytes,
        },
        previous,
        name,
        workloads,
        |verdict| exit_code_for(verdict, on_inconclusive),
    );
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create '{}'", out_dir.display()))
        .map_err(Failure::Io)?;
    summary.write(&out_dir).map_err(Failure::Io)?;
    write_reports(&out_dir, &folder, &csv_path, &summary);
    print!(
        "{}",
        terminal::quiet_or_whole(&terminal::render(&summary, &out_dir), quiet)
    );
    Ok(summary)
}

/// A CSV judged as `report` judges it.
pub struct Judged {
    /// The analysis result.
    pub judgement: Judgement,
    /// The metric judged.
    pub metric: Metric,
    /// The settings judged with.
    pub settings: JudgeSettings,
}

/// Judges `csv_path` (streamed, in bounded memory) with the flags in
/// `judge`, falling back to a previous summary's settings. Writes nothing.
pub fn judge_csv(
    csv_path: &Path,
    judge: &JudgeArgs,
    previous: Option<&Summary>,
) -> anyhow::Result<Judged> {
    let recording = Recording::scan(csv_path)?;
    // Times from files may be anything (a hand-edited summary, a huge
    // elapsed_s): out-of-range values fall back rather than panic.
    let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).ok();
    let settings = JudgeSettings::resolve(
        judge,
        JudgeFallback {
            warmup: previous.and_then(|p| secs(p.warmup_s)),
            max_growth: previous.map(|p| p.threshold.clone()),
            max_rss_bytes: previous.and_then(|p| p.max_rss_bytes),
            metric: previous.map(|p| p.metric),
            on_inconclusive: None,
        },
        secs(recording.last_elapsed_s).unwrap_or(Duration::MAX),
    );
    let metric = match settings.metric {
        Some(m) if recording.metrics_with_values.contains(&m) => m,
        Some(m) => bail!(
            "'{}' has no values in column '{}': choose another --metric",
            csv_path.display(),
            m.column()
        ),
        None => recording
            .metrics_with_values
            .first()
            .copied()
            .unwrap_or(Metric::Rss),
    };
    let mut analyzer = Analyzer::new(Criteria {
        warmup: settings.warmup,
        max_growth_bytes_per_hour: settings.max_growth.bytes_per_hour,
        max_rss_bytes: settings.max_rss_bytes,
        block_stat: BlockStat::Min,
    });
    recording.feed(&mut analyzer, metric)?;
    Ok(Judged {
        judgement: analyzer.judge(),
        metric,
        settings,
    })
}
