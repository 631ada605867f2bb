//! An undo process: what memsoak did to a process it does not own (a
//! profiler attached to a `--pid` target) is undone even if memsoak is
//! killed before it undoes it itself.
//!
//! memsoak starts `memsoak __undo LIMIT_MS -- PROGRAM ARGS...` (say
//! `python -m memray detach PID`) *before* the work it guards, with a pipe
//! on its stdin, and names on it the processes doing that work (`outlive
//! PID:STARTTIME`: the `memray attach` in flight). Once memsoak has undone
//! the work, it writes `done` and the undo process exits doing nothing.
//! If the pipe closes without `done` (the kernel closes it when memsoak is
//! killed, or crashes), the undo process waits for the named processes to
//! finish (an attach cut off half-way would undo nothing) and then runs
//! the program, both within the limit.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::keeper::{memsoak_executable, OUTLIVE};
use super::tree::Tracked;

/// The first argument that makes memsoak act as an undo process (not a
/// clap subcommand: it shows in no help text).
pub const ARG: &str = "__undo";

const DONE: &str = "done";
const POLL: Duration = Duration::from_millis(50);

/// A running undo process.
#[derive(Debug)]
pub struct Undo {
    child: Child,
}

impl Undo {
    /// Starts the undo of work about to be done: `program` with `args`
    /// runs if memsoak ends without [`Undo::done`]; waiting and running
    /// each take at most `limit`.
    pub fn spawn(program: &Path, args: &[String], limit: Duration) -> std::io::Result<Undo> {
        use std::os::unix::process::CommandExt;
        let child = Command::new(memsoak_executable()?)
            .arg(ARG)
            .arg(limit.as_millis().to_string())
            .arg("--")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a terminal's Ctrl-C to memsoak must not reach it.
            .process_group(0)
            .spawn()?;
        crate::helper_processes::register(child.id());
        Ok(Undo { child })
    }

    /// Names a process doing the guarded work: the undo waits for it.
    pub fn outlive(&self, pid: u32) {
        let Some(t) = i32::try_from(pid).ok().and_then(Tracked::of) else {
            return;
        };
        if let Some(mut stdin) = self.child.stdin.as_ref() {
            let _ = writeln!(stdin, "{OUTLIVE}{t}").and_then(|()| stdin.flush());
        }
    }

    /// The work is undone (or never happened): nothing more to do.
    pub fn done(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = writeln!(stdin, "{DONE}");
        }
        let _ = self.child.wait();
        crate::helper_processes::release(self.child.id());
    }
}

/// Runs the undo process if memsoak was started as one; `Some(exit code)`.
pub fn run_if_requested(args: &[std::ffi::OsString]) -> Option<i32> {
    if args.get(1).and_then(|a| a.to_str()) != Some(ARG) {
        return None;
    }
    let limit = args
        .get(2)
        .and_then(|a| a.to_str())
        .and_then(|a| a.parse::<u64>().ok())
        .map(Duration::from_millis)?;
    let (program, rest) = match args.get(3).and_then(|a| a.to_str()) {
        Some("--") => (args.get(4)?, args.get(5..).unwrap_or(&[])),
        _ => return Some(2),
    };
    let mut outlive = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == DONE {
            return Some(0);
        }
        if let Some(t) = line.strip_prefix(OUTLIVE).and_then(Tracked::parse) {
            outlive.retain(Tracked::alive);
            outlive.push(t);
        }
    }
    let deadline = Instant::now() + limit;
    while outlive.iter().any(Tracked::alive) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let Ok(mut child) = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Some(1);
    };
    match wait_timeout::ChildExt::wait_timeout(&mut child, limit) {
        Ok(Some(status)) => Some(status.code().unwrap_or(1)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Some(1)
        }
    }
}
