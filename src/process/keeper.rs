//! A keeper process: runs one program that memsoak starts for itself (a
//! headless browser, a profiler's trace pipeline) and guarantees it ends with memsoak, whatever way
//! memsoak ends.
//!
//! memsoak starts `memsoak __keeper GRACE_MS DIR -- PROGRAM ARGS...`. The
//! keeper makes itself a child subreaper, so everything the program forks
//! stays its descendant even when it daemonizes (Chromium's crash handlers
//! double-fork into sessions of their own), starts the program in a
//! process group of its own with `PR_SET_PDEATHSIG` (should the keeper
//! itself be killed), prints the program's pid, and waits. It stops the
//! program and every descendant — SIGTERM, the grace period, SIGKILL —
//! when its stdin closes: memsoak stopping it, or memsoak dying (the
//! kernel closes the pipe on SIGKILL or a crash too). When the program
//! ends by itself the keeper stops what it left. Either way it then removes
//! `DIR` (the browser's profile, a FIFO, `-` for none) and prints how the
//! program ended.
//!
//! memsoak registers the keeper as one of its helpers, so a launched
//! backend's tree, which is every descendant of memsoak, never takes in
//! the browser.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::tree;
use super::ExitInfo;

/// The first argument that makes memsoak act as a keeper (not a clap
/// subcommand: it shows in no help text).
pub const ARG: &str = "__keeper";

/// The line that names a process the program must outlive.
pub(crate) const OUTLIVE: &str = "outlive ";

/// How long the keeper waits at most for the processes it was told to
/// outlive, once memsoak has gone.
const OUTLIVE_LIMIT: Duration = Duration::from_secs(120);

/// How often the keeper looks at its children.
const POLL: Duration = Duration::from_millis(50);

/// A program kept by a keeper process.
#[derive(Debug)]
pub struct Kept {
    keeper: Child,
    lines: BufReader<ChildStdout>,
    pid: u32,
    grace: Duration,
    ended: Option<ExitInfo>,
    released: bool,
}

impl Kept {
    /// Starts `program` under a keeper; its output goes to `log`, `remove`
    /// is deleted once it has ended.
    pub fn spawn(
        program: &Path,
        args: &[String],
        grace: Duration,
        remove: Option<&Path>,
        log: &Path,
    ) -> std::io::Result<Kept> {
        use std::os::unix::process::CommandExt;
        let log_file = std::fs::File::create(log)?;
        let mut keeper = Command::new(memsoak_executable()?)
            .arg(ARG)
            .arg(grace.as_millis().to_string())
            .arg(remove.map_or_else(|| "-".into(), |p| p.as_os_str().to_os_string()))
            .arg("--")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .process_group(0)
            .spawn()?;
        crate::helper_processes::register(keeper.id());
        let stdout = keeper
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no pipe"))?;
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        lines.read_line(&mut line)?;
        let pid = match line.trim().strip_prefix("pid ") {
            Some(p) => p
                .parse::<u32>()
                .map_err(|_| std::io::Error::other(line.clone()))?,
            None => {
                let _ = keeper.wait();
                crate::helper_processes::release(keeper.id());
                let why = line.trim().strip_prefix("error ").unwrap_or(line.trim());
                return Err(std::io::Error::other(if why.is_empty() {
                    "the keeper ended at once".to_string()
                } else {
                    why.to_string()
                }));
            }
        };
        Ok(Kept {
            keeper,
            lines,
            pid,
            grace,
            ended: None,
            released: false,
        })
    }

    /// The program's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The keeper's pid (memsoak's helper).
    pub fn keeper_pid(&self) -> u32 {
        self.keeper.id()
    }

    /// Tells the keeper that the program must outlive `pid` (a debugger
    /// working on a process the program serves), should memsoak end first.
    pub fn outlive(&self, pid: u32) {
        let Some(t) = i32::try_from(pid).ok().and_then(tree::Tracked::of) else {
            return;
        };
        if let Some(mut stdin) = self.keeper.stdin.as_ref() {
            let _ = writeln!(stdin, "{OUTLIVE}{t}").and_then(|()| stdin.flush());
        }
    }

    /// Whether the program has ended by itself (its keeper then ends too).
    pub fn has_ended(&mut self) -> bool {
        matches!(self.keeper.try_wait(), Ok(Some(_)))
    }

