//! Validated workloads: the `[[workload]]` sections checked and completed
//! with defaults. Errors name the workload and the key.

use std::time::Duration;

use crate::profile::{StepKind, StepSection, WorkloadKind, WorkloadSection};

pub use super::collab_spec::CollabSpec;
use super::template::Template;
use crate::secrets::{check_env, expand_env};
use crate::tls::Trust;

/// A workload that cannot run: what is wrong, and where in the profile
/// (`["workload", "0", "step", "1", "url"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    /// The key's path in the profile.
    pub at: Vec<String>,
    /// What is wrong, naming the workload.
    pub message: String,
}

/// Defaults for workloads.
pub mod defaults {
    use std::time::Duration;
    /// Rate per collab client.
    pub const COLLAB_RATE: f64 = 1.0;
    /// Rate per agent.
    pub const AGENT_RATE: f64 = 1.0;
    /// Size of `{random}`.
    pub const MESSAGE_BYTES: usize = 64;
    /// First reconnect delay.
    pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
    /// Longest reconnect delay.
    pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
    /// HTTP request timeout.
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// Health poll interval.
    pub const HEALTH_EVERY: Duration = Duration::from_secs(30);
    /// Unhealthy for this long flags the target.
    pub const UNHEALTHY_AFTER: Duration = Duration::from_secs(60);
    /// Largest message or body one rendering may make: `{random:N}` and
    /// `message_bytes` beyond it are refused at load, not met as an
    /// allocation failure hours into a run.
    pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
    /// Most clients (collab) or agents one workload may run.
    pub const MAX_CLIENTS: u32 = 100_000;
    /// The default collab message.
    pub const MESSAGE: &str =
        r#"{"doc":"{doc}","client":{client},"seq":{seq},"tag":"{tag}","text":"{random}"}"#;
}

/// One validated workload.
// A handful per run, built once: boxing the largest would only move it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSpec {
    /// WebSocket collaboration clients.
    Collab(CollabSpec),
    /// Scripted HTTP agents.
    Agent(AgentSpec),
    /// A scripted person on the run's browser page.
    Browser(super::browser_spec::BrowserWorkloadSpec),
}

impl WorkloadSpec {
    /// The workload's name.
    pub fn name(&self) -> &str {
        match self {
            WorkloadSpec::Collab(c) => &c.name,
            WorkloadSpec::Agent(a) => &a.name,
            WorkloadSpec::Browser(b) => &b.name,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> WorkloadKind {
        match self {
            WorkloadSpec::Collab(_) => WorkloadKind::Collab,
            WorkloadSpec::Agent(_) => WorkloadKind::Agent,
            WorkloadSpec::Browser(_) => WorkloadKind::Browser,
        }
    }

    /// What its load checks hold it to.
    pub fn load_limits(&self) -> super::checks::Limits {
        match self {
            WorkloadSpec::Collab(c) => c.load_limits,
            WorkloadSpec::Agent(a) => a.load_limits,
            WorkloadSpec::Browser(b) => b.load_limits,
        }
    }

    /// Its open-loop schedule: the rate of each client or agent and how
    /// many there are; `None` for a closed loop or clients that never send.
    pub fn schedule(&self) -> Option<(f64, u32)> {
        match self {
            WorkloadSpec::Collab(c) => c
                .rate_per_client
                .map(|r| (r, c.docs.saturating_mul(c.clients_per_doc))),
            WorkloadSpec::Agent(a) => match a.pacing {
                Pacing::Rate(r) if !a.steps.is_empty() => Some((r, a.agents)),
                _ => None,
            },
            WorkloadSpec::Browser(_) => None,
        }
    }

    /// How long until every client or agent has started.
    pub fn ramp_up(&self) -> Duration {
        match self {
            WorkloadSpec::Collab(c) => c.ramp_up,
            WorkloadSpec::Agent(a) => a.ramp_up,
            WorkloadSpec::Browser(b) => b.ramp_up,
        }
    }
}

/// Reconnect policy after failures: `initial · 2^n`, capped, with ±20% jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Failures in a row before giving up; `None` retries forever.
    pub max_retries: Option<u32>,
}

impl Backoff {
    /// Nominal delay before retry number `attempt` (0-based), without jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Virtual agents running HTTP request sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// Name in outputs.
    pub name: String,
    /// Concurrent agents.
    pub agents: u32,
    /// How agents are paced.
    pub pacing: Pacing,
    /// The loop each agent runs.
    pub steps: Vec<RequestStep>,
    /// Health polls, each on its own interval.
    pub health: Vec<HealthStep>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Agents start spread over this long.
    pub ramp_up: Duration,
    /// What `https://` trusts.
    pub trust: Trust,
    /// What its load checks hold it to.
    pub load_limits: super::checks::Limits,
}

/// Open-loop rate or closed-loop think time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Steps per second per agent, on a fixed schedule.
    Rate(f64),
    /// Pause after each step.
    Think(Duration),
}

