//! memsoak: memory soak testing and leak profiling for long-lived backends.
//!
//! The modules follow the data's journey through a run:
//! `profile` (TOML as written) → `config` (one validated `RunConfig`) →
//! `target` (launch or attach) → `sampler` (the process tree's memory, on a
//! fixed schedule, streamed to `samples.csv`) → `analysis` (robust growth
//! with an honest interval, and the verdict) → `report` (summary.json, the
//! terminal summary, re-analysis). `workload` drives the target (WebSocket
//! collab clients, HTTP agents) beside the sampler, from readiness to the
//! end of the run. `live` shows the run as it goes (a progress display on a
//! terminal, status lines in a log) and sets up logging. `demo` is the
//! reference backend used by the quickstart and tests.

pub mod analysis;
pub mod cli;
pub mod config;
pub mod demo;
pub mod live;
pub mod profile;
pub mod report;
pub mod run;
pub mod sampler;
pub mod target;
pub mod units;
pub mod workload;

use analysis::Verdict;
use cli::{Cli, Command};
use profile::OnInconclusive;

/// memsoak's exit codes, documented in `--help` and README.
pub mod exit {
    /// Growth below the limit.
    pub const PASS: i32 = 0;
    /// Growth above the limit or RSS ceiling crossed.
    pub const FAIL: i32 = 1;
    /// Usage or profile error.
    pub const USAGE: i32 = 2;
    /// Target not ready, died, or pid gone.
    pub const TARGET: i32 = 3;
    /// The data cannot tell.
    pub const INCONCLUSIVE: i32 = 4;
    /// Ctrl-C or SIGTERM.
    pub const INTERRUPTED: i32 = 130;
}

/// Default time between plain status lines off a terminal.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// An error that ends memsoak, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments, profile or environment: exit 2.
    #[error("{0:#}")]
    Usage(anyhow::Error),
    /// The target could not be started, was not ready, or vanished: exit 3.
    #[error("{0:#}")]
    Target(anyhow::Error),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Target(_) => exit::TARGET,
        }
    }
}

/// The exit code of a completed judgement.
pub fn exit_code_for(verdict: Verdict, on_inconclusive: OnInconclusive) -> i32 {
    match (verdict, on_inconclusive) {
        (Verdict::Pass, _) | (Verdict::Inconclusive, OnInconclusive::Pass) => exit::PASS,
        (Verdict::Fail, _) | (Verdict::Inconclusive, OnInconclusive::Fail) => exit::FAIL,
        (Verdict::Inconclusive, OnInconclusive::Inconclusive) => exit::INCONCLUSIVE,
    }
}

/// Runs a parsed command line; returns the exit code.
pub fn execute(cli: Cli) -> Result<i32, Failure> {
    live::init_logging(cli.verbose, cli.quiet);
    match cli.command {
        Command::Run(args) => {
            let options = live::Options {
                quiet: cli.quiet,
                status_every: args.status_every.unwrap_or(STATUS_EVERY),
            };
            let config =
                config::RunConfig::from_args(&args).map_err(|e| Failure::Usage(e.into()))?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| {
                    Failure::Usage(
                        anyhow::Error::new(e).context("could not start the async runtime"),
                    )
                })?;
            runtime.block_on(run::run(config, options))
        }
        Command::Report(args) => report::report_command(&args, cli.quiet)
            .map(|o| o.summary.exit_code)
            .map_err(Failure::Usage),
        Command::Compare(args) => {
            let c = report::compare::compare(
                &args.base,
                &args.new,
                &args.margin,
                args.peak_margin,
                args.out.clone(),
            )
            .map_err(Failure::Usage)?;
            print!(
                "{}",
                report::terminal::quiet_or_whole(
                    &report::compare::render(&c, &args.margin),
                    cli.quiet
                )
            );
            Ok(if c.worse { exit::FAIL } else { exit::PASS })
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "memsoak", &mut std::io::stdout());
            Ok(exit::PASS)
        }
        Command::DemoBackend(args) => demo::run(&args)
            .map(|()| exit::PASS)
            .map_err(Failure::Usage),
    }
}
