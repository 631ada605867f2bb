//! The Chrome DevTools Protocol: how memsoak talks to a browser page
//! (Chromium, Chrome, Edge, Electron: anything started with
//! `--remote-debugging-port`).
//!
//! A [`Session`] is one WebSocket to one target (a page, or the browser
//! itself), speaking the protocol's JSON-RPC: each call carries an id and
//! waits for the answer with that id; everything else the browser sends is
//! an event. One reader task routes answers to their callers and the few
//! events memsoak uses (heap snapshot chunks, a crashed or detached
//! target); the rest are dropped unread, so nothing queues up over hours.
//! A session is cheap to clone: the sampler, the heap snapshots and a
//! browser workload share one.
//!
//! Why a client of our own on `tokio-tungstenite` (already memsoak's
//! WebSocket stack for the collab workload) rather than a crate:
//! `chromiumoxide` 0.9 brings 111,000 lines of generated protocol types
//! (`chromiumoxide_cdp`) and a second WebSocket stack (`async-tungstenite`),
//! and `headless_chrome` 1.0 is synchronous with a thread per connection
//! and a launcher of its own. memsoak uses fourteen methods; it needs heap
//! snapshot chunks written to disk as they arrive, under back-pressure (a
//! snapshot of a large heap is hundreds of MB, which a buffered event
//! stream would hold in memory), and a browser it launches must be owned
//! by memsoak's process keeper so that no exit path leaves one behind
//! ([`browser`]). Those are a reader loop and a launcher, not a protocol
//! binding.
//!
//! - [`endpoint`]: the HTTP side (`/json/version`, `/json/list`): which
//!   page to attach to, and the browser's process;
//! - [`browser`]: a headless Chromium memsoak starts and always closes;
//! - [`page`]: navigating, clicking and typing as a person would;
//! - [`snapshot`]: heap snapshots, streamed to `.heapsnapshot` files and
//!   summarised (constructors, detached DOM nodes) in one bounded pass.

pub mod browser;
pub mod endpoint;
pub mod page;
pub mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Largest message accepted from the browser. A heap snapshot comes in
/// chunks of about 1 MiB; an `evaluate` answer is what the script returns.
const MAX_MESSAGE: usize = 64 << 20;

/// Heap snapshot chunks in flight between the reader and the file writer:
/// the reader waits when the writer is behind, so memory stays bounded.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CdpError {
    /// The browser answered with an error.
    #[error("{method}: {message} (DevTools error {code})")]
    Protocol {
        /// The method called.
        method: String,
        /// The protocol's error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// No answer in time (the page's main thread busy, or the browser hung).
    #[error("{method}: no answer within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The method called.
        method: String,
        /// How long memsoak waited.
        after: Duration,
    },
    /// The connection is gone: the browser or the page ended, crashed or
    /// detached.
    #[error("the DevTools connection to {0}")]
    Closed(String),
    /// The WebSocket could not be opened.
    #[error("could not connect to the DevTools WebSocket {url}: {why}")]
    Connect {
        /// The WebSocket URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The answer is not what the protocol says it is.
    #[error("{method}: unexpected answer: {why}")]
    Answer {
        /// The method called.
        method: String,
        /// What was wrong with it.
        why: String,
    },
}

impl CdpError {
    /// Whether the connection is gone (the target ended), as opposed to
    /// one call failing.
    pub fn is_closed(&self) -> bool {
        matches!(self, CdpError::Closed(_) | CdpError::Connect { .. })
    }
}

type Pending = HashMap<u64, oneshot::Sender<Result<Value, CdpError>>>;

struct Inner {
    /// What the session is connected to, for messages: `page 'Editor'`.
    label: String,
    out: mpsc::Sender<Message>,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    /// Why the connection ended, once it has.
    closed: Mutex<Option<String>>,
    /// Where heap snapshot chunks go while a snapshot is being taken.
    chunks: Mutex<Option<mpsc::Sender<String>>>,
    /// The page's own navigations, once watched.
    navigations: Mutex<Navigations>,
}

/// A navigation memsoak did not make comes this long after its last
/// action on the page at the earliest (a click on a link commits the next
/// document within a second or two).
const OWN_NAVIGATION_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// What the session knows of the page's navigations: whether they are
/// watched, memsoak's actions on the page in flight and when the last
/// ended, and the first navigation none of them explains.
#[derive(Default)]
struct Navigations {
    watched: bool,
    acting: u32,
    last_act: Option<std::time::Instant>,
    away: Option<String>,
}

