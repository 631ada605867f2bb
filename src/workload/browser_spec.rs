//! A validated `browser` workload: the steps a scripted person takes on
//! the run's browser page, checked when the profile loads so a typo is an
//! error naming its line, not a step that fails for eight hours.

use std::time::Duration;

use crate::devtools::page::{self, Key};
use crate::profile::{BrowserAction, StepKind, StepSection, WorkloadSection};

use super::spec::{Pacing, Sensitive, SpecError};
use super::template::Template;
use crate::secrets::{check_env, expand_env};

/// A step's timeout by default.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause after each step by default (a person reading).
pub const THINK_TIME: Duration = Duration::from_secs(1);

/// A scripted person on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserWorkloadSpec {
    /// Name in outputs.
    pub name: String,
    /// How steps are paced.
    pub pacing: Pacing,
    /// The loop, in order.
    pub steps: Vec<BrowserStep>,
    /// Longest a step may take.
    pub timeout: Duration,
    /// The first step waits this long.
    pub ramp_up: Duration,
    /// What its load checks hold it to.
    pub load_limits: super::checks::Limits,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserStep {
    /// Name in outputs: the step's `name`, or `click #save`.
    pub name: String,
    /// What it does.
    pub action: Action,
}

/// What a step does, with what it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open this URL (`${ENV}` expanded) and wait for it to load.
    Navigate(Sensitive<String>),
    /// Click the element.
    Click(String),
    /// Type the text (a template) into the element, or where the focus is.
    Type {
        /// The element, if any.
        selector: Option<String>,
        /// The text.
        text: Sensitive<Template>,
    },
    /// Press the key.
    Press(Key),
    /// Wait until an element matches.
    WaitFor(String),
    /// Wait this long.
    Sleep(Duration),
    /// Run the script (`${ENV}` expanded).
    Eval(Sensitive<String>),
    /// Reload the page.
    Reload,
}

