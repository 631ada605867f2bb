//! Which processes get their own rows in `processes.csv`.
//!
//! A pre-fork server's growing worker is only named if each process has
//! its own series; a tree that forks a process per request would make
//! those series (and the attribution that judges each of them) grow
//! without bound. So at most `max` processes are tracked individually over
//! the whole run: the first seen, the largest first when more appear at
//! once than there are slots left. Every other process is summed into one
//! `other` row. A tracked process that ends keeps its slot (its series
//! ends; the attribution judges the life it had), so a name never moves
//! from one process to another. Command lines are written with the
//! secrets memsoak expanded redacted ([`crate::secrets`]).

use crate::recording::breakdown::{ProcessRow, Writers};

use super::{Probe, ProcReading};

/// A tracked process.
struct Slot {
    pid: i32,
    start_s: f64,
    name: String,
}

/// The tracked processes and the scratch of one walk.
pub(crate) struct ProcessSlots {
    max: usize,
    tracked: Vec<Slot>,
    /// Readings not tracked yet, by index, largest first.
    newcomers: Vec<usize>,
    /// Some process was ever left untracked: `other` rows are written.
    other_seen: bool,
}

impl ProcessSlots {
    /// Tracks at most `max` processes individually.
    pub(crate) fn new(max: usize) -> ProcessSlots {
        ProcessSlots {
            max,
            tracked: Vec::with_capacity(max),
            newcomers: Vec::new(),
            other_seen: false,
        }
    }

    /// Writes the rows of one walk of the tree.
    pub(crate) fn write(
        &mut self,
        elapsed_s: f64,
        probe: &dyn Probe,
        out: &mut Writers,
    ) -> anyhow::Result<()> {
        let readings = probe.readings();
        self.newcomers.clear();
        self.newcomers
            .extend((0..readings.len()).filter(|&i| find(&self.tracked, &readings[i]).is_none()));
        self.newcomers
            .sort_by_key(|&i| std::cmp::Reverse(readings[i].rss_bytes));
        let free = self.max.saturating_sub(self.tracked.len());
        for &i in self.newcomers.iter().take(free) {
            let r = &readings[i];
            let info = probe.describe(r.pid);
            let (name, command) = match info {
                Some(info) => (
                    info.name,
                    crate::secrets::redact(
                        &serde_json::to_string(&info.command).unwrap_or_default(),
                    ),
                ),
                None => (String::from("?"), String::new()),
            };
            out.process(&row(elapsed_s, r, &name, &command))?;
            self.tracked.push(Slot {
                pid: r.pid,
                start_s: r.start_s,
                name,
            });
        }
        let mut other = ProcReading {
            pid: 0,
            start_s: 0.0,
            rss_bytes: 0,
            anon_bytes: Some(0),
            pss_bytes: readings.first().and_then(|r| r.pss_bytes).map(|_| 0),
        };
        let mut untracked = false;
        for (i, r) in readings.iter().enumerate() {
            if self.newcomers[..self.newcomers.len().min(free)].contains(&i) {
                continue;
            }
            match find(&self.tracked, r) {
                Some(k) => {
                    let slot = &mut self.tracked[k];
                    // A new program (exec): its name and command line anew.
                    let renamed = probe.name(r.pid).is_some_and(|n| n != slot.name);
                    let command = match probe.describe(r.pid).filter(|_| renamed) {
                        Some(info) => {
                            slot.name = info.name;
                            crate::secrets::redact(
                                &serde_json::to_string(&info.command).unwrap_or_default(),
                            )
                        }
                        None => String::new(),
                    };
                    out.process(&row(elapsed_s, r, &slot.name, &command))?;
                }
                None => {
                    untracked = true;
                    other.rss_bytes += r.rss_bytes;
                    other.anon_bytes = other.anon_bytes.zip(r.anon_bytes).map(|(a, b)| a + b);
                    other.pss_bytes = other.pss_bytes.zip(r.pss_bytes).map(|(a, b)| a + b);
                }
            }
        }
        self.other_seen |= untracked;
        if self.other_seen {
            out.process(&row(elapsed_s, &other, "other", ""))?;
        }
        out.flush_processes()
    }
}

fn find(tracked: &[Slot], r: &ProcReading) -> Option<usize> {
    tracked
        .iter()
        .position(|s| s.pid == r.pid && s.start_s == r.start_s)
}

fn row<'a>(elapsed_s: f64, r: &ProcReading, name: &'a str, command: &'a str) -> ProcessRow<'a> {
    ProcessRow {
        elapsed_s,
        pid: r.pid,
        start_s: r.start_s,
        name,
        rss_bytes: r.rss_bytes,
        anon_bytes: r.anon_bytes,
        pss_bytes: r.pss_bytes,
        command,
    }
}
