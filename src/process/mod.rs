//! The process under test: launched by memsoak or attached to by pid.
//!
//! A launched target runs without a shell in its own process group, so that
//! stopping it reaches every worker it forked: SIGTERM to the group, a grace
//! period, then SIGKILL. Its stdout and stderr go to files in the run folder.
//! An attached target is only observed, never signalled. [`Target`]'s `Drop`
//! stops a launched group, so no exit path of memsoak leaves it behind.

pub mod keeper;
mod ready;
pub mod spec;
pub(crate) mod tree;
pub mod undo;
pub mod watchdog;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

pub use spec::{LaunchSpec, Readiness, TargetMode, TargetSpec};

pub use ready::wait_ready;

/// How a target ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
}

impl ExitInfo {
    fn from_status(status: std::process::ExitStatus) -> ExitInfo {
        use std::os::unix::process::ExitStatusExt;
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }

    /// Whether a SIGKILL ended it: from outside memsoak, most often the
    /// kernel's OOM killer.
    pub fn is_sigkill(&self) -> bool {
        self.code.is_none() && self.signal == Some(Signal::SIGKILL as i32)
    }

    /// `exit code 1`, `killed by SIGKILL`, or `ended (status unknown)`.
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => match Signal::try_from(s) {
                Ok(sig) => format!("killed by {}", sig.as_str()),
                Err(_) => format!("killed by signal {s}"),
            },
            (None, None) => "ended (exit status unknown: not memsoak's child)".into(),
        }
    }
}

/// Why a program could not be started, with the usual remedy.
fn spawn_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{e} (is it installed, and on PATH or given with its path?)")
        }
        std::io::ErrorKind::PermissionDenied => format!("{e} (is it executable?)"),
        _ => e.to_string(),
    }
}

/// Target failures: each ends the run with exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The program could not be started.
    #[error("could not start '{program}': {}", spawn_reason(.reason))]
    Spawn {
        /// The program.
        program: String,
        /// Why (not a `source`: the message already says it once).
        reason: std::io::Error,
    },
    /// The pid to attach to does not exist.
    #[error("no process with pid {0} to attach to")]
    NoSuchPid(u32),
    /// The pid to attach to is a thread of another process.
    #[error("pid {pid} is a thread of process {process}: attach to --pid {process}")]
    Thread {
        /// The thread id given.
        pid: u32,
        /// Its process.
        process: i32,
    },
    /// Readiness never came.
    #[error("target not ready after {timeout}: {probe} never succeeded (last error: {last_error}){tail}")]
    NotReady {
        /// How long memsoak waited.
        timeout: String,
        /// The check.
        probe: String,
        /// The last probe failure.
        last_error: String,
        /// The target's last stderr lines, formatted.
        tail: String,
    },
    /// The target ended before it was ready.
    #[error("target ended before it was ready: {status}{tail}")]
    ExitedBeforeReady {
        /// How it ended.
        status: String,
        /// The target's last stderr lines, formatted.
        tail: String,
    },
}

/// A running target.
#[derive(Debug)]
pub struct Target {
    pid: u32,
    kind: Kind,
    stderr_path: Option<PathBuf>,
}

#[derive(Debug)]
enum Kind {
    Launched {
        child: Box<tokio::process::Child>,
        grace: Duration,
        stopped: bool,
        watchdog: Option<watchdog::Watchdog>,
        /// The target's processes as last seen (the root included).
        tracked: Vec<tree::Tracked>,
    },
    Attached,
    /// Nothing local: the memory source is all there is.
    Nothing,
}

impl Target {
    /// Starts the target described by `spec` (or checks the pid to attach
    /// to), writing a launched target's output into `run_dir`.
    pub fn start(
        spec: &TargetSpec,
        run_dir: &Path,
        grace: Duration,
    ) -> Result<Target, TargetError> {
        match spec {
            TargetSpec::Launch(l) => Target::launch(l, run_dir, grace),
            TargetSpec::Attach { pid } => Target::attach(*pid),
            TargetSpec::None => Ok(Target {
                pid: 0,
                kind: Kind::Nothing,
                stderr_path: None,
            }),
        }
    }

