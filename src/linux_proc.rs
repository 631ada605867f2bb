//! Cheap reads of `/proc`: what the sampler and the launcher need, at a
//! cost that grows with the measured tree, never with the host.
//!
//! Why hand-rolled rather than through the `procfs` crate (which memsoak
//! still uses off the hot path): a sampling tick must stay invisible next
//! to the process it measures, at 10 Hz and more, on hosts with thousands
//! of processes. `procfs` opens a file per call, reads it into a fresh
//! `String` and parses every field; finding a tree through it means listing
//! every process on the host. Here:
//!
//! - a tree is found from the tree: `/proc/PID/task/TID/children` lists
//!   the children of each thread (Linux ≥ 3.5 with `CONFIG_PROC_CHILDREN`,
//!   checked at start; [`scan_all`] is the fallback);
//! - a process's files are opened once and re-read with `pread` at offset
//!   0 ([`ProcFile`]); an open `/proc/PID/...` file stays bound to that very
//!   process, so once it has ended a read fails (`ESRCH`) instead of
//!   reading a newcomer that reused its pid;
//! - parsers take only the fields needed, from a buffer reused across
//!   ticks, and allocate nothing;
//! - open files are counted with one `fstat` of `/proc/PID/fd` (its size is
//!   the count since Linux 6.2), or by iterating the directory without
//!   collecting it on older kernels.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt};

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// A `/proc` file kept open and re-read from the start on each read.
#[derive(Debug)]
pub(crate) struct ProcFile(File);

impl ProcFile {
    /// Opens `path` (e.g. `/proc/42/stat`).
    pub(crate) fn open(path: &str) -> io::Result<ProcFile> {
        File::open(path).map(ProcFile)
    }

    /// The whole file's current text, read at offset 0 into `buf`.
    pub(crate) fn read<'b>(&self, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
        read_all_at(&self.0, buf)
    }
}

/// Reads `file` from offset 0 to its end into `buf`, growing `buf` only
/// when a file is larger than any read before.
fn read_all_at<'b>(file: &File, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
    if buf.capacity() < 4096 {
        buf.reserve(4096 - buf.len());
    }
    buf.resize(buf.capacity(), 0);
    let mut len = 0;
    loop {
        let n = file.read_at(&mut buf[len..], len as u64)?;
        if n == 0 {
            break;
        }
        len += n;
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
    Ok(&buf[..len])
}

/// Reads a `/proc` file once (open, read, close): for files read rarely.
pub(crate) fn read_once<'b>(path: &str, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
    read_all_at(&File::open(path)?, buf)
}

/// The fields of `/proc/PID/stat` memsoak uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Process state (`R`, `S`, `Z`, ...).
    pub(crate) state: u8,
    /// Parent process id.
    pub(crate) ppid: i32,
    /// Process group.
    pub(crate) pgrp: i32,
    /// User plus system CPU time, clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Threads.
    pub(crate) threads: u64,
    /// Start time, clock ticks after boot.
    pub(crate) starttime: u64,
}

impl Stat {
    /// Whether the process has ended and waits to be reaped.
    pub(crate) fn is_zombie(&self) -> bool {
        self.state == b'Z'
    }
}

/// Parses `/proc/PID/stat`; returns the fields and the command name.
///
/// The name sits in parentheses and may itself hold spaces and
/// parentheses, so the fields start after the *last* `)`.
pub(crate) fn parse_stat(text: &[u8]) -> Option<(Stat, &[u8])> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let name = text.get(open + 1..close)?;
    let mut fields = text.get(close + 2..)?.split(|&b| b == b' ');
    // Field numbers as in proc(5), counted from `state` (field 3).
    let mut next = |skip: usize| -> Option<&[u8]> {
        for _ in 0..skip {
            fields.next()?;
        }
        fields.next()
    };
    let state = *next(0)?.first()?;
    let ppid = number(next(0)?)?;
    let pgrp = number(next(0)?)?;
    let utime: u64 = number(next(8)?)?; // field 14
    let stime: u64 = number(next(0)?)?; // field 15
    let threads = number(next(4)?)?; // field 20
    let starttime = number(next(1)?)?; // field 22
    Some((
        Stat {
            state,
            ppid,
            pgrp,
            cpu_ticks: utime + stime,
            threads,
            starttime,
        },
        name,
    ))
}

/// Resident and shared (file-backed plus shmem) pages, from
/// `/proc/PID/statm`. Their difference is the anonymous resident memory,
/// the same figure as `RssAnon` in `status`, at a fifth of the cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Statm {
    /// Resident pages (VmRSS).
    pub(crate) resident: u64,
    /// Resident file-backed and shared-memory pages (RssFile + RssShmem).
    pub(crate) shared: u64,
}

/// Parses `/proc/PID/statm`.
pub(crate) fn parse_statm(text: &[u8]) -> Option<Statm> {
    let mut fields = text.split(|&b| b == b' ');
    fields.next()?; // size
    Some(Statm {
        resident: number(fields.next()?)?,
        shared: number(fields.next()?)?,
    })
}

