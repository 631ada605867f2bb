//! Raw WebSocket dialogs: frames from templates (text, or bytes written
//! in hex or base64), frames sent once a connection opens, answers to
//! frames that match a rule (an application-level ping, an ack the server
//! waits for), and deliveries counted by memsoak's tag, a regular
//! expression or a JSON pointer.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Message;

use super::dialect::{payload, Ctx, Dialect, Outgoing, Reaction, Seen};
use crate::workload::collab_spec::{Delivery, FrameTemplate, RawSpec};
use crate::workload::template::tags;

/// A raw client's side.
pub(crate) struct Raw {
    spec: Arc<RawSpec>,
    text: String,
    bytes: Vec<u8>,
}

impl Raw {
    pub(crate) fn new(spec: Arc<RawSpec>) -> Raw {
        Raw {
            spec,
            text: String::new(),
            bytes: Vec::new(),
        }
    }

    /// A frame rendered from `t` (buffers reused).
    fn render(&mut self, t: &FrameTemplate, ctx: &Ctx<'_>, seq: u64, sent_us: u64) -> Message {
        let v = ctx.values(seq, sent_us);
        match t {
            FrameTemplate::Text(t) => {
                t.render(&v, &mut self.text);
                Message::text(self.text.as_str())
            }
            FrameTemplate::Binary(b) => {
                b.render(&v, &mut self.bytes, &mut self.text);
                Message::binary(self.bytes.clone())
            }
        }
    }
}

impl Dialect for Raw {
    fn open(&mut self, ctx: &Ctx<'_>, out: &mut Vec<Message>) {
        let spec = self.spec.clone();
        for f in &spec.on_open {
            out.push(self.render(&f.0, ctx, 0, crate::workload::unix_us()));
        }
    }

    fn message(&mut self, ctx: &Ctx<'_>, seq: u64, sent_unix_us: u64) -> Option<Outgoing> {
        let spec = self.spec.clone();
        Some(Outgoing {
            frame: self.render(&spec.message.0, ctx, seq, sent_unix_us),
            delivered: spec.delivery != Delivery::None,
        })
    }

    fn receive(&mut self, ctx: &Ctx<'_>, frame: &Message, r: &mut Reaction) {
        let Some(bytes) = payload(frame) else {
            return;
        };
        match &self.spec.delivery {
            Delivery::Tag => r.seen.extend(tags(bytes).map(Seen::Tag)),
            Delivery::Regex(re) => {
                if re.is_match(bytes) {
                    r.seen.push(Seen::Untagged);
                }
            }
            Delivery::JsonPointer { pointer, equals } => {
                if json_matches(bytes, pointer, equals.as_ref()) {
                    r.seen.push(Seen::Untagged);
                }
            }
            Delivery::None => {}
        }
        let spec = self.spec.clone();
        for rule in spec
            .replies
            .iter()
            .filter(|rule| rule.pattern.is_match(bytes))
        {
            let answer = self.render(&rule.frame.0, ctx, 0, crate::workload::unix_us());
            r.replies.push(answer);
        }
    }
}

/// Whether `bytes` is JSON with a value at `pointer` (equal to `equals`,
/// when given).
fn json_matches(bytes: &[u8], pointer: &str, equals: Option<&serde_json::Value>) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    match (v.pointer(pointer), equals) {
        (Some(found), Some(want)) => found == want,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_pointer_matches_by_presence_or_value() {
        let frame = br#"{"type":"edit","doc":{"id":3}}"#;
        assert!(json_matches(frame, "/doc/id", None));
        assert!(json_matches(
            frame,
            "/type",
            Some(&serde_json::json!("edit"))
        ));
        assert!(!json_matches(
            frame,
            "/type",
            Some(&serde_json::json!("ping"))
        ));
        assert!(!json_matches(frame, "/missing", None));
        assert!(!json_matches(b"not json", "/type", None));
    }
}