/// One HTTP request of an agent's loop, parsed and ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestStep {
    /// Name in outputs.
    pub name: String,
    /// HTTP method.
    pub method: reqwest::Method,
    /// URL as written, `${ENV}` unexpanded: what logs and messages show.
    pub url: String,
    /// What is sent: `${ENV}` expanded, so it may hold secrets.
    pub request: Sensitive<Request>,
    /// Whether the body is JSON.
    pub json: bool,
    /// Expected status; `None` accepts any 2xx.
    pub expect_status: Option<u16>,
    /// Top-level JSON field the response must have.
    pub expect_field: Option<String>,
}

/// The parts of a request that may carry secrets from `${ENV}`.
#[derive(Clone, PartialEq)]
pub struct Request {
    /// URL, expanded.
    pub url: String,
    /// Headers, expanded (values marked sensitive).
    pub headers: reqwest::header::HeaderMap,
    /// Body template, expanded.
    pub body: Option<Template>,
}

/// A value that never shows in `Debug` output: it may hold a secret.
#[derive(Clone, PartialEq)]
pub struct Sensitive<T>(pub T);

impl<T> std::fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A health poll.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthStep {
    /// The request.
    pub request: RequestStep,
    /// Poll interval.
    pub every: Duration,
    /// Flag after this long unhealthy.
    pub unhealthy_after: Duration,
    /// Fields of the JSON answer recorded at every poll.
    pub track: Vec<super::json_path::JsonPath>,
    /// A restart counter in the JSON answer, counted per item.
    pub restarts: Option<super::json_path::JsonPath>,
}

