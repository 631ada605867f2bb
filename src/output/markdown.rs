//! `report.md`: a compact summary for a CI job's page. It holds no paths,
//! pids or clocks, so the same data gives the same text.

use std::fmt::Write;

use super::view::ReportView;
use super::Summary;
use crate::analysis::Verdict;
use crate::workload::WorkloadKind;

/// Renders the Markdown report.
pub(crate) fn render(s: &Summary) -> String {
    let v = ReportView::new(s);
    let mut o = String::new();
    let mark = match (v.growth_line.is_some(), s.verdict) {
        (true, _) | (false, Verdict::Fail) => "❌",
        (false, Verdict::Pass) => "✅",
        (false, Verdict::Inconclusive) => "⚠️",
    };
    let _ = writeln!(
        o,
        "## {mark} memsoak: {}{} — {}\n",
        v.verdict_word,
        v.partial,
        md(&s.name)
    );
    let _ = writeln!(o, "| Figure | Value |\n|---|---|");
    let _ = writeln!(
        o,
        "| Verdict | **{}** (exit code {}) |",
        v.verdict_word, s.exit_code
    );
    let growth = s.growth.as_ref().map_or("no estimate", |g| &g.display);
    let _ = writeln!(o, "| Growth ({}) | {} |", s.metric, md(growth));
    let _ = writeln!(o, "| Limit | {} |", v.limit);
    if let Some(p) = &v.peak_and_ceiling {
        let _ = writeln!(o, "| Peak RSS | {p} |");
    }
    let _ = writeln!(o, "| Judged | {} |", v.judged_window);
    if let Some(t) = v.target_failure() {
        let _ = writeln!(o, "| Target | {} |", md(t));
    }
    for (label, text) in v.source_rows() {
        let _ = writeln!(o, "| {} | {} |", md(&label), md(&text));
    }
    if !s.reasons.is_empty() {
        let _ = writeln!(o);
        for r in &s.reasons {
            let _ = writeln!(o, "- {}", md(r));
        }
    }
    if let Some(t) = s.target.as_ref().filter(|t| !t.stderr_tail.is_empty()) {
        let _ = writeln!(o, "\nThe target's last lines on stderr:\n\n```");
        for l in &t.stderr_tail {
            let _ = writeln!(o, "{}", l.replace("```", "'''"));
        }
        let _ = writeln!(o, "```");
    }
    let _ = writeln!(
        o,
        "\nCharts, the load per interval and every sample: `report.html`, `workload.csv` and `samples.csv` in the run folder."
    );
    if let Some(w) = &v.where_it_leaks {
        let _ = writeln!(
            o,
            "\n### Where it leaks\n\n**{}**\n\nSites {}.\n",
            md(&w.headline),
            md(&w.window)
        );
        if !w.rows.is_empty() {
            let _ = writeln!(
                o,
                "| function | file:line | grown | allocations | process |"
            );
            let _ = writeln!(o, "|---|---|---:|---:|---|");
            for r in &w.rows {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    md(&r.function),
                    md(&r.place),
                    r.bytes,
                    r.count,
                    md(&r.process)
                );
            }
            let _ = writeln!(o);
        }
        if !w.types.is_empty() {
            let _ = writeln!(
                o,
                "Live objects gained, by type: {}\n",
                md(&w.types.join(", "))
            );
        }
        for n in &w.notes {
            let _ = writeln!(o, "- note: {}", md(n));
        }
        let _ = writeln!(
            o,
            "Every site, with its frames: `leaks.json`.{}",
            if w.commands.is_empty() {
                String::new()
            } else {
                format!(
                    " From the run folder: {}.",
                    w.commands
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    if let Some(h) = &v.heap_snapshots {
        let _ = writeln!(
            o,
            "\n### Heap snapshots\n\n**{}**\n\nThe page's heap, {}.\n",
            md(&h.headline),
            h.window
        );
        for (title, rows) in [
            ("Detached DOM nodes gained", &h.detached),
            ("Objects gained, by class", &h.constructors),
        ] {
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "{title}:\n\n| class | gained | at the end | own size gained |"
            );
            let _ = writeln!(o, "|---|---:|---:|---:|");
            for r in rows {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} |",
                    md(&r.name),
                    r.gained,
                    r.at_end,
                    r.size
                );
            }
            let _ = writeln!(o);
        }
        let files: Vec<String> = h.files.iter().map(|(f, _)| format!("`{f}`")).collect();
        if !files.is_empty() {
            let _ = writeln!(
                o,
                "Open {} in DevTools (Memory → Load) for the retainers.",
                files.join(" and ")
            );
        }
    }
    if let Some(w) = &v.where_it_grows {
        let _ = writeln!(o, "\n### Where it grows\n\n**{}**\n", md(&w.headline));
        for h in &w.hints {
            let _ = writeln!(o, "- {}", md(h));
        }
        if !w.hints.is_empty() {
            let _ = writeln!(o);
        }
        let _ = writeln!(o, "| | name | trend | per hour | 95% CI | share |");
        let _ = writeln!(o, "|---|---|---|---:|---:|---:|");
        for r in &w.rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                r.kind,
                md(&r.name),
                r.trend,
                md(&r.rate),
                md(&r.ci),
                r.share
            );
        }
    }
    if !v.load.is_empty() {
        let _ = writeln!(o, "\n### Load\n");
        let _ = writeln!(
            o,
            "| workload | kind | sent | received | errors | p99 ms | lost | growth per message |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
        for w in &v.load {
            let t = w.totals;
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {:.1} | {} | {} |",
                md(w.name),
                w.kind,
                t.sent,
                t.received,
                t.errors,
                t.latency.p99_ms,
                // Loss is counted for broadcast deliveries only.
                if w.kind == WorkloadKind::Collab {
                    t.lost.to_string()
                } else {
                    "–".into()
                },
                w.per_message_short.as_deref().unwrap_or("–")
            );
        }
    }
    o
}

/// Escapes text for a Markdown table cell.
/// Escapes text for a Markdown table cell: no cell breaks, and no raw HTML
/// (a workload or target name is not markup in a CI job's summary).
fn md(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(|c: char| c.is_control(), " ")
}
