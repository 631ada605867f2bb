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

/// Resident memory by kind from `/proc/PID/status`, kB: what a detail
/// tick reads per process (one small file, no page-table walk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatusMem {
    /// `RssFile`: resident file-backed pages.
    pub(crate) file_kb: Option<u64>,
    /// `RssShmem`: resident shared memory (tmpfs, shared anonymous).
    pub(crate) shmem_kb: Option<u64>,
    /// `VmSwap`: swapped-out anonymous memory.
    pub(crate) swap_kb: Option<u64>,
}

/// Parses the `RssFile:`, `RssShmem:` and `VmSwap:` lines of `status`.
pub(crate) fn parse_status(text: &[u8]) -> StatusMem {
    let mut m = StatusMem::default();
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"RssFile:") {
            m.file_kb = kb_value(rest);
        } else if let Some(rest) = line.strip_prefix(b"RssShmem:") {
            m.shmem_kb = kb_value(rest);
        } else if let Some(rest) = line.strip_prefix(b"VmSwap:") {
            m.swap_kb = kb_value(rest);
        }
    }
    m
}

/// What a mapping of `/proc/PID/smaps` is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapName {
    /// No name: anonymous memory from `mmap`.
    Anonymous,
    /// `[heap]`: the `brk` heap of the main malloc arena.
    Heap,
    /// `[stack]`: the main thread's stack.
    Stack,
    /// Named by glibc (`glibc.mem.decorate_maps=1`) as malloc memory:
    /// `[anon: glibc: malloc arena]`, `[anon: glibc: malloc]`,
    /// `[anon: glibc: loader malloc]`.
    GlibcMalloc,
    /// Named by glibc as a thread stack (`[anon: glibc: pthread stack…]`).
    GlibcStack,
    /// Any other named anonymous mapping (`[anon: …]`, e.g. another
    /// runtime's own names, or glibc's for something else).
    NamedAnon,
    /// A file, or a special mapping (`[vdso]`, …).
    Other,
}

/// One mapping of `/proc/PID/smaps`: its range, permissions, name, and
/// its anonymous resident memory (`Anonymous:`, kB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// First address.
    pub(crate) start: u64,
    /// One past the last address.
    pub(crate) end: u64,
    /// Readable, writable, executable.
    pub(crate) rwx: [bool; 3],
    /// What its name says.
    pub(crate) name: MapName,
    /// `Anonymous:` kB (for a file mapping: its copied-on-write pages).
    pub(crate) anon_kb: u64,
}

/// Parses `/proc/PID/smaps` into `out` (cleared first; its capacity is
/// reused, so a steady process costs no allocation).
pub(crate) fn parse_smaps(text: &[u8], out: &mut Vec<Mapping>) {
    out.clear();
    for line in text.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Anonymous:") {
            if let Some(m) = out.last_mut() {
                m.anon_kb = kb_value(rest).unwrap_or(0);
            }
        } else if let Some(m) = parse_map_header(line) {
            out.push(m);
        }
    }
}

/// `start-end perms offset dev inode [name]`; `None` for a field line.
fn parse_map_header(line: &[u8]) -> Option<Mapping> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let range = fields.next()?;
    let dash = range.iter().position(|&b| b == b'-')?;
    let hex = |d: &[u8]| u64::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok();
    let start = hex(&range[..dash])?;
    let end = hex(&range[dash + 1..])?;
    let perms = fields.next()?;
    if perms.len() < 4 {
        return None;
    }
    let (_offset, _dev, _inode) = (fields.next()?, fields.next()?, fields.next()?);
    let name = fields.next().unwrap_or(b"").trim_ascii();
    let name = match name {
        b"" => MapName::Anonymous,
        b"[heap]" => MapName::Heap,
        b"[stack]" => MapName::Stack,
        n if n.starts_with(b"[anon: glibc: pthread stack") => MapName::GlibcStack,
        n if n.starts_with(b"[anon: glibc: malloc")
            || n.starts_with(b"[anon: glibc: loader malloc") =>
        {
            MapName::GlibcMalloc
        }
        n if n.starts_with(b"[anon:") => MapName::NamedAnon,
        _ => MapName::Other,
    };
    Some(Mapping {
        start,
        end,
        rwx: [perms[0] == b'r', perms[1] == b'w', perms[2] == b'x'],
        name,
        anon_kb: 0,
    })
}

