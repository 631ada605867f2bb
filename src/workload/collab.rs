//! collab workload: WebSocket clients of a collaboration endpoint.
//!
//! Each client connects to its document's URL, sends tagged messages on an
//! open-loop schedule, and reads everything broadcast to it. The tag in
//! every message (`{tag}`) carries the sender's document, client, sequence
//! number and send time, so receivers measure delivery latency and notice
//! messages from another document. Deliveries are *expected* for every
//! other client of the document connected when a message is sent; expected
//! minus received is the loss.
//!
//! Churn closes a connection after an exponentially distributed lifetime,
//! usually with a close handshake and sometimes by dropping the socket
//! without a close frame: the two paths where connection managers leak.
//! Failures reconnect with exponential backoff and ±20% jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::pacing::{ramp_delay, sleep_or_stop, JudgedFrom, OpenLoop};
use super::spec::CollabSpec;
use super::stats::{bump, ErrorKind, Stats};
use super::template::{find_tag, Values};
use super::{jittered, unix_us, Phase};
use crate::units::PerSecond;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Each client's socket buffers. tungstenite's defaults (128 KiB to read,
/// 128 KiB to write) suit one busy connection; memsoak holds up to
/// thousands of chatty ones, and with connection churn every reconnect
/// allocated and freed 256 KiB: glibc's dynamic mmap threshold then served
/// them from its arenas, and memsoak's own anonymous memory wandered by
/// megabytes (see BENCHMARKS.md, "memsoak's own memory under connection
/// churn"). Reads grow the buffer past 8 KiB for a larger message; each
/// message is written out as it is sent, as memsoak flushes it anyway.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

/// State shared by one workload's clients.
pub(crate) struct Shared {
    /// The workload's counters.
    pub stats: Arc<Stats>,
    /// Clients connected per document.
    pub receivers: Vec<AtomicU64>,
    /// Sends and connects from then on count as judged.
    pub judged_from: JudgedFrom,
}

/// Starts every client of `spec`; they run until `phase` says close.
pub(crate) fn spawn(
    spec: Arc<CollabSpec>,
    stats: Arc<Stats>,
    judged_from: Instant,
    phase: &watch::Receiver<Phase>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) {
    let shared = Arc::new(Shared {
        stats,
        receivers: (0..spec.docs).map(|_| AtomicU64::new(0)).collect(),
        judged_from: JudgedFrom(judged_from),
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
}

enum Ended {
    Failed,
    Churn,
    Stop,
}

async fn client(
    spec: Arc<CollabSpec>,
    shared: Arc<Shared>,
    doc_index: u32,
    client: u32,
    delay: Duration,
    mut phase: watch::Receiver<Phase>,
) {
    let stats = &shared.stats;
    if !sleep_or_stop(delay, &mut phase).await {
        return;
    }
    let doc = format!("{}-{doc_index}", spec.name);
    let url = spec.connect_url.0.replace("{doc}", &doc);
    let period = PerSecond::period(spec.rate_per_client);
    let receivers = &shared.receivers[doc_index as usize];
    let mut failures: u32 = 0;
    let mut seq: u64 = 0;
    let mut text = String::new();
    loop {
        if *phase.borrow() != Phase::Run {
            return;
        }
        let connected = tokio::select! {
            r = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(socket_config()), false),
            ) => r,
            _ = phase.wait_for(|p| *p != Phase::Run) => return,
        };
        let mut ws = match connected {
            Ok(Ok((ws, _))) => ws,
            failed => {
                stats.error(if failed.is_err() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Connect
                });
                if !back_off(&spec, stats, &mut failures, &mut phase).await {
                    return;
                }
                continue;
            }
        };
        if failures > 0 {
            bump(&stats.reconnects);
        }
        failures = 0;
        shared.judged_from.connected(stats);
        bump(&stats.open);
        if spec.read {
            receivers.fetch_add(1, Ordering::Relaxed);
        }

        let now = Instant::now();
        let lifetime = spec.churn_interval.map(|mean| {
            // Exponential lifetime: connections end at a constant hazard.
            let u: f64 = rand::rng().random_range(f64::EPSILON..1.0);
            now + mean.mul_f64(-u.ln())
        });
        let far = now + Duration::from_secs(365 * 24 * 3600);
        let first = now + period.mul_f64(rand::rng().random_range(0.0..1.0));
        let mut schedule = OpenLoop::new(period, first);
        let mut sending = true;
        // The two timers are armed once and re-armed only when a message is
        // sent, not on every pass of the loop: a client receives many
        // messages per message it sends (one per peer), and re-creating
        // its timers on each of them was most of its fixed cost.
        let send_at = sleep_until(schedule.due().into());
        let end_at = sleep_until(lifetime.unwrap_or(far).into());
        tokio::pin!(send_at, end_at);
        let ended = loop {
            tokio::select! {
                () = &mut send_at, if sending => {
                    schedule.advance(stats);
                    spec.message.0.render(
                        &Values { doc: &doc, doc_index, client, seq, sent_unix_us: unix_us() },
                        &mut text,
                    );
                    // Peers reading now are the ones this message should reach.
                    let peers = receivers
                        .load(Ordering::Relaxed)
                        .saturating_sub(u64::from(spec.read));
                    if ws.send(Message::text(text.as_str())).await.is_err() {
                        stats.error(ErrorKind::Send);
                        break Ended::Failed;
                    }
                    shared.judged_from.sent(stats, Instant::now());
                    stats.expected.fetch_add(peers, Ordering::Relaxed);
                    seq += 1;
                    send_at.as_mut().reset(schedule.due().into());
                }
                incoming = ws.next(), if spec.read => match incoming {
                    Some(Ok(Message::Text(t))) => receive(&shared, doc_index, client, t.as_str()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        stats.error(ErrorKind::Closed);
                        break Ended::Failed;
                    }
                    Some(Ok(_)) => {}
                },
                () = &mut end_at, if sending => break Ended::Churn,
                changed = phase.changed() => match (changed, *phase.borrow()) {
                    (Ok(()), Phase::Drain) => sending = false,
                    _ => break Ended::Stop,
                },
            }
        };
        if spec.read {
            receivers.fetch_sub(1, Ordering::Relaxed);
        }
        stats.open.fetch_sub(1, Ordering::Relaxed);
        match ended {
            Ended::Stop => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                return;
            }
            Ended::Churn => {
                if rand::rng().random_bool(spec.abrupt_fraction) {
                    // Dropping the stream closes the socket without a close frame.
                    drop(ws);
                    bump(&stats.abrupt_drops);
                } else {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                    bump(&stats.clean_closes);
                }
            }
            Ended::Failed => {
                drop(ws);
                if !back_off(&spec, stats, &mut failures, &mut phase).await {
                    return;
                }
            }
        }
    }
}

/// Accounts one received text message.
fn receive(shared: &Shared, doc_index: u32, client: u32, text: &str) {
    let stats = &shared.stats;
    match find_tag(text) {
        Some(tag) if tag.doc != doc_index => bump(&stats.misdelivered),
        Some(tag) if tag.client == client => bump(&stats.echoed),
        Some(tag) => {
            bump(&stats.received);
            stats.latency(Duration::from_micros(
                unix_us().saturating_sub(tag.sent_unix_us),
            ));
        }
        // Not one of ours (e.g. a server notice): not counted.
        None => {}
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
