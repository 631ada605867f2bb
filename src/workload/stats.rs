//! Workload accounting in bounded memory.
//!
//! Counters are atomics; latencies go into HdrHistograms (microseconds, 3
//! significant digits, fixed size), one for the current interval and one for
//! the whole run. Nothing is kept per message or per request, so a workload
//! that runs for days holds the same few kilobytes as one that runs for
//! seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Kinds of failure, counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// TCP connect or WebSocket handshake failed.
    Connect,
    /// No answer in time.
    Timeout,
    /// Unexpected HTTP status.
    Status,
    /// Response body failed its check.
    Body,
    /// The server closed or reset a WebSocket.
    Closed,
    /// Sending failed.
    Send,
    /// A browser step found no element for its selector (or a hidden one).
    NoElement,
    /// A browser step's script threw.
    Script,
    /// A browser step could not open or reload its page.
    Navigation,
    /// The server sent what the protocol does not allow (an undecodable
    /// Yjs message, a Socket.IO packet of no known type).
    Protocol,
    /// A frame or a document beyond its limit.
    TooLarge,
    /// The server refused the client (a Socket.IO connect error, a Yjs
    /// authorisation denied).
    Rejected,
    /// The protocol's handshake (Yjs sync, Socket.IO connect) did not
    /// finish in time.
    Handshake,
    /// Anything else.
    Other,
}

impl ErrorKind {
    const ALL: [ErrorKind; 14] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Status,
        ErrorKind::Body,
        ErrorKind::Closed,
        ErrorKind::Send,
        ErrorKind::NoElement,
        ErrorKind::Script,
        ErrorKind::Navigation,
        ErrorKind::Protocol,
        ErrorKind::TooLarge,
        ErrorKind::Rejected,
        ErrorKind::Handshake,
        ErrorKind::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
            ErrorKind::Closed => "closed",
            ErrorKind::Send => "send",
            ErrorKind::NoElement => "no_element",
            ErrorKind::Script => "script",
            ErrorKind::Navigation => "navigation",
            ErrorKind::Protocol => "protocol",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Handshake => "handshake",
            ErrorKind::Other => "other",
        }
    }
}

/// Longest latency recorded, microseconds (60 s); longer ones are clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Latency histogram: 1 µs to 60 s at 2 significant digits (1% precision),
/// about 20 kB whatever the number of values.
fn histogram() -> Histogram<u64> {
    // The bounds are valid constants, so creation cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid histogram bounds")
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Number of latencies recorded.
    pub count: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            count: h.len(),
        }
    }
}

