//! A cgroup as the memory source: what the kernel charges to a container
//! (or to any group of processes), including what RSS never shows.
//!
//! Version 2 (`memory.current`, `memory.stat`) and version 1
//! (`memory.usage_in_bytes`, `memory.stat`, the `kmem` files) are told
//! apart by the files the folder holds. Each tick reads two or three small
//! files through kept-open handles, like the `/proc` probe.
//!
//! In `samples.csv`, `anon_bytes` is the cgroup's anonymous memory (judged
//! by default, as for a process tree: a heap leak is anonymous memory,
//! and page cache comes and goes with I/O) and `cgroup_usage_bytes`
//! everything charged to it (`memory.current`, what a memory limit is held
//! against); `rss_bytes` is the process tree's, when memsoak has one. Kernel memory, socket buffers and
//! slab are attribution series (`kernel_bytes`, `sock_bytes`,
//! `slab_bytes` in `breakdown.csv`): a WebSocket server's send buffers to
//! slow clients grow there, outside any heap.
//!
//! For a launched target memsoak can make a fresh child cgroup of its own
//! ([`Fresh`]) and start the target in it, so a command gets cgroup
//! accounting without a container. That needs a writable memory hierarchy:
//! cgroup v1's memory controller as root, or a delegated v2 subtree.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::overlay::{Composed, Overlay};
use super::{CgroupSpec, CgroupSummary, Opened, RunContext, Session, SourceRead, SourceSummary};
use crate::process::spec::LaunchSpec;
use crate::recording::breakdown::Breakdown;
use crate::recording::samples::Sample;
use crate::sampler::{EventKind, Probe, ProbeError, SourceEvent, Tree, Want};

/// Where cgroup file systems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup interface a folder speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The unified hierarchy.
    V2,
    /// The memory controller of the legacy hierarchy.
    V1,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V2 => "v2",
            Version::V1 => "v1",
        })
    }
}

/// One reading of a cgroup, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// Everything charged (`memory.current`, `memory.usage_in_bytes`).
    pub usage: u64,
    /// Anonymous memory (`anon`; v1 `total_rss`).
    pub anon: Option<u64>,
    /// Page cache (`file`; v1 `total_cache`).
    pub file: Option<u64>,
    /// Shared memory and tmpfs (`shmem`).
    pub shmem: Option<u64>,
    /// Kernel memory (`kernel`, or its parts on older kernels; v1
    /// `memory.kmem.usage_in_bytes`).
    pub kernel: Option<u64>,
    /// Socket buffers (`sock`; v1 `memory.kmem.tcp.usage_in_bytes`).
    pub sock: Option<u64>,
    /// Kernel slab (`slab`).
    pub slab: Option<u64>,
    /// Swapped out (`memory.swap.current`; v1 `total_swap`).
    pub swap: Option<u64>,
}

/// Tells the version of the cgroup folder `dir`.
pub fn version_of(dir: &Path) -> anyhow::Result<Version> {
    if dir.join("memory.current").is_file() {
        Ok(Version::V2)
    } else if dir.join("memory.usage_in_bytes").is_file() {
        Ok(Version::V1)
    } else if dir.join("cgroup.procs").is_file() {
        bail!(
            "'{}' is a cgroup without the memory controller (no memory.current or memory.usage_in_bytes): enable it in the parent's cgroup.subtree_control, or give the cgroup's folder in the memory hierarchy",
            dir.display()
        )
    } else {
        bail!(
            "'{}' is not a cgroup folder (no memory.current or memory.usage_in_bytes)",
            dir.display()
        )
    }
}

