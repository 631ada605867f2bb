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
            // Writing to a String cannot fail.
            let _ = match s {
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

/// Finds and parses memsoak's tag in a message.
pub fn find_tag(text: &str) -> Option<Tag> {
    let start = text.find(TAG_PREFIX)? + TAG_PREFIX.len();
    let mut fields = text[start..]
        .split(|c: char| !c.is_ascii_digit() && c != ':')
        .next()?
        .split(':');
    let tag = Tag {
        doc: fields.next()?.parse().ok()?,
        client: fields.next()?.parse().ok()?,
        seq: fields.next()?.parse().ok()?,
        sent_unix_us: fields.next()?.parse().ok()?,
    };
    Some(tag)
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
