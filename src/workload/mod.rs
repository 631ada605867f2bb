//! Workloads: the load memsoak drives against the target while sampling it.
//!
//! Leaks hide in connect/disconnect handling, broadcast fan-out and request
//! handling, so a soak test must exercise them steadily for hours. The
//! kinds run concurrently from readiness to the end of the run: `collab`
//! (WebSocket clients, [`collab`]), `agent` (HTTP sequences, [`agent`])
//! and, with a browser page as the memory source, `browser` (a scripted
//! person on the page, [`browser`]).
//!
//! Pacing is open-loop: sends are due on a fixed schedule that does not
//! slow down when the target does, and a send made a whole period late is
//! counted as late rather than hidden. Accounting is bounded ([`stats`]):
//! per-interval rows stream to `workload.csv`, totals go to `summary.json`.
//!
//! Stopping has two phases: `Drain` stops sending while clients keep
//! reading what is in flight, then `Close` closes every connection cleanly.

pub(crate) mod agent;
pub(crate) mod browser;
pub mod browser_spec;
pub(crate) mod collab;
pub mod collab_spec;
pub(crate) mod pacing;
pub(crate) mod sequence;
pub mod spec;
pub mod stats;
pub mod template;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::analysis::Growth;
pub use crate::profile::WorkloadKind;
use agent::{AgentRun, HealthSummary};
pub use spec::WorkloadSpec;
pub use stats::Totals;
use stats::{Counters, Stats};

/// How long clients keep reading after sending stops.
const DRAIN: Duration = Duration::from_millis(500);
/// How long tasks get to close their connections.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The stop protocol shared with every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending and receiving.
    Run,
    /// Receiving only.
    Drain,
    /// Close and end.
    Close,
}

/// A delay with ±20% jitter, so clients that failed together do not retry
/// together.
pub fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..1.2))
}

/// Now, Unix microseconds.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One workload's totals in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// Workload name.
    pub name: String,
    /// `collab` or `agent`.
    pub kind: WorkloadKind,
    /// Totals over the run.
    #[serde(flatten)]
    pub totals: Totals,
    /// Per request step (agent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSummary>,
    /// Per health step (agent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<HealthSummary>,
    /// Memory growth per message (collab) or request (agent) sent after
    /// warm-up, bytes: the whole growth rate divided by this workload's
    /// send rate (with several workloads, an upper bound for each). Stated
    /// when the load was steady over the judged window.
    pub growth_per_message_bytes: Option<f64>,
    /// 95% interval of the growth per message, bytes.
    pub growth_per_message_ci95_bytes: Option<[f64; 2]>,
    /// Memory growth per connection opened after warm-up, bytes (collab with churn).
    pub growth_per_connection_bytes: Option<f64>,
    /// 95% interval of the growth per connection, bytes.
    pub growth_per_connection_ci95_bytes: Option<[f64; 2]>,
    /// What a collab workload spoke: `raw`, `yjs` or `socketio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Whether every client of a document ended holding the same text
    /// (Yjs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<collab::Convergence>,
}

/// States growth per message and per connection (with 95% intervals) for
/// a workload whose load was `steady` over the judged window: the growth
/// rate divided by the workload's send or connect rate over the `judged_s`
/// seconds after warm-up. Otherwise, or without a growth estimate, clears
/// them.
pub fn state_growth_per_unit(
    w: &mut WorkloadSummary,
    steady: bool,
    growth: Option<&Growth>,
    judged_s: f64,
) {
    w.growth_per_message_bytes = None;
    w.growth_per_message_ci95_bytes = None;
    w.growth_per_connection_bytes = None;
    w.growth_per_connection_ci95_bytes = None;
    let Some(growth) = growth.filter(|_| judged_s > 0.0 && steady) else {
        return;
    };
    let [lo, hi] = growth.ci95_bytes_per_hour;
    // Bytes per hour divided by events per hour.
    let per = |count: u64, bytes_per_hour: f64| {
        (count > 0).then(|| bytes_per_hour / (count as f64 / judged_s * 3600.0))
    };
    let both = |count: u64| per(count, lo).zip(per(count, hi)).map(|(a, b)| [a, b]);
    let t = &w.totals;
    w.growth_per_message_bytes = per(t.sent_judged, growth.slope_bytes_per_hour);
    w.growth_per_message_ci95_bytes = both(t.sent_judged);
    if t.clean_closes + t.abrupt_drops > 0 {
        w.growth_per_connection_bytes = per(t.connects_judged, growth.slope_bytes_per_hour);
        w.growth_per_connection_ci95_bytes = both(t.connects_judged);
    }
}

