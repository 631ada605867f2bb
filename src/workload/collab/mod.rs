//! collab workload: WebSocket clients of a collaboration endpoint.
//!
//! Each client connects to its document's URL, sends on an open-loop
//! schedule, and reads everything broadcast to it; what it says is its
//! protocol's [`Dialect`]: raw frames from templates ([`raw`]), a Yjs peer
//! ([`yjs`]) or a Socket.IO client ([`socketio`]). The loop here — pacing,
//! churn, reconnects with backoff, and the accounting — is the same for
//! all of them.
//!
//! Deliveries: memsoak's tag (`{tag}`) in a message carries the sender's
//! document, client, sequence number and send time, so receivers measure
//! delivery latency and notice messages from another document (a
//! delivery rule of the profile may count frames without a tag instead).
//! Deliveries are *expected* for every other client of the document
//! connected when a message is sent; expected minus received is the loss.
//!
//! Churn closes a connection after an exponentially distributed lifetime,
//! usually with a close handshake and sometimes by dropping the socket
//! without a close frame: the two paths where connection managers leak.
//! Failures reconnect with exponential backoff and ±20% jitter.

mod connection;
pub(crate) mod dialect;
pub(crate) mod raw;
pub(crate) mod socketio;
pub(crate) mod yjs;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::watch;

use super::collab_spec::{CollabSpec, Dialect as DialectSpec};
use super::design::Driver;
use super::pacing::{ramp_delay, sleep_or_stop, JudgedFrom};
use super::stats::{bump, ErrorKind, Stats};
use super::{jittered, Phase};
use connection::{Connection, Ended};
use dialect::{Ctx, Dialect};

/// State shared by one workload's clients.
pub(crate) struct Shared {
    /// The workload's counters.
    pub stats: Arc<Stats>,
    /// Clients connected per document.
    pub receivers: Vec<AtomicU64>,
    /// Sends and connects from then on count as judged.
    pub judged_from: JudgedFrom,
    /// The TLS configuration of `wss://` connections.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Each document's clients' digests at the end (Yjs): equal when they
    /// converged.
    pub digests: Mutex<Vec<Vec<u64>>>,
    /// Where its sends and connections sit in the run's load design.
    pub drivers: Drivers,
}

/// A collab workload's places in the load design (none without one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Drivers {
    /// Its sends.
    pub messages: Option<Driver>,
    /// Its connections (with churn).
    pub connections: Option<Driver>,
}