/// Anonymous resident memory of one process by class, kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AnonClasses {
    /// malloc's memory: `[heap]`, arenas, large allocations.
    pub(crate) heap_kb: u64,
    /// Thread stacks.
    pub(crate) stacks_kb: u64,
    /// Everything else anonymous.
    pub(crate) other_kb: u64,
    /// glibc named this process's mappings (so unnamed ones are not malloc's).
    pub(crate) named: bool,
}

/// Reserved size of a glibc malloc arena heap on 64-bit (`HEAP_MAX_SIZE`,
/// twice the largest mmap threshold): each thread arena reserves an
/// aligned block of this size and makes its used part read-write.
const ARENA_RESERVE: u64 = 64 << 20;

/// Largest no-access mapping taken for a thread stack's guard.
const MAX_GUARD: u64 = 1 << 20;

/// Sorts anonymous memory into heap (malloc's), stacks and the rest.
///
/// With glibc's names (`decorate_maps`), the names decide and an unnamed
/// anonymous mapping is not malloc's (`other`). Without them, the shapes
/// and malloc's own headers do: a read-write mapping right above a small
/// no-access one is a thread stack (its guard page); one at a 64 MiB
/// boundary whose read-write and no-access parts fill 64 MiB is a malloc
/// arena; any other unnamed read-write mapping is heap when
/// `malloc_chunks` finds glibc's mmapped-chunk headers end to end in it
/// (malloc's large allocations), `other` when it does not (memory a
/// program or a runtime's own allocator mapped: CPython's object arenas,
/// jemalloc, Go), and heap when it cannot tell (the process's memory is
/// not readable). Executable anonymous memory (JIT code), copied-on-write
/// pages of file mappings and other named mappings are `other`.
pub(crate) fn classify_anon(
    maps: &[Mapping],
    mut malloc_chunks: impl FnMut(&Mapping) -> Option<bool>,
) -> AnonClasses {
    let named = maps
        .iter()
        .any(|m| matches!(m.name, MapName::GlibcMalloc | MapName::GlibcStack));
    let mut c = AnonClasses {
        named,
        ..AnonClasses::default()
    };
    let no_access = |m: &Mapping| m.name == MapName::Anonymous && m.rwx == [false; 3];
    for (i, m) in maps.iter().enumerate() {
        if m.anon_kb == 0 {
            continue;
        }
        let class = match m.name {
            MapName::Heap | MapName::GlibcMalloc => &mut c.heap_kb,
            MapName::Stack | MapName::GlibcStack => &mut c.stacks_kb,
            MapName::NamedAnon | MapName::Other => &mut c.other_kb,
            MapName::Anonymous if named || m.rwx[2] || !m.rwx[1] => &mut c.other_kb,
            MapName::Anonymous => {
                let next = maps.get(i + 1).filter(|n| n.start == m.end && no_access(n));
                let reserved = m.end - m.start + next.map_or(0, |n| n.end - n.start);
                let arena = m.start % ARENA_RESERVE == 0 && reserved == ARENA_RESERVE;
                let guard = i
                    .checked_sub(1)
                    .map(|p| &maps[p])
                    .filter(|p| p.end == m.start && no_access(p) && p.end - p.start <= MAX_GUARD);
                if arena {
                    &mut c.heap_kb
                } else if guard.is_some() {
                    &mut c.stacks_kb
                } else if malloc_chunks(m) == Some(false) {
                    &mut c.other_kb
                } else {
                    &mut c.heap_kb
                }
            }
        };
        *class += m.anon_kb;
    }
    c
}

/// Chunk headers followed per mapping at most; a longer chain is taken as
/// malloc's without reading further.
const MAX_CHUNKS: usize = 4096;

