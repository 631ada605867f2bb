//! `memsoak report PATH`: judge a run folder or any CSV again.
//!
//! The CSV is streamed twice (once to learn its length and columns, once to
//! judge), so a file of any size is re-analysed in bounded memory. Only the
//! columns `elapsed_s` and `rss_bytes` are required; recordings made by other
//! tools can be judged by renaming two columns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::terminal;
use super::Summary;
use crate::analysis::Judgement;
use crate::analysis::{default_warmup, Analyzer, BlockStat, Criteria, Metric};
use crate::cli::{JudgeArgs, ReportArgs};
use crate::config::defaults;
use crate::units::Rate;

/// What `report` decided, for the exit code.
pub struct ReportOutcome {
    /// The summary written.
    pub summary: Summary,
    /// Where it was written.
    pub summary_path: PathBuf,
}

struct Columns {
    elapsed: usize,
    rss: usize,
    metrics: Vec<(Metric, usize)>,
}

struct Scan {
    rows: u64,
    last_elapsed: f64,
    metrics_with_values: Vec<Metric>,
}

/// Runs `memsoak report`; `quiet` prints the verdict line only.
pub fn report_command(args: &ReportArgs, quiet: bool) -> anyhow::Result<ReportOutcome> {
    let (csv_path, folder) = if args.path.is_dir() {
        (args.path.join("samples.csv"), args.path.clone())
    } else {
        let parent = args
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (args.path.clone(), parent)
    };
    if !csv_path.exists() {
        bail!("no such file: '{}'", csv_path.display());
    }
    let previous = Summary::read(&folder.join("summary.json"));
    let out_dir = args.out.clone().unwrap_or_else(|| folder.clone());
    let Judged {
        judgement,
        metric,
        warmup,
        limit,
        max_rss,
    } = judge_csv(&csv_path, &args.judge, previous.as_ref())?;

    let mut summary = Summary::from_judgement(&judgement, &limit);
    if let Some(p) = &previous {
        summary.name = p.name.clone();
        summary.target = p.target.clone();
        summary.started_at = p.started_at.clone();
        summary.profile = p.profile.clone();
        summary.planned_duration_s = p.planned_duration_s;
        summary.interval_s = p.interval_s;
        summary.late_samples = p.late_samples;
        summary.missed_ticks = p.missed_ticks;
        summary.failed_samples = p.failed_samples;
        summary.partial = p.partial;
        summary.unavailable_columns = p.unavailable_columns.clone();
        summary.workloads = p.workloads.clone();
        summary.processes = p.processes.clone();
        summary.environment = p.environment.clone();
        // Counts after warm-up are only known for the run's own warm-up.
        let same_warmup = (p.warmup_s - warmup.as_secs_f64()).abs() < 1e-6;
        let steady = |w: &crate::workload::WorkloadSummary| {
            same_warmup && w.growth_per_message_bytes.is_some()
        };
        crate::workload::state_growth_per_unit(
            &mut summary.workloads,
            steady,
            judgement.growth.as_ref(),
            judgement.last_elapsed_s - warmup.as_secs_f64(),
        );
    } else {
        summary.name = csv_path
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    }
    summary.metric = metric;
    summary.warmup_s = warmup.as_secs_f64();
    summary.max_rss_bytes = max_rss;
    summary.exit_code = crate::exit_code_for(
        summary.verdict,
        args.judge.on_inconclusive.unwrap_or_default(),
    );
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create '{}'", out_dir.display()))?;
    summary.write(&out_dir)?;
    if let Err(e) = super::export::write_all(&out_dir, &folder, &csv_path, &summary) {
        eprintln!(
            "memsoak: warning: the verdict is in summary.json, but the reports failed: {e:#}"
        );
    }
    print!(
        "{}",
        terminal::quiet_or_whole(&terminal::render(&summary, &out_dir), quiet)
    );
    Ok(ReportOutcome {
        summary,
        summary_path: out_dir.join("summary.json"),
    })
}

/// A CSV judged as `report` judges it.
pub struct Judged {
    /// The analysis result.
    pub judgement: Judgement,
    /// The metric judged.
    pub metric: Metric,
    /// The warm-up used.
    pub warmup: Duration,
    /// The growth limit.
    pub limit: Rate,
    /// The RSS ceiling.
    pub max_rss: Option<u64>,
}

