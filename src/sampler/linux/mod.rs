//! Linux backend: reads `/proc` at a cost that grows with the tree, not
//! with the host.
//!
//! Each tick walks the tree from its root through the children files of
//! each member's threads ([`crate::sampler::linux::proc`]): an attached root and its
//! descendants, or, for a launched target, memsoak's own descendants (it
//! is their subreaper, so orphans come back to it) less its helpers. A
//! process that was a member and is still alive but no longer reached (it
//! was re-parented out of the tree) stays a member, walked as a root of its
//! own, until it ends. For a launched target, members of the target's
//! process group that are nowhere in memsoak's tree (only possible when
//! memsoak could not become a subreaper) are searched for with a full
//! `/proc` scan every [`GROUP_RESCAN`]; on a kernel without children files
//! every tick is a full scan, as it had to be before.
//!
//! Each member's `stat` (parent, state, threads, CPU ticks), `statm` (RSS
//! and anonymous pages) and `fd` directory are kept open and re-read; on a
//! PSS tick `smaps_rollup` (Pss and Swap: it walks page tables, so it runs
//! on its own, slower cadence, and `swap_bytes` is filled on those ticks).

use std::collections::HashMap;
use std::time::{Duration, Instant};

mod detail;
pub(crate) mod proc;

use crate::recording::breakdown::Breakdown;
use proc::{
    self as lp, parse_rollup, parse_stat, parse_statm, ChildrenReader, FdCounter, Mapping,
    ProcFile, Rollup, Stat,
};

use super::{Probe, ProbeError, ProcReading, ProcessInfo, ProcessSummary, Sample, Tree, Want};

/// How often a launched target's process group is searched for on the
/// whole host when memsoak is not the target's subreaper.
pub(crate) const GROUP_RESCAN: Duration = Duration::from_secs(10);

/// The `/proc` probe.
pub(crate) struct ProcProbe {
    ticks_per_second: f64,
    page_size: u64,
    /// Children files exist on this kernel (else every tick scans /proc).
    children_files: bool,
    /// `fstat` of an `fd` directory gives its count.
    fd_size_counts: bool,
    /// The tree's processes by pid, with their open files and last values.
    members: HashMap<i32, Member>,
    /// memsoak's own `stat` and children, for a launched target's walk.
    own_stat: Option<ProcFile>,
    own_children: ChildrenReader,
    /// Counts walks, so a member knows whether this walk reached it.
    walk: u64,
    /// Group members found by the last full scan (launched, no subreaper).
    group_roots: Vec<i32>,
    group_scanned: Option<Instant>,
    last_at: Option<Instant>,
    // Scratch reused on every tick, so a tick allocates nothing once the
    // tree is known.
    buf: Vec<u8>,
    stack: Vec<i32>,
    found: Vec<i32>,
    scan_parents: Vec<(i32, i32, i32)>,
    /// The walked members at the last walk, for `processes.csv`.
    readings: Vec<ProcReading>,
    // Scratch of detail ticks.
    maps: Vec<Mapping>,
    sockets: Vec<u64>,
    namespaces: Vec<(Vec<u8>, i32)>,
    /// memsoak's own network namespace, and a sock_diag socket in it
    /// (`Err` once it could not be opened).
    own_netns: Option<Vec<u8>>,
    diag: Option<Result<lp::SockDiag, ()>>,
}

impl Default for ProcProbe {
    fn default() -> Self {
        ProcProbe::new()
    }
}

/// One process of the tree: its files, kept open, and its last reading.
struct Member {
    starttime: u64,
    ppid: i32,
    name: String,
    stat: ProcFile,
    statm: ProcFile,
    rollup: Option<ProcFile>,
    fds: Option<FdCounter>,
    children: ChildrenReader,
    /// The walk that last reached it (or kept it as a process that left).
    walk: u64,
    threads: u64,
    /// CPU ticks at the previous tick (none yet for a new member: its
    /// whole CPU time so far counts towards the tick it is found on).
    cpu_ticks: u64,
    cpu_before: u64,
    rss_bytes: u64,
    anon_bytes: Option<u64>,
    pss_bytes: Option<u64>,
    /// `status` and `smaps`, opened on the first detail tick.
    status: Option<ProcFile>,
    smaps: Option<ProcFile>,
    /// `/proc/PID/mem`, for malloc's chunk headers; `Err` once refused.
    mem: Option<Result<lp::ProcMem, ()>>,
}

