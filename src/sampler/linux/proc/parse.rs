//! The fixed-format `/proc` files a tick reads: `stat`, `statm`,
//! `smaps_rollup`, `status` and `children`, parsed from a reused buffer
//! without allocating.

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
pub(super) fn kb_value(rest: &[u8]) -> Option<u64> {
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

pub(super) fn number<T: std::str::FromStr>(digits: &[u8]) -> Option<T> {
    std::str::from_utf8(digits.trim_ascii()).ok()?.parse().ok()
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
