//! The `/proc` readers on crafted text and on this very process.

use super::children::*;
use super::fds::*;
use super::mem::*;
use super::parse::*;
use super::smaps::*;
use super::sockets::*;
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
