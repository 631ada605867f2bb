//! `report.html`: one self-contained page (inline SVG chart, inline CSS, no
//! network access) that a person reads the morning after a nightly run.
//! Every string that came from a profile, a target or a server is escaped.

use std::fmt::Write;

use super::Summary;
use crate::analysis::Verdict;
use crate::units::{format_mb, Rate};

/// Escapes text for HTML and XML content and attributes. Written by hand:
/// five characters, no crate needed.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1250px;color:#222}\
.banner{padding:1rem 1.5rem;border-radius:8px;color:#fff;font-size:1.4rem}\
.pass{background:#2c7a3f}.fail{background:#b3261e}.inconclusive{background:#8a6d00}\
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}\
th{background:#f3f3f3}td.n{text-align:right}.chart svg{max-width:100%;height:auto}";

/// Renders the page; `chart_svg` is the memory chart to inline, if drawn.
pub fn render(s: &Summary, chart_svg: Option<&str>) -> String {
    let unit = Rate::parse(&s.threshold)
        .map(|r| r.unit)
        .unwrap_or_default();
    let class = match s.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    };
    let mut o = String::new();
    let name = escape(&s.name);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>memsoak: {} — {name}</title><style>{STYLE}</style></head><body>\n",
        s.verdict
    );
    let partial = if s.partial {
        " (partial: interrupted)"
    } else {
        ""
    };
    let headline = match &s.growth {
        Some(g) => format!("{} grows {}", s.metric, escape(&g.display)),
        None => "no growth estimate".into(),
    };
    let _ = writeln!(
        o,
        "<div class=\"banner {class}\"><b>{}</b>{partial} — {name}: {headline}, limit {}</div>",
        s.verdict.to_string().to_uppercase(),
        escape(&unit.format(s.threshold_bytes_per_hour))
    );
    if !s.reasons.is_empty() {
        o.push_str("<ul>");
        for r in &s.reasons {
            let _ = write!(o, "<li>{}</li>", escape(r));
        }
        o.push_str("</ul>\n");
    }

    o.push_str("<h2>Key numbers</h2><table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row(
        "Verdict",
        format!("{} (exit code {})", s.verdict, s.exit_code),
    );
    if let Some(g) = &s.growth {
        row("Growth", escape(&g.display));
        row("Method", escape(&g.method));
    }
    row("Judged metric", s.metric.to_string());
    if let Some(p) = s.peak_rss_bytes {
        row(
            "Peak RSS",
            format!(
                "{} at {:.0} s",
                format_mb(p as f64),
                s.peak_rss_elapsed_s.unwrap_or(0.0)
            ),
        );
    }
    if let Some(c) = s.max_rss_bytes {
        row("RSS ceiling", format_mb(c as f64));
    }
    row(
        "Judged window",
        format!(
            "{:.0} s after a {:.0} s warm-up ({} of {} samples)",
            (s.duration_s - s.warmup_s).max(0.0),
            s.warmup_s,
            s.samples_judged,
            s.samples
        ),
    );
    for w in &s.workloads {
        if let Some(b) = w.growth_per_message_bytes {
            row(
                &format!("Growth per message ({})", escape(&w.name)),
                format!("{b:.0} bytes"),
            );
        }
        if let Some(b) = w.growth_per_connection_bytes {
            row(
                &format!("Growth per connection ({})", escape(&w.name)),
                format!("{b:.0} bytes"),
            );
        }
    }
    if let Some(t) = &s.target {
        row(
            "Target",
            format!("{} pid {}: {}", t.mode, t.pid, escape(&t.command.join(" "))),
        );
        if let Some(e) = &t.exit_description {
            row("Target ended", escape(e));
        }
        if let Some(f) = &t.failure {
            row("Target failure", escape(f));
        }
    }
    if let Some(n) = &s.metric_note {
        row("Note", escape(n));
    }
    o.push_str("</table>\n");

    o.push_str("<h2>Memory over time</h2>");
    match chart_svg {
        Some(svg) => {
            let _ = write!(
                o,
                "<div class=\"chart\">{}</div>",
                strip_xml_declaration(svg)
            );
        }
        None => o.push_str("<p>No chart: too few samples.</p>"),
    }

    if !s.workloads.is_empty() {
        o.push_str("<h2>Load</h2><table><tr><th>workload</th><th>kind</th><th>sent</th><th>received</th><th>errors</th><th>late sends</th><th>p50 ms</th><th>p99 ms</th><th>connects</th><th>lost</th><th>misdelivered</th></tr>");
        for w in &s.workloads {
            let t = &w.totals;
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{:.1}</td><td class=n>{:.1}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                escape(&w.name),
                escape(&w.kind),
                t.sent,
                t.received,
                t.errors,
                t.late_sends,
                t.latency.p50_ms,
                t.latency.p99_ms,
                t.connects,
                t.lost,
                t.misdelivered
            );
        }
        o.push_str("</table>\n");
    }

    if !s.processes.is_empty() {
        o.push_str("<h2>Processes at the end</h2><table><tr><th>pid</th><th>parent</th><th>name</th><th>RSS</th><th>anon</th><th>threads</th></tr>");
        for p in &s.processes {
            let _ = write!(
                o,
                "<tr><td class=n>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                p.pid,
                p.ppid,
                escape(&p.name),
                format_mb(p.rss_bytes as f64),
                p.anon_bytes.map_or("–".into(), |a| format_mb(a as f64)),
                p.threads
            );
        }
        o.push_str("</table>\n");
    }

    o.push_str("<h2>Run</h2><table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    if let Some(e) = &s.environment {
        row("Host", escape(&e.host));
        row("Kernel", escape(&e.kernel));
        row("memsoak", escape(&e.memsoak_version));
        row("Command", escape(&e.command_line.join(" ")));
    }
    if let Some(p) = &s.profile {
        row("Profile", escape(p));
    }
    if let Some(t) = &s.started_at {
        row("Started", escape(t));
    }
    o.push_str("</table>\n<p>Data: <a href=\"samples.csv\">samples.csv</a>, <a href=\"summary.json\">summary.json</a>, <a href=\"memory.png\">memory.png</a>.</p>\n</body></html>\n");
    o
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}
