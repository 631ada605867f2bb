//! `breakdown.csv` and `processes.csv`: where the tree's memory is, by
//! class, resource and process. Their schema, in one place.
//!
//! Both files are long form, written by the sampler as readings arrive
//! (flushed at once, like `samples.csv`) and streamed back by the
//! attribution (`memsoak run` at its end, `memsoak report` later), so
//! neither costs memory that grows with the run:
//!
//! - `breakdown.csv`: `elapsed_s,series,value`, one row per series per
//!   detail tick ([`SERIES`]); a series not readable on a tick has no row;
//! - `processes.csv`: `elapsed_s,pid,start_s,name,rss_bytes,anon_bytes,
//!   pss_bytes,command`, one row per tracked process per tree walk (about
//!   once a second), plus a row for `other` (pid 0: the untracked rest,
//!   summed). `start_s` is the process's start, seconds after boot: with the
//!   pid, it names one process even if its pid is reused. `command` is set
//!   on a process's first row, and again after an exec.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::analysis::attribution::{Attribution, Attributor, RunContext};
use crate::analysis::{Criteria, Metric};
use crate::recording::samples::Recording;

pub use crate::analysis::attribution::CLASSES;

/// Resources in `breakdown.csv` (the total of open files and threads are
/// in `samples.csv`).
pub const RESOURCES: [&str; 18] = [
    "fds_socket",
    "fds_pipe",
    "fds_file",
    "fds_anon_inode",
    "fds_other",
    "socket_queue_bytes",
    "socket_send_queue_bytes",
    "socket_recv_queue_bytes",
    "connections",
    "kernel_bytes",
    "sock_bytes",
    "slab_bytes",
    "dom_nodes",
    "js_event_listeners",
    "documents",
    "frames",
    "layout_objects",
    "blink_heap_bytes",
];

/// Every series of `breakdown.csv`, in column order of [`Breakdown::series`].
pub const SERIES: [&str; 24] = [
    CLASSES[0],
    CLASSES[1],
    CLASSES[2],
    CLASSES[3],
    CLASSES[4],
    CLASSES[5],
    RESOURCES[0],
    RESOURCES[1],
    RESOURCES[2],
    RESOURCES[3],
    RESOURCES[4],
    RESOURCES[5],
    RESOURCES[6],
    RESOURCES[7],
    RESOURCES[8],
    RESOURCES[9],
    RESOURCES[10],
    RESOURCES[11],
    RESOURCES[12],
    RESOURCES[13],
    RESOURCES[14],
    RESOURCES[15],
    RESOURCES[16],
    RESOURCES[17],
];

/// One detail reading of the tree. `None`: not read on this tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// malloc's anonymous memory: `[heap]`, arenas, large allocations.
    pub heap: Option<u64>,
    /// Thread stacks.
    pub stacks: Option<u64>,
    /// Other anonymous memory.
    pub anon_other: Option<u64>,
    /// Resident file-backed pages.
    pub file: Option<u64>,
    /// Resident shared memory.
    pub shmem: Option<u64>,
    /// Swapped-out memory.
    pub swap: Option<u64>,
    /// Open sockets.
    pub fds_socket: Option<u64>,
    /// Open pipes.
    pub fds_pipe: Option<u64>,
    /// Open files, devices and directories.
    pub fds_file: Option<u64>,
    /// Open anonymous inodes (eventpoll, eventfd, timerfd, …).
    pub fds_anon_inode: Option<u64>,
    /// Other descriptors.
    pub fds_other: Option<u64>,
    /// Bytes queued on the tree's TCP sockets, both ways.
    pub socket_queue_bytes: Option<u64>,
    /// Bytes sent and not yet acknowledged.
    pub socket_send_queue_bytes: Option<u64>,
    /// Bytes received and not yet read.
    pub socket_recv_queue_bytes: Option<u64>,
    /// Established TCP connections.
    pub connections: Option<u64>,
    /// A cgroup's kernel memory (cgroup sources only).
    pub kernel: Option<u64>,
    /// A cgroup's socket buffers (cgroup sources only).
    pub sock: Option<u64>,
    /// A cgroup's slab (cgroup sources only).
    pub slab: Option<u64>,
    /// A page's DOM nodes, detached ones included (DevTools sources only).
    pub dom_nodes: Option<u64>,
    /// A page's JavaScript event listeners.
    pub js_event_listeners: Option<u64>,
    /// A page's documents (its own and its frames').
    pub documents: Option<u64>,
    /// A page's frames.
    pub frames: Option<u64>,
    /// A page's layout objects.
    pub layout_objects: Option<u64>,
    /// Blink's heap of the page (DOM nodes and what they hold), bytes.
    pub blink_heap: Option<u64>,
}

