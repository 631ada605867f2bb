//! `memsoak run`: the spine of a soak test, in three phases.
//!
//! **Prepare** ([`prepare`]): the memory source checked, the run folder,
//! launch or attach, readiness, the source started. **Measure**
//! ([`measure`]): the measured clock, the sampler and the workloads, one
//! small event loop until the duration, the target's end, a fail-fast look
//! or an interruption; the work due at the end of warm-up ([`warmup`])
//! taken on its own task. **Conclude** ([`conclude`]): judge, write
//! `summary.json` and the reports, print. Every exit path after the run
//! folder exists writes the summary, and the target's process group is
//! stopped by [`Target`](crate::process::Target)'s `Drop` even on errors.

mod conclude;
mod ending;
mod measure;
mod prepare;
mod warmup;

use super::{exit, Failure};
use crate::config::RunConfig;
use crate::live;

/// Runs a soak test; returns the exit code.
pub(crate) async fn run(config: RunConfig, options: live::Options) -> Result<i32, Failure> {
    let Some(mut prepared) = prepare::prepare(&config, options).await? else {
        return Ok(exit::INTERRUPTED);
    };
    let measured = measure::measure(&config, &mut prepared, options).await;
    // A browser memsoak launched is closed on every path (its keeper
    // would close it anyway when memsoak ends).
    prepared.source.close().await;
    let code = conclude::conclude(&config, &prepared.target, measured?, options);
    // The target stops before the source goes: a cgroup memsoak made is
    // removed once its processes are gone.
    drop(prepared);
    code
}

/// Prints a note unless `--quiet`.
pub(super) fn say(options: live::Options, text: &str) {
    if !options.quiet {
        live::note(text);
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
