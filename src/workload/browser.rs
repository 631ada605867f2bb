//! browser workload: a scripted person using the run's browser page for
//! hours — navigate, click, type, press, wait, run a script — in a loop,
//! like an agent's HTTP sequence. Each step is a "send": counted, timed
//! and, when it fails, counted by kind (`no_element`, `script`,
//! `navigation`, `timeout`, `closed`), never ending the run.
//!
//! It drives the page the DevTools source attached to (the same session
//! the sampler reads), so the page whose heap is judged is the page being
//! used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::agent::AgentRun;
use super::browser_spec::{Action, BrowserWorkloadSpec};
use super::pacing::sleep_or_stop;
use super::sequence::{self, Accounting, StepOutcome, Steps};
use super::stats::{ErrorKind, Stats};
use super::template::Values;
use super::{unix_us, Phase};
use crate::devtools::page::{self, PageError};
use crate::devtools::{CdpError, Session};

/// Starts the scripted person of `spec` on `page`.
pub(crate) fn spawn(
    spec: &BrowserWorkloadSpec,
    page: Session,
    stats: Arc<Stats>,
    judged_from: Instant,
    phase: &watch::Receiver<Phase>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> AgentRun {
    let acc = Accounting::new(stats, spec.steps.len(), judged_from);
    let run = AgentRun {
        steps: acc.by_name(spec.steps.iter().map(|s| s.name.clone())),
        health: Vec::new(),
    };
    let mut person = Person {
        spec: spec.clone(),
        page,
        text: String::new(),
    };
    let mut phase = phase.clone();
    tasks.push(tokio::spawn(async move {
        if sleep_or_stop(person.spec.ramp_up, &mut phase).await {
            let pacing = person.spec.pacing;
            sequence::run(&mut person, pacing, None, &acc, phase).await;
        }
    }));
    run
}

/// The scripted person: the steps, the page, and a buffer for typed text.
struct Person {
    spec: BrowserWorkloadSpec,
    page: Session,
    text: String,
}

impl Steps for Person {
    async fn run(&mut self, index: usize, seq: u64) -> StepOutcome {
        let started = Instant::now();
        let step = &self.spec.steps[index];
        // A wait step's own duration does not count against its timeout.
        let limit = match step.action {
            Action::Sleep(d) => d + self.spec.timeout,
            _ => self.spec.timeout,
        };
        let done = act(
            &self.page,
            &step.action,
            seq,
            self.spec.timeout,
            &mut self.text,
        );
        let outcome = tokio::time::timeout(limit, done).await.unwrap_or_else(|_| {
            Err(PageError::Timeout(format!(
                "'{}' took longer than {}",
                step.name,
                humantime::format_duration(limit)
            )))
        });
        match outcome {
            Ok(()) => Ok(started.elapsed()),
            Err(e) => {
                tracing::debug!(
                    "browser workload '{}': step '{}': {}",
                    self.spec.name,
                    step.name,
                    crate::secrets::redact(&e.to_string())
                );
                Err((kind(&e), false))
            }
        }
    }
}

/// Does one step.
async fn act(
    page: &Session,
    action: &Action,
    seq: u64,
    timeout: Duration,
    text: &mut String,
) -> Result<(), PageError> {
    match action {
        Action::Navigate(url) => page::navigate(page, &url.0, timeout).await,
        Action::Click(selector) => page::click(page, selector, timeout).await,
        Action::Type { selector, text: t } => {
            t.0.render(
                &Values {
                    doc: "",
                    doc_index: 0,
                    client: 0,
                    seq,
                    sent_unix_us: unix_us(),
                },
                text,
            );
            page::type_text(page, selector.as_deref(), text, timeout).await
        }
        Action::Press(key) => page::press(page, *key, timeout).await,
        Action::WaitFor(selector) => page::wait_for(page, selector, timeout).await,
        Action::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
        Action::Eval(script) => page::evaluate(page, &script.0, timeout).await.map(|_| ()),
        Action::Reload => page::reload(page, timeout).await,
    }
}

/// The error kind a failed step is counted under.
fn kind(e: &PageError) -> ErrorKind {
    match e {
        PageError::NoElement(_) | PageError::Invisible(_) => ErrorKind::NoElement,
        PageError::Script(_) => ErrorKind::Script,
        PageError::Navigation { .. } => ErrorKind::Navigation,
        PageError::Timeout(_) | PageError::Cdp(CdpError::Timeout { .. }) => ErrorKind::Timeout,
        PageError::Cdp(e) if e.is_closed() => ErrorKind::Closed,
        PageError::Cdp(_) => ErrorKind::Other,
    }
}
