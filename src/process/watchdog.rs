//! A guard process that stops a launched target if memsoak itself dies
//! without doing so — SIGKILL, the OOM killer, a crash — so a target and
//! its workers never outlive memsoak.
//!
//! memsoak starts `memsoak __watchdog PGID GRACE_MS [CGROUP]` with a pipe on its
//! stdin. Over it memsoak sends, whenever the set changes, one line with
//! every process of the target it tracks (`PID:STARTTIME ...`, see
//! [`super::tree`]): workers that left the group and orphans of a
//! daemonizing launcher included. The watchdog keeps the last line only,
//! so its memory is bounded by the live set. The kernel closes the pipe
//! when memsoak exits for any reason; on that end of file the watchdog
//! stops the process group and each tracked process that is still the same
//! process (SIGTERM, grace, SIGKILL). PR_SET_PDEATHSIG alone would reach
//! only the direct child, not the workers it forked, hence a process that
//! owns the whole set. A cgroup memsoak made for the target (`--cgroup
//! new`) is removed by the watchdog too, after the processes.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::tree::{self, Tracked};

/// The running guard of one target.
#[derive(Debug)]
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Starts the guard of process group `pgid`, in a process group of its
    /// own so a terminal's Ctrl-C does not reach it.
    /// With `cgroup` (a folder memsoak made for the target), the guard
    /// also removes that folder once the processes are stopped, so a
    /// killed memsoak leaves no empty cgroup behind.
    pub fn spawn(
        pgid: i32,
        grace: Duration,
        cgroup: Option<&std::path::Path>,
    ) -> std::io::Result<Watchdog> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg(ARG)
            .arg(pgid.to_string())
            .arg(grace.as_millis().to_string());
        if let Some(dir) = cgroup {
            cmd.arg(dir);
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Watchdog { child })
    }

    /// The guard's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Tells the guard the target's processes as tracked now.
    pub(crate) fn track(&mut self, processes: &[Tracked]) {
        if let Some(stdin) = &mut self.child.stdin {
            let line: Vec<String> = processes.iter().map(Tracked::to_string).collect();
            // A guard that died cannot be told; the group is still stopped
            // by memsoak itself.
            let _ = writeln!(stdin, "{}", line.join(" ")).and_then(|()| stdin.flush());
        }
    }

    /// memsoak has stopped the target itself: let the guard go.
    pub fn release(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The first argument that makes memsoak act as a watchdog. It is not a
/// clap subcommand, so it shows in no help text or completion script.
pub const ARG: &str = "__watchdog";

/// Runs the watchdog if memsoak was started as one (`__watchdog PGID
/// GRACE_MS [CGROUP]`); returns false otherwise.
pub fn run_if_requested(args: &[std::ffi::OsString]) -> bool {
    if args.get(1).and_then(|a| a.to_str()) != Some(ARG) {
        return false;
    }
    let number = |i: usize| {
        args.get(i)
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<u64>().ok())
    };
    let pgid = number(2).and_then(|p| i32::try_from(p).ok());
    let grace = number(3).map(Duration::from_millis);
    if let (Some(pgid), Some(grace)) = (pgid, grace) {
        guard(pgid, grace);
        if let Some(dir) = args.get(4) {
            remove_cgroup(std::path::Path::new(dir));
        }
    }
    true
}

/// Removes the cgroup folder memsoak made, once its last process is gone
/// (a second at most; memsoak itself removes it on a normal exit).
fn remove_cgroup(dir: &std::path::Path) {
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The guard's body: keeps the last set of tracked processes memsoak sent
/// until memsoak ends, then stops them and the group.
pub fn guard(pgid: i32, grace: Duration) {
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut line = String::new();
    let mut stdin = std::io::stdin().lock();
    // Ends on end of file, or an error, once memsoak's end of the pipe closes.
    loop {
        line.clear();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                tracked = line.split_whitespace().filter_map(Tracked::parse).collect();
            }
        }
    }
    stop_all(pgid, &tracked, grace);
}

/// SIGTERM to the group and to each tracked process, up to `grace` for
/// them to go, then SIGKILL.
pub(crate) fn stop_all(pgid: i32, tracked: &[Tracked], grace: Duration) {
    let group = Pid::from_raw(pgid);
    let gone = || killpg(group, None).is_err() && !tracked.iter().any(Tracked::alive);
    if gone() {
        return;
    }
    let _ = killpg(group, Signal::SIGTERM);
    tree::signal_each(tracked, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if gone() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(group, Signal::SIGKILL);
    tree::signal_each(tracked, Signal::SIGKILL);
}
