//! Prometheus as the memory source: what a cluster already scrapes
//! (`container_memory_working_set_bytes` per pod from the kubelet,
//! `process_resident_memory_bytes` from client libraries), read through
//! its HTTP API.
//!
//! `memsoak run` asks `/api/v1/query` once per sampling interval, on the
//! sampler's own thread (the request runs on the async runtime through a
//! handle, bounded by a timeout shorter than a second interval);
//! `memsoak report` asks `/api/v1/query_range` for a past window. Both
//! feed the same [`Tracker`], which turns label sets into named series:
//!
//! - a series is known by its labels less those that change when a
//!   container restarts ([`VOLATILE`], and `instance` when a `pod` label
//!   names the replica), so a restarted replica is stitched to its name;
//! - a series that comes back after missing from an answer, or whose
//!   volatile labels changed, starts a new series `NAME #2` (memory starts
//!   again from nothing after a restart; one line through both would
//!   hide or invent growth) and a `restart` event is recorded.
//!
//! `samples.csv` holds the fleet: `query_sum_bytes` the sum of the series
//! answered at each poll (judged as the metric `query`), `processes` how many there were; `series.csv`
//! (`elapsed_s,series,value`) each series. Header values are `${ENV}`
//! expanded where the configuration is read, marked sensitive, and never
//! written anywhere.

pub mod series;
mod session;
pub mod window;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::PrometheusSpec;
use crate::recording::samples::Sample;
use crate::sampler::{EventKind, Probe, ProbeError, SourceEvent, Tree, Want};
pub use session::PrometheusSession;

/// Labels that change when a container or process restarts while the
/// replica keeps its name (cAdvisor's `id`, `name`, `image`; the kubelet's
/// `container_id`; pod uids).
pub const VOLATILE: [&str; 7] = [
    "id",
    "name",
    "image",
    "image_id",
    "container_id",
    "uid",
    "pod_uid",
];

/// At most this many series (restarts included) are kept; more are left
/// out with one event, so memory stays bounded whatever the query.
pub const MAX_SERIES: usize = 256;

/// How the note of series left out past [`MAX_SERIES`] ends.
pub const LEFT_OUT: &str = "the rest are left out";

/// Longest wait for one answer.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// What a Prometheus source needs to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    pub url: reqwest::Url,
    /// Extra headers (authentication), values expanded and sensitive.
    pub headers: HeaderMap,
    /// What `https://` trusts.
    pub trust: crate::tls::Trust,
}

/// A client of one Prometheus server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    conn: Connection,
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: Labels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: Labels,
    values: Vec<(f64, String)>,
}

/// One series of a range answer: its labels and `(time, value)` points,
/// `None` where the value was no number (`NaN`, `±Inf`).
pub type RangeSeries = (Labels, Vec<(f64, Option<f64>)>);

