//! The page's probe: each tick, a collection of garbage when one is due,
//! then the page's heaps and Blink's counters through its session, and
//! the browser's processes through the `/proc` probe.
//!
//! The page is read by a task of its own and the tick waits for it at most
//! half an interval: a page's main thread can be busy for seconds (a long
//! task, a heap snapshot) or hang for good, and the browser's processes
//! must be sampled all the same. A page quiet for [`UNRESPONSIVE`] outside
//! a snapshot ends the run, named.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::{Page, READ_TIMEOUT};
use crate::devtools::{CdpError, Session};
use crate::recording::breakdown::Breakdown;
use crate::recording::samples::Sample;
use crate::sampler::{EventKind, Probe, ProbeError, SourceEvent, Tree, Want};
use crate::source::overlay::{Composed, Overlay};

/// How long a collection of garbage may take (a large heap's full GC).
const GC_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Reads the page; `heap_usage` is cleared once the browser shows it
/// cannot tell Blink's heap apart (an error for `Runtime.getHeapUsage`, or
/// an answer without it), so older browsers cost one call a tick, not two.
async fn read_page(
    s: &Session,
    collect: bool,
    heap_usage: &mut bool,
) -> Result<PageReading, CdpError> {
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
    if *heap_usage {
        match s
            .call("Runtime.getHeapUsage", json!({}), READ_TIMEOUT)
            .await
        {
            Ok(usage) => {
                r.blink_heap = usage
                    .get("embedderHeapUsedSize")
                    .and_then(serde_json::Value::as_f64)
                    .map(|v| v.max(0.0) as u64);
                *heap_usage = r.blink_heap.is_some();
            }
            Err(e @ CdpError::Protocol { .. }) => {
                tracing::debug!("{e}; Blink's heap is not read");
                *heap_usage = false;
            }
            // A late answer or a closing page: asked again next tick.
            Err(_) => {}
        }
    }
    Ok(r)
}

/// A page that has not answered for this long, outside a heap snapshot,
/// has stopped: its main thread is hung or busy beyond any reading.
pub(super) const UNRESPONSIVE: Duration = Duration::from_secs(30);

/// A page that answers after being quiet this long (outside a heap
/// snapshot) is said to have stalled, in the run's events.
const STALL_NOTED: Duration = Duration::from_secs(5);

/// At most this many stalls are told one by one; the rest are counted.
const STALLS_TOLD: u32 = 10;

/// The page's reader: a task that asks the page when told to and hands the
/// answer back. The sampler never waits on the page longer than its
/// budget: a page whose main thread is busy (a long task, a heap snapshot,
/// a hang) delays only its own readings, never the browser's processes'.
struct Reader {
    /// Asks for one reading (`true`: collect garbage first).
    ask: mpsc::Sender<bool>,
    /// The answers, one per ask.
    answers: mpsc::Receiver<Result<PageReading, CdpError>>,
    /// A reading was asked for and not yet answered.
    outstanding: bool,
    /// Since when the page has been asked without a reading coming back.
    unanswered_since: Option<Instant>,
}

impl Reader {
    fn spawn(session: Session, runtime: &tokio::runtime::Handle) -> Reader {
        let (ask, mut asked) = mpsc::channel::<bool>(1);
        let (answer, answers) = mpsc::channel(1);
        runtime.spawn(async move {
            let mut heap_usage = true;
            while let Some(collect) = asked.recv().await {
                let r = read_page(&session, collect, &mut heap_usage).await;
                if answer.send(r).await.is_err() {
                    break;
                }
            }
        });
        Reader {
            ask,
            answers,
            outstanding: false,
            unanswered_since: None,
        }
    }
}

/// The page's overlay on the browser's process tree: the page through
/// its session, the browser's processes through the `/proc` probe
/// (composed by [`page_probe`]).
pub struct PageOverlay {
    session: Session,
    runtime: tokio::runtime::Handle,
    reader: Reader,
    /// How long a tick waits for the page's answer.
    budget: Duration,
    /// Garbage is collected every this many ticks; 0: never.
    gc_every: u64,
    tick: u64,
    last: Option<PageReading>,
    events: Vec<SourceEvent>,
    stalls: u32,
    gone: bool,
}

/// A probe of `page` over the browser's processes (read by `tree`) every
/// `interval`, collecting garbage every `gc_every` ticks (0: never); calls
/// run on `runtime`.
pub fn page_probe(
    page: &Page,
    tree: Box<dyn Probe>,
    interval: Duration,
    gc_every: u64,
    runtime: tokio::runtime::Handle,
) -> Composed<PageOverlay> {
    Composed::new(
        PageOverlay {
            session: page.session.clone(),
            reader: Reader::spawn(page.session.clone(), &runtime),
            runtime,
            budget: (interval / 2).min(Duration::from_secs(2)),
            gc_every,
            tick: 0,
            last: None,
            events: Vec::new(),
            stalls: 0,
            gone: false,
        },
        Some(tree),
    )
}

