//! `report.md`: a compact summary for a CI job's page. It holds no paths,
//! pids or clocks, so the same data gives the same text.

use std::fmt::Write;

use super::Summary;
use crate::units::{format_mb, Rate};

/// Renders the Markdown report.
pub fn render(s: &Summary) -> String {
    let unit = Rate::parse(&s.threshold)
        .map(|r| r.unit)
        .unwrap_or_default();
    let mut o = String::new();
    let verdict = s.verdict.to_string().to_uppercase();
    let partial = if s.partial {
        " (partial: interrupted)"
    } else {
        ""
    };
    let _ = writeln!(o, "## memsoak: {verdict}{partial} — {}\n", md(&s.name));
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Verdict | **{verdict}** (exit code {}) |", s.exit_code);
    match &s.growth {
        Some(g) => {
            let _ = writeln!(o, "| Growth ({}) | {} |", s.metric, md(&g.display));
        }
        None => {
            let _ = writeln!(o, "| Growth ({}) | no estimate |", s.metric);
        }
    }
    let _ = writeln!(o, "| Limit | {} |", unit.format(s.threshold_bytes_per_hour));
    if let Some(peak) = s.peak_rss_bytes {
        let ceiling = s.max_rss_bytes.map_or(String::new(), |c| {
            format!(" (ceiling {})", format_mb(c as f64))
        });
        let _ = writeln!(
            o,
            "| Peak RSS | {} at {:.0} s{ceiling} |",
            format_mb(peak as f64),
            s.peak_rss_elapsed_s.unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        o,
        "| Judged | {:.0} s after a {:.0} s warm-up: {} of {} samples |",
        (s.duration_s - s.warmup_s).max(0.0),
        s.warmup_s,
        s.samples_judged,
        s.samples
    );
    if let Some(t) = s.target.as_ref().and_then(|t| t.failure.as_ref()) {
        let _ = writeln!(o, "| Target | {} |", md(t));
    }
    if !s.reasons.is_empty() {
        let _ = writeln!(o);
        for r in &s.reasons {
            let _ = writeln!(o, "- {}", md(r));
        }
    }
    if !s.workloads.is_empty() {
        let _ = writeln!(o, "\n### Load\n");
        let _ = writeln!(
            o,
            "| workload | kind | sent | received | errors | p99 ms | lost | growth per message |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
        for w in &s.workloads {
            let t = &w.totals;
            let per = w
                .growth_per_message_bytes
                .map_or("–".to_string(), |b| format!("{b:.0} B"));
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {:.1} | {} | {per} |",
                md(&w.name),
                w.kind,
                t.sent,
                t.received,
                t.errors,
                t.latency.p99_ms,
                t.lost
            );
        }
    }
    o
}

/// Escapes text for a Markdown table cell.
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
