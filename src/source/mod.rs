//! Memory sources: where a run's memory readings come from.
//!
//! The process tree under `/proc` is the default (see `sampler`). Beyond
//! one host's processes, memsoak reads what the platform already
//! accounts rather than reinventing it: a **cgroup** (what the kernel
//! charges a container, socket buffers and kernel memory included) and
//! **Prometheus** (what a cluster already scrapes, one series per pod);
//! for the frontend half of a session, a **browser page** through the
//! DevTools protocol (its JavaScript heap, DOM nodes and listeners, beside
//! the browser's processes).
//! Each source is a [`Probe`] the sampler drives on its fixed schedule, so
//! `samples.csv`, the verdict, the reports and `compare` work unchanged;
//! the summary's `source` says which one was read.
//!
//! This layer sits above `sampler` and below the commands.

pub mod cgroup;
pub mod page;
pub mod prometheus;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sampler::{Probe, SourceEvent, Tree};
use prometheus::series::SeriesJudgement;

/// The note a Prometheus run's summary carries about its metric.
pub const PROMETHEUS_NOTE: &str = "the PromQL query's value, summed over its series (the rss_bytes column); each series judged too";

/// What a run reads its memory from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SourceSpec {
    /// The process tree, from `/proc` (or `sysinfo`).
    #[default]
    Tree,
    /// A cgroup.
    Cgroup(CgroupSpec),
    /// A Prometheus query.
    Prometheus(PrometheusSpec),
    /// A browser page, through the DevTools protocol.
    Cdp(CdpSpec),
}

/// A browser page to read.
#[derive(Debug, Clone, PartialEq)]
pub struct CdpSpec {
    /// Which page, in which browser.
    pub page: PageSpec,
    /// Garbage is collected before a reading this often; zero: never;
    /// `None`: the default for the run ([`page::default_gc_interval`]).
    pub gc_interval: Option<Duration>,
    /// Heap snapshots as warm-up ends and at the end.
    pub heap_snapshots: bool,
}

/// The page: in a running browser, or in one memsoak launches.
#[derive(Debug, Clone, PartialEq)]
pub enum PageSpec {
    /// A page of the browser whose DevTools endpoint this is; memsoak
    /// never closes it.
    Attach {
        /// `http://127.0.0.1:9222`.
        endpoint: String,
        /// Part of the page's URL or title.
        target: Option<String>,
    },
    /// A page memsoak opens in a browser it launches (and closes).
    Launch {
        /// The URL to open.
        url: String,
        /// The browser.
        browser: crate::devtools::browser::BrowserSpec,
    },
}

/// Which cgroup.
#[derive(Debug, Clone, PartialEq)]
pub enum CgroupSpec {
    /// An existing cgroup's folder (a container's).
    Existing(PathBuf),
    /// A child cgroup memsoak makes for the target it launches.
    Fresh,
}

/// A Prometheus query to poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSpec {
    /// Base URL as written (placeholders unexpanded: this is what outputs
    /// show).
    pub url: String,
    /// The PromQL query; one series per label set.
    pub query: String,
    /// `query_range` resolution for `memsoak report`.
    pub step: Option<Duration>,
    /// Headers as written, `${ENV}` unexpanded (expanded when connecting).
    pub headers: std::collections::BTreeMap<String, String>,
    /// A restart counts as a target failure.
    pub restarts_fail: bool,
}

/// Which kind of source a run read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The process tree.
    Tree,
    /// A cgroup.
    Cgroup,
    /// A Prometheus query.
    Prometheus,
    /// A browser page (DevTools protocol).
    Cdp,
}

/// `summary.json`'s `source`: what was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// `tree`, `cgroup`, `prometheus` or `cdp`.
    pub kind: SourceKind,
    /// The cgroup's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// `v1` or `v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_version: Option<String>,
    /// Whether memsoak made the cgroup for its target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cgroup_made: bool,
    /// Prometheus's base URL, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// The PromQL query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// For a past window (`memsoak report --prometheus`): its start and
    /// end (RFC 3339) and step, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Each series, judged (Prometheus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesJudgement>,
    /// How many series the fleet sum held at the end; the fleet is judged
    /// against the limit times this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_at_end: Option<usize>,
    /// Restarts and other events, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SourceEvent>,
    /// Whether a restart counts as a target failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarts_fail: bool,
    /// The page and its browser (DevTools sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdp: Option<page::CdpSummary>,
}

/// A past window read from Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start, RFC 3339.
    pub start: String,
    /// End, RFC 3339.
    pub end: String,
    /// Step, seconds.
    pub step_s: f64,
}