impl Breakdown {
    /// The values, named as in [`SERIES`].
    pub fn series(&self) -> [(&'static str, Option<u64>); 24] {
        let v = [
            self.heap,
            self.stacks,
            self.anon_other,
            self.file,
            self.shmem,
            self.swap,
            self.fds_socket,
            self.fds_pipe,
            self.fds_file,
            self.fds_anon_inode,
            self.fds_other,
            self.socket_queue_bytes,
            self.socket_send_queue_bytes,
            self.socket_recv_queue_bytes,
            self.connections,
            self.kernel,
            self.sock,
            self.slab,
            self.dom_nodes,
            self.js_event_listeners,
            self.documents,
            self.frames,
            self.layout_objects,
            self.blink_heap,
        ];
        std::array::from_fn(|i| (SERIES[i], v[i]))
    }
}

/// A row of `breakdown.csv`.
#[derive(Debug, Serialize, Deserialize)]
struct SeriesRow<'a> {
    elapsed_s: f64,
    series: &'a str,
    value: u64,
}

/// A row of `processes.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRow<'a> {
    /// Seconds since the measured clock started.
    pub elapsed_s: f64,
    /// Process id; 0 for `other`.
    pub pid: i32,
    /// Start time, seconds after boot; 0 for `other`.
    pub start_s: f64,
    /// Command name; `other` for the untracked rest.
    pub name: &'a str,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Anonymous resident memory, bytes.
    pub anon_bytes: Option<u64>,
    /// Proportional set size, bytes (on PSS ticks).
    pub pss_bytes: Option<u64>,
    /// Command line, on the process's first row and after an exec.
    pub command: &'a str,
}

/// The two files, written as readings arrive.
pub struct Writers {
    breakdown: csv::Writer<File>,
    processes: csv::Writer<File>,
}

impl Writers {
    /// Creates `breakdown.csv` and `processes.csv` in `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<Writers> {
        let open = |name: &str| {
            let path = dir.join(name);
            File::create(&path)
                .map(|f| csv::WriterBuilder::new().has_headers(false).from_writer(f))
                .with_context(|| format!("could not create '{}'", path.display()))
        };
        let mut w = Writers {
            breakdown: open("breakdown.csv")?,
            processes: open("processes.csv")?,
        };
        // Headers now, so a run with no detail tick still has readable files.
        w.breakdown.write_record(["elapsed_s", "series", "value"])?;
        w.breakdown.flush()?;
        w.processes.write_record([
            "elapsed_s",
            "pid",
            "start_s",
            "name",
            "rss_bytes",
            "anon_bytes",
            "pss_bytes",
            "command",
        ])?;
        w.processes.flush()?;
        Ok(w)
    }

    /// Appends one detail reading.
    pub fn breakdown(&mut self, elapsed_s: f64, b: &Breakdown) -> anyhow::Result<()> {
        for (series, value) in b.series() {
            if let Some(value) = value {
                self.breakdown.serialize(SeriesRow {
                    elapsed_s,
                    series,
                    value,
                })?;
            }
        }
        self.breakdown.flush()?;
        Ok(())
    }

    /// Appends process rows; flushed by [`Writers::flush_processes`].
    pub fn process(&mut self, row: &ProcessRow<'_>) -> anyhow::Result<()> {
        self.processes.serialize(row)?;
        Ok(())
    }

    /// Flushes the process rows of one walk.
    pub fn flush_processes(&mut self) -> anyhow::Result<()> {
        self.processes.flush()?;
        Ok(())
    }
}

fn reader(path: &Path) -> anyhow::Result<csv::Reader<File>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("could not read '{}'", path.display()))
}

