//! The memory source of a `memsoak run`, through the run's three steps:
//! checked before the run folder is made (a source that cannot be read is
//! a usage error and leaves nothing behind), started once the target is
//! ready (a cgroup made, a browser page opened), opened as the sampler's
//! probe, and closed at the end (a cgroup removed, a browser memsoak
//! launched closed; one it attached to is left running).

use std::time::Duration;

use super::Failure;
use crate::config::{CgroupSpec, RunConfig, SourceSpec, TargetSpec};
use crate::devtools::Session;
use crate::process::Target;
use crate::sampler;
use crate::source::page::{self as page_source, HeapSnapshots, Page, Prepared, Snapshots};
use crate::source::{cgroup, prometheus, CdpSpec, Opened, SourceKind, SourceSummary};

/// The memory source of a prepared run.
// One per run: the browser page's variant is the largest, and there is one.
#[allow(clippy::large_enum_variant)]
pub(super) enum Source {
    Tree,
    Cgroup {
        dir: std::path::PathBuf,
        /// The cgroup memsoak made for its target, removed at the end.
        fresh: Option<cgroup::Fresh>,
    },
    Prometheus(crate::source::PrometheusSpec),
    /// A browser page: checked, then opened once the target is ready.
    Cdp {
        spec: CdpSpec,
        prepared: Option<Prepared>,
        page: Option<Page>,
    },
}

impl Source {
    /// Checks the source before the run folder exists.
    pub(super) async fn check(config: &RunConfig) -> Result<Source, Failure> {
        Ok(match &config.source {
            SourceSpec::Tree => Source::Tree,
            SourceSpec::Cgroup(CgroupSpec::Existing(path)) => Source::Cgroup {
                dir: cgroup::resolve(path)
                    .and_then(|dir| cgroup::Cgroup::open(&dir).map(|_| dir))
                    .map_err(Failure::Usage)?,
                fresh: None,
            },
            SourceSpec::Cgroup(CgroupSpec::Fresh) => {
                let fresh = cgroup::Fresh::create().map_err(Failure::Usage)?;
                Source::Cgroup {
                    dir: fresh.dir().to_path_buf(),
                    fresh: Some(fresh),
                }
            }
            SourceSpec::Prometheus(spec) => {
                let client = prometheus::Client::new(
                    crate::source::connection(spec).map_err(Failure::Usage)?,
                    Duration::from_secs(10),
                )
                .map_err(Failure::Usage)?;
                client.instant(&spec.query).await.map_err(|e| {
                    Failure::Usage(e.context(format!(
                        "the Prometheus source could not be read (query {})",
                        spec.query
                    )))
                })?;
                Source::Prometheus(spec.clone())
            }
            SourceSpec::Cdp(spec) => Source::Cdp {
                prepared: Some(
                    page_source::preflight(spec)
                        .await
                        .map_err(|e| Failure::Usage(anyhow::anyhow!(e)))?,
                ),
                spec: spec.clone(),
                page: None,
            },
        })
    }

    /// What the launched target needs of the source before it starts: the
    /// cgroup it moves into.
    pub(super) fn prepare_target(&self, spec: &mut TargetSpec) -> Result<(), Failure> {
        if let (Source::Cgroup { fresh: Some(f), .. }, TargetSpec::Launch(launch)) = (self, spec) {
            launch.cgroup_procs = Some(f.procs_file().map_err(Failure::Usage)?);
        }
        Ok(())
    }

    /// Starts what the source reads once the target is ready: opens the
    /// browser page (launching the browser first if memsoak owns it).
    pub(super) async fn start(&mut self, config: &RunConfig) -> Result<(), Failure> {
        if let Source::Cdp {
            spec,
            prepared,
            page,
        } = self
        {
            let Some(p) = prepared.take() else {
                return Ok(());
            };
            let opened = page_source::open(
                spec,
                p,
                &config.out_dir,
                config.stop_grace,
                config.ready_timeout,
            )
            .await
            .map_err(|e| Failure::Target(anyhow::anyhow!(e)))?;
            *page = Some(opened);
        }
        Ok(())
    }

    /// The processes the sampler measures: a browser page's browser, or
    /// the target.
    pub(super) fn tree(&self, config: &RunConfig, target: &Target) -> sampler::Tree {
        if let Source::Cdp { page: Some(p), .. } = self {
            return sampler::Tree::Attached {
                root: p.browser_pid(),
            };
        }
        match (target.process_group(), &config.target) {
            (_, TargetSpec::None) => sampler::Tree::None,
            (Some(group), _) => sampler::Tree::Launched {
                group,
                exclude: target.watchdog_pid().into_iter().collect(),
            },
            (None, _) => sampler::Tree::Attached { root: target.pid() },
        }
    }

