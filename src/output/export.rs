//! Writes every artifact of a run folder from its summary and CSV files:
//! `memory.png`, `memory.svg`, `report.html`, `report.md`, `junit.xml`, and
//! the Markdown appended to `$GITHUB_STEP_SUMMARY` when that is set.
//!
//! `summary.json` is written before this runs, so a failing exporter never
//! loses the verdict. Each exporter runs on its own and its failure is
//! collected, not propagated: a chart that cannot be drawn still leaves
//! `report.md`, `junit.xml` and a `report.html` that says why it has no
//! chart.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::html::Chart;
use super::{attribution_chart, chart_data, charts, html, junit, markdown, Summary};
use crate::recording::samples::Recording;

/// Writes the artifacts into `dir` from the scanned `samples` and the
/// other CSVs of the run folder, if there is one (`workload.csv`,
/// `breakdown.csv`, `processes.csv`); returns what failed (empty when
/// everything was written).
pub(crate) fn write_all(
    dir: &Path,
    run_folder: Option<&Path>,
    samples: anyhow::Result<&Recording>,
    s: &Summary,
) -> Vec<anyhow::Error> {
    let mut failed = Vec::new();
    let md = markdown::render(s);
    for r in [
        write(dir, "report.md", &md),
        write(dir, "junit.xml", &junit::render(s)),
        step_summary(&md),
    ] {
        if let Err(e) = r {
            failed.push(e);
        }
    }
    let chart = if s.samples > 1 {
        samples
            .and_then(|samples| chart_data::read(samples, run_folder, charts::COLUMNS))
            .and_then(|series| charts::write(dir, s, &series))
            .context("could not draw the charts")
    } else {
        Ok(charts::ChartSvg {
            wide: String::new(),
            narrow: String::new(),
        })
    };
    let where_chart = match run_folder {
        Some(folder) if s.samples > 1 => attribution_chart::write(dir, folder, s)
            .context("could not draw the attribution chart")
            .unwrap_or_else(|e| {
                failed.push(e);
                None
            }),
        _ => None,
    };
    // Links only to what is there: `--out` away from the run folder has
    // no samples.csv, a run without a chart no memory.png.
    let files: Vec<&str> = [
        "samples.csv",
        "workload.csv",
        "health.csv",
        "breakdown.csv",
        "processes.csv",
        "summary.json",
        "memory.png",
    ]
    .into_iter()
    .filter(|f| dir.join(f).is_file())
    .filter(|f| *f != "memory.png" || chart.as_ref().is_ok_and(|svg| !svg.wide.is_empty()))
    .collect();
    let where_chart = where_chart.as_deref();
    let page = match &chart {
        Ok(svg) if !svg.wide.is_empty() => html::render_page(
            s,
            Chart::Svg(&svg.wide, Some(&svg.narrow)),
            where_chart,
            &files,
        ),
        Ok(_) => html::render_page(s, Chart::Missing("too few samples"), where_chart, &files),
        Err(e) => html::render_page(
            s,
            Chart::Missing(&format!("drawing it failed ({e:#})")),
            where_chart,
            &files,
        ),
    };
    if let Err(e) = chart {
        failed.push(e);
    }
    if let Err(e) = write(dir, "report.html", &page) {
        failed.push(e);
    }
    failed
}

/// Appends the Markdown report to `$GITHUB_STEP_SUMMARY`, when set.
fn step_summary(md: &str) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| {
            format!(
                "could not open GITHUB_STEP_SUMMARY '{}'",
                Path::new(&path).display()
            )
        })?;
    writeln!(f, "{md}").context("could not append to GITHUB_STEP_SUMMARY")
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("could not write '{}'", path.display()))
}
