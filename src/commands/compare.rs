//! `memsoak compare BASE NEW`: is tonight's run worse than last night's?
//!
//! Compares the growth slopes, peaks and per-message growth of two run
//! folders, draws both memory series on one chart, and says NEW is worse
//! when its slope exceeds BASE's by more than the margin (or its peak by
//! more than the peak margin, when given).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::Failure;
use crate::analysis::Metric;
use crate::config::CompareConfig;
use crate::output::{chart_data, charts, Summary};
use crate::recording::samples::Recording;
use crate::units::{format_mb, Rate};

/// The comparison, as written to `compare.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    /// Base run folder.
    pub base: String,
    /// New run folder.
    pub new: String,
    /// Base slope, bytes/hour.
    pub base_slope_bytes_per_hour: Option<f64>,
    /// New slope, bytes/hour.
    pub new_slope_bytes_per_hour: Option<f64>,
    /// New minus base slope, bytes/hour.
    pub slope_delta_bytes_per_hour: Option<f64>,
    /// New minus base peak RSS, bytes.
    pub peak_rss_delta_bytes: Option<i64>,
    /// Per workload present in both: new minus base growth per message, bytes.
    pub growth_per_message_delta_bytes: Vec<(String, f64)>,
    /// Whether NEW is worse than BASE beyond the margins.
    pub worse: bool,
    /// Why, one line each.
    pub reasons: Vec<String>,
}

/// Runs the comparison; writes `compare.json`, `compare.png` and
/// `compare.svg` into the configured folder and returns it.
pub(crate) fn compare(config: &CompareConfig) -> Result<Comparison, Failure> {
    let base = Summary::load(&config.base.join("summary.json")).map_err(Failure::Usage)?;
    let new = Summary::load(&config.new.join("summary.json")).map_err(Failure::Usage)?;
    if base.metric != new.metric {
        return Err(Failure::Usage(anyhow::anyhow!(
            "BASE was judged on {} and NEW on {}: slopes of different metrics do not compare; judge one again with `memsoak report DIR --metric {}`",
            base.metric,
            new.metric,
            base.metric
        )));
    }
    let mut c = judge(config, &base, &new);
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("could not create '{}'", config.out.display()))
        .map_err(Failure::Io)?;
    if let Err(note) = chart(config, new.metric)? {
        c.reasons.push(note);
    }
    let path = config.out.join("compare.json");
    serde_json::to_string_pretty(&c)
        .context("could not serialise the comparison")
        .and_then(|text| {
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("could not write '{}'", path.display()))
        })
        .map_err(Failure::Io)?;
    Ok(c)
}

/// NEW against BASE: the slopes, the peaks and growth per message.
fn judge(config: &CompareConfig, base: &Summary, new: &Summary) -> Comparison {
    let margin = &config.margin;
    let unit = &margin.unit;
    let slope = |s: &Summary| s.growth.as_ref().map(|g| g.slope_bytes_per_hour);
    let mut c = Comparison {
        base: config.base.display().to_string(),
        new: config.new.display().to_string(),
        base_slope_bytes_per_hour: slope(base),
        new_slope_bytes_per_hour: slope(new),
        slope_delta_bytes_per_hour: slope(new).zip(slope(base)).map(|(n, b)| n - b),
        peak_rss_delta_bytes: new
            .peak_rss_bytes
            .zip(base.peak_rss_bytes)
            .map(|(n, b)| n as i64 - b as i64),
        growth_per_message_delta_bytes: per_message_deltas(base, new),
        worse: false,
        reasons: Vec::new(),
    };
    // A NEW run that did not get a verdict is not "not worse".
    if let Some(f) = new.target.as_ref().and_then(|t| t.failure.as_ref()) {
        c.worse = true;
        c.reasons.push(format!("NEW's target failed: {f}"));
    } else if new.verdict == crate::analysis::Verdict::LoadFailure {
        c.worse = true;
        c.reasons.push(format!(
            "NEW's load failed its checks, so its memory was not judged: {}",
            crate::workload::checks::failure_reason(&new.load_checks).unwrap_or_default()
        ));
    } else if new.growth.is_none() {
        c.worse = true;
        c.reasons
            .push("NEW has no growth estimate, so it cannot be shown not worse".into());
    }
    c.reasons.extend(setting_notes(base, new));
    match c.slope_delta_bytes_per_hour {
        Some(d) if d > margin.bytes_per_hour => {
            c.worse = true;
            c.reasons.push(format!(
                "growth rose by {} ({} → {}), more than the margin of {}",
                unit.format(d),
                unit.format(c.base_slope_bytes_per_hour.unwrap_or(0.0)),
                unit.format(c.new_slope_bytes_per_hour.unwrap_or(0.0)),
                unit.format(margin.bytes_per_hour)
            ));
        }
        Some(d) => c.reasons.push(format!(
            "growth changed by {}, within the margin",
            unit.format(d)
        )),
        None => c
            .reasons
            .push("a growth estimate is missing in one of the runs".into()),
    }
    if let (Some(d), Some(m)) = (c.peak_rss_delta_bytes, config.peak_margin) {
        if d > m as i64 {
            c.worse = true;
            c.reasons.push(format!(
                "peak RSS rose by {}, more than the margin of {}",
                format_mb(d as f64),
                format_mb(m as f64)
            ));
        }
    }
    c
}