/// A process's memory, read through `/proc/PID/mem` (permitted to the
/// process's parent, the same user under a permissive ptrace policy, and
/// root): only malloc's chunk headers are read, 16 bytes each, without
/// stopping the process.
#[derive(Debug)]
pub(crate) struct ProcMem(File);

impl ProcMem {
    /// Opens `/proc/PID/mem`.
    pub(crate) fn open(pid: i32) -> io::Result<ProcMem> {
        File::open(format!("/proc/{pid}/mem")).map(ProcMem)
    }

    /// Whether `[start, end)` holds glibc mmapped chunks end to end: each
    /// starts with `prev_size` 0 and a size that is a whole number of
    /// pages with `IS_MMAPPED` set (and not `NON_MAIN_ARENA`), the next
    /// starting where it ends (the kernel merges neighbouring mappings).
    /// `None` when the memory cannot be read.
    pub(crate) fn malloc_chunks(&self, start: u64, end: u64, page: u64) -> Option<bool> {
        const IS_MMAPPED: u64 = 0x2;
        const NON_MAIN_ARENA: u64 = 0x4;
        let mut at = start;
        for _ in 0..MAX_CHUNKS {
            let mut header = [0u8; 16];
            self.0.read_exact_at(&mut header, at).ok()?;
            let prev_size = u64::from_ne_bytes(header[..8].try_into().ok()?);
            let size_field = u64::from_ne_bytes(header[8..].try_into().ok()?);
            let size = size_field & !0x7;
            let valid = prev_size == 0
                && size_field & IS_MMAPPED != 0
                && size_field & NON_MAIN_ARENA == 0
                && size >= page
                && size % page == 0
                && size <= end - at;
            if !valid {
                return Some(false);
            }
            at += size;
            if at == end {
                return Some(true);
            }
        }
        Some(true)
    }
}

/// Open file descriptors of one process by what they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FdTypes {
    /// `socket:[inode]`.
    pub(crate) socket: u64,
    /// `pipe:[inode]`.
    pub(crate) pipe: u64,
    /// A path: regular files, devices, directories.
    pub(crate) file: u64,
    /// `anon_inode:…`: eventpoll, eventfd, timerfd, signalfd, …
    pub(crate) anon_inode: u64,
    /// Anything else (and links that could not be read).
    pub(crate) other: u64,
}

impl FdTypes {
    /// Adds one descriptor by its link text; a socket's inode goes to
    /// `sockets`.
    pub(crate) fn add(&mut self, link: &[u8], sockets: &mut Vec<u64>) {
        if let Some(rest) = link.strip_prefix(b"socket:[") {
            self.socket += 1;
            if let Some(inode) = rest.strip_suffix(b"]").and_then(number::<u64>) {
                sockets.push(inode);
            }
        } else if link.starts_with(b"pipe:") {
            self.pipe += 1;
        } else if link.starts_with(b"anon_inode:") {
            self.anon_inode += 1;
        } else if link.starts_with(b"/") {
            self.file += 1;
        } else {
            self.other += 1;
        }
    }
}

/// Descriptors whose links are read per process and detail tick at most.
/// A process with more (a descriptor leak grown over hours) has its types
/// estimated from this many, scaled to its exact count: a `readlink` costs
/// about 2 µs, and 300,000 of them a second would cost memsoak a core.
pub(crate) const FD_SAMPLE: usize = 4096;

impl FdCounter {
    /// Open files by type, reading each descriptor's link (on the slower
    /// detail cadence: one `readlink` per descriptor, at most
    /// [`FD_SAMPLE`], the rest estimated in proportion). Socket inodes of
    /// the descriptors read are appended to `sockets`.
    pub(crate) fn types(&mut self, sockets: &mut Vec<u64>) -> io::Result<FdTypes> {
        let mut t = FdTypes::default();
        // Listed first, then read: the directory's iterator borrows it.
        let mut names: Vec<std::ffi::CString> = Vec::new();
        let mut listed = 0u64;
        for entry in self.dir.iter() {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_bytes().first().is_some_and(u8::is_ascii_digit) {
                listed += 1;
                if names.len() < FD_SAMPLE {
                    names.push(name.to_owned());
                }
            }
        }
        for name in &names {
            // An fd closed between listing and reading is not counted.
            match nix::fcntl::readlinkat(self.dir.as_fd(), name.as_c_str()) {
                Ok(link) => t.add(
                    std::os::unix::ffi::OsStrExt::as_bytes(link.as_os_str()),
                    sockets,
                ),
                Err(nix::errno::Errno::ENOENT) => {}
                Err(_) => t.other += 1,
            }
        }
        Ok(t.scaled_to(listed))
    }
}