/// Finds the folder a user means by `given`: a folder as given, or a
/// cgroup path (`/system.slice/x.scope`, as in `/proc/PID/cgroup`) under
/// the v2 mount or the v1 memory mount.
pub fn resolve(given: &Path) -> anyhow::Result<PathBuf> {
    if given.is_dir() {
        return Ok(given.to_path_buf());
    }
    let relative = given.strip_prefix("/").unwrap_or(given);
    for base in [
        PathBuf::from(CGROUP_ROOT),
        Path::new(CGROUP_ROOT).join("unified"),
        Path::new(CGROUP_ROOT).join("memory"),
    ] {
        let candidate = base.join(relative);
        if candidate.is_dir() && version_of(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    bail!(
        "no cgroup '{}': give its folder (e.g. /sys/fs/cgroup/system.slice/NAME.scope) or its path as in /proc/PID/cgroup",
        given.display()
    )
}

/// Reads `path` into `buf` from the start.
fn read_into(file: &mut File, buf: &mut String) -> std::io::Result<()> {
    buf.clear();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(buf)?;
    Ok(())
}

/// Parses `key value` lines; `want(key)` gives the slot of a key.
fn parse_stat(text: &str, mut each: impl FnMut(&str, u64)) {
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        if let (Some(k), Some(v)) = (parts.next(), parts.next()) {
            if let Ok(v) = v.parse::<u64>() {
                each(k, v);
            }
        }
    }
}

/// The `memory.stat` keys of a reading, per version.
fn reading_from_stat(version: Version, stat: &str, usage: u64) -> Reading {
    let mut r = Reading {
        usage,
        ..Reading::default()
    };
    match version {
        Version::V2 => {
            let mut kernel_parts: Option<u64> = None;
            let mut add = |v: u64| *kernel_parts.get_or_insert(0) += v;
            parse_stat(stat, |k, v| match k {
                "anon" => r.anon = Some(v),
                "file" => r.file = Some(v),
                "shmem" => r.shmem = Some(v),
                "kernel" => r.kernel = Some(v),
                "sock" => r.sock = Some(v),
                "slab" => {
                    r.slab = Some(v);
                    add(v);
                }
                // Before Linux 5.18 there is no `kernel` line: its parts.
                "kernel_stack" | "pagetables" | "sec_pagetables" | "percpu" | "vmalloc" => add(v),
                _ => {}
            });
            if r.kernel.is_none() {
                r.kernel = kernel_parts;
            }
        }
        Version::V1 => parse_stat(stat, |k, v| match k {
            "total_rss" => r.anon = Some(v),
            "total_cache" => r.file = Some(v),
            "total_shmem" => r.shmem = Some(v),
            "total_swap" => r.swap = Some(v),
            _ => {}
        }),
    }
    r
}

/// Open handles on one cgroup's files.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    version: Version,
    usage: File,
    stat: File,
    /// v2 `memory.swap.current`, v1 `memory.kmem.usage_in_bytes`.
    extra: Option<File>,
    /// v1 `memory.kmem.tcp.usage_in_bytes`.
    tcp: Option<File>,
    buf: String,
}

