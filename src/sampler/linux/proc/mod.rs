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
//!
//! One file per concern: [`parse`] (the fixed-format files), [`children`]
//! (finding a tree), [`fds`] (open files and their types), [`smaps`]
//! (mappings and how glibc's malloc lays them out), [`mem`] (malloc's
//! chunk headers through `/proc/PID/mem`) and [`sockets`] (TCP queues,
//! through sock_diag or the `/proc` tables).

pub(crate) mod children;
pub(crate) mod fds;
pub(crate) mod mem;
pub(crate) mod parse;
pub(crate) mod smaps;
pub(crate) mod sockets;

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

pub(crate) use children::{children_once, scan_all, stat_of, ChildrenReader};
pub(crate) use fds::{FdCounter, FdTypes};
pub(crate) use mem::ProcMem;
pub(crate) use parse::{parse_rollup, parse_stat, parse_statm, parse_status, Rollup, Stat};
pub(crate) use smaps::{classify_anon, parse_smaps, Mapping};
pub(crate) use sockets::{SockDiag, TcpQueues};

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

#[cfg(test)]
mod tests;