/// Builds the validated workloads; `expand` applies the run's placeholders
/// (`{port}`) to URLs; `trust` is what their `wss://` and `https://`
/// connections trust.
pub fn build(
    sections: &[WorkloadSection],
    trust: &Trust,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Vec<WorkloadSpec>, SpecError> {
    let mut specs: Vec<WorkloadSpec> = Vec::new();
    for (i, w) in sections.iter().enumerate() {
        let name = w
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", w.kind, i + 1));
        let at = Place {
            index: i,
            name: &name,
        };
        if specs.iter().any(|s| s.name() == name) {
            return Err(at.error("name", "two workloads have this name".into()));
        }
        check_keys_apply(w, &at)?;
        if w.rate.is_some() && w.total_rate.is_some() {
            return Err(at.error("total_rate", "set 'rate' or 'total_rate', not both".into()));
        }
        let common = Common {
            backoff: Backoff {
                initial: w.backoff_initial.map_or(defaults::BACKOFF_INITIAL, |d| d.0),
                max: w.backoff_max.map_or(defaults::BACKOFF_MAX, |d| d.0),
                max_retries: w.max_retries,
            },
            ramp_up: w.ramp_up.map_or(Duration::ZERO, |d| d.0),
        };
        let spec = match w.kind {
            WorkloadKind::Collab => WorkloadSpec::Collab(super::collab_spec::build(
                w,
                super::collab_spec::Common {
                    name: name.clone(),
                    backoff: common.backoff,
                    ramp_up: common.ramp_up,
                    trust: trust.clone(),
                },
                &|key, m| at.error(key, m),
                expand,
            )?),
            WorkloadKind::Agent => {
                WorkloadSpec::Agent(agent(w, name.clone(), common, trust, &at, expand)?)
            }
            WorkloadKind::Browser => WorkloadSpec::Browser(super::browser_spec::build(
                w,
                name.clone(),
                common.ramp_up,
                &|key, m| at.error(key, m),
                expand,
            )?),
        };
        let mut spec = spec;
        let limits = load_limits(w, &spec, &at)?;
        match &mut spec {
            WorkloadSpec::Collab(c) => c.load_limits = limits,
            WorkloadSpec::Agent(a) => a.load_limits = limits,
            WorkloadSpec::Browser(b) => b.load_limits = limits,
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// `[workload.checks]` over the defaults; a key that cannot apply to this
/// workload is an error, not a check that silently never runs.
fn load_limits(
    w: &WorkloadSection,
    spec: &WorkloadSpec,
    at: &Place<'_>,
) -> Result<super::checks::Limits, SpecError> {
    let mut limits = super::checks::Limits::default();
    let Some(c) = &w.checks else {
        return Ok(limits);
    };
    let collab = w.kind == WorkloadKind::Collab;
    let follows_restarts = match spec {
        WorkloadSpec::Agent(a) => a.health.iter().any(|h| h.restarts.is_some()),
        _ => false,
    };
    let misplaced = [
        (
            "max_lost",
            c.max_lost.is_some() && !collab,
            "collab workloads",
        ),
        (
            "max_unconnected",
            c.max_unconnected.is_some() && !collab,
            "collab workloads",
        ),
        (
            "max_gave_up",
            c.max_gave_up.is_some() && !collab,
            "collab workloads",
        ),
        (
            "min_rate",
            c.min_rate.is_some() && spec.schedule().is_none(),
            "workloads that send at a rate",
        ),
        (
            "max_restarts",
            c.max_restarts.is_some() && !follows_restarts,
            "agent workloads with a health step that follows restarts (`restarts = \"...\"`)",
        ),
    ];
    if let Some((key, _, applies)) = misplaced.iter().find(|(_, bad, _)| *bad) {
        return Err(at.error(
            &format!("checks.{key}"),
            format!("'{key}' applies only to {applies}"),
        ));
    }
    let set = |v: Option<crate::units::Share>, d: f64| v.map_or(d, |s| s.0);
    limits.max_lost = set(c.max_lost, limits.max_lost);
    limits.max_errors = set(c.max_errors, limits.max_errors);
    limits.min_rate = set(c.min_rate, limits.min_rate);
    limits.max_unconnected = set(c.max_unconnected, limits.max_unconnected);
    limits.max_gave_up = set(c.max_gave_up, limits.max_gave_up);
    limits.max_restarts = c.max_restarts;
    Ok(limits)
}

/// Where in the profile a workload's errors are placed.
struct Place<'a> {
    index: usize,
    name: &'a str,
}

impl Place<'_> {
    /// The error `m`, placed at `key` of this workload (empty: the table).
    fn error(&self, key: &str, m: String) -> SpecError {
        SpecError {
            at: [String::from("workload"), self.index.to_string()]
                .into_iter()
                .chain(key.split('.').filter(|k| !k.is_empty()).map(String::from))
                .collect(),
            message: format!("[[workload]] '{}': {m}", self.name),
        }
    }
}

/// Settings both kinds share.
#[derive(Clone, Copy)]
struct Common {
    backoff: Backoff,
    ramp_up: Duration,
}

/// Keys of the other kind are errors, not silently ignored.
fn check_keys_apply(w: &WorkloadSection, at: &Place<'_>) -> Result<(), SpecError> {
    let collab_only = [
        ("url", w.url.is_some()),
        ("docs", w.docs.is_some()),
        ("clients_per_doc", w.clients_per_doc.is_some()),
        ("message", w.message.is_some()),
        ("message_bytes", w.message_bytes.is_some()),
        ("churn_interval", w.churn_interval.is_some()),
        ("abrupt_fraction", w.abrupt_fraction.is_some()),
        ("read", w.read.is_some()),
        ("protocol", w.protocol.is_some()),
        ("send", w.send.is_some()),
        ("message_hex", w.message_hex.is_some()),
        ("message_base64", w.message_base64.is_some()),
        ("delivery", w.delivery.is_some()),
        ("on_open", !w.on_open.is_empty()),
        ("reply", !w.replies.is_empty()),
        ("yjs", w.yjs.is_some()),
        ("socketio", w.socketio.is_some()),
    ];
    let misplaced: &[(&str, bool)] = match w.kind {
        WorkloadKind::Collab => &[
            ("base_url", w.base_url.is_some()),
            ("agents", w.agents.is_some()),
            ("think_time", w.think_time.is_some()),
            ("timeout", w.timeout.is_some()),
            ("step", !w.steps.is_empty()),
        ],
        WorkloadKind::Agent => &collab_only,
        // One page, driven by one scripted person, that never reconnects.
        WorkloadKind::Browser => &[
            collab_only.as_slice(),
            &[
                ("agents", w.agents.is_some()),
                ("total_rate", w.total_rate.is_some()),
                ("backoff_initial", w.backoff_initial.is_some()),
                ("backoff_max", w.backoff_max.is_some()),
                ("max_retries", w.max_retries.is_some()),
            ],
        ]
        .concat(),
    };
    match misplaced.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(at.error(
            key,
            format!("key '{key}' does not apply to {} workloads", w.kind),
        )),
        None => Ok(()),
    }
}

/// An `agent` workload.
fn agent(
    w: &WorkloadSection,
    name: String,
    Common { ramp_up, .. }: Common,
    trust: &Trust,
    at: &Place<'_>,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<AgentSpec, SpecError> {
    let at = |key: &str, m: String| at.error(key, m);
    let agents = w.agents.unwrap_or(1);
    if agents == 0 {
        return Err(at("agents", "'agents' must be at least 1".into()));
    }
    if agents > defaults::MAX_CLIENTS {
        return Err(at(
            "agents",
            format!("'agents' must be at most {}", defaults::MAX_CLIENTS),
        ));
    }
    let pacing = match (w.think_time, w.rate, w.total_rate) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(at(
                "think_time",
                "set a rate or 'think_time', not both".into(),
            ))
        }
        (Some(t), None, None) => Pacing::Think(t.0),
        (None, Some(r), _) => Pacing::Rate(r.0),
        (None, None, Some(t)) => Pacing::Rate(t.0 / f64::from(agents)),
        (None, None, None) => Pacing::Rate(defaults::AGENT_RATE),
    };
    let base = w
        .base_url
        .as_deref()
        .map(&mut *expand)
        .transpose()
        .map_err(|m| at("base_url", m))?;
    let (steps, health) = agent_steps(w, base.as_deref(), &at, expand)?;
    if steps.is_empty() && health.is_empty() {
        return Err(at(
            "",
            "an agent workload needs at least one [[workload.step]]".into(),
        ));
    }
    Ok(AgentSpec {
        name,
        agents,
        pacing,
        steps,
        health,
        timeout: w.timeout.map_or(defaults::TIMEOUT, |d| d.0),
        ramp_up,
        trust: trust.clone(),
        load_limits: super::checks::Limits::default(),
    })
}

