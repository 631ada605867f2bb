//! Open file descriptors: their count from the `fd` directory kept open,
//! and their types from the links, sampled.

use std::io;
use std::os::fd::AsFd;

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::parse::number;

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
    pub(super) fn scaled_to(self, total: u64) -> FdTypes {
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