/// The totals of `/proc/PID/smaps_rollup` memsoak uses, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rollup {
    /// Proportional set size.
    pub(crate) pss_kb: Option<u64>,
    /// Swapped-out anonymous memory.
    pub(crate) swap_kb: Option<u64>,
}

/// Parses `/proc/PID/smaps_rollup` (`Pss:` and `Swap:` lines; not
/// `Pss_Anon:` or `SwapPss:`).
pub(crate) fn parse_rollup(text: &[u8]) -> Rollup {
    let mut r = Rollup::default();
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Pss:") {
            r.pss_kb = kb_value(rest);
        } else if let Some(rest) = line.strip_prefix(b"Swap:") {
            r.swap_kb = kb_value(rest);
        }
    }
    r
}

/// `"   1234 kB"` → 1234.
fn kb_value(rest: &[u8]) -> Option<u64> {
    let rest = rest.trim_ascii_start();
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    number(&rest[..end])
}

/// Appends the pids listed in a `children` file (space-separated).
pub(crate) fn parse_pids(text: &[u8], out: &mut Vec<i32>) {
    out.extend(
        text.split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .filter_map(number::<i32>),
    );
}

fn number<T: std::str::FromStr>(digits: &[u8]) -> Option<T> {
    std::str::from_utf8(digits.trim_ascii()).ok()?.parse().ok()
}

/// Whether this kernel lists children per thread (`CONFIG_PROC_CHILDREN`).
pub(crate) fn children_files_supported() -> bool {
    let me = std::process::id();
    std::path::Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
}

/// The machine's page size, bytes.
pub(crate) fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64)
}

/// Clock ticks per second (the unit of CPU times and start times).
pub(crate) fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64)
}

/// Whether `fstat` of `/proc/PID/fd` gives the number of open files
/// (Linux ≥ 6.2); memsoak itself always has some open.
pub(crate) fn fd_dir_size_counts() -> bool {
    std::fs::metadata(format!("/proc/{}/fd", std::process::id())).is_ok_and(|m| m.size() > 0)
}

/// The open-file count of one process, from its `fd` directory kept open.
#[derive(Debug)]
pub(crate) struct FdCounter {
    dir: Dir,
    size_counts: bool,
}

