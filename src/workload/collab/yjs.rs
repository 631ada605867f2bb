//! Yjs peers: each client holds a real `Y.Doc` of its document (the
//! `yrs` crate, the maintained Rust port of Yjs) and speaks the y-sync
//! protocol with the server, as an editor does:
//!
//! - on connect, sync step 1 (its state vector); the server's step 1 is
//!   answered with step 2 (what it lacks) and the server's step 2 applied;
//!   the client sends once it has the server's state;
//! - each tick is a real edit of the shared text: an insert at a random
//!   place of a template that carries memsoak's tag, or, for a share of
//!   ticks, a delete; past `max_chars` an insert also deletes as much, so
//!   the document does not only grow; the edit's update is sent;
//! - every update received is applied; its inserted text (UTF-8 in the
//!   update's bytes) carries the senders' tags, read without decoding the
//!   update again, so `received`, `lost`, `misdelivered` and latency mean
//!   what they mean for raw frames; the server's step 2 is history, not a
//!   delivery;
//! - awareness (cursor, presence) updates go out at their own rate when
//!   asked for; the server's are applied;
//! - when sending stops the client asks again (step 1) for anything it
//!   missed, and at the end its text's digest is compared with its
//!   document's other clients': a server that drops or corrupts updates
//!   leaves them diverged.
//!
//! A client keeps its document, not a log of updates; a document that
//! grows past `max_doc_bytes` (a server pushing more than the edits make)
//! ends the client with an error.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio_tungstenite::tungstenite::Message as Frame;
use yrs::sync::{Awareness, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, OffsetKind, Options, ReadTxn, Text, TextRef, Transact, Update};

use super::dialect::{Ctx, Dialect, Outgoing, Reaction, Seen};
use crate::workload::collab_spec::YjsSpec;
use crate::workload::stats::ErrorKind;
use crate::workload::template::tags;

/// A Yjs peer's side.
pub(crate) struct Yjs {
    spec: Arc<YjsSpec>,
    awareness: Awareness,
    text: TextRef,
    /// The server's state has been applied.
    synced: bool,
    /// Too large: the client gives up.
    oversized: bool,
    scratch: String,
}

impl Yjs {
    pub(crate) fn new(spec: Arc<YjsSpec>) -> Yjs {
        let doc = Doc::with_options(Options {
            // JavaScript's string offsets, as Yjs editors use them.
            offset_kind: OffsetKind::Utf16,
            ..Options::default()
        });
        let text = doc.get_or_insert_text(spec.text.as_str());
        Yjs {
            spec,
            awareness: Awareness::new(doc),
            text,
            synced: false,
            oversized: false,
            scratch: String::new(),
        }
    }

    fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    /// The frame of a y-sync message.
    fn frame(m: &Message) -> Frame {
        Frame::binary(m.encode_v1())
    }

    /// Sync step 1: this peer's state vector.
    fn step1(&self) -> Frame {
        let sv = self.doc().transact().state_vector();
        Self::frame(&Message::Sync(SyncMessage::SyncStep1(sv)))
    }

    /// One edit: an insert of the rendered template (with a delete past
    /// `max_chars`), or a delete. Returns the update and whether it
    /// inserted (carries a tag).
    fn edit(&mut self, rendered: &str) -> (Vec<u8>, bool) {
        let mut rng = rand::rng();
        let delete = rng.random_bool(self.spec.delete_fraction);
        let text = self.text.clone();
        let mut txn = self.awareness.doc().transact_mut();
        let len = text.len(&txn);
        let chunk = rendered.encode_utf16().count() as u32;
        let inserting = !delete || len == 0;
        if inserting {
            let at = rng.random_range(0..=len);
            text.insert(&mut txn, at, rendered);
            if u64::from(len) + u64::from(chunk) > self.spec.max_chars {
                // Delete as much elsewhere, before or after the insert.
                let (lo, hi) = (at, at + chunk);
                if lo >= chunk {
                    text.remove_range(&mut txn, rng.random_range(0..=lo - chunk), chunk);
                } else if len >= hi {
                    text.remove_range(&mut txn, rng.random_range(hi..=len), chunk);
                }
            }
        } else {
            let n = chunk.min(len);
            text.remove_range(&mut txn, rng.random_range(0..=len - n), n);
        }
        (txn.encode_update_v1(), inserting)
    }

    /// Applies an update; a document past its bound ends the client.
    fn apply(&mut self, bytes: &[u8], r: &mut Reaction) {
        let update = match Update::decode_v1(bytes) {
            Ok(u) => u,
            Err(_) => return r.broken(ErrorKind::Protocol),
        };
        let text = self.text.clone();
        let mut txn = self.awareness.doc().transact_mut();
        if txn.apply_update(update).is_err() {
            return r.broken(ErrorKind::Protocol);
        }
        if u64::from(text.len(&txn)) * 2 > self.spec.max_doc_bytes {
            self.oversized = true;
            r.broken(ErrorKind::TooLarge);
        }
    }

    /// One y-sync message from the server.
    fn message_in(&mut self, m: Message, r: &mut Reaction) {
        match m {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                let update = self.doc().transact().encode_state_as_update_v1(&sv);
                r.replies
                    .push(Self::frame(&Message::Sync(SyncMessage::SyncStep2(update))));
            }
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                // History (the server's state), not deliveries.
                self.apply(&update, r);
                self.synced = true;
            }
            Message::Sync(SyncMessage::Update(update)) => {
                r.seen.extend(tags(&update).map(Seen::Tag));
                self.apply(&update, r);
            }
            Message::Awareness(update) => {
                let _ = self.awareness.apply_update(update);
            }
            Message::AwarenessQuery => {
                if let Ok(update) = self.awareness.update() {
                    r.replies.push(Self::frame(&Message::Awareness(update)));
                }
            }
            Message::Auth(Some(_)) => r.broken(ErrorKind::Rejected),
            Message::Auth(None) | Message::Custom(..) => {}
        }
    }
}

