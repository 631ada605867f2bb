//! `samples.csv`: its schema, in one place.
//!
//! The sampler writes one [`Sample`] per row; re-analysis (`memsoak
//! report`), the charts and the fuzz targets read rows back through
//! [`Recording`]. Only `elapsed_s` and a footprint column are required
//! when reading (`rss_bytes`, or for a cgroup or Prometheus source
//! `cgroup_usage_bytes` or `query_sum_bytes`), so recordings made by other
//! tools can be judged by renaming two columns. Each column holds one
//! thing: a process tree's RSS is `rss_bytes`, a cgroup's charge and a
//! query's sum have columns of their own (recordings written before they
//! had, with either in `rss_bytes`, are read as they were judged). Reading streams the file (once to learn its length and which
//! columns hold values, again to use it), so a file of any size costs
//! bounded memory. A short last row (a run killed mid-write) is skipped; a
//! short row elsewhere, or a cell that is not a number, is an error naming
//! the file, line and column.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, Metric};

/// The elapsed-time column.
pub const ELAPSED: &str = "elapsed_s";
/// The tree's RSS column.
pub const RSS: &str = "rss_bytes";
/// A cgroup's charged memory (`memory.current`).
pub const CGROUP_USAGE: &str = "cgroup_usage_bytes";
/// A Prometheus query's value, summed over its series.
pub const QUERY_SUM: &str = "query_sum_bytes";
/// The footprint columns, in order of preference: the peak and the
/// ceiling are read from the first a recording has.
pub const FOOTPRINT: [&str; 3] = [RSS, CGROUP_USAGE, QUERY_SUM];
/// The columns the charts draw: memory, then open files and threads.
pub const CHARTED: [&str; 11] = [
    RSS,
    CGROUP_USAGE,
    QUERY_SUM,
    "pss_bytes",
    "anon_bytes",
    "swap_bytes",
    "fds",
    "threads",
    JS_HEAP,
    JS_HEAP_TOTAL,
    PAGE_HEAP,
];

/// A page's JavaScript heap in use (DevTools sources).
pub const JS_HEAP: &str = "js_heap_bytes";
/// The JavaScript heap the page's isolate has reserved.
pub const JS_HEAP_TOTAL: &str = "js_heap_total_bytes";
/// A page's JavaScript heap and Blink's heap together.
pub const PAGE_HEAP: &str = "page_heap_bytes";

/// One row of `samples.csv`. Empty cells mean "not measured".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the measured clock started (readiness).
    pub elapsed_s: f64,
    /// Wall-clock time, seconds since the Unix epoch.
    pub unix_time_s: f64,
    /// How late the sample was taken after its due time, milliseconds.
    pub late_ms: f64,
    /// Processes in the tree.
    pub processes: u32,
    /// Sum of resident set sizes, bytes (a process tree's).
    pub rss_bytes: Option<u64>,
    /// Sum of proportional set sizes, bytes.
    pub pss_bytes: Option<u64>,
    /// Sum of anonymous resident memory, bytes.
    pub anon_bytes: Option<u64>,
    /// Sum of swapped-out memory, bytes (read with PSS).
    pub swap_bytes: Option<u64>,
    /// Open file descriptors.
    pub fds: Option<u64>,
    /// Threads (read when the tree is walked, about once a second).
    pub threads: Option<u64>,
    /// CPU used by the tree since the previous walk of the tree, percent of
    /// one core.
    pub cpu_percent: Option<f64>,
    /// A page's JavaScript heap in use, bytes (`JSHeapUsedSize`; DevTools
    /// sources only).
    pub js_heap_bytes: Option<u64>,
    /// The JavaScript heap reserved, bytes (`JSHeapTotalSize`).
    pub js_heap_total_bytes: Option<u64>,
    /// The JavaScript heap in use and Blink's heap (DOM nodes), bytes;
    /// where the browser reports Blink's.
    pub page_heap_bytes: Option<u64>,
    /// A cgroup's charged memory, bytes (cgroup sources only).
    pub cgroup_usage_bytes: Option<u64>,
    /// A Prometheus query's value summed over its series (Prometheus
    /// sources only).
    pub query_sum_bytes: Option<u64>,
}

