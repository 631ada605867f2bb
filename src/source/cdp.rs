//! A browser page as the memory source: the frontend half of a session.
//!
//! Each tick reads the page through the DevTools protocol
//! (`Performance.getMetrics`): its JavaScript heap in use and reserved
//! (`js_heap_bytes`, judged by default, and `js_heap_total_bytes` in
//! `samples.csv`) and Blink's counters, which go to `breakdown.csv` as
//! attribution resources: `dom_nodes`, `js_event_listeners`,
//! `documents`, `frames`, `layout_objects`, and Blink's own heap
//! (`blink_heap_bytes`, where DOM nodes live). Beside them the browser's
//! processes are sampled from `/proc` like any tree (its main process and
//! every descendant: zygotes, renderers, GPU, utilities), so RSS, classes
//! and per-process rows work as for a backend.
//!
//! A JavaScript heap carries garbage until the collector runs, so a
//! reading taken at a random moment is the live heap plus whatever the
//! page allocated since the last collection: a sawtooth of megabytes with
//! a period of seconds to minutes. memsoak collects garbage
//! (`HeapProfiler.collectGarbage`) before a reading every `gc_interval`
//! (by default a 240th of the run, between one interval and a minute), so
//! the block minima the verdict fits are the live heap. A full collection
//! pauses the page (milliseconds for a small heap, a few hundred for
//! hundreds of MB), which is why it is not done on every tick of a long
//! run.
//!
//! The counters are the renderer process's (Blink's instance counters):
//! with one page per renderer, as in a browser memsoak launches, they are
//! the page's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CdpSpec, PageSpec};
use crate::breakdown::Breakdown;
use crate::cdp::browser::Launched;
use crate::cdp::endpoint::{self, Endpoint, TargetInfo, Version};
use crate::cdp::snapshot::{self, HeapDiff};
use crate::cdp::{page, CdpError, Session};
use crate::sampler::{
    Probe, ProbeError, ProcReading, ProcessInfo, ProcessSummary, SourceEvent, Tree, Want,
};
use crate::samples::Sample;

/// The longest default `gc_interval`.
pub const MAX_GC_INTERVAL: Duration = Duration::from_secs(60);

/// How long one reading of the page may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a collection of garbage may take (a large heap's full GC).
const GC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one heap snapshot may take to be written.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(300);

/// The baseline and final heap snapshots in the run folder.
pub const BASELINE_SNAPSHOT: &str = "heap-baseline.heapsnapshot";
/// The final one.
pub const FINAL_SNAPSHOT: &str = "heap-final.heapsnapshot";

/// The default `gc_interval`: a 240th of the run, at least one interval,
/// at most [`MAX_GC_INTERVAL`].
pub fn default_gc_interval(duration: Duration, interval: Duration) -> Duration {
    (duration / 240).clamp(interval, MAX_GC_INTERVAL.max(interval))
}

/// `summary.json`'s `source.cdp`: the page and its browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdpSummary {
    /// The DevTools endpoint.
    pub endpoint: String,
    /// The page's URL when measuring started.
    pub page_url: String,
    /// Its title.
    pub page_title: String,
    /// What the browser says it is (`Chrome/156.0.8078.114`).
    pub browser: String,
    /// The browser's main process, whose tree is sampled.
    pub browser_pid: u32,
    /// Whether memsoak launched the browser (and closed it).
    pub launched: bool,
    /// The browser executable memsoak launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// Garbage collected before a reading this often, seconds; 0: never.
    pub gc_interval_s: f64,
}

impl CdpSummary {
    /// One line for people.
    pub fn describe(&self) -> String {
        let page = if self.page_title.is_empty() || self.page_title == self.page_url {
            self.page_url.clone()
        } else {
            format!("'{}' ({})", self.page_title, self.page_url)
        };
        format!(
            "page {page} in {}{}",
            if self.browser.is_empty() {
                "a browser"
            } else {
                &self.browser
            },
            if self.launched {
                ", launched by memsoak"
            } else {
                ""
            }
        )
    }
}

/// What was checked before the run folder is made.
// One per run, held until the page opens.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Prepared {
    /// A running browser, its page chosen.
    Attach {
        /// Its endpoint.
        endpoint: Endpoint,
        /// What it says it is.
        version: Version,
        /// The page.
        page: TargetInfo,
        /// Its main process.
        browser_pid: u32,
    },
    /// A browser to launch, found.
    Launch {
        /// The executable.
        executable: PathBuf,
    },
}

