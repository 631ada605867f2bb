//! Reading a `.heapsnapshot` in one streaming pass (see the parent
//! module for why and how): the top-level object visited key by key with
//! serde_json's streaming deserializer, the flat `nodes` array tallied by
//! class as it streams past, `edges` skipped unread, and of `strings` only
//! the names tallied kept.

use std::collections::HashMap;
use std::fmt;
use std::io::BufReader;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{ClassCount, HeapSummary, MAX_CLASSES};

/// `detachedness` of a detached node (0: unknown, 1: attached).
const DETACHED: u64 = 2;

/// How a snapshot's flat `nodes` array is laid out (`snapshot.meta`).
#[derive(Debug)]
struct Layout {
    fields: usize,
    type_at: usize,
    name_at: usize,
    size_at: usize,
    detached_at: Option<usize>,
    types: Vec<String>,
}

#[derive(Deserialize)]
struct Header {
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
}

impl Layout {
    fn of(h: Header) -> Result<Layout, String> {
        let f = &h.meta.node_fields;
        let at = |name: &str| {
            f.iter().position(|x| x == name).ok_or_else(|| {
                format!(
                    "'snapshot.meta.node_fields' has no '{name}' (it has: {})",
                    f.join(", ")
                )
            })
        };
        let types = match h.meta.node_types.first() {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().unwrap_or("?").to_string())
                .collect(),
            _ => {
                return Err(
                    "'snapshot.meta.node_types' does not start with the list of node types".into(),
                )
            }
        };
        Ok(Layout {
            fields: f.len(),
            type_at: at("type")?,
            name_at: at("name")?,
            size_at: at("self_size")?,
            detached_at: f.iter().position(|x| x == "detachedness"),
            types,
        })
    }
}

/// What a class is keyed by while the nodes stream past: a name (an index
/// into `strings`, resolved at the end) or a node type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Named(u64),
    Detached(u64),
    Type(u64),
    Other,
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    count: u64,
    self_size: u64,
}

#[derive(Default)]
struct Tallies {
    by_key: HashMap<Key, Tally>,
    nodes: u64,
    self_size: u64,
    names: usize,
}

impl Tallies {
    fn add(&mut self, key: Key, size: u64) {
        let key = match key {
            Key::Named(_) | Key::Detached(_) if !self.by_key.contains_key(&key) => {
                if self.names >= MAX_CLASSES {
                    Key::Other
                } else {
                    self.names += 1;
                    key
                }
            }
            k => k,
        };
        let t = self.by_key.entry(key).or_default();
        t.count += 1;
        t.self_size += size;
    }
}

struct Reading<'a> {
    layout: &'a mut Option<Layout>,
    tallies: &'a mut Tallies,
    names: &'a mut HashMap<u64, String>,
    /// The top-level key being read, for errors.
    key: &'a std::cell::RefCell<String>,
}

