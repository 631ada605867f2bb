//! The keys of a collab workload beyond its clients and rate: which
//! protocol it speaks, the frames a raw dialog sends and answers, what
//! counts as a delivery, and the Yjs and Socket.IO options. As written in
//! the profile; `workload::spec` checks them.

use serde::Deserialize;

use crate::units::{HumanSize, PerSecond};

/// What a collab workload's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// WebSocket frames from templates (the default).
    #[default]
    Raw,
    /// Yjs peers of their document (the y-sync protocol).
    Yjs,
    /// Socket.IO (Engine.IO v4) over WebSocket.
    Socketio,
}

impl Protocol {
    /// The name in profiles and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::Yjs => "yjs",
            Protocol::Socketio => "socketio",
        }
    }
}

/// A frame to send: text, or bytes written in hex or base64. Templates
/// (`{doc}`, `{seq}`, `{tag}` …) apply to each; in a binary frame the
/// placeholders are written as their text's bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSection {
    /// A text frame.
    pub text: Option<String>,
    /// A binary frame: hex digits (spaces allowed) around placeholders.
    pub hex: Option<String>,
    /// A binary frame: base64 around placeholders.
    pub base64: Option<String>,
}

/// `[[workload.reply]]`: a received frame that matches is answered (an
/// application-level ping, an acknowledgement the server waits for).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplySection {
    /// A regular expression over the received frame's bytes.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// The answer.
    #[serde(flatten)]
    pub frame: FrameSection,
}

/// `delivery`: what counts as a received delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DeliverySection {
    /// `"tag"` (memsoak's tag, the default with `{tag}`) or `"none"`.
    Named(String),
    /// A frame that matches a rule.
    Rule(DeliveryRule),
}

/// `delivery = { regex = "…" }` or `{ json_pointer = "/type", equals = "edit" }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRule {
    /// A regular expression over the frame's bytes.
    pub regex: Option<String>,
    /// A JSON pointer (RFC 6901) into a JSON frame; present means delivered.
    pub json_pointer: Option<String>,
    /// With `json_pointer`: the value it must hold.
    pub equals: Option<toml::Value>,
}

/// `[workload.yjs]`: Yjs peers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YjsSection {
    /// The shared text edited (default `content`).
    pub text: Option<String>,
    /// Share of edits that delete rather than insert (default 0.2).
    pub delete_fraction: Option<f64>,
    /// Beyond this many characters every edit also deletes as much as it
    /// inserts, so the document does not only grow (default 20000).
    pub max_chars: Option<u64>,
    /// A client whose document grows past this (a server pushing more
    /// than the edits make) gives up with an error (default 16MiB).
    pub max_doc_bytes: Option<HumanSize>,
    /// Awareness (cursor, presence) updates per client, at their own rate.
    pub awareness_rate: Option<PerSecond>,
}

/// `[workload.socketio]`: Socket.IO clients.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketIoSection {
    /// The namespace (default `/`).
    pub namespace: Option<String>,
    /// The event emitted on each tick (default `message`).
    pub event: Option<String>,
    /// The event's data, a JSON template with `{tag}`.
    pub data: Option<String>,
    /// The connect packet's `auth` object, a JSON template (`${ENV}` allowed).
    pub auth: Option<String>,
    /// An event emitted once connected, to join a room (e.g. `join`).
    pub join_event: Option<String>,
    /// Its data, a JSON template (e.g. `{"room": "{doc}"}`).
    pub join_data: Option<String>,
    /// Ask the server to acknowledge each event; latency is then measured
    /// to the acknowledgement too.
    pub ack: Option<bool>,
}