impl Member {
    /// Opens a process's files; `None` if it is gone or a zombie.
    fn open(pid: i32, buf: &mut Vec<u8>, fd_size_counts: bool) -> Option<Member> {
        let stat = ProcFile::open(&format!("/proc/{pid}/stat")).ok()?;
        let (s, name) = parse_stat(stat.read(buf).ok()?)?;
        if s.is_zombie() {
            return None;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let statm = ProcFile::open(&format!("/proc/{pid}/statm")).ok()?;
        Some(Member {
            starttime: s.starttime,
            ppid: s.ppid,
            name,
            stat,
            statm,
            rollup: None,
            // Another user's process may hide its fds: the count is then
            // unknown, not zero.
            fds: FdCounter::open(pid, fd_size_counts).ok(),
            children: ChildrenReader::new(pid),
            walk: 0,
            threads: s.threads,
            cpu_ticks: s.cpu_ticks,
            cpu_before: 0,
            rss_bytes: 0,
            anon_bytes: None,
            pss_bytes: None,
            status: None,
            smaps: None,
            mem: None,
        })
    }

    /// Re-reads `stat`; `None` once the process has ended (its files then
    /// fail, even if the pid is reused) or is a zombie.
    fn refresh_stat(&mut self, buf: &mut Vec<u8>) -> Option<Stat> {
        let (s, name) = parse_stat(self.stat.read(buf).ok()?)?;
        if s.is_zombie() || s.starttime != self.starttime {
            return None;
        }
        // The name changes on exec: allocate only then.
        if name != self.name.as_bytes() {
            self.name = String::from_utf8_lossy(name).into_owned();
        }
        self.ppid = s.ppid;
        self.threads = s.threads;
        self.cpu_ticks = s.cpu_ticks;
        Some(s)
    }
}

impl ProcProbe {
    /// A probe with no history.
    pub(crate) fn new() -> ProcProbe {
        ProcProbe::with_children_files(lp::children_files_supported())
    }

    /// A probe that walks children files or, if `children_files` is false,
    /// scans all of `/proc` on every tick (the fallback, also benchmarked).
    pub(crate) fn with_children_files(children_files: bool) -> ProcProbe {
        ProcProbe {
            ticks_per_second: lp::ticks_per_second() as f64,
            page_size: lp::page_size(),
            children_files,
            fd_size_counts: lp::fd_dir_size_counts(),
            members: HashMap::new(),
            own_stat: ProcFile::open(&format!("/proc/{}/stat", std::process::id())).ok(),
            own_children: ChildrenReader::new(std::process::id() as i32),
            walk: 0,
            group_roots: Vec::new(),
            group_scanned: None,
            last_at: None,
            buf: Vec::with_capacity(4096),
            stack: Vec::new(),
            found: Vec::new(),
            scan_parents: Vec::new(),
            readings: Vec::new(),
            maps: Vec::new(),
            sockets: Vec::new(),
            namespaces: Vec::new(),
            own_netns: netns_of("self"),
            diag: None,
        }
    }

