//! A validated collab workload: its clients, pacing and reconnects, and
//! the dialect they speak — raw frames from templates, Yjs peers, or
//! Socket.IO — each checked at load with the key's place in the profile.

use std::time::Duration;

use regex::bytes::Regex;

use super::spec::{defaults, too_big, Backoff, Sensitive};
use super::template::{decode_base64, decode_hex, BinaryTemplate, Template};
use crate::profile::collab::{
    DeliveryRule as DeliveryRuleSection, DeliverySection, FrameSection, Protocol, SocketIoSection,
    YjsSection,
};
use crate::profile::WorkloadSection;
use crate::secrets::{check_env, expand_env};
use crate::tls::Trust;

/// An error of a collab key: the key (dotted, from the workload's table)
/// and what is wrong.
pub(super) type KeyError = (String, String);

/// WebSocket clients of a collaboration endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CollabSpec {
    /// Name in outputs.
    pub name: String,
    /// URL with `{doc}`, as written (`${ENV}` unexpanded): what messages show.
    pub url: String,
    /// The URL connected to: `${ENV}` expanded.
    pub connect_url: Sensitive<String>,
    /// Documents.
    pub docs: u32,
    /// Clients per document.
    pub clients_per_doc: u32,
    /// Messages per second per client; `None`: clients never send
    /// (connect, read, churn).
    pub rate_per_client: Option<f64>,
    /// What the clients speak.
    pub dialect: Dialect,
    /// Mean connected time before a churn reconnect; `None`: no churn.
    pub churn_interval: Option<Duration>,
    /// Share of churn disconnects without a close frame.
    pub abrupt_fraction: f64,
    /// Clients read what is broadcast to them; `false`: stalled readers,
    /// which are not counted as receivers (no delivery is expected).
    pub read: bool,
    /// Reconnect policy.
    pub backoff: Backoff,
    /// Clients start spread over this long.
    pub ramp_up: Duration,
    /// What `wss://` trusts.
    pub trust: Trust,
    /// The largest frame a client takes (a larger one is an error).
    pub max_frame_bytes: usize,
    /// What its load checks hold it to.
    pub load_limits: super::checks::Limits,
}

/// What a collab workload's clients speak.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialect {
    /// Frames from templates.
    Raw(RawSpec),
    /// Yjs peers of their document.
    Yjs(YjsSpec),
    /// Socket.IO clients.
    SocketIo(SocketIoSpec),
}

impl Dialect {
    /// The protocol's name.
    pub fn protocol(&self) -> Protocol {
        match self {
            Dialect::Raw(_) => Protocol::Raw,
            Dialect::Yjs(_) => Protocol::Yjs,
            Dialect::SocketIo(_) => Protocol::Socketio,
        }
    }

    /// Whether received messages are counted against the expected
    /// deliveries (a rule or memsoak's tag says what a delivery is).
    pub fn counts_deliveries(&self) -> bool {
        match self {
            Dialect::Raw(r) => r.delivery != Delivery::None,
            Dialect::Yjs(y) => y.insert.0.has_tag(),
            Dialect::SocketIo(_) => true,
        }
    }
}

/// A frame to send.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameTemplate {
    /// A text frame.
    Text(Template),
    /// A binary frame.
    Binary(BinaryTemplate),
}

impl FrameTemplate {
    /// Whether the frame carries memsoak's tag.
    pub fn has_tag(&self) -> bool {
        match self {
            FrameTemplate::Text(t) => t.has_tag(),
            FrameTemplate::Binary(b) => b.has_tag(),
        }
    }

    fn random_bytes(&self) -> usize {
        match self {
            FrameTemplate::Text(t) => t.random_bytes(),
            FrameTemplate::Binary(b) => b.random_bytes(),
        }
    }
}

/// Raw WebSocket frames.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSpec {
    /// The message sent on each tick.
    pub message: Sensitive<FrameTemplate>,
    /// Frames sent once a connection opens.
    pub on_open: Vec<Sensitive<FrameTemplate>>,
    /// Received frames answered.
    pub replies: Vec<Reply>,
    /// What counts as a delivery.
    pub delivery: Delivery,
}