impl Sample {
    /// The value of `metric` in this sample, if measured.
    pub fn metric(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Rss => self.rss_bytes,
            Metric::Pss => self.pss_bytes,
            Metric::Anon => self.anon_bytes,
            Metric::JsHeap => self.js_heap_bytes,
            Metric::PageHeap => self.page_heap_bytes,
            Metric::Usage => self.cgroup_usage_bytes,
            Metric::Query => self.query_sum_bytes,
        }
    }

    /// What the peak and the ceiling are read from: the tree's RSS, else a
    /// cgroup's charge, else a query's sum.
    pub fn footprint(&self) -> Option<u64> {
        self.rss_bytes
            .or(self.cgroup_usage_bytes)
            .or(self.query_sum_bytes)
    }
}

impl Metric {
    /// The `samples.csv` column holding this metric.
    pub fn column(self) -> &'static str {
        match self {
            Metric::Rss => RSS,
            Metric::Pss => "pss_bytes",
            Metric::Anon => "anon_bytes",
            Metric::JsHeap => JS_HEAP,
            Metric::PageHeap => PAGE_HEAP,
            Metric::Usage => CGROUP_USAGE,
            Metric::Query => QUERY_SUM,
        }
    }
}

/// A samples CSV on disk, scanned once: its columns, its length and the
/// metrics it has values for.
#[derive(Debug, Clone)]
pub struct Recording {
    path: PathBuf,
    headers: csv::StringRecord,
    elapsed: usize,
    /// The footprint columns present, in [`FOOTPRINT`] order.
    footprint: Vec<usize>,
    metrics: Vec<(Metric, usize)>,
    /// Data rows.
    pub rows: u64,
    /// Elapsed time of the last row, seconds.
    pub last_elapsed_s: f64,
    /// Metrics with at least one value, in [`Metric::ALL`] order.
    pub metrics_with_values: Vec<Metric>,
}