/// A request step's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Step name.
    pub name: String,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// One workload over the last stats interval, for the live view.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalLoad {
    /// Workload name.
    pub name: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Messages or requests sent per second.
    pub sent_per_s: f64,
    /// Errors in the interval.
    pub errors: u64,
    /// Errors since the start.
    pub errors_total: u64,
}

/// A stopped workload: its totals, and whether its load was steady over
/// the judged window (every client or agent started by the end of
/// warm-up), which growth per message and per connection need.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The totals.
    pub summary: WorkloadSummary,
    /// Ramp-up over by the end of warm-up.
    pub steady: bool,
    /// Tasks (clients, agents, health polls) that died of a panic: the load
    /// was not what the profile asked for.
    pub deaths: Option<TaskDeaths>,
}

/// Tasks of one workload that died.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDeaths {
    /// How many died.
    pub died: usize,
    /// How many the workload ran.
    pub of: usize,
    /// The first one's panic message.
    pub first: String,
}

impl std::fmt::Display for TaskDeaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of its {} tasks died (first: {})",
            self.died, self.of, self.first
        )
    }
}

struct Running {
    name: String,
    kind: WorkloadKind,
    /// A collab workload's protocol and its clients' shared state.
    collab: Option<(&'static str, Arc<collab::Shared>)>,
    ramp_up: Duration,
    stats: Arc<Stats>,
    agent: Option<AgentRun>,
    last: Counters,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The running workloads of a run.
pub struct Workloads {
    running: Vec<Running>,
    phase: watch::Sender<Phase>,
    csv: Option<csv::Writer<File>>,
    start: Instant,
    warmup: Duration,
    last_at: Instant,
}

/// A row of `workload.csv`: one workload over one interval.
#[derive(Debug, Serialize)]
struct Row<'a> {
    elapsed_s: f64,
    workload: &'a str,
    kind: &'a str,
    sent: u64,
    received: u64,
    errors: u64,
    late_sends: u64,
    connects: u64,
    open_connections: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl Workloads {
    /// Starts every workload; judged counts begin at `start + warmup`.
    /// Browser workloads drive `page`, the run's browser page.
    pub fn start(
        specs: &[WorkloadSpec],
        start: Instant,
        warmup: Duration,
        csv_path: &Path,
        page: Option<crate::devtools::Session>,
    ) -> anyhow::Result<Workloads> {
        let (phase, phase_rx) = watch::channel(Phase::Run);
        let mut running = Vec::new();
        let judged_from = start + warmup;
        for spec in specs {
            let stats = Arc::new(Stats::default());
            let mut tasks = Vec::new();
            let mut collab = None;
            let agent = match spec {
                WorkloadSpec::Collab(c) => {
                    let shared = collab::spawn(
                        Arc::new(c.clone()),
                        stats.clone(),
                        judged_from,
                        &phase_rx,
                        &mut tasks,
                    )
                    .map_err(|e| anyhow::anyhow!("[[workload]] '{}': {e:#}", c.name))?;
                    collab = Some((c.dialect.protocol().as_str(), shared));
                    None
                }
                WorkloadSpec::Agent(a) => Some(
                    agent::spawn(a, stats.clone(), judged_from, &phase_rx, &mut tasks)
                        .map_err(|e| anyhow::anyhow!("[[workload]] '{}': {e}", a.name))?,
                ),
                WorkloadSpec::Browser(b) => {
                    let page = page.clone().ok_or_else(|| {
                        anyhow::anyhow!(
                            "[[workload]] '{}': a browser workload drives the run's browser page (--browser or --cdp)",
                            b.name
                        )
                    })?;
                    Some(browser::spawn(
                        b,
                        page,
                        stats.clone(),
                        judged_from,
                        &phase_rx,
                        &mut tasks,
                    ))
                }
            };
            running.push(Running {
                name: spec.name().to_string(),
                kind: spec.kind(),
                collab,
                ramp_up: spec.ramp_up(),
                stats,
                agent,
                last: Counters::default(),
                tasks,
            });
        }
        let csv = if specs.is_empty() {
            None
        } else {
            let file = File::create(csv_path)
                .with_context(|| format!("could not create '{}'", csv_path.display()))?;
            Some(csv::Writer::from_writer(file))
        };
        Ok(Workloads {
            running,
            phase,
            csv,
            start,
            warmup,
            last_at: start,
        })
    }

    /// Appends one row per workload to `workload.csv` for the interval since
    /// the last call, flushes, and returns the interval's rates for the
    /// live view.
    pub fn write_interval(&mut self) -> Vec<IntervalLoad> {
        let now_at = Instant::now();
        let elapsed_s = now_at.duration_since(self.start).as_secs_f64();
        let secs = now_at.duration_since(self.last_at).as_secs_f64().max(1e-3);
        self.last_at = now_at;
        let mut views = Vec::with_capacity(self.running.len());
        for r in &mut self.running {
            let now = r.stats.counters();
            let latency = r.stats.take_interval_latency();
            let has_latency = latency.count > 0;
            let row = Row {
                elapsed_s,
                workload: &r.name,
                kind: r.kind.as_str(),
                sent: now.sent - r.last.sent,
                received: now.received - r.last.received,
                errors: now.errors - r.last.errors,
                late_sends: now.late - r.last.late,
                connects: now.connects - r.last.connects,
                open_connections: now.open,
                p50_ms: has_latency.then_some(latency.p50_ms),
                p99_ms: has_latency.then_some(latency.p99_ms),
            };
            views.push(IntervalLoad {
                name: r.name.clone(),
                kind: r.kind,
                sent_per_s: row.sent as f64 / secs,
                errors: row.errors,
                errors_total: now.errors,
            });
            r.last = now;
            if let Some(csv) = &mut self.csv {
                if let Err(e) = csv.serialize(&row) {
                    // A full disk must not end the soak: stop writing rows.
                    tracing::warn!("workload.csv: {e}; no more rows are written");
                    self.csv = None;
                }
            }
        }
        if let Some(csv) = &mut self.csv {
            let _ = csv.flush();
        }
        views
    }

    /// Stops sending, drains, closes every connection, writes the last
    /// interval, and returns the totals.
    pub async fn stop(mut self) -> Vec<Finished> {
        let mut deaths: Vec<Option<TaskDeaths>> = Vec::new();
        if !self.running.is_empty() {
            let _ = self.phase.send(Phase::Drain);
            tokio::time::sleep(DRAIN).await;
            let _ = self.phase.send(Phase::Close);
            // Tasks still closing after the grace end with the runtime.
            let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
            for r in &mut self.running {
                deaths.push(join(std::mem::take(&mut r.tasks), deadline).await);
            }
            self.write_interval();
        }
        deaths.resize(self.running.len(), None);
        self.running
            .iter()
            .zip(deaths)
            .map(|(r, deaths)| Finished {
                steady: r.ramp_up <= self.warmup,
                summary: r.summary(),
                deaths,
            })
            .collect()
    }
}

/// Waits for `tasks` until `deadline`; counts the ones that panicked.
async fn join(
    tasks: Vec<tokio::task::JoinHandle<()>>,
    deadline: tokio::time::Instant,
) -> Option<TaskDeaths> {
    let of = tasks.len();
    let mut died = 0;
    let mut first = None;
    for t in tasks {
        if let Ok(Err(e)) = tokio::time::timeout_at(deadline, t).await {
            if e.is_panic() {
                died += 1;
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                first.get_or_insert(message);
            }
        }
    }
    first.map(|first| TaskDeaths { died, of, first })
}

impl Running {
    fn summary(&self) -> WorkloadSummary {
        let r = self;
        WorkloadSummary {
            name: r.name.clone(),
            kind: r.kind,
            totals: r.stats.totals(),
            steps: r
                .agent
                .iter()
                .flat_map(|a| &a.steps)
                .map(|(name, s)| StepSummary {
                    name: name.clone(),
                    totals: s.totals(),
                })
                .collect(),
            health: r
                .agent
                .iter()
                .flat_map(|a| &a.health)
                .map(|(name, m)| m.summary(name))
                .collect(),
            growth_per_message_bytes: None,
            growth_per_message_ci95_bytes: None,
            growth_per_connection_bytes: None,
            growth_per_connection_ci95_bytes: None,
            protocol: r.collab.as_ref().map(|(p, _)| p.to_string()),
            convergence: r
                .collab
                .as_ref()
                .and_then(|(_, shared)| shared.convergence(&r.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_that_panic_are_counted_with_the_first_message() {
        let tasks = vec![
            tokio::spawn(async {}),
            tokio::spawn(async { panic!("capacity overflow") }),
            tokio::spawn(async {}),
        ];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let d = join(tasks, deadline).await.expect("a death");
        assert_eq!((d.died, d.of), (1, 3));
        assert_eq!(d.first, "capacity overflow");
        assert_eq!(
            d.to_string(),
            "1 of its 3 tasks died (first: capacity overflow)"
        );
        let healthy = vec![tokio::spawn(async {})];
        assert_eq!(join(healthy, deadline).await, None);
    }
}
