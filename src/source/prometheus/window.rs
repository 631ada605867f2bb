//! A past window read from Prometheus (`memsoak report --prometheus`):
//! `query_range` into a run folder's `samples.csv` and `series.csv`, so
//! the rest of `report` judges it like any run folder.

use std::path::Path;
use std::time::Duration;

use super::{connection, write_range, Client, RangeSeries};
use crate::source::{PrometheusSpec, PrometheusSummary, SourceRead, SourceSummary, Window};

/// How long one `query_range` may take.
const RANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Prometheus answers at most this many points per series.
pub const MAX_STEPS: f64 = 11_000.0;

/// A window to read: `[start, end]` (Unix seconds) every `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRequest {
    /// The server, the query and its headers.
    pub spec: PrometheusSpec,
    /// Start, Unix seconds.
    pub start: f64,
    /// End, Unix seconds.
    pub end: f64,
    /// Resolution.
    pub step: Duration,
}

impl WindowRequest {
    /// The default step: the window over 10,000, at least a second.
    pub fn default_step(start: f64, end: f64) -> Duration {
        Duration::from_secs_f64(((end - start) / 10_000.0).ceil().max(1.0))
    }

    /// Asks for the window; an answer without any series is an error.
    pub async fn fetch(&self) -> anyhow::Result<Fetched<'_>> {
        let spec = &self.spec;
        let client = Client::new(connection(spec)?, RANGE_TIMEOUT)?;
        let series = client
            .range(&spec.query, self.start, self.end, self.step)
            .await
            .map_err(|e| {
                e.context(format!(
                    "could not read the window from Prometheus (query {})",
                    spec.query
                ))
            })?;
        if series
            .iter()
            .all(|(_, v)| v.iter().all(|(_, x)| x.is_none()))
        {
            anyhow::bail!(
                "the query answered no series between {} and {}: check the selector and the window",
                rfc3339(self.start),
                rfc3339(self.end)
            );
        }
        Ok(Fetched {
            request: self,
            series,
        })
    }
}

/// A window's answer, to be written into a run folder.
pub struct Fetched<'a> {
    request: &'a WindowRequest,
    series: Vec<RangeSeries>,
}

impl Fetched<'_> {
    /// Writes the recording's files into `dir` (made ready by the caller);
    /// returns what the summary says of the source.
    pub fn write_into(self, dir: &Path) -> anyhow::Result<SourceSummary> {
        let r = self.request;
        let (events, rows) = write_range(dir, self.series, r.start, r.end, r.step)?;
        tracing::info!("{rows} steps read from Prometheus into {}", dir.display());
        let mut summary = SourceSummary::new(SourceRead::Prometheus(PrometheusSummary {
            prometheus: r.spec.url.clone(),
            query: r.spec.query.clone(),
            window: Some(Window {
                start: rfc3339(r.start),
                end: rfc3339(r.end),
                step_s: r.step.as_secs_f64(),
            }),
            series: Vec::new(),
            series_at_end: None,
            restarts_fail: false,
        }));
        summary.events = events;
        Ok(summary)
    }
}

/// Unix seconds as RFC 3339, to the second.
pub fn rfc3339(unix_s: f64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs_f64(unix_s.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}