    fn launch(spec: &LaunchSpec, run_dir: &Path, grace: Duration) -> Result<Target, TargetError> {
        let spawn_err = |reason| TargetError::Spawn {
            program: spec.program.clone(),
            reason,
        };
        let stdout_path = run_dir.join("target.stdout.log");
        let stderr_path = run_dir.join("target.stderr.log");
        let stdout = File::create(&stdout_path).map_err(spawn_err)?;
        let stderr = File::create(&stderr_path).map_err(spawn_err)?;
        // Orphans of the target's tree come back to memsoak, not to pid 1,
        // so they are sampled and stopped with the rest.
        tree::become_subreaper();
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(false);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        if let Some(procs) = spec.cgroup_procs.clone() {
            // SAFETY: between fork and exec the closure only opens and
            // writes a file whose path was made before the fork (no
            // allocation, no locks): async-signal-safe calls.
            unsafe {
                cmd.pre_exec(move || join_cgroup(&procs));
            }
        }
        let child = cmd.spawn().map_err(spawn_err)?;
        let pid = child
            .id()
            .ok_or_else(|| spawn_err(std::io::Error::other("exited at once")))?;
        tracing::info!(
            "launched {} as pid {pid}, in process group {pid}",
            spec.program
        );
        let cgroup = spec.cgroup_procs.as_ref().and_then(|p| {
            std::path::Path::new(
                &<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(p.as_bytes()),
            )
            .parent()
            .map(std::path::Path::to_path_buf)
        });
        let watchdog = match watchdog::Watchdog::spawn(pid as i32, grace, cgroup.as_deref()) {
            Ok(w) => {
                tracing::debug!("watchdog guards process group {pid}");
                Some(w)
            }
            Err(e) => {
                tracing::warn!("no watchdog for the target ({e}); if memsoak is killed, stop process group {pid} yourself");
                None
            }
        };
        Ok(Target {
            pid,
            kind: Kind::Launched {
                child: Box::new(child),
                grace,
                stopped: false,
                watchdog,
                tracked: Vec::new(),
            },
            stderr_path: Some(stderr_path),
        })
    }

    fn attach(pid: u32) -> Result<Target, TargetError> {
        if !pid_alive(pid) {
            return Err(TargetError::NoSuchPid(pid));
        }
        if let Some(process) = tree::thread_of(pid as i32) {
            return Err(TargetError::Thread { pid, process });
        }
        if tree::is_ancestor_of_memsoak(pid as i32) {
            tracing::warn!(
                "pid {pid} is an ancestor of memsoak: memsoak leaves itself out of what it measures"
            );
        }
        Ok(Target {
            pid,
            kind: Kind::Attached,
            stderr_path: None,
        })
    }

    /// The root process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process group memsoak created, for a launched target.
    pub fn process_group(&self) -> Option<i32> {
        matches!(self.kind, Kind::Launched { .. }).then_some(self.pid as i32)
    }

    /// Whether memsoak launched it.
    pub fn is_launched(&self) -> bool {
        matches!(self.kind, Kind::Launched { .. })
    }