    /// Marks this walk's members (`self.members[pid].walk == self.walk`),
    /// opening new ones and dropping ended ones. Errs if an attached root
    /// is gone.
    fn find_tree(&mut self, spec: &Tree) -> Result<(), ProbeError> {
        self.walk += 1;
        let me = std::process::id() as i32;
        self.stack.clear();
        if !self.children_files {
            self.scan_children();
        }
        let exclude: &[u32] = match spec {
            Tree::None => return Err(ProbeError::Other("no process tree to read".into())),
            Tree::Attached { root } => {
                let root = i32::try_from(*root).map_err(|_| ProbeError::RootGone)?;
                self.stack.push(root);
                &[]
            }
            Tree::Launched { exclude, group } => {
                self.found.clear();
                if self.children_files {
                    let threads = self
                        .own_stat
                        .as_ref()
                        .and_then(|f| parse_stat(f.read(&mut self.buf).ok()?))
                        .map_or(1, |(s, _)| s.threads);
                    let _ = self
                        .own_children
                        .read(threads, &mut self.buf, &mut self.found);
                } else {
                    self.found
                        .extend(self.scan_parents.iter().filter(|p| p.1 == me).map(|p| p.0));
                }
                self.stack.extend(self.found.iter().copied());
                self.rescan_group(*group);
                self.stack.extend(self.group_roots.iter().copied());
                exclude
            }
        };
        let attached_root = match spec {
            Tree::Attached { root } => Some(*root as i32),
            Tree::Launched { .. } | Tree::None => None,
        };
        let helpers = crate::helper_processes::current();
        loop {
            while let Some(pid) = self.stack.pop() {
                // memsoak and its helpers are never measured, nor walked
                // through (an attached tree that holds memsoak, unless it
                // is the very process attached to, as in its heap test).
                let helper =
                    exclude.contains(&(pid as u32)) || helpers.contains(&(pid as u32)) || pid == me;
                if helper && attached_root != Some(pid) {
                    continue;
                }
                self.visit(pid);
            }
            // Members not reached but alive have left the tree (re-parented
            // elsewhere): still the target's, walked from themselves.
            let walk = self.walk;
            let buf = &mut self.buf;
            self.members
                .retain(|_, m| m.walk == walk || m.refresh_stat(buf).is_some());
            self.stack.extend(
                self.members
                    .iter()
                    .filter(|(_, m)| m.walk != walk)
                    .map(|(pid, _)| *pid),
            );
            if self.stack.is_empty() {
                break;
            }
        }
        if let Some(root) = attached_root {
            if self.members.get(&root).is_none_or(|m| m.walk != self.walk) {
                return Err(ProbeError::RootGone);
            }
        }
        Ok(())
    }

    /// Reads one process of the tree and queues its children.
    fn visit(&mut self, pid: i32) {
        let walk = self.walk;
        let known = match self.members.get_mut(&pid) {
            Some(m) if m.walk == walk => return,
            Some(m) => m.refresh_stat(&mut self.buf).is_some(),
            None => false,
        };
        if !known {
            // New, or its pid was reused by another process since.
            self.members.remove(&pid);
            match Member::open(pid, &mut self.buf, self.fd_size_counts) {
                Some(m) => {
                    self.members.insert(pid, m);
                }
                None => return,
            }
        }
        let Some(m) = self.members.get_mut(&pid) else {
            return;
        };
        m.walk = walk;
        if self.children_files {
            self.found.clear();
            let _ = m.children.read(m.threads, &mut self.buf, &mut self.found);
            self.stack.extend(self.found.iter().copied());
        } else {
            self.stack.extend(
                self.scan_parents
                    .iter()
                    .filter(|(_, ppid, _)| *ppid == pid)
                    .map(|(child, _, _)| *child),
            );
        }
    }

    /// Without children files: who is whose child, from a full scan.
    fn scan_children(&mut self) {
        self.scan_parents.clear();
        let parents = &mut self.scan_parents;
        let _ = lp::scan_all(&mut self.buf, |pid, s| {
            if !s.is_zombie() {
                parents.push((pid, s.ppid, s.pgrp));
            }
        });
    }

