//! Load checks: thresholds on the load itself, judged before the memory.
//!
//! A soak proves something about the backend's memory only if its load
//! reached the backend. Against a server that refused every connection,
//! discarded every frame or answered every request with an error, the
//! memory curve is that of an idle process (or of one busy rejecting), and
//! a PASS or a FAIL on it would be trusted like a real result. So each
//! workload's totals are checked, like k6's thresholds, with defaults that
//! catch a dead load and `[workload.checks]` keys to change them; a failed
//! check makes the run a load failure (its own exit code), with the growth
//! still shown for the reader but not judged.
//!
//! The checks read only a workload's summary (its totals, what its
//! schedule planned, its limits), so `memsoak report` judges them again
//! from `summary.json` exactly as the run did.

use serde::{Deserialize, Serialize};

use super::WorkloadSummary;
use crate::profile::WorkloadKind;
use crate::units::format_percent;

/// Fewest planned sends for which the achieved rate is judged: below it
/// one late start or one reconnect is a large share.
const MIN_PLANNED: f64 = 10.0;

/// A workload's limits, as its profile set them (defaults otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest share of expected deliveries lost (collab).
    pub max_lost: f64,
    /// Largest share of operations (sends, requests, connection attempts)
    /// that failed.
    pub max_errors: f64,
    /// Smallest share of the planned sends actually made (open-loop
    /// workloads).
    pub min_rate: f64,
    /// Largest share of started clients whose every connection attempt
    /// failed (collab).
    pub max_unconnected: f64,
    /// Largest share of clients that gave up reconnecting (collab).
    pub max_gave_up: f64,
    /// Most restarts any one followed counter of a health answer may show
    /// (off by default).
    pub max_restarts: Option<u64>,
}

/// The defaults: a dead or mostly failing load fails; a few lost frames,
/// a reconnect or a slow start do not.
impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_lost: 0.05,
            max_errors: 0.05,
            min_rate: 0.9,
            max_unconnected: 0.05,
            max_gave_up: 0.05,
            max_restarts: None,
        }
    }
}

/// What a check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Expected deliveries not received.
    Lost,
    /// Operations that failed.
    Errors,
    /// Sends made against sends planned.
    Rate,
    /// Clients that never opened a connection.
    Unconnected,
    /// Clients that gave up.
    GaveUp,
    /// Restarts seen in a health answer.
    Restarts,
    /// Load tasks that died (a memsoak bug: the load was not what was
    /// asked for).
    Tasks,
}

impl CheckKind {
    /// Its name in outputs.
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Lost => "delivery loss",
            CheckKind::Errors => "errors",
            CheckKind::Rate => "send rate",
            CheckKind::Unconnected => "never connected",
            CheckKind::GaveUp => "gave up",
            CheckKind::Restarts => "restarts",
            CheckKind::Tasks => "tasks alive",
        }
    }

    /// The profile key that sets its limit.
    pub fn key(self) -> Option<&'static str> {
        match self {
            CheckKind::Lost => Some("max_lost"),
            CheckKind::Errors => Some("max_errors"),
            CheckKind::Rate => Some("min_rate"),
            CheckKind::Unconnected => Some("max_unconnected"),
            CheckKind::GaveUp => Some("max_gave_up"),
            CheckKind::Restarts => Some("max_restarts"),
            CheckKind::Tasks => None,
        }
    }
}

/// One check of one workload, in `summary.json` and every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadCheck {
    /// The workload.
    pub workload: String,
    /// What was checked.
    pub check: CheckKind,
    /// Whether it held.
    pub passed: bool,
    /// What was seen: a share (0–1) or, for restarts and tasks, a count.
    pub value: f64,
    /// The limit it was held to, in the same terms.
    pub limit: f64,
    /// The line people read: `delivery loss 100% (5756 of 5756) > 5%`.
    pub text: String,
}

impl LoadCheck {
    /// `✓ editors: delivery loss 0% (0 of 5756) ≤ 5%`.
    pub fn line(&self) -> String {
        format!(
            "{} {}: {}",
            if self.passed { "✓" } else { "✗" },
            self.workload,
            self.text
        )
    }
}

/// The checks of every workload, in order.
pub fn judge(workloads: &[WorkloadSummary]) -> Vec<LoadCheck> {
    workloads.iter().flat_map(judge_one).collect()
}

