//! A page's two heap snapshots in the run folder, the baseline as warm-up
//! ends and the final at the end of the judged window, and their
//! comparison; values memsoak expanded from the environment never stay in
//! a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Page;
use crate::devtools::snapshot::{self, HeapDiff};
use crate::devtools::Session;

/// How long one heap snapshot may take to be written.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(300);

/// The baseline and final heap snapshots in the run folder.
pub const BASELINE_SNAPSHOT: &str = "heap-baseline.heapsnapshot";
/// The final one.
pub const FINAL_SNAPSHOT: &str = "heap-final.heapsnapshot";

/// A snapshot written to the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// The file, relative to the run folder.
    pub file: String,
    /// When it was taken, seconds since the measured clock started.
    pub elapsed_s: f64,
    /// Its size, bytes.
    pub bytes: u64,
    /// Deleted once compared: it held a value memsoak expanded from the
    /// environment (a `${NAME}` the page was given), which no file keeps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// `summary.json`'s `heap_snapshots`: the two snapshots and what changed
/// between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapSnapshots {
    /// Taken as warm-up ends.
    pub baseline: Option<SnapshotFile>,
    /// Taken at the end, under load.
    #[serde(rename = "final")]
    pub last: Option<SnapshotFile>,
    /// The comparison, when both were taken and read.
    #[serde(flatten)]
    pub diff: Option<HeapDiff>,
    /// Why there is no comparison.
    pub error: Option<String>,
}

/// The two snapshots of a run: the baseline as warm-up ends, the final at
/// the end of the judged window.
pub struct Snapshots {
    session: Session,
    dir: PathBuf,
    baseline: Option<SnapshotFile>,
    /// The baseline, read when its file had to go at once.
    baseline_read: Option<snapshot::HeapSummary>,
    error: Option<String>,
}

impl Snapshots {
    /// Snapshots of `page` into `dir`.
    pub fn new(page: &Page, dir: &Path) -> Snapshots {
        Snapshots {
            session: page.session.clone(),
            dir: dir.to_path_buf(),
            baseline: None,
            baseline_read: None,
            error: None,
        }
    }

    /// Takes one snapshot into `file`. One that failed part-way (a full
    /// disk, a page that went away) is deleted: a truncated snapshot is of
    /// no use, and on a full disk its bytes are what `summary.json` needs.
    async fn take(&self, file: &str, elapsed_s: f64) -> Result<SnapshotFile, String> {
        let path = self.dir.join(file);
        let bytes = match snapshot::take(&self.session, &path, SNAPSHOT_TIMEOUT).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        Ok(SnapshotFile {
            file: file.into(),
            elapsed_s,
            bytes,
            deleted: false,
        })
    }

    /// Takes the baseline. One that holds a value memsoak expanded from
    /// the environment is read now and deleted, so no file keeps it even
    /// if the run is killed.
    pub async fn baseline(&mut self, elapsed_s: f64) {
        let mut f = match self.take(BASELINE_SNAPSHOT, elapsed_s).await {
            Ok(f) => f,
            Err(e) => {
                self.error = Some(format!("the baseline snapshot failed: {e}"));
                return;
            }
        };
        let path = self.dir.join(&f.file);
        if crate::secrets::appear_in(&path).unwrap_or(false) {
            let read = tokio::task::spawn_blocking(move || {
                let read = snapshot::summarise(&path);
                let _ = std::fs::remove_file(&path);
                read
            })
            .await;
            f.deleted = true;
            match read {
                Ok(Ok(summary)) => self.baseline_read = Some(summary),
                Ok(Err(e)) => self.error = Some(crate::secrets::redact(&e)),
                Err(e) => self.error = Some(format!("reading the baseline failed: {e}")),
            }
        }
        self.baseline = Some(f);
    }

    /// Takes the final snapshot and compares the two (read off the async
    /// threads: a large snapshot takes seconds to read).
    pub async fn finish(self, elapsed_s: f64) -> HeapSnapshots {
        let last = match self.take(FINAL_SNAPSHOT, elapsed_s).await {
            Ok(f) => f,
            Err(e) => {
                let mut baseline = self.baseline;
                if let Some(b) = &mut baseline {
                    scrub(&self.dir, b);
                }
                return HeapSnapshots {
                    baseline,
                    last: None,
                    diff: None,
                    error: Some(
                        self.error
                            .unwrap_or(format!("the final snapshot failed: {e}")),
                    ),
                };
            }
        };
        let Some(baseline) = self.baseline else {
            let mut last = last;
            scrub(&self.dir, &mut last);
            return HeapSnapshots {
                baseline: None,
                last: Some(last),
                diff: None,
                error: Some(
                    self.error
                        .unwrap_or("no baseline: the run ended before warm-up did".into()),
                ),
            };
        };
        let (dir, baseline_read, failed) = (self.dir, self.baseline_read, self.error);
        let joined = tokio::task::spawn_blocking(move || {
            let (mut baseline, mut last) = (baseline, last);
            let read = |f: &SnapshotFile| snapshot::summarise(&dir.join(&f.file));
            let first = match baseline_read {
                Some(s) => Ok(s),
                None if baseline.deleted => {
                    Err(failed.unwrap_or_else(|| "the baseline could not be read".into()))
                }
                None => read(&baseline),
            };
            let compared = first.and_then(|a| Ok(snapshot::diff(&a, &read(&last)?)));
            scrub(&dir, &mut baseline);
            scrub(&dir, &mut last);
            (compared, baseline, last)
        })
        .await;
        let (compared, baseline, last) = match joined {
            Ok(done) => done,
            Err(e) => {
                return HeapSnapshots {
                    baseline: None,
                    last: None,
                    diff: None,
                    error: Some(format!("reading the snapshots failed: {e}")),
                }
            }
        };
        let held = [&baseline, &last].iter().filter(|f| f.deleted).count();
        let (diff, error) = match compared {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(crate::secrets::redact(&e))),
        };
        let error = error.or_else(|| {
            (held > 0).then(|| {
                format!(
                    "{held} snapshot file(s) held a value memsoak expanded from the environment (a ${{NAME}} the page was given, directly or through the backend): compared, then deleted, since no file keeps such a value"
                )
            })
        });
        HeapSnapshots {
            baseline: Some(baseline),
            last: Some(last),
            diff: diff.map(redact_names),
            error,
        }
    }
}

/// Deletes a snapshot that holds a value memsoak expanded from the
/// environment, and marks it so.
fn scrub(dir: &Path, f: &mut SnapshotFile) {
    let path = dir.join(&f.file);
    if crate::secrets::appear_in(&path).unwrap_or(false) {
        let _ = std::fs::remove_file(&path);
        f.deleted = true;
    }
}

/// Class names are the page's (tags with their attributes): redacted like
/// anything else memsoak writes.
fn redact_names(mut d: HeapDiff) -> HeapDiff {
    for c in d
        .constructors
        .iter_mut()
        .chain(d.detached_nodes.by_name.iter_mut())
    {
        c.name = crate::secrets::redact(&c.name);
    }
    d
}