/// A value as Prometheus writes it; `NaN` and infinities are no reading.
fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl Client {
    /// A client of the server at `conn`.
    pub fn new(conn: Connection, timeout: Duration) -> anyhow::Result<Client> {
        let http = conn
            .trust
            .http_client()?
            .timeout(timeout.min(MAX_TIMEOUT))
            .default_headers(conn.headers.clone())
            .build()
            .context("could not build the HTTP client for Prometheus")?;
        Ok(Client { http, conn })
    }

    fn endpoint(&self, path: &str, params: &[(&str, String)]) -> anyhow::Result<reqwest::Url> {
        let mut url = self.conn.url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| anyhow::anyhow!("'{}' cannot be a base URL", self.conn.url))?;
            segments.pop_if_empty();
            for s in path.split('/') {
                segments.push(s);
            }
        }
        url.query_pairs_mut().extend_pairs(params);
        Ok(url)
    }

    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
        limit: usize,
    ) -> anyhow::Result<Data> {
        let url = self.endpoint(path, params)?;
        // The URL as shown: a `${ENV}` expanded into it is redacted.
        // A base with a query (`?token=…`) is shown as written, not with a
        // slash after its query.
        let base = self.conn.url.as_str();
        let shown =
            crate::secrets::redact(&if self.conn.url.query().is_some() || base.ends_with('/') {
                base.to_string()
            } else {
                format!("{base}/")
            });
        let response = self.http.get(url).send().await.map_err(|e| {
            anyhow::anyhow!(
                "could not reach Prometheus at {shown}: {}",
                crate::secrets::redact(&without_url(&e))
            )
        })?;
        let status = response.status();
        let body = read_body(response, limit).await.map_err(|e| match e {
            // reqwest's errors name the URL, which may carry a token.
            Body::Broken(e) => anyhow::anyhow!(
                "Prometheus at {shown} sent no whole answer: {}",
                crate::secrets::redact(&without_url(&e))
            ),
            Body::TooLarge => anyhow::anyhow!(
                "Prometheus at {shown} answered more than {} MB to one query: the query matches too many series (narrow it, or aggregate with sum by (...)){}",
                limit >> 20,
                if path.ends_with("query_range") {
                    ", or ask for a shorter window or a longer --step"
                } else {
                    ""
                }
            ),
        })?;
        let parsed: Response = serde_json::from_slice(&body).map_err(|e| {
            anyhow::anyhow!(
                "Prometheus at {shown} answered {status} with no API answer ({e}){}",
                if status == reqwest::StatusCode::UNAUTHORIZED
                    || status == reqwest::StatusCode::FORBIDDEN
                {
                    ": check the authentication headers"
                } else {
                    ""
                }
            )
        })?;
        if parsed.status != "success" {
            bail!(
                "Prometheus refused the query ({}): {}",
                parsed.error_type.as_deref().unwrap_or("error"),
                crate::secrets::redact(parsed.error.as_deref().unwrap_or("no reason given"))
            );
        }
        parsed
            .data
            .with_context(|| format!("Prometheus at {shown} answered without data"))
    }

    /// The value of `query` now: one reading per label set.
    pub async fn instant(&self, query: &str) -> anyhow::Result<Vec<(Labels, Option<f64>)>> {
        let data = self
            .get("api/v1/query", &[("query", query.into())], INSTANT_BODY_MAX)
            .await?;
        if data.result_type != "vector" {
            bail!(
                "the query gives a {} where memsoak needs an instant vector (one series per label set), e.g. process_resident_memory_bytes{{job=\"api\"}}",
                data.result_type
            );
        }
        let items: Vec<VectorItem> = serde_json::from_value(data.result)
            .context("Prometheus's vector answer is not in the form memsoak knows")?;
        Ok(items
            .into_iter()
            .map(|i| (i.metric, number(&i.value.1)))
            .collect())
    }

    /// The values of `query` over `[start, end]` (Unix seconds) every
    /// `step`.
    pub async fn range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> anyhow::Result<Vec<RangeSeries>> {
        let data = self
            .get(
                "api/v1/query_range",
                &[
                    ("query", query.into()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{end:.3}")),
                    ("step", format!("{:.3}", step.as_secs_f64())),
                ],
                RANGE_BODY_MAX,
            )
            .await?;
        if data.result_type != "matrix" {
            bail!(
                "the query gives a {} over a range, where memsoak needs series",
                data.result_type
            );
        }
        let items: Vec<MatrixItem> = serde_json::from_value(data.result)
            .context("Prometheus's matrix answer is not in the form memsoak knows")?;
        Ok(items
            .into_iter()
            .map(|i| {
                let values = i.values.into_iter().map(|(t, v)| (t, number(&v))).collect();
                (i.metric, values)
            })
            .collect())
    }
}

/// Largest instant answer read: 256 series with large label sets are a
/// few hundred kB; past this the query is not one memsoak can follow, and
/// reading on would only grow memsoak's own memory.
const INSTANT_BODY_MAX: usize = 32 << 20;

/// Largest range answer read: 256 series of 11,000 points.
const RANGE_BODY_MAX: usize = 256 << 20;

/// Why an answer's body was not read.
enum Body {
    Broken(reqwest::Error),
    TooLarge,
}

