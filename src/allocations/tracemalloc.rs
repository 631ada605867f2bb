//! `tracemalloc`: Python's own allocation tracer, nothing to install.
//!
//! Armed at launch: memsoak writes its hook (`tracemalloc_hook.py`) as
//! `sitecustomize.py` into `profiler/hook/` and puts that folder first on
//! the target's `PYTHONPATH`, so every Python process of the tree starts
//! tracing with N frames. The baseline and the final snapshot are commands
//! appended to a control file the hook polls (`profiler/tracemalloc/
//! control`): no signal is taken from the application. Each process
//! answers with `<pid>.baseline.json`, then `<pid>.json` holding
//! `Snapshot.compare_to(baseline, "traceback")`'s growing sites, the types
//! that gained live objects and the garbage collector's counts.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::leaks::{GcCounts, ProcessLeaks, Site, TypeGrowth};
use super::{Context, Found, Profiler};
use crate::process::LaunchSpec;

/// The hook, shipped inside memsoak.
const HOOK: &str = include_str!("tracemalloc_hook.py");

/// How often the hook polls its control file, seconds.
const POLL_S: &str = "0.25";

/// How long to wait for any process to answer when none has yet: a few of
/// the hook's polls.
const FIRST_ANSWER: Duration = Duration::from_secs(3);

pub(super) struct Tracemalloc {
    context: Context,
    /// `profiler/tracemalloc`, once armed.
    folder: Option<PathBuf>,
}

/// A process's answer, as the hook writes it.
#[derive(Debug, Deserialize)]
struct Answer {
    pid: u32,
    name: String,
    #[serde(default)]
    sites: Vec<Site>,
    #[serde(default)]
    types: Vec<TypeGrowth>,
    #[serde(default)]
    gc: Option<GcCounts>,
    #[serde(default)]
    total_bytes: Option<i64>,
    #[serde(default)]
    tracer_grown_bytes: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

impl Tracemalloc {
    pub(super) fn new(context: Context) -> Tracemalloc {
        Tracemalloc {
            context,
            folder: None,
        }
    }

    fn command(&self, word: &str) -> Result<(), String> {
        let folder = self.folder.as_ref().ok_or("tracemalloc was not armed")?;
        let path = folder.join("control");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{word}\n").as_bytes()))
            .map_err(|e| format!("could not write {}: {e}", path.display()))
    }

    /// Pids that took a baseline.
    fn answered_baseline(folder: &Path) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        if let Ok(entries) = std::fs::read_dir(folder) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if let Some(pid) = name.strip_suffix(".baseline.json") {
                    if let Ok(pid) = pid.parse() {
                        out.insert(pid);
                    }
                }
            }
        }
        out
    }
}

impl Profiler for Tracemalloc {
    fn arm(&mut self, launch: &mut LaunchSpec) -> Result<(), String> {
        let run_dir = std::path::absolute(&self.context.run_dir)
            .map_err(|e| format!("could not resolve the run folder: {e}"))?;
        let base = self
            .context
            .folder()
            .map_err(|e| format!("could not make the profiler folder: {e}"))?;
        let (hook, folder) = (base.join("hook"), base.join("tracemalloc"));
        for dir in [&hook, &folder] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("could not make {}: {e}", dir.display()))?;
        }
        std::fs::write(hook.join("sitecustomize.py"), HOOK)
            .map_err(|e| format!("could not write the tracemalloc hook: {e}"))?;
        let hook_abs = run_dir.join("profiler").join("hook");
        let hook_text = hook_abs.display().to_string();
        if hook_text.contains(':') {
            return Err(format!(
                "the run folder {} has a ':' in its path, which PYTHONPATH cannot hold: choose another --out",
                run_dir.display()
            ));
        }
        let existing = launch
            .env
            .get("PYTHONPATH")
            .cloned()
            .or_else(|| std::env::var("PYTHONPATH").ok())
            .unwrap_or_default();
        let path = if existing.is_empty() {
            hook_text
        } else {
            format!("{hook_text}:{existing}")
        };
        let env = &mut launch.env;
        env.insert("PYTHONPATH".into(), path);
        env.insert(
            "MEMSOAK_TRACEMALLOC_DIR".into(),
            run_dir
                .join("profiler")
                .join("tracemalloc")
                .display()
                .to_string(),
        );
        env.insert(
            "MEMSOAK_TRACEMALLOC_FRAMES".into(),
            self.context.settings.frames.to_string(),
        );
        env.insert(
            "MEMSOAK_TRACEMALLOC_TOP".into(),
            super::leaks::TOP_SITES.to_string(),
        );
        env.insert("MEMSOAK_TRACEMALLOC_POLL".into(), POLL_S.into());
        self.folder = Some(folder);
        Ok(())
    }

    fn baseline(&mut self, _pids: &[u32]) -> Result<(), String> {
        self.command("baseline")
    }

    fn finish(&mut self, _pids: &[u32]) -> Found {
        let Some(folder) = self.folder.clone() else {
            return Found {
                error: Some("tracemalloc was not armed".into()),
                ..Found::default()
            };
        };
        if let Err(e) = self.command("final") {
            return Found {
                error: Some(e),
                ..Found::default()
            };
        }
        let started = Instant::now();
        let timeout = self.context.settings.timeout;
        let mut notes = Vec::new();
        // Every process that took a baseline answers, or ends.
        let waiting = loop {
            let took = Self::answered_baseline(&folder);
            let waiting: Vec<u32> = took
                .iter()
                .copied()
                .filter(|pid| {
                    !folder.join(format!("{pid}.json")).exists() && crate::process::pid_alive(*pid)
                })
                .collect();
            let elapsed = started.elapsed();
            let settled = !took.is_empty() || elapsed >= FIRST_ANSWER;
            if (waiting.is_empty() && settled) || elapsed >= timeout {
                break waiting;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        for pid in &waiting {
            notes.push(format!(
                "pid {pid} did not write its final snapshot within {} ([profiler] timeout)",
                humantime::format_duration(timeout)
            ));
        }
        let took = Self::answered_baseline(&folder);
        if took.is_empty() {
            return Found {
                error: Some(
                    "no Python process loaded memsoak's tracemalloc hook: is the target a Python program? (`python -I`, `-E` or `-S` skip PYTHONPATH's sitecustomize; a launcher that clears the environment drops it too)".into(),
                ),
                ..Found::default()
            };
        }
        let mut found = Found::default();
        for pid in took {
            let path = folder.join(format!("{pid}.json"));
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(_) => {
                    if !waiting.contains(&pid) {
                        notes.push(format!(
                            "pid {pid} ended before the window closed: no final snapshot"
                        ));
                    }
                    continue;
                }
            };
            let answer: Answer = match serde_json::from_str(&text) {
                Ok(a) => a,
                Err(e) => {
                    notes.push(format!("{} is not readable: {e}", path.display()));
                    continue;
                }
            };
            found.artifacts.push(path);
            if let Some(e) = answer.error {
                notes.push(format!("pid {}: {e}", answer.pid));
                continue;
            }
            found.processes.push(ProcessLeaks {
                pid: answer.pid,
                name: answer.name,
                sites: answer.sites,
                types: answer.types,
                gc: answer.gc,
                total_bytes: answer.total_bytes,
                tracer_grown_bytes: answer.tracer_grown_bytes,
            });
        }
        if found.processes.is_empty() {
            found.error = Some(format!(
                "no Python process wrote its final snapshot: {}",
                notes.join("; ")
            ));
        }
        found.notes = notes;
        found
    }
}