impl PageOverlay {
    fn gone(&mut self, why: String) -> ProbeError {
        if !self.gone {
            self.gone = true;
            tracing::info!("{why}");
            self.events.push(SourceEvent::new(
                f64::NAN,
                "page".into(),
                EventKind::Gone,
                why,
            ));
        }
        ProbeError::RootGone
    }

    /// The page's answer to this tick, if it came within the budget: asks
    /// when nothing is outstanding, then waits at most the budget.
    fn page_reading(&mut self, spec: &Tree) -> Result<Option<PageReading>, ProbeError> {
        if let Some(to) = self.session.navigated_away() {
            return Err(self.gone(format!(
                "the page navigated away on its own, to {}: what would be measured is no longer the page the run soaks",
                crate::secrets::redact(&to)
            )));
        }
        let now = Instant::now();
        if self.session.snapshot_in_progress() {
            // The page is writing a snapshot memsoak asked for: its
            // silence is not a hang.
            self.reader.unanswered_since = None;
        }
        if !self.reader.outstanding {
            let collect = self.gc_every > 0 && self.tick.is_multiple_of(self.gc_every);
            if self.reader.ask.try_send(collect).is_ok() {
                self.reader.outstanding = true;
                self.reader.unanswered_since.get_or_insert(now);
            }
        }
        self.tick += 1;
        let budget = self.budget;
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(budget, self.reader.answers.recv()).await });
        let quiet = self
            .reader
            .unanswered_since
            .map_or(Duration::ZERO, |t| t.elapsed());
        match answer {
            Ok(Some(Ok(r))) => {
                self.reader.outstanding = false;
                self.reader.unanswered_since = None;
                if quiet >= STALL_NOTED {
                    self.stalled(quiet);
                }
                Ok(Some(r))
            }
            Ok(Some(Err(e))) if e.is_closed() => {
                let why = match spec {
                    Tree::Attached { root } if !crate::process::pid_alive(*root) => {
                        format!("the browser's main process (pid {root}) ended")
                    }
                    _ => e.to_string(),
                };
                Err(self.gone(why))
            }
            // A call that timed out: asked again next tick, the page's
            // quiet still counted.
            Ok(Some(Err(e @ CdpError::Timeout { .. }))) => {
                self.reader.outstanding = false;
                tracing::debug!("reading the page: {e}");
                self.unresponsive(quiet)
            }
            // Refused or unreadable: a failed reading, asked again.
            Ok(Some(Err(e))) => {
                self.reader.outstanding = false;
                self.reader.unanswered_since = None;
                Err(ProbeError::Other(e.to_string()))
            }
            Ok(None) => Err(self.gone("the page's reader ended".into())),
            Err(_) => self.unresponsive(quiet),
        }
    }

    /// No reading this tick; the run ends when the page has been quiet
    /// for [`UNRESPONSIVE`].
    fn unresponsive(&mut self, quiet: Duration) -> Result<Option<PageReading>, ProbeError> {
        if quiet >= UNRESPONSIVE {
            return Err(self.gone(format!(
                "the page stopped answering: no reading for {}s (its main thread is hung or busy; the browser's processes were sampled meanwhile)",
                quiet.as_secs()
            )));
        }
        Ok(None)
    }

    /// A stall the page came back from, told in the events (a few, then
    /// counted).
    fn stalled(&mut self, quiet: Duration) {
        self.stalls += 1;
        if self.stalls <= STALLS_TOLD {
            self.events.push(SourceEvent::new(
                f64::NAN,
                "page".into(),
                EventKind::Note,
                format!(
                    "the page did not answer for {:.1}s (its main thread was busy): no js_heap reading then; the browser's processes were sampled{}",
                    quiet.as_secs_f64(),
                    if self.stalls == STALLS_TOLD {
                        " (further stalls are not told)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
}

impl Overlay for PageOverlay {
    fn read(
        &mut self,
        spec: &Tree,
        tree: Option<&mut (dyn Probe + 'static)>,
        want: Want,
    ) -> Result<Sample, ProbeError> {
        let reading = self.page_reading(spec)?;
        let read = match tree {
            Some(t) => t.read(spec, want),
            None => Ok(Sample::default()),
        };
        let mut sample = match read {
            Ok(s) => s,
            Err(ProbeError::RootGone) => {
                return Err(self.gone("the browser's main process ended".into()))
            }
            Err(e) => return Err(e),
        };
        if let Some(reading) = reading {
            sample.js_heap_bytes = Some(reading.js_heap);
            sample.js_heap_total_bytes = Some(reading.js_heap_total);
            sample.page_heap_bytes = reading.blink_heap.map(|b| b + reading.js_heap);
            self.last = Some(reading);
        }
        Ok(sample)
    }

    fn unavailable(&self, tree: Option<&'static [&'static str]>) -> &'static [&'static str] {
        tree.unwrap_or(&[])
    }

    fn breakdown(&self, tree: Option<Breakdown>) -> Option<Breakdown> {
        let r = self.last?;
        Some(Breakdown {
            dom_nodes: r.nodes,
            js_event_listeners: r.listeners,
            documents: r.documents,
            frames: r.frames,
            layout_objects: r.layout_objects,
            blink_heap: r.blink_heap,
            ..tree.unwrap_or_default()
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