impl Dialect for Yjs {
    fn open(&mut self, ctx: &Ctx<'_>, out: &mut Vec<Frame>) {
        self.synced = false;
        out.push(self.step1());
        if self.spec.awareness_every.is_some() {
            if let Some(m) = self.side_message(ctx) {
                out.push(m);
            }
        }
    }

    fn ready(&self) -> bool {
        self.synced && !self.oversized
    }

    fn message(&mut self, ctx: &Ctx<'_>, seq: u64, sent_unix_us: u64) -> Option<Outgoing> {
        let mut rendered = std::mem::take(&mut self.scratch);
        self.spec
            .insert
            .0
            .render(&ctx.values(seq, sent_unix_us), &mut rendered);
        let (update, inserted) = self.edit(&rendered);
        self.scratch = rendered;
        Some(Outgoing {
            frame: Self::frame(&Message::Sync(SyncMessage::Update(update))),
            delivered: inserted,
        })
    }

    fn receive(&mut self, _ctx: &Ctx<'_>, frame: &Frame, r: &mut Reaction) {
        let bytes: &[u8] = match frame {
            Frame::Binary(b) => b,
            // y-sync is binary; a text frame is not this protocol.
            Frame::Text(_) => return r.broken(ErrorKind::Protocol),
            _ => return,
        };
        // A frame may hold several messages one after another.
        let mut decoder = yrs::updates::decoder::DecoderV1::from(bytes);
        let messages: Vec<_> = yrs::sync::MessageReader::new(&mut decoder).collect();
        for m in messages {
            match m {
                Ok(m) => self.message_in(m, r),
                Err(_) => return r.broken(ErrorKind::Protocol),
            }
            if r.close {
                return;
            }
        }
    }

    fn drain(&mut self, out: &mut Vec<Frame>) {
        out.push(self.step1());
    }

    fn digest(&self) -> Option<u64> {
        if !self.synced {
            return None;
        }
        let text = self.text.get_string(&self.doc().transact());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        Some(h.finish())
    }

    fn side_every(&self) -> Option<Duration> {
        self.spec.awareness_every
    }

    fn side_message(&mut self, ctx: &Ctx<'_>) -> Option<Frame> {
        let cursor = rand::rng().random_range(0..=self.text.len(&self.doc().transact()));
        self.awareness.set_local_state_raw(format!(
            r#"{{"user":{{"name":"memsoak-{}"}},"cursor":{cursor}}}"#,
            ctx.client
        ));
        let update = self.awareness.update().ok()?;
        Some(Self::frame(&Message::Awareness(update)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::spec::Sensitive;
    use crate::workload::template::Template;

    fn peer(max_chars: u64) -> Yjs {
        Yjs::new(Arc::new(YjsSpec {
            text: "content".into(),
            insert: Sensitive(Template::parse("{tag} {random:8} ", 8)),
            delete_fraction: 0.3,
            max_chars,
            max_doc_bytes: 1 << 20,
            awareness_every: None,
        }))
    }

    fn ctx(client: u32) -> Ctx<'static> {
        Ctx {
            doc: "d-0",
            doc_index: 0,
            client,
        }
    }

    /// Hands the frames of one peer to another, returning its reaction.
    fn deliver(to: &mut Yjs, frames: &[Frame]) -> Reaction {
        let mut r = Reaction::default();
        for f in frames {
            to.receive(&ctx(9), f, &mut r);
        }
        r
    }

    #[test]
    fn two_peers_sync_edit_and_converge_with_the_tags_seen() {
        let (mut a, mut b) = (peer(400), peer(400));
        let mut out = Vec::new();
        a.open(&ctx(0), &mut out);
        // b answers a's step 1 with step 2, and a applies it.
        let r = deliver(&mut b, &out);
        assert!(matches!(r.replies.as_slice(), [Frame::Binary(_)]));
        let back = deliver(&mut a, &r.replies);
        assert!(back.seen.is_empty(), "history is no delivery");
        assert!(a.ready());
        let mut out = Vec::new();
        b.open(&ctx(1), &mut out);
        let r = deliver(&mut a, &out);
        deliver(&mut b, &r.replies);
        assert!(b.ready());
        let mut tagged = 0;
        for seq in 0..200 {
            let m = a.message(&ctx(0), seq, 1_000 + seq).unwrap();
            tagged += u64::from(m.delivered);
            let r = deliver(&mut b, &[m.frame]);
            assert_eq!(r.error, None);
            assert_eq!(r.seen.len(), usize::from(m.delivered));
            let m = b.message(&ctx(1), seq, 2_000 + seq);
            deliver(&mut a, &[m.unwrap().frame]);
        }
        assert!(tagged > 100, "{tagged} inserts of 200");
        assert_eq!(a.digest(), b.digest());
        let len = a.text.len(&a.doc().transact());
        assert!(len <= 400 + 64, "the document stays bounded: {len}");
    }

    #[test]
    fn garbage_and_text_frames_are_protocol_errors() {
        let mut a = peer(100);
        let r = deliver(&mut a, &[Frame::binary(vec![0, 9, 9, 9])]);
        assert_eq!((r.error, r.close), (Some(ErrorKind::Protocol), true));
        let r = deliver(&mut a, &[Frame::text("hello")]);
        assert_eq!(r.error, Some(ErrorKind::Protocol));
    }
}
