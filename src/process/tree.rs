//! Every process a launched target started, wherever it went.
//!
//! A process group is not enough to find them: a worker can leave it
//! (`setsid`, `set -m` in a shell), and a launcher can daemonize, leaving
//! its children to be re-parented. memsoak makes itself a *child
//! subreaper* (`PR_SET_CHILD_SUBREAPER`, Linux ≥ 3.4) before launching, so
//! every orphan of the target's tree is re-parented to memsoak instead of
//! to pid 1. The target's processes are then exactly memsoak's descendants
//! other than its watchdog; they are found from `/proc` and each one is
//! known by its pid *and* start time, so a pid reused by an unrelated
//! process is never signalled.
//!
//! Orphans re-parented to memsoak become its children: when one exits,
//! memsoak reaps it here (tokio reaps only the launched root, which is left
//! alone so its exit status is kept).

use std::fmt;

/// One process, by pid and start time (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Tracked {
    /// Process id.
    pub(crate) pid: i32,
    /// Start time, clock ticks after boot: tells a reused pid apart.
    pub(crate) starttime: u64,
}

impl fmt::Display for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pid, self.starttime)
    }
}

impl Tracked {
    /// Parses `PID:STARTTIME`, as [`Tracked`] displays.
    pub(crate) fn parse(text: &str) -> Option<Tracked> {
        let (pid, start) = text.split_once(':')?;
        Some(Tracked {
            pid: pid.parse().ok()?,
            starttime: start.parse().ok()?,
        })
    }

    /// The process `pid` is now, if it runs.
    pub(crate) fn of(pid: i32) -> Option<Tracked> {
        stat(pid).map(|(starttime, _, _)| Tracked { pid, starttime })
    }

    /// Whether this very process still runs (not a zombie, pid not reused).
    pub(crate) fn alive(&self) -> bool {
        stat(self.pid).is_some_and(|(start, state, _)| start == self.starttime && state != 'Z')
    }
}

/// Start time, state and parent of `pid`, if it exists.
#[cfg(target_os = "linux")]
fn stat(pid: i32) -> Option<(u64, char, i32)> {
    let s = crate::sampler::linux::proc::stat_of(pid, &mut Vec::new())?;
    Some((s.starttime, char::from(s.state), s.ppid))
}

#[cfg(not(target_os = "linux"))]
fn stat(_pid: i32) -> Option<(u64, char, i32)> {
    None
}

/// The process a thread id belongs to, when `pid` is a thread of another
/// process (its `/proc` entry exists, hidden, with another thread group).
#[cfg(target_os = "linux")]
pub(crate) fn thread_of(pid: i32) -> Option<i32> {
    let status = procfs::process::Process::new(pid).ok()?.status().ok()?;
    (status.tgid != pid).then_some(status.tgid)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_of(_pid: i32) -> Option<i32> {
    None
}

/// Whether `pid` is memsoak's parent, grandparent, … (attaching to it would
/// take in memsoak itself, which the sampler leaves out).
pub(crate) fn is_ancestor_of_memsoak(pid: i32) -> bool {
    let mut at = std::process::id() as i32;
    // Bounded: a parent chain is short, and pid 1 ends it.
    for _ in 0..4096 {
        let Some((_, _, parent)) = stat(at) else {
            return false;
        };
        if parent == pid {
            return true;
        }
        if parent <= 1 {
            return pid == 1;
        }
        at = parent;
    }
    false
}

/// Makes memsoak the subreaper of everything it launches from now on.
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(
            "could not become a child subreaper ({e}): processes that leave the target's tree may outlive the run"
        );
    }
}

/// Lists a process's children: through each thread's children file, a few
/// reads per process of the tree whatever else runs on the host; where the
/// kernel has no children files, from one scan of all of `/proc`.
#[cfg(target_os = "linux")]
struct Children {
    by_children: bool,
    /// (pid, parent) pairs of the full scan, only without children files.
    scanned: Vec<(i32, i32)>,
}

