//! Profiler hand-off: from "it leaks" to "this line leaks".
//!
//! memsoak knows what a profiler does not: when warm-up ends and when the
//! judged window closes. Every profiler's advice for leak hunting is the
//! same — let the program warm up, take two profiles some time apart, and
//! diff them — so memsoak does exactly that, in four steps behind one small
//! trait ([`Profiler`]): *arm* at launch (an environment for the target),
//! *baseline* at the end of warm-up, *final* at the end of the judged
//! window (or when fail-fast fires), and *sites*: memory allocated in the
//! window and still live at its end, by allocation stack, in
//! [`leaks::Leaks`] (`leaks.json`).
//!
//! A profiler that cannot work (not installed, no ptrace permission, the
//! target is not Python) never fails the soak: its [`leaks::Leaks`] says
//! why and how to fix it.
//!
//! This is a middle-layer module: it sees process ids and the launch spec,
//! never the sampler, the analysis or the outputs.

pub mod leaks;

mod command;
mod heaptrack;
mod memray;
mod tracemalloc;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::LaunchSpec;
use leaks::{Leaks, ProcessLeaks, Window};

/// The profilers memsoak can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProfilerKind {
    /// Python's standard-library allocation tracer, armed at launch through
    /// a `sitecustomize` hook; every Python process of the tree.
    Tracemalloc,
    /// Bloomberg's memray (`pip install memray` in the target's
    /// environment), attached for the judged window with native frames.
    Memray,
    /// heaptrack (Debian `heaptrack` and `gdb`), attached for the judged
    /// window: native programs (C, C++, Rust).
    Heaptrack,
}

impl ProfilerKind {
    /// The name used in flags, profiles and `leaks.json`.
    pub fn name(self) -> &'static str {
        match self {
            ProfilerKind::Tracemalloc => "tracemalloc",
            ProfilerKind::Memray => "memray",
            ProfilerKind::Heaptrack => "heaptrack",
        }
    }

    /// Whether it can profile a process memsoak did not start.
    pub fn can_attach(self) -> bool {
        !matches!(self, ProfilerKind::Tracemalloc)
    }
}

/// How to profile, from `--profiler` and `[profiler]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilerSettings {
    /// Which profiler.
    pub kind: ProfilerKind,
    /// Stack frames kept per allocation (tracemalloc's `nframe`; the
    /// frames kept in `leaks.json` for the others).
    pub frames: u32,
    /// Processes profiled at most (memray and heaptrack attach to each;
    /// the largest first).
    pub max_processes: usize,
    /// How long a snapshot, a detach or a profiler's report may take.
    pub timeout: Duration,
}

impl ProfilerSettings {
    /// Default frames per stack: enough to reach the application's line
    /// under a library call (`json.loads` is four deep), while
    /// tracemalloc's cost, linear in frames, stays moderate (BENCHMARKS.md,
    /// "Profiler overhead").
    pub const FRAMES: u32 = 5;
    /// Most frames per stack: tracemalloc's cost grows with them.
    pub const MAX_FRAMES: u32 = 100;
    /// Default processes attached to.
    pub const MAX_PROCESSES: usize = 4;
    /// Default time a profiler step may take.
    pub const TIMEOUT: Duration = Duration::from_secs(120);

    /// The defaults for a profiler.
    pub fn new(kind: ProfilerKind) -> ProfilerSettings {
        ProfilerSettings {
            kind,
            frames: Self::FRAMES,
            max_processes: Self::MAX_PROCESSES,
            timeout: Self::TIMEOUT,
        }
    }
}

/// The run a profiler works in.
#[derive(Debug, Clone)]
pub struct Context {
    /// The run folder; profiler files go to its `profiler/` folder.
    pub run_dir: PathBuf,
    /// The settings.
    pub settings: ProfilerSettings,
}

