//! The `/proc` probe's detail ticks: the classes and resources of the last
//! walk's members, on the slower PSS and smaps cadences (see
//! `breakdown.csv`).

use super::proc::{
    self as lp, classify_anon, parse_smaps, parse_status, FdTypes, ProcFile, TcpQueues,
};
use super::{add, netns_of, read_bound, Member, ProcProbe};
use crate::recording::breakdown::Breakdown;

impl ProcProbe {
    /// Reads the classes and resources of the last walk's members: memory
    /// by kind from `status`, open files by type (one `readlink` each),
    /// the queues of their TCP sockets (through sock_diag in memsoak's own
    /// network namespace, from `/proc/PID/net/tcp{,6}` in another), and,
    /// if `smaps`, anonymous memory by class from each member's `smaps`
    /// (every mapping: the costliest read memsoak makes, on its own slower
    /// cadence). A part that cannot be read for some member (another
    /// user's process) is left unknown.
    pub(super) fn detail(&mut self, smaps: bool) -> Option<Breakdown> {
        let walk = self.walk;
        let mut b = Breakdown {
            file: Some(0),
            shmem: Some(0),
            swap: Some(0),
            ..Breakdown::default()
        };
        let mut fd_types = Some(FdTypes::default());
        let mut anon = smaps.then_some((0u64, 0u64, 0u64));
        self.sockets.clear();
        self.namespaces.clear();
        let mut any = false;
        let page = self.page_size;
        for (pid, m) in self.members.iter_mut().filter(|(_, m)| m.walk == walk) {
            any = true;
            add_status(m, *pid, &mut self.buf, &mut b);
            let before = self.sockets.len();
            match m.fds.as_mut().map(|f| f.types(&mut self.sockets)) {
                Some(Ok(t)) => {
                    if let Some(all) = &mut fd_types {
                        all.socket += t.socket;
                        all.pipe += t.pipe;
                        all.file += t.file;
                        all.anon_inode += t.anon_inode;
                        all.other += t.other;
                    }
                }
                _ => fd_types = None,
            }
            if self.sockets.len() > before {
                // One reader per network namespace holding the tree's sockets.
                if let Some(ns) = netns_of(&pid.to_string()) {
                    if !self.namespaces.iter().any(|(n, _)| *n == ns) {
                        self.namespaces.push((ns, *pid));
                    }
                }
            }
            if let Some((heap, stacks, other)) = &mut anon {
                let (h, s, o) = anon_classes(m, *pid, page, &mut self.buf, &mut self.maps);
                *heap += h;
                *stacks += s;
                *other += o;
            }
        }
        if !any {
            return None;
        }
        if let Some((heap, stacks, other)) = anon {
            b.heap = Some(heap);
            b.stacks = Some(stacks);
            b.anon_other = Some(other);
        }
        if let Some(t) = fd_types {
            b.fds_socket = Some(t.socket);
            b.fds_pipe = Some(t.pipe);
            b.fds_file = Some(t.file);
            b.fds_anon_inode = Some(t.anon_inode);
            b.fds_other = Some(t.other);
            let q = self.tcp_queues();
            b.socket_send_queue_bytes = Some(q.send);
            b.socket_recv_queue_bytes = Some(q.recv);
            b.socket_queue_bytes = Some(q.send + q.recv);
            b.connections = Some(q.established);
        }
        Some(b)
    }

    /// The queues of the sockets found on this detail tick.
    fn tcp_queues(&mut self) -> TcpQueues {
        self.sockets.sort_unstable();
        self.sockets.dedup();
        let mut q = TcpQueues::default();
        for (ns, pid) in &self.namespaces {
            if self.own_netns.as_ref() == Some(ns) {
                let diag = self
                    .diag
                    .get_or_insert_with(|| lp::SockDiag::open().map_err(|_| ()));
                if let Ok(diag) = diag {
                    if diag
                        .add_tcp_queues(&mut self.buf, &self.sockets, &mut q)
                        .is_ok()
                    {
                        continue;
                    }
                }
            }
            for table in ["tcp", "tcp6"] {
                if let Ok(text) = lp::read_once(&format!("/proc/{pid}/net/{table}"), &mut self.buf)
                {
                    lp::sockets::add_tcp_queues(text, &self.sockets, &mut q);
                }
            }
        }
        q
    }
}

/// Adds a member's resident memory by kind (`status`) to `b`.
fn add_status(m: &mut Member, pid: i32, buf: &mut Vec<u8>, b: &mut Breakdown) {
    if m.status.is_none() {
        m.status = ProcFile::open(&format!("/proc/{pid}/status")).ok();
    }
    let status = m
        .status
        .as_ref()
        .and_then(|f| f.read(buf).ok())
        .map(parse_status)
        .unwrap_or_default();
    add(&mut b.file, status.file_kb.map(|kb| kb * 1024));
    add(&mut b.shmem, status.shmem_kb.map(|kb| kb * 1024));
    add(&mut b.swap, status.swap_kb.map(|kb| kb * 1024));
}

/// A member's anonymous memory as heap, stacks and the rest, bytes (zeros
/// for a process that ended since the walk: it has no memory left).
fn anon_classes(
    m: &mut Member,
    pid: i32,
    page: u64,
    buf: &mut Vec<u8>,
    maps: &mut Vec<lp::Mapping>,
) -> (u64, u64, u64) {
    let Ok((n, reopened)) = read_bound(&mut m.smaps, || format!("/proc/{pid}/smaps"), buf) else {
        return (0, 0, 0);
    };
    if reopened {
        // A new program (exec): its memory is read anew.
        m.mem = None;
    }
    parse_smaps(&buf[..n], maps);
    let mem = m
        .mem
        .get_or_insert_with(|| lp::ProcMem::open(pid).map_err(|_| ()));
    let c = classify_anon(maps, |map| {
        mem.as_ref()
            .ok()
            .and_then(|mem| mem.malloc_chunks(map.start, map.end, page))
    });
    (c.heap_kb * 1024, c.stacks_kb * 1024, c.other_kb * 1024)
}