/// An agent's request steps and health polls.
fn agent_steps(
    w: &WorkloadSection,
    base: Option<&str>,
    at: &dyn Fn(&str, String) -> SpecError,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<(Vec<RequestStep>, Vec<HealthStep>), SpecError> {
    let mut steps = Vec::new();
    let mut health = Vec::new();
    for (j, s) in w.steps.iter().enumerate() {
        let browser_key = [
            ("action", s.action.is_some()),
            ("selector", s.selector.is_some()),
            ("text", s.text.is_some()),
            ("key", s.key.is_some()),
            ("script", s.script.is_some()),
            ("duration", s.duration.is_some()),
        ]
        .into_iter()
        .find(|(_, set)| *set);
        if let Some((key, _)) = browser_key {
            return Err(at(
                &format!("step.{j}.{key}"),
                format!(
                    "step {}: '{key}' is for steps of browser workloads (kind = \"browser\")",
                    j + 1
                ),
            ));
        }
        let step = request_step(s, base, expand)
            .map_err(|(key, m)| at(&format!("step.{j}.{key}"), format!("step {}: {m}", j + 1)))?;
        match s.kind {
            StepKind::Request => {
                let health_only = [
                    ("every", s.every.is_some()),
                    ("unhealthy_after", s.unhealthy_after.is_some()),
                    ("track", !s.track.is_empty()),
                    ("restarts", s.restarts.is_some()),
                ];
                if let Some((key, _)) = health_only.iter().find(|(_, set)| *set) {
                    return Err(at(
                        &format!("step.{j}.{key}"),
                        format!("step {}: '{key}' applies to kind = \"health\" steps", j + 1),
                    ));
                }
                steps.push(step);
            }
            StepKind::Health => {
                let path = |key: &str, text: &str| {
                    super::json_path::JsonPath::parse(text)
                        .map_err(|m| at(&format!("step.{j}.{key}"), format!("step {}: {m}", j + 1)))
                };
                let track = s
                    .track
                    .iter()
                    .map(|t| path("track", t))
                    .collect::<Result<_, _>>()?;
                let restarts = s
                    .restarts
                    .as_deref()
                    .map(|r| path("restarts", r))
                    .transpose()?;
                health.push(HealthStep {
                    request: step,
                    every: s.every.map_or(defaults::HEALTH_EVERY, |d| d.0),
                    unhealthy_after: s.unhealthy_after.map_or(defaults::UNHEALTHY_AFTER, |d| d.0),
                    track,
                    restarts,
                });
            }
        }
    }
    Ok((steps, health))
}

fn request_step(
    s: &StepSection,
    base: Option<&str>,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<RequestStep, (&'static str, String)> {
    let url = step_url(s, base, expand)?;
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("${")) {
        return Err((
            "url",
            format!("url '{url}' must start with http:// or https://"),
        ));
    }
    check_env(&url).map_err(|m| ("url", m.to_string()))?;
    let (body_text, json) = match (&s.json, &s.body) {
        (Some(j), None) => (Some(j.clone()), true),
        (None, Some(b)) => (Some(b.clone()), false),
        (None, None) => (None, false),
        (Some(_), Some(_)) => return Err(("body", "set 'json' or 'body', not both".into())),
    };
    if let Some(b) = &body_text {
        check_env(b).map_err(|m| (if json { "json" } else { "body" }, m.to_string()))?;
    }
    for v in s.headers.values() {
        check_env(v).map_err(|m| ("headers", m.to_string()))?;
    }
    let method = s
        .method
        .clone()
        .unwrap_or_else(|| if body_text.is_some() { "POST" } else { "GET" }.into())
        .to_ascii_uppercase();
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| ("method", format!("'{method}' is not an HTTP method")))?;
    let path = url
        .split_once("://")
        .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string()));
    let request = Request {
        url: expand_env(&url).map_err(|m| ("url", m.to_string()))?,
        headers: headers(&s.headers)?,
        body: match &body_text {
            Some(b) => Some(Template::parse(
                &expand_env(b).map_err(|m| (if json { "json" } else { "body" }, m.to_string()))?,
                defaults::MESSAGE_BYTES,
            )),
            None => None,
        },
    };
    if request
        .body
        .as_ref()
        .is_some_and(|b| b.random_bytes() > defaults::MAX_MESSAGE_BYTES)
    {
        let key = if json { "json" } else { "body" };
        return Err((key, too_big(&format!("{{random:N}} in '{key}'"))));
    }
    Ok(RequestStep {
        name: s
            .name
            .clone()
            .unwrap_or_else(|| format!("{method} {}", path.unwrap_or_else(|| "/".into()))),
        method,
        url,
        request: Sensitive(request),
        json,
        expect_status: s.expect_status,
        expect_field: s.expect_field.clone(),
    })
}