#[cfg(target_os = "linux")]
impl Children {
    fn new(buf: &mut Vec<u8>) -> Children {
        let by_children = crate::sampler::linux::proc::children_files_supported();
        let mut scanned = Vec::new();
        if !by_children {
            let _ =
                crate::sampler::linux::proc::scan_all(buf, |pid, s| scanned.push((pid, s.ppid)));
        }
        Children {
            by_children,
            scanned,
        }
    }

    /// Replaces `kids` with `parent`'s children.
    fn of(&self, parent: i32, buf: &mut Vec<u8>, kids: &mut Vec<i32>) {
        kids.clear();
        if self.by_children {
            crate::sampler::linux::proc::children_once(parent, buf, kids);
        } else {
            kids.extend(self.scanned.iter().filter(|p| p.1 == parent).map(|p| p.0));
        }
    }
}

/// The live descendants of `root`, in pid order.
#[cfg(target_os = "linux")]
pub(crate) fn descendants(root: i32) -> Vec<i32> {
    let mut buf = Vec::new();
    let children = Children::new(&mut buf);
    let (mut out, mut stack, mut kids) = (Vec::new(), vec![root], Vec::new());
    while let Some(parent) = stack.pop() {
        children.of(parent, &mut buf, &mut kids);
        for &pid in &kids {
            if !out.contains(&pid) {
                out.push(pid);
                stack.push(pid);
            }
        }
    }
    out.sort();
    out
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn descendants(_root: i32) -> Vec<i32> {
    Vec::new()
}

/// The live descendants of memsoak other than `exclude` and their own
/// descendants (the watchdog), in pid order. Zombie orphans re-parented to
/// memsoak are reaped on the way, except `keep` (the launched root, whose
/// exit status tokio collects). memsoak's own helpers (a profiler's
/// debugger) are left out too.
#[cfg(target_os = "linux")]
pub(crate) fn launched(exclude: &[i32], keep: i32) -> Vec<Tracked> {
    use crate::sampler::linux::proc as lp;
    let me = std::process::id() as i32;
    let mut buf = Vec::new();
    let children = Children::new(&mut buf);
    let mut out = Vec::new();
    let mut stack = vec![me];
    let mut kids = Vec::new();
    let helpers = crate::helper_processes::current();
    while let Some(parent) = stack.pop() {
        children.of(parent, &mut buf, &mut kids);
        for &pid in &kids {
            if exclude.contains(&pid) || helpers.contains(&(pid as u32)) {
                continue;
            }
            // A process may end between listing and reading.
            let Some(s) = lp::stat_of(pid, &mut buf) else {
                continue;
            };
            if s.is_zombie() {
                if parent == me && pid != keep {
                    reap(pid);
                }
                continue;
            }
            out.push(Tracked {
                pid,
                starttime: s.starttime,
            });
            stack.push(pid);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn launched(_exclude: &[i32], _keep: i32) -> Vec<Tracked> {
    Vec::new()
}

/// Collects an exited orphan of memsoak's.
fn reap(pid: i32) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let _ = waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
}

/// Sends `signal` to each process still alive as itself.
pub(crate) fn signal_each(processes: &[Tracked], signal: nix::sys::signal::Signal) {
    for p in processes.iter().filter(|p| p.alive()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), signal);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_tracked_process_is_known_by_pid_and_start_time() {
        let me = std::process::id() as i32;
        let (start, _, _) = stat(me).unwrap();
        let t = Tracked {
            pid: me,
            starttime: start,
        };
        assert!(t.alive());
        assert_eq!(Tracked::parse(&t.to_string()), Some(t));
        // The same pid with another start time is another process.
        let reused = Tracked {
            pid: me,
            starttime: start + 1,
        };
        assert!(!reused.alive());
        assert_eq!(Tracked::parse("12"), None);
    }
}