    /// The probe the sampler drives, and what the summary says of it.
    pub(super) fn open(&self, config: &RunConfig, tree: &sampler::Tree) -> anyhow::Result<Opened> {
        match self {
            Source::Tree => Ok(Opened {
                probe: sampler::default_probe().map_err(anyhow::Error::new)?,
                summary: SourceSummary::of_kind(SourceKind::Tree),
            }),
            Source::Cgroup { dir, fresh } => crate::source::open_cgroup(dir, tree, fresh.is_some()),
            Source::Prometheus(spec) => Ok(crate::source::open_prometheus(
                spec,
                config.interval,
                tokio::runtime::Handle::current(),
                &config.out_dir,
            )?
            .0),
            Source::Cdp { spec, page, .. } => {
                let page = page
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("the browser page was not opened"))?;
                let gc = gc_interval(spec, config);
                let every = if gc.is_zero() {
                    0
                } else {
                    (gc.as_secs_f64() / config.interval.as_secs_f64())
                        .ceil()
                        .max(1.0) as u64
                };
                let probe = page_source::CdpProbe::new(
                    page,
                    sampler::default_probe().map_err(anyhow::Error::new)?,
                    every,
                    tokio::runtime::Handle::current(),
                );
                let mut summary = SourceSummary::of_kind(SourceKind::Cdp);
                summary.cdp = Some(page.summary(gc));
                Ok(Opened {
                    probe: Box::new(probe),
                    summary,
                })
            }
        }
    }

    /// The limit per series of a many-series source (Prometheus).
    pub(super) fn limit_per_member(&self, config: &RunConfig) -> Option<f64> {
        matches!(self, Source::Prometheus(_)).then_some(config.max_growth.bytes_per_hour)
    }

    /// Whether the sampler losing its root ends the run even when the
    /// target was launched: it does when the root is the browser's.
    pub(super) fn root_is_its_own(&self) -> bool {
        matches!(self, Source::Cdp { .. })
    }

    /// The page's session, for browser workloads.
    pub(super) fn page_session(&self) -> Option<Session> {
        match self {
            Source::Cdp { page: Some(p), .. } => Some(p.session.clone()),
            _ => None,
        }
    }

    /// The heap snapshots of the run, when asked for.
    pub(super) fn snapshots(&self, config: &RunConfig) -> Snapshotting {
        Snapshotting::Waiting(match self {
            Source::Cdp {
                spec,
                page: Some(p),
                ..
            } if spec.heap_snapshots => Some(Snapshots::new(p, &config.out_dir)),
            _ => None,
        })
    }

    /// A line for people: what is sampled.
    pub(super) fn sampled(
        &self,
        summary: &SourceSummary,
        target: &Target,
        config: &RunConfig,
    ) -> String {
        match (&config.target, summary.kind, self) {
            (_, SourceKind::Cdp, Source::Cdp { page: Some(p), .. }) => format!(
                "{} and the browser's processes (pid {})",
                summary.describe(),
                p.browser_pid()
            ),
            (_, SourceKind::Tree, _) => format!("pid {}", target.pid()),
            (TargetSpec::None, _, _) => summary.describe(),
            _ => format!("pid {} through {}", target.pid(), summary.describe()),
        }
    }

    /// Ends what the source started: closes a browser memsoak launched
    /// (one it attached to is left as it was). A cgroup memsoak made goes
    /// when the source is dropped, after the target.
    pub(super) async fn close(&mut self) {
        if let Source::Cdp { page, .. } = self {
            if let Some(p) = page.take() {
                p.close().await;
            }
        }
    }
}

/// The page's garbage collection cadence for this run.
fn gc_interval(spec: &CdpSpec, config: &RunConfig) -> Duration {
    spec.gc_interval
        .unwrap_or_else(|| page_source::default_gc_interval(config.duration, config.interval))
}

/// The heap snapshots through the run: waiting for the end of warm-up,
/// then taking the baseline on its own task.
pub(super) enum Snapshotting {
    Waiting(Option<Snapshots>),
    Baseline(tokio::task::JoinHandle<Snapshots>),
}

impl Snapshotting {
    pub(super) fn waiting(&self) -> bool {
        matches!(self, Snapshotting::Waiting(Some(_)))
    }

    pub(super) fn baseline(self, elapsed_s: f64) -> Snapshotting {
        match self {
            Snapshotting::Waiting(Some(mut s)) => {
                Snapshotting::Baseline(tokio::spawn(async move {
                    s.baseline(elapsed_s).await;
                    s
                }))
            }
            other => other,
        }
    }

    /// The final snapshot and the comparison, when snapshots were asked for.
    pub(super) async fn finish(self, elapsed_s: f64) -> Option<HeapSnapshots> {
        let s = match self {
            Snapshotting::Waiting(s) => s,
            Snapshotting::Baseline(h) => h.await.ok(),
        }?;
        Some(s.finish(elapsed_s).await)
    }
}
