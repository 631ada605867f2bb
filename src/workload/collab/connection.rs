//! One connection of a collab client, from its handshake to its end: the
//! open-loop sends, the side messages, every frame read and answered, and
//! the accounting of what arrived.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::dialect::{Ctx, Dialect, Reaction, Seen};
use super::{lifetime, Shared};
use crate::units::PerSecond;
use crate::workload::collab_spec::CollabSpec;
use crate::workload::design::Driver;
use crate::workload::pacing::OpenLoop;
use crate::workload::stats::{bump, ErrorKind};
use crate::workload::{unix_us, Phase};

/// How long connecting, and then a handshake, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connection ended.
pub(super) enum Ended {
    /// The run stopped.
    Stop,
    /// Its lifetime was over (churn).
    Churn,
    /// It failed (counted); the client reconnects after a backoff.
    Failed,
    /// The client cannot go on (its document is too large).
    GaveUp,
}

/// Each client's socket buffers. tungstenite's defaults (128 KiB to read,
/// 128 KiB to write) suit one busy connection; memsoak holds up to
/// thousands of chatty ones, and with connection churn every reconnect
/// allocated and freed 256 KiB: glibc's dynamic mmap threshold then served
/// them from its arenas, and memsoak's own anonymous memory wandered by
/// megabytes (see BENCHMARKS.md, "memsoak's own memory under connection
/// churn"). Reads grow the buffer past 8 KiB for a larger message; each
/// message is written out as it is sent, as memsoak flushes it anyway. A
/// frame beyond the workload's limit is refused, not held.
fn socket_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

/// Connects (with TLS for `wss://`); `Ok(None)` when the run stopped.
pub(super) async fn open(
    spec: &CollabSpec,
    shared: &Shared,
    url: &str,
    phase: &mut watch::Receiver<Phase>,
) -> Result<Option<Ws>, ErrorKind> {
    let connector = shared.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        url,
        Some(socket_config(spec.max_frame_bytes)),
        false,
        connector,
    );
    let connected = tokio::select! {
        r = tokio::time::timeout(CONNECT_TIMEOUT, connecting) => r,
        _ = phase.wait_for(|p| *p != Phase::Run) => return Ok(None),
    };
    match connected {
        Ok(Ok((ws, _))) => Ok(Some(ws)),
        Ok(Err(_)) => Err(ErrorKind::Connect),
        Err(_) => Err(ErrorKind::Timeout),
    }
}

/// A connection in progress.
pub(super) struct Connection<'a> {
    spec: &'a CollabSpec,
    shared: &'a Shared,
    ctx: Ctx<'a>,
    dialect: &'a mut dyn Dialect,
    phase: &'a mut watch::Receiver<Phase>,
    seq: &'a mut u64,
    reaction: Reaction,
    out: Vec<Message>,
    sending: bool,
    /// Counted among its document's readers (once its handshake is done).
    reader: bool,
}

