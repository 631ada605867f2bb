//! agent workload: virtual agents running scripted HTTP sequences.
//!
//! Each agent runs the workload's request steps in order, in a loop, paced
//! on a fixed open-loop schedule (`rate`) or by a pause after each step
//! (`think_time`). Health steps run on their own interval, once per
//! workload, and record healthy/unhealthy transitions; a target unhealthy
//! for longer than `unhealthy_after` is flagged in the summary.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::pacing::{ramp_delay, sleep_or_stop};
use super::sequence::{self, Accounting, StepOutcome, Steps};
use super::spec::{AgentSpec, Pacing, RequestStep};
use super::stats::{ErrorKind, Stats};
use super::template::Values;
use super::{unix_us, Phase};

/// Health of the target as seen by one health step.
#[derive(Debug, Default)]
pub(crate) struct HealthMonitor {
    state: Mutex<HealthState>,
    followed: Mutex<Followed>,
}

#[derive(Debug, Default)]
struct HealthState {
    polls: u64,
    unhealthy_polls: u64,
    transitions: u64,
    healthy: Option<bool>,
    unhealthy_since: Option<Instant>,
    longest_unhealthy: Duration,
    flagged: bool,
}

/// Most items whose restarts one health step counts: a health answer with
/// thousands of agents is counted for the first ones, and a note says so.
const MAX_ITEMS: usize = 1000;
/// Restart times kept per item, for the reports' timeline.
const MAX_TIMES: usize = 100;

/// What one health step follows in its answers: restart counters per item.
#[derive(Debug, Default)]
struct Followed {
    /// Per item: the counter's last value, restarts counted, when.
    items: std::collections::BTreeMap<String, Counted>,
    /// Items not counted past [`MAX_ITEMS`].
    left_out: u64,
}

#[derive(Debug, Default)]
struct Counted {
    last: f64,
    restarts: u64,
    at_s: Vec<f64>,
}

impl Followed {
    /// Reads one answer's counters: an increase is that many restarts; a
    /// counter that went down was reset (the backend itself restarted), so
    /// its whole new value is counted. The first reading is the baseline:
    /// restarts before the run are not the run's.
    fn count(&mut self, item: String, value: f64, at_s: f64) {
        let len = self.items.len();
        let entry = match self.items.entry(item) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                if len >= MAX_ITEMS {
                    self.left_out += 1;
                } else {
                    e.insert(Counted {
                        last: value,
                        ..Counted::default()
                    });
                }
                return;
            }
        };
        let new = if value >= entry.last {
            value - entry.last
        } else {
            value
        };
        entry.last = value;
        let new = new.round().max(0.0) as u64;
        if new > 0 {
            entry.restarts += new;
            if entry.at_s.len() < MAX_TIMES {
                entry.at_s.push(at_s);
            }
        }
    }
}

/// Where followed fields are recorded: `health.csv`, one row per value
/// per poll, streamed.
pub(crate) struct HealthLog {
    start: Instant,
    csv: Mutex<Option<csv::Writer<std::fs::File>>>,
}

/// A row of `health.csv`.
#[derive(Debug, Serialize)]
struct HealthRow<'a> {
    elapsed_s: f64,
    workload: &'a str,
    step: &'a str,
    path: &'a str,
    item: &'a str,
    value: &'a str,
}

impl HealthLog {
    /// Creates `path`; the run's clock started at `start`.
    pub(crate) fn create(path: &std::path::Path, start: Instant) -> anyhow::Result<HealthLog> {
        use anyhow::Context;
        let file = std::fs::File::create(path)
            .with_context(|| format!("could not create '{}'", path.display()))?;
        Ok(HealthLog {
            start,
            csv: Mutex::new(Some(csv::Writer::from_writer(file))),
        })
    }

    fn elapsed_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn write(&self, rows: &[HealthRow<'_>]) {
        let Ok(mut guard) = self.csv.lock() else {
            return;
        };
        let Some(csv) = guard.as_mut() else {
            return;
        };
        let written = rows
            .iter()
            .try_for_each(|r| csv.serialize(r))
            .and_then(|()| csv.flush().map_err(csv::Error::from));
        if let Err(e) = written {
            // A full disk must not end the soak: stop writing rows.
            tracing::warn!("health.csv: {e}; no more rows are written");
            *guard = None;
        }
    }
}

/// A health step's record in `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthSummary {
    /// Step name.
    pub name: String,
    /// Polls made.
    pub polls: u64,
    /// Polls that failed.
    pub unhealthy_polls: u64,
    /// Changes between healthy and unhealthy.
    pub transitions: u64,
    /// Longest unhealthy stretch, seconds.
    pub longest_unhealthy_s: f64,
    /// Unhealthy for longer than `unhealthy_after` at some point.
    pub flagged: bool,
    /// The restart counter followed (`restarts`), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts_path: Option<String>,
    /// Restarts counted per item (agent) over the run.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub restarts: std::collections::BTreeMap<String, u64>,
    /// When they were seen, seconds since the run's start, per item (the
    /// first 100 each).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub restart_times_s: std::collections::BTreeMap<String, Vec<f64>>,
    /// Items not counted: a health answer with more than 1000.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub items_left_out: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl HealthMonitor {
    /// Records one poll; returns whether health changed and whether this
    /// poll flagged the target (for the log).
    fn record(&self, healthy: bool, unhealthy_after: Duration) -> (bool, bool) {
        let Ok(mut s) = self.state.lock() else {
            return (false, false);
        };
        let now = Instant::now();
        let was_flagged = s.flagged;
        s.polls += 1;
        let changed = s.healthy.is_some_and(|h| h != healthy);
        if changed {
            s.transitions += 1;
        }
        s.healthy = Some(healthy);
        if healthy {
            s.unhealthy_since = None;
        } else {
            s.unhealthy_polls += 1;
            let since = *s.unhealthy_since.get_or_insert(now);
            let stretch = now - since;
            s.longest_unhealthy = s.longest_unhealthy.max(stretch);
            if stretch >= unhealthy_after {
                s.flagged = true;
            }
        }
        (changed, s.flagged && !was_flagged)
    }

