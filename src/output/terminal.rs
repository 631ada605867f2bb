//! The short human summary printed at the end of a run or report.

use std::fmt::Write;
use std::path::Path;

use super::view::{LoadRow, ReportView};
use super::Summary;
use crate::analysis::attribution::TrendWord;
use crate::workload::WorkloadKind;

/// "Where it grows" rows shown at most (the moving ones; every row is in
/// report.md and report.html).
const TERMINAL_ROWS: usize = 10;

/// Series of a many-series source shown.
const TERMINAL_SERIES: usize = 10;

/// Profiler sites shown (all of `leaks.json`'s are in report.md and
/// report.html, and the file).
const TERMINAL_SITES: usize = 3;

/// Renders the summary for a terminal: verdict, slope ± CI in the limit's
/// unit, peak, target status, load, where the files are.
pub(crate) fn render(s: &Summary, folder: &Path) -> String {
    let v = ReportView::new(s);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memsoak: {}{}: {}",
        v.verdict_word, v.partial, v.headline
    );
    if let Some(g) = &v.growth_line {
        let _ = writeln!(out, "  {g}");
    }
    for r in &s.reasons {
        let _ = writeln!(out, "  {r}");
    }
    if let Some(note) = &s.metric_note {
        let _ = writeln!(out, "  note: {note}");
    }
    let blocks = s
        .growth
        .as_ref()
        .map_or(String::new(), |g| format!(" in {} blocks", g.blocks));
    let _ = writeln!(out, "  judged {}{blocks}", v.judged_window);
    if let Some(p) = &v.peak_and_ceiling {
        let _ = writeln!(out, "  peak RSS {p}");
    }
    let (mut series, others): (Vec<_>, Vec<_>) = v
        .source_rows()
        .into_iter()
        .partition(|(label, _)| label.starts_with("Series "));
    // The series that are not a pass first; a fleet of hundreds shows a
    // few (report.md and report.html list every one).
    series.sort_by_key(|(_, text)| text.to_ascii_lowercase().starts_with("pass"));
    let more = series.len().saturating_sub(TERMINAL_SERIES);
    for (mut label, text) in others
        .into_iter()
        .chain(series.into_iter().take(TERMINAL_SERIES))
    {
        // "Series x" → "series x": the name keeps its case.
        if let Some(first) = label.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        let _ = writeln!(out, "  {label}: {text}");
    }
    if more > 0 {
        let _ = writeln!(out, "  … and {more} more series (report.md lists them all)");
    }

    if !v.growth_drivers.is_empty() {
        let _ = writeln!(out, "  growth by driver (load design, joint fit):");
        for line in &v.growth_drivers {
            let _ = writeln!(out, "    {line}");
        }
    }
    for w in &v.load {
        load_line(&mut out, w);
    }
    if !v.load_checks.is_empty() {
        let _ = writeln!(out, "  load checks:");
        for line in &v.load_checks {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(w) = &v.where_it_leaks {
        let _ = writeln!(out, "  where it leaks: {}", w.headline);
        for r in w.rows.iter().skip(1).take(TERMINAL_SITES - 1) {
            let _ = writeln!(
                out,
                "    {} {} at {} ({}) in {}",
                r.bytes, r.count, r.function, r.place, r.process
            );
        }
        if !w.types.is_empty() {
            let _ = writeln!(out, "    live objects gained: {}", w.types.join(", "));
        }
    }
    if let Some(h) = &v.heap_snapshots {
        let _ = writeln!(out, "  heap snapshots ({}): {}", h.window, h.headline);
    }
    if let Some(w) = &v.where_it_grows {
        let _ = writeln!(out, "  where it grows: {}", w.headline);
        // Only what moves: the full table is in report.md and report.html.
        let moving = w
            .rows
            .iter()
            .filter(|r| matches!(r.trend, TrendWord::Growing | TrendWord::Shrinking));
        for r in moving.take(TERMINAL_ROWS) {
            let share = if r.share.is_empty() {
                String::new()
            } else {
                format!(", {} of the growth", r.share)
            };
            let _ = writeln!(
                out,
                "    {} {}: {} {} (95% CI {}){share}",
                r.kind, r.name, r.trend, r.rate, r.ci
            );
        }
        for h in &w.hints {
            let _ = writeln!(out, "    hint: {h}");
        }
    }
    if let Some(trouble) = v.sampling_trouble() {
        let _ = writeln!(out, "  sampling: {trouble}");
    }
    let _ = writeln!(out, "  run folder: {}", folder.display());
    out
}

fn load_line(out: &mut String, w: &LoadRow<'_>) {
    let t = w.totals;
    let _ = write!(
        out,
        "  load {} ({}): {} sent, {} received, {} errors, p99 {:.1} ms",
        w.name, w.kind, t.sent, t.received, t.errors, t.latency.p99_ms
    );
    if w.kind == WorkloadKind::Collab {
        let _ = write!(
            out,
            ", {} lost, {} misdelivered, {} connects",
            t.lost, t.misdelivered, t.connects
        );
    }
    if t.late_sends > 0 {
        let _ = write!(out, ", {} late sends", t.late_sends);
    }
    let _ = writeln!(out);
    // A browser workload's sends are the steps it takes.
    let per = if w.kind == WorkloadKind::Browser {
        "step"
    } else {
        "message"
    };
    for (unit, text) in [(per, &w.per_message), ("connection", &w.per_connection)] {
        if let Some(text) = text {
            let _ = writeln!(out, "    growth per {unit}: {text}");
        }
    }
    for h in w.flagged_health.iter().chain(&w.restarts) {
        let _ = writeln!(out, "    {h}");
    }
}

/// The rendered summary; with `--quiet`, its first line only: the verdict,
/// or the target failure that decides the exit code over it.
pub(crate) fn render_for(s: &Summary, folder: &Path, quiet: bool) -> String {
    quiet_or_whole(&render(s, folder), quiet)
}

/// The rendered text, or with `--quiet` its first line only.
pub(crate) fn quiet_or_whole(rendered: &str, quiet: bool) -> String {
    match (quiet, rendered.lines().next()) {
        (true, Some(first)) => format!("{first}\n"),
        _ => rendered.to_string(),
    }
}
