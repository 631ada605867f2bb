//! `report.md`: a compact summary for a CI job's page. It holds no paths,
//! pids or clocks, so the same data gives the same text. The view words
//! everything and builds the tables; this file only lays them out.

use std::fmt::Write;

use super::view::{ReportView, Table, Tone};
use super::Summary;

/// Renders the Markdown report.
pub(crate) fn render(s: &Summary) -> String {
    let v = ReportView::new(s);
    let mut o = String::new();
    head(&mut o, &v);
    leaks_section(&mut o, &v);
    snapshots_section(&mut o, &v);
    if let Some(w) = &v.where_it_grows {
        let _ = writeln!(o, "\n### Where it grows\n\n**{}**\n", md(&w.headline));
        for h in &w.hints {
            let _ = writeln!(o, "- {}", md(h));
        }
        if !w.hints.is_empty() {
            let _ = writeln!(o);
        }
        table(&mut o, &w.table());
    }
    if !v.load.is_empty() {
        let _ = writeln!(o, "\n### Load\n");
        for line in &v.load_checks {
            let _ = writeln!(o, "- {}", md(line));
        }
        if !v.load_checks.is_empty() {
            let _ = writeln!(o);
        }
        table(&mut o, &v.load_brief());
        let restarts: Vec<&String> = v.load.iter().flat_map(|w| &w.restarts).collect();
        if !restarts.is_empty() {
            let _ = writeln!(o);
            for r in restarts {
                let _ = writeln!(o, "- {}", md(r));
            }
        }
    }
    o
}

/// The heading, the key figures, the reasons and the target's last lines.
fn head(o: &mut String, v: &ReportView<'_>) {
    let s = v.summary;
    let mark = match v.tone() {
        Tone::Fail => "❌",
        Tone::Pass => "✅",
        Tone::Inconclusive => "⚠️",
    };
    let _ = writeln!(
        o,
        "## {mark} memsoak: {}{} — {}\n",
        v.verdict_word,
        v.partial,
        md(&s.name)
    );
    let mut figures = vec![
        (
            "Verdict".to_string(),
            format!("**{}** (exit code {})", v.verdict_word, s.exit_code),
        ),
        (
            format!("Growth ({})", s.metric),
            md(s.growth.as_ref().map_or("no estimate", |g| &g.display)),
        ),
        ("Limit".into(), v.limit.clone()),
    ];
    if let Some(p) = &v.peak_and_ceiling {
        figures.push(("Peak RSS".into(), p.clone()));
    }
    figures.push(("Judged".into(), v.judged_window.clone()));
    if !v.growth_drivers.is_empty() {
        figures.push(("Growth by driver".into(), md(&v.growth_drivers.join("; "))));
    }
    if let Some(t) = v.target_failure() {
        figures.push(("Target".into(), md(t)));
    }
    figures.extend(
        v.source_rows()
            .into_iter()
            .map(|(label, text)| (md(&label), md(&text))),
    );
    let _ = writeln!(o, "| Figure | Value |\n|---|---|");
    for (label, value) in figures {
        let _ = writeln!(o, "| {label} | {value} |");
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
}

/// "Where it leaks": the profiler's sites.
fn leaks_section(o: &mut String, v: &ReportView<'_>) {
    let Some(w) = &v.where_it_leaks else {
        return;
    };
    let _ = writeln!(
        o,
        "\n### Where it leaks\n\n**{}**\n\nSites {}.\n",
        md(&w.headline),
        md(&w.window)
    );
    if !w.rows.is_empty() {
        table(o, &w.table());
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
    let commands = if w.commands.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = w.commands.iter().map(|c| format!("`{c}`")).collect();
        format!(" From the run folder: {}.", quoted.join(", "))
    };
    let _ = writeln!(o, "Every site, with its frames: `leaks.json`.{commands}");
}

/// "Heap snapshots": a page's detached nodes and classes that gained.
fn snapshots_section(o: &mut String, v: &ReportView<'_>) {
    let Some(h) = &v.heap_snapshots else {
        return;
    };
    let _ = writeln!(
        o,
        "\n### Heap snapshots\n\n**{}**\n\nThe page's heap, {}.\n",
        md(&h.headline),
        h.window
    );
    for t in h.tables().iter().filter(|t| !t.rows.is_empty()) {
        let _ = writeln!(o, "{}:\n", t.title);
        table(o, t);
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

/// A table: header, alignment row (numbers to the right), rows.
fn table(o: &mut String, t: &Table) {
    let header: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            if c.name.is_empty() {
                " ".into()
            } else {
                format!(" {} ", c.name)
            }
        })
        .collect();
    let align: Vec<&str> = t
        .columns
        .iter()
        .map(|c| if c.numeric { "---:" } else { "---" })
        .collect();
    let _ = writeln!(o, "|{}|", header.join("|"));
    let _ = writeln!(o, "|{}|", align.join("|"));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
}

/// Escapes text for a Markdown table cell: no cell breaks, and no raw HTML
/// (a workload or target name is not markup in a CI job's summary).
fn md(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(|c: char| c.is_control(), " ")
}