/// The checks that apply to one workload: a check with nothing to count
/// (no deliveries expected, no schedule) is left out rather than passed.
fn judge_one(w: &WorkloadSummary) -> Vec<LoadCheck> {
    let t = &w.totals;
    let l = &w.load_limits;
    let mut out = Vec::new();
    let mut push = |check, passed, value, limit, text| {
        out.push(LoadCheck {
            workload: w.name.clone(),
            check,
            passed,
            value,
            limit,
            text,
        })
    };
    let share = |kind: CheckKind, part: u64, whole: u64, max: f64| {
        let value = part as f64 / whole as f64;
        let passed = value <= max;
        let text = format!(
            "{} {} ({part} of {whole}) {} {}",
            kind.label(),
            format_percent(value),
            if passed { "≤" } else { ">" },
            format_percent(max)
        );
        (kind, passed, value, max, text)
    };
    if w.kind == WorkloadKind::Collab && t.expected_deliveries > 0 {
        let (k, p, v, m, text) = share(CheckKind::Lost, t.lost, t.expected_deliveries, l.max_lost);
        push(k, p, v, m, text);
    }
    let operations = match w.kind {
        // Every request is counted as sent; its failure is one error.
        WorkloadKind::Agent | WorkloadKind::Browser => t.sent,
        // Sends, opened connections and failed attempts: a connection
        // refused is an error that sent nothing.
        WorkloadKind::Collab => t.sent + t.connects + t.errors,
    };
    if operations > 0 {
        let (k, p, v, m, text) = share(
            CheckKind::Errors,
            t.errors.min(operations),
            operations,
            l.max_errors,
        );
        push(k, p, v, m, text);
    }
    if let Some(planned) = w.planned_sent.filter(|p| *p >= MIN_PLANNED) {
        let value = t.sent as f64 / planned;
        let passed = value >= l.min_rate;
        push(
            CheckKind::Rate,
            passed,
            value,
            l.min_rate,
            format!(
                "{} {} of planned ({} of {:.0} sends) {} {}",
                CheckKind::Rate.label(),
                format_percent(value),
                t.sent,
                planned,
                if passed { "≥" } else { "<" },
                format_percent(l.min_rate)
            ),
        );
    }
    if w.kind == WorkloadKind::Collab && w.clients_started > 0 {
        let (k, p, v, m, text) = share(
            CheckKind::Unconnected,
            w.never_connected,
            w.clients_started,
            l.max_unconnected,
        );
        push(k, p, v, m, text);
        let (k, p, v, m, text) = share(
            CheckKind::GaveUp,
            t.gave_up,
            w.clients_started,
            l.max_gave_up,
        );
        push(k, p, v, m, text);
    }
    if let Some(max) = l.max_restarts {
        let worst = w
            .health
            .iter()
            .flat_map(|h| h.restarts.iter().map(move |(item, n)| (&h.name, item, *n)))
            .max_by_key(|(_, _, n)| *n);
        let most = worst.map_or(0, |(_, _, n)| n);
        let passed = most <= max;
        let whom = worst
            .filter(|(_, _, n)| *n > 0)
            .map(|(step, item, _)| format!(" ({item}, in '{step}')"))
            .unwrap_or_default();
        push(
            CheckKind::Restarts,
            passed,
            most as f64,
            max as f64,
            format!(
                "restarts of one item {most}{whom} {} {max}",
                if passed { "≤" } else { ">" }
            ),
        );
    }
    if w.tasks_died > 0 {
        push(
            CheckKind::Tasks,
            false,
            w.tasks_died as f64,
            0.0,
            format!(
                "{} of its tasks died (a memsoak bug: please report it)",
                w.tasks_died
            ),
        );
    }
    out
}

/// The reason a load failure gives, first among the summary's reasons.
pub fn failure_reason(checks: &[LoadCheck]) -> Option<String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.workload, c.text))
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "the load failed {} check{}, so the memory was not judged (a soak whose load did not arrive proves nothing either way): {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join("; ")
        )
    })
}

