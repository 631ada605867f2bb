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
pub mod checks;
pub(crate) mod collab;
pub mod collab_spec;
pub mod design;
pub mod json_path;
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

/// A run's load design as asked for: the kind, a block length if the
/// profile set one, and the judged window it is cut from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DesignRequest {
    /// Steady or alternate.
    pub kind: design::LoadDesign,
    /// One block; default: the judged window in whole cycles.
    pub block: Option<Duration>,
    /// The planned judged window (duration minus planned warm-up).
    pub judged: Duration,
}

impl DesignRequest {
    /// Each workload's drivers (its sends when it sends at a rate, its
    /// connections when a collab workload churns), digits given in
    /// profile order, and the design's summary; none when steady.
    fn assign(
        &self,
        specs: &[WorkloadSpec],
        judged_from: Instant,
        warmup: Duration,
    ) -> (Vec<collab::Drivers>, Option<design::DesignSummary>) {
        let mut drivers = vec![collab::Drivers::default(); specs.len()];
        if self.kind == design::LoadDesign::Steady {
            return (drivers, None);
        }
        let mut wanted = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            if s.schedule().is_some() {
                wanted.push((i, design::DriverKind::Messages));
            }
            if matches!(s, WorkloadSpec::Collab(c) if c.churn_interval.is_some()) {
                wanted.push((i, design::DriverKind::Connections));
            }
        }
        let block = self
            .block
            .unwrap_or_else(|| design::block_for(self.judged, wanted.len() as u32));
        let plan = design::Design {
            start: judged_from,
            block,
        };
        let mut summary = design::DesignSummary {
            kind: self.kind,
            start_s: warmup.as_secs_f64(),
            block_s: block.as_secs_f64(),
            high: design::HIGH,
            low: design::LOW,
            drivers: Vec::new(),
        };
        for (digit, (i, kind)) in wanted.into_iter().enumerate() {
            let d = Some(design::Driver {
                design: plan,
                digit: digit as u32,
            });
            match kind {
                design::DriverKind::Messages => drivers[i].messages = d,
                design::DriverKind::Connections => drivers[i].connections = d,
            }
            summary.drivers.push(design::DriverSummary {
                workload: specs[i].name().to_string(),
                driver: kind,
                digit: digit as u32,
            });
        }
        (drivers, Some(summary))
    }
}