impl FdTypes {
    /// The counts of a sample scaled to `total` descriptors (rounded, the
    /// remainder to the largest type), unchanged when the sample is whole.
    fn scaled_to(self, total: u64) -> FdTypes {
        let read = self.socket + self.pipe + self.file + self.anon_inode + self.other;
        if read == 0 || total <= read {
            return self;
        }
        let scale = |n: u64| (n as f64 * total as f64 / read as f64).round() as u64;
        let mut t = FdTypes {
            socket: scale(self.socket),
            pipe: scale(self.pipe),
            file: scale(self.file),
            anon_inode: scale(self.anon_inode),
            other: scale(self.other),
        };
        let sum = t.socket + t.pipe + t.file + t.anon_inode + t.other;
        let largest = [
            &mut t.socket,
            &mut t.pipe,
            &mut t.file,
            &mut t.anon_inode,
            &mut t.other,
        ]
        .into_iter()
        .max_by_key(|n| **n);
        if let Some(n) = largest {
            *n = (*n + total).saturating_sub(sum);
        }
        t
    }
}

/// What a process's TCP sockets hold, from `/proc/PID/net/tcp{,6}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TcpQueues {
    /// Bytes written and not yet acknowledged by the peer (send queues).
    pub(crate) send: u64,
    /// Bytes received and not yet read by the process (receive queues).
    pub(crate) recv: u64,
    /// Sockets in the ESTABLISHED state.
    pub(crate) established: u64,
}

/// Adds the sockets of `text` (a `/proc/net/tcp` or `tcp6` table) whose
/// inode is in `sockets` (sorted). Listening sockets are left out of the
/// queues: their columns hold the accept backlog and its limit.
pub(crate) fn add_tcp_queues(text: &[u8], sockets: &[u64], out: &mut TcpQueues) {
    const ESTABLISHED: u8 = 0x01;
    const LISTEN: u8 = 0x0A;
    for line in text.split(|&b| b == b'\n').skip(1) {
        let mut f = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let (Some(_sl), Some(_local), Some(_remote), Some(state), Some(queues)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Some(inode) = f.nth(4).and_then(number::<u64>) else {
            continue;
        };
        if sockets.binary_search(&inode).is_err() {
            continue;
        }
        let hex = |d: &[u8]| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
        };
        let state = hex(state).unwrap_or(0) as u8;
        if state == ESTABLISHED {
            out.established += 1;
        }
        if state == LISTEN {
            continue;
        }
        if let Some(colon) = queues.iter().position(|&b| b == b':') {
            out.send += hex(&queues[..colon]).unwrap_or(0);
            out.recv += hex(&queues[colon + 1..]).unwrap_or(0);
        }
    }
}

/// TCP socket queues through `NETLINK_SOCK_DIAG`: the kernel's
/// `inet_diag` dump, about four times cheaper than formatting
/// `/proc/net/tcp` (which walks every bucket of the connection table on
/// each read: milliseconds on a large host however few sockets exist). It
/// sees memsoak's own network namespace only; a target in another one is
/// read through its `/proc/PID/net/tcp{,6}` ([`add_tcp_queues`]).
#[derive(Debug)]
pub(crate) struct SockDiag {
    fd: std::os::fd::OwnedFd,
    seq: u32,
}

