//! Socket.IO clients: Engine.IO v4 over WebSocket, and Socket.IO's
//! packets on it.
//!
//! The connection opens with the server's Engine.IO open packet
//! (`0{"sid":…,"pingInterval":…,"pingTimeout":…}`); the client answers
//! with the Socket.IO connect packet of its namespace (`40`, `40/chat,`,
//! with the `auth` object), and is ready once the server acknowledges it
//! (`40{"sid":…}`; `44` is a refusal). It joins a room with an event of
//! the profile's, emits its event on each tick (`42["chat",{…}]`, with an
//! ack id when asked), answers every Engine.IO ping (`2`) with a pong
//! (`3`), and counts the connection dead when no ping came within
//! `pingInterval + pingTimeout`, as the server would.
//!
//! Hand-written rather than through a Socket.IO crate: the packets are a
//! digit and a JSON text, and the crates (rust_socketio and the like) run
//! their own connection and callback loop on their own WebSocket stack,
//! where memsoak needs its open-loop pacing, churn and accounting on each
//! frame, as for the other dialects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message;

use super::dialect::{Ctx, Dialect, Outgoing, Reaction, Seen};
use crate::workload::collab_spec::SocketIoSpec;
use crate::workload::stats::ErrorKind;
use crate::workload::template::tags;

/// Engine.IO's ping timing when the open packet says nothing of it.
const DEFAULT_PING: (Duration, Duration) = (Duration::from_secs(25), Duration::from_secs(20));

/// A Socket.IO client's side.
pub(crate) struct SocketIo {
    spec: Arc<SocketIoSpec>,
    /// The namespace prefix of packets: empty for `/`, `/chat,` otherwise.
    prefix: String,
    connected: bool,
    ping: (Duration, Duration),
    heard: Instant,
    text: String,
    /// The data template carries memsoak's tag (else events of the
    /// profile's name count as deliveries).
    tagged: bool,
}

impl SocketIo {
    pub(crate) fn new(spec: Arc<SocketIoSpec>) -> SocketIo {
        let prefix = if spec.namespace == "/" {
            String::new()
        } else {
            format!("{},", spec.namespace)
        };
        SocketIo {
            tagged: spec.data.0.has_tag(),
            spec,
            prefix,
            connected: false,
            ping: DEFAULT_PING,
            heard: Instant::now(),
            text: String::new(),
        }
    }

    /// `42<prefix><id>["event",data]`.
    fn event(&self, event: &str, data: &str, ack: Option<u64>) -> Message {
        let name = serde_json::Value::String(event.to_string());
        let id = ack.map_or(String::new(), |id| id.to_string());
        Message::text(format!("42{}{id}[{name},{data}]", self.prefix))
    }

    /// The open packet: ping timing; the connect packet is the answer.
    fn opened(&mut self, ctx: &Ctx<'_>, body: &str, r: &mut Reaction) {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Open {
            ping_interval: Option<u64>,
            ping_timeout: Option<u64>,
        }
        let Ok(open) = serde_json::from_str::<Open>(body) else {
            return r.broken(ErrorKind::Protocol);
        };
        self.ping = (
            open.ping_interval
                .map_or(DEFAULT_PING.0, Duration::from_millis),
            open.ping_timeout
                .map_or(DEFAULT_PING.1, Duration::from_millis),
        );
        let auth = match &self.spec.auth {
            Some(a) => {
                a.0.render(&ctx.values(0, crate::workload::unix_us()), &mut self.text);
                self.text.clone()
            }
            None => String::new(),
        };
        r.replies
            .push(Message::text(format!("40{}{auth}", self.prefix)));
    }

    /// A Socket.IO packet (the part after Engine.IO's `4`).
    fn packet(&mut self, ctx: &Ctx<'_>, p: &str, r: &mut Reaction) {
        let (kind, rest) = p.split_at(p.len().min(1));
        // Packets of another namespace are not this client's.
        let Some(rest) = rest.strip_prefix(self.prefix.as_str()) else {
            return;
        };
        match kind {
            "0" => {
                self.connected = true;
                if let Some((event, data)) = &self.spec.join {
                    data.0
                        .render(&ctx.values(0, crate::workload::unix_us()), &mut self.text);
                    let join = self.event(event, &self.text, None);
                    r.replies.push(join);
                }
            }
            "1" => r.close = true,
            "2" => self.emitted(rest, r),
            "3" => r.acks += 1,
            "4" => r.broken(ErrorKind::Rejected),
            // Binary events and acks carry attachments memsoak does not send.
            "5" | "6" => {}
            _ => r.broken(ErrorKind::Protocol),
        }
    }

    /// An event received: a delivery when it carries a tag, or is of the
    /// profile's event name when the data carries none.
    fn emitted(&mut self, body: &str, r: &mut Reaction) {
        if self.tagged {
            r.seen.extend(tags(body.as_bytes()).map(Seen::Tag));
            return;
        }
        let array = body.trim_start_matches(|c: char| c.is_ascii_digit());
        if let Ok(serde_json::Value::Array(a)) = serde_json::from_str(array) {
            if a.first().and_then(|e| e.as_str()) == Some(self.spec.event.as_str()) {
                r.seen.push(Seen::Untagged);
            }
        }
    }
}