/// Builds a browser workload; `error(key, message)` places an error in
/// the profile.
pub(super) fn build(
    w: &WorkloadSection,
    name: String,
    ramp_up: Duration,
    error: &dyn Fn(&str, String) -> SpecError,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<BrowserWorkloadSpec, SpecError> {
    let pacing = match (w.think_time, w.rate) {
        (Some(_), Some(_)) => {
            return Err(error(
                "think_time",
                "set 'rate' or 'think_time', not both".into(),
            ))
        }
        (Some(t), None) => Pacing::Think(t.0),
        (None, Some(r)) => Pacing::Rate(r.0),
        (None, None) => Pacing::Think(THINK_TIME),
    };
    let base = w
        .base_url
        .as_deref()
        .map(&mut *expand)
        .transpose()
        .map_err(|m| error("base_url", m))?;
    let mut steps = Vec::new();
    for (j, s) in w.steps.iter().enumerate() {
        let step = step(s, base.as_deref(), expand).map_err(|(key, m)| {
            error(&format!("step.{j}.{key}"), format!("step {}: {m}", j + 1))
        })?;
        steps.push(step);
    }
    if steps.is_empty() {
        return Err(error(
            "",
            "a browser workload needs at least one [[workload.step]] with an action".into(),
        ));
    }
    Ok(BrowserWorkloadSpec {
        name,
        pacing,
        steps,
        timeout: w.timeout.map_or(STEP_TIMEOUT, |d| d.0),
        ramp_up,
        load_limits: super::checks::Limits::default(),
    })
}

type StepError = (&'static str, String);

fn step(
    s: &StepSection,
    base: Option<&str>,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<BrowserStep, StepError> {
    let action = checked_action(s)?;
    let action = action_of(action, s, base, expand)?;
    let name = s.name.clone().unwrap_or_else(|| describe(&action, s));
    Ok(BrowserStep { name, action })
}

/// The step's action, with no key of another kind of step or action.
fn checked_action(s: &StepSection) -> Result<BrowserAction, StepError> {
    let http_only: [(&str, bool); 10] = [
        ("method", s.method.is_some()),
        ("headers", !s.headers.is_empty()),
        ("json", s.json.is_some()),
        ("body", s.body.is_some()),
        ("expect_status", s.expect_status.is_some()),
        ("expect_field", s.expect_field.is_some()),
        ("every", s.every.is_some()),
        ("unhealthy_after", s.unhealthy_after.is_some()),
        ("track", !s.track.is_empty()),
        ("restarts", s.restarts.is_some()),
    ];
    if let Some((key, _)) = http_only.iter().find(|(_, set)| *set) {
        return Err((
            "action",
            format!("'{key}' is for HTTP steps of agent workloads; a browser step has an action"),
        ));
    }
    if s.kind == StepKind::Health {
        return Err((
            "kind",
            "health steps are for agent workloads (poll the backend with one beside the browser)"
                .into(),
        ));
    }
    let Some(action) = s.action else {
        return Err((
            "",
            "a browser step needs an 'action': navigate, click, type, press, wait, eval or reload"
                .into(),
        ));
    };
    // Which keys each action takes; the others are errors, not ignored.
    let allowed: &[&str] = match action {
        BrowserAction::Navigate => &["url", "path"],
        BrowserAction::Click => &["selector"],
        BrowserAction::Type => &["selector", "text"],
        BrowserAction::Press => &["key"],
        BrowserAction::Wait => &["selector", "duration"],
        BrowserAction::Eval => &["script"],
        BrowserAction::Reload => &[],
    };
    let given: [(&'static str, bool); 7] = [
        ("url", s.url.is_some()),
        ("path", s.path.is_some()),
        ("selector", s.selector.is_some()),
        ("text", s.text.is_some()),
        ("key", s.key.is_some()),
        ("script", s.script.is_some()),
        ("duration", s.duration.is_some()),
    ];
    match given.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        Some((key, _)) => Err((
            key,
            format!("'{key}' does not apply to a {} step", action.as_str()),
        )),
        None => Ok(action),
    }
}

/// `text` with its `${ENV}` expanded, errors placed at `key`.
fn expanded(text: &str, key: &'static str) -> Result<String, StepError> {
    check_env(text).map_err(|m| (key, m.to_string()))?;
    expand_env(text).map_err(|m| (key, m.to_string()))
}

/// The action a checked step runs.
fn action_of(
    action: BrowserAction,
    s: &StepSection,
    base: Option<&str>,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Action, StepError> {
    let need = |v: &Option<String>, key: &'static str, example: &str| {
        v.clone().filter(|x| !x.trim().is_empty()).ok_or((
            key,
            format!("a {} step needs '{key}', e.g. {example}", action.as_str()),
        ))
    };
    Ok(match action {
        BrowserAction::Navigate => {
            let url = super::spec::step_url(s, base, expand).map_err(|(key, m)| match key {
                "" => (
                    "",
                    "a navigate step needs 'url' (or 'path' with the workload's 'base_url')".into(),
                ),
                _ => (key, m),
            })?;
            Action::Navigate(Sensitive(expanded(&url, "url")?))
        }
        BrowserAction::Click => Action::Click(need(&s.selector, "selector", "\"#save\"")?),
        BrowserAction::Type => {
            let text = need(&s.text, "text", "\"edit {seq}\"")?;
            Action::Type {
                selector: s.selector.clone(),
                text: Sensitive(Template::parse(
                    &expanded(&text, "text")?,
                    super::spec::defaults::MESSAGE_BYTES,
                )),
            }
        }
        BrowserAction::Press => Action::Press(key_of(&need(&s.key, "key", "\"Enter\"")?)?),
        BrowserAction::Wait => match (&s.selector, s.duration) {
            (Some(sel), None) => Action::WaitFor(sel.clone()),
            (None, Some(d)) => Action::Sleep(d.0),
            (Some(_), Some(_)) => {
                return Err((
                    "duration",
                    "a wait step waits for a 'selector' or a 'duration', not both".into(),
                ))
            }
            (None, None) => {
                return Err((
                    "",
                    "a wait step needs a 'duration' (e.g. \"2s\") or a 'selector' to wait for"
                        .into(),
                ))
            }
        },
        BrowserAction::Eval => {
            let script = need(
                &s.script,
                "script",
                "\"document.querySelectorAll('li').length\"",
            )?;
            Action::Eval(Sensitive(expanded(&script, "script")?))
        }
        BrowserAction::Reload => Action::Reload,
    })
}

/// The key a press step presses.
fn key_of(name: &str) -> Result<page::Key, StepError> {
    page::key(name).ok_or_else(|| {
        (
            "key",
            format!(
                "'{name}' is not a key memsoak presses; it knows {}",
                page::KEYS
                    .iter()
                    .map(|k| if k.key == " " { "Space" } else { k.key })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// A step's default name: `click #save`, `navigate /editor`.
fn describe(action: &Action, s: &StepSection) -> String {
    match action {
        Action::Navigate(_) => format!(
            "navigate {}",
            s.path.as_deref().or(s.url.as_deref()).unwrap_or("")
        ),
        Action::Click(sel) => format!("click {sel}"),
        Action::Type { selector, .. } => match selector {
            Some(sel) => format!("type into {sel}"),
            None => "type".into(),
        },
        Action::Press(k) => format!("press {}", if k.key == " " { "Space" } else { k.key }),
        Action::WaitFor(sel) => format!("wait for {sel}"),
        Action::Sleep(d) => format!("wait {}", humantime::format_duration(*d)),
        Action::Eval(_) => "eval".into(),
        Action::Reload => "reload".into(),
    }
}
