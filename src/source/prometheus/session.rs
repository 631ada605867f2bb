//! A Prometheus query through a run: asked once before the run folder is
//! made (a wrong URL, query type or token is a usage error), then polled
//! every interval by the sampler's probe.

use std::time::Duration;

use super::{connection, Client, PrometheusProbe};
use crate::sampler::Tree;
use crate::source::{
    Opened, PrometheusSpec, PrometheusSummary, RunContext, Session, SourceRead, SourceSummary,
};

/// How long the check before the run may wait for Prometheus.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A Prometheus source, checked.
pub struct PrometheusSession {
    spec: PrometheusSpec,
}

impl PrometheusSession {
    /// Asks the query once: an error now rather than hours of failed
    /// samples.
    pub async fn check(spec: &PrometheusSpec) -> anyhow::Result<PrometheusSession> {
        let client = Client::new(connection(spec)?, CHECK_TIMEOUT)?;
        client.instant(&spec.query).await.map_err(|e| {
            e.context(format!(
                "the Prometheus source could not be read (query {})",
                spec.query
            ))
        })?;
        Ok(PrometheusSession { spec: spec.clone() })
    }
}

impl Session for PrometheusSession {
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