impl Cgroup {
    /// Opens the cgroup folder `dir` (checked for its version).
    pub fn open(dir: &Path) -> anyhow::Result<Cgroup> {
        let version = version_of(dir)?;
        let open = |name: &str| {
            let path = dir.join(name);
            File::open(&path).with_context(|| format!("could not read '{}'", path.display()))
        };
        let optional = |name: &str| File::open(dir.join(name)).ok();
        let (usage, extra, tcp) = match version {
            Version::V2 => (
                open("memory.current")?,
                optional("memory.swap.current"),
                None,
            ),
            Version::V1 => (
                open("memory.usage_in_bytes")?,
                optional("memory.kmem.usage_in_bytes"),
                optional("memory.kmem.tcp.usage_in_bytes"),
            ),
        };
        let mut cgroup = Cgroup {
            dir: dir.to_path_buf(),
            version,
            usage,
            stat: open("memory.stat")?,
            extra,
            tcp,
            buf: String::new(),
        };
        cgroup
            .read()
            .with_context(|| format!("could not read the cgroup '{}'", dir.display()))?;
        Ok(cgroup)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its interface version.
    pub fn version(&self) -> Version {
        self.version
    }

    fn number(file: &mut File, buf: &mut String) -> std::io::Result<u64> {
        read_into(file, buf)?;
        buf.trim()
            .parse()
            .map_err(|_| std::io::Error::other(format!("not a number: '{}'", buf.trim())))
    }

    /// Reads the cgroup now.
    pub fn read(&mut self) -> std::io::Result<Reading> {
        let usage = Self::number(&mut self.usage, &mut self.buf)?;
        read_into(&mut self.stat, &mut self.buf)?;
        let mut r = reading_from_stat(self.version, &self.buf, usage);
        let extra = match &mut self.extra {
            Some(f) => Self::number(f, &mut self.buf).ok(),
            None => None,
        };
        match self.version {
            Version::V2 => r.swap = extra,
            Version::V1 => {
                r.kernel = extra;
                if let Some(f) = &mut self.tcp {
                    r.sock = Self::number(f, &mut self.buf).ok();
                }
            }
        }
        Ok(r)
    }

    /// Pids (`cgroup.procs`, sorted) and threads (`cgroup.threads`, v1
    /// `tasks`) in the cgroup and every cgroup below it now: a slice or a
    /// container runtime's parent cgroup holds its processes in children.
    fn members(&self) -> (Vec<i32>, Option<u64>) {
        let mut pids = Vec::new();
        let mut threads = None;
        let mut folders = vec![self.dir.clone()];
        while let Some(dir) = folders.pop() {
            if let Ok(t) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
            let tasks = match self.version {
                Version::V2 => "cgroup.threads",
                Version::V1 => "tasks",
            };
            if let Ok(t) = std::fs::read_to_string(dir.join(tasks)) {
                let n = t.lines().filter(|l| !l.trim().is_empty()).count() as u64;
                threads = Some(threads.unwrap_or(0) + n);
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            folders.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        pids.sort_unstable();
        pids.dedup();
        (pids, threads)
    }
}

/// A child cgroup memsoak made for a launched target, removed on drop
/// (once its processes are gone).
#[derive(Debug)]
pub struct Fresh {
    dir: PathBuf,
}

impl Fresh {
    /// Makes a child of memsoak's own memory cgroup, named after memsoak's
    /// pid. Errs with what the machine lacks.
    pub fn create() -> anyhow::Result<Fresh> {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .context("could not read /proc/self/cgroup")?;
        let name = format!("memsoak-{}", std::process::id());
        // cgroup v1 with a memory hierarchy: `N:memory:/path` (or a
        // controller list holding memory).
        let v1 = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        });
        let v2 = own
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string));
        let mut tried = Vec::new();
        if let Some(path) = v1 {
            let parent = Path::new(CGROUP_ROOT)
                .join("memory")
                .join(path.trim_start_matches('/'));
            match Self::make(&parent, &name) {
                Ok(f) => return Ok(f),
                Err(e) => tried.push(format!("{e:#}")),
            }
        }
        if let Some(path) = v2 {
            for mount in [
                PathBuf::from(CGROUP_ROOT),
                Path::new(CGROUP_ROOT).join("unified"),
            ] {
                if !mount.join("cgroup.controllers").is_file() {
                    continue;
                }
                let parent = mount.join(path.trim_start_matches('/'));
                let controllers =
                    std::fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
                if !controllers.split_whitespace().any(|c| c == "memory") {
                    tried.push(format!(
                        "{}: the memory controller is not available in this v2 hierarchy",
                        mount.display()
                    ));
                    continue;
                }
                // A child gets memory accounting only if its parent hands
                // the controller down.
                let subtree = parent.join("cgroup.subtree_control");
                let enabled = std::fs::read_to_string(&subtree).unwrap_or_default();
                if !enabled.split_whitespace().any(|c| c == "memory") {
                    if let Err(e) = std::fs::write(&subtree, "+memory") {
                        tried.push(format!(
                            "{}: could not enable the memory controller for children ({e}); run memsoak in a delegated cgroup, e.g. `systemd-run --user --scope -p Delegate=yes memsoak run …`",
                            subtree.display()
                        ));
                        continue;
                    }
                }
                match Self::make(&parent, &name) {
                    Ok(f) => return Ok(f),
                    Err(e) => tried.push(format!("{e:#}")),
                }
            }
        }
        if tried.is_empty() {
            tried.push("no memory cgroup hierarchy is mounted".into());
        }
        bail!(
            "could not make a child cgroup for the target: {}",
            tried.join("; ")
        )
    }

    /// Makes `parent/name`. A folder of that name left by a memsoak that
    /// was killed (the pid came round again: pid 1 in a container) is
    /// removed first when nothing runs in it; one still in use gets a
    /// numbered sibling instead.
    fn make(parent: &Path, name: &str) -> anyhow::Result<Fresh> {
        let mut dir = parent.join(name);
        let mut n = 2;
        while dir.exists() {
            let empty = std::fs::read_to_string(dir.join("cgroup.procs"))
                .is_ok_and(|t| t.trim().is_empty());
            if empty && std::fs::remove_dir(&dir).is_ok() {
                tracing::info!("removed '{}', left by an earlier memsoak", dir.display());
                break;
            }
            dir = parent.join(format!("{name}-{n}"));
            n += 1;
        }
        std::fs::create_dir(&dir)
            .with_context(|| format!("could not create '{}'", dir.display()))?;
        let fresh = Fresh { dir };
        version_of(&fresh.dir)?;
        Ok(fresh)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the launched target's process writes before it runs the
    /// command, to move itself in: the path of `cgroup.procs`, as a C
    /// string made before the fork (the child must not allocate).
    pub fn procs_file(&self) -> anyhow::Result<CString> {
        CString::new(self.dir.join("cgroup.procs").as_os_str().as_encoded_bytes())
            .context("the cgroup's path holds a NUL byte")
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        // The folder goes once its processes are gone; memsoak stops the
        // target before this, so a short wait covers their exit.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        tracing::warn!(
            "could not remove the cgroup '{}' memsoak made: remove it with rmdir once its processes are gone",
            self.dir.display()
        );
    }
}