impl<'a> Connection<'a> {
    pub(super) fn new(
        spec: &'a CollabSpec,
        shared: &'a Shared,
        ctx: Ctx<'a>,
        dialect: &'a mut dyn Dialect,
        phase: &'a mut watch::Receiver<Phase>,
        seq: &'a mut u64,
    ) -> Connection<'a> {
        Connection {
            spec,
            shared,
            ctx,
            dialect,
            phase,
            seq,
            reaction: Reaction::default(),
            out: Vec::new(),
            sending: true,
            reader: false,
        }
    }

    /// Runs the connection to its end, and closes it as that asks.
    pub(super) async fn run(mut self, mut ws: Ws) -> Ended {
        let stats = self.shared.stats.clone();
        self.shared.judged_from.connected(&stats);
        bump(&stats.open);
        self.dialect.open(&self.ctx, &mut self.out);
        self.count_reader();
        let ended = match self.flush(&mut ws).await {
            Ok(()) => self.exchange(&mut ws).await,
            Err(kind) => {
                self.shared.failed(kind);
                Ended::Failed
            }
        };
        if self.reader {
            self.shared
                .readers(self.ctx.doc_index)
                .fetch_sub(1, Ordering::Relaxed);
        }
        stats.open.fetch_sub(1, Ordering::Relaxed);
        self.close(ws, &ended).await;
        ended
    }

    /// A client that reads and whose handshake is done is one its
    /// document's messages should reach from now on.
    fn count_reader(&mut self) {
        if self.spec.read && !self.reader && self.dialect.ready() {
            self.reader = true;
            self.shared
                .readers(self.ctx.doc_index)
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The frames queued in `out`, sent.
    async fn flush(&mut self, ws: &mut Ws) -> Result<(), ErrorKind> {
        for m in self.out.drain(..) {
            ws.send(m).await.map_err(|_| ErrorKind::Send)?;
        }
        Ok(())
    }

    /// Sends, reads and answers until the connection ends.
    async fn exchange(&mut self, ws: &mut Ws) -> Ended {
        let period = self.spec.rate_per_client.map(PerSecond::period);
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let end = self.spec.churn_interval.map_or(far, |mean| {
            lifetime(mean, self.shared.drivers.connections.as_ref())
        });
        let messages = self.shared.drivers.messages;
        let mut schedule = period.map(|p| first_send(p, messages));
        let side_every = self.dialect.side_every();
        let mut side_due =
            side_every.map(|e| Instant::now() + e.mul_f64(rand::rng().random_range(0.0..1.0)));
        let mut was_ready = self.dialect.ready();
        let handshake_by = Instant::now() + CONNECT_TIMEOUT;
        // Timers are re-armed only when they fire or a frame moves them,
        // not on every pass: a client receives many frames per frame it
        // sends, and re-creating its timers on each was most of its cost.
        let send_at = sleep_until(schedule.map_or(far, |s| s.due()).into());
        let side_at = sleep_until(side_due.unwrap_or(far).into());
        let end_at = sleep_until(end.into());
        let dead_at = sleep_until(self.deadline(handshake_by, far).into());
        tokio::pin!(send_at, side_at, end_at, dead_at);
        loop {
            let ready = self.dialect.ready();
            tokio::select! {
                () = &mut send_at, if self.sending && ready && schedule.is_some() => {
                    if let Some(s) = &mut schedule {
                        if let Err(kind) = self.send_message(ws, s).await {
                            self.shared.failed(kind);
                            return Ended::Failed;
                        }
                        send_at.as_mut().reset(s.due().into());
                    }
                }
                () = &mut side_at, if self.sending && ready && side_due.is_some() => {
                    if let Some(m) = self.dialect.side_message(&self.ctx) {
                        self.out.push(m);
                    }
                    if let Err(kind) = self.flush(ws).await {
                        self.shared.failed(kind);
                        return Ended::Failed;
                    }
                    let next = Instant::now() + side_every.unwrap_or(Duration::MAX / 4);
                    side_due = Some(next);
                    side_at.as_mut().reset(next.into());
                }
                incoming = ws.next(), if self.spec.read => {
                    if let Some(ended) = self.received(ws, incoming).await {
                        return ended;
                    }
                    if !was_ready && self.dialect.ready() {
                        // Sends start once the handshake is done, on a
                        // schedule from now (no burst of missed ones).
                        was_ready = true;
                        self.count_reader();
                        if let Some(p) = period {
                            let s = first_send(p, messages);
                            send_at.as_mut().reset(s.due().into());
                            schedule = Some(s);
                        }
                    }
                    dead_at.as_mut().reset(self.deadline(handshake_by, far).into());
                }
                () = &mut dead_at => {
                    self.shared.failed(if self.dialect.ready() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Handshake
                    });
                    return Ended::Failed;
                }
                () = &mut end_at, if self.sending => return Ended::Churn,
                changed = self.phase.changed() => {
                    let now = *self.phase.borrow();
                    match (changed, now) {
                    (Ok(()), Phase::Drain) => {
                        self.sending = false;
                        self.dialect.drain(&mut self.out);
                        if self.flush(ws).await.is_err() {
                            return Ended::Stop;
                        }
                    }
                    _ => return Ended::Stop,
                    }
                }
            }
        }
    }

    /// When the connection counts as dead: the handshake's deadline while
    /// it is not done, and the dialect's own (a keepalive).
    fn deadline(&self, handshake_by: Instant, far: Instant) -> Instant {
        let handshake = if self.dialect.ready() || !self.spec.read {
            far
        } else {
            handshake_by
        };
        self.dialect
            .deadline()
            .map_or(handshake, |d| d.min(handshake))
    }

    /// The message of a tick: rendered by the dialect, sent, counted.
    async fn send_message(
        &mut self,
        ws: &mut Ws,
        schedule: &mut OpenLoop,
    ) -> Result<(), ErrorKind> {
        let stats = &self.shared.stats;
        schedule.advance(stats);
        let Some(m) = self.dialect.message(&self.ctx, *self.seq, unix_us()) else {
            return Ok(());
        };
        // Peers reading now are the ones this message should reach.
        let peers = self.shared.peers(self.ctx.doc_index, self.reader);
        ws.send(m.frame).await.map_err(|_| ErrorKind::Send)?;
        self.shared.judged_from.sent(stats, Instant::now());
        if m.delivered {
            stats.expected.fetch_add(peers, Ordering::Relaxed);
        }
        *self.seq += 1;
        Ok(())
    }

    /// A frame (or the end of the stream) read; `Some` when it ended the
    /// connection.
    async fn received(
        &mut self,
        ws: &mut Ws,
        incoming: Option<Result<Message, WsError>>,
    ) -> Option<Ended> {
        let frame = match incoming {
            Some(Ok(Message::Close(_))) | None => {
                self.shared.failed(ErrorKind::Closed);
                return Some(Ended::Failed);
            }
            Some(Err(WsError::Capacity(_))) => {
                self.shared.failed(ErrorKind::TooLarge);
                return Some(Ended::Failed);
            }
            Some(Err(_)) => {
                self.shared.failed(ErrorKind::Closed);
                return Some(Ended::Failed);
            }
            Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => frame,
            Some(Ok(_)) => return None,
        };
        self.reaction.reset();
        self.dialect.receive(&self.ctx, &frame, &mut self.reaction);
        self.account();
        let r = &mut self.reaction;
        self.out.append(&mut r.replies);
        let (error, close) = (r.error, r.close);
        if let Some(kind) = error {
            self.shared.failed(kind);
        }
        if close {
            return Some(if error == Some(ErrorKind::TooLarge) {
                Ended::GaveUp
            } else {
                Ended::Failed
            });
        }
        match self.flush(ws).await {
            Ok(()) => None,
            Err(kind) => {
                self.shared.failed(kind);
                Some(Ended::Failed)
            }
        }
    }

    /// Counts the deliveries of the last frame.
    fn account(&self) {
        let stats = &self.shared.stats;
        stats.acks.fetch_add(self.reaction.acks, Ordering::Relaxed);
        for seen in &self.reaction.seen {
            match seen {
                Seen::Tag(tag) if tag.doc != self.ctx.doc_index => bump(&stats.misdelivered),
                Seen::Tag(tag) if tag.client == self.ctx.client => bump(&stats.echoed),
                Seen::Tag(tag) => {
                    bump(&stats.received);
                    stats.latency(Duration::from_micros(
                        unix_us().saturating_sub(tag.sent_unix_us),
                    ));
                }
                Seen::Untagged => bump(&stats.received),
            }
        }
    }

    /// Ends the connection as `ended` asks: a close handshake, or, for a
    /// share of churn ends, a socket dropped without one; a client's
    /// digest is taken when the run stops.
    async fn close(&mut self, mut ws: Ws, ended: &Ended) {
        let stats = &self.shared.stats;
        match ended {
            Ended::Stop => {
                if let Some(d) = self.dialect.digest() {
                    self.shared.digest(self.ctx.doc_index, d);
                }
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
            }
            Ended::Churn if rand::rng().random_bool(self.spec.abrupt_fraction) => {
                // Dropping the stream closes the socket without a close frame.
                drop(ws);
                bump(&stats.abrupt_drops);
            }
            Ended::Churn => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                bump(&stats.clean_closes);
            }
            Ended::Failed | Ended::GaveUp => drop(ws),
        }
    }
}

/// The first send of a schedule: somewhere in its first period, so
/// clients that start together do not send together.
fn first_send(period: Duration, driver: Option<Driver>) -> OpenLoop {
    OpenLoop::new(
        period,
        Instant::now() + period.mul_f64(rand::rng().random_range(0.0..1.0)),
        driver,
    )
}