/// A reply rule.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Frames it answers.
    pub pattern: Regex,
    /// The answer.
    pub frame: Sensitive<FrameTemplate>,
}

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        self.pattern.as_str() == other.pattern.as_str() && self.frame == other.frame
    }
}

/// What counts as a received delivery.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// memsoak's tag, wherever it sits in the frame: latency, loss,
    /// echoes and misdelivery are measured.
    Tag,
    /// A frame matching the expression (loss only).
    Regex(Regex),
    /// A JSON frame with a value at the pointer (equal to one, if given).
    JsonPointer {
        /// The pointer, RFC 6901.
        pointer: String,
        /// The value it must hold.
        equals: Option<serde_json::Value>,
    },
    /// Nothing is counted.
    None,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Delivery) -> bool {
        match (self, other) {
            (Delivery::Tag, Delivery::Tag) | (Delivery::None, Delivery::None) => true,
            (Delivery::Regex(a), Delivery::Regex(b)) => a.as_str() == b.as_str(),
            (
                Delivery::JsonPointer { pointer, equals },
                Delivery::JsonPointer {
                    pointer: p,
                    equals: e,
                },
            ) => pointer == p && equals == e,
            _ => false,
        }
    }
}

/// Yjs peers.
#[derive(Debug, Clone, PartialEq)]
pub struct YjsSpec {
    /// The shared text edited.
    pub text: String,
    /// What an edit inserts (carries `{tag}`).
    pub insert: Sensitive<Template>,
    /// Share of edits that delete.
    pub delete_fraction: f64,
    /// Beyond this many characters an edit also deletes.
    pub max_chars: u64,
    /// A document past this many bytes (its encoded state) ends the client.
    pub max_doc_bytes: u64,
    /// Time between awareness updates; `None`: none sent.
    pub awareness_every: Option<Duration>,
}

/// Socket.IO clients.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketIoSpec {
    /// The namespace, `/` or `/chat`.
    pub namespace: String,
    /// The event emitted.
    pub event: String,
    /// Its data, a JSON template.
    pub data: Sensitive<Template>,
    /// The connect packet's `auth`, a JSON template.
    pub auth: Option<Sensitive<Template>>,
    /// An event emitted once connected, and its data.
    pub join: Option<(String, Sensitive<Template>)>,
    /// Ask for acknowledgements.
    pub ack: bool,
}

/// Defaults of the dialects.
pub mod dialect_defaults {
    /// The shared text of Yjs peers.
    pub const YJS_TEXT: &str = "content";
    /// What a Yjs edit inserts.
    pub const YJS_INSERT: &str = "{tag} {random:24} ";
    /// Share of Yjs edits that delete.
    pub const YJS_DELETE_FRACTION: f64 = 0.2;
    /// Characters a Yjs document grows to before edits also delete.
    pub const YJS_MAX_CHARS: u64 = 20_000;
    /// Bytes of a Yjs document a client holds at most.
    pub const YJS_MAX_DOC_BYTES: u64 = 16 << 20;
    /// The Socket.IO event.
    pub const SOCKETIO_EVENT: &str = "message";
    /// Its data.
    pub const SOCKETIO_DATA: &str =
        r#"{"doc":"{doc}","client":{client},"seq":{seq},"tag":"{tag}","text":"{random}"}"#;
    /// The largest frame a client takes.
    pub const MAX_FRAME_BYTES: usize = 16 << 20;
}

/// The dialect of a collab section.
pub(super) fn dialect(w: &WorkloadSection, random: usize) -> Result<Dialect, KeyError> {
    let protocol = w.protocol.unwrap_or_default();
    misplaced(w, protocol)?;
    Ok(match protocol {
        Protocol::Raw => Dialect::Raw(raw(w, random)?),
        Protocol::Yjs => Dialect::Yjs(yjs(w, w.yjs.clone().unwrap_or_default(), random)?),
        Protocol::Socketio => {
            Dialect::SocketIo(socketio(w.socketio.clone().unwrap_or_default(), random)?)
        }
    })
}