    /// For a launched target when memsoak is not its subreaper (or the
    /// kernel has no children files): members of its process group, from
    /// a full scan at most every [`GROUP_RESCAN`].
    fn rescan_group(&mut self, group: i32) {
        if self.children_files && nix::sys::prctl::get_child_subreaper().unwrap_or(false) {
            return;
        }
        if !self.children_files {
            // The tick's own full scan sees the group.
            self.group_roots.clear();
            self.group_roots.extend(
                self.scan_parents
                    .iter()
                    .filter(|p| p.2 == group)
                    .map(|p| p.0),
            );
            return;
        }
        if self
            .group_scanned
            .is_some_and(|t| t.elapsed() < GROUP_RESCAN)
        {
            return;
        }
        self.group_scanned = Some(Instant::now());
        let roots = &mut self.group_roots;
        roots.clear();
        let _ = lp::scan_all(&mut self.buf, |pid, s| {
            if s.pgrp == group && !s.is_zombie() {
                roots.push(pid);
            }
        });
    }
    /// Reads the members of the last walk: RSS, anonymous memory and open
    /// files, PSS and swap if `want_pss`, threads and CPU (over the time
    /// since the last such tick) if `full`. Also says whether a member was
    /// found gone.
    fn measure(&mut self, want_pss: bool, full: bool) -> (Sample, bool) {
        let now = Instant::now();
        let mut r = Sample {
            rss_bytes: Some(0),
            pss_bytes: want_pss.then_some(0),
            anon_bytes: Some(0),
            swap_bytes: want_pss.then_some(0),
            fds: Some(0),
            threads: full.then_some(0),
            ..Sample::default()
        };
        let mut vanished = false;
        let mut cpu_ticks_delta = 0u64;
        let walk = self.walk;
        let page = self.page_size;
        for (pid, m) in self.members.iter_mut().filter(|(_, m)| m.walk == walk) {
            // A process may end between the walk and these reads: it is
            // left out of this tick.
            // (A zombie's `statm` reads as zeros: it has ended too.)
            let Some(statm) = m
                .statm
                .read(&mut self.buf)
                .ok()
                .and_then(parse_statm)
                .filter(|s| s.resident > 0)
            else {
                m.walk = 0;
                vanished = true;
                continue;
            };
            let rollup = match want_pss.then(|| read_rollup(m, *pid, &mut self.buf)) {
                Some(Some(rollup)) => Some(rollup),
                // Ended, or exiting (its memory already released, not yet
                // a zombie): left out of this tick.
                Some(None) => {
                    m.walk = 0;
                    vanished = true;
                    continue;
                }
                None => None,
            };
            r.processes += 1;
            m.rss_bytes = statm.resident * page;
            m.anon_bytes = Some(statm.resident.saturating_sub(statm.shared) * page);
            add(&mut r.rss_bytes, Some(m.rss_bytes));
            add(&mut r.anon_bytes, m.anon_bytes);
            if full {
                add(&mut r.threads, Some(m.threads));
            }
            add(&mut r.fds, m.fds.as_mut().and_then(|f| f.count().ok()));
            if let Some(rollup) = rollup {
                m.pss_bytes = rollup.pss_kb.map(|kb| kb * 1024);
                add(&mut r.pss_bytes, m.pss_bytes);
                add(&mut r.swap_bytes, rollup.swap_kb.map(|kb| kb * 1024));
            }
            if full {
                cpu_ticks_delta += m.cpu_ticks.saturating_sub(m.cpu_before);
                m.cpu_before = m.cpu_ticks;
            }
        }
        if full {
            self.walked(now, cpu_ticks_delta, want_pss, &mut r);
        }
        (r, vanished)
    }

