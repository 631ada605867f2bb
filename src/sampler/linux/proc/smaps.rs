//! `/proc/PID/smaps`: the mappings of a process, and how its anonymous
//! memory divides into malloc's heap, thread stacks and the rest, by
//! glibc's names where it gives them and by glibc's shapes where not.

use super::parse::kb_value;

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
