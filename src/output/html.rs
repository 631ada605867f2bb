//! `report.html`: one self-contained page (inline SVG chart, inline CSS, no
//! network access) that a person reads the morning after a nightly run.
//! Every string that came from a profile, a target or a server is escaped.

use std::fmt::Write;

use super::view::{ReportView, Table, Tone};
use super::Summary;
use crate::units::format_elapsed;

/// Escapes text for HTML and XML content and attributes. Written by hand:
/// five characters, no crate needed.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no place in XML 1.0, not even as
            // character references: a visible stand-in keeps the file valid.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The page's style. On a phone the charts keep a width at which their text
/// reads (about 11 px) and scroll sideways inside their frame; the page
/// itself never does.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;padding:0 1rem;max-width:1250px;color:#222}\
.banner{padding:1rem 1.5rem;border-radius:8px;color:#fff;font-size:1.4rem;overflow-wrap:anywhere}\
.pass{background:#2c7a3f}.fail{background:#b3261e}.inconclusive{background:#8a6d00}\
.checks{list-style:none;padding:0}.checks li{padding:.15rem 0;overflow-wrap:anywhere}\
.checks .ok{color:#2c7a3f}.checks .bad{color:#b3261e;font-weight:bold}\
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:1rem 0}\
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}\
.kv td{overflow-wrap:anywhere}.grid td,.grid th{white-space:nowrap}\
th{background:#f3f3f3}td.n{text-align:right}pre{overflow-x:auto}\
.chart{margin:1rem 0;overflow-x:auto}.chart svg{max-width:100%;height:auto}\
.chart .narrow{display:none}\
@media (max-width:700px){.chart .wide{display:none}.chart .narrow{display:block}\
.chart .only svg{max-width:none;width:960px}}";

/// The chart part of the page: the SVG to inline, or why there is none.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Chart<'a> {
    /// The memory chart, as SVG text: wide, and narrow for phones when
    /// drawn.
    Svg(&'a str, Option<&'a str>),
    /// No chart, and why (too few samples, or drawing failed).
    Missing(&'a str),
}

/// Renders the page; `files` are the data files beside it, to link to
/// (only files that exist are linked).
#[cfg(test)]
pub(crate) fn render(s: &Summary, chart: Chart<'_>, files: &[&str]) -> String {
    render_page(s, chart, None, files)
}

/// The page with the attribution chart (`where_chart`, SVG text) in its
/// "Where it grows" section.
pub(crate) fn render_page(
    s: &Summary,
    chart: Chart<'_>,
    where_chart: Option<&str>,
    files: &[&str],
) -> String {
    let v = ReportView::new(s);
    let mut o = String::new();
    head(&mut o, &v);
    table(&mut o, "Key numbers", &v.key_numbers());
    // A failed check decides the result: it is read first.
    let load_failed = s.load_checks.iter().any(|c| !c.passed);
    if load_failed {
        load_checks_section(&mut o, s);
    }
    leaks_section(&mut o, &v);
    snapshots_section(&mut o, &v);
    o.push_str("<h2>Memory over time</h2>");
    match chart {
        Chart::Svg(svg, narrow) => {
            // Phones get the narrow drawing (legible when scaled to the
            // screen); without one, the wide one scrolls.
            let inner = match narrow {
                Some(n) => format!(
                    "<div class=\"wide\">{}</div><div class=\"narrow\">{}</div>",
                    strip_xml_declaration(svg),
                    strip_xml_declaration(n)
                ),
                None => format!("<div class=\"only\">{}</div>", strip_xml_declaration(svg)),
            };
            let _ = write!(
                o,
                "<figure class=\"chart\" role=\"img\" aria-label=\"{}\">{inner}</figure>",
                escape(&format!(
                    "Memory over time: {} — {}",
                    v.verdict_word, v.headline
                )),
            );
        }
        Chart::Missing(why) => {
            let _ = write!(o, "<p>No chart: {}.</p>", escape(why));
        }
    }
    where_section(&mut o, &v, where_chart);
    if !load_failed {
        load_checks_section(&mut o, s);
    }
    grid(&mut o, &v.load_table());
    restarts_section(&mut o, &v);
    grid(&mut o, &v.processes_table());
    table(&mut o, "Run", &run_rows(s));
    if !files.is_empty() {
        let links: Vec<String> = files
            .iter()
            .map(|f| format!("<a href=\"{0}\">{0}</a>", escape(f)))
            .collect();
        let _ = writeln!(o, "<p>Data: {}.</p>", links.join(", "));
    }
    o.push_str("</body></html>\n");
    o
}

/// Items drawn in a restarts timeline (every one is in `summary.json`).
const TIMELINE_ITEMS: usize = 20;

/// The restarts health steps counted: the line, and a timeline of when
/// each item restarted over the run.
fn restarts_section(o: &mut String, v: &ReportView<'_>) {
    let s = v.summary;
    let steps: Vec<_> = s
        .workloads
        .iter()
        .flat_map(|w| &w.health)
        .filter(|h| h.restarts_path.is_some())
        .collect();
    if steps.is_empty() {
        return;
    }
    o.push_str("<h2>Restarts</h2>");
    for line in v.load.iter().flat_map(|w| &w.restarts) {
        let _ = write!(o, "<p>{}</p>", escape(line));
    }
    let end = s.duration_s.max(1.0);
    for h in steps {
        let mut items: Vec<(&String, &u64)> = h.restarts.iter().collect();
        items.sort_by_key(|(name, n)| (std::cmp::Reverse(**n), (*name).clone()));
        items.truncate(TIMELINE_ITEMS);
        if items.is_empty() {
            continue;
        }
        let (left, width, row) = (140.0, 960.0, 22.0);
        let height = row * items.len() as f64 + 24.0;
        let x = |t: f64| left + (width - left - 10.0) * (t / end).clamp(0.0, 1.0);
        let _ = write!(
            o,
            "<figure class=\"chart\" role=\"img\" aria-label=\"{}\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">",
            escape(&format!("When each item of '{}' restarted, over the run", h.name))
        );
        for (i, (item, n)) in items.iter().enumerate() {
            let y = row * i as f64 + row / 2.0;
            let _ = write!(
                o,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ({n})</text><line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ccc\"/>",
                left - 6.0,
                y + 4.0,
                escape(item),
                x(end)
            );
            for t in h.restart_times_s.get(*item).into_iter().flatten() {
                let _ = write!(
                    o,
                    "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#b3261e\"><title>{}</title></circle>",
                    x(*t),
                    escape(&format!("{item} restarted by {}", format_elapsed(*t)))
                );
            }
        }
        let axis = height - 6.0;
        let _ = write!(
            o,
            "<text x=\"{left}\" y=\"{axis}\">0s</text><text x=\"{:.1}\" y=\"{axis}\" text-anchor=\"end\">{}</text></svg></figure>",
            x(end),
            escape(&format_elapsed(end))
        );
    }
}

/// The load checks, one ✓/✗ line each, like k6's thresholds.
fn load_checks_section(o: &mut String, s: &Summary) {
    if s.load_checks.is_empty() {
        return;
    }
    o.push_str("<h2>Load checks</h2><ul class=\"checks\">");
    for c in &s.load_checks {
        let _ = write!(
            o,
            "<li class=\"{}\">{}</li>",
            if c.passed { "ok" } else { "bad" },
            escape(&c.line())
        );
    }
    o.push_str("</ul>\n");
}

/// The document head, the verdict banner and the reasons.
fn head(o: &mut String, v: &ReportView<'_>) {
    let s = v.summary;
    let class = match v.tone() {
        Tone::Pass => "pass",
        Tone::Fail => "fail",
        Tone::Inconclusive => "inconclusive",
    };
    let name = escape(&s.name);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>memsoak: {} — {name}</title><style>{STYLE}</style></head><body>\n",
        s.verdict
    );
    let _ = writeln!(
        o,
        "<div class=\"banner {class}\"><b>{}</b>{} — {name}: {}</div>",
        v.verdict_word,
        v.partial,
        escape(&v.headline)
    );
    if let Some(g) = &v.growth_line {
        let _ = writeln!(o, "<p><b>{}</b></p>", escape(g));
    }
    if let Some(t) = s.target.as_ref().filter(|t| !t.stderr_tail.is_empty()) {
        let _ = writeln!(
            o,
            "<p>The target's last lines on stderr (target.stderr.log):</p><pre>{}</pre>",
            escape(&t.stderr_tail.join("\n"))
        );
    }
    if !s.reasons.is_empty() {
        o.push_str("<ul>");
        for r in &s.reasons {
            let _ = write!(o, "<li>{}</li>", escape(r));
        }
        o.push_str("</ul>\n");
    }
}

/// A titled two-column table of label and text, both escaped; nothing
/// when there are no rows.
fn table(o: &mut String, title: &str, rows: &[(String, String)]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<h2>{title}</h2><div class=\"scroll\"><table class=\"kv\">"
    );
    for (k, v) in rows {
        let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    o.push_str("</table></div>\n");
}

/// A table with a header row under its title; cells are escaped, and
/// right-aligned when numeric; nothing when there are no rows.
fn grid(o: &mut String, t: &Table) {
    if t.rows.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<h2>{}</h2><div class=\"scroll\"><table class=\"grid\"><tr>",
        t.title
    );
    for c in &t.columns {
        let _ = write!(o, "<th>{}</th>", c.name);
    }
    o.push_str("</tr>");
    for row in &t.rows {
        o.push_str("<tr>");
        for (cell, c) in row.iter().zip(&t.columns) {
            let class = if c.numeric { " class=n" } else { "" };
            let _ = write!(o, "<td{class}>{}</td>", escape(cell));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table></div>\n");
}

/// "Where it leaks": the profiler's top sites, next to the verdict.
fn leaks_section(o: &mut String, v: &ReportView<'_>) {
    let Some(w) = &v.where_it_leaks else {
        return;
    };
    let _ = write!(
        o,
        "<h2>Where it leaks</h2><p><b>{}</b></p><p>Sites {}.</p>",
        escape(&w.headline),
        escape(&w.window)
    );
    grid(o, &w.table());
    if !w.types.is_empty() {
        let _ = write!(
            o,
            "<p>Live objects gained, by type: {}</p>",
            escape(&w.types.join(", "))
        );
    }
    if !w.notes.is_empty() {
        o.push_str("<ul>");
        for n in &w.notes {
            let _ = write!(o, "<li>{}</li>", escape(n));
        }
        o.push_str("</ul>");
    }
    let _ = write!(
        o,
        "<p>Every site, with its frames: <a href=\"leaks.json\">leaks.json</a>."
    );
    if !w.commands.is_empty() {
        let cmds: Vec<String> = w
            .commands
            .iter()
            .map(|c| format!("<code>{}</code>", escape(c)))
            .collect();
        let _ = write!(o, " From the run folder: {}.", cmds.join(", "));
    }
    o.push_str("</p>");
}

/// "Heap snapshots": a page's detached DOM nodes and the classes that
/// gained objects between its two snapshots, next to the verdict.
fn snapshots_section(o: &mut String, v: &ReportView<'_>) {
    let Some(h) = &v.heap_snapshots else {
        return;
    };
    let _ = write!(
        o,
        "<h2>Heap snapshots</h2><p><b>{}</b></p><p>The page's heap, {}.</p>",
        escape(&h.headline),
        escape(&h.window)
    );
    for t in &h.tables() {
        grid(o, t);
    }
    if !h.files.is_empty() {
        let links: Vec<String> = h
            .files
            .iter()
            .map(|(f, size)| format!("<a href=\"{0}\">{0}</a> ({1})", escape(f), escape(size)))
            .collect();
        let _ = write!(
            o,
            "<p>Open {} in DevTools (Memory → Load) for the retainers.</p>",
            links.join(" and ")
        );
    }
}

/// "Where it grows": the headline, the hints, the stacked classes and
/// per-process chart, and the table of every judged series.
fn where_section(o: &mut String, v: &ReportView<'_>, chart: Option<&str>) {
    let Some(w) = &v.where_it_grows else {
        return;
    };
    let _ = write!(
        o,
        "<h2>Where it grows</h2><p><b>{}</b></p>",
        escape(&w.headline)
    );
    if !w.hints.is_empty() {
        o.push_str("<ul>");
        for h in &w.hints {
            let _ = write!(o, "<li>{}</li>", escape(h));
        }
        o.push_str("</ul>");
    }
    if let Some(svg) = chart {
        let _ = write!(
            o,
            "<figure class=\"chart\" role=\"img\" aria-label=\"{}\"><div class=\"only\">{}</div></figure>",
            escape(&format!(
                "Memory by class, stacked, and each process: {}",
                w.headline
            )),
            strip_xml_declaration(svg)
        );
    }
    grid(o, &w.table());
}

fn run_rows(s: &Summary) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(e) = &s.environment {
        rows.push(("Host".into(), e.host.clone()));
        rows.push(("Kernel".into(), e.kernel.clone()));
        rows.push(("memsoak".into(), e.memsoak_version.clone()));
        rows.push(("Command".into(), e.command_line.join(" ")));
    }
    if let Some(p) = &s.profile {
        rows.push(("Profile".into(), p.clone()));
    }
    if let Some(t) = &s.started_at {
        rows.push(("Started".into(), t.clone()));
    }
    rows
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}
