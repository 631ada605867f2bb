//! Heap snapshots of a page: taken through `HeapProfiler.takeHeapSnapshot`
//! into `.heapsnapshot` files (DevTools opens them: Memory → Load), and
//! compared the way a person compares two of them in DevTools' Summary
//! view: which constructors gained live objects, and which DOM nodes are
//! *detached* (removed from the document, still reachable from JS).
//!
//! A snapshot of a large heap is hundreds of MB, so neither step holds one
//! in memory. Taking streams each `addHeapSnapshotChunk` to the file as it
//! arrives (the protocol reader waits while the file is behind). Reading
//! is one pass with serde_json's streaming deserializer over the file's
//! top-level object: `snapshot.meta` says how the flat `nodes` array is
//! laid out, `nodes` is tallied by class as it streams past, `edges` and
//! the rest are skipped unread, and of the `strings` table at the end
//! only the class names tallied are kept. Memory is bounded by the number
//! of distinct class names, itself capped ([`MAX_CLASSES`]).
//!
//! Classes are named as DevTools names them: an object by its
//! constructor (`Array`, `EditorState`), a native (Blink) object by its
//! name (`<div>`, `Text`, `EventListener`), and every other node by its
//! type in parentheses (`(closure)`, `(string)`, `(compiled code)`,
//! `(system)`). A node is detached when the snapshot's `detachedness`
//! field says so (V8 ≥ 9.6), or, in older snapshots, when its name starts
//! with `Detached `; detached classes are named `Detached <div>`.

use std::collections::HashMap;
use std::fmt;
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Session;

/// Distinct class names tallied per snapshot; the rest are summed as
/// `(other classes)`.
pub const MAX_CLASSES: usize = 20_000;

/// Classes listed in a diff.
pub const TOP: usize = 15;

/// `detachedness` of a detached node (0: unknown, 1: attached).
const DETACHED: u64 = 2;

/// Takes a heap snapshot of the page into `path` (after the collection of
/// garbage the protocol does first); returns the bytes written.
pub async fn take(session: &Session, path: &Path, timeout: Duration) -> Result<u64, String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("could not create '{}': {e}", path.display()))?;
    let mut chunks = session.snapshot_chunks();
    let call = session.call(
        "HeapProfiler.takeHeapSnapshot",
        json!({"reportProgress": false, "captureNumericValue": false}),
        timeout,
    );
    tokio::pin!(call);
    let mut written: u64 = 0;
    let mut failed: Option<String> = None;
    let answer = loop {
        tokio::select! {
            r = &mut call => break r,
            Some(chunk) = chunks.recv() => write_chunk(&mut file, &chunk, &mut written, &mut failed).await,
        }
    };
    // Every chunk comes before the answer; some may still be queued.
    while let Ok(chunk) = chunks.try_recv() {
        write_chunk(&mut file, &chunk, &mut written, &mut failed).await;
    }
    session.end_snapshot_chunks();
    answer.map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(format!("could not write '{}': {e}", path.display()));
    }
    file.flush()
        .await
        .map_err(|e| format!("could not write '{}': {e}", path.display()))?;
    Ok(written)
}

/// Appends a chunk, unless an earlier write failed (the rest of the
/// chunks are still taken from the browser, so the snapshot ends).
async fn write_chunk(
    file: &mut tokio::fs::File,
    chunk: &str,
    written: &mut u64,
    failed: &mut Option<String>,
) {
    if failed.is_some() {
        return;
    }
    match file.write_all(chunk.as_bytes()).await {
        Ok(()) => *written += chunk.len() as u64,
        Err(e) => *failed = Some(e.to_string()),
    }
}

/// One class of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassCount {
    /// `Array`, `<div>`, `(closure)`, `Detached <div>`.
    pub name: String,
    /// Live objects.
    pub count: u64,
    /// Their own (shallow) size, bytes.
    pub self_size: u64,
}

/// What one snapshot holds, by class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeapSummary {
    /// Nodes in the snapshot.
    pub nodes: u64,
    /// Their total own size, bytes.
    pub self_size: u64,
    /// Every class (at most [`MAX_CLASSES`] names, then `(other classes)`).
    pub classes: Vec<ClassCount>,
    /// Detached DOM nodes, by class (`Detached <div>`).
    pub detached: Vec<ClassCount>,
    /// Whether the snapshot marks detachedness (V8 ≥ 9.6) rather than
    /// names alone.
    pub detachedness_field: bool,
}

impl HeapSummary {
    /// Detached nodes in all.
    pub fn detached_total(&self) -> u64 {
        self.detached.iter().map(|c| c.count).sum()
    }
}

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

/// A class's change between two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassDelta {
    /// The class.
    pub name: String,
    /// Live objects in the baseline.
    pub count_baseline: u64,
    /// Live objects in the final snapshot.
    pub count_final: u64,
    /// Objects gained.
    pub count_delta: i64,
    /// Own size gained, bytes.
    pub self_size_delta_bytes: i64,
}

/// Two snapshots compared: the classes that gained the most objects and
/// the detached DOM nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapDiff {
    /// Classes that gained the most live objects, most first (at most
    /// [`TOP`]).
    pub constructors: Vec<ClassDelta>,
    /// Detached DOM nodes in all.
    pub detached_nodes: DetachedNodes,
    /// Nodes in each snapshot.
    pub nodes_baseline: u64,
    /// Nodes in the final snapshot.
    pub nodes_final: u64,
    /// The snapshots' own sizes, bytes.
    pub self_size_baseline_bytes: u64,
    /// The final one's.
    pub self_size_final_bytes: u64,
}