/// A cgroup's overlay on the process tree: the cgroup's memory, with the
/// tree's processes, threads and descriptors when memsoak also has a tree
/// (launched into the cgroup, or attached). Composed with the tree's
/// probe by [`cgroup_probe`].
pub struct CgroupOverlay {
    cgroup: Cgroup,
    last: Option<Reading>,
    /// Processes and threads at the last walk (read on walk ticks only,
    /// like the tree's).
    members: (u32, Option<u64>),
    /// Who is in the cgroup across walks, when it is read alone.
    membership: Membership,
}

/// How long a cgroup read alone may stay empty before the run ends as a
/// target failure: long enough for a service manager's restart
/// (systemd's `RestartSec` is 100 ms by default, seconds where set), short
/// enough not to judge an empty cgroup for a night.
pub const EMPTY_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// The processes of a cgroup read alone, look by look: a restart is every
/// process replaced (or processes back after the cgroup was empty); an
/// empty cgroup that stays empty past [`EMPTY_GRACE`] is gone.
#[derive(Debug, Default)]
struct Membership {
    /// Pids at the last look that found any.
    last: Vec<i32>,
    /// Since when the cgroup has been empty.
    empty_since: Option<std::time::Instant>,
    /// A restart seen, not yet stamped with the run's clock.
    pending: Option<String>,
    events: Vec<SourceEvent>,
}

impl Membership {
    /// One look at `pids` (sorted) at `now`; `Err(RootGone)` once the
    /// cgroup has been empty for the grace.
    fn look(&mut self, pids: &[i32], now: std::time::Instant) -> Result<(), ProbeError> {
        if pids.is_empty() {
            let since = *self.empty_since.get_or_insert(now);
            if now.duration_since(since) >= EMPTY_GRACE {
                return Err(ProbeError::RootGone);
            }
            return Ok(());
        }
        if let Some(since) = self.empty_since.take() {
            if !self.last.is_empty() {
                self.pending = Some(format!(
                    "restart: {} process(es) again after the cgroup was empty for {:.1}s",
                    pids.len(),
                    now.duration_since(since).as_secs_f64()
                ));
            }
        } else if !self.last.is_empty() && !pids.iter().any(|p| self.last.binary_search(p).is_ok())
        {
            self.pending = Some(format!(
                "restart: every process replaced ({} → {})",
                self.last.len(),
                pids.len()
            ));
        }
        self.last = pids.to_vec();
        Ok(())
    }
}

