//! `junit.xml`: the verdict as a JUnit test suite, so CI systems show it
//! natively. Four test cases: memory growth, RSS ceiling, target health and
//! workload errors (failed above 1% of requests or messages sent).
//!
//! Written by hand: four elements with escaped attributes do not justify an
//! XML writer dependency.

use std::fmt::Write;

use super::html::escape;
use super::Summary;
use crate::analysis::Verdict;

/// Share of sends that may fail before the workload test case fails.
pub const MAX_ERROR_RATIO: f64 = 0.01;

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// Renders the JUnit XML.
pub fn render(s: &Summary) -> String {
    let growth = match (s.verdict, &s.growth) {
        (Verdict::Inconclusive, _) if s.exit_code == 0 => {
            Outcome::Skip(format!("inconclusive: {}", s.reasons.join("; ")))
        }
        (_, Some(g)) if s.growth_failed() => Outcome::Fail(format!(
            "memory grows {} (limit {})",
            g.display, s.threshold
        )),
        (Verdict::Inconclusive, _) => {
            Outcome::Fail(format!("inconclusive: {}", s.reasons.join("; ")))
        }
        _ => Outcome::Pass,
    };
    let ceiling = match s.max_rss_bytes {
        None => Outcome::Skip("no RSS ceiling set".into()),
        Some(c) if s.peak_rss_bytes.is_some_and(|p| p > c) => Outcome::Fail(format!(
            "peak RSS {} bytes exceeds the ceiling of {c} bytes",
            s.peak_rss_bytes.unwrap_or(0)
        )),
        Some(_) => Outcome::Pass,
    };
    let flagged: Vec<String> = s
        .workloads
        .iter()
        .flat_map(|w| &w.health)
        .filter(|h| h.flagged)
        .map(|h| {
            format!(
                "health '{}' unhealthy for {:.0} s",
                h.name, h.longest_unhealthy_s
            )
        })
        .collect();
    let health = match s.target.as_ref().and_then(|t| t.failure.clone()) {
        Some(f) => Outcome::Fail(f),
        None if !flagged.is_empty() => Outcome::Fail(flagged.join("; ")),
        None => Outcome::Pass,
    };
    let noisy: Vec<String> = s
        .workloads
        .iter()
        .filter(|w| w.totals.errors as f64 > MAX_ERROR_RATIO * w.totals.sent.max(1) as f64)
        .map(|w| {
            format!(
                "{}: {} errors in {} sent",
                w.name, w.totals.errors, w.totals.sent
            )
        })
        .collect();
    let workload = if s.workloads.is_empty() {
        Outcome::Skip("no workloads".into())
    } else if noisy.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(noisy.join("; "))
    };
    let cases = [
        ("memory growth", growth),
        ("RSS ceiling", ceiling),
        ("target health", health),
        ("workload errors", workload),
    ];
    let failures = cases
        .iter()
        .filter(|c| matches!(c.1, Outcome::Fail(_)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.1, Outcome::Skip(_)))
        .count();
    let suite = escape(&format!("memsoak.{}", s.name));
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"memsoak\" tests=\"4\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        s.duration_s
    );
    let _ = writeln!(
        o,
        "  <testsuite name=\"{suite}\" tests=\"4\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        s.duration_s
    );
    for (name, outcome) in cases {
        let _ = write!(o, "    <testcase classname=\"{suite}\" name=\"{name}\"");
        match outcome {
            Outcome::Pass => {
                let _ = writeln!(o, "/>");
            }
            Outcome::Fail(m) => {
                let _ = writeln!(
                    o,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    escape(&m)
                );
            }
            Outcome::Skip(m) => {
                let _ = writeln!(
                    o,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(&m)
                );
            }
        }
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}
