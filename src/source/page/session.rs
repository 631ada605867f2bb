//! A browser page through a run: checked before the run folder is made
//! (a running browser answers and has the page, or a browser to launch is
//! found), opened once the backend it talks to is ready, read with the
//! browser's processes as the sampler's root, and closed at the end when
//! memsoak launched the browser (one it attached to is left running).

use std::time::Duration;

use super::{default_gc_interval, open, page_probe, preflight, Page, Prepared, Snapshots};
use crate::sampler::Tree;
use crate::source::{
    CdpSpec, Opened, PageSummary, RunContext, Session, SourceRead, SourceSummary, Step, TargetView,
};

/// A browser page, checked, then opened.
pub struct PageSession {
    spec: CdpSpec,
    prepared: Option<Prepared>,
    page: Option<Page>,
}

impl PageSession {
    /// Checks the page's browser.
    pub async fn check(spec: &CdpSpec) -> anyhow::Result<PageSession> {
        Ok(PageSession {
            prepared: Some(preflight(spec).await.map_err(anyhow::Error::msg)?),
            spec: spec.clone(),
            page: None,
        })
    }

    /// The garbage collection cadence of this run.
    fn gc_interval(&self, run: &RunContext) -> Duration {
        self.spec
            .gc_interval
            .unwrap_or_else(|| default_gc_interval(run.duration, run.interval))
    }
}

impl Session for PageSession {
    fn start<'a>(&'a mut self, run: &'a RunContext) -> Step<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let Some(p) = self.prepared.take() else {
                return Ok(());
            };
            let opened = open(
                &self.spec,
                p,
                &run.out_dir,
                run.stop_grace,
                run.ready_timeout,
            )
            .await
            .map_err(anyhow::Error::msg)?;
            self.page = Some(opened);
            Ok(())
        })
    }

    /// The browser's processes, whatever the target.
    fn tree(&self, target: &TargetView) -> Tree {
        match &self.page {
            Some(p) => Tree::Attached {
                root: p.browser_pid(),
            },
            None => target.tree(),
        }
    }

    fn open(&mut self, run: &RunContext, _tree: &Tree) -> anyhow::Result<Opened> {
        let gc = self.gc_interval(run);
        let page = self
            .page
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the browser page was not opened"))?;
        let every = if gc.is_zero() {
            0
        } else {
            (gc.as_secs_f64() / run.interval.as_secs_f64())
                .ceil()
                .max(1.0) as u64
        };
        let probe = page_probe(
            page,
            crate::sampler::default_probe()?,
            run.interval,
            every,
            tokio::runtime::Handle::current(),
        );
        Ok(Opened {
            probe: Box::new(probe),
            summary: SourceSummary::new(SourceRead::Cdp(PageSummary {
                cdp: Some(page.summary(gc)),
            })),
            fleet: false,
        })
    }

    fn root_is_its_own(&self) -> bool {
        true
    }

    fn page(&self) -> Option<crate::devtools::Session> {
        self.page.as_ref().map(|p| p.session.clone())
    }

    fn heap_snapshots(&self, run: &RunContext) -> Option<Snapshots> {
        match &self.page {
            Some(p) if self.spec.heap_snapshots => Some(Snapshots::new(p, &run.out_dir)),
            _ => None,
        }
    }

    fn sampled(&self, summary: &SourceSummary, target: &TargetView) -> String {
        match &self.page {
            Some(p) => format!(
                "{} and the browser's processes (pid {})",
                summary.describe(),
                p.browser_pid()
            ),
            None => format!("pid {} through {}", target.pid(), summary.describe()),
        }
    }

    fn close(&mut self) -> Step<'_, ()> {
        Box::pin(async move {
            if let Some(p) = self.page.take() {
                p.close().await;
            }
        })
    }
}