impl<'de> Visitor<'de> for Reading<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a heap snapshot (a JSON object with snapshot, nodes and strings)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_nodes = false;
        let mut seen_strings = false;
        while let Some(key) = map.next_key::<String>()? {
            self.key.replace(key.clone());
            match key.as_str() {
                "snapshot" => {
                    let h: Header = map.next_value()?;
                    *self.layout = Some(Layout::of(h).map_err(de::Error::custom)?);
                }
                "nodes" => {
                    let layout = self.layout.as_ref().ok_or_else(|| {
                        de::Error::custom(
                            "'nodes' comes before 'snapshot', whose meta says how to read them",
                        )
                    })?;
                    map.next_value_seed(Nodes {
                        layout,
                        tallies: &mut *self.tallies,
                    })?;
                    seen_nodes = true;
                }
                "strings" => {
                    map.next_value_seed(Strings {
                        wanted: &*self.tallies,
                        names: &mut *self.names,
                    })?;
                    seen_strings = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.key.replace(String::new());
        if !seen_nodes {
            return Err(de::Error::custom("it has no 'nodes'"));
        }
        if !seen_strings {
            return Err(de::Error::custom("it has no 'strings'"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Reading<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

struct Nodes<'a> {
    layout: &'a Layout,
    tallies: &'a mut Tallies,
}

impl<'de> Visitor<'de> for Nodes<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the nodes: an array of non-negative integers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let l = self.layout;
        let mut row = vec![0u64; l.fields];
        let mut i = 0;
        while let Some(v) = seq.next_element::<u64>()? {
            row[i] = v;
            i += 1;
            if i == l.fields {
                i = 0;
                let kind = l
                    .types
                    .get(row[l.type_at] as usize)
                    .map_or("", String::as_str);
                let name = row[l.name_at];
                let detached = l.detached_at.is_some_and(|d| row[d] == DETACHED);
                let key = match kind {
                    "object" | "native" if detached => Key::Detached(name),
                    "object" | "native" => Key::Named(name),
                    _ => Key::Type(row[l.type_at]),
                };
                self.tallies.nodes += 1;
                self.tallies.self_size += row[l.size_at];
                self.tallies.add(key, row[l.size_at]);
            }
        }
        if i != 0 {
            return Err(de::Error::custom(format!(
                "'nodes' ends inside a node ({} values, not a multiple of the {} node fields)",
                self.tallies.nodes * l.fields as u64 + i as u64,
                l.fields
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Nodes<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

struct Strings<'a> {
    wanted: &'a Tallies,
    names: &'a mut HashMap<u64, String>,
}

impl<'de> Visitor<'de> for Strings<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the strings: an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index: u64 = 0;
        loop {
            let wanted = self.wanted.by_key.contains_key(&Key::Named(index))
                || self.wanted.by_key.contains_key(&Key::Detached(index));
            if wanted {
                match seq.next_element::<String>()? {
                    Some(mut s) => {
                        // A name is a constructor's or a tag's; a crafted
                        // one of megabytes is cut.
                        if s.len() > 200 {
                            let mut end = 200;
                            while !s.is_char_boundary(end) {
                                end -= 1;
                            }
                            s.truncate(end);
                            s.push('…');
                        }
                        self.names.insert(index, s);
                    }
                    None => return Ok(()),
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strings<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// DevTools' name for the nodes of a type that are not named by their
/// constructor.
fn type_class(kind: &str) -> String {
    match kind {
        "hidden" => "(system)".into(),
        "code" => "(compiled code)".into(),
        "string" | "concatenated string" | "sliced string" => "(string)".into(),
        "regexp" => "(regexp)".into(),
        other => format!("({other})"),
    }
}

/// Reads the snapshot at `path` in one streaming pass. Errors name the
/// file, the line and column, the top-level key, and what was wrong.
pub fn summarise(path: &Path) -> Result<HeapSummary, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("could not read '{}': {e}", path.display()))?;
    summarise_from(BufReader::with_capacity(1 << 20, file), path)
}

/// [`summarise`] from any reader; `path` names it in errors.
pub fn summarise_from(reader: impl std::io::Read, path: &Path) -> Result<HeapSummary, String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut layout = None;
    let mut tallies = Tallies::default();
    let mut names = HashMap::new();
    let key = std::cell::RefCell::new(String::new());
    Reading {
        layout: &mut layout,
        tallies: &mut tallies,
        names: &mut names,
        key: &key,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| {
        let at = if e.line() > 0 {
            format!(":{}:{}", e.line(), e.column())
        } else {
            String::new()
        };
        // serde_json ends its message with the place, said already.
        let text = e.to_string();
        let text = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(t, _)| t);
        let inside = match key.borrow().as_str() {
            "" => String::new(),
            k => format!(" in '{k}'"),
        };
        format!(
            "{}{at}: not a heap snapshot memsoak can read{inside}: {text}",
            path.display()
        )
    })?;
    let layout = layout.ok_or_else(|| format!("'{}' has no 'snapshot' meta", path.display()))?;
    let name_of = |i: &u64| names.get(i).cloned().unwrap_or_else(|| "(unnamed)".into());
    let mut classes: HashMap<String, ClassCount> = HashMap::new();
    let mut detached: HashMap<String, ClassCount> = HashMap::new();
    for (key, t) in &tallies.by_key {
        let (table, name) = match key {
            Key::Named(i) => {
                let name = name_of(i);
                // Before the detachedness field, V8 named detached DOM
                // wrappers `Detached HTMLDivElement`.
                if layout.detached_at.is_none() && name.starts_with("Detached ") {
                    (&mut detached, name)
                } else {
                    (&mut classes, name)
                }
            }
            Key::Detached(i) => (&mut detached, format!("Detached {}", name_of(i))),
            Key::Type(t) => (
                &mut classes,
                type_class(layout.types.get(*t as usize).map_or("?", String::as_str)),
            ),
            Key::Other => (&mut classes, "(other classes)".into()),
        };
        let c = table.entry(name.clone()).or_insert(ClassCount {
            name,
            count: 0,
            self_size: 0,
        });
        c.count += t.count;
        c.self_size += t.self_size;
    }
    // A detached node is also a live object of its class: DevTools counts
    // it under its constructor and again in the detached view.
    for d in detached.values() {
        let base = d.name.trim_start_matches("Detached ").to_string();
        let c = classes.entry(base.clone()).or_insert(ClassCount {
            name: base,
            count: 0,
            self_size: 0,
        });
        c.count += d.count;
        c.self_size += d.self_size;
    }
    let sorted = |m: HashMap<String, ClassCount>| {
        let mut v: Vec<ClassCount> = m.into_values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        v
    };
    Ok(HeapSummary {
        nodes: tallies.nodes,
        self_size: tallies.self_size,
        classes: sorted(classes),
        detached: sorted(detached),
        detachedness_field: layout.detached_at.is_some(),
    })
}
