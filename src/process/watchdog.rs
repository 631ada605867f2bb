//! A guard process that stops a launched target if memsoak itself dies
//! without doing so — SIGKILL, the OOM killer, a crash — so a target and
//! its workers never outlive memsoak.
//!
//! memsoak starts `memsoak __watchdog PGID GRACE_MS` with a pipe on its
//! stdin and never writes to it. The watchdog blocks reading the pipe; the
//! kernel closes it when memsoak exits for any reason. On that end of file
//! the watchdog stops the process group if it still exists (SIGTERM, grace,
//! SIGKILL). PR_SET_PDEATHSIG alone would reach only the direct child, not
//! the workers it forked, hence a process that owns the whole group.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The running guard of one target.
#[derive(Debug)]
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Starts the guard of process group `pgid`, in a process group of its
    /// own so a terminal's Ctrl-C does not reach it.
    pub fn spawn(pgid: i32, grace: Duration) -> std::io::Result<Watchdog> {
        use std::os::unix::process::CommandExt;
        let child = Command::new(std::env::current_exe()?)
            .arg(ARG)
            .arg(pgid.to_string())
            .arg(grace.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Watchdog { child })
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
/// GRACE_MS`); returns false otherwise.
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
    }
    true
}

/// The guard's body: waits for memsoak to end, then stops the group.
pub fn guard(pgid: i32, grace: Duration) {
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 64];
    // Returns 0 (end of file) or an error once memsoak's end of the pipe closes.
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    stop_group(pgid, grace);
}

/// SIGTERM to the group, up to `grace` for it to go, then SIGKILL.
pub fn stop_group(pgid: i32, grace: Duration) {
    let group = Pid::from_raw(pgid);
    if killpg(group, None).is_err() {
        return;
    }
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if killpg(group, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(group, Signal::SIGKILL);
}
