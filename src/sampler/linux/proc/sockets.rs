//! What the tree's TCP sockets hold: send and receive queues and
//! established connections, through sock_diag netlink in memsoak's own
//! network namespace, or the `/proc/PID/net/tcp{,6}` tables in another.

use std::io;

use super::parse::number;

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