impl Dialect for SocketIo {
    fn open(&mut self, _ctx: &Ctx<'_>, _out: &mut Vec<Message>) {
        // The server speaks first (its open packet).
        self.connected = false;
        self.ping = DEFAULT_PING;
        self.heard = Instant::now();
    }

    fn ready(&self) -> bool {
        self.connected
    }

    fn message(&mut self, ctx: &Ctx<'_>, seq: u64, sent_unix_us: u64) -> Option<Outgoing> {
        self.spec
            .data
            .0
            .render(&ctx.values(seq, sent_unix_us), &mut self.text);
        let ack = self.spec.ack.then_some(seq);
        Some(Outgoing {
            frame: self.event(&self.spec.event, &self.text, ack),
            delivered: true,
        })
    }

    fn receive(&mut self, ctx: &Ctx<'_>, frame: &Message, r: &mut Reaction) {
        let text = match frame {
            Message::Text(t) => t.as_str(),
            // Binary frames carry attachments memsoak never asked for.
            _ => return,
        };
        self.heard = Instant::now();
        let (kind, rest) = text.split_at(text.len().min(1));
        match kind {
            "0" => self.opened(ctx, rest, r),
            "1" => r.close = true,
            "2" => r.replies.push(Message::text(format!("3{rest}"))),
            "4" => self.packet(ctx, rest, r),
            "3" | "6" => {}
            _ => r.broken(ErrorKind::Protocol),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.heard + self.ping.0 + self.ping.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::spec::Sensitive;
    use crate::workload::template::Template;

    fn client(namespace: &str, ack: bool) -> SocketIo {
        SocketIo::new(Arc::new(SocketIoSpec {
            namespace: namespace.into(),
            event: "chat".into(),
            data: Sensitive(Template::parse(r#"{"tag":"{tag}"}"#, 8)),
            auth: Some(Sensitive(Template::parse(r#"{"token":"t"}"#, 8))),
            join: Some((
                "join".into(),
                Sensitive(Template::parse(r#"{"room":"{doc}"}"#, 8)),
            )),
            ack,
        }))
    }

    fn text(m: &Message) -> &str {
        match m {
            Message::Text(t) => t.as_str(),
            _ => panic!("not text"),
        }
    }

    #[test]
    fn the_handshake_pings_events_and_acks() {
        let ctx = Ctx {
            doc: "notes-1",
            doc_index: 1,
            client: 3,
        };
        let mut c = client("/chat", true);
        c.open(&ctx, &mut Vec::new());
        let mut r = Reaction::default();
        c.receive(
            &ctx,
            &Message::text(r#"0{"sid":"a","pingInterval":300,"pingTimeout":200}"#),
            &mut r,
        );
        assert_eq!(text(&r.replies[0]), r#"40/chat,{"token":"t"}"#);
        assert!(!c.ready());
        r.reset();
        c.receive(&ctx, &Message::text(r#"40/chat,{"sid":"b"}"#), &mut r);
        assert!(c.ready());
        assert_eq!(
            text(&r.replies[0]),
            r#"42/chat,["join",{"room":"notes-1"}]"#
        );
        let m = c.message(&ctx, 7, 1_000).unwrap();
        assert_eq!(
            text(&m.frame),
            r#"42/chat,7["chat",{"tag":"ms1:1:3:7:1000"}]"#
        );
        r.reset();
        c.receive(&ctx, &Message::text("2"), &mut r);
        assert_eq!(text(&r.replies[0]), "3");
        r.reset();
        c.receive(&ctx, &Message::text(r#"43/chat,7[]"#), &mut r);
        assert_eq!(r.acks, 1);
        r.reset();
        c.receive(
            &ctx,
            &Message::text(r#"42/chat,["chat",{"tag":"ms1:1:4:9:2000"}]"#),
            &mut r,
        );
        assert_eq!(r.seen.len(), 1);
        r.reset();
        c.receive(&ctx, &Message::text(r#"44/chat,{"message":"no"}"#), &mut r);
        assert_eq!((r.error, r.close), (Some(ErrorKind::Rejected), true));
        r.reset();
        c.receive(&ctx, &Message::text("x"), &mut r);
        assert_eq!(r.error, Some(ErrorKind::Protocol));
    }
}