    /// The watchdog's pid: not part of the target, though memsoak's child.
    pub fn watchdog_pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Launched {
                watchdog: Some(w), ..
            } => Some(w.pid()),
            _ => None,
        }
    }

    /// Looks for every process of a launched target (the root, its
    /// descendants, and orphans re-parented to memsoak), tells the watchdog
    /// when the set changed, and returns how many are alive besides the
    /// root. Zero for an attached target.
    pub fn refresh(&mut self) -> usize {
        let root = self.pid as i32;
        let exclude: Vec<i32> = self.watchdog_pid().map(|p| p as i32).into_iter().collect();
        let Kind::Launched {
            watchdog, tracked, ..
        } = &mut self.kind
        else {
            return 0;
        };
        let now = tree::launched(&exclude, root);
        if now != *tracked {
            if let Some(w) = watchdog {
                w.track(&now);
            }
            *tracked = now;
        }
        tracked.iter().filter(|t| t.pid != root).count()
    }

    /// The target's live processes now, the root first: what a profiler
    /// attaches to. A launched target's from its process group's walk; an
    /// attached one's from its descendants.
    pub fn pids(&mut self) -> Vec<u32> {
        self.refresh();
        let root = self.pid;
        let mut out = vec![root];
        match &self.kind {
            Kind::Launched { tracked, .. } => {
                out.extend(tracked.iter().map(|t| t.pid as u32).filter(|&p| p != root));
            }
            Kind::Attached => {
                out.extend(tree::descendants(root as i32).into_iter().map(|p| p as u32))
            }
            Kind::Nothing => return Vec::new(),
        }
        out.retain(|&p| pid_alive(p));
        out
    }

    /// Resolves when the target ends. For an attached process the exit
    /// status cannot be known (it is not memsoak's child).
    pub async fn exited(&mut self) -> ExitInfo {
        match &mut self.kind {
            Kind::Launched { child, .. } => match child.wait().await {
                Ok(status) => ExitInfo::from_status(status),
                Err(_) => ExitInfo {
                    code: None,
                    signal: None,
                },
            },
            Kind::Nothing => std::future::pending().await,
            Kind::Attached => {
                // Once a second: the sampler notices a vanished root at its
                // own next tick too, and a quicker poll would cost memsoak
                // more wake-ups than its sampling does.
                while pid_alive(self.pid) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                ExitInfo {
                    code: None,
                    signal: None,
                }
            }
        }
    }

    /// The last lines the target wrote to stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        self.stderr_path
            .as_deref()
            .map(|p| format_tail(&tail_lines(p, 10)))
            .unwrap_or_default()
    }

    /// Stops a launched target's whole process group: SIGTERM, up to the
    /// grace period, then SIGKILL. Returns how the root process ended, if
    /// memsoak could see it. Does nothing to an attached process.
    pub fn stop(&mut self) -> Option<ExitInfo> {
        let root = self.stop_group();
        if let Kind::Launched { watchdog, .. } = &mut self.kind {
            if let Some(w) = watchdog.take() {
                w.release();
            }
        }
        root
    }

    fn stop_group(&mut self) -> Option<ExitInfo> {
        let Kind::Launched {
            child,
            grace,
            stopped,
            watchdog,
            ..
        } = &mut self.kind
        else {
            return None;
        };
        let pgid = Pid::from_raw(self.pid as i32);
        let mut root = child.try_wait().ok().flatten().map(ExitInfo::from_status);
        if *stopped {
            return root;
        }
        *stopped = true;
        let exclude: Vec<i32> = watchdog.iter().map(|w| w.pid() as i32).collect();
        let keep = self.pid as i32;
        // Every process of the target: its group, and each one memsoak
        // tracks (workers that left the group, orphans of a daemonizing
        // launcher). ESRCH means a process is already gone; nothing else
        // can fail for memsoak's own children.
        let signal_all = |signal| {
            let _ = killpg(pgid, signal);
            tree::signal_each(&tree::launched(&exclude, keep), signal);
        };
        let all_gone = |root: &Option<ExitInfo>| {
            root.is_some()
                && killpg(pgid, None).is_err()
                && tree::launched(&exclude, keep).is_empty()
        };
        tracing::debug!("stopping process group {pgid} and the target's other processes: SIGTERM");
        signal_all(Signal::SIGTERM);
        let deadline = Instant::now() + *grace;
        loop {
            if root.is_none() {
                root = child.try_wait().ok().flatten().map(ExitInfo::from_status);
            }
            if all_gone(&root) {
                return root;
            }
            if Instant::now() >= deadline {
                break;
            }
            // `all_gone` lists /proc only once the root and the group are
            // gone; a slower poll keeps a stubborn orphan from costing a
            // core on a host with many processes.
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::info!(
            "the target's processes still running {} after SIGTERM: SIGKILL",
            humantime::format_duration(*grace)
        );
        signal_all(Signal::SIGKILL);
        let until = Instant::now() + Duration::from_secs(2);
        while !all_gone(&root) && Instant::now() < until {
            if root.is_none() {
                root = child.try_wait().ok().flatten().map(ExitInfo::from_status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        root
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is
/// `procs` (writing `0` means "me" in cgroup v1 and v2). Only
/// async-signal-safe calls: it runs between fork and exec.
fn join_cgroup(procs: &std::ffi::CStr) -> std::io::Result<()> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let fd = open(procs, OFlag::O_WRONLY, Mode::empty())?;
    let written = nix::unistd::write(&fd, b"0");
    drop(fd);
    written.map(|_| ()).map_err(std::io::Error::from)
}

/// Whether a process exists (a zombie counts as ended).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => !is_zombie(pid),
        Err(_) => false,
    }
}

#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[cfg(not(target_os = "linux"))]
fn is_zombie(_pid: u32) -> bool {
    false
}

/// The last `n` lines of a file, reading at most its last 8 KiB.
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(8192)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn format_tail(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n  last lines of the target's stderr:");
    for l in lines {
        s.push_str("\n    ");
        s.push_str(l);
    }
    s
}
