//! The short human summary printed at the end of a run or report.

use std::fmt::Write;
use std::path::Path;

use super::Summary;
use crate::units::{format_mb, Rate};

/// Renders the summary for a terminal: verdict, slope ± CI in the limit's
/// unit, peak, target status, where the files are.
pub fn render(s: &Summary, folder: &Path) -> String {
    let unit = Rate::parse(&s.threshold)
        .map(|r| r.unit)
        .unwrap_or_default();
    let mut out = String::new();
    let verdict = s.verdict.to_string().to_uppercase();
    let partial = if s.partial {
        " (partial: interrupted)"
    } else {
        ""
    };
    let _ = match &s.growth {
        Some(g) => writeln!(
            out,
            "memsoak: {verdict}{partial}: {} grows {}, limit {}",
            s.metric,
            g.display,
            unit.format(s.threshold_bytes_per_hour)
        ),
        None => writeln!(
            out,
            "memsoak: {verdict}{partial}: no growth estimate, limit {}",
            unit.format(s.threshold_bytes_per_hour)
        ),
    };
    for r in &s.reasons {
        let _ = writeln!(out, "  {r}");
    }
    if let Some(note) = &s.metric_note {
        let _ = writeln!(out, "  note: {note}");
    }
    let _ = writeln!(
        out,
        "  judged {:.0}s after a {:.0}s warm-up: {} of {} samples{}",
        (s.duration_s - s.warmup_s).max(0.0),
        s.warmup_s,
        s.samples_judged,
        s.samples,
        s.growth
            .as_ref()
            .map_or(String::new(), |g| format!(" in {} blocks", g.blocks))
    );
    if let Some(peak) = s.peak_rss_bytes {
        let _ = writeln!(
            out,
            "  peak RSS {} at {:.0}s{}",
            format_mb(peak as f64),
            s.peak_rss_elapsed_s.unwrap_or(0.0),
            s.max_rss_bytes.map_or(String::new(), |m| format!(
                " (ceiling {})",
                format_mb(m as f64)
            ))
        );
    }
    if let Some(t) = &s.target {
        if let Some(f) = &t.failure {
            let _ = writeln!(out, "  target failure: {f}");
        }
    }
    for w in &s.workloads {
        let t = &w.totals;
        let _ = write!(
            out,
            "  load {} ({}): {} sent, {} received, {} errors, p99 {:.1} ms",
            w.name, w.kind, t.sent, t.received, t.errors, t.latency.p99_ms
        );
        if w.kind == "collab" {
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
        let per = [
            (
                "message",
                w.growth_per_message_bytes,
                w.growth_per_message_ci95_bytes,
            ),
            (
                "connection",
                w.growth_per_connection_bytes,
                w.growth_per_connection_ci95_bytes,
            ),
        ];
        for (unit, value, ci) in per {
            if let (Some(b), Some([lo, hi])) = (value, ci) {
                let _ = writeln!(
                    out,
                    "    growth per {unit}: {b:.0} bytes (95% CI {lo:.0} … {hi:.0})"
                );
            }
        }
        for h in w.health.iter().filter(|h| h.flagged) {
            let _ = writeln!(
                out,
                "    health '{}' flagged: unhealthy for {:.0}s",
                h.name, h.longest_unhealthy_s
            );
        }
    }
    if s.late_samples + s.missed_ticks + s.failed_samples > 0 {
        let _ = writeln!(
            out,
            "  sampling: {} late, {} missed ticks, {} failed readings",
            s.late_samples, s.missed_ticks, s.failed_samples
        );
    }
    let _ = writeln!(out, "  run folder: {}", folder.display());
    out
}

/// The rendered summary, or with `--quiet` its first (verdict) line only.
pub fn quiet_or_whole(rendered: &str, quiet: bool) -> String {
    match (quiet, rendered.lines().next()) {
        (true, Some(first)) => format!("{first}\n"),
        _ => rendered.to_string(),
    }
}