/// Notes on settings that differ between the runs.
fn setting_notes(base: &Summary, new: &Summary) -> Vec<String> {
    let mut notes = Vec::new();
    if (base.threshold_bytes_per_hour - new.threshold_bytes_per_hour).abs() > 1e-6 {
        notes.push(format!(
            "note: the runs were judged against different limits ({} and {})",
            base.threshold.spec(),
            new.threshold.spec()
        ));
    }
    // Warm-ups found in the data differ from run to run by design; only
    // fixed ones that differ are worth a note.
    if !(base.warmup_auto && new.warmup_auto) && (base.warmup_s - new.warmup_s).abs() > 1e-6 {
        notes.push(format!(
            "note: the runs were judged after different warm-ups ({:.0} s and {:.0} s)",
            base.warmup_s, new.warmup_s
        ));
    }
    notes
}

/// Per workload present in both: new minus base growth per message.
fn per_message_deltas(base: &Summary, new: &Summary) -> Vec<(String, f64)> {
    new.workloads
        .iter()
        .filter_map(|w| {
            let b = base.workloads.iter().find(|b| b.name == w.name)?;
            Some((
                w.name.clone(),
                w.growth_per_message_bytes? - b.growth_per_message_bytes?,
            ))
        })
        .collect()
}

/// Both memory series on one chart; `Ok(Err(note))` when a folder has no
/// samples (a summary written by `report --out`): it is compared on its
/// summary, only the chart needs the samples.
fn chart(config: &CompareConfig, metric: Metric) -> Result<Result<(), String>, Failure> {
    let read = |d: &Path| {
        let samples = Recording::scan(&d.join("samples.csv"))?;
        chart_data::read(&samples, Some(d), charts::COLUMNS)
    };
    match (read(&config.base), read(&config.new)) {
        (Ok(bs), Ok(ns)) => {
            charts::write_comparison(&config.out, metric, [("base", &bs), ("new", &ns)])
                .map_err(Failure::Io)?;
            Ok(Ok(()))
        }
        (Err(e), _) | (_, Err(e)) => Ok(Err(format!("note: no comparison chart: {e:#}"))),
    }
}

/// The comparison for a terminal.
pub(crate) fn render(c: &Comparison, margin: &Rate) -> String {
    let unit = &margin.unit;
    let mut s = format!(
        "memsoak compare: NEW is {} BASE\n",
        if c.worse {
            "WORSE than"
        } else {
            "not worse than"
        }
    );
    for r in &c.reasons {
        s.push_str(&format!("  {r}\n"));
    }
    if let Some(d) = c.peak_rss_delta_bytes {
        s.push_str(&format!("  peak RSS change: {}\n", format_mb(d as f64)));
    }
    for (name, d) in &c.growth_per_message_delta_bytes {
        s.push_str(&format!(
            "  growth per message ({name}): {d:+.0} bytes (bounds: if all growth came from this workload)\n"
        ));
    }
    if let (Some(b), Some(n)) = (c.base_slope_bytes_per_hour, c.new_slope_bytes_per_hour) {
        s.push_str(&format!(
            "  slopes: base {}, new {}\n",
            unit.format(b),
            unit.format(n)
        ));
    }
    s
}
