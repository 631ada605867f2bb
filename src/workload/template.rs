//! Message and body templates.
//!
//! A template is parsed once into segments; rendering appends to a reused
//! buffer, so a message costs no parsing and no allocation beyond its text.
//! Placeholders: `{doc}`, `{client}` (or `{agent}`), `{seq}`, `{ts}` (Unix
//! milliseconds), `{random}` / `{random:N}` (N random alphanumerics) and
//! `{tag}` (memsoak's delivery tag, below). Any other `{...}` is literal
//! text, so JSON braces need no escaping. `${NAME}` is replaced by the
//! environment variable NAME when the workload starts; the value is never
//! written to any output.

use std::fmt::Write;

use rand::distr::{Alphanumeric, SampleString};

/// Prefix of memsoak's delivery tag: `ms1:<doc>:<client>:<seq>:<sent_unix_us>`.
/// JSON-safe, so it can sit inside a string of the user's message.
pub const TAG_PREFIX: &str = "ms1:";

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Doc,
    Client,
    Seq,
    Timestamp,
    Random(usize),
    Tag,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Values for one rendering.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// Document name.
    pub doc: &'a str,
    /// Document index within the workload (for the tag).
    pub doc_index: u32,
    /// Client or agent index.
    pub client: u32,
    /// Sequence number of this message for this client.
    pub seq: u64,
    /// Send time, Unix microseconds.
    pub sent_unix_us: u64,
}

impl Values<'static> {
    /// Values to render a template with when checking its shape.
    pub fn example() -> Values<'static> {
        Values {
            doc: "doc-0",
            doc_index: 0,
            client: 0,
            seq: 0,
            sent_unix_us: 0,
        }
    }
}

impl Template {
    /// Parses `text`; `default_random` is the length of a bare `{random}`.
    pub fn parse(text: &str, default_random: usize) -> Template {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let token = after
                .find('}')
                .map(|close| (&after[..close], &after[close + 1..]));
            let placeholder = token.and_then(|(name, tail)| {
                let seg = match name {
                    "doc" => Segment::Doc,
                    "client" | "agent" => Segment::Client,
                    "seq" => Segment::Seq,
                    "ts" => Segment::Timestamp,
                    "tag" => Segment::Tag,
                    "random" => Segment::Random(default_random),
                    _ => Segment::Random(name.strip_prefix("random:")?.parse().ok()?),
                };
                Some((seg, tail))
            });
            match placeholder {
                Some((seg, tail)) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(seg);
                    rest = tail;
                }
                None => {
                    literal.push('{');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Template { segments }
    }

    /// Bytes of `{random}` one rendering writes (saturating).
    pub fn random_bytes(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Random(n) => *n,
                _ => 0,
            })
            .fold(0, usize::saturating_add)
    }

    /// Whether the template carries memsoak's delivery tag.
    pub fn has_tag(&self) -> bool {
        self.segments.contains(&Segment::Tag)
    }

    /// Renders into `out` (cleared first).
    pub fn render(&self, v: &Values<'_>, out: &mut String) {
        out.clear();
        for s in &self.segments {
            s.render(v, out);
        }
    }

    /// The same template for a binary frame: its literal text decoded by
    /// `decode` (hex or base64) into bytes, its placeholders kept.
    pub fn binary(
        &self,
        decode: impl Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<BinaryTemplate, String> {
        let segments = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => decode(t).map(Piece::Bytes),
                other => Ok(Piece::Field(other.clone())),
            })
            .collect::<Result<_, _>>()?;
        Ok(BinaryTemplate {
            segments,
            tag: self.has_tag(),
            random_bytes: self.random_bytes(),
        })
    }
}

impl Segment {
    /// Appends this segment's text for `v` to `out`.
    fn render(&self, v: &Values<'_>, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self {
            Segment::Text(t) => {
                out.push_str(t);
                Ok(())
            }
            Segment::Doc => {
                out.push_str(v.doc);
                Ok(())
            }
            Segment::Client => write!(out, "{}", v.client),
            Segment::Seq => write!(out, "{}", v.seq),
            Segment::Timestamp => write!(out, "{}", v.sent_unix_us / 1000),
            Segment::Random(n) => {
                Alphanumeric.append_string(&mut rand::rng(), out, *n);
                Ok(())
            }
            Segment::Tag => write!(
                out,
                "{TAG_PREFIX}{}:{}:{}:{}",
                v.doc_index, v.client, v.seq, v.sent_unix_us
            ),
        };
    }
}