/// A step's URL: its `url`, or its `path` joined to the workload's
/// `base_url`, placeholders expanded.
pub(super) fn step_url(
    s: &StepSection,
    base: Option<&str>,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, (&'static str, String)> {
    match (&s.url, &s.path, base) {
        (Some(u), None, _) => expand(u).map_err(|m| ("url", m)),
        (None, Some(p), Some(b)) => Ok(format!(
            "{}/{}",
            b.trim_end_matches('/'),
            expand(p).map_err(|m| ("path", m))?.trim_start_matches('/')
        )),
        (None, Some(_), None) => Err((
            "path",
            "'path' needs the workload's 'base_url' (or give 'url')".into(),
        )),
        (Some(_), Some(_), _) => Err(("path", "set 'url' or 'path', not both".into())),
        (None, None, _) => Err(("", "'url' or 'path' is required".into())),
    }
}

/// The error for a size beyond [`defaults::MAX_MESSAGE_BYTES`].
pub(super) fn too_big(what: &str) -> String {
    format!(
        "{what} makes messages larger than {} MiB",
        defaults::MAX_MESSAGE_BYTES >> 20
    )
}

/// The headers, `${ENV}` expanded and checked as HTTP. Errors name the
/// header, never its value: it may hold a secret.
pub(crate) fn headers(
    given: &std::collections::BTreeMap<String, String>,
) -> Result<reqwest::header::HeaderMap, (&'static str, String)> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in given {
        let value = expand_env(v).map_err(|m| ("headers", m.to_string()))?;
        let key = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ("headers", format!("'{k}' is not a valid header name")))?;
        let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            (
                "headers",
                format!("the value of header '{k}' is not valid in HTTP"),
            )
        })?;
        value.set_sensitive(true);
        headers.insert(key, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            max_retries: None,
        };
        let delays: Vec<u64> = (0..7).map(|n| b.nominal(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
    }
}
