//! `junit.xml`: the verdict as a JUnit test suite, so CI systems show it
//! natively: one test case per check of the report view (memory growth,
//! RSS ceiling, target health, workload errors, then one per load check:
//! `load check: editors delivery loss`).
//!
//! Written by hand: four elements with escaped attributes do not justify an
//! XML writer dependency.

use std::fmt::Write;

use super::html::escape;
use super::view::{Check, Outcome, ReportView};
use super::Summary;

/// Renders the JUnit XML from the view's checks.
pub(crate) fn render(s: &Summary) -> String {
    let view = ReportView::new(s);
    // The body a CI system shows under a failure: the verdict line, the
    // reasons and the judged window.
    let details = std::iter::once(format!("{}: {}", view.verdict_word, view.headline))
        .chain(s.reasons.iter().cloned())
        .chain([format!("judged {}", view.judged_window)])
        .collect::<Vec<_>>()
        .join("\n");
    let cases = view.checks;
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skip(_)))
        .count();
    let suite = escape(&format!("memsoak.{}", s.name));
    let tests = cases.len();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"memsoak\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        s.duration_s
    );
    let _ = writeln!(
        o,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        s.duration_s
    );
    for Check { name, outcome } in cases {
        // The memory check took the whole run; the others are read off it.
        let time = if name == "memory growth" {
            s.duration_s
        } else {
            0.0
        };
        let _ = write!(
            o,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{time:.3}\"",
            escape(&name)
        );
        match outcome {
            Outcome::Pass => {
                let _ = writeln!(o, "/>");
            }
            Outcome::Fail(m) => {
                let _ = writeln!(
                    o,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(&m),
                    escape(&details)
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