/// Keys of another protocol are errors, not silently ignored.
fn misplaced(w: &WorkloadSection, protocol: Protocol) -> Result<(), KeyError> {
    let raw_only = [
        ("message_hex", w.message_hex.is_some()),
        ("message_base64", w.message_base64.is_some()),
        ("delivery", w.delivery.is_some()),
        ("on_open", !w.on_open.is_empty()),
        ("reply", !w.replies.is_empty()),
    ];
    let yjs = [("yjs", w.yjs.is_some())];
    let socketio = [("socketio", w.socketio.is_some())];
    let wrong: Vec<(&str, bool)> = match protocol {
        Protocol::Raw => [&yjs[..], &socketio[..]].concat(),
        Protocol::Yjs => [&raw_only[..], &socketio[..]].concat(),
        Protocol::Socketio => {
            [&raw_only[..], &yjs[..], &[("message", w.message.is_some())]].concat()
        }
    };
    match wrong.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err((
            key.to_string(),
            format!(
                "'{key}' does not apply to protocol = \"{}\"{}",
                protocol.as_str(),
                match (*key, protocol) {
                    ("message", Protocol::Socketio) =>
                        ": a Socket.IO event's data is [workload.socketio] data",
                    ("yjs", _) => ": add protocol = \"yjs\"",
                    ("socketio", _) => ": add protocol = \"socketio\"",
                    _ => "",
                }
            ),
        )),
        None => Ok(()),
    }
}

/// A text template from profile text: `${ENV}` checked and expanded,
/// `{random}` bounded.
pub(super) fn template(text: &str, key: &str, random: usize) -> Result<Template, KeyError> {
    check_env(text).map_err(|e| (key.to_string(), e.to_string()))?;
    let t = Template::parse(
        &expand_env(text).map_err(|e| (key.to_string(), e.to_string()))?,
        random,
    );
    if t.random_bytes() > defaults::MAX_MESSAGE_BYTES {
        return Err((
            key.to_string(),
            too_big(&format!("{{random:N}} in '{key}'")),
        ));
    }
    Ok(t)
}

/// A frame: text, hex or base64 (exactly one), its keys named
/// `{key}.{form}` in errors.
fn frame(f: &FrameSection, key: &str, random: usize) -> Result<FrameTemplate, KeyError> {
    frame_at(f, key, None, random)
}

/// A frame whose errors name `place` when given (the workload's own
/// `message`, `message_hex` or `message_base64`), else `{key}.{form}`.
fn frame_at(
    f: &FrameSection,
    key: &str,
    place: Option<&str>,
    random: usize,
) -> Result<FrameTemplate, KeyError> {
    let given = [
        ("text", f.text.as_deref()),
        ("hex", f.hex.as_deref()),
        ("base64", f.base64.as_deref()),
    ];
    let mut set = given.iter().filter(|(_, v)| v.is_some());
    let (Some((form, Some(text))), None) = (set.next(), set.next()) else {
        return Err((
            key.to_string(),
            "a frame is one of text = \"…\", hex = \"…\" or base64 = \"…\"".into(),
        ));
    };
    let place = place.map_or_else(|| format!("{key}.{form}"), str::to_string);
    let t = template(text, &place, random)?;
    Ok(match *form {
        "hex" => FrameTemplate::Binary(t.binary(decode_hex).map_err(|e| (place, e))?),
        "base64" => FrameTemplate::Binary(t.binary(decode_base64).map_err(|e| (place, e))?),
        _ => FrameTemplate::Text(t),
    })
}

