//! Writes every artifact of a run folder from its summary and CSV files:
//! `memory.png`, `memory.svg`, `report.html`, `report.md`, `junit.xml`, and
//! the Markdown appended to `$GITHUB_STEP_SUMMARY` when that is set.
//! `summary.json` is written before this runs, so a failing exporter never
//! loses the verdict; its error is returned for the caller to report.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{charts, html, junit, markdown, series, Summary};

/// Writes the artifacts into `dir`, reading the CSVs from `data_dir`.
pub fn write_all(
    dir: &Path,
    data_dir: &Path,
    samples_csv: &Path,
    s: &Summary,
) -> anyhow::Result<()> {
    let md = markdown::render(s);
    write(dir, "report.md", &md)?;
    write(dir, "junit.xml", &junit::render(s))?;
    let chart = if s.samples > 1 {
        let series = series::read(samples_csv, &data_dir.join("workload.csv"), charts::COLUMNS)?;
        charts::write(dir, s, &series)?;
        std::fs::read_to_string(dir.join("memory.svg")).ok()
    } else {
        None
    };
    write(dir, "report.html", &html::render(s, chart.as_deref()))?;
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
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
        writeln!(f, "{md}").context("could not append to GITHUB_STEP_SUMMARY")?;
    }
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("could not write '{}'", path.display()))
}