/// The per-interval rows of every workload, in the run folder.
pub const FILE: &str = "workload.csv";
/// The health fields followed at every poll, in the run folder.
pub const HEALTH_FILE: &str = "health.csv";

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
    /// send rate, an upper bound ("if all growth came from this
    /// workload": at constant rates time, messages and connections rise
    /// together and cannot be told apart). Stated when the load was steady
    /// over the judged window.
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
    /// Sends the open-loop schedule planned over the run (absent for a
    /// closed loop or clients that do not send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_sent: Option<f64>,
    /// Clients or agents that started.
    #[serde(default)]
    pub clients_started: u64,
    /// Clients that started and whose every connection attempt failed
    /// (collab).
    #[serde(default)]
    pub never_connected: u64,
    /// Load tasks that died of a panic.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tasks_died: u64,
    /// The limits its load checks are held to.
    #[serde(default)]
    pub load_limits: checks::Limits,
    /// Under a load design: the bytes each message (request) leaves, from
    /// the joint fit of memory on time and every driver, not a bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_growth_per_message_bytes: Option<f64>,
    /// Its 95% interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_growth_per_message_ci95_bytes: Option<[f64; 2]>,
    /// Under a load design: the bytes each connection leaves (collab with
    /// churn), from the joint fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_growth_per_connection_bytes: Option<f64>,
    /// Its 95% interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_growth_per_connection_ci95_bytes: Option<[f64; 2]>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WorkloadSummary {
    /// A workload's summary with its totals alone: no steps, health polls
    /// or growth per unit, the default limits.
    pub fn new(name: &str, kind: WorkloadKind, totals: Totals) -> WorkloadSummary {
        WorkloadSummary {
            name: name.to_string(),
            kind,
            totals,
            steps: Vec::new(),
            health: Vec::new(),
            growth_per_message_bytes: None,
            growth_per_message_ci95_bytes: None,
            growth_per_connection_bytes: None,
            growth_per_connection_ci95_bytes: None,
            protocol: None,
            convergence: None,
            planned_sent: None,
            clients_started: 0,
            never_connected: 0,
            tasks_died: 0,
            load_limits: checks::Limits::default(),
            joint_growth_per_message_bytes: None,
            joint_growth_per_message_ci95_bytes: None,
            joint_growth_per_connection_bytes: None,
            joint_growth_per_connection_ci95_bytes: None,
        }
    }
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
    /// The open-loop schedule: rate per task, tasks.
    schedule: Option<(f64, u32)>,
    /// Its sends' place in the load design.
    messages_driver: Option<design::Driver>,
    load_limits: checks::Limits,
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
    /// The load design, when the run has one.
    design: Option<design::DesignSummary>,
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
    /// Browser workloads drive `page`, the run's browser page. Rows go to
    /// `workload.csv` in `dir`, and followed health fields to `health.csv`.
    /// With a load design, rates vary in blocks after warm-up.
    pub fn start(
        specs: &[WorkloadSpec],
        start: Instant,
        warmup: Duration,
        design: &DesignRequest,
        dir: &Path,
        page: Option<crate::devtools::Session>,
    ) -> anyhow::Result<Workloads> {
        let (phase, phase_rx) = watch::channel(Phase::Run);
        let mut running = Vec::new();
        let judged_from = start + warmup;
        let (drivers, design_summary) = design.assign(specs, judged_from, warmup);
        let csv_path = dir.join(FILE);
        let follows = specs.iter().any(|s| match s {
            WorkloadSpec::Agent(a) => a
                .health
                .iter()
                .any(|h| h.restarts.is_some() || !h.track.is_empty()),
            _ => false,
        });
        let health_log = follows
            .then(|| agent::HealthLog::create(&dir.join(HEALTH_FILE), start).map(Arc::new))
            .transpose()?;
        for (spec, drivers) in specs.iter().zip(drivers) {
            let stats = Arc::new(Stats::default());
            let mut tasks = Vec::new();
            let mut collab = None;
            let agent = match spec {
                WorkloadSpec::Collab(c) => {
                    let shared = collab::spawn(
                        Arc::new(c.clone()),
                        stats.clone(),
                        judged_from,
                        drivers,
                        &phase_rx,
                        &mut tasks,
                    )
                    .map_err(|e| anyhow::anyhow!("[[workload]] '{}': {e:#}", c.name))?;
                    collab = Some((c.dialect.protocol().as_str(), shared));
                    None
                }
                WorkloadSpec::Agent(a) => Some(
                    agent::spawn(
                        a,
                        stats.clone(),
                        judged_from,
                        drivers.messages,
                        health_log.clone(),
                        &phase_rx,
                        &mut tasks,
                    )
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
                schedule: spec.schedule(),
                messages_driver: drivers.messages,
                load_limits: spec.load_limits(),
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
            let file = File::create(&csv_path)
                .with_context(|| format!("could not create '{}'", csv_path.display()))?;
            Some(csv::Writer::from_writer(file))
        };
        Ok(Workloads {
            running,
            design: design_summary,
            phase,
            csv,
            start,
            warmup,
            last_at: start,
        })
    }

    /// The load design the workloads run, when the run has one.
    pub fn design(&self) -> Option<&design::DesignSummary> {
        self.design.as_ref()
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
        let load_s = self.start.elapsed().as_secs_f64();
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
            .map(|(r, deaths)| {
                let mut summary = r.summary(load_s, self.warmup.as_secs_f64());
                summary.tasks_died = deaths.as_ref().map_or(0, |d| d.died as u64);
                Finished {
                    steady: r.ramp_up <= self.warmup,
                    summary,
                    deaths,
                }
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
    /// The totals after `load_s` seconds of load, the design's blocks
    /// starting `self_warmup_s` seconds in.
    fn summary(&self, load_s: f64, self_warmup_s: f64) -> WorkloadSummary {
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
                .map(|(name, restarts, m)| m.summary(name, restarts.as_deref()))
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
            planned_sent: r.schedule.map(|(rate, tasks)| {
                let ramp_up_s = r.ramp_up.as_secs_f64();
                match (&r.messages_driver, self_warmup_s) {
                    (Some(d), w) => {
                        checks::planned_sends(rate, tasks, ramp_up_s, load_s, |a, b| {
                            d.design_seconds(a - w, b - w)
                        })
                    }
                    (None, _) => {
                        checks::planned_sends(rate, tasks, ramp_up_s, load_s, |a, b| b - a)
                    }
                }
            }),
            clients_started: stats::get(&r.stats.started),
            never_connected: stats::get(&r.stats.never_connected),
            tasks_died: 0,
            load_limits: r.load_limits,
            joint_growth_per_message_bytes: None,
            joint_growth_per_message_ci95_bytes: None,
            joint_growth_per_connection_bytes: None,
            joint_growth_per_connection_ci95_bytes: None,
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