impl SockDiag {
    /// Opens a sock_diag netlink socket.
    pub(crate) fn open() -> io::Result<SockDiag> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )?;
        Ok(SockDiag { fd, seq: 0 })
    }

    /// Adds the queues of the TCP sockets (IPv4 and IPv6) whose inode is
    /// in `sockets` (sorted), as [`add_tcp_queues`] does.
    pub(crate) fn add_tcp_queues(
        &mut self,
        buf: &mut Vec<u8>,
        sockets: &[u64],
        out: &mut TcpQueues,
    ) -> io::Result<()> {
        for family in [libc_af::INET, libc_af::INET6] {
            self.dump(family, buf, sockets, out)?;
        }
        Ok(())
    }

    fn dump(
        &mut self,
        family: u8,
        buf: &mut Vec<u8>,
        sockets: &[u64],
        out: &mut TcpQueues,
    ) -> io::Result<()> {
        use nix::sys::socket::{recv, sendto, MsgFlags, NetlinkAddr};
        const SOCK_DIAG_BY_FAMILY: u16 = 20;
        const NLM_F_REQUEST: u16 = 0x1;
        const NLM_F_DUMP: u16 = 0x300;
        const NLMSG_ERROR: u16 = 2;
        const NLMSG_DONE: u16 = 3;
        const IPPROTO_TCP: u8 = 6;
        const TCP_LISTEN: u8 = 10;
        const TCP_ESTABLISHED: u8 = 1;
        // Every state but LISTEN (whose queues are the accept backlog).
        const STATES: u32 = 0xFFF & !(1 << TCP_LISTEN);
        self.seq = self.seq.wrapping_add(1);
        // nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes).
        let mut req = [0u8; 72];
        req[0..4].copy_from_slice(&72u32.to_ne_bytes());
        req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        req[16] = family;
        req[17] = IPPROTO_TCP;
        req[20..24].copy_from_slice(&STATES.to_ne_bytes());
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.fd);
        sendto(fd, &req, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
        if buf.len() < 32 * 1024 {
            buf.resize(32 * 1024, 0);
        }
        loop {
            let n = recv(fd, buf, MsgFlags::empty())?;
            let mut at = 0;
            while at + 16 <= n {
                let word =
                    |i: usize| u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap_or([0; 4]));
                let len = word(at) as usize;
                let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                let seq = word(at + 8);
                if len < 16 || at + len > n {
                    break;
                }
                if seq == self.seq {
                    match kind {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR => {
                            let errno = i32::from_ne_bytes(
                                buf[at + 16..at + 20].try_into().unwrap_or([0; 4]),
                            );
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                        // inet_diag_msg: family, state, timer, retrans,
                        // sockid (48 bytes), expires, rqueue, wqueue, uid, inode.
                        SOCK_DIAG_BY_FAMILY if len >= 16 + 72 => {
                            let m = at + 16;
                            let state = buf[m + 1];
                            let inode = u64::from(word(m + 68));
                            if sockets.binary_search(&inode).is_ok() {
                                if state == TCP_ESTABLISHED {
                                    out.established += 1;
                                }
                                out.recv += u64::from(word(m + 56));
                                out.send += u64::from(word(m + 60));
                            }
                        }
                        _ => {}
                    }
                }
                // Messages are aligned to 4 bytes.
                at += (len + 3) & !3;
            }
        }
    }
}

/// The address families of a sock_diag request.
mod libc_af {
    pub(super) const INET: u8 = 2;
    pub(super) const INET6: u8 = 10;
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
    fn status_and_tcp_tables_parse() {
        let status = b"Name:\tx\nVmRSS:\t  900 kB\nRssAnon:\t  500 kB\nRssFile:\t  300 kB\nRssShmem:\t  100 kB\nVmSwap:\t  7 kB\n";
        assert_eq!(
            parse_status(status),
            StatusMem {
                file_kb: Some(300),
                shmem_kb: Some(100),
                swap_kb: Some(7)
            }
        );
        let tcp = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:C350 01 00010000:00000020 01:00000014 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1\n   2: 0100007F:1F90 0100007F:C351 01 00000100:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1\n";
        let mut q = TcpQueues::default();
        // 111 listens (its columns are the backlog), 222 is ours, 333 is not.
        add_tcp_queues(tcp, &[111, 222], &mut q);
        assert_eq!(
            q,
            TcpQueues {
                send: 0x10000,
                recv: 0x20,
                established: 1
            }
        );
        let mut sockets = Vec::new();
        let mut t = FdTypes::default();
        for link in [
            &b"socket:[222]"[..],
            b"pipe:[9]",
            b"anon_inode:[eventpoll]",
            b"/dev/null",
            b"/tmp/x (deleted)",
            b"net:[4026531840]",
        ] {
            t.add(link, &mut sockets);
        }
        assert_eq!(
            t,
            FdTypes {
                socket: 1,
                pipe: 1,
                file: 2,
                anon_inode: 1,
                other: 1
            }
        );
        assert_eq!(sockets, [222]);
    }