/// One of memsoak's actions on the page in flight (a navigation, a click,
/// a script): a navigation it causes is memsoak's, not the page's.
pub struct Acting {
    inner: Arc<Inner>,
}

impl Drop for Acting {
    fn drop(&mut self) {
        if let Ok(mut n) = self.inner.navigations.lock() {
            n.acting = n.acting.saturating_sub(1);
            n.last_act = Some(std::time::Instant::now());
        }
    }
}

/// One DevTools connection to one target.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("label", &self.inner.label)
            .finish()
    }
}

/// One message from the browser: an answer (`id`) or an event (`method`).
#[derive(Deserialize)]
struct Incoming {
    id: Option<u64>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Value>,
}

#[derive(Deserialize)]
struct RpcError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

impl Session {
    /// Opens a session on the target at `ws_url` (`ws://…/devtools/page/ID`);
    /// `label` names it in messages. Must run inside the async runtime,
    /// which then carries its reader and writer tasks.
    pub async fn connect(
        ws_url: &str,
        label: &str,
        timeout: Duration,
    ) -> Result<Session, CdpError> {
        let connect_err = |why: String| CdpError::Connect {
            url: ws_url.to_string(),
            why,
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connecting = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), false);
        let (ws, _) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| {
                connect_err(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                ))
            })?
            .map_err(|e| connect_err(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::channel::<Message>(64);
        let inner = Arc::new(Inner {
            label: label.to_string(),
            out,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: Mutex::new(None),
            chunks: Mutex::new(None),
            navigations: Mutex::new(Navigations::default()),
        });
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader = inner.clone();
        tokio::spawn(async move {
            let why = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(why) = reader.dispatch(text.as_str()).await {
                            break why;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => break "closed by the browser".into(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("lost ({e})"),
                }
            };
            reader.close(&why);
        });
        Ok(Session { inner })
    }

    /// What the session is connected to.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Why the connection ended, if it has.
    pub fn closed(&self) -> Option<String> {
        self.inner.closed.lock().ok().and_then(|c| c.clone())
    }

    /// Calls `method` with `params`; the answer's `result`.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        if let Some(why) = self.closed() {
            return Err(CdpError::Closed(format!(
                "{} ended: {why}",
                self.inner.label
            )));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.inner.pending.lock() {
            p.insert(id, tx);
        }
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        let forget = || {
            if let Ok(mut p) = self.inner.pending.lock() {
                p.remove(&id);
            }
        };
        if self.inner.out.send(Message::text(text)).await.is_err() {
            forget();
            return Err(self.gone());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(CdpError::Protocol { code, message, .. }))) => Err(CdpError::Protocol {
                method: method.to_string(),
                code,
                message,
            }),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(self.gone()),
            Err(_) => {
                forget();
                Err(CdpError::Timeout {
                    method: method.to_string(),
                    after: timeout,
                })
            }
        }
    }

    /// [`Session::call`], its result read as `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<T, CdpError> {
        let v = self.call(method, params, timeout).await?;
        serde_json::from_value(v).map_err(|e| CdpError::Answer {
            method: method.to_string(),
            why: e.to_string(),
        })
    }

    /// Routes heap snapshot chunks to a new receiver until it is dropped
    /// (one snapshot at a time: a second call replaces the first).
    pub(crate) fn snapshot_chunks(&self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        if let Ok(mut c) = self.inner.chunks.lock() {
            *c = Some(tx);
        }
        rx
    }

    /// Marks one of memsoak's actions on the page until the guard drops.
    pub fn acting(&self) -> Acting {
        if let Ok(mut n) = self.inner.navigations.lock() {
            n.acting += 1;
        }
        Acting {
            inner: self.inner.clone(),
        }
    }

    /// From now on, a navigation of the page's main frame that none of
    /// memsoak's actions explains is kept ([`Session::navigated_away`]).
    /// Needs the `Page` domain enabled.
    pub fn watch_navigations(&self) {
        if let Ok(mut n) = self.inner.navigations.lock() {
            n.watched = true;
        }
    }

    /// Where the page went on its own, if it navigated away (a link the
    /// page followed, a redirect, a reload of its own, an error page).
    pub fn navigated_away(&self) -> Option<String> {
        self.inner
            .navigations
            .lock()
            .ok()
            .and_then(|n| n.away.clone())
    }

    /// Whether a heap snapshot is being taken: the page's main thread is
    /// busy writing it, and other calls wait until it is done.
    pub fn snapshot_in_progress(&self) -> bool {
        self.inner.chunks.lock().is_ok_and(|c| c.is_some())
    }

    /// Stops routing heap snapshot chunks.
    pub(crate) fn end_snapshot_chunks(&self) {
        if let Ok(mut c) = self.inner.chunks.lock() {
            *c = None;
        }
    }

    /// Closes the connection (the target is left as it is).
    pub fn close(&self) {
        self.inner.close("closed by memsoak");
    }

    fn gone(&self) -> CdpError {
        CdpError::Closed(format!(
            "{} ended: {}",
            self.inner.label,
            self.closed().unwrap_or_else(|| "closed".into())
        ))
    }
}