    /// The record so far; `restarts_path` is the counter the step follows.
    pub(crate) fn summary(&self, name: &str, restarts_path: Option<&str>) -> HealthSummary {
        let s = self.state.lock().map(|s| HealthSummary {
            name: name.to_string(),
            polls: s.polls,
            unhealthy_polls: s.unhealthy_polls,
            transitions: s.transitions,
            longest_unhealthy_s: s.longest_unhealthy.as_secs_f64(),
            flagged: s.flagged,
            ..HealthSummary::default()
        });
        let mut summary = s.unwrap_or_default();
        summary.restarts_path = restarts_path.map(String::from);
        if let Ok(f) = self.followed.lock() {
            for (item, c) in &f.items {
                summary.restarts.insert(item.clone(), c.restarts);
                if !c.at_s.is_empty() {
                    summary.restart_times_s.insert(item.clone(), c.at_s.clone());
                }
            }
            summary.items_left_out = f.left_out;
        }
        summary
    }
}

/// Live state of one agent workload.
pub(crate) struct AgentRun {
    /// Per request step: name and counters.
    pub steps: Vec<(String, Arc<Stats>)>,
    /// Per health step: name, the restart counter it follows, monitor.
    pub health: Vec<(String, Option<String>, Arc<HealthMonitor>)>,
}

/// What every agent of one workload shares.
struct AgentContext {
    client: reqwest::Client,
    steps: Vec<RequestStep>,
    acc: Accounting,
    pacing: Pacing,
    /// Its sends' place in the load design.
    driver: Option<super::design::Driver>,
}

/// Starts the agents and health polls of `spec`.
pub(crate) fn spawn(
    spec: &AgentSpec,
    stats: Arc<Stats>,
    judged_from: Instant,
    driver: Option<super::design::Driver>,
    log: Option<Arc<HealthLog>>,
    phase: &watch::Receiver<Phase>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<AgentRun, String> {
    let client = spec
        .trust
        .http_client()
        .map_err(|e| format!("{e:#}"))?
        .timeout(spec.timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("could not build the HTTP client: {e}"))?;
    let context = Arc::new(AgentContext {
        client: client.clone(),
        steps: spec.steps.clone(),
        acc: Accounting::new(stats, spec.steps.len(), judged_from),
        pacing: spec.pacing,
        driver,
    });
    for agent in 0..spec.agents {
        let delay = ramp_delay(spec.ramp_up, agent, spec.agents);
        tasks.push(tokio::spawn(run_agent(
            context.clone(),
            agent,
            delay,
            phase.clone(),
        )));
    }
    let mut health = Vec::new();
    for h in &spec.health {
        let monitor = Arc::new(HealthMonitor::default());
        tasks.push(tokio::spawn(poll_health(
            client.clone(),
            Poll {
                workload: spec.name.clone(),
                step: h.clone(),
                monitor: monitor.clone(),
                log: log.clone(),
            },
            phase.clone(),
        )));
        health.push((
            h.request.name.clone(),
            h.restarts.as_ref().map(|p| p.as_str().to_string()),
            monitor,
        ));
    }
    Ok(AgentRun {
        steps: context
            .acc
            .by_name(spec.steps.iter().map(|s| s.name.clone())),
        health,
    })
}

/// One agent's requests: the workload's steps, with its own body buffer.
struct AgentSteps {
    cx: Arc<AgentContext>,
    agent: u32,
    body: String,
}

impl Steps for AgentSteps {
    fn run(&mut self, index: usize, seq: u64) -> impl Future<Output = StepOutcome> + Send {
        send(
            &self.cx.client,
            &self.cx.steps[index],
            self.agent,
            seq,
            &mut self.body,
        )
    }
}

/// One agent: the steps in order, in a loop, until the run stops.
async fn run_agent(
    cx: Arc<AgentContext>,
    agent: u32,
    delay: Duration,
    mut phase: watch::Receiver<Phase>,
) {
    if cx.steps.is_empty() || !sleep_or_stop(delay, &mut phase).await {
        return;
    }
    super::stats::bump(&cx.acc.stats.started);
    let mut steps = AgentSteps {
        cx: cx.clone(),
        agent,
        body: String::new(),
    };
    sequence::run(&mut steps, cx.pacing, cx.driver, &cx.acc, phase).await;
}

/// Sends one request; Ok(latency), or the error kind and whether a
/// response arrived at all.
async fn send(
    client: &reqwest::Client,
    step: &RequestStep,
    agent: u32,
    seq: u64,
    body: &mut String,
) -> StepOutcome {
    exchange(client, step, agent, seq, body, None).await
}

/// Sends one request, keeping the answer's bytes in `answer` when given
/// (a health step that follows fields of its answer).
async fn exchange(
    client: &reqwest::Client,
    step: &RequestStep,
    agent: u32,
    seq: u64,
    body: &mut String,
    answer: Option<&mut Vec<u8>>,
) -> StepOutcome {
    let request = &step.request.0;
    let mut req = client
        .request(step.method.clone(), &request.url)
        .headers(request.headers.clone());
    if let Some(template) = &request.body {
        template.render(
            &Values {
                doc: "",
                doc_index: 0,
                client: agent,
                seq,
                sent_unix_us: unix_us(),
            },
            body,
        );
        req = req.body(body.clone());
        if step.json {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
    }
    let started = Instant::now();
    let resp = req.send().await.map_err(|e| (classify(&e), false))?;
    let status = resp.status();
    let ok_status = match step.expect_status {
        Some(s) => status.as_u16() == s,
        None => status.is_success(),
    };
    let bytes = resp.bytes().await.map_err(|e| (classify(&e), true))?;
    let latency = started.elapsed();
    if let Some(answer) = answer {
        answer.extend_from_slice(&bytes);
    }
    if !ok_status {
        return Err((ErrorKind::Status, true));
    }
    if let Some(field) = &step.expect_field {
        let has = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .is_some_and(|v| v.get(field).is_some());
        if !has {
            return Err((ErrorKind::Body, true));
        }
    }
    Ok(latency)
}

fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Other
    }
}