impl FdCounter {
    /// Opens `/proc/PID/fd`; `size_counts` from [`fd_dir_size_counts`].
    pub(crate) fn open(pid: i32, size_counts: bool) -> io::Result<FdCounter> {
        let dir = Dir::open(
            format!("/proc/{pid}/fd").as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(FdCounter { dir, size_counts })
    }

    /// Open files now.
    pub(crate) fn count(&mut self) -> io::Result<u64> {
        if self.size_counts {
            let st = nix::sys::stat::fstat(self.dir.as_fd())?;
            return Ok(st.st_size as u64);
        }
        let mut n = 0;
        // The iterator rewinds the directory when dropped.
        for entry in self.dir.iter() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Threads per process whose children files stay open between reads; a
/// process with more has the rest opened on each read, so a tree of many
/// thread-heavy processes cannot use up memsoak's open-file limit.
const KEEP_OPEN_THREADS: usize = 4;

/// The children of every thread of one process, files kept open.
///
/// Children are listed by the thread that forked them (or, for orphans
/// re-parented to a subreaper, by one of its threads), so each thread's
/// file is read. A single-threaded process needs one read; otherwise the
/// `task` directory is listed (no allocation) and the files follow it,
/// up to [`KEEP_OPEN_THREADS`] of them kept open.
#[derive(Debug)]
pub(crate) struct ChildrenReader {
    pid: i32,
    task: Option<Dir>,
    files: Vec<(i32, ProcFile)>,
    tids: Vec<i32>,
}

impl ChildrenReader {
    /// A reader for `pid`; opens files as they are needed.
    pub(crate) fn new(pid: i32) -> ChildrenReader {
        ChildrenReader {
            pid,
            task: None,
            files: Vec::new(),
            tids: Vec::new(),
        }
    }

    /// Appends the pids of the process's children to `out`. `threads` is
    /// the thread count from its `stat`.
    pub(crate) fn read(
        &mut self,
        threads: u64,
        buf: &mut Vec<u8>,
        out: &mut Vec<i32>,
    ) -> io::Result<()> {
        self.tids.clear();
        if threads <= 1 {
            self.tids.push(self.pid);
        } else {
            if self.task.is_none() {
                self.task = Some(Dir::open(
                    format!("/proc/{}/task", self.pid).as_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?);
            }
            if let Some(task) = &mut self.task {
                for entry in task.iter() {
                    if let Some(tid) = number::<i32>(entry?.file_name().to_bytes()) {
                        self.tids.push(tid);
                    }
                }
            }
        }
        let tids = &self.tids;
        self.files.retain(|(tid, _)| tids.contains(tid));
        for &tid in tids {
            let path = |tid| format!("/proc/{}/task/{tid}/children", self.pid);
            if let Some((_, file)) = self.files.iter().find(|(t, _)| *t == tid) {
                // A thread that ended since has handed its children on to
                // another thread of the process, read here too.
                if let Ok(text) = file.read(buf) {
                    parse_pids(text, out);
                }
            } else if self.files.len() < KEEP_OPEN_THREADS {
                // A thread may end between listing and opening.
                if let Ok(file) = ProcFile::open(&path(tid)) {
                    if let Ok(text) = file.read(buf) {
                        parse_pids(text, out);
                    }
                    self.files.push((tid, file));
                }
            } else if let Ok(text) = read_once(&path(tid), buf) {
                parse_pids(text, out);
            }
        }
        Ok(())
    }
}

/// Calls `each(pid, stat)` for every process on the host (threads not
/// included), skipping processes that end while being read: the fallback
/// where children files are missing, and the rare search for members of
/// a process group.
pub(crate) fn scan_all(buf: &mut Vec<u8>, mut each: impl FnMut(i32, &Stat)) -> io::Result<()> {
    let mut proc = Dir::open(
        "/proc",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    for entry in proc.iter() {
        let Ok(entry) = entry else { continue };
        let Some(pid) = number::<i32>(entry.file_name().to_bytes()) else {
            continue;
        };
        let Ok(text) = read_once(&format!("/proc/{pid}/stat"), buf) else {
            continue;
        };
        if let Some((stat, _)) = parse_stat(text) {
            each(pid, &stat);
        }
    }
    Ok(())
}

/// One process's `stat`, read once.
pub(crate) fn stat_of(pid: i32, buf: &mut Vec<u8>) -> Option<Stat> {
    parse_stat(read_once(&format!("/proc/{pid}/stat"), buf).ok()?).map(|(s, _)| s)
}

/// The children of every thread of `pid`, read once (open, read, close).
pub(crate) fn children_once(pid: i32, buf: &mut Vec<u8>, out: &mut Vec<i32>) {
    let threads = stat_of(pid, buf).map_or(1, |s| s.threads);
    let _ = ChildrenReader::new(pid).read(threads, buf, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_come_after_the_last_parenthesis() {
        let text = b"4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 3 0 987654 1000000 250 18446744073709551615\n";
        let (stat, name) = parse_stat(text).unwrap();
        assert_eq!(name, b"a (b) c");
        assert_eq!(
            stat,
            Stat {
                state: b'S',
                ppid: 17,
                pgrp: 4242,
                cpu_ticks: 32,
                threads: 3,
                starttime: 987654,
            }
        );
        assert!(parse_stat(b"12 (x) S 1").is_none());
    }

    #[test]
    fn statm_rollup_and_children_parse() {
        assert_eq!(
            parse_statm(b"5000 1200 300 10 0 800 0\n"),
            Some(Statm {
                resident: 1200,
                shared: 300
            })
        );
        let rollup = b"55d0-7fff ---p 00000000 00:00 0  [rollup]\nRss:  100 kB\nPss:   80 kB\nPss_Anon:  50 kB\nSwap:   4 kB\nSwapPss:  4 kB\n";
        assert_eq!(
            parse_rollup(rollup),
            Rollup {
                pss_kb: Some(80),
                swap_kb: Some(4)
            }
        );
        let mut pids = vec![1];
        parse_pids(b"12 345 \n", &mut pids);
        assert_eq!(pids, [1, 12, 345]);
    }

    #[test]
    fn reads_this_process_and_finds_a_child() {
        let mut buf = Vec::new();
        let me = std::process::id() as i32;
        let stat = ProcFile::open(&format!("/proc/{me}/stat")).unwrap();
        let (s, _) = parse_stat(stat.read(&mut buf).unwrap()).unwrap();
        assert!(s.threads >= 1);
        let statm = ProcFile::open(&format!("/proc/{me}/statm")).unwrap();
        let m = parse_statm(statm.read(&mut buf).unwrap()).unwrap();
        assert!(m.resident > 0);
        let mut fds = FdCounter::open(me, fd_dir_size_counts()).unwrap();
        let by_size = fds.count().unwrap();
        let mut fds = FdCounter::open(me, false).unwrap();
        let by_listing = fds.count().unwrap();
        // Both ways count the same files (give or take one opened between).
        assert!(
            by_size.abs_diff(by_listing) <= 2,
            "{by_size} vs {by_listing}"
        );
        assert_eq!(fds.count().unwrap().abs_diff(by_listing), 0);

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let child_stat = ProcFile::open(&format!("/proc/{}/stat", child.id())).unwrap();
        assert!(child_stat.read(&mut buf).is_ok());
        let mut out = Vec::new();
        let mut children = ChildrenReader::new(me);
        let threads = stat_of(me, &mut buf).unwrap().threads;
        if children_files_supported() {
            children.read(threads, &mut buf, &mut out).unwrap();
            assert!(out.contains(&(child.id() as i32)), "{out:?}");
        }
        let mut seen = false;
        scan_all(&mut buf, |pid, st| {
            seen |= pid == child.id() as i32 && st.ppid == me
        })
        .unwrap();
        assert!(seen);
        child.kill().unwrap();
        child.wait().unwrap();
        // A file kept open for a process that has ended fails rather than
        // reading whichever process reuses the pid.
        assert!(child_stat.read(&mut buf).is_err());
    }
}