/// Detached DOM nodes in the two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetachedNodes {
    /// In the baseline.
    pub baseline: u64,
    /// In the final snapshot.
    pub r#final: u64,
    /// Gained.
    pub delta: i64,
    /// By class (`Detached <div>`), most gained first (at most [`TOP`]).
    pub by_name: Vec<ClassDelta>,
}

fn deltas(
    base: &[ClassCount],
    last: &[ClassCount],
    key: impl Fn(&ClassDelta) -> i64,
) -> Vec<ClassDelta> {
    let before: HashMap<&str, &ClassCount> = base.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut out: Vec<ClassDelta> = last
        .iter()
        .map(|c| {
            let b = before.get(c.name.as_str());
            let (bc, bs) = b.map_or((0, 0), |b| (b.count, b.self_size));
            ClassDelta {
                name: c.name.clone(),
                count_baseline: bc,
                count_final: c.count,
                count_delta: c.count as i64 - bc as i64,
                self_size_delta_bytes: c.self_size as i64 - bs as i64,
            }
        })
        .filter(|d| key(d) > 0)
        .collect();
    out.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
    out.truncate(TOP);
    out
}

/// Compares a baseline snapshot with a final one.
pub fn diff(baseline: &HeapSummary, last: &HeapSummary) -> HeapDiff {
    let (db, df) = (baseline.detached_total(), last.detached_total());
    HeapDiff {
        constructors: deltas(&baseline.classes, &last.classes, |d| d.count_delta),
        detached_nodes: DetachedNodes {
            baseline: db,
            r#final: df,
            delta: df as i64 - db as i64,
            by_name: deltas(&baseline.detached, &last.detached, |d| d.count_delta),
        },
        nodes_baseline: baseline.nodes,
        nodes_final: last.nodes,
        self_size_baseline_bytes: baseline.self_size,
        self_size_final_bytes: last.self_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot in V8's layout: `(type, name, self_size, detachedness)`
    /// per node, names in `strings`.
    fn write(
        dir: &Path,
        file: &str,
        nodes: &[(usize, usize, u64, u64)],
        strings: &[&str],
    ) -> std::path::PathBuf {
        let flat: Vec<String> = nodes
            .iter()
            .enumerate()
            .flat_map(|(id, &(t, n, s, d))| {
                [t as u64, n as u64, id as u64, s, 0, d].map(|v| v.to_string())
            })
            .collect();
        let text = format!(
            r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic"],"string","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"]}},"node_count":{}}},
"nodes":[{}],
"edges":[1,2,3],
"strings":{}}}"#,
            nodes.len(),
            flat.join(","),
            serde_json::to_string(strings).unwrap()
        );
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn classes_and_detached_nodes_are_tallied_and_diffed() {
        let dir = tempfile::tempdir().unwrap();
        let strings = ["", "Array", "<div>", "Text", "onmessage", "EditorState"];
        // object=3, native=8, closure=5, string=2
        let base = write(
            dir.path(),
            "a.heapsnapshot",
            &[
                (3, 1, 32, 0),
                (8, 2, 100, 1),
                (8, 3, 50, 1),
                (5, 4, 40, 0),
                (2, 4, 20, 0),
            ],
            &strings,
        );
        let mut later = vec![(3, 1, 32, 0), (8, 2, 100, 1), (8, 3, 50, 1)];
        for _ in 0..7 {
            later.push((8, 2, 100, 2)); // a detached <div>
            later.push((5, 4, 40, 0)); // a closure
            later.push((3, 5, 64, 0)); // an EditorState
        }
        let last = write(dir.path(), "b.heapsnapshot", &later, &strings);
        let a = summarise(&base).unwrap();
        let b = summarise(&last).unwrap();
        assert_eq!(a.nodes, 5);
        assert!(a.detachedness_field);
        assert_eq!(a.detached_total(), 0);
        assert_eq!(b.detached_total(), 7);
        assert_eq!(b.detached[0].name, "Detached <div>");
        let d = diff(&a, &b);
        let names: Vec<&str> = d.constructors.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names[..3].to_vec(),
            ["<div>", "EditorState", "(closure)"],
            "{names:?}"
        );
        assert_eq!(d.constructors[0].count_delta, 7);
        assert_eq!(d.constructors[1].self_size_delta_bytes, 7 * 64);
        assert_eq!(d.detached_nodes.delta, 7);
        assert_eq!(d.detached_nodes.by_name[0].name, "Detached <div>");
        // Closures and strings are classed by their type, not named.
        assert!(b.classes.iter().all(|c| c.name != "onmessage"));
        assert_eq!(d.constructors[2].count_delta, 6);
    }

    #[test]
    fn malformed_snapshots_name_the_file_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.heapsnapshot");
        std::fs::write(&p, "{\"nodes\":[1,2]}").unwrap();
        let e = summarise(&p).unwrap_err();
        assert!(
            e.contains("bad.heapsnapshot") && e.contains("before 'snapshot'"),
            "{e}"
        );
        std::fs::write(
            &p,
            "{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"id\"],\"node_types\":[[\"a\"]]}},\"nodes\":[]}",
        )
        .unwrap();
        let e = summarise(&p).unwrap_err();
        assert!(e.contains("no 'name'"), "{e}");
        std::fs::write(&p, "{\"snapshot\": {\"meta\": \n  [1, 2]}}").unwrap();
        let e = summarise(&p).unwrap_err();
        assert!(
            e.contains("bad.heapsnapshot:2:5: not a heap snapshot memsoak can read in 'snapshot'"),
            "{e}"
        );
        let truncated = write(
            dir.path(),
            "t.heapsnapshot",
            &[(3, 1, 32, 0)],
            &["", "Array"],
        );
        let text = std::fs::read_to_string(&truncated).unwrap();
        std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
        assert!(summarise(&truncated).is_err());
    }
}