/// The probe of `cgroup`, reading `tree` through `inner` too when given.
pub fn cgroup_probe(cgroup: Cgroup, inner: Option<Box<dyn Probe>>) -> Composed<CgroupOverlay> {
    Composed::new(
        CgroupOverlay {
            cgroup,
            last: None,
            members: (0, None),
            membership: Membership::default(),
        },
        inner,
    )
}

impl Overlay for CgroupOverlay {
    fn read(
        &mut self,
        spec: &Tree,
        tree: Option<&mut (dyn Probe + 'static)>,
        want: Want,
    ) -> Result<Sample, ProbeError> {
        let reading = self.cgroup.read().map_err(|e| {
            if self.cgroup.dir.exists() {
                ProbeError::Other(format!(
                    "could not read the cgroup '{}': {e}",
                    self.cgroup.dir.display()
                ))
            } else {
                // The container stopped: its cgroup went with it.
                ProbeError::RootGone
            }
        })?;
        let first = self.last.is_none();
        self.last = Some(reading);
        let mut sample = match (tree, spec) {
            (Some(inner), Tree::Launched { .. } | Tree::Attached { .. }) => {
                inner.read(spec, want)?
            }
            _ => {
                if want.tree || first {
                    let (pids, threads) = self.cgroup.members();
                    self.membership.look(&pids, std::time::Instant::now())?;
                    self.members = (pids.len() as u32, threads);
                }
                let (processes, threads) = self.members;
                Sample {
                    processes,
                    threads,
                    ..Sample::default()
                }
            }
        };
        // The tree's RSS stays the tree's; the charge has its own column.
        sample.cgroup_usage_bytes = Some(reading.usage);
        sample.anon_bytes = reading.anon;
        sample.pss_bytes = None;
        sample.swap_bytes = reading.swap;
        Ok(sample)
    }

    fn record(&mut self, elapsed_s: f64) -> anyhow::Result<()> {
        if let Some(what) = self.membership.pending.take() {
            self.membership.events.push(SourceEvent::new(
                elapsed_s,
                self.cgroup.dir.display().to_string(),
                EventKind::Restart,
                what,
            ));
        }
        Ok(())
    }

    fn events(&mut self) -> Vec<SourceEvent> {
        std::mem::take(&mut self.membership.events)
    }

    fn unavailable(&self, tree: Option<&'static [&'static str]>) -> &'static [&'static str] {
        if tree.is_some() {
            &["pss_bytes"]
        } else {
            &["rss_bytes", "pss_bytes", "fds", "cpu_percent"]
        }
    }

    fn breakdown(&self, tree: Option<Breakdown>) -> Option<Breakdown> {
        let r = self.last?;
        Some(Breakdown {
            file: r.file,
            shmem: r.shmem,
            swap: r.swap,
            kernel: r.kernel,
            sock: r.sock,
            slab: r.slab,
            ..tree.unwrap_or_default()
        })
    }
}

/// A cgroup through a run: an existing one, read as it is, or a fresh
/// child memsoak makes for the target it launches (removed when the
/// session is dropped, after the target has stopped).
pub struct CgroupSession {
    dir: PathBuf,
    fresh: Option<Fresh>,
}

impl CgroupSession {
    /// Finds and opens the cgroup once (a fresh one is made now).
    pub fn check(spec: &CgroupSpec) -> anyhow::Result<CgroupSession> {
        Ok(match spec {
            CgroupSpec::Existing(path) => {
                let dir = resolve(path)?;
                Cgroup::open(&dir)?;
                CgroupSession { dir, fresh: None }
            }
            CgroupSpec::Fresh => {
                let fresh = Fresh::create()?;
                CgroupSession {
                    dir: fresh.dir().to_path_buf(),
                    fresh: Some(fresh),
                }
            }
        })
    }
}

