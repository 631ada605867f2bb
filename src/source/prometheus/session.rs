//! A Prometheus query through a run: asked once before the run folder is
//! made (a wrong URL, query type or token is a usage error), then polled
//! every interval by the sampler's probe.

use std::time::Duration;

use super::{connection, Client, PrometheusProbe, MAX_SERIES};
use crate::sampler::Tree;
use crate::source::{
    Opened, PrometheusSpec, PrometheusSummary, RunContext, Session, SourceRead, SourceSummary, Step,
};

/// How long the check before the run may wait for Prometheus.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A Prometheus source, checked.
pub struct PrometheusSession {
    spec: PrometheusSpec,
    /// Series that answered a number at the check.
    numbered: usize,
}

impl PrometheusSession {
    /// Asks the query once: an error now rather than hours of failed
    /// samples.
    pub async fn check(spec: &PrometheusSpec) -> anyhow::Result<PrometheusSession> {
        let client = Client::new(connection(spec)?, CHECK_TIMEOUT)?;
        let answer = client.instant(&spec.query).await.map_err(|e| {
            e.context(format!(
                "the Prometheus source could not be read (query {})",
                spec.query
            ))
        })?;
        if answer.len() > MAX_SERIES {
            anyhow::bail!(
                "the query {} matches {} series; memsoak follows at most {MAX_SERIES} (a leak in one left out would pass unseen): narrow it, or aggregate, e.g. sum by (pod) (...)",
                spec.query,
                answer.len()
            );
        }
        Ok(PrometheusSession {
            spec: spec.clone(),
            numbered: answer.iter().filter(|(_, v)| v.is_some()).count(),
        })
    }

    /// Asks the query until it answers a number, for up to `grace`.
    async fn first_number(&self, grace: Duration) -> anyhow::Result<()> {
        let client = Client::new(connection(&self.spec)?, CHECK_TIMEOUT)?;
        let until = tokio::time::Instant::now() + grace;
        loop {
            let numbered = match client.instant(&self.spec.query).await {
                Ok(a) => a.iter().any(|(_, v)| v.is_some()),
                Err(_) => false,
            };
            if numbered {
                return Ok(());
            }
            if tokio::time::Instant::now() >= until {
                anyhow::bail!(
                    "the query {} matched no series with a value within {}s (--ready-timeout): nothing would be measured (check its labels, and that Prometheus scrapes the target)",
                    self.spec.query,
                    grace.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl Session for PrometheusSession {
    /// A query that answered no number at the check (a target not scraped
    /// yet, a replica between restarts) must answer one within the
    /// readiness wait (`--ready-timeout`; Prometheus finds a new target at
    /// its next scrape), or the run would sample nothing all night.
    fn start<'a>(&'a mut self, run: &'a RunContext) -> Step<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if self.numbered > 0 {
                return Ok(());
            }
            self.first_number(run.ready_timeout).await
        })
    }

    fn open(&mut self, run: &RunContext, _tree: &Tree) -> anyhow::Result<Opened> {
        let spec = &self.spec;
        let client = Client::new(connection(spec)?, run.interval.max(Duration::from_secs(1)))?;
        let probe = PrometheusProbe::new(
            client,
            spec.query.clone(),
            tokio::runtime::Handle::current(),
            &run.out_dir,
        )?;
        Ok(Opened {
            probe: Box::new(probe),
            summary: SourceSummary::new(SourceRead::Prometheus(PrometheusSummary {
                prometheus: spec.url.clone(),
                query: spec.query.clone(),
                window: None,
                series: Vec::new(),
                series_at_end: None,
                restarts_fail: spec.restarts_fail,
            })),
            fleet: true,
        })
    }
}
