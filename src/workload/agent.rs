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

    /// The record so far.
    pub(crate) fn summary(&self, name: &str) -> HealthSummary {
        let s = self.state.lock().map(|s| HealthSummary {
            name: name.to_string(),
            polls: s.polls,
            unhealthy_polls: s.unhealthy_polls,
            transitions: s.transitions,
            longest_unhealthy_s: s.longest_unhealthy.as_secs_f64(),
            flagged: s.flagged,
        });
        s.unwrap_or_default()
    }
}

/// Live state of one agent workload.
pub(crate) struct AgentRun {
    /// Per request step: name and counters.
    pub steps: Vec<(String, Arc<Stats>)>,
    /// Per health step: name and monitor.
    pub health: Vec<(String, Arc<HealthMonitor>)>,
}

/// What every agent of one workload shares.
struct AgentContext {
    client: reqwest::Client,
    steps: Vec<RequestStep>,
    acc: Accounting,
    pacing: Pacing,
}

/// Starts the agents and health polls of `spec`.
pub(crate) fn spawn(
    spec: &AgentSpec,
    stats: Arc<Stats>,
    judged_from: Instant,
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
            h.request.clone(),
            monitor.clone(),
            h.every,
            h.unhealthy_after,
            phase.clone(),
        )));
        health.push((h.request.name.clone(), monitor));
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
    let mut steps = AgentSteps {
        cx: cx.clone(),
        agent,
        body: String::new(),
    };
    sequence::run(&mut steps, cx.pacing, &cx.acc, phase).await;
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

async fn poll_health(
    client: reqwest::Client,
    step: RequestStep,
    monitor: Arc<HealthMonitor>,
    every: Duration,
    unhealthy_after: Duration,
    mut phase: watch::Receiver<Phase>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut body = String::new();
    let mut seq = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = phase.wait_for(|p| *p != Phase::Run) => return,
        }
        let healthy = send(&client, &step, 0, seq, &mut body).await.is_ok();
        let (changed, flagged) = monitor.record(healthy, unhealthy_after);
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