/// A raw dialog.
fn raw(w: &WorkloadSection, random: usize) -> Result<RawSpec, KeyError> {
    let message = match (&w.message, &w.message_hex, &w.message_base64) {
        (m, None, None) => FrameSection {
            text: Some(m.clone().unwrap_or_else(|| defaults::MESSAGE.to_string())),
            ..FrameSection::default()
        },
        (None, h, b) if h.is_some() != b.is_some() => FrameSection {
            hex: h.clone(),
            base64: b.clone(),
            ..FrameSection::default()
        },
        _ => {
            return Err((
                "message".into(),
                "set one of 'message', 'message_hex' or 'message_base64'".into(),
            ))
        }
    };
    let key = match (&w.message_hex, &w.message_base64) {
        (Some(_), _) => "message_hex",
        (_, Some(_)) => "message_base64",
        _ => "message",
    };
    let message = frame_at(&message, "", Some(key), random)?;
    if message.random_bytes() > defaults::MAX_MESSAGE_BYTES {
        return Err((key.into(), too_big(&format!("{{random:N}} in '{key}'"))));
    }
    let delivery = delivery(w.delivery.as_ref())?;
    if delivery == Delivery::Tag && !message.has_tag() && w.send != Some(false) {
        return Err((
            key.into(),
            format!("'{key}' must contain {{tag}} (memsoak's delivery tag, used for latency and loss), or choose another delivery: delivery = {{ regex = \"…\" }}, {{ json_pointer = \"/…\" }} or \"none\""),
        ));
    }
    let on_open = w
        .on_open
        .iter()
        .enumerate()
        .map(|(i, f)| frame(f, &format!("on_open.{i}"), random).map(Sensitive))
        .collect::<Result<_, _>>()?;
    let replies = w
        .replies
        .iter()
        .enumerate()
        .map(|(i, r)| reply(r, i, random))
        .collect::<Result<_, _>>()?;
    Ok(RawSpec {
        message: Sensitive(message),
        on_open,
        replies,
        delivery,
    })
}

/// A reply rule; one that matches every frame (an empty match) is refused.
fn reply(
    r: &crate::profile::collab::ReplySection,
    i: usize,
    random: usize,
) -> Result<Reply, KeyError> {
    let key = format!("reply.{i}");
    let Some(pattern) = &r.pattern else {
        return Err((
            key,
            "a reply needs 'match', a regular expression over the received frame".into(),
        ));
    };
    let pattern = matcher(pattern, &format!("{key}.match"))?;
    Ok(Reply {
        pattern,
        frame: Sensitive(frame(&r.frame, &key, random)?),
    })
}

/// A regular expression over frames' bytes that does not match every
/// frame (it would answer, or count, everything, its own sends included).
fn matcher(pattern: &str, key: &str) -> Result<Regex, KeyError> {
    let re = Regex::new(pattern).map_err(|e| {
        (
            key.to_string(),
            format!("'{pattern}' is not a regular expression: {e}"),
        )
    })?;
    if re.is_match(b"") {
        return Err((
            key.to_string(),
            format!("'{pattern}' matches every frame (it matches the empty text): make it say what the frame holds, e.g. \"^ping\""),
        ));
    }
    Ok(re)
}

/// What counts as a delivery.
fn delivery(d: Option<&DeliverySection>) -> Result<Delivery, KeyError> {
    let key = || "delivery".to_string();
    Ok(match d {
        // Memsoak's tag unless told otherwise: a message without one is
        // then an error that names the choices (below), never a silent
        // load whose deliveries are not measured.
        None => Delivery::Tag,
        Some(DeliverySection::Named(n)) => match n.as_str() {
            "tag" => Delivery::Tag,
            "none" => Delivery::None,
            other => {
                return Err((
                    key(),
                    format!("delivery '{other}' is not one memsoak knows: \"tag\", \"none\", {{ regex = \"…\" }} or {{ json_pointer = \"/…\" }}"),
                ))
            }
        },
        Some(DeliverySection::Rule(DeliveryRuleSection {
            regex: Some(r),
            json_pointer: None,
            equals: None,
        })) => Delivery::Regex(matcher(r, "delivery.regex")?),
        Some(DeliverySection::Rule(DeliveryRuleSection {
            regex: None,
            json_pointer: Some(p),
            equals,
        })) => {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err((
                    "delivery.json_pointer".into(),
                    format!("'{p}' is not a JSON pointer: it starts with '/', e.g. \"/type\""),
                ));
            }
            Delivery::JsonPointer {
                pointer: p.clone(),
                equals: equals
                    .as_ref()
                    .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null)),
            }
        }
        Some(DeliverySection::Rule(_)) => {
            return Err((
                key(),
                "a delivery rule is { regex = \"…\" } or { json_pointer = \"/…\", equals = … }".into(),
            ))
        }
    })
}