/// Calls `row(headers, record)` for every data row of `path`; a row it
/// refuses (`Err(why)`) is an error naming the file and line unless it is
/// the last one (a run killed mid-write).
fn stream(
    path: &Path,
    mut row: impl FnMut(&csv::StringRecord, &csv::StringRecord) -> Result<(), String>,
) -> anyhow::Result<()> {
    let mut rdr = reader(path)?;
    let headers = rdr
        .headers()
        .with_context(|| format!("could not read the header of '{}'", path.display()))?
        .clone();
    let mut record = csv::StringRecord::new();
    let mut pending: Option<(u64, String)> = None;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                if let Some((line, why)) = pending.take() {
                    bail!("{}:{line}: {why}", path.display());
                }
                if let Err(why) = row(&headers, &record) {
                    pending = Some((record.position().map_or(0, |p| p.line()), why));
                }
            }
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
}

/// Streams `breakdown.csv`: `f(elapsed_s, series, value)` per row. A short
/// last row (a run killed mid-write) is skipped; a bad cell elsewhere is an
/// error naming the file, line and column.
pub fn read_breakdown(path: &Path, mut f: impl FnMut(f64, &str, f64)) -> anyhow::Result<()> {
    stream(path, |_, record| {
        let cell = |i: usize| record.get(i).unwrap_or("");
        let number = |i: usize| cell(i).parse::<f64>().ok().filter(|v| v.is_finite());
        match (number(0), cell(1), number(2)) {
            (Some(t), series, Some(v)) if !series.is_empty() => {
                f(t, series, v);
                Ok(())
            }
            (None, ..) => Err(format!("column 'elapsed_s': '{}' is not a number", cell(0))),
            (_, "", _) => Err("column 'series' is empty".into()),
            _ => Err(format!("column 'value': '{}' is not a number", cell(2))),
        }
    })
}

/// One row of `processes.csv` as read back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProcessRecord {
    /// Seconds since the measured clock started.
    pub elapsed_s: f64,
    /// Process id; 0 for `other`.
    pub pid: i32,
    /// Start time, seconds after boot.
    pub start_s: f64,
    /// Command name.
    pub name: String,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Anonymous resident memory, bytes.
    pub anon_bytes: Option<u64>,
    /// Proportional set size, bytes.
    pub pss_bytes: Option<u64>,
    /// Command line (on a process's first row, and again after an exec).
    #[serde(default)]
    pub command: String,
}

/// Streams `processes.csv`. A short last row is skipped; a bad row
/// elsewhere is an error naming the file and line.
pub fn read_processes(path: &Path, mut f: impl FnMut(&ProcessRecord)) -> anyhow::Result<()> {
    stream(path, |headers, record| {
        match record.deserialize::<ProcessRecord>(Some(headers)) {
            Ok(row) if row.elapsed_s.is_finite() => {
                f(&row);
                Ok(())
            }
            Ok(_) => Err("elapsed_s is not a finite number".into()),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// A process row's value of the judged metric: for a page's JS heap, its
/// browser's processes are judged on their anonymous memory.
pub fn process_metric(metric: Metric, r: &ProcessRecord) -> Option<u64> {
    match metric {
        // A cgroup's processes by what they hold resident; a query has
        // no processes.
        Metric::Rss | Metric::Usage | Metric::Query => Some(r.rss_bytes),
        Metric::Anon | Metric::JsHeap | Metric::PageHeap => r.anon_bytes,
        Metric::Pss => r.pss_bytes,
    }
}

/// Judges where a run's growth is, from `samples.csv` (open files and
/// threads), `breakdown.csv` and `processes.csv` in `dir`, streamed.
/// `None` when the folder has neither file (a recording from elsewhere).
pub fn attribute(
    dir: &Path,
    samples: &Recording,
    criteria: &Criteria,
    run: &RunContext<'_>,
) -> anyhow::Result<Option<Attribution>> {
    let breakdown = dir.join("breakdown.csv");
    let processes = dir.join("processes.csv");
    if !breakdown.is_file() && !processes.is_file() {
        return Ok(None);
    }
    let mut a = Attributor::new(criteria);
    samples.each_value(&["fds", "threads"], |k, t, v| {
        a.observe(t, ["fds", "threads"][k], v);
    })?;
    if breakdown.is_file() {
        read_breakdown(&breakdown, |t, series, v| a.observe(t, series, v))?;
    }
    if processes.is_file() {
        read_processes(&processes, |r| {
            let metric = process_metric(run.metric, r);
            a.observe_process(
                r.elapsed_s,
                r.pid,
                r.start_s,
                &r.name,
                &r.command,
                metric.map(|v| v as f64),
                r.rss_bytes,
            );
        })?;
    }
    Ok(a.finish(run))
}
