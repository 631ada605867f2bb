//! The run folder of `memsoak run`: one run's files, never mixed with
//! another's.
//!
//! A folder that holds an earlier run is moved aside whole before the new
//! run writes anything (a nightly job with a fixed `out` keeps every
//! night), a non-empty folder that holds anything else is refused, and a
//! folder that cannot be written is an I/O error found before the target
//! starts, not later as a target that "could not start".

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use super::Failure;
use crate::live;

/// Makes `dir` ready for a new run; returns whether it existed (empty)
/// before, so a run that cannot start removes only a folder it made.
pub(crate) fn prepare(dir: &Path, options: live::Options) -> Result<bool, Failure> {
    set_aside_previous_run(dir, options)?;
    let existed = dir.exists();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the run folder '{}'", dir.display()))
        .map_err(Failure::Io)?;
    let probe = dir.join(".memsoak-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("the run folder '{}' is not writable", dir.display()))
        .map_err(Failure::Io)?;
    Ok(existed)
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
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    if entries.next().is_none() {
        return Ok(());
    }
    if !RUN_FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(Failure::Usage(anyhow::anyhow!(
            "the run folder '{}' is not empty and holds no memsoak run: give an empty or new --out folder",
            dir.display()
        )));
    }
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
