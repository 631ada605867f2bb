//! Portable backend through `sysinfo`, for platforms without `/proc` (and
//! selectable on Linux with `MEMSOAK_SAMPLER=sysinfo`, so it is tested).
//! It reads RSS, open files and CPU time; PSS, anonymous memory, swap and
//! thread counts are not offered portably and stay empty in `samples.csv`.

use std::collections::HashMap;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{Probe, ProbeError, Sample, Tree, Want};

/// The `sysinfo` probe.
pub(crate) struct SysinfoProbe {
    system: System,
    last_cpu_ms: HashMap<(Pid, u64), u64>,
    last_at: Option<std::time::Instant>,
}

impl SysinfoProbe {
    /// A probe with no history.
    pub(crate) fn new() -> Result<SysinfoProbe, ProbeError> {
        let system = System::new().map_err(|e| ProbeError::Other(format!("sysinfo: {e}")))?;
        Ok(SysinfoProbe {
            system,
            last_cpu_ms: HashMap::new(),
            last_at: None,
        })
    }
}

impl Probe for SysinfoProbe {
    fn read(&mut self, spec: &Tree, _want: Want) -> Result<Sample, ProbeError> {
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_memory()
                .with_cpu()
                .without_tasks(),
        );
        let now = std::time::Instant::now();
        let procs = self.system.processes();
        // A launched target is walked from memsoak itself (its subreaper),
        // which is not measured, nor are its helpers.
        let me = Pid::from_u32(std::process::id());
        let (root, exclude): (Pid, Vec<Pid>) = match spec {
            Tree::None => return Err(ProbeError::Other("no process tree to read".into())),
            // memsoak never measures itself inside an attached tree (unless
            // it is the very process attached to).
            Tree::Attached { root } => {
                let root = Pid::from_u32(*root);
                (root, if root == me { Vec::new() } else { vec![me] })
            }
            Tree::Launched { exclude, .. } => (
                me,
                exclude
                    .iter()
                    .chain(crate::helper_processes::current().iter())
                    .map(|p| Pid::from_u32(*p))
                    .collect(),
            ),
        };
        if !procs.contains_key(&root) {
            return Err(ProbeError::RootGone);
        }
        let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
        for (pid, p) in procs {
            if p.thread_kind().is_none() {
                if let Some(parent) = p.parent() {
                    children.entry(parent).or_default().push(*pid);
                }
            }
        }
        let mut r = Sample {
            rss_bytes: Some(0),
            fds: Some(0),
            ..Sample::default()
        };
        let mut stack = vec![root];
        let mut cpu = HashMap::new();
        let mut cpu_ms_delta = 0u64;
        while let Some(pid) = stack.pop() {
            let Some(p) = procs.get(&pid) else { continue };
            if exclude.contains(&pid) {
                continue;
            }
            stack.extend(children.get(&pid).into_iter().flatten().copied());
            if pid == me && root == me {
                continue;
            }
            r.processes += 1;
            r.rss_bytes = r.rss_bytes.map(|t| t + p.memory());
            r.fds = match (r.fds, p.open_files()) {
                (Some(t), Some(n)) => Some(t + n as u64),
                _ => None,
            };
            let key = (pid, p.start_time());
            let total = p.accumulated_cpu_time();
            cpu_ms_delta += total.saturating_sub(self.last_cpu_ms.get(&key).copied().unwrap_or(0));
            cpu.insert(key, total);
        }
        if r.processes == 0 {
            return Err(ProbeError::Other(
                "no process of the target is alive".into(),
            ));
        }
        if let Some(last) = self.last_at {
            let wall = now.duration_since(last).as_secs_f64();
            if wall > 0.0 {
                r.cpu_percent = Some(cpu_ms_delta as f64 / 1000.0 / wall * 100.0);
            }
        }
        self.last_cpu_ms = cpu;
        self.last_at = Some(now);
        Ok(r)
    }

    fn unavailable(&self) -> &'static [&'static str] {
        &["pss_bytes", "anon_bytes", "swap_bytes", "threads"]
    }
}