/// One piece of a binary template: literal bytes, or a placeholder
/// written as its text's bytes.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Bytes(Vec<u8>),
    Field(Segment),
}

/// A template of a binary frame.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryTemplate {
    segments: Vec<Piece>,
    tag: bool,
    random_bytes: usize,
}

impl BinaryTemplate {
    /// Whether the frame carries memsoak's delivery tag.
    pub fn has_tag(&self) -> bool {
        self.tag
    }

    /// Bytes of `{random}` one rendering writes.
    pub fn random_bytes(&self) -> usize {
        self.random_bytes
    }

    /// Renders into `out` (cleared first); `scratch` holds a placeholder's
    /// text on its way.
    pub fn render(&self, v: &Values<'_>, out: &mut Vec<u8>, scratch: &mut String) {
        out.clear();
        for p in &self.segments {
            match p {
                Piece::Bytes(b) => out.extend_from_slice(b),
                Piece::Field(seg) => {
                    scratch.clear();
                    seg.render(v, scratch);
                    out.extend_from_slice(scratch.as_bytes());
                }
            }
        }
    }
}

/// Hex digits (spaces and newlines between them allowed) as bytes.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&digits).map_err(|e| format!("'{}' is not hex: {e}", text.trim()))
}

/// Base64 (standard alphabet, padded or not) as bytes.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(&t)
        .map_err(|e| format!("'{}' is not base64: {e}", text.trim()))
}

/// A delivery tag found in a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// Sender's document index.
    pub doc: u32,
    /// Sender's client index.
    pub client: u32,
    /// Sender's sequence number.
    pub seq: u64,
    /// Send time, Unix microseconds.
    pub sent_unix_us: u64,
}

/// Finds and parses memsoak's first tag in a message.
pub fn find_tag(text: &str) -> Option<Tag> {
    tags(text.as_bytes()).next()
}

/// Every tag of memsoak's in a frame, text or binary, in order: read from
/// the bytes as they arrived (a Yjs update carries inserted text as
/// UTF-8, a server may batch several messages in one frame), without
/// decoding or copying the frame.
pub fn tags(frame: &[u8]) -> impl Iterator<Item = Tag> + '_ {
    let finder = memchr::memmem::Finder::new(TAG_PREFIX.as_bytes());
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let start = at + finder.find(&frame[at..])? + TAG_PREFIX.len();
        at = start;
        if let Some(tag) = parse_tag(&frame[start..]) {
            return Some(tag);
        }
    })
}

/// `doc:client:seq:sent_us` at the start of `rest`, each a decimal number.
fn parse_tag(rest: &[u8]) -> Option<Tag> {
    let mut fields = [0u64; 4];
    let mut i = 0;
    for f in &mut fields {
        let start = i;
        while let Some(d) = rest.get(i).filter(|b| b.is_ascii_digit()) {
            *f = f.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            i += 1;
        }
        if i == start {
            return None;
        }
        // A colon between fields (and none needed after the last).
        if rest.get(i) == Some(&b':') {
            i += 1;
        }
    }
    Some(Tag {
        doc: u32::try_from(fields[0]).ok()?,
        client: u32::try_from(fields[1]).ok()?,
        seq: fields[2],
        sent_unix_us: fields[3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            doc: "notes-1",
            doc_index: 1,
            client: 7,
            seq: 42,
            sent_unix_us: 1_700_000_000_123_456,
        }
    }

    #[test]
    fn json_braces_stay_literal_and_placeholders_render() {
        let t = Template::parse(
            r#"{"doc":"{doc}","c":{client},"s":{seq},"tag":"{tag}","x":"{random:5}","y":{nope}}"#,
            8,
        );
        let mut out = String::new();
        t.render(&values(), &mut out);
        assert!(
            out.starts_with(
                r#"{"doc":"notes-1","c":7,"s":42,"tag":"ms1:1:7:42:1700000000123456","x":""#
            ),
            "{out}"
        );
        assert!(out.ends_with(r#"","y":{nope}}"#), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.replace("{nope}", "0")).unwrap();
        assert_eq!(v["x"].as_str().unwrap().len(), 5);
        assert_eq!(
            find_tag(&out),
            Some(Tag {
                doc: 1,
                client: 7,
                seq: 42,
                sent_unix_us: 1_700_000_000_123_456
            })
        );
        assert!(t.has_tag());
    }
}