/// The body of `response`, read chunk by chunk and refused past `limit`
/// bytes (announced or received), so an oversized answer never lands in
/// memory whole.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, Body> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Body::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Body::Broken)? {
        if body.len() + chunk.len() > limit {
            return Err(Body::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error without its URL (a URL may carry a token).
fn without_url(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = String::new();
    let mut cause: Option<&dyn Error> = e.source();
    while let Some(c) = cause {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if text.is_empty() {
        if e.is_timeout() {
            "timed out".into()
        } else {
            "request failed".into()
        }
    } else {
        text
    }
}

/// The labels that name a replica: all but `__name__` and the volatile
/// ones (and `instance` when a `pod` names the replica).
fn identity(labels: &Labels) -> Labels {
    let has_pod = labels.contains_key("pod");
    labels
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "__name__"
                && !VOLATILE.contains(&k.as_str())
                && !(has_pod && k.as_str() == "instance")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A label set as a series name: `k=v,k=v`, or `value` for none.
pub fn format_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return "value".into();
    }
    let full = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    bounded_name(full)
}

/// Longest series name kept whole: a name is written on every row of
/// `series.csv`, and a label set may be anything an exporter makes.
const MAX_NAME: usize = 200;

/// `name` cut to [`MAX_NAME`] characters, a hash of the whole keeping
/// names of different label sets apart.
fn bounded_name(name: String) -> String {
    if name.chars().count() <= MAX_NAME {
        return name;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let head: String = name.chars().take(MAX_NAME - 20).collect();
    format!("{head}… ({:016x})", h.finish())
}

/// Largest value taken as a memory size, bytes (an exabyte): anything
/// above is a broken exporter, as a negative value is.
const MAX_PLAUSIBLE: f64 = 1e18;

/// Whether `v` can be a memory size.
fn plausible(v: f64) -> bool {
    (0.0..=MAX_PLAUSIBLE).contains(&v)
}

#[derive(Debug)]
struct Replica {
    identity: Labels,
    /// The full labels of its current series.
    labels: Labels,
    /// Its current series' name.
    name: String,
    /// Series it has had (1 before any restart).
    generation: u32,
    /// The poll it was last answered at.
    seen_at: u64,
}

/// Names the series of successive answers, stitching replicas by name and
/// starting a new series at each restart.
#[derive(Debug, Default)]
pub struct Tracker {
    replicas: Vec<Replica>,
    polls: u64,
    series: usize,
    dropped: bool,
    /// A value that cannot be a memory size was told (once a run).
    implausible_told: bool,
}

/// One answer, named: `(series, value)` per series, and what happened.
#[derive(Debug, Default, PartialEq)]
pub struct Named {
    /// The values by series name.
    pub values: Vec<(String, f64)>,
    /// Restarts (and a note when series were left out): series, kind, words.
    pub events: Vec<(String, EventKind, String)>,
}

impl Tracker {
    /// Names one answer. A series answered without a number (`NaN`) is
    /// there, with no reading: neither a value nor a gap (so no restart).
    pub fn observe(&mut self, answer: Vec<(Labels, Option<f64>)>) -> Named {
        self.polls += 1;
        let poll = self.polls;
        let mut named = Named::default();
        for (labels, value) in answer {
            let id = identity(&labels);
            let found = self.replicas.iter().position(|r| r.identity == id);
            let i = match found {
                Some(i) if self.replicas[i].seen_at == poll => {
                    // Two answers for one replica (labels differing only
                    // in volatile ones): summed, as the fleet is.
                    let name = &self.replicas[i].name;
                    match (
                        named.values.iter_mut().find(|(n, _)| n == name),
                        value.filter(|v| plausible(*v)),
                    ) {
                        (Some(v), Some(value)) => v.1 += value,
                        (None, Some(value)) => named.values.push((name.clone(), value)),
                        (_, None) => {}
                    }
                    continue;
                }
                Some(i) => {
                    let r = &mut self.replicas[i];
                    let returned = r.seen_at + 1 < poll;
                    let relabelled = r.labels != labels;
                    if returned || relabelled {
                        if self.series >= MAX_SERIES {
                            continue;
                        }
                        self.series += 1;
                        r.generation += 1;
                        r.name = format!("{} #{}", format_labels(&r.identity), r.generation);
                        r.labels = labels;
                        named.events.push((
                            r.name.clone(),
                            EventKind::Restart,
                            if relabelled {
                                "restart: new container labels".into()
                            } else {
                                format!(
                                    "restart: answered again after {} missed poll(s)",
                                    poll - r.seen_at - 1
                                )
                            },
                        ));
                    }
                    i
                }
                None if self.series < MAX_SERIES => {
                    self.series += 1;
                    self.replicas.push(Replica {
                        name: format_labels(&id),
                        identity: id,
                        labels,
                        generation: 1,
                        seen_at: 0,
                    });
                    self.replicas.len() - 1
                }
                None => {
                    if !self.dropped {
                        self.dropped = true;
                        named.events.push((
                            format_labels(&id),
                            EventKind::Note,
                            format!("more than {MAX_SERIES} series: {LEFT_OUT}"),
                        ));
                    }
                    continue;
                }
            };
            let r = &mut self.replicas[i];
            r.seen_at = poll;
            match value {
                Some(value) if plausible(value) => named.values.push((r.name.clone(), value)),
                // Negative, or beyond any memory: no reading (as NaN),
                // told once rather than clamped.
                Some(value) if !self.implausible_told => {
                    self.implausible_told = true;
                    named.events.push((
                        r.name.clone(),
                        EventKind::Note,
                        format!(
                            "answered {value:e}, which is no memory size: such readings are skipped (told once)"
                        ),
                    ));
                }
                Some(_) | None => {}
            }
        }
        named
    }
}

/// The `series.csv` writer: `elapsed_s,series,value`, flushed per poll.
pub struct SeriesWriter {
    out: csv::Writer<File>,
}

impl SeriesWriter {
    /// Creates `series.csv` in `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<SeriesWriter> {
        let path = dir.join(SERIES_CSV);
        let file = File::create(&path)
            .with_context(|| format!("could not create '{}'", path.display()))?;
        let mut out = csv::Writer::from_writer(file);
        out.write_record(["elapsed_s", "series", "value"])?;
        out.flush()?;
        Ok(SeriesWriter { out })
    }

    /// Appends one poll's values.
    pub fn write(&mut self, elapsed_s: f64, values: &[(String, f64)]) -> anyhow::Result<()> {
        for (name, value) in values {
            self.out
                .write_record([format!("{elapsed_s:.3}"), name.clone(), format!("{value}")])?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// The per-series file of a Prometheus run.
pub const SERIES_CSV: &str = "series.csv";

/// Expands the headers of `spec` (`${ENV}` values are remembered as
/// secrets) and its URL into a connection.
pub fn connection(spec: &PrometheusSpec) -> anyhow::Result<Connection> {
    let url = crate::secrets::expand_env(&spec.url).map_err(anyhow::Error::msg)?;
    let url = reqwest::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .with_context(|| {
            format!(
                "'{}' is not an http(s) URL of a Prometheus server, e.g. http://127.0.0.1:9090",
                spec.url
            )
        })?;
    // As a workload's: `${ENV}` expanded and remembered, values sensitive,
    // errors naming the header and never its value.
    let headers =
        crate::workload::spec::headers(&spec.headers).map_err(|(_, why)| anyhow::anyhow!(why))?;
    Ok(Connection {
        url,
        headers,
        trust: spec.trust.clone(),
    })
}

/// The live probe: one instant query per tick.
pub struct PrometheusProbe {
    client: Client,
    query: String,
    runtime: tokio::runtime::Handle,
    tracker: Tracker,
    writer: SeriesWriter,
    pending: Named,
    events: Vec<SourceEvent>,
}

impl PrometheusProbe {
    /// A probe asking `query` of `client`, writing `series.csv` in `dir`;
    /// requests run on `runtime`.
    pub fn new(
        client: Client,
        query: String,
        runtime: tokio::runtime::Handle,
        dir: &Path,
    ) -> anyhow::Result<PrometheusProbe> {
        Ok(PrometheusProbe {
            client,
            query,
            runtime,
            tracker: Tracker::default(),
            writer: SeriesWriter::create(dir)?,
            pending: Named::default(),
            events: Vec::new(),
        })
    }
}

/// The fleet's sample of one named answer.
pub fn fleet_sample(values: &[(String, f64)]) -> Sample {
    Sample {
        processes: values.len() as u32,
        query_sum_bytes: Some(values.iter().map(|(_, v)| v.max(0.0)).sum::<f64>().round() as u64),
        ..Sample::default()
    }
}

impl Probe for PrometheusProbe {
    fn read(&mut self, _tree: &Tree, _want: Want) -> Result<Sample, ProbeError> {
        let answer = self
            .runtime
            .block_on(self.client.instant(&self.query))
            .map_err(|e| ProbeError::Other(format!("{e:#}")))?;
        if answer.is_empty() {
            let why =
                "the query answered no series (not scraped yet, or the selector matches nothing)";
            // Before the first answer the target may not be scraped yet;
            // afterwards, an empty answer is a failed reading.
            return Err(if self.tracker.polls == 0 {
                ProbeError::NotYet(why.into())
            } else {
                // Every series missed this poll: a restart shows as such.
                self.tracker.polls += 1;
                ProbeError::Other(why.into())
            });
        }
        let mut named = self.tracker.observe(answer);
        // A poll without a reading is never recorded: its events (a
        // restart) wait for the next recorded one rather than be lost.
        self.pending.events.append(&mut named.events);
        self.pending.values = named.values;
        if self.pending.values.is_empty() {
            return Err(ProbeError::Other(
                "every series answered NaN: no reading this time".into(),
            ));
        }
        Ok(fleet_sample(&self.pending.values))
    }

    fn unavailable(&self) -> &'static [&'static str] {
        &[
            "rss_bytes",
            "pss_bytes",
            "anon_bytes",
            "swap_bytes",
            "fds",
            "threads",
            "cpu_percent",
        ]
    }

    fn record(&mut self, elapsed_s: f64) -> anyhow::Result<()> {
        let named = std::mem::take(&mut self.pending);
        for (series, kind, what) in named.events {
            tracing::info!("{series}: {what}");
            self.events
                .push(SourceEvent::new(elapsed_s, series, kind, what));
        }
        self.writer.write(elapsed_s, &named.values)
    }

    fn events(&mut self) -> Vec<SourceEvent> {
        std::mem::take(&mut self.events)
    }
}

/// Writes a past window as a run folder's `samples.csv` and `series.csv`
/// (elapsed from `start`); returns the events and how many polls had an
/// answer.
pub fn write_range(
    dir: &Path,
    series: Vec<RangeSeries>,
    start: f64,
    end: f64,
    step: Duration,
) -> anyhow::Result<(Vec<SourceEvent>, u64)> {
    let path = dir.join("samples.csv");
    let file =
        File::create(&path).with_context(|| format!("could not create '{}'", path.display()))?;
    let mut samples = csv::Writer::from_writer(file);
    let mut writer = SeriesWriter::create(dir)?;
    let mut tracker = Tracker::default();
    let mut cursors = vec![0usize; series.len()];
    let mut events = Vec::new();
    let mut rows = 0;
    let step_s = step.as_secs_f64().max(0.001);
    let ticks = ((end - start) / step_s).floor().max(0.0) as u64;
    for k in 0..=ticks {
        let t = start + k as f64 * step_s;
        let mut answer = Vec::new();
        for (i, (labels, values)) in series.iter().enumerate() {
            let c = &mut cursors[i];
            while *c < values.len() && values[*c].0 < t - step_s / 2.0 {
                *c += 1;
            }
            if let Some(&(ts, v)) = values.get(*c) {
                if (ts - t).abs() <= step_s / 2.0 {
                    answer.push((labels.clone(), v));
                }
            }
        }
        if answer.is_empty() {
            // Nothing answered at this step: the tracker sees the gap.
            tracker.polls += 1;
            continue;
        }
        let named = tracker.observe(answer);
        let elapsed_s = t - start;
        events.extend(named.events.iter().map(|(series, kind, what)| {
            SourceEvent::new(elapsed_s, series.clone(), *kind, what.clone())
        }));
        if named.values.is_empty() {
            // Only NaN at this step: no reading, and no gap either.
            continue;
        }
        let mut sample = fleet_sample(&named.values);
        sample.elapsed_s = elapsed_s;
        sample.unix_time_s = t;
        samples.serialize(&sample)?;
        writer.write(elapsed_s, &named.values)?;
        rows += 1;
    }
    samples.flush()?;
    Ok((events, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn series_are_named_by_their_stable_labels() {
        let mut t = Tracker::default();
        let a = labels(&[
            ("__name__", "m"),
            ("pod", "api-1"),
            ("instance", "10.0.0.1:80"),
        ]);
        let b = labels(&[
            ("__name__", "m"),
            ("pod", "api-2"),
            ("instance", "10.0.0.2:80"),
        ]);
        let n = t.observe(vec![(a.clone(), Some(1.0)), (b.clone(), Some(2.0))]);
        assert_eq!(
            n.values,
            vec![
                ("pod=api-1".to_string(), 1.0),
                ("pod=api-2".to_string(), 2.0)
            ]
        );
        assert!(n.events.is_empty());
        let n = t.observe(vec![(a, Some(3.0)), (b, Some(4.0))]);
        assert_eq!(n.values[1], ("pod=api-2".to_string(), 4.0));
    }

    #[test]
    fn a_restart_starts_a_new_series_and_is_an_event() {
        let mut t = Tracker::default();
        let first = labels(&[("pod", "api-1"), ("container_id", "aaa")]);
        let second = labels(&[("pod", "api-1"), ("container_id", "bbb")]);
        t.observe(vec![(first.clone(), Some(100.0))]);
        let n = t.observe(vec![(second, Some(10.0))]);
        assert_eq!(n.values, vec![("pod=api-1 #2".to_string(), 10.0)]);
        assert_eq!(n.events[0].2, "restart: new container labels");
        // Missing from one answer, then back: a new series too.
        let job = labels(&[("job", "demo"), ("instance", "127.0.0.1:1")]);
        let mut t = Tracker::default();
        t.observe(vec![(job.clone(), Some(1.0))]);
        t.observe(vec![]);
        let n = t.observe(vec![(job, Some(1.0))]);
        assert_eq!(n.values[0].0, "instance=127.0.0.1:1,job=demo #2");
        assert!(
            n.events[0].2.contains("after 1 missed poll"),
            "{:?}",
            n.events
        );
    }

    #[test]
    fn a_value_no_memory_can_have_is_no_reading_and_told_once() {
        let mut t = Tracker::default();
        let pod = labels(&[("pod", "api-1")]);
        let n = t.observe(vec![(pod.clone(), Some(-5.0))]);
        assert!(n.values.is_empty());
        assert_eq!(n.events.len(), 1, "{:?}", n.events);
        assert!(n.events[0].2.contains("no memory size"), "{:?}", n.events);
        let n = t.observe(vec![(pod.clone(), Some(1e300))]);
        assert!(n.values.is_empty() && n.events.is_empty(), "{n:?}");
        let n = t.observe(vec![(pod, Some(3e6))]);
        assert_eq!(n.values, vec![("pod=api-1".to_string(), 3e6)]);
        assert!(n.events.is_empty(), "no restart: {:?}", n.events);
    }

    #[test]
    fn a_huge_label_set_gets_a_bounded_name_that_keeps_series_apart() {
        let big = |tail: &str| labels(&[("pod", &format!("{}{tail}", "x".repeat(5 << 20)))]);
        let (a, b) = (format_labels(&big("a")), format_labels(&big("b")));
        assert!(a.chars().count() <= MAX_NAME, "{}", a.len());
        assert_ne!(a, b);
        assert_eq!(format_labels(&labels(&[("pod", "api-1")])), "pod=api-1");
    }

    #[test]
    fn a_nan_reading_is_no_value_and_no_restart() {
        let mut t = Tracker::default();
        let pod = labels(&[("pod", "api-1")]);
        let other = labels(&[("pod", "api-2")]);
        t.observe(vec![(pod.clone(), Some(1.0)), (other.clone(), Some(5.0))]);
        let n = t.observe(vec![(pod.clone(), None), (other.clone(), Some(6.0))]);
        assert_eq!(n.values, vec![("pod=api-2".to_string(), 6.0)]);
        assert!(n.events.is_empty(), "{:?}", n.events);
        let n = t.observe(vec![(pod, Some(2.0)), (other, Some(7.0))]);
        assert_eq!(n.values[0], ("pod=api-1".to_string(), 2.0));
        assert!(n.events.is_empty(), "a NaN is no restart: {:?}", n.events);
    }

    #[test]
    fn series_beyond_the_bound_are_left_out_once() {
        let mut t = Tracker::default();
        let answer: Vec<(Labels, Option<f64>)> = (0..MAX_SERIES + 5)
            .map(|i| (labels(&[("pod", &format!("p{i}"))]), Some(1.0)))
            .collect();
        let n = t.observe(answer);
        assert_eq!(n.values.len(), MAX_SERIES);
        assert_eq!(n.events.len(), 1);
    }

    #[test]
    fn answers_parse_and_odd_values_are_skipped() {
        let v: Vec<VectorItem> = serde_json::from_str(
            r#"[{"metric":{"job":"a"},"value":[1700000000.5,"123"]},{"metric":{},"value":[1,"NaN"]}]"#,
        )
        .unwrap();
        let kept: Vec<f64> = v.iter().filter_map(|i| number(&i.value.1)).collect();
        assert_eq!(kept, vec![123.0]);
    }
}
