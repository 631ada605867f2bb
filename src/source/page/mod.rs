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

mod probe;
mod session;
mod snapshots;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CdpSpec, PageSpec};
use crate::devtools::browser::Launched;
use crate::devtools::endpoint::{self, Endpoint, TargetInfo, Version};
use crate::devtools::{page, Session};
pub use probe::{page_probe, PageOverlay};
pub use session::PageSession;
pub use snapshots::{HeapSnapshots, SnapshotFile, Snapshots, BASELINE_SNAPSHOT, FINAL_SNAPSHOT};

/// The longest default `gc_interval`.
pub const MAX_GC_INTERVAL: Duration = Duration::from_secs(60);

/// How long one reading of the page may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

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
            executable: crate::devtools::browser::find_executable(browser.executable.as_deref())?,
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
            let expanded = crate::secrets::expand_env(url).map_err(|e| e.to_string())?;
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
    // Inspector events, a navigation through Page events.
    for method in ["Performance.enable", "Inspector.enable", "Page.enable"] {
        session
            .call(method, json!({}), READ_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
    }
    loaded_ok(&session, &info).await?;
    session.watch_navigations();
    let summary = CdpSummary {
        endpoint: endpoint.address(),
        // A page may show its own address (a title built from
        // `location.search`): an expanded `${ENV}` is redacted in both.
        page_url: crate::secrets::redact(&info.url),
        page_title: crate::secrets::redact(&info.title),
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

/// Refuses a page that is not what the run was asked to soak: the
/// browser's own error page, or a document the server answered with an
/// HTTP error (a 404 page has a heap too, and would be judged).
async fn loaded_ok(session: &Session, info: &TargetInfo) -> Result<(), String> {
    let script = "(() => { const n = performance.getEntriesByType('navigation')[0]; \
                  return [location.href, n && n.responseStatus ? n.responseStatus : 0]; })()";
    let Ok(answer) = page::evaluate(session, script, READ_TIMEOUT).await else {
        // A page that cannot run a script is refused by the first reading.
        return Ok(());
    };
    let href = answer
        .get(0)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let status = answer
        .get(1)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let page = crate::secrets::redact(&info.url);
    if href.starts_with("chrome-error:") {
        return Err(format!(
            "the page {page} did not load: the browser shows its error page"
        ));
    }
    if status >= 400 {
        return Err(format!(
            "the page {page} answered HTTP {status}: memsoak would be soaking an error page (is the URL right?)"
        ));
    }
    Ok(())
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
}