/// One health step's polling: what it asks, what it follows, where.
struct Poll {
    workload: String,
    step: super::spec::HealthStep,
    monitor: Arc<HealthMonitor>,
    log: Option<Arc<HealthLog>>,
}

async fn poll_health(client: reqwest::Client, poll: Poll, mut phase: watch::Receiver<Phase>) {
    let step = &poll.step.request;
    let unhealthy_after = poll.step.unhealthy_after;
    let mut tick = tokio::time::interval(poll.step.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let follows = poll.step.restarts.is_some() || !poll.step.track.is_empty();
    let mut body = String::new();
    let mut answer = Vec::new();
    let mut seq = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = phase.wait_for(|p| *p != Phase::Run) => return,
        }
        answer.clear();
        let keep = follows.then_some(&mut answer);
        let healthy = exchange(&client, step, 0, seq, &mut body, keep)
            .await
            .is_ok();
        if follows && healthy {
            poll.follow(&answer);
        }
        let (changed, flagged) = poll.monitor.record(healthy, unhealthy_after);
        if changed {
            tracing::info!(
                "health {}: {}",
                step.url,
                if healthy {
                    "healthy again"
                } else {
                    "unhealthy"
                }
            );
        }
        if flagged {
            tracing::warn!(
                "health {}: unhealthy for longer than {}; flagged",
                step.url,
                humantime::format_duration(unhealthy_after)
            );
        }
        seq += 1;
    }
}

impl Poll {
    /// Records the followed fields of one healthy answer and counts its
    /// restarts; an answer that is not JSON has nothing to follow.
    fn follow(&self, answer: &[u8]) {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(answer) else {
            return;
        };
        let at_s = self.log.as_ref().map_or(0.0, |l| l.elapsed_s());
        let mut cells: Vec<(&str, String, String)> = Vec::new();
        if let Some(path) = &self.poll_restarts() {
            let mut followed = self.monitor.followed.lock().ok();
            for m in path.find(&json) {
                if let (Some(f), Some(n)) = (followed.as_mut(), m.value.as_f64()) {
                    f.count(m.item.clone(), n, at_s);
                }
                cells.push((path.as_str(), m.item, super::json_path::cell(m.value)));
            }
        }
        for path in &self.step.track {
            for m in path.find(&json) {
                cells.push((path.as_str(), m.item, super::json_path::cell(m.value)));
            }
        }
        if let Some(log) = &self.log {
            let rows: Vec<HealthRow<'_>> = cells
                .iter()
                .map(|(path, item, value)| HealthRow {
                    elapsed_s: (at_s * 1000.0).round() / 1000.0,
                    workload: &self.workload,
                    step: &self.step.request.name,
                    path,
                    item,
                    value,
                })
                .collect();
            log.write(&rows);
        }
    }

    fn poll_restarts(&self) -> Option<&super::json_path::JsonPath> {
        self.step.restarts.as_ref()
    }
}