    /// After a walk of the tree: each member's reading for
    /// `processes.csv`, and the tree's CPU since the last walk.
    fn walked(&mut self, now: Instant, cpu_ticks_delta: u64, pss: bool, r: &mut Sample) {
        let (walk, tps) = (self.walk, self.ticks_per_second);
        self.readings.clear();
        self.readings
            .extend(
                self.members
                    .iter()
                    .filter(|(_, m)| m.walk == walk)
                    .map(|(pid, m)| ProcReading {
                        pid: *pid,
                        start_s: m.starttime as f64 / tps,
                        rss_bytes: m.rss_bytes,
                        anon_bytes: m.anon_bytes,
                        pss_bytes: m.pss_bytes.filter(|_| pss),
                    }),
            );
        if let Some(last) = self.last_at {
            let wall = now.duration_since(last).as_secs_f64();
            if wall > 0.0 {
                r.cpu_percent = Some(cpu_ticks_delta as f64 / tps / wall * 100.0);
            }
        }
        self.last_at = Some(now);
    }
}

/// A member's `smaps_rollup`: its PSS and swap; unknown (zeros, `None`
/// fields) for another user's process; `None` when it has ended.
fn read_rollup(m: &mut Member, pid: i32, buf: &mut Vec<u8>) -> Option<Rollup> {
    match read_bound(&mut m.rollup, || format!("/proc/{pid}/smaps_rollup"), buf) {
        Ok((n, _)) => Some(parse_rollup(&buf[..n])).filter(|r| r.pss_kb.is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(Rollup::default()),
        Err(_) => None,
    }
}

impl Probe for ProcProbe {
    fn read(&mut self, spec: &Tree, want: Want) -> Result<Sample, ProbeError> {
        let full = want.tree || self.walk == 0;
        if full {
            self.find_tree(spec)?;
        }
        let (mut r, vanished) = self.measure(want.pss, full);
        if vanished && !full {
            // A member ended since the tree was last walked: walk it now,
            // so an ended root or a replacement worker is seen at once.
            self.find_tree(spec)?;
            r = self.measure(want.pss, true).0;
        }
        if r.processes == 0 {
            return Err(match spec {
                Tree::Attached { .. } => ProbeError::RootGone,
                // The run decides what an empty launched tree means.
                Tree::Launched { .. } | Tree::None => {
                    ProbeError::Other("no process of the target is alive".into())
                }
            });
        }
        Ok(r)
    }

    fn unavailable(&self) -> &'static [&'static str] {
        &[]
    }

    fn breakdown(&mut self, smaps: bool) -> Option<Breakdown> {
        self.detail(smaps)
    }

    fn readings(&self) -> &[ProcReading] {
        &self.readings
    }

    fn name(&self, pid: i32) -> Option<&str> {
        self.members.get(&pid).map(|m| m.name.as_str())
    }

    fn describe(&self, pid: i32) -> Option<ProcessInfo> {
        let m = self.members.get(&pid)?;
        let mut buf = Vec::new();
        let command = lp::read_once(&format!("/proc/{pid}/cmdline"), &mut buf)
            .map(|text| {
                text.split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        Some(ProcessInfo {
            name: m.name.clone(),
            command,
        })
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        let mut tree: Vec<ProcessSummary> = self
            .members
            .iter()
            .filter(|(_, m)| m.walk == self.walk)
            .map(|(pid, m)| ProcessSummary {
                pid: *pid,
                ppid: m.ppid,
                name: m.name.clone(),
                rss_bytes: m.rss_bytes,
                anon_bytes: m.anon_bytes,
                threads: m.threads,
            })
            .collect();
        tree.sort_by_key(|p| p.pid);
        tree
    }
}

/// A process's network namespace (`net:[inode]`); `who` is a pid or `self`.
fn netns_of(who: &str) -> Option<Vec<u8>> {
    let link = std::fs::read_link(format!("/proc/{who}/ns/net")).ok()?;
    Some(std::os::unix::ffi::OsStrExt::as_bytes(link.as_os_str()).to_vec())
}

/// Reads a file that is bound to the process's memory when opened
/// (`smaps_rollup`, `smaps`): after an exec that memory is gone and reads
/// fail, so a failed read opens the file again once. Returns the length
/// read into `buf` and whether the file was (re)opened.
fn read_bound(
    slot: &mut Option<ProcFile>,
    path: impl FnOnce() -> String,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    if let Some(f) = slot.as_ref() {
        if let Ok(text) = f.read(buf) {
            if !text.is_empty() {
                return Ok((text.len(), false));
            }
        }
    }
    let f = ProcFile::open(&path())?;
    let n = f.read(buf)?.len();
    *slot = Some(f);
    Ok((n, true))
}

/// Adds to a total that becomes unknown as soon as one part is unknown
/// (e.g. a process of another user whose smaps are unreadable).
fn add(total: &mut Option<u64>, part: Option<u64>) {
    *total = match (*total, part) {
        (Some(t), Some(p)) => Some(t + p),
        _ => None,
    };
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command};
    use std::time::Duration;

    use super::*;

    const WALK: Want = Want {
        pss: false,
        tree: true,
    };
    const CHEAP: Want = Want {
        pss: false,
        tree: false,
    };

    /// A shell running `script`, killed when dropped (also when a test
    /// fails half-way, so no loop outlives the test).
    struct Shell(Child);

    impl Drop for Shell {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    impl Shell {
        fn id(&self) -> u32 {
            self.0.id()
        }
    }

    fn shell(script: &str) -> Shell {
        Shell(Command::new("sh").arg("-c").arg(script).spawn().unwrap())
    }

    fn attached(child: &Shell) -> Tree {
        Tree::Attached { root: child.id() }
    }

    fn pids(probe: &ProcProbe) -> Vec<i32> {
        probe.processes().iter().map(|p| p.pid).collect()
    }

    fn end(child: Shell) {
        drop(child);
    }

    #[test]
    fn finds_workers_born_later_and_counts_the_tree() {
        let root = shell("sleep 0.5; sleep 30 & sleep 30 & wait");
        let tree = attached(&root);
        let mut probe = ProcProbe::new();
        let first = probe.read(&tree, Want::ALL).unwrap();
        assert!(first.processes >= 1);
        std::thread::sleep(Duration::from_millis(1200));
        let later = probe.read(&tree, Want::ALL).unwrap();
        assert_eq!(later.processes, 3, "{:?}", probe.processes());
        assert!(later.rss_bytes.unwrap() > 0 && later.anon_bytes.unwrap() > 0);
        assert!(later.pss_bytes.unwrap() > 0 && later.swap_bytes.is_some());
        assert_eq!(later.threads, Some(3));
        assert!(later.fds.unwrap() >= 3);
        // A tick without PSS leaves PSS and swap unread, not zero; one
        // without the tree leaves threads and CPU unread.
        let cheap = probe.read(&tree, CHEAP).unwrap();
        assert_eq!((cheap.pss_bytes, cheap.swap_bytes), (None, None));
        assert_eq!((cheap.threads, cheap.cpu_percent), (None, None));
        assert_eq!(cheap.processes, 3);
        assert!(probe.read(&tree, WALK).unwrap().cpu_percent.is_some());
        // The full-scan fallback sees the same tree.
        let mut scan = ProcProbe::with_children_files(false);
        scan.read(&tree, WALK).unwrap();
        assert_eq!(pids(&scan), pids(&probe));
        end(root);
        for _ in 0..50 {
            // Even a tick that does not walk the tree notices the root's end.
            if probe.read(&tree, CHEAP) == Err(ProbeError::RootGone) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the root's end was not noticed");
    }

    #[test]
    fn a_process_that_leaves_the_tree_stays_measured_until_it_ends() {
        // The middle shell starts a worker and exits: the worker is
        // re-parented out of the attached tree.
        let root = shell("sh -c 'sleep 30 & sleep 0.6' & wait; sleep 30");
        let tree = attached(&root);
        let mut probe = ProcProbe::new();
        std::thread::sleep(Duration::from_millis(300));
        let before = probe.read(&tree, WALK).unwrap();
        let worker = probe
            .processes()
            .into_iter()
            .find(|p| p.name == "sleep" && p.ppid != root.id() as i32)
            .expect("the worker");
        assert!(before.processes >= 4, "{:?}", probe.processes());
        std::thread::sleep(Duration::from_millis(1200));
        probe.read(&tree, WALK).unwrap();
        let now = probe.processes();
        assert!(now.iter().any(|p| p.pid == worker.pid), "{now:?}");
        assert_ne!(
            now.iter().find(|p| p.pid == worker.pid).unwrap().ppid,
            worker.ppid
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(worker.pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        probe.read(&tree, WALK).unwrap();
        assert!(!pids(&probe).contains(&worker.pid));
        end(root);
    }

    #[test]
    fn processes_that_end_between_listing_and_reading_are_skipped() {
        // Short-lived children come and go all the time.
        let root = shell("while :; do /bin/true; /bin/true & wait; done");
        let tree = attached(&root);
        for mut probe in [ProcProbe::new(), ProcProbe::with_children_files(false)] {
            for i in 0..300 {
                let want = Want {
                    pss: true,
                    tree: i % 3 == 0,
                };
                let s = probe.read(&tree, want).unwrap();
                assert!(s.processes >= 1);
                assert!(s.pss_bytes.is_some());
            }
        }
        end(root);
    }
}