/// Judges `csv_path` (streamed twice, in bounded memory) with the flags in
/// `judge`, falling back to a previous summary's settings. Writes nothing.
pub fn judge_csv(
    csv_path: &Path,
    judge: &JudgeArgs,
    previous: Option<&Summary>,
) -> anyhow::Result<Judged> {
    let (columns, scan) = scan(csv_path)?;
    let limit = match (&judge.max_growth, &previous) {
        (Some(r), _) => r.clone(),
        (None, Some(p)) => Rate::parse(&p.threshold).map_err(anyhow::Error::msg)?,
        (None, None) => Rate::parse(defaults::MAX_GROWTH).map_err(anyhow::Error::msg)?,
    };
    // Times from files may be anything (a hand-edited summary, a huge
    // elapsed_s): out-of-range values fall back rather than panic.
    let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).ok();
    let warmup = judge
        .warmup
        .or(previous.and_then(|p| secs(p.warmup_s)))
        .unwrap_or_else(|| default_warmup(secs(scan.last_elapsed).unwrap_or(Duration::MAX)));
    let asked = judge.metric.or(previous.map(|p| p.metric));
    let metric = match asked {
        Some(m) if scan.metrics_with_values.contains(&m) => m,
        Some(m) => bail!(
            "'{}' has no values in column '{}': choose another --metric",
            csv_path.display(),
            m.column()
        ),
        None => Metric::PREFERENCE
            .into_iter()
            .find(|m| scan.metrics_with_values.contains(m))
            .unwrap_or(Metric::Rss),
    };
    let max_rss = judge.max_rss.or(previous.and_then(|p| p.max_rss_bytes));

    let mut analyzer = Analyzer::new(Criteria {
        warmup,
        max_growth_bytes_per_hour: limit.bytes_per_hour,
        max_rss_bytes: max_rss,
        block_stat: BlockStat::Min,
    });
    let metric_col = columns
        .metrics
        .iter()
        .find(|(m, _)| *m == metric)
        .map(|(_, i)| *i);
    for_each_row(csv_path, |line, record| {
        let elapsed = number(record, columns.elapsed, "elapsed_s", line, csv_path)?;
        let rss = number(record, columns.rss, "rss_bytes", line, csv_path)?;
        let value = match metric_col {
            Some(i) => number(record, i, metric.column(), line, csv_path)?,
            None => rss,
        };
        if let Some(t) = elapsed {
            analyzer.observe(t, value, rss.map(|r| r as u64));
        }
        Ok(())
    })?;

    Ok(Judged {
        judgement: analyzer.judge(),
        metric,
        warmup,
        limit,
        max_rss,
    })
}

fn reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("could not read '{}'", path.display()))
}

fn scan(path: &Path) -> anyhow::Result<(Columns, Scan)> {
    let mut rdr = reader(path)?;
    let headers = rdr
        .headers()
        .with_context(|| format!("could not read the header of '{}'", path.display()))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let need = |name: &str| {
        find(name).with_context(|| {
            format!(
                "'{}' has no column '{name}' (it has: {}); memsoak needs elapsed_s and rss_bytes",
                path.display(),
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let columns = Columns {
        elapsed: need("elapsed_s")?,
        rss: need("rss_bytes")?,
        metrics: Metric::PREFERENCE
            .into_iter()
            .filter_map(|m| find(m.column()).map(|i| (m, i)))
            .collect(),
    };
    let mut scan = Scan {
        rows: 0,
        last_elapsed: 0.0,
        metrics_with_values: Vec::new(),
    };
    for_each_row(path, |line, record| {
        scan.rows += 1;
        if let Some(t) = number(record, columns.elapsed, "elapsed_s", line, path)? {
            scan.last_elapsed = t;
        }
        for (m, i) in &columns.metrics {
            if !scan.metrics_with_values.contains(m)
                && number(record, *i, m.column(), line, path)?.is_some()
            {
                scan.metrics_with_values.push(*m);
            }
        }
        Ok(())
    })?;
    if scan.rows == 0 {
        bail!("'{}' has a header but no samples", path.display());
    }
    Ok((columns, scan))
}

/// Calls `f(line, record)` for every data row. A short last row (a run
/// killed mid-write) is skipped; a short row elsewhere is an error.
fn for_each_row(
    path: &Path,
    mut f: impl FnMut(u64, &csv::StringRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut rdr = reader(path)?;
    let width = rdr.headers()?.len();
    let mut record = csv::StringRecord::new();
    let mut pending_short: Option<u64> = None;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if let Some(l) = pending_short {
                    bail!(
                        "{}:{l}: row has fewer columns than the header",
                        path.display()
                    );
                }
                if record.len() < width {
                    pending_short = Some(line);
                    continue;
                }
                f(line, &record)?;
            }
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
    Ok(())
}

/// The number in column `i`, `None` when the cell is empty.
fn number(
    record: &csv::StringRecord,
    i: usize,
    name: &str,
    line: u64,
    path: &Path,
) -> anyhow::Result<Option<f64>> {
    match record.get(i).unwrap_or("") {
        "" => Ok(None),
        cell => cell
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .with_context(|| {
                format!(
                    "{}:{line}: column '{name}': '{cell}' is not a number",
                    path.display()
                )
            }),
    }
}
