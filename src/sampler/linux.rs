//! Linux backend: reads `/proc` through the `procfs` crate.
//!
//! Per tick it lists every process once (`/proc/*/stat`) to find the
//! target's descendants, including ones born since the last tick and, for a
//! launched target, members of its process group that were re-parented.
//! For each member it reads `status` (VmRSS, RssAnon, VmSwap, Threads), the
//! size of `fd/`, CPU ticks from `stat`, and, when due, `smaps_rollup` (Pss;
//! it walks page tables, so it runs on its own, slower cadence).

use std::collections::HashMap;

use procfs::process::{all_processes, Process};

use super::{Probe, ProbeError, ProcessSummary, Sample, Tree};

/// The `/proc` probe.
pub(crate) struct ProcProbe {
    ticks_per_second: f64,
    /// CPU ticks per (pid, start time) at the previous reading; rebuilt every
    /// tick, so it holds only live processes.
    last_cpu: HashMap<(i32, u64), u64>,
    last_at: Option<std::time::Instant>,
    /// The tree's processes at the last reading (replaced every tick).
    last_tree: Vec<ProcessSummary>,
}

impl Default for ProcProbe {
    fn default() -> Self {
        ProcProbe::new()
    }
}

impl ProcProbe {
    /// A probe with no history.
    pub(crate) fn new() -> ProcProbe {
        ProcProbe {
            ticks_per_second: procfs::ticks_per_second() as f64,
            last_cpu: HashMap::new(),
            last_at: None,
            last_tree: Vec::new(),
        }
    }
}

struct Member {
    pid: i32,
    ppid: i32,
    starttime: u64,
    cpu_ticks: u64,
}

/// The processes of `spec`: an attached root and its descendants, or
/// memsoak's descendants and the target's group less memsoak's helpers.
fn tree(spec: &Tree) -> Result<Vec<Member>, ProbeError> {
    let me = std::process::id() as i32;
    let (root, group, exclude): (i32, Option<i32>, Vec<i32>) = match spec {
        // memsoak never measures itself inside an attached tree (unless it
        // is the very process attached to, as in its own heap test).
        Tree::Attached { root } => {
            let root = i32::try_from(*root).map_err(|_| ProbeError::RootGone)?;
            (root, None, if root == me { Vec::new() } else { vec![me] })
        }
        Tree::Launched { group, exclude } => (
            me,
            Some(*group),
            exclude.iter().map(|p| *p as i32).chain([me]).collect(),
        ),
    };
    let launched = matches!(spec, Tree::Launched { .. });
    let mut all = Vec::new();
    let mut root_found = false;
    let procs =
        all_processes().map_err(|e| ProbeError::Other(format!("cannot list /proc: {e}")))?;
    for p in procs.flatten() {
        // A process may end between listing and reading: skip it.
        let Ok(stat) = p.stat() else { continue };
        if stat.state == 'Z' {
            continue;
        }
        root_found |= stat.pid == root;
        all.push((
            stat.pid,
            stat.ppid,
            stat.pgrp,
            stat.starttime,
            stat.utime + stat.stime,
        ));
    }
    if !root_found && !launched {
        return Err(ProbeError::RootGone);
    }
    let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, p) in all.iter().enumerate() {
        children.entry(p.1).or_default().push(i);
    }
    let mut member = vec![false; all.len()];
    let mut stack: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, p)| p.0 == root || group.is_some_and(|g| p.2 == g))
        .map(|(i, _)| i)
        .collect();
    // memsoak's helpers (and memsoak itself, for a launched target) are
    // walked through or left out, never measured.
    let excluded = |pid: i32| exclude.contains(&pid);
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut member[i], true) {
            continue;
        }
        let pid = all[i].0;
        if excluded(pid) && pid != me {
            continue;
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids.iter().copied().filter(|&k| !member[k]));
        }
    }
    Ok(all
        .into_iter()
        .zip(member)
        .filter(|(p, m)| *m && !excluded(p.0))
        .map(|(p, _)| Member {
            pid: p.0,
            ppid: p.1,
            starttime: p.3,
            cpu_ticks: p.4,
        })
        .collect())
}

impl Probe for ProcProbe {
    fn read(&mut self, spec: &Tree, want_pss: bool) -> Result<Sample, ProbeError> {
        let members = tree(spec)?;
        let now = std::time::Instant::now();
        let mut r = Sample {
            pss_bytes: want_pss.then_some(0),
            anon_bytes: Some(0),
            swap_bytes: Some(0),
            fds: Some(0),
            threads: Some(0),
            ..Sample::default()
        };
        let mut cpu_ticks_delta = 0u64;
        let mut cpu = HashMap::with_capacity(members.len());
        let mut tree = Vec::with_capacity(members.len());
        for m in members {
            let Ok(p) = Process::new(m.pid) else { continue };
            let Ok(status) = p.status() else { continue };
            r.processes += 1;
            tree.push(ProcessSummary {
                pid: m.pid,
                ppid: m.ppid,
                name: status.name.clone(),
                rss_bytes: status.vmrss.unwrap_or(0) * 1024,
                anon_bytes: status.rssanon.map(|kb| kb * 1024),
                threads: status.threads,
            });
            r.rss_bytes += status.vmrss.unwrap_or(0) * 1024;
            add(&mut r.anon_bytes, status.rssanon.map(|kb| kb * 1024));
            add(&mut r.swap_bytes, status.vmswap.map(|kb| kb * 1024));
            add(&mut r.threads, Some(status.threads));
            add(&mut r.fds, p.fd_count().ok().map(|n| n as u64));
            if want_pss {
                let pss = p.smaps_rollup().ok().and_then(|s| {
                    s.memory_map_rollup
                        .0
                        .first()
                        .and_then(|m| m.extension.map.get("Pss").copied())
                });
                add(&mut r.pss_bytes, pss);
            }
            let before = self
                .last_cpu
                .get(&(m.pid, m.starttime))
                .copied()
                .unwrap_or(0);
            cpu_ticks_delta += m.cpu_ticks.saturating_sub(before);
            cpu.insert((m.pid, m.starttime), m.cpu_ticks);
        }
        if r.processes == 0 {
            return Err(match spec {
                Tree::Attached { .. } => ProbeError::RootGone,
                // The run decides what an empty launched tree means.
                Tree::Launched { .. } => {
                    ProbeError::Other("no process of the target is alive".into())
                }
            });
        }
        if let Some(last) = self.last_at {
            let wall = now.duration_since(last).as_secs_f64();
            if wall > 0.0 {
                r.cpu_percent = Some(cpu_ticks_delta as f64 / self.ticks_per_second / wall * 100.0);
            }
        }
        self.last_cpu = cpu;
        self.last_at = Some(now);
        self.last_tree = tree;
        Ok(r)
    }

    fn unavailable(&self) -> &'static [&'static str] {
        &[]
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        self.last_tree.clone()
    }
}

/// Adds to a total that becomes unknown as soon as one part is unknown
/// (e.g. a process of another user whose smaps are unreadable).
fn add(total: &mut Option<u64>, part: Option<u64>) {
    *total = match (*total, part) {
        (Some(t), Some(p)) => Some(t + p),
        _ => None,
    };
}