impl SourceSummary {
    /// A summary of `kind` with nothing else said.
    pub fn of_kind(kind: SourceKind) -> SourceSummary {
        SourceSummary {
            kind,
            cgroup: None,
            cgroup_version: None,
            cgroup_made: false,
            prometheus: None,
            query: None,
            window: None,
            series: Vec::new(),
            series_at_end: None,
            events: Vec::new(),
            restarts_fail: false,
            cdp: None,
        }
    }

    /// One line for people: what was read.
    pub fn describe(&self) -> String {
        match self.kind {
            SourceKind::Cgroup => format!(
                "cgroup {} ({}{})",
                self.cgroup.as_deref().unwrap_or("?"),
                self.cgroup_version.as_deref().unwrap_or("?"),
                if self.cgroup_made {
                    ", made for the target"
                } else {
                    ""
                }
            ),
            SourceKind::Prometheus => format!(
                "Prometheus {}: {}",
                self.prometheus.as_deref().unwrap_or("?"),
                self.query.as_deref().unwrap_or("?")
            ),
            SourceKind::Cdp => match &self.cdp {
                Some(c) => c.describe(),
                None => "a browser page".into(),
            },
            SourceKind::Tree => "the process tree (/proc)".into(),
        }
    }

    /// Restarts seen.
    pub fn restarts(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.what.starts_with("restart"))
            .count()
    }
}

/// An open source, ready to sample: its probe and what outputs say of it.
pub struct Opened {
    /// The probe the sampler drives.
    pub probe: Box<dyn Probe>,
    /// What the summary says.
    pub summary: SourceSummary,
}

/// Opens the probe of a cgroup (at `dir`) measuring `tree` too when the
/// run has one.
pub fn open_cgroup(dir: &std::path::Path, tree: &Tree, made: bool) -> anyhow::Result<Opened> {
    let cgroup = cgroup::Cgroup::open(dir)?;
    let inner = match tree {
        Tree::None => None,
        _ => Some(crate::sampler::default_probe().map_err(anyhow::Error::new)?),
    };
    let mut summary = SourceSummary::of_kind(SourceKind::Cgroup);
    summary.cgroup = Some(dir.display().to_string());
    summary.cgroup_version = Some(cgroup.version().to_string());
    summary.cgroup_made = made;
    Ok(Opened {
        probe: Box::new(cgroup::CgroupProbe::new(cgroup, inner)),
        summary,
    })
}

/// `Name: value` (a `--prometheus-header`) as its name and value, trimmed.
pub fn parse_header(text: &str) -> Option<(String, String)> {
    let (k, v) = text.split_once(':')?;
    (!k.trim().is_empty()).then(|| (k.trim().to_string(), v.trim().to_string()))
}

/// Expands the headers of `spec` (`${ENV}` values are remembered as
/// secrets) and its URL into a connection.
pub fn connection(spec: &PrometheusSpec) -> anyhow::Result<prometheus::Connection> {
    use anyhow::Context;
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
    if url.scheme() == "https" {
        anyhow::bail!(
            "'{}': memsoak asks Prometheus over plain HTTP, without TLS: use its in-cluster http:// address, or a local `kubectl port-forward`",
            spec.url
        );
    }
    // As a workload's: `${ENV}` expanded and remembered, values sensitive,
    // errors naming the header and never its value.
    let headers =
        crate::workload::spec::headers(&spec.headers).map_err(|(_, why)| anyhow::anyhow!(why))?;
    Ok(prometheus::Connection { url, headers })
}

/// Opens the probe of a Prometheus query, first asking once so a wrong
/// URL, query or token is an error now rather than hours of failed
/// samples.
pub fn open_prometheus(
    spec: &PrometheusSpec,
    interval: Duration,
    runtime: tokio::runtime::Handle,
    dir: &std::path::Path,
) -> anyhow::Result<(Opened, prometheus::Client)> {
    let client = prometheus::Client::new(connection(spec)?, interval.max(Duration::from_secs(1)))?;
    let mut summary = SourceSummary::of_kind(SourceKind::Prometheus);
    summary.prometheus = Some(spec.url.clone());
    summary.query = Some(spec.query.clone());
    summary.restarts_fail = spec.restarts_fail;
    let probe = prometheus::PrometheusProbe::new(client.clone(), spec.query.clone(), runtime, dir)?;
    Ok((
        Opened {
            probe: Box::new(probe),
            summary,
        },
        client,
    ))
}