impl Recording {
    /// Scans `path`: checks the required columns and every cell it reads.
    pub fn scan(path: &Path) -> anyhow::Result<Recording> {
        if !path.exists() {
            bail!("no such file: '{}'", path.display());
        }
        let mut rdr = reader(path)?;
        let headers = rdr
            .headers()
            .with_context(|| format!("could not read the header of '{}'", path.display()))?
            .clone();
        let find = |name: &str| headers.iter().position(|h| h == name);
        let need = |name: &str| {
            find(name).with_context(|| {
                format!(
                    "'{}' has no column '{name}' (it has: {}); memsoak needs {ELAPSED} and {RSS}",
                    path.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })
        };
        let elapsed = need(ELAPSED)?;
        let footprint: Vec<usize> = FOOTPRINT.iter().filter_map(|c| find(c)).collect();
        if footprint.is_empty() {
            // Named as the column other tools' recordings rename to.
            need(RSS)?;
        }
        let mut rec = Recording {
            path: path.to_path_buf(),
            elapsed,
            footprint,
            metrics: Metric::ALL
                .into_iter()
                .filter_map(|m| find(m.column()).map(|i| (m, i)))
                .collect(),
            headers: headers.clone(),
            rows: 0,
            last_elapsed_s: 0.0,
            metrics_with_values: Vec::new(),
        };
        let (mut rows, mut last, mut with_values) = (0, 0.0, Vec::new());
        let mut seen: Option<f64> = None;
        rec.for_each_row(|line, record| {
            rows += 1;
            if let Some(t) = rec.number(record, rec.elapsed, line)? {
                // The fit reads the rows in file order as time order: a
                // time that goes back (two recordings appended, shuffled
                // rows) would be judged as a slope of its own.
                if let Some(before) = seen.filter(|&b| t < b) {
                    bail!(
                        "{}:{line}: column '{ELAPSED}' goes backwards ({t} after {before}): \
                         memsoak judges one recording in time order (two appended, or rows out \
                         of order, are not one run)",
                        rec.path.display()
                    );
                }
                seen = Some(t);
                last = t;
            }
            for (m, i) in &rec.metrics {
                if !with_values.contains(m) && rec.number(record, *i, line)?.is_some() {
                    with_values.push(*m);
                }
            }
            Ok(())
        })?;
        if rows == 0 {
            bail!("'{}' has a header but no samples", path.display());
        }
        with_values.sort_by_key(|m| Metric::ALL.iter().position(|p| p == m));
        rec.rows = rows;
        rec.last_elapsed_s = last;
        rec.metrics_with_values = with_values;
        Ok(rec)
    }

    /// Feeds every row to `analyzer`, judging `metric` (the footprint when
    /// the file has no such column).
    pub fn feed(&self, analyzer: &mut Analyzer, metric: Metric) -> anyhow::Result<()> {
        self.feed_each(analyzer, metric, |_, _| {})
    }

    /// [`Recording::feed`], calling `after(elapsed_s, analyzer)` after each
    /// sample, as the sampler does in a live run (fail-fast looks).
    pub fn feed_each(
        &self,
        analyzer: &mut Analyzer,
        metric: Metric,
        mut after: impl FnMut(f64, &Analyzer),
    ) -> anyhow::Result<()> {
        let metric_col = self
            .metrics
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, i)| *i);
        self.for_each_row(|line, record| {
            let elapsed = self.number(record, self.elapsed, line)?;
            let mut footprint = None;
            for &i in &self.footprint {
                let v = self.number(record, i, line)?;
                footprint = footprint.or(v);
            }
            let value = match metric_col {
                Some(i) => self.number(record, i, line)?,
                None => footprint,
            };
            if let Some(t) = elapsed {
                analyzer.observe(t, value, footprint.map(|r| r as u64));
                after(t, analyzer);
            }
            Ok(())
        })
    }

    /// Calls `f(elapsed_s, value)` for every row with both, for each named
    /// column present (`f` gets the column's index in `names`). Used by the
    /// charts, which skip unreadable cells rather than fail.
    pub fn each_value(
        &self,
        names: &[&str],
        mut f: impl FnMut(usize, f64, f64),
    ) -> anyhow::Result<()> {
        let cols: Vec<(usize, usize)> = names
            .iter()
            .enumerate()
            .filter_map(|(k, n)| self.headers.iter().position(|h| h == *n).map(|i| (k, i)))
            .collect();
        self.for_each_row(|line, record| {
            let Some(t) = self.number(record, self.elapsed, line).ok().flatten() else {
                return Ok(());
            };
            for &(k, i) in &cols {
                if let Some(y) = self.number(record, i, line).ok().flatten() {
                    f(k, t, y);
                }
            }
            Ok(())
        })
    }

    /// Whether the file has a column named `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }

    /// Calls `f(line, record)` for every data row. A short last row (a run
    /// killed mid-write) is skipped; a short row elsewhere is an error.
    fn for_each_row(
        &self,
        mut f: impl FnMut(u64, &csv::StringRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let path = &self.path;
        let mut rdr = reader(path)?;
        let width = rdr.headers()?.len();
        let mut record = csv::StringRecord::new();
        let mut pending_short: Option<u64> = None;
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    if let Some(l) = pending_short {
                        bail!(
                            "{}:{l}: row has fewer columns than the header",
                            path.display()
                        );
                    }
                    if record.len() < width {
                        pending_short = Some(line);
                        continue;
                    }
                    f(line, &record)?;
                }
                Err(e) => bail!("{}: {e}", path.display()),
            }
        }
        Ok(())
    }

    /// The number in column `i`, `None` when the cell is empty.
    fn number(
        &self,
        record: &csv::StringRecord,
        i: usize,
        line: u64,
    ) -> anyhow::Result<Option<f64>> {
        match record.get(i).unwrap_or("") {
            "" => Ok(None),
            cell => cell
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .with_context(|| {
                    format!(
                        "{}:{line}: column '{}': '{cell}' is not a number",
                        self.path.display(),
                        self.headers.get(i).unwrap_or("?")
                    )
                }),
        }
    }
}

fn reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("could not read '{}'", path.display()))
}
