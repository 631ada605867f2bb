//! Finding a tree from the tree: each thread's `children` file, kept open,
//! and the full scan of `/proc` where those files are missing.

use std::io;

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::parse::{number, parse_pids, parse_stat, Stat};
use super::{read_once, ProcFile};

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