impl Context {
    /// `<run>/profiler`, made on first use.
    fn folder(&self) -> std::io::Result<PathBuf> {
        let dir = self.run_dir.join("profiler");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// A path relative to the run folder, for `leaks.json`.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.run_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// What a finished profiler hands back.
#[derive(Debug, Default)]
pub struct Found {
    /// One entry per profiled process.
    pub processes: Vec<ProcessLeaks>,
    /// Files kept, absolute.
    pub artifacts: Vec<PathBuf>,
    /// Commands that open them.
    pub commands: Vec<String>,
    /// Why there is nothing, when nothing worked.
    pub error: Option<String>,
    /// Things a reader should know.
    pub notes: Vec<String>,
}

/// One attached process, done: its sites, the file kept for it and the
/// commands that open that file.
#[derive(Debug)]
struct Profiled {
    leaks: ProcessLeaks,
    artifact: PathBuf,
    commands: Vec<String>,
}

impl Found {
    /// The result of attaching profilers: each process's sites where it
    /// worked; the failures are the error when none did, notes otherwise.
    fn gather(notes: Vec<String>, results: Vec<Result<Profiled, String>>) -> Found {
        let mut found = Found {
            notes,
            ..Found::default()
        };
        let mut failures = Vec::new();
        for r in results {
            match r {
                Ok(p) => {
                    found.processes.push(p.leaks);
                    found.artifacts.push(p.artifact);
                    found.commands.extend(p.commands);
                }
                Err(e) => failures.push(e),
            }
        }
        if found.processes.is_empty() {
            found.error = Some(failures.join("; "));
        } else {
            found.notes.extend(failures);
        }
        found
    }
}

/// The baseline of an attaching profiler: fine when it attached to some
/// process (the other failures become notes), else the failures.
fn attached(count: usize, failures: Vec<String>, notes: &mut Vec<String>) -> Result<(), String> {
    if count == 0 {
        return Err(if failures.is_empty() {
            "no process to attach to".into()
        } else {
            failures.join("; ")
        });
    }
    notes.extend(failures);
    Ok(())
}

/// One profiler: arm at launch → baseline → final → sites. Each step may
/// block (a debugger attaches, a snapshot is taken): the run calls them off
/// its async tasks.
pub trait Profiler: Send {
    /// Prepares a launched target's environment; an error is the reason
    /// the profiler cannot work, and the run goes on without it.
    fn arm(&mut self, _launch: &mut LaunchSpec) -> Result<(), String> {
        Ok(())
    }

    /// At the end of warm-up: the target's processes now, root first.
    fn baseline(&mut self, pids: &[u32]) -> Result<(), String>;

    /// At the end of the judged window: stops profiling and reads the
    /// sites.
    fn finish(&mut self, pids: &[u32]) -> Found;
}

/// The profiler of a kind.
pub fn new(context: Context) -> Box<dyn Profiler> {
    match context.settings.kind {
        ProfilerKind::Tracemalloc => Box::new(tracemalloc::Tracemalloc::new(context)),
        ProfilerKind::Memray => Box::new(memray::Memray::new(context)),
        ProfilerKind::Heaptrack => Box::new(heaptrack::Heaptrack::new(context)),
    }
}

/// A profiler's life in one run: its steps' failures kept, and the result
/// assembled into [`Leaks`].
pub struct Session {
    profiler: Box<dyn Profiler>,
    kind: ProfilerKind,
    run_dir: PathBuf,
    /// The first step's failure: later steps are skipped.
    failed: Option<String>,
    baseline_at: Option<f64>,
    /// The target's working folder: frames' files below it are written
    /// relative to it (`backend/collab.py:57`).
    cwd: Option<PathBuf>,
}

impl Session {
    /// A session for `context`.
    pub fn new(context: Context) -> Session {
        Session {
            kind: context.settings.kind,
            run_dir: context.run_dir.clone(),
            profiler: new(context),
            failed: None,
            baseline_at: None,
            cwd: None,
        }
    }

    /// The profiler's kind.
    pub fn kind(&self) -> ProfilerKind {
        self.kind
    }

    /// Arms a launched target.
    pub fn arm(&mut self, launch: &mut LaunchSpec) {
        self.cwd = launch
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .and_then(|c| std::fs::canonicalize(c).ok());
        if let Err(e) = self.profiler.arm(launch) {
            self.failed = Some(e);
        }
    }

    /// Whether a step failed already (its reason is kept for `leaks.json`).
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// The baseline at `elapsed_s` on the run's clock.
    pub fn baseline(&mut self, pids: &[u32], elapsed_s: f64) {
        if self.failed.is_some() {
            return;
        }
        if self.cwd.is_none() {
            self.cwd = pids
                .first()
                .and_then(|p| std::fs::read_link(format!("/proc/{p}/cwd")).ok());
        }
        let taking = std::time::Instant::now();
        if let Err(e) = self.profiler.baseline(pids) {
            self.failed = Some(e);
        }
        // The capture starts as the baseline completes (a debugger takes
        // seconds to attach on a loaded machine): the window starts then.
        self.baseline_at = Some(elapsed_s + taking.elapsed().as_secs_f64());
    }

    /// The final snapshot at `elapsed_s`; the sites, with a noise floor for
    /// a growth limit of `limit_bytes_per_hour`.
    pub fn finish(mut self, pids: &[u32], elapsed_s: f64, limit_bytes_per_hour: f64) -> Leaks {
        let start_s = self.baseline_at.unwrap_or(elapsed_s);
        let window = Window {
            start_s,
            end_s: elapsed_s,
        };
        let noise_floor_bytes = leaks::noise_floor(limit_bytes_per_hour, elapsed_s - start_s);
        let mut found = match (&self.failed, self.baseline_at) {
            (Some(e), _) => Found {
                error: Some(e.clone()),
                ..Found::default()
            },
            (None, None) => Found {
                error: Some(
                    "the run ended before warm-up did: no baseline was taken, so there is no window to profile (shorten the warm-up or run longer)".into(),
                ),
                ..Found::default()
            },
            (None, Some(_)) => self.profiler.finish(pids),
        };
        for p in &mut found.processes {
            p.sites.sort_by_key(|x| std::cmp::Reverse(x.bytes));
            p.sites.truncate(leaks::TOP_SITES);
            if let Some(cwd) = &self.cwd {
                for f in p.sites.iter_mut().flat_map(|s| s.frames.iter_mut()) {
                    if let Ok(rel) = Path::new(&f.file).strip_prefix(cwd) {
                        f.file = rel.display().to_string();
                    }
                }
            }
        }
        if found.error.is_none() && found.processes.is_empty() {
            found.error = Some("the profiler reported no process".into());
        }
        let run_dir = self.run_dir.clone();
        Leaks {
            profiler: self.kind,
            window,
            noise_floor_bytes,
            processes: found.processes,
            artifacts: found
                .artifacts
                .iter()
                .map(|a| a.strip_prefix(&run_dir).unwrap_or(a).display().to_string())
                .collect(),
            commands: found.commands,
            error: found.error.map(|e| crate::secrets::redact(&e)),
            notes: found
                .notes
                .iter()
                .map(|n| crate::secrets::redact(n))
                .collect(),
        }
    }
}

/// How long before the end of warm-up the baseline is taken: a tenth of
/// the warm-up, 5 s to 60 s, at most half of it. Taking a baseline costs
/// the target memory (a tracemalloc snapshot is about 300 bytes a live
/// allocation; a debugger loads a library), and that step must land in the
/// warm-up, not at the start of the judged window where it would read as
/// growth.
pub fn baseline_lead(warmup: Duration) -> Duration {
    (warmup / 10)
        .clamp(Duration::from_secs(5), Duration::from_secs(60))
        .min(warmup / 2)
}

/// The name of a process from `/proc/PID/comm`.
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("pid {pid}"))
}