/// Checks the source before anything starts: a running browser answers
/// and has the page, or a browser to launch exists. Errors are the
/// user's to fix (exit 2).
pub async fn preflight(spec: &CdpSpec) -> Result<Prepared, String> {
    match &spec.page {
        PageSpec::Attach { endpoint, target } => {
            let endpoint = Endpoint::parse(endpoint)?;
            let version = endpoint.version().await?;
            let page = endpoint::choose_page(&endpoint.targets().await?, target.as_deref())?;
            if page.ws_url.is_none() {
                return Err(format!(
                    "the page {} takes no more DevTools connections (another client holds it exclusively)",
                    page.describe()
                ));
            }
            let browser_pid = endpoint::browser_pid(&endpoint, &version).await?;
            Ok(Prepared::Attach {
                endpoint,
                version,
                page,
                browser_pid,
            })
        }
        PageSpec::Launch { browser, .. } => Ok(Prepared::Launch {
            executable: crate::cdp::browser::find_executable(browser.executable.as_deref())?,
        }),
    }
}

/// The page a run reads, open.
#[derive(Debug)]
pub struct Page {
    /// The page's session, shared by the probe, the snapshots and the
    /// browser workloads.
    pub session: Session,
    /// The browser memsoak launched, if it did.
    launched: Option<Launched>,
    summary: CdpSummary,
}

/// Opens the page: attaches, or launches the browser (its log in
/// `run_dir`) and opens the URL, waiting up to `timeout` for it to load.
/// Errors are target failures (exit 3).
pub async fn open(
    spec: &CdpSpec,
    prepared: Prepared,
    run_dir: &Path,
    grace: Duration,
    timeout: Duration,
) -> Result<Page, String> {
    let (session, launched, endpoint, version, browser_pid, info) = match (prepared, &spec.page) {
        (
            Prepared::Attach {
                endpoint,
                version,
                page,
                browser_pid,
            },
            _,
        ) => {
            let ws = page.ws_url.clone().unwrap_or_default();
            let session = Session::connect(&ws, &format!("the page {}", page.describe()), timeout)
                .await
                .map_err(|e| e.to_string())?;
            (session, None, endpoint, version, browser_pid, page)
        }
        (Prepared::Launch { .. }, PageSpec::Launch { url, browser }) => {
            let launched = Launched::start(browser, run_dir, grace, timeout).await?;
            let targets = launched.endpoint.targets().await?;
            let blank = endpoint::choose_page(&targets, None)
                .map_err(|e| format!("the browser memsoak launched: {e}"))?;
            let ws = blank.ws_url.clone().unwrap_or_default();
            let session = Session::connect(&ws, &format!("the page {url}"), timeout)
                .await
                .map_err(|e| e.to_string())?;
            let expanded = crate::workload::template::expand_env(url)?;
            page::navigate(&session, &expanded, timeout)
                .await
                .map_err(|e| {
                    crate::secrets::redact(&format!(
                        "the browser memsoak launched {e}{}",
                        launched.log_tail()
                    ))
                })?;
            let title = page::evaluate(&session, "document.title", READ_TIMEOUT)
                .await
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let info = TargetInfo {
                title,
                url: url.clone(),
                ..blank
            };
            let (endpoint, version, pid) = (
                launched.endpoint.clone(),
                launched.version.clone(),
                launched.pid(),
            );
            (session, Some(launched), endpoint, version, pid, info)
        }
        (Prepared::Launch { .. }, PageSpec::Attach { .. }) => {
            return Err("internal: a launch was prepared for an attach".into())
        }
    };
    // Counters need the Performance domain; a crash is told through
    // Inspector events.
    for method in ["Performance.enable", "Inspector.enable"] {
        session
            .call(method, json!({}), READ_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
    }
    let summary = CdpSummary {
        endpoint: endpoint.address(),
        page_url: info.url.clone(),
        page_title: info.title.clone(),
        browser: version.browser.clone(),
        browser_pid,
        launched: launched.is_some(),
        executable: launched
            .as_ref()
            .map(|l| l.executable.display().to_string()),
        gc_interval_s: 0.0,
    };
    Ok(Page {
        session,
        launched,
        summary,
    })
}

impl Page {
    /// The browser's main process.
    pub fn browser_pid(&self) -> u32 {
        self.summary.browser_pid
    }

    /// The keeper of a browser memsoak launched (one of its helpers).
    pub fn keeper_pid(&self) -> Option<u32> {
        self.launched.as_ref().map(Launched::keeper_pid)
    }

    /// What the summary says of the page, with its garbage collection
    /// cadence.
    pub fn summary(&self, gc_interval: Duration) -> CdpSummary {
        CdpSummary {
            gc_interval_s: gc_interval.as_secs_f64(),
            ..self.summary.clone()
        }
    }

    /// Ends the session; a browser memsoak launched is closed, one it
    /// attached to is left running.
    pub async fn close(mut self) {
        self.session.close();
        if let Some(b) = self.launched.take() {
            b.close().await;
        }
    }
}

/// One reading of the page.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct PageReading {
    js_heap: u64,
    js_heap_total: u64,
    nodes: Option<u64>,
    listeners: Option<u64>,
    documents: Option<u64>,
    frames: Option<u64>,
    layout_objects: Option<u64>,
    blink_heap: Option<u64>,
}

