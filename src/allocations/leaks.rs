//! `leaks.json`: one schema for every profiler, so the report, a CI job and
//! a script read the sites the same way whichever profiler found them.
//!
//! A site is memory *allocated during the judged window and still live at
//! its end*, grouped by the stack that allocated it, innermost frame first.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::ProfilerKind;

/// The file name in the run folder.
pub const FILE: &str = "leaks.json";

/// Sites kept per process, largest first.
pub const TOP_SITES: usize = 20;

/// What a profiler found in the judged window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaks {
    /// Which profiler.
    pub profiler: ProfilerKind,
    /// The window the sites belong to, seconds on the run's clock.
    pub window: Window,
    /// Sites smaller than this are noise (see docs/finding-the-leak.md);
    /// they stay in `sites` but the reports leave them out.
    pub noise_floor_bytes: u64,
    /// One entry per profiled process.
    pub processes: Vec<ProcessLeaks>,
    /// Profiler files kept in the run folder, relative to it.
    pub artifacts: Vec<String>,
    /// Commands that open the artifacts, run from the run folder.
    pub commands: Vec<String>,
    /// Why there are no sites, and how to fix it, when the profiler failed.
    #[serde(default)]
    pub error: Option<String>,
    /// What a reader should know (a process that ended before the window
    /// closed, a profiler that did not answer in time).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Leaks {
    /// What the profiler's own records grew in the window over every
    /// process, when it says.
    pub fn tracer_grown_bytes(&self) -> Option<i64> {
        self.processes
            .iter()
            .filter_map(|p| p.tracer_grown_bytes)
            .reduce(|a, b| a + b)
    }
}

/// The judged window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// When the baseline was taken (the end of warm-up).
    pub start_s: f64,
    /// When the final snapshot was taken (the end of the run, or fail-fast).
    pub end_s: f64,
}

/// One process's sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessLeaks {
    /// Process id.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// Largest first, at most [`TOP_SITES`].
    pub sites: Vec<Site>,
    /// Types that gained the most live objects (tracemalloc only).
    #[serde(default)]
    pub types: Vec<TypeGrowth>,
    /// Garbage-collector counts at both snapshots (tracemalloc only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc: Option<GcCounts>,
    /// Bytes grown in the window over all sites, when the profiler says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    /// What the profiler's own records grew in the window, bytes
    /// (tracemalloc's `get_tracemalloc_memory()`): memory the target
    /// holds because it is profiled, part of the judged growth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracer_grown_bytes: Option<i64>,
}

/// An allocation site: a stack and what it added in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Bytes allocated in the window and still live at its end.
    pub bytes: i64,
    /// How many allocations (net, for tracemalloc).
    pub count: i64,
    /// Innermost first.
    pub frames: Vec<Frame>,
}

/// One stack frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Function name (`<module>` for module-level Python code; empty when
    /// the profiler could not tell).
    pub function: String,
    /// Source file, as the profiler reports it.
    pub file: String,
    /// Line number, when known.
    pub line: Option<u32>,
}

/// Live objects gained by one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeGrowth {
    /// `dict`, `starlette.websockets.WebSocket`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Live objects at the end minus at the baseline.
    pub count_delta: i64,
}

/// Python's garbage-collector counts at the baseline and at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcCounts {
    /// `len(gc.garbage)`: objects the collector found but could not free.
    pub garbage_baseline: u64,
    /// At the end.
    pub garbage_final: u64,
    /// Uncollectable objects counted by the collector since start.
    pub uncollectable_baseline: u64,
    /// At the end.
    pub uncollectable_final: u64,
    /// Unreachable objects (reference cycles) the collection before the
    /// final snapshot freed.
    pub collected_final: u64,
}

impl Frame {
    /// `broadcast (backend/collab.py:57)`.
    pub fn describe(&self) -> String {
        let place = match self.line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        };
        match (self.function.is_empty(), place.is_empty()) {
            (true, _) => place,
            (false, true) => self.function.clone(),
            (false, false) => format!("{} ({place})", self.function),
        }
    }
}

impl Leaks {
    /// Every site above the noise floor, with its process.
    pub fn sites_above_floor(&self) -> impl Iterator<Item = (&ProcessLeaks, &Site)> {
        self.processes
            .iter()
            .flat_map(|p| p.sites.iter().map(move |s| (p, s)))
            .filter(|(_, s)| s.bytes >= self.noise_floor_bytes as i64)
    }

    /// The largest site above the noise floor, with its process.
    pub fn top_site(&self) -> Option<(&ProcessLeaks, &Site)> {
        self.sites_above_floor().max_by_key(|(_, s)| s.bytes)
    }

    /// Writes `leaks.json` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("could not write {}", path.display()))
    }

    /// Reads `leaks.json` from a run folder; `None` when it has none.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Leaks>> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a leaks file memsoak can read", path.display()))
    }
}

/// The noise floor of a window: a tenth of the growth the limit allows
/// over it (the attribution's floor, a tenth of the limit, applied to the
/// window), and never below 64 KiB — what a backend's requests in flight
/// hold at any instant.
pub fn noise_floor(limit_bytes_per_hour: f64, window_s: f64) -> u64 {
    const MIN: f64 = 64.0 * 1024.0;
    (0.1 * limit_bytes_per_hour * window_s / 3600.0).max(MIN) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_is_a_tenth_of_the_allowed_growth_and_at_least_64_kib() {
        assert_eq!(noise_floor(10e6, 8.0 * 3600.0), 8_000_000);
        assert_eq!(noise_floor(10e6, 60.0), 65_536);
    }

    #[test]
    fn top_site_skips_sites_below_the_floor() {
        let site = |bytes| Site {
            bytes,
            count: 1,
            frames: vec![Frame {
                function: "f".into(),
                file: "a.py".into(),
                line: Some(3),
            }],
        };
        let mut l = Leaks {
            profiler: ProfilerKind::Tracemalloc,
            window: Window {
                start_s: 1.0,
                end_s: 2.0,
            },
            noise_floor_bytes: 1000,
            processes: vec![ProcessLeaks {
                pid: 1,
                name: "p".into(),
                sites: vec![site(900)],
                types: vec![],
                gc: None,
                total_bytes: None,
                tracer_grown_bytes: None,
            }],
            artifacts: vec![],
            commands: vec![],
            error: None,
            notes: vec![],
        };
        assert!(l.top_site().is_none());
        l.processes[0].sites.push(site(5000));
        assert_eq!(l.top_site().unwrap().1.bytes, 5000);
        assert_eq!(l.processes[0].sites[0].frames[0].describe(), "f (a.py:3)");
    }
}