    #[test]
    fn descriptor_types_beyond_the_sample_are_scaled_to_the_count() {
        let sample = FdTypes {
            socket: 1000,
            pipe: 10,
            file: 3000,
            anon_inode: 86,
            other: 0,
        };
        let t = sample.scaled_to(40_960);
        assert_eq!(t.socket + t.pipe + t.file + t.anon_inode + t.other, 40_960);
        assert_eq!((t.socket, t.pipe, t.anon_inode), (10_000, 100, 860));
        assert_eq!(sample.scaled_to(4096), sample);
        // Reading this process's own descriptors past the sample size
        // (the soft limit raised to allow them, if it is low).
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let _ = setrlimit(Resource::RLIMIT_NOFILE, soft.max(hard.min(16_384)), hard);
        let files: Vec<std::fs::File> = (0..FD_SAMPLE + 500)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let me = std::process::id() as i32;
        let mut counter = FdCounter::open(me, false).unwrap();
        let total = counter.count().unwrap();
        let t = counter.types(&mut Vec::new()).unwrap();
        let sum = t.socket + t.pipe + t.file + t.anon_inode + t.other;
        assert!(sum.abs_diff(total) <= 2, "{t:?} vs {total}");
        assert!(t.file >= (FD_SAMPLE + 400) as u64, "{t:?}");
        drop(files);
    }

    /// An smaps text of mappings `(range, perms, name, anonymous kB)`.
    fn smaps(maps: &[(&str, &str, &str, u64)]) -> Vec<Mapping> {
        let mut text = String::new();
        for (range, perms, name, anon) in maps {
            text.push_str(&format!(
                "{range} {perms} 00000000 00:00 0                          {name}\nSize:  4 kB\nRss:  {anon} kB\nAnonymous:  {anon} kB\nVmFlags: rd wr mr mw me ac\n"
            ));
        }
        let mut out = Vec::new();
        parse_smaps(text.as_bytes(), &mut out);
        assert_eq!(out.len(), maps.len());
        out
    }

    #[test]
    fn anonymous_memory_is_sorted_by_shape_without_names() {
        let maps = smaps(&[
            ("55d0f0000000-55d0f0021000", "rw-p", "[heap]", 100),
            // A thread arena: 64 MiB aligned, read-write then reserved.
            ("7f0000000000-7f0000400000", "rw-p", "", 2000),
            ("7f0000400000-7f0004000000", "---p", "", 0),
            // A thread stack: guard page, then the stack.
            ("7f0010000000-7f0010001000", "---p", "", 0),
            ("7f0010001000-7f0010201000", "rw-p", "", 40),
            // Two plain mappings: malloc's chunks in one, not in the other.
            ("7f0020000000-7f0020100000", "rw-p", "", 1000),
            ("7f0030000000-7f0030100000", "rw-p", "", 300),
            // JIT code, and written pages of a library.
            ("7f0040000000-7f0040010000", "rwxp", "", 8),
            (
                "7f0050000000-7f0050010000",
                "rw-p",
                "/usr/lib/libc.so.6",
                12,
            ),
            ("7ffd00000000-7ffd00021000", "rw-p", "[stack]", 20),
        ]);
        let c = classify_anon(&maps, |m| Some(m.start == 0x7f00_2000_0000));
        assert_eq!(
            c,
            AnonClasses {
                heap_kb: 100 + 2000 + 1000,
                stacks_kb: 40 + 20,
                other_kb: 300 + 8 + 12,
                named: false
            }
        );
        // Memory that cannot be read counts as heap.
        assert_eq!(classify_anon(&maps, |_| None).heap_kb, 3400);
    }

