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
//!
//! Every source goes through a run in the same steps, a [`Session`]
//! shaped like the allocation profiler's: checked before the run folder
//! exists, the target prepared, started once the target is ready, opened
//! as the sampler's [`Probe`], closed at the end; each source's session
//! lives with its source (`cgroup`, `prometheus`, `page`). A source that
//! reads something beside the tree adds it through an [`overlay`] on the
//! tree's probe, so `samples.csv`, the verdict, the reports and `compare`
//! work unchanged; the summary's `source` says which one was read, and
//! the source's own policy (Prometheus judging each series and the fleet)
//! is applied through [`SourceSummary::judge`].
//!
//! This layer sits above `sampler` and below the commands.

pub mod cgroup;
pub mod overlay;
pub mod page;
pub mod prometheus;
mod session;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sampler::{EventKind, Probe, SourceEvent};
use prometheus::series::SeriesJudgement;
pub use session::{check, RunContext, Session, Step, TargetView};

/// The note a Prometheus run's summary carries about its metric.
pub const PROMETHEUS_NOTE: &str = "the PromQL query's value, summed over its series (the query_sum_bytes column); each series judged too";

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
    /// What `https://` trusts.
    pub trust: crate::tls::Trust,
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

/// `summary.json`'s `source`: what was read, and what it saw happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// The source and its own facts (`kind` and the fields of that kind).
    #[serde(flatten)]
    pub read: SourceRead,
    /// Restarts and other events, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SourceEvent>,
}

/// Which source was read, with what `summary.json` says of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceRead {
    /// The process tree, from `/proc` (or `sysinfo`).
    Tree,
    /// A cgroup.
    Cgroup(CgroupSummary),
    /// A Prometheus query.
    Prometheus(PrometheusSummary),
    /// A browser page, through the DevTools protocol.
    Cdp(PageSummary),
}

/// A cgroup that was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupSummary {
    /// Its folder.
    pub cgroup: String,
    /// `v1` or `v2`.
    pub cgroup_version: String,
    /// Whether memsoak made the cgroup for its target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cgroup_made: bool,
}

/// A Prometheus query that was read, with each series judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusSummary {
    /// Prometheus's base URL, as written.
    pub prometheus: String,
    /// The PromQL query.
    pub query: String,
    /// For a past window (`memsoak report --prometheus`): its start and
    /// end (RFC 3339) and step, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Each series, judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesJudgement>,
    /// How many series the fleet sum held at the end; the fleet is judged
    /// against the limit times this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_at_end: Option<usize>,
    /// Whether a restart counts as a target failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarts_fail: bool,
}

/// A browser page that was read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PageSummary {
    /// The page and its browser.
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
    /// A summary of `read` with no events yet.
    pub fn new(read: SourceRead) -> SourceSummary {
        SourceSummary {
            read,
            events: Vec::new(),
        }
    }

    /// Which kind of source it was.
    pub fn kind(&self) -> SourceKind {
        match self.read {
            SourceRead::Tree => SourceKind::Tree,
            SourceRead::Cgroup(_) => SourceKind::Cgroup,
            SourceRead::Prometheus(_) => SourceKind::Prometheus,
            SourceRead::Cdp(_) => SourceKind::Cdp,
        }
    }

    /// A Prometheus source's facts.
    pub fn prometheus(&self) -> Option<&PrometheusSummary> {
        match &self.read {
            SourceRead::Prometheus(p) => Some(p),
            _ => None,
        }
    }

    /// One line for people: what was read.
    pub fn describe(&self) -> String {
        match &self.read {
            SourceRead::Cgroup(c) => format!(
                "cgroup {} ({}{})",
                c.cgroup,
                c.cgroup_version,
                if c.cgroup_made {
                    ", made for the target"
                } else {
                    ""
                }
            ),
            SourceRead::Prometheus(p) => format!("Prometheus {}: {}", p.prometheus, p.query),
            SourceRead::Cdp(PageSummary { cdp: Some(c) }) => c.describe(),
            SourceRead::Cdp(PageSummary { cdp: None }) => "a browser page".into(),
            SourceRead::Tree => "the process tree (/proc)".into(),
        }
    }

    /// The restart events.
    pub fn restart_events(&self) -> impl Iterator<Item = &SourceEvent> {
        self.events.iter().filter(|e| e.kind == EventKind::Restart)
    }

    /// Restarts seen.
    pub fn restarts(&self) -> usize {
        self.restart_events().count()
    }

    /// Whether a restart counts as a target failure (`--restarts-fail`).
    pub fn restarts_fail(&self) -> bool {
        self.prometheus().is_some_and(|p| p.restarts_fail)
    }

    /// Judges a run's data as this source asks: the analyser's judgement
    /// alone, or for a source with series of its own (Prometheus, with
    /// `series.csv` in `dir`), each series and the fleet sum folded into
    /// the worst verdict (see [`prometheus::series::judge_fleet`]).
    pub fn judge(
        &mut self,
        dir: &std::path::Path,
        analyzer: &crate::analysis::Analyzer,
        limit: &crate::units::Rate,
    ) -> crate::analysis::Judgement {
        let mut judgement = match &mut self.read {
            SourceRead::Prometheus(p) => prometheus::series::judge_fleet(p, dir, analyzer, limit),
            _ => analyzer.judge(),
        };
        // Series past the most memsoak follows were never measured: what
        // was measured passing says nothing of them.
        if let Some(e) = self
            .events
            .iter()
            .find(|e| e.what.ends_with(prometheus::LEFT_OUT))
        {
            if judgement.verdict == crate::analysis::Verdict::Pass {
                judgement.verdict = crate::analysis::Verdict::Inconclusive;
            }
            judgement.reasons.push(format!(
                "{} (from {:.0}s, first {}): their memory was not measured, so the run cannot pass",
                e.what, e.elapsed_s, e.series
            ));
        }
        judgement
    }
}

/// An open source, ready to sample: its probe and what outputs say of it.
pub struct Opened {
    /// The probe the sampler drives.
    pub probe: Box<dyn Probe>,
    /// What the summary says.
    pub summary: SourceSummary,
    /// Each sample sums members (the series of a query) that are each
    /// held to the limit: the live view and fail-fast judge the sum
    /// against the limit times the members.
    pub fleet: bool,
}

/// `Name: value` (a `--prometheus-header`) as its name and value, trimmed.
pub fn parse_header(text: &str) -> Option<(String, String)> {
    let (k, v) = text.split_once(':')?;
    (!k.trim().is_empty()).then(|| (k.trim().to_string(), v.trim().to_string()))
}