/// Starts every client of `spec`; they run until `phase` says close.
pub(crate) fn spawn(
    spec: Arc<CollabSpec>,
    stats: Arc<Stats>,
    judged_from: Instant,
    drivers: Drivers,
    phase: &watch::Receiver<Phase>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Arc<Shared>> {
    let tls = if spec.connect_url.0.starts_with("wss://") {
        Some(spec.trust.client_config()?)
    } else {
        None
    };
    let shared = Arc::new(Shared {
        stats,
        receivers: (0..spec.docs).map(|_| AtomicU64::new(0)).collect(),
        judged_from: JudgedFrom(judged_from),
        tls,
        digests: Mutex::new(vec![Vec::new(); spec.docs as usize]),
        drivers,
    });
    let total = spec.docs * spec.clients_per_doc;
    for i in 0..total {
        let delay = ramp_delay(spec.ramp_up, i, total);
        tasks.push(tokio::spawn(client(
            spec.clone(),
            shared.clone(),
            i / spec.clients_per_doc,
            i,
            delay,
            phase.clone(),
        )));
    }
    Ok(shared)
}

/// The dialect of one client, kept across its reconnects.
fn dialect_of(spec: &CollabSpec) -> Box<dyn Dialect> {
    match &spec.dialect {
        DialectSpec::Raw(r) => Box::new(raw::Raw::new(Arc::new(r.clone()))),
        DialectSpec::Yjs(y) => Box::new(yjs::Yjs::new(Arc::new(y.clone()))),
        DialectSpec::SocketIo(s) => Box::new(socketio::SocketIo::new(Arc::new(s.clone()))),
    }
}

async fn client(
    spec: Arc<CollabSpec>,
    shared: Arc<Shared>,
    doc_index: u32,
    client: u32,
    delay: Duration,
    mut phase: watch::Receiver<Phase>,
) {
    if !sleep_or_stop(delay, &mut phase).await {
        return;
    }
    bump(&shared.stats.started);
    // A client whose every attempt failed never reached the backend; one
    // stopped while its first attempt was under way is not counted.
    let mut opened = None;
    connections(&spec, &shared, doc_index, client, &mut phase, &mut opened).await;
    if opened == Some(false) {
        bump(&shared.stats.never_connected);
    }
}

/// A started client's connections, one after another, until the run stops
/// or the client gives up; `opened` becomes `Some(false)` when an attempt
/// fails and `Some(true)` once a connection opens.
async fn connections(
    spec: &CollabSpec,
    shared: &Shared,
    doc_index: u32,
    client: u32,
    phase: &mut watch::Receiver<Phase>,
    opened: &mut Option<bool>,
) {
    let doc = format!("{}-{doc_index}", spec.name);
    let url = spec.connect_url.0.replace("{doc}", &doc);
    let ctx = Ctx {
        doc: &doc,
        doc_index,
        client,
    };
    let mut dialect = dialect_of(spec);
    let mut failures: u32 = 0;
    let mut seq: u64 = 0;
    loop {
        if *phase.borrow() != Phase::Run {
            return;
        }
        let ws = match connection::open(spec, shared, &url, phase).await {
            Ok(Some(ws)) => ws,
            Ok(None) => return,
            Err(kind) => {
                shared.stats.error(kind);
                opened.get_or_insert(false);
                if !back_off(spec, &shared.stats, &mut failures, phase).await {
                    return;
                }
                continue;
            }
        };
        *opened = Some(true);
        if failures > 0 {
            bump(&shared.stats.reconnects);
        }
        failures = 0;
        let ended = Connection::new(spec, shared, ctx, &mut *dialect, phase, &mut seq)
            .run(ws)
            .await;
        match ended {
            Ended::Stop => return,
            Ended::Churn => {}
            Ended::GaveUp => {
                bump(&shared.stats.gave_up);
                return;
            }
            Ended::Failed => {
                if !back_off(spec, &shared.stats, &mut failures, phase).await {
                    return;
                }
            }
        }
    }
}

/// Waits before reconnecting; false when the client should give up or stop.
async fn back_off(
    spec: &CollabSpec,
    stats: &Stats,
    failures: &mut u32,
    phase: &mut watch::Receiver<Phase>,
) -> bool {
    *failures += 1;
    if spec.backoff.max_retries.is_some_and(|max| *failures > max) {
        bump(&stats.gave_up);
        tracing::debug!("collab client: gave up after {failures} failures");
        return false;
    }
    let delay = jittered(spec.backoff.nominal(*failures - 1));
    tracing::debug!("collab client: failure {failures}, reconnecting in {delay:.1?}");
    sleep_or_stop(delay, phase).await
}

/// An exponentially distributed lifetime from now: connections end at a
/// constant hazard.
fn lifetime(mean: Duration, driver: Option<&Driver>) -> Instant {
    let u: f64 = rand::rng().random_range(f64::EPSILON..1.0);
    let life = mean.mul_f64(-u.ln());
    // Under a load design the hazard follows the driver's blocks:
    // connections end (and reopen) faster in high blocks.
    match driver {
        Some(d) => d.advance(Instant::now(), life),
        None => Instant::now() + life,
    }
}

/// Whether a workload's documents converged: per document with two or
/// more digests, whether they were all equal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Convergence {
    /// Documents compared (two or more clients ended synced).
    pub documents: u32,
    /// Of those, the ones whose clients all held the same text.
    pub converged: u32,
    /// The names of those that did not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diverged: Vec<String>,
}

impl Shared {
    /// The convergence of the documents of workload `name`, when digests
    /// were taken (Yjs).
    pub(crate) fn convergence(&self, name: &str) -> Option<Convergence> {
        let digests = self.digests.lock().ok()?;
        let compared: Vec<(usize, &Vec<u64>)> = digests
            .iter()
            .enumerate()
            .filter(|(_, d)| d.len() >= 2)
            .collect();
        if compared.is_empty() {
            return None;
        }
        let diverged: Vec<String> = compared
            .iter()
            .filter(|(_, d)| d.iter().any(|x| *x != d[0]))
            .map(|(i, _)| format!("{name}-{i}"))
            .collect();
        Some(Convergence {
            documents: compared.len() as u32,
            converged: (compared.len() - diverged.len()) as u32,
            diverged,
        })
    }

    /// Counts a failure of a client's connection.
    pub(crate) fn failed(&self, kind: ErrorKind) {
        self.stats.error(kind);
    }

    /// The clients of document `doc` that read (those a message reaches).
    pub(crate) fn readers(&self, doc: u32) -> &AtomicU64 {
        &self.receivers[doc as usize]
    }

    /// Records a client's digest at the end.
    pub(crate) fn digest(&self, doc: u32, digest: u64) {
        if let Ok(mut d) = self.digests.lock() {
            d[doc as usize].push(digest);
        }
    }

    /// Peers a message sent now should reach.
    pub(crate) fn peers(&self, doc: u32, reading: bool) -> u64 {
        self.readers(doc)
            .load(Ordering::Relaxed)
            .saturating_sub(u64::from(reading))
    }
}