/// Live counters of one workload (or one agent step).
pub struct Stats {
    /// Messages or requests sent.
    pub sent: AtomicU64,
    /// Sent after warm-up, for growth per message.
    pub sent_judged: AtomicU64,
    /// Messages or responses received.
    pub received: AtomicU64,
    /// Sends that were due a whole period earlier (the generator fell behind).
    pub late: AtomicU64,
    /// Connections opened (collab).
    pub connects: AtomicU64,
    /// Connections opened after warm-up.
    pub connects_judged: AtomicU64,
    /// Connections currently open (collab).
    pub open: AtomicU64,
    /// Reconnects after a failure.
    pub reconnects: AtomicU64,
    /// Churn disconnects with a close handshake.
    pub clean_closes: AtomicU64,
    /// Churn disconnects without a close frame.
    pub abrupt_drops: AtomicU64,
    /// Deliveries expected: for each message, the other clients of its doc.
    pub expected: AtomicU64,
    /// Messages received from another document.
    pub misdelivered: AtomicU64,
    /// A client's own message sent back to it.
    pub echoed: AtomicU64,
    /// Clients that gave up after `max_retries` failures.
    pub gave_up: AtomicU64,
    /// Acknowledgements received (Socket.IO events sent with an ack).
    pub acks: AtomicU64,
    /// Clients or agents that started (past their ramp-up delay).
    pub started: AtomicU64,
    /// Clients that started and never opened a connection (collab).
    pub never_connected: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    latency: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: AtomicU64::new(0),
            sent_judged: AtomicU64::new(0),
            received: AtomicU64::new(0),
            late: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            connects_judged: AtomicU64::new(0),
            open: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            clean_closes: AtomicU64::new(0),
            abrupt_drops: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            misdelivered: AtomicU64::new(0),
            echoed: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            started: AtomicU64::new(0),
            never_connected: AtomicU64::new(0),
            errors: Default::default(),
            latency: Mutex::new((histogram(), histogram())),
        }
    }
}

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A counter's value.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Stats {
    /// Counts a failure.
    pub fn error(&self, kind: ErrorKind) {
        let i = ErrorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(ErrorKind::ALL.len() - 1);
        bump(&self.errors[i]);
    }

    /// Records one latency.
    pub fn latency(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        if let Ok(mut h) = self.latency.lock() {
            // Values are clamped into the histogram's range, so recording cannot fail.
            let _ = h.0.record(us);
            let _ = h.1.record(us);
        }
    }

    /// Total errors.
    pub fn errors(&self) -> u64 {
        self.errors.iter().map(get).sum()
    }

    /// Latency of the interval since the last call, which starts a new one.
    pub fn take_interval_latency(&self) -> Latency {
        match self.latency.lock() {
            Ok(mut h) => {
                let l = Latency::of(&h.0);
                h.0.reset();
                l
            }
            Err(_) => Latency::default(),
        }
    }

    /// The whole run's latency.
    pub fn total_latency(&self) -> Latency {
        self.latency
            .lock()
            .map_or(Latency::default(), |h| Latency::of(&h.1))
    }

    /// A copy of the counters.
    pub fn counters(&self) -> Counters {
        Counters {
            sent: get(&self.sent),
            received: get(&self.received),
            errors: self.errors(),
            late: get(&self.late),
            connects: get(&self.connects),
            open: get(&self.open),
        }
    }

    /// Totals for the summary.
    pub fn totals(&self) -> Totals {
        let expected = get(&self.expected);
        let received = get(&self.received);
        Totals {
            sent: get(&self.sent),
            received,
            errors: self.errors(),
            errors_by_kind: ErrorKind::ALL
                .iter()
                .zip(&self.errors)
                .map(|(k, c)| (k.name().to_string(), get(c)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            late_sends: get(&self.late),
            latency: self.total_latency(),
            connects: get(&self.connects),
            reconnects: get(&self.reconnects),
            clean_closes: get(&self.clean_closes),
            abrupt_drops: get(&self.abrupt_drops),
            expected_deliveries: expected,
            lost: expected.saturating_sub(received),
            misdelivered: get(&self.misdelivered),
            echoed: get(&self.echoed),
            gave_up: get(&self.gave_up),
            acks: get(&self.acks),
            sent_judged: get(&self.sent_judged),
            connects_judged: get(&self.connects_judged),
        }
    }
}

/// Counter values at one moment, for per-interval deltas.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// Sent so far.
    pub sent: u64,
    /// Received so far.
    pub received: u64,
    /// Errors so far.
    pub errors: u64,
    /// Late sends so far.
    pub late: u64,
    /// Connections opened so far.
    pub connects: u64,
    /// Connections open now.
    pub open: u64,
}

/// A workload's (or step's) totals in `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Messages or requests sent.
    pub sent: u64,
    /// Messages or responses received.
    pub received: u64,
    /// Failures.
    pub errors: u64,
    /// Failures by kind (only kinds that happened).
    pub errors_by_kind: std::collections::BTreeMap<String, u64>,
    /// Sends made late because the generator fell behind.
    pub late_sends: u64,
    /// Latency over the run.
    pub latency: Latency,
    /// Connections opened.
    pub connects: u64,
    /// Reconnects after failures.
    pub reconnects: u64,
    /// Churn disconnects with a close handshake.
    pub clean_closes: u64,
    /// Churn disconnects without a close frame.
    pub abrupt_drops: u64,
    /// Deliveries expected (collab).
    pub expected_deliveries: u64,
    /// Expected deliveries not received (collab).
    pub lost: u64,
    /// Messages received from another document (collab).
    pub misdelivered: u64,
    /// Own messages sent back (collab).
    pub echoed: u64,
    /// Clients that gave up.
    pub gave_up: u64,
    /// Acknowledgements received (Socket.IO events sent with an ack).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub acks: u64,
    /// Sent after warm-up.
    pub sent_judged: u64,
    /// Connections opened after warm-up.
    pub connects_judged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