#[derive(Deserialize)]
struct Metrics {
    metrics: Vec<NamedValue>,
}

#[derive(Deserialize)]
struct NamedValue {
    name: String,
    value: f64,
}

impl PageReading {
    fn of(metrics: &Metrics) -> Result<PageReading, String> {
        let get = |name: &str| {
            metrics
                .metrics
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.value.max(0.0).round() as u64)
        };
        let js_heap = get("JSHeapUsedSize").ok_or(
            "Performance.getMetrics gave no JSHeapUsedSize (is this a page with JavaScript?)",
        )?;
        Ok(PageReading {
            js_heap,
            js_heap_total: get("JSHeapTotalSize").unwrap_or(js_heap),
            nodes: get("Nodes"),
            listeners: get("JSEventListeners"),
            documents: get("Documents"),
            frames: get("Frames"),
            layout_objects: get("LayoutObjects"),
            blink_heap: None,
        })
    }
}

async fn read_page(s: &Session, collect: bool) -> Result<PageReading, CdpError> {
    if collect {
        s.call("HeapProfiler.collectGarbage", json!({}), GC_TIMEOUT)
            .await?;
    }
    let m: Metrics = s
        .call_as("Performance.getMetrics", json!({}), READ_TIMEOUT)
        .await?;
    let mut r = PageReading::of(&m).map_err(|why| CdpError::Answer {
        method: "Performance.getMetrics".into(),
        why,
    })?;
    // Blink's heap (DOM nodes and what they hold) is told apart only by
    // newer browsers.
    if let Ok(usage) = s
        .call("Runtime.getHeapUsage", json!({}), READ_TIMEOUT)
        .await
    {
        r.blink_heap = usage
            .get("embedderHeapUsedSize")
            .and_then(serde_json::Value::as_f64)
            .map(|v| v.max(0.0) as u64);
    }
    Ok(r)
}

/// The page's probe: the page through its session, and the browser's
/// process tree through the `/proc` probe.
pub struct CdpProbe {
    session: Session,
    runtime: tokio::runtime::Handle,
    tree: Box<dyn Probe>,
    /// Garbage is collected every this many ticks; 0: never.
    gc_every: u64,
    tick: u64,
    last: Option<PageReading>,
    events: Vec<SourceEvent>,
    gone: bool,
}

impl CdpProbe {
    /// A probe of `page`, collecting garbage every `gc_every` ticks
    /// (0: never); calls run on `runtime`.
    pub fn new(
        page: &Page,
        tree: Box<dyn Probe>,
        gc_every: u64,
        runtime: tokio::runtime::Handle,
    ) -> CdpProbe {
        CdpProbe {
            session: page.session.clone(),
            runtime,
            tree,
            gc_every,
            tick: 0,
            last: None,
            events: Vec::new(),
            gone: false,
        }
    }

    fn gone(&mut self, why: String) -> ProbeError {
        if !self.gone {
            self.gone = true;
            tracing::info!("{why}");
            self.events.push(SourceEvent {
                elapsed_s: f64::NAN,
                series: "page".into(),
                what: why,
            });
        }
        ProbeError::RootGone
    }
}

impl Probe for CdpProbe {
    fn read(&mut self, tree: &Tree, want: Want) -> Result<Sample, ProbeError> {
        let collect = self.gc_every > 0 && self.tick.is_multiple_of(self.gc_every);
        self.tick += 1;
        let reading = self.runtime.block_on(read_page(&self.session, collect));
        let reading = match reading {
            Ok(r) => r,
            Err(e) if e.is_closed() => {
                let why = match tree {
                    Tree::Attached { root } if !crate::process::pid_alive(*root) => {
                        format!("the browser's main process (pid {root}) ended")
                    }
                    _ => e.to_string(),
                };
                return Err(self.gone(why));
            }
            Err(e) => return Err(ProbeError::Other(e.to_string())),
        };
        let mut sample = match self.tree.read(tree, want) {
            Ok(s) => s,
            Err(ProbeError::RootGone) => {
                return Err(self.gone("the browser's main process ended".into()))
            }
            Err(e) => return Err(e),
        };
        sample.js_heap_bytes = Some(reading.js_heap);
        sample.js_heap_total_bytes = Some(reading.js_heap_total);
        sample.page_heap_bytes = reading.blink_heap.map(|b| b + reading.js_heap);
        self.last = Some(reading);
        Ok(sample)
    }

