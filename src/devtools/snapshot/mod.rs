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

mod read;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Session;
pub use read::{summarise, summarise_from};

/// Distinct class names tallied per snapshot; the rest are summed as
/// `(other classes)`.
pub const MAX_CLASSES: usize = 20_000;

/// Classes listed in a diff.
pub const TOP: usize = 15;

/// Takes a heap snapshot of the page into `path` (after the collection of
/// garbage the protocol does first); returns the bytes written.
pub async fn take(session: &Session, path: &Path, timeout: Duration) -> Result<u64, String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("could not create '{}': {e}", path.display()))?;
    let mut chunks = session.snapshot_chunks();
    // Chunks stop being routed however this ends, a dropped (cancelled)
    // snapshot too.
    struct Routed<'a>(&'a Session);
    impl Drop for Routed<'_> {
        fn drop(&mut self) {
            self.0.end_snapshot_chunks();
        }
    }
    let routed = Routed(session);
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
    drop(routed);
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