impl Session for CgroupSession {
    fn check_alone(&self) -> anyhow::Result<()> {
        let cgroup = Cgroup::open(&self.dir)?;
        if cgroup.members().0.is_empty() {
            bail!(
                "the cgroup '{}' has no processes (nor any cgroup below it): nothing runs there to measure; start the service first, or launch it with `--cgroup new -- COMMAND`",
                self.dir.display()
            );
        }
        Ok(())
    }

    fn prepare_target(&self, launch: &mut LaunchSpec) -> anyhow::Result<()> {
        if let Some(f) = &self.fresh {
            launch.cgroup_procs = Some(f.procs_file()?);
        }
        Ok(())
    }

    fn open(&mut self, _run: &RunContext, tree: &Tree) -> anyhow::Result<Opened> {
        let cgroup = Cgroup::open(&self.dir)?;
        let inner = match tree {
            Tree::None => None,
            _ => Some(crate::sampler::default_probe()?),
        };
        let summary = SourceSummary::new(SourceRead::Cgroup(CgroupSummary {
            cgroup: self.dir.display().to_string(),
            cgroup_version: cgroup.version().to_string(),
            cgroup_made: self.fresh.is_some(),
        }));
        Ok(Opened {
            probe: Box::new(cgroup_probe(cgroup, inner)),
            summary,
            fleet: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_whose_processes_are_replaced_restarted_and_one_left_empty_is_gone() {
        let t0 = std::time::Instant::now();
        let at = |s: u64| t0 + std::time::Duration::from_secs(s);
        let mut m = Membership::default();
        assert!(m.look(&[10, 11], at(0)).is_ok());
        // One of two replaced: the same service going on.
        assert!(m.look(&[11, 12], at(1)).is_ok());
        assert_eq!(m.pending, None);
        // Every process replaced between looks: a restart.
        assert!(m.look(&[20], at(2)).is_ok());
        assert!(m.pending.take().unwrap().contains("every process replaced"));
        // Empty for a moment, then back: a restart.
        assert!(m.look(&[], at(3)).is_ok());
        assert!(m.look(&[30], at(5)).is_ok());
        assert!(m.pending.take().unwrap().contains("empty for 2.0s"));
        // Empty past the grace: gone.
        assert!(m.look(&[], at(6)).is_ok());
        assert!(m.look(&[], at(6 + EMPTY_GRACE.as_secs() - 1)).is_ok());
        assert_eq!(
            m.look(&[], at(6 + EMPTY_GRACE.as_secs())),
            Err(ProbeError::RootGone)
        );
    }

    #[test]
    fn v2_stat_gives_the_classes_and_kernel_from_parts_on_older_kernels() {
        let new = "anon 1000\nfile 200\nkernel 300\nsock 40\nshmem 5\nslab 60\n";
        let r = reading_from_stat(Version::V2, new, 2000);
        assert_eq!(
            (r.anon, r.file, r.kernel, r.sock, r.shmem, r.slab),
            (
                Some(1000),
                Some(200),
                Some(300),
                Some(40),
                Some(5),
                Some(60)
            )
        );
        let old = "anon 1\nkernel_stack 10\npagetables 20\npercpu 3\nslab 60\nsock 0\n";
        let r = reading_from_stat(Version::V2, old, 2);
        assert_eq!(r.kernel, Some(93));
        assert_eq!(r.sock, Some(0));
    }

    #[test]
    fn v1_stat_takes_the_hierarchical_totals() {
        let stat = "cache 1\nrss 2\ntotal_cache 100\ntotal_rss 200\ntotal_shmem 3\ntotal_swap 4\n";
        let r = reading_from_stat(Version::V1, stat, 500);
        assert_eq!(
            (r.usage, r.anon, r.file, r.shmem, r.swap),
            (500, Some(200), Some(100), Some(3), Some(4))
        );
    }

    #[test]
    fn a_folder_that_is_no_cgroup_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = version_of(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is not a cgroup folder"), "{e}");
        let e = resolve(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("no cgroup"), "{e}");
    }
}