    fn unavailable(&self) -> &'static [&'static str] {
        self.tree.unavailable()
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        self.tree.processes()
    }

    fn breakdown(&mut self, smaps: bool) -> Option<Breakdown> {
        let mut b = self.tree.breakdown(smaps).unwrap_or_default();
        let r = self.last?;
        b.dom_nodes = r.nodes;
        b.js_event_listeners = r.listeners;
        b.documents = r.documents;
        b.frames = r.frames;
        b.layout_objects = r.layout_objects;
        b.blink_heap = r.blink_heap;
        Some(b)
    }

    fn readings(&self) -> &[ProcReading] {
        self.tree.readings()
    }

    fn describe(&self, pid: i32) -> Option<ProcessInfo> {
        self.tree.describe(pid)
    }

    fn name(&self, pid: i32) -> Option<&str> {
        self.tree.name(pid)
    }

    fn record(&mut self, elapsed_s: f64) -> anyhow::Result<()> {
        for e in &mut self.events {
            if e.elapsed_s.is_nan() {
                e.elapsed_s = elapsed_s;
            }
        }
        Ok(())
    }

    fn events(&mut self) -> Vec<SourceEvent> {
        let mut events = std::mem::take(&mut self.events);
        for e in &mut events {
            if e.elapsed_s.is_nan() {
                e.elapsed_s = 0.0;
            }
        }
        events
    }
}

/// A snapshot written to the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// The file, relative to the run folder.
    pub file: String,
    /// When it was taken, seconds since the measured clock started.
    pub elapsed_s: f64,
    /// Its size, bytes.
    pub bytes: u64,
    /// Deleted once compared: it held a value memsoak expanded from the
    /// environment (a `${NAME}` the page was given), which no file keeps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// `summary.json`'s `heap_snapshots`: the two snapshots and what changed
/// between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapSnapshots {
    /// Taken as warm-up ends.
    pub baseline: Option<SnapshotFile>,
    /// Taken at the end, under load.
    #[serde(rename = "final")]
    pub last: Option<SnapshotFile>,
    /// The comparison, when both were taken and read.
    #[serde(flatten)]
    pub diff: Option<HeapDiff>,
    /// Why there is no comparison.
    pub error: Option<String>,
}

/// The two snapshots of a run: the baseline as warm-up ends, the final at
/// the end of the judged window.
pub struct Snapshots {
    session: Session,
    dir: PathBuf,
    baseline: Option<SnapshotFile>,
    /// The baseline, read when its file had to go at once.
    baseline_read: Option<snapshot::HeapSummary>,
    error: Option<String>,
}

impl Snapshots {
    /// Snapshots of `page` into `dir`.
    pub fn new(page: &Page, dir: &Path) -> Snapshots {
        Snapshots {
            session: page.session.clone(),
            dir: dir.to_path_buf(),
            baseline: None,
            baseline_read: None,
            error: None,
        }
    }

    async fn take(&self, file: &str, elapsed_s: f64) -> Result<SnapshotFile, String> {
        let bytes = snapshot::take(&self.session, &self.dir.join(file), SNAPSHOT_TIMEOUT).await?;
        Ok(SnapshotFile {
            file: file.into(),
            elapsed_s,
            bytes,
            deleted: false,
        })
    }

    /// Takes the baseline. One that holds a value memsoak expanded from
    /// the environment is read now and deleted, so no file keeps it even
    /// if the run is killed.
    pub async fn baseline(&mut self, elapsed_s: f64) {
        let mut f = match self.take(BASELINE_SNAPSHOT, elapsed_s).await {
            Ok(f) => f,
            Err(e) => {
                self.error = Some(format!("the baseline snapshot failed: {e}"));
                return;
            }
        };
        let path = self.dir.join(&f.file);
        if crate::secrets::appear_in(&path).unwrap_or(false) {
            let read = tokio::task::spawn_blocking(move || {
                let read = snapshot::summarise(&path);
                let _ = std::fs::remove_file(&path);
                read
            })
            .await;
            f.deleted = true;
            match read {
                Ok(Ok(summary)) => self.baseline_read = Some(summary),
                Ok(Err(e)) => self.error = Some(crate::secrets::redact(&e)),
                Err(e) => self.error = Some(format!("reading the baseline failed: {e}")),
            }
        }
        self.baseline = Some(f);
    }