/// Yjs peers.
fn yjs(w: &WorkloadSection, y: YjsSection, random: usize) -> Result<YjsSpec, KeyError> {
    use dialect_defaults as d;
    let insert = template(
        w.message.as_deref().unwrap_or(d::YJS_INSERT),
        "message",
        random,
    )?;
    if !insert.has_tag() && w.send != Some(false) {
        return Err((
            "message".into(),
            "a Yjs edit must insert {tag} (memsoak finds it in the update every peer receives)"
                .into(),
        ));
    }
    let delete_fraction = y.delete_fraction.unwrap_or(d::YJS_DELETE_FRACTION);
    if !(0.0..1.0).contains(&delete_fraction) {
        return Err((
            "yjs.delete_fraction".into(),
            "'delete_fraction' must be at least 0 and below 1 (some edits must insert)".into(),
        ));
    }
    let max_chars = y.max_chars.unwrap_or(d::YJS_MAX_CHARS);
    if max_chars == 0 {
        return Err((
            "yjs.max_chars".into(),
            "'max_chars' must be at least 1".into(),
        ));
    }
    let text = y.text.unwrap_or_else(|| d::YJS_TEXT.to_string());
    if text.is_empty() {
        return Err(("yjs.text".into(), "the shared text needs a name".into()));
    }
    Ok(YjsSpec {
        text,
        insert: Sensitive(insert),
        delete_fraction,
        max_chars,
        max_doc_bytes: y.max_doc_bytes.map_or(d::YJS_MAX_DOC_BYTES, |s| s.0),
        awareness_every: y.awareness_rate.map(|r| Duration::from_secs_f64(1.0 / r.0)),
    })
}

/// Socket.IO clients.
fn socketio(s: SocketIoSection, random: usize) -> Result<SocketIoSpec, KeyError> {
    use dialect_defaults as d;
    let namespace = s.namespace.unwrap_or_else(|| "/".into());
    if !namespace.starts_with('/') {
        return Err((
            "socketio.namespace".into(),
            format!("namespace '{namespace}' must start with '/', e.g. \"/\" or \"/chat\""),
        ));
    }
    let event = s.event.unwrap_or_else(|| d::SOCKETIO_EVENT.into());
    let json = |text: &str, key: &str| -> Result<Template, KeyError> {
        let t = template(text, key, random)?;
        // The shape is checked with placeholders filled: it must be JSON.
        let mut probe = String::new();
        t.render(&super::template::Values::example(), &mut probe);
        serde_json::from_str::<serde_json::Value>(&probe).map_err(|e| {
            (
                key.to_string(),
                format!("'{key}' must be JSON once its placeholders are filled: {e}"),
            )
        })?;
        Ok(t)
    };
    let data = json(
        s.data.as_deref().unwrap_or(d::SOCKETIO_DATA),
        "socketio.data",
    )?;
    let auth = s
        .auth
        .as_deref()
        .map(|a| json(a, "socketio.auth").map(Sensitive))
        .transpose()?;
    let join = match (s.join_event, s.join_data) {
        (Some(e), data) => Some((
            e,
            Sensitive(json(data.as_deref().unwrap_or("{}"), "socketio.join_data")?),
        )),
        (None, Some(_)) => {
            return Err((
                "socketio.join_data".into(),
                "'join_data' goes with 'join_event', the event that joins a room".into(),
            ))
        }
        (None, None) => None,
    };
    Ok(SocketIoSpec {
        namespace,
        event,
        data: Sensitive(data),
        auth,
        join,
        ack: s.ack.unwrap_or(false),
    })
}

/// The URL's scheme is one a WebSocket connects with.
pub(super) fn check_ws_url(url: &str) -> Result<(), String> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        Ok(())
    } else {
        Err(format!(
            "url '{url}' must start with ws:// or wss:// (e.g. \"ws://127.0.0.1:8000/collab/{{doc}}\")"
        ))
    }
}

/// The frame limit of a workload.
pub(super) fn max_frame_bytes(dialect: &Dialect) -> usize {
    match dialect {
        Dialect::Yjs(y) => usize::try_from(y.max_doc_bytes)
            .unwrap_or(usize::MAX)
            .max(1 << 20),
        _ => dialect_defaults::MAX_FRAME_BYTES,
    }
}