    /// Stops the program and everything it left (SIGTERM, grace, SIGKILL)
    /// and waits for the keeper; how the program ended, when known.
    pub fn stop(&mut self) -> Option<ExitInfo> {
        if self.released {
            return self.ended;
        }
        self.released = true;
        drop(self.keeper.stdin.take());
        let mut line = String::new();
        // The keeper prints one last line, how the program ended, before it
        // exits; a keeper that was itself killed prints nothing.
        while self.lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(status) = parse_status(line.trim()) {
                self.ended = Some(status);
            }
            line.clear();
        }
        let limit = self.grace + Duration::from_secs(5);
        if wait_timeout::ChildExt::wait_timeout(&mut self.keeper, limit)
            .ok()
            .flatten()
            .is_none()
        {
            let _ = self.keeper.kill();
            let _ = self.keeper.wait();
        }
        crate::helper_processes::release(self.keeper.id());
        self.ended
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The memsoak executable that acts as a keeper or an undo guard: this one, or, for a
/// program that uses memsoak as a library (the benchmarks), the one
/// `MEMSOAK_EXE` names.
pub(crate) fn memsoak_executable() -> std::io::Result<PathBuf> {
    match std::env::var_os("MEMSOAK_EXE") {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe(),
    }
}

fn parse_status(line: &str) -> Option<ExitInfo> {
    let (what, n) = line.split_once(' ')?;
    let n: i32 = n.parse().ok()?;
    match what {
        "exit" => Some(ExitInfo {
            code: Some(n),
            signal: None,
        }),
        "signal" => Some(ExitInfo {
            code: None,
            signal: Some(n),
        }),
        _ => None,
    }
}

/// Removes what the program left: a folder (a browser's profile) or a
/// file (a profiler's FIFO).
fn remove_path(path: &Path) {
    if std::fs::remove_dir_all(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// Runs the keeper if memsoak was started as one; `Some(exit code)` then.
pub fn run_if_requested(args: &[std::ffi::OsString]) -> Option<i32> {
    if args.get(1).and_then(|a| a.to_str()) != Some(ARG) {
        return None;
    }
    let grace = args
        .get(2)
        .and_then(|a| a.to_str())
        .and_then(|a| a.parse::<u64>().ok())
        .map(Duration::from_millis)?;
    let remove = args
        .get(3)
        .filter(|a| a.to_str() != Some("-"))
        .map(PathBuf::from);
    let (program, rest) = match args.get(4).and_then(|a| a.to_str()) {
        Some("--") => (args.get(5)?, args.get(6..).unwrap_or(&[])),
        _ => return Some(2),
    };
    Some(keep(program, rest, grace, remove.as_deref()))
}

/// The keeper's body.
fn keep(
    program: &std::ffi::OsStr,
    args: &[std::ffi::OsString],
    grace: Duration,
    remove: Option<&Path>,
) -> i32 {
    use std::os::unix::process::CommandExt;
    tree::become_subreaper();
    let mut out = std::io::stdout();
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    // The program's output goes where the keeper's errors go (the log),
    // never into the pipe memsoak reads.
    if let Ok(err) = nix::unistd::dup(std::io::stderr()) {
        cmd.stdout(std::fs::File::from(err));
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            if let Some(path) = remove {
                remove_path(path);
            }
            // A file that is there but "not found": its `#!` interpreter is not.
            let missing = e.kind() == std::io::ErrorKind::NotFound && Path::new(program).is_file();
            let why = if missing {
                format!("{e}: the interpreter on its #! line is missing")
            } else {
                e.to_string()
            };
            let _ = writeln!(out, "error {why}");
            return 127;
        }
    };
    let pid = child.id() as i32;
    let _ = writeln!(out, "pid {pid}").and_then(|()| out.flush());
    // memsoak closing the pipe (or dying) is the stop signal; before it,
    // memsoak may name processes the program must outlive.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<Vec<tree::Tracked>>();
    std::thread::spawn(move || {
        let mut outlive = Vec::new();
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(t) = line.strip_prefix(OUTLIVE).and_then(tree::Tracked::parse) {
                outlive.retain(tree::Tracked::alive);
                outlive.push(t);
            }
        }
        let _ = stop_tx.send(outlive);
    });
    let mut status: Option<ExitInfo> = None;
    let outlive = loop {
        reap(pid, &mut status);
        if status.is_some() {
            break Vec::new();
        }
        match stop_rx.recv_timeout(POLL) {
            Ok(outlive) => break outlive,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break Vec::new(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    // A debugger memsoak started may still be working on a traced process
    // (memsoak killed mid-attach): the program (the trace's reader) waits
    // for it, so the traced process never opens a FIFO with no reader.
    let deadline = Instant::now() + OUTLIVE_LIMIT;
    while status.is_none() && outlive.iter().any(tree::Tracked::alive) && Instant::now() < deadline
    {
        reap(pid, &mut status);
        std::thread::sleep(POLL);
    }
    stop_all(pid, grace, &mut status);
    if let Some(path) = remove {
        remove_path(path);
    }
    let line = match status {
        Some(ExitInfo {
            signal: Some(s), ..
        }) => format!("signal {s}"),
        Some(ExitInfo { code: Some(c), .. }) => format!("exit {c}"),
        _ => "exit -1".into(),
    };
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    0
}

/// Collects every child that ended; the program's status into `status`.
fn reap(program: i32, status: &mut Option<ExitInfo>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) => {
                if p.as_raw() == program {
                    *status = Some(ExitInfo {
                        code: Some(code),
                        signal: None,
                    });
                }
            }
            Ok(WaitStatus::Signaled(p, signal, _)) => {
                if p.as_raw() == program {
                    *status = Some(ExitInfo {
                        code: None,
                        signal: Some(signal as i32),
                    });
                }
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// SIGTERM to the program's group and every descendant of the keeper, up
/// to `grace` for them to go, then SIGKILL.
fn stop_all(program: i32, grace: Duration, status: &mut Option<ExitInfo>) {
    let group = Pid::from_raw(program);
    let left = || tree::launched(&[], program);
    let gone = |status: &Option<ExitInfo>| {
        status.is_some() && killpg(group, None).is_err() && left().is_empty()
    };
    let _ = killpg(group, Signal::SIGTERM);
    tree::signal_each(&left(), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        reap(program, status);
        if gone(status) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = killpg(group, Signal::SIGKILL);
    tree::signal_each(&left(), Signal::SIGKILL);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        reap(program, status);
        if gone(status) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
