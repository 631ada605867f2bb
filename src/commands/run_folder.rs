//! The run folder of `memsoak run`: one run's files, never mixed with
//! another's.
//!
//! A folder that holds an earlier run is moved aside whole before the new
//! run writes anything (a nightly job with a fixed `out` keeps every
//! night), a non-empty folder that holds anything else is refused, and a
//! folder that cannot be written is an I/O error found before the target
//! starts, not later as a target that "could not start".
//!
//! A run claims its folder with an exclusive lock on `.memsoak.lock` inside
//! it, held until memsoak exits: a second run (or `report`) given the same
//! folder while the first is writing is refused, never handed the first's
//! live folder to move aside or to write into. The lock is the kernel's
//! (`flock`), so a run that is killed leaves no stale claim.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use super::Failure;
use crate::live;

/// Makes `dir` ready for a new run; returns whether it existed (empty)
/// before, so a run that cannot start removes only a folder it made.
pub(crate) fn prepare(dir: &Path, options: live::Options) -> Result<bool, Failure> {
    // Anything but a run in the folder is refused before a lock file is
    // put in it.
    if dir.is_dir() {
        holds_a_run(dir)?;
    }
    let mut existed = dir.exists();
    let mut claim = claim(dir)?;
    if holds_a_run(dir)? {
        existed = false;
        set_aside_previous_run(dir, options)?;
        // The lock moved aside with the earlier run: the new folder is
        // claimed afresh (a run that took it meanwhile is found so).
        drop(claim);
        claim = claim_new(dir)?;
    }
    if let Ok(mut held) = HELD.lock() {
        held.push(claim);
    }
    let probe = dir.join(".memsoak-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("the run folder '{}' is not writable", dir.display()))
        .map_err(Failure::Io)?;
    Ok(existed)
}

/// The lock file of a run folder.
const LOCK: &str = ".memsoak.lock";

/// Claims held until memsoak exits (the kernel releases them then).
static HELD: std::sync::Mutex<Vec<nix::fcntl::Flock<std::fs::File>>> =
    std::sync::Mutex::new(Vec::new());

/// Makes `dir` (and its parents) if need be and locks it for this run.
fn claim(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, Failure> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the run folder '{}'", dir.display()))
        .map_err(Failure::Io)?;
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("the run folder '{}' is not writable", dir.display()))
        .map_err(Failure::Io)?;
    use nix::fcntl::{Flock, FlockArg};
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Failure::Usage(anyhow::anyhow!(
            "another memsoak is writing to the run folder '{}' now: give this run its own --out",
            dir.display()
        ))),
        Err((_, e)) => Err(Failure::Io(anyhow::anyhow!(
            "could not lock the run folder '{}': {e}",
            dir.display()
        ))),
    }
}

/// [`claim`] of a folder just moved aside: one that another run made and
/// filled meanwhile is that run's.
fn claim_new(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, Failure> {
    let lock = claim(dir)?;
    if holds_a_run(dir)? {
        return Err(Failure::Usage(anyhow::anyhow!(
            "another memsoak started a run in '{}' meanwhile: give this run its own --out",
            dir.display()
        )));
    }
    Ok(lock)
}

/// Whether `dir` (claimed) holds an earlier run; an error when it holds
/// anything else.
fn holds_a_run(dir: &Path) -> Result<bool, Failure> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("could not read the run folder '{}'", dir.display()))
        .map_err(Failure::Io)?;
    let empty = entries
        .flatten()
        .all(|e| e.file_name() == LOCK || e.file_name() == ".memsoak-write-test");
    if empty {
        return Ok(false);
    }
    if !RUN_FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(Failure::Usage(anyhow::anyhow!(
            "the run folder '{}' is not empty and holds no memsoak run: give an empty or new --out folder",
            dir.display()
        )));
    }
    Ok(true)
}

/// Files that mark a folder as holding a memsoak run.
const RUN_FILES: [&str; 6] = [
    "summary.json",
    "samples.csv",
    "workload.csv",
    "report.html",
    "junit.xml",
    "target.stderr.log",
];

/// A run never lands beside an earlier one (see the module docs).
fn set_aside_previous_run(dir: &Path, options: live::Options) -> Result<(), Failure> {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = format!("{}.previous-{stamp}", dir.display());
    let mut aside = PathBuf::from(&base);
    let mut n = 2;
    while aside.exists() {
        aside = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    std::fs::rename(dir, &aside)
        .with_context(|| {
            format!(
                "the run folder '{}' holds an earlier run, which could not be moved aside to '{}'",
                dir.display(),
                aside.display()
            )
        })
        .map_err(Failure::Io)?;
    super::run::say(
        options,
        &format!(
            "memsoak: '{}' held an earlier run: moved to '{}'",
            dir.display(),
            aside.display()
        ),
    );
    Ok(())
}