/// What a collab workload shares with the other kinds.
pub(super) struct Common {
    pub(super) name: String,
    pub(super) backoff: Backoff,
    pub(super) ramp_up: Duration,
    pub(super) trust: Trust,
}

/// A `collab` workload; `at` places an error at a key of its table.
pub(super) fn build(
    w: &WorkloadSection,
    common: Common,
    at: &dyn Fn(&str, String) -> super::spec::SpecError,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<CollabSpec, super::spec::SpecError> {
    let url = w.url.as_deref().ok_or_else(|| {
        at(
            "",
            "'url' is required, e.g. \"ws://127.0.0.1:8000/collab/{doc}\"".into(),
        )
    })?;
    let url = expand(url).map_err(|m| at("url", m))?;
    check_ws_url(&url).map_err(|m| at("url", m))?;
    check_env(&url).map_err(|m| at("url", m.to_string()))?;
    let (docs, clients_per_doc, clients) = clients(w).map_err(|(k, m)| at(&k, m))?;
    let rate_per_client = match (w.send, w.rate, w.total_rate) {
        (Some(false), None, None) => None,
        (Some(false), _, _) => {
            return Err(at(
                "send",
                "send = false makes clients that never send: drop 'rate' or 'total_rate'".into(),
            ))
        }
        (_, Some(r), _) => Some(r.0),
        (_, None, Some(t)) => Some(t.0 / clients),
        (_, None, None) => Some(defaults::COLLAB_RATE),
    };
    let random = w
        .message_bytes
        .map_or(defaults::MESSAGE_BYTES, |b| b.0 as usize);
    if random > defaults::MAX_MESSAGE_BYTES {
        return Err(at("message_bytes", too_big("'message_bytes'")));
    }
    let dialect = dialect(w, random).map_err(|(k, m)| at(&k, m))?;
    let abrupt_fraction = w.abrupt_fraction.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&abrupt_fraction) {
        return Err(at(
            "abrupt_fraction",
            "'abrupt_fraction' must be between 0 and 1".into(),
        ));
    }
    let mut connect_url = expand_env(&url).map_err(|m| at("url", m.to_string()))?;
    if dialect.protocol() == Protocol::Socketio {
        connect_url = engine_io_url(&connect_url);
    }
    Ok(CollabSpec {
        name: common.name,
        url,
        connect_url: Sensitive(connect_url),
        docs,
        clients_per_doc,
        rate_per_client,
        max_frame_bytes: max_frame_bytes(&dialect),
        dialect,
        churn_interval: w.churn_interval.map(|d| d.0),
        abrupt_fraction,
        read: w.read.unwrap_or(true),
        backoff: common.backoff,
        ramp_up: common.ramp_up,
        trust: common.trust,
        load_limits: super::checks::Limits::default(),
    })
}

/// Documents, clients per document and clients in all, bounded.
fn clients(w: &WorkloadSection) -> Result<(u32, u32, f64), KeyError> {
    let docs = w.docs.unwrap_or(1);
    let clients_per_doc = w.clients_per_doc.unwrap_or(2);
    if docs == 0 || clients_per_doc == 0 {
        return Err((
            if docs == 0 { "docs" } else { "clients_per_doc" }.into(),
            "'docs' and 'clients_per_doc' must be at least 1".into(),
        ));
    }
    match docs.checked_mul(clients_per_doc) {
        Some(n) if n <= defaults::MAX_CLIENTS => Ok((docs, clients_per_doc, f64::from(n))),
        _ => Err((
            "clients_per_doc".into(),
            format!(
                "{docs} docs × {clients_per_doc} clients per doc is more than {} clients",
                defaults::MAX_CLIENTS
            ),
        )),
    }
}

/// A Socket.IO URL with the Engine.IO query it needs (`EIO=4`,
/// `transport=websocket`) added when missing, and the default path when
/// none is given.
pub(super) fn engine_io_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    let base = if after_scheme.contains('/') {
        base.to_string()
    } else {
        format!("{base}/socket.io/")
    };
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("EIO=")) {
        params.push("EIO=4");
    }
    if !params.iter().any(|p| p.starts_with("transport=")) {
        params.push("transport=websocket");
    }
    format!("{base}?{}", params.join("&"))
}
