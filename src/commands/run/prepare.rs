//! The first phase of a run: everything before the measured clock starts.
//!
//! A run that cannot start leaves no run folder behind: a missing pid and
//! a source that cannot be read are found before the folder is made, and a
//! program that cannot be started removes the folder made for its logs.

use std::time::Duration;

use super::{interrupted, say};
use crate::allocations;
use crate::commands::{run_folder, Failure};
use crate::config::{Readiness, RunConfig, SourceSpec, TargetSpec};
use crate::live;
use crate::process::{pid_alive, wait_ready, Target, TargetError};
use crate::source::{self, RunContext, TargetView};

/// How long a launched target must stay up after its readiness check
/// answered, so a check answered by another process is noticed.
const SETTLE: Duration = Duration::from_millis(500);

/// A run ready to measure. Fields drop in order: the target is stopped
/// before the source goes (a cgroup memsoak made is removed once empty).
pub(super) struct Prepared {
    /// The target, launched (armed for the profiler) or attached.
    pub(super) target: Target,
    /// The memory source's session, started.
    pub(super) source: Box<dyn source::Session>,
    /// The allocation profiler's session, when one was asked for.
    pub(super) profiler: Option<allocations::Session>,
    /// What the source's steps need of the run.
    pub(super) context: RunContext,
}

impl Prepared {
    /// The target as the source sees it.
    pub(super) fn target_view(&self, config: &RunConfig) -> TargetView {
        view_of(&self.target, &config.target)
    }
}

/// The target as a source sees it.
fn view_of(target: &Target, spec: &TargetSpec) -> TargetView {
    match (target.process_group(), spec) {
        (_, TargetSpec::None) => TargetView::None,
        (Some(group), _) => TargetView::Launched {
            pid: target.pid(),
            group,
            helpers: target.watchdog_pid().into_iter().collect(),
        },
        (None, _) => TargetView::Attached { pid: target.pid() },
    }
}

/// The run folder, the source, the target and its readiness; `None` when
/// interrupted while waiting.
pub(super) async fn prepare(
    config: &RunConfig,
    options: live::Options,
) -> Result<Option<Prepared>, Failure> {
    let dir = &config.out_dir;
    if let TargetSpec::Attach { pid } = &config.target {
        if !pid_alive(*pid) {
            return Err(Failure::Target(TargetError::NoSuchPid(*pid).into()));
        }
    }
    let mut source = source::check(&config.source)
        .await
        .map_err(Failure::Usage)?;
    if matches!(config.target, TargetSpec::None) {
        source.check_alone().map_err(Failure::Usage)?;
    }
    let existed = run_folder::prepare(dir, options)?;
    say(
        options,
        &format!(
            "memsoak: {} → {}",
            describe_target(&config.target, &config.source),
            dir.display()
        ),
    );
    let mut spec = config.target.clone();
    if let TargetSpec::Launch(launch) = &mut spec {
        source.prepare_target(launch).map_err(Failure::Usage)?;
    }
    let profiler = arm_profiler(config, &mut spec, options);
    let started_at = std::time::SystemTime::now();
    let mut target = match Target::start(&spec, dir, config.stop_grace) {
        Ok(t) => t,
        Err(e) => {
            if !existed {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(Failure::Target(e.into()));
        }
    };
    match until_ready(config, &mut target, options).await {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(Failure::Target(e)) => {
            super::conclude::record_unready(config, &target, started_at, &format!("{e:#}"), dir);
            return Err(Failure::Target(e));
        }
        Err(e) => return Err(e),
    }
    let context = RunContext {
        out_dir: dir.clone(),
        interval: config.interval,
        duration: config.duration,
        stop_grace: config.stop_grace,
        ready_timeout: config.ready_timeout,
    };
    // A browser page opens once the backend it talks to is ready.
    tokio::select! {
        r = source.start(&context) => if let Err(e) = r {
            super::conclude::record_unready(config, &target, started_at, &format!("{e:#}"), dir);
            return Err(Failure::Target(e));
        },
        _ = interrupted() => {
            target.stop();
            say(options, "memsoak: interrupted while opening the browser page");
            return Ok(None);
        }
    }
    Ok(Some(Prepared {
        target,
        source,
        profiler,
        context,
    }))
}

/// The profiler's session, armed in a launched target's command.
fn arm_profiler(
    config: &RunConfig,
    spec: &mut TargetSpec,
    options: live::Options,
) -> Option<allocations::Session> {
    let settings = config.profiler.clone()?;
    let mut session = allocations::Session::new(allocations::Context {
        run_dir: config.out_dir.clone(),
        settings,
    });
    if let TargetSpec::Launch(launch) = spec {
        session.arm(launch);
    }
    if let Some(why) = session.failure() {
        say(
            options,
            &format!(
                "memsoak: the {} profiler will not run: {why}",
                session.kind().name()
            ),
        );
    }
    Some(session)
}

/// Waits for the readiness check; false when interrupted. A launched
/// target that ends right after its check answered was not the one
/// answering.
async fn until_ready(
    config: &RunConfig,
    target: &mut Target,
    options: live::Options,
) -> Result<bool, Failure> {
    let Some(readiness) = &config.readiness else {
        return Ok(true);
    };
    tokio::select! {
        r = wait_ready(target, readiness, config.ready_timeout, &config.tls) => {
            r.map_err(|e| Failure::Target(e.into()))?;
        }
        _ = interrupted() => {
            target.stop();
            say(options, "memsoak: interrupted while waiting for the target to be ready");
            return Ok(false);
        }
    }
    // Another process may be the one answering (the port was taken): then
    // the launched one exits at once, typically "address in use".
    if target.is_launched() {
        if let Ok(info) = tokio::time::timeout(SETTLE, target.exited()).await {
            let probe = match readiness {
                Readiness::Http(url) => format!("GET {url}"),
                Readiness::Tcp(addr) => format!("TCP {addr}"),
            };
            return Err(Failure::Target(anyhow::anyhow!(
                "the target ended right after {probe} answered ({}): another process may be answering there (is the port free?){}",
                info.describe(),
                target.stderr_tail()
            )));
        }
    }
    Ok(true)
}

/// The first line of a run: what memsoak is about to do.
fn describe_target(t: &TargetSpec, source: &SourceSpec) -> String {
    use crate::source::PageSpec;
    match (t, source) {
        (TargetSpec::Launch(_), _) => format!("launching {}", t.command_line().join(" ")),
        (TargetSpec::Attach { pid }, _) => format!("attaching to pid {pid}"),
        (TargetSpec::None, SourceSpec::Cdp(c)) => match &c.page {
            PageSpec::Attach { endpoint, .. } => {
                format!("attaching to a browser page through {endpoint}")
            }
            PageSpec::Launch { url, .. } => format!("opening {url} in a browser"),
        },
        (TargetSpec::None, _) => {
            "reading the memory source alone (no process to launch or attach)".into()
        }
    }
}