/// Refuses a process whose command line holds a value memsoak expanded
/// from its environment: memray and heaptrack write the command line into
/// their capture files, which memsoak cannot redact.
fn refuse_secret_command_line(pid: u32, profiler: &str) -> Result<(), String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    if crate::secrets::redact(&text) == text {
        Ok(())
    } else {
        Err(format!(
            "pid {pid}'s command line holds a value from ${{ENV}}, and {profiler} writes the command line into its capture file: pass the secret to the target in [target] env instead"
        ))
    }
}

/// Resident bytes of a process, 0 when it is gone.
#[cfg(target_os = "linux")]
fn resident(pid: u32) -> u64 {
    use crate::sampler::linux::proc as lp;
    let mut buf = Vec::new();
    lp::read_once(&format!("/proc/{pid}/statm"), &mut buf)
        .ok()
        .and_then(lp::parse_statm)
        .map_or(0, |m| m.resident * lp::page_size())
}

#[cfg(not(target_os = "linux"))]
fn resident(_pid: u32) -> u64 {
    0
}

/// The `max` largest processes by resident memory, largest first.
fn largest(pids: &[u32], max: usize) -> Vec<u32> {
    let mut by_size: Vec<(u64, u32)> = pids.iter().map(|&p| (resident(p), p)).collect();
    by_size.sort_by(|a, b| b.cmp(a));
    by_size.into_iter().take(max).map(|(_, p)| p).collect()
}

/// A program on PATH, as a full path.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Why a debugger may not attach: `kernel.yama.ptrace_scope`, when it
/// forbids it for this user.
fn ptrace_blocked() -> Option<String> {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").ok()?;
    let scope: u32 = scope.trim().parse().ok()?;
    let root = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    };
    match scope {
        3 => Some("kernel.yama.ptrace_scope is 3: no process may be traced until reboot".into()),
        2 if !root => Some(
            "kernel.yama.ptrace_scope is 2: only root may attach a debugger (run memsoak as root, or `sysctl kernel.yama.ptrace_scope=0`)".into(),
        ),
        1 if !root => Some(
            "kernel.yama.ptrace_scope is 1: a debugger may attach only to its own descendants (`sysctl kernel.yama.ptrace_scope=0`, or give gdb CAP_SYS_PTRACE)".into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_leads_the_end_of_warm_up_by_a_tenth_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(baseline_lead(s(45 * 60)), s(60));
        assert_eq!(baseline_lead(s(300)), s(30));
        assert_eq!(baseline_lead(s(20)), s(5));
        assert_eq!(baseline_lead(s(8)), s(4));
        assert_eq!(baseline_lead(s(3)), Duration::from_millis(1500));
        assert_eq!(baseline_lead(Duration::ZERO), Duration::ZERO);
    }
}