    /// Takes the final snapshot and compares the two (read off the async
    /// threads: a large snapshot takes seconds to read).
    pub async fn finish(self, elapsed_s: f64) -> HeapSnapshots {
        let last = match self.take(FINAL_SNAPSHOT, elapsed_s).await {
            Ok(f) => f,
            Err(e) => {
                let mut baseline = self.baseline;
                if let Some(b) = &mut baseline {
                    scrub(&self.dir, b);
                }
                return HeapSnapshots {
                    baseline,
                    last: None,
                    diff: None,
                    error: Some(
                        self.error
                            .unwrap_or(format!("the final snapshot failed: {e}")),
                    ),
                };
            }
        };
        let Some(baseline) = self.baseline else {
            let mut last = last;
            scrub(&self.dir, &mut last);
            return HeapSnapshots {
                baseline: None,
                last: Some(last),
                diff: None,
                error: Some(
                    self.error
                        .unwrap_or("no baseline: the run ended before warm-up did".into()),
                ),
            };
        };
        let (dir, baseline_read, failed) = (self.dir, self.baseline_read, self.error);
        let joined = tokio::task::spawn_blocking(move || {
            let (mut baseline, mut last) = (baseline, last);
            let read = |f: &SnapshotFile| snapshot::summarise(&dir.join(&f.file));
            let first = match baseline_read {
                Some(s) => Ok(s),
                None if baseline.deleted => {
                    Err(failed.unwrap_or_else(|| "the baseline could not be read".into()))
                }
                None => read(&baseline),
            };
            let compared = first.and_then(|a| Ok(snapshot::diff(&a, &read(&last)?)));
            scrub(&dir, &mut baseline);
            scrub(&dir, &mut last);
            (compared, baseline, last)
        })
        .await;
        let (compared, baseline, last) = match joined {
            Ok(done) => done,
            Err(e) => {
                return HeapSnapshots {
                    baseline: None,
                    last: None,
                    diff: None,
                    error: Some(format!("reading the snapshots failed: {e}")),
                }
            }
        };
        let held = [&baseline, &last].iter().filter(|f| f.deleted).count();
        let (diff, error) = match compared {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(crate::secrets::redact(&e))),
        };
        let error = error.or_else(|| {
            (held > 0).then(|| {
                format!(
                    "{held} snapshot file(s) held a value memsoak expanded from the environment (a ${{NAME}} the page was given, directly or through the backend): compared, then deleted, since no file keeps such a value"
                )
            })
        });
        HeapSnapshots {
            baseline: Some(baseline),
            last: Some(last),
            diff: diff.map(redact_names),
            error,
        }
    }
}

/// Deletes a snapshot that holds a value memsoak expanded from the
/// environment, and marks it so.
fn scrub(dir: &Path, f: &mut SnapshotFile) {
    let path = dir.join(&f.file);
    if crate::secrets::appear_in(&path).unwrap_or(false) {
        let _ = std::fs::remove_file(&path);
        f.deleted = true;
    }
}

/// Class names are the page's (tags with their attributes): redacted like
/// anything else memsoak writes.
fn redact_names(mut d: HeapDiff) -> HeapDiff {
    for c in d
        .constructors
        .iter_mut()
        .chain(d.detached_nodes.by_name.iter_mut())
    {
        c.name = crate::secrets::redact(&c.name);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_gc_interval_follows_the_run() {
        let s = Duration::from_secs;
        assert_eq!(default_gc_interval(s(120), s(1)), s(1));
        assert_eq!(default_gc_interval(s(8 * 3600), s(1)), s(60));
        assert_eq!(default_gc_interval(s(3600), s(1)), s(15));
        assert_eq!(default_gc_interval(s(8 * 3600), s(120)), s(120));
    }

    #[test]
    fn metrics_are_read_by_name() {
        let m: Metrics = serde_json::from_str(
            r#"{"metrics":[{"name":"Nodes","value":4688},{"name":"JSEventListeners","value":114},
            {"name":"JSHeapUsedSize","value":1506492},{"name":"JSHeapTotalSize","value":3932160},{"name":"Documents","value":2}]}"#,
        )
        .unwrap();
        let r = PageReading::of(&m).unwrap();
        assert_eq!((r.js_heap, r.js_heap_total), (1_506_492, 3_932_160));
        assert_eq!(
            (r.nodes, r.listeners, r.documents, r.frames),
            (Some(4688), Some(114), Some(2), None)
        );
        let none: Metrics = serde_json::from_str(r#"{"metrics":[]}"#).unwrap();
        assert!(PageReading::of(&none).is_err());
    }
}
