//! What a collab client says on its connection, apart from when it says
//! it: the [`Dialect`] of its protocol turns the client's ticks into
//! frames and reads the frames it receives, while the client loop
//! (`collab/mod.rs`) owns pacing, churn, reconnects and accounting for
//! every protocol alike.

use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message;

use crate::workload::stats::ErrorKind;
use crate::workload::template::{Tag, Values};

/// Who a client is: its document and its index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// The document's name (`<workload>-<n>`).
    pub doc: &'a str,
    /// The document's index.
    pub doc_index: u32,
    /// The client's index in the workload.
    pub client: u32,
}

impl<'a> Ctx<'a> {
    /// Values for a template rendered now with sequence number `seq`.
    pub(crate) fn values(&self, seq: u64, sent_unix_us: u64) -> Values<'a> {
        Values {
            doc: self.doc,
            doc_index: self.doc_index,
            client: self.client,
            seq,
            sent_unix_us,
        }
    }
}

/// A message to send on a tick.
pub(crate) struct Outgoing {
    /// The frame.
    pub frame: Message,
    /// Whether peers are expected to receive it (it counts towards the
    /// expected deliveries).
    pub delivered: bool,
}

/// A delivery seen in a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// memsoak's tag: who sent it and when.
    Tag(Tag),
    /// A frame that matched the workload's delivery rule.
    Untagged,
}

/// What a received frame asks of the client.
#[derive(Default)]
pub(crate) struct Reaction {
    /// Frames to send back.
    pub replies: Vec<Message>,
    /// Deliveries found.
    pub seen: Vec<Seen>,
    /// Something went wrong (counted once).
    pub error: Option<ErrorKind>,
    /// The connection is over (the server refused it or said goodbye).
    pub close: bool,
    /// Acknowledgements received.
    pub acks: u64,
}

impl Reaction {
    /// Clears it for the next frame, keeping its buffers.
    pub(crate) fn reset(&mut self) {
        self.replies.clear();
        self.seen.clear();
        self.error = None;
        self.close = false;
        self.acks = 0;
    }

    /// The frame broke the protocol: counted, and the connection ends.
    pub(crate) fn broken(&mut self, kind: ErrorKind) {
        self.error = Some(kind);
        self.close = true;
    }
}

/// One protocol's side of a client, kept across its reconnects (a Yjs
/// peer keeps its document, as an editor does).
pub(crate) trait Dialect: Send {
    /// A connection opened: its state starts again; the frames to send at
    /// once go to `out`.
    fn open(&mut self, ctx: &Ctx<'_>, out: &mut Vec<Message>);

    /// Whether the client may send yet (a handshake done).
    fn ready(&self) -> bool {
        true
    }

    /// The message of a tick, or `None` when there is nothing to send.
    fn message(&mut self, ctx: &Ctx<'_>, seq: u64, sent_unix_us: u64) -> Option<Outgoing>;

    /// A frame received.
    fn receive(&mut self, ctx: &Ctx<'_>, frame: &Message, r: &mut Reaction);

    /// Sending stops: frames that catch up with what may have been missed.
    fn drain(&mut self, _out: &mut Vec<Message>) {}

    /// A digest of the client's state, to check that peers converged.
    fn digest(&self) -> Option<u64> {
        None
    }

    /// A side message on its own rate (awareness), and how often.
    fn side_every(&self) -> Option<Duration> {
        None
    }

    /// The side message of now.
    fn side_message(&mut self, _ctx: &Ctx<'_>) -> Option<Message> {
        None
    }

    /// When the connection counts as dead unless the server is heard of
    /// (Socket.IO's ping timeout); `None`: no such deadline.
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// The payload of a data frame.
pub(crate) fn payload(frame: &Message) -> Option<&[u8]> {
    match frame {
        Message::Text(t) => Some(t.as_bytes()),
        Message::Binary(b) => Some(b),
        _ => None,
    }
}
