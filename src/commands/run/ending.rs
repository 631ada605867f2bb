//! How the measured phase ended, and what that says of the target: the
//! exit status memsoak saw, the failure (exit 3) when it was one, and the
//! exit code the run's verdict maps to.

use std::time::Duration;

use crate::analysis::{EarlyFail, Verdict};
use crate::commands::{exit, exit_code_for};
use crate::config::{RunConfig, TargetSpec};
use crate::output::TargetSummary;
use crate::process::{ExitInfo, Target};
use crate::sampler::EventKind;
use crate::source::{SourceKind, SourceRead, SourceSummary};

/// Why the measured phase ended.
pub(super) enum Ending {
    Completed,
    FailedEarly(EarlyFail),
    TargetExited(ExitInfo),
    TargetGone,
    /// A launcher that exited 0 left processes behind, and they all ended.
    LeftProcessesGone(ExitInfo),
    Interrupted,
}

impl Ending {
    /// The exit code of a run that ended so, with `verdict`: an
    /// interruption and a target failure keep their own codes; a load
    /// failure (`verdict`) has its own.
    pub(super) fn exit_code(
        &self,
        verdict: Verdict,
        config: &RunConfig,
        target_failed: bool,
    ) -> i32 {
        match self {
            Ending::Interrupted => exit::INTERRUPTED,
            _ if target_failed => exit::TARGET,
            Ending::TargetExited(_) | Ending::TargetGone | Ending::LeftProcessesGone(_) => {
                exit::TARGET
            }
            _ => exit_code_for(verdict, config.judge.on_inconclusive),
        }
    }

    /// The early look that ended the run, if one did.
    pub(super) fn fail_fast(&self) -> Option<EarlyFail> {
        match self {
            Ending::FailedEarly(e) => Some(*e),
            _ => None,
        }
    }
}

/// What memsoak saw of the target's end.
pub(super) struct Seen {
    /// When the measured phase ended.
    pub(super) ended_at: Duration,
    /// Exit status of a target memsoak stopped.
    pub(super) stopped: Option<ExitInfo>,
    /// A launcher that exited 0 during the run, leaving processes.
    pub(super) launcher_exited: Option<ExitInfo>,
}

/// The target, how it ended, and the failure that decides exit 3, if any
/// (a replica restart counts with `--restarts-fail`).
pub(super) fn target_summary(
    config: &RunConfig,
    target: &Target,
    ending: &Ending,
    seen: &Seen,
    source: &SourceSummary,
) -> TargetSummary {
    let (exit_info, failure) = how_it_ended(config, target, ending, seen, source);
    let launcher_exited = seen.launcher_exited;
    TargetSummary {
        mode: config.target.mode(),
        pid: target.pid(),
        command: config.target.command_line(),
        exit: exit_info,
        exit_description: exit_info.map(|i| match (&failure, launcher_exited) {
            (Some(_), _) => i.describe(),
            (None, Some(_)) => format!(
                "the launcher exited by itself ({}); the processes it left were stopped by memsoak",
                i.describe()
            ),
            (None, None) => format!("stopped by memsoak: {}", i.describe()),
        }),
        failure: failure.or_else(|| restart_failure(source)),
        stderr_tail: Vec::new(),
        // Filled in from the sampler's outcome.
        max_processes: 0,
    }
}

/// A restart as a failure, when asked for (`--restarts-fail`).
fn restart_failure(source: &SourceSummary) -> Option<String> {
    let restarts = source.restarts();
    (source.restarts_fail() && restarts > 0).then(|| {
        let first = source.events.iter().find(|e| e.kind == EventKind::Restart);
        format!(
            "{restarts} replica restart(s) during the run (--restarts-fail){}",
            first.map_or(String::new(), |e| format!(
                "; first: {} at {:.0}s",
                e.series, e.elapsed_s
            ))
        )
    })
}

/// The exit status to record and the failure, from the ending.
fn how_it_ended(
    config: &RunConfig,
    target: &Target,
    ending: &Ending,
    seen: &Seen,
    source: &SourceSummary,
) -> (Option<ExitInfo>, Option<String>) {
    let at = seen.ended_at.as_secs_f64();
    match ending {
        _ if seen.launcher_exited.is_some() && !matches!(ending, Ending::LeftProcessesGone(_)) => {
            (seen.launcher_exited, None)
        }
        Ending::Completed | Ending::FailedEarly(_) | Ending::Interrupted => (seen.stopped, None),
        Ending::TargetExited(info) => (
            Some(*info),
            Some(format!(
                "the target ended during the run, after {at:.1}s: {}{}",
                info.describe(),
                if info.is_sigkill() {
                    " (not sent by memsoak: most often the kernel's OOM killer; see `dmesg`)"
                } else {
                    ""
                }
            )),
        ),
        // A browser page's browser is the sampler's root, whatever the
        // target: the page (or the browser) went away.
        Ending::TargetGone if source.kind() == SourceKind::Cdp => (
            None,
            Some(format!(
                "the browser page could no longer be measured, after {at:.1}s: {}",
                source
                    .events
                    .iter()
                    .rev()
                    .find(|e| e.kind == EventKind::Gone)
                    .map_or("its DevTools connection closed", |e| e.what.as_str())
            )),
        ),
        Ending::TargetGone if matches!(config.target, TargetSpec::None) => (
            None,
            Some(match &source.read {
                SourceRead::Cgroup(c) if std::path::Path::new(&c.cgroup).is_dir() => format!(
                    "every process of the cgroup '{}' ended during the run and none came back within {}s, after {at:.1}s",
                    c.cgroup,
                    crate::source::cgroup::EMPTY_GRACE.as_secs()
                ),
                _ => format!(
                    "the cgroup disappeared during the run (the container stopped?), after {at:.1}s"
                ),
            }),
        ),
        Ending::TargetGone => (
            None,
            Some(format!(
                "the target process {} disappeared during the run, after {at:.1}s",
                target.pid()
            )),
        ),
        Ending::LeftProcessesGone(info) => (
            Some(*info),
            Some(format!(
                "the launcher exited 0 and every process it left had ended, after {at:.1}s"
            )),
        ),
    }
}