    #[test]
    fn glibc_names_decide_when_present() {
        let maps = smaps(&[
            (
                "7f0000000000-7f0000400000",
                "rw-p",
                "[anon: glibc: malloc arena]",
                2000,
            ),
            (
                "7f0000400000-7f0000500000",
                "rw-p",
                "[anon: glibc: malloc]",
                500,
            ),
            (
                "7f0010001000-7f0010201000",
                "rw-p",
                "[anon: glibc: pthread stack: 4242]",
                40,
            ),
            ("7f0020000000-7f0020100000", "rw-p", "", 300),
            (
                "7f0030000000-7f0030100000",
                "rw-p",
                "[anon: memsoak demo leak]",
                70,
            ),
        ]);
        let c = classify_anon(&maps, |_| Some(true));
        assert_eq!(
            c,
            AnonClasses {
                heap_kb: 2500,
                stacks_kb: 40,
                other_kb: 370,
                named: true
            }
        );
    }

    #[test]
    fn malloc_chunks_are_found_in_this_process_and_raw_maps_are_not() {
        use std::num::NonZeroUsize;
        let page = page_size();
        let me = std::process::id() as i32;
        let mem = ProcMem::open(me).unwrap();
        // Larger than glibc's largest mmap threshold (32 MiB): its own mapping.
        let big = vec![7u8; 64 << 20];
        let addr = big.as_ptr() as u64;
        let mut buf = Vec::new();
        let mut maps = Vec::new();
        parse_smaps(
            read_once(&format!("/proc/{me}/smaps"), &mut buf).unwrap(),
            &mut maps,
        );
        let m = maps
            .iter()
            .find(|m| m.start <= addr && addr < m.end)
            .unwrap();
        assert_eq!(mem.malloc_chunks(m.start, m.end, page), Some(true));
        let len = NonZeroUsize::new(16 * page as usize).unwrap();
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let raw = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                len,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_PRIVATE,
            )
        }
        .unwrap();
        // SAFETY: the mapping is `len` bytes and writable.
        unsafe { std::ptr::write_bytes(raw.as_ptr().cast::<u8>(), 0x5A, len.get()) };
        let start = raw.as_ptr() as u64;
        assert_eq!(
            mem.malloc_chunks(start, start + len.get() as u64, page),
            Some(false)
        );
        // SAFETY: unmapping the mapping made above, no longer used.
        unsafe { nix::sys::mman::munmap(raw, len.get()) }.unwrap();
        drop(big);
    }

    #[test]
    fn socket_queues_agree_through_sock_diag_and_proc_tables() {
        use std::io::Write;
        use std::os::unix::fs::MetadataExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        // 10 kB the server never reads: its receive queue.
        client.write_all(&[1u8; 10_000]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let inode = |fd: std::os::fd::RawFd| {
            std::fs::metadata(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .ino()
        };
        use std::os::fd::AsRawFd;
        let mut sockets = vec![inode(server.as_raw_fd()), inode(listener.as_raw_fd())];
        sockets.sort_unstable();
        let mut buf = Vec::new();
        let mut by_diag = TcpQueues::default();
        SockDiag::open()
            .unwrap()
            .add_tcp_queues(&mut buf, &sockets, &mut by_diag)
            .unwrap();
        let mut by_proc = TcpQueues::default();
        for table in ["tcp", "tcp6"] {
            add_tcp_queues(
                read_once(&format!("/proc/self/net/{table}"), &mut buf).unwrap(),
                &sockets,
                &mut by_proc,
            );
        }
        let expected = TcpQueues {
            send: 0,
            recv: 10_000,
            established: 1,
        };
        assert_eq!(by_diag, expected);
        assert_eq!(by_proc, expected);
        drop(server);
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
