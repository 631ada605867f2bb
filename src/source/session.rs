//! A memory source through a run, in the steps every source shares —
//! the shape of the allocation profiler's session (arm → baseline →
//! finish):
//!
//! 1. **check** ([`check`]), before the run folder exists: a source that
//!    cannot be read is a usage error and leaves nothing behind;
//! 2. **prepare the target** ([`Session::prepare_target`]): what a
//!    launched target needs before it starts (the cgroup it moves into);
//! 3. **start** ([`Session::start`]) once the target is ready (a browser
//!    page opened): its errors are target failures;
//! 4. **open** ([`Session::open`]) as the sampler's probe, with what the
//!    summary says of it;
//! 5. **close** ([`Session::close`]) at the end: a browser memsoak
//!    launched is closed; a cgroup memsoak made goes when the session is
//!    dropped, after the target.
//!
//! The commands drive a `Box<dyn Session>` and never ask which source it
//! is; each source's session lives with its source.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use super::{Opened, SourceRead, SourceSpec, SourceSummary};
use crate::process::spec::LaunchSpec;
use crate::sampler::{self, Tree};

/// A step of a session that waits on the network or a browser.
pub type Step<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a session's steps need to know of the run.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The run folder.
    pub out_dir: PathBuf,
    /// The sampling interval.
    pub interval: Duration,
    /// The measured duration.
    pub duration: Duration,
    /// SIGTERM → SIGKILL grace of what memsoak starts.
    pub stop_grace: Duration,
    /// The longest wait for something to be ready.
    pub ready_timeout: Duration,
}

/// The run's target, as a source sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetView {
    /// A command memsoak launched: its process group, and memsoak's
    /// helpers beside it (never measured).
    Launched {
        /// The launched root.
        pid: u32,
        /// Its process group.
        group: i32,
        /// memsoak's own processes to leave out.
        helpers: Vec<u32>,
    },
    /// A running process memsoak attached to.
    Attached {
        /// Its pid.
        pid: u32,
    },
    /// No process: the source is all that is read.
    None,
}

impl TargetView {
    /// The processes the sampler measures for this target.
    pub fn tree(&self) -> Tree {
        match self {
            TargetView::Launched { group, helpers, .. } => Tree::Launched {
                group: *group,
                exclude: helpers.clone(),
            },
            TargetView::Attached { pid } => Tree::Attached { root: *pid },
            TargetView::None => Tree::None,
        }
    }

    /// The target's pid (0: none).
    pub fn pid(&self) -> u32 {
        match self {
            TargetView::Launched { pid, .. } | TargetView::Attached { pid } => *pid,
            TargetView::None => 0,
        }
    }
}

/// One source through one run.
pub trait Session: Send {
    /// Checks, before the run folder exists, that the source has something
    /// to measure when memsoak neither launches nor attaches (the source
    /// is all there is).
    fn check_alone(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// What a launched target needs before it starts.
    fn prepare_target(&self, _launch: &mut LaunchSpec) -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts what the source reads, once the target is ready.
    fn start<'a>(&'a mut self, _run: &'a RunContext) -> Step<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The processes the sampler measures.
    fn tree(&self, target: &TargetView) -> Tree {
        target.tree()
    }

    /// The probe the sampler drives, and what the summary says of it.
    fn open(&mut self, run: &RunContext, tree: &Tree) -> anyhow::Result<Opened>;

    /// Whether the sampler losing its root ends the run even for a
    /// launched target (the root is the source's own: a browser).
    fn root_is_its_own(&self) -> bool {
        false
    }

    /// The browser page's protocol session, for browser workloads.
    fn page(&self) -> Option<crate::devtools::Session> {
        None
    }

    /// The heap snapshots of the run, when asked for.
    fn heap_snapshots(&self, _run: &RunContext) -> Option<super::page::Snapshots> {
        None
    }

    /// A line for people: what is sampled.
    fn sampled(&self, summary: &SourceSummary, target: &TargetView) -> String {
        match target {
            TargetView::None => summary.describe(),
            _ => format!("pid {} through {}", target.pid(), summary.describe()),
        }
    }

    /// Ends what the source started.
    fn close(&mut self) -> Step<'_, ()> {
        Box::pin(async {})
    }
}

/// Checks the source `spec` before the run folder exists and returns its
/// session.
pub async fn check(spec: &SourceSpec) -> anyhow::Result<Box<dyn Session>> {
    Ok(match spec {
        SourceSpec::Tree => Box::new(TreeSession),
        SourceSpec::Cgroup(c) => Box::new(super::cgroup::CgroupSession::check(c)?),
        SourceSpec::Prometheus(p) => {
            Box::new(super::prometheus::PrometheusSession::check(p).await?)
        }
        SourceSpec::Cdp(c) => Box::new(super::page::PageSession::check(c).await?),
    })
}

/// The process tree alone.
struct TreeSession;

impl Session for TreeSession {
    fn open(&mut self, _run: &RunContext, _tree: &Tree) -> anyhow::Result<Opened> {
        Ok(Opened {
            probe: sampler::default_probe()?,
            summary: SourceSummary::new(SourceRead::Tree),
            fleet: false,
        })
    }

    fn sampled(&self, _summary: &SourceSummary, target: &TargetView) -> String {
        format!("pid {}", target.pid())
    }
}