/// Sends an open-loop schedule plans over `load_s` seconds of load for
/// `tasks` clients or agents at `rate` each, started evenly over
/// `ramp_up_s`: each task's first period is allowed for (a client's first
/// send falls somewhere in it, after its connection opens). `time(from,
/// to)` is the schedule's time between two moments of the run (plain
/// seconds, or design time under a load design).
pub fn planned_sends(
    rate: f64,
    tasks: u32,
    ramp_up_s: f64,
    load_s: f64,
    time: impl Fn(f64, f64) -> f64,
) -> f64 {
    (0..tasks)
        .map(|i| {
            let start = ramp_up_s * f64::from(i) / f64::from(tasks.max(1));
            if start >= load_s {
                return 0.0;
            }
            (rate * time(start, load_s) - 1.0).max(0.0)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::stats::Totals;

    fn collab(totals: Totals) -> WorkloadSummary {
        WorkloadSummary {
            clients_started: 10,
            planned_sent: Some(1000.0),
            ..WorkloadSummary::new("editors", WorkloadKind::Collab, totals)
        }
    }

    fn failed(checks: &[LoadCheck]) -> Vec<CheckKind> {
        checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.check)
            .collect()
    }

    #[test]
    fn a_healthy_load_passes_every_check() {
        let w = collab(Totals {
            sent: 990,
            connects: 10,
            expected_deliveries: 8910,
            received: 8900,
            lost: 10,
            errors: 1,
            ..Totals::default()
        });
        let checks = judge(&[w]);
        assert_eq!(
            checks.iter().map(|c| c.check).collect::<Vec<_>>(),
            [
                CheckKind::Lost,
                CheckKind::Errors,
                CheckKind::Rate,
                CheckKind::Unconnected,
                CheckKind::GaveUp
            ]
        );
        assert!(failed(&checks).is_empty(), "{checks:#?}");
        assert_eq!(
            checks[0].line(),
            "✓ editors: delivery loss 0.112% (10 of 8910) ≤ 5%"
        );
        assert_eq!(failure_reason(&checks), None);
    }

    #[test]
    fn frames_discarded_fail_on_loss() {
        let w = collab(Totals {
            sent: 2878,
            connects: 10,
            expected_deliveries: 5756,
            lost: 5756,
            ..Totals::default()
        });
        let checks = judge(&[w]);
        assert_eq!(failed(&checks), [CheckKind::Lost]);
        let reason = failure_reason(&checks).unwrap();
        assert!(
            reason.contains("editors: delivery loss 100% (5756 of 5756) > 5%"),
            "{reason}"
        );
    }

    #[test]
    fn connections_refused_fail_on_errors_and_connecting() {
        let mut w = collab(Totals {
            errors: 120,
            ..Totals::default()
        });
        w.never_connected = 10;
        let checks = judge(&[w]);
        assert_eq!(
            failed(&checks),
            [CheckKind::Errors, CheckKind::Rate, CheckKind::Unconnected]
        );
    }

    #[test]
    fn an_agent_whose_requests_all_fail_fails_on_errors() {
        let w = WorkloadSummary {
            planned_sent: Some(200.0),
            ..WorkloadSummary::new(
                "agents",
                WorkloadKind::Agent,
                Totals {
                    sent: 202,
                    errors: 202,
                    ..Totals::default()
                },
            )
        };
        let checks = judge(&[w]);
        assert_eq!(failed(&checks), [CheckKind::Errors]);
        assert_eq!(checks[0].text, "errors 100% (202 of 202) > 5%");
    }

    #[test]
    fn limits_are_the_profile_s_and_short_schedules_are_not_judged() {
        let mut w = collab(Totals {
            sent: 5,
            connects: 10,
            expected_deliveries: 100,
            lost: 30,
            ..Totals::default()
        });
        w.planned_sent = Some(9.0);
        w.load_limits.max_lost = 0.5;
        let checks = judge(&[w]);
        assert!(failed(&checks).is_empty(), "{checks:#?}");
        assert!(!checks.iter().any(|c| c.check == CheckKind::Rate));
    }

    #[test]
    fn planned_sends_allow_for_ramp_up_and_the_first_period() {
        // Two clients at 1/s over 10 s, the second starting at 5 s.
        let plain = |a: f64, b: f64| b - a;
        assert_eq!(planned_sends(1.0, 2, 10.0, 10.0, plain), 9.0 + 4.0);
        assert_eq!(planned_sends(2.0, 3, 0.0, 0.2, plain), 0.0);
    }
}