impl Inner {
    /// Handles one message; `Some(why)` when the target is gone.
    async fn dispatch(&self, text: &str) -> Option<String> {
        let Ok(m) = serde_json::from_str::<Incoming>(text) else {
            return None;
        };
        if let Some(id) = m.id {
            let answer = match m.error {
                Some(e) => Err(CdpError::Protocol {
                    method: String::new(),
                    code: e.code,
                    message: e.message,
                }),
                None => Ok(m.result.unwrap_or(Value::Null)),
            };
            let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
            if let Some(w) = waiter {
                let _ = w.send(answer);
            }
            return None;
        }
        match m.method.as_deref() {
            Some("HeapProfiler.addHeapSnapshotChunk") => {
                let chunk = match m.params {
                    Some(Value::Object(mut p)) => match p.remove("chunk") {
                        Some(Value::String(s)) => s,
                        _ => return None,
                    },
                    _ => return None,
                };
                let sink = self.chunks.lock().ok().and_then(|c| c.clone());
                if let Some(tx) = sink {
                    // Waits while the writer is behind: back-pressure on
                    // the socket, not memory.
                    let _ = tx.send(chunk).await;
                }
                None
            }
            Some("Page.frameNavigated") => {
                self.navigated(m.params.as_ref());
                None
            }
            Some("Inspector.targetCrashed") => Some("crashed (its renderer process ended)".into()),
            Some("Inspector.detached") => {
                let reason = m
                    .params
                    .as_ref()
                    .and_then(|p| p.get("reason"))
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given");
                Some(format!("detached ({reason})"))
            }
            _ => None,
        }
    }

    /// A committed navigation: kept when it is the main frame's, watched,
    /// and no action of memsoak's explains it.
    fn navigated(&self, params: Option<&Value>) {
        let Some(frame) = params.and_then(|p| p.get("frame")) else {
            return;
        };
        if frame.get("parentId").is_some() {
            return;
        }
        let Ok(mut n) = self.navigations.lock() else {
            return;
        };
        let own = n.acting > 0
            || n.last_act
                .is_some_and(|t| t.elapsed() < OWN_NAVIGATION_GRACE);
        if !n.watched || own || n.away.is_some() {
            return;
        }
        let url = |k: &str| frame.get(k).and_then(Value::as_str).unwrap_or("");
        n.away = Some(match url("unreachableUrl") {
            "" => url("url").to_string(),
            failed => format!("an error page (it could not load {failed})"),
        });
    }

    /// Marks the session closed and fails every call still waiting.
    fn close(&self, why: &str) {
        if let Ok(mut c) = self.closed.lock() {
            if c.is_none() {
                *c = Some(why.to_string());
            }
        }
        let waiting: Vec<_> = self
            .pending
            .lock()
            .map(|mut p| p.drain().collect())
            .unwrap_or_default();
        for (_, w) in waiting {
            let _ = w.send(Err(CdpError::Closed(format!(
                "{} ended: {why}",
                self.label
            ))));
        }
        if let Ok(mut c) = self.chunks.lock() {
            *c = None;
        }
        // The writer task ends once every sender is gone; a close frame
        // tells the browser now.
        let _ = self.out.try_send(Message::Close(None));
    }
}
