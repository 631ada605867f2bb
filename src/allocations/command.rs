//! Runs a profiler's helper command (a debugger, a report) with a time
//! limit, its output captured: a hung `gdb` must not hang the soak.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

/// What a finished command printed.
#[derive(Debug)]
pub(super) struct Ran {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error, trimmed.
    pub stderr: String,
}

impl Ran {
    /// The last lines of stderr (or stdout), for an error message.
    pub(super) fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join(" / ")
    }
}

/// Runs `cmd` to its end or until `timeout` (then kills it); `Err` when it
/// could not start or timed out.
pub(super) fn run(cmd: &mut Command, timeout: Duration) -> Result<Ran, String> {
    run_told(cmd, timeout, |_| {})
}

/// [`run`], telling `started` the command's pid once it runs.
pub(super) fn run_told(
    cmd: &mut Command,
    timeout: Duration,
    started: impl FnOnce(u32),
) -> Result<Ran, String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {name}: {e}"))?;
    // Readers on threads: a chatty command must not block on a full pipe
    // while this waits for it.
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    };
    let pid = child.id();
    crate::helper_processes::register(pid);
    started(pid);
    let out = child.stdout.take().map(|o| read(Box::new(o)));
    let err = child.stderr.take().map(|e| read(Box::new(e)));
    let waited = child.wait_timeout(timeout);
    if !matches!(waited, Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    crate::helper_processes::release(pid);
    let status = match waited {
        Ok(Some(status)) => status,
        Ok(None) => {
            return Err(format!(
                "{name} did not finish within {}",
                humantime::format_duration(timeout)
            ));
        }
        Err(e) => return Err(format!("could not wait for {name}: {e}")),
    };
    let join = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Ran {
        ok: status.success(),
        stdout: join(out),
        stderr: join(err).trim().to_string(),
    })
}
