//! The commands: one file per subcommand, each a short prepare → measure →
//! conclude over the layers below, and the exit codes they map outcomes to.
//!
//! This is the top layer with `cli`, `config` and `live`: it may use every
//! module; nothing below it imports the command line, the live view or the
//! exit codes.

pub(crate) mod compare;
pub(crate) mod demo_backend;
pub mod report;
pub(crate) mod run;
mod run_folder;

use std::path::Path;

use crate::analysis::attribution::Attribution;
use crate::analysis::{Criteria, Judgement, Metric, Verdict, WarmupRule};
use crate::cli::{Cli, Command};
use crate::output::{export, terminal, Summary};
use crate::profile::OnInconclusive;
use crate::recording::samples::Recording;
use crate::units::RateUnit;
use crate::workload::WorkloadSummary;
use crate::{config, live};

/// memsoak's exit codes, documented in `--help`, the README and docs/faults.md.
pub mod exit {
    /// Growth below the limit.
    pub const PASS: i32 = 0;
    /// Growth above the limit or RSS ceiling crossed.
    pub const FAIL: i32 = 1;
    /// Usage or profile error.
    pub const USAGE: i32 = 2;
    /// A file or folder could not be created or written (a full disk, an
    /// unwritable folder); the verdict, when there was one, was printed.
    pub const IO: i32 = 5;
    /// Target not ready, died, or pid gone.
    pub const TARGET: i32 = 3;
    /// The data cannot tell.
    pub const INCONCLUSIVE: i32 = 4;
    /// The load failed one of its checks: no memory verdict.
    pub const LOAD: i32 = 6;
    /// Ctrl-C or SIGTERM.
    pub const INTERRUPTED: i32 = 130;
}

/// Default time between plain status lines off a terminal.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// An error that ends memsoak, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments, profile or input file: exit 2.
    #[error("{0:#}")]
    Usage(anyhow::Error),
    /// A file or folder could not be written or created: exit 5.
    #[error("I/O error: {0:#}")]
    Io(anyhow::Error),
    /// The target could not be started, was not ready, or vanished: exit 3.
    #[error("{0:#}")]
    Target(anyhow::Error),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Io(_) => exit::IO,
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
        (Verdict::LoadFailure, _) => exit::LOAD,
    }
}

/// Writes the reports beside a written `summary.json`; a failing exporter
/// is a warning (the verdict is safe in the summary), each one named.
fn write_reports(
    dir: &Path,
    run_folder: Option<&Path>,
    samples: anyhow::Result<&Recording>,
    s: &Summary,
) {
    for e in export::write_all(dir, run_folder, samples, s) {
        eprintln!("memsoak: warning: the verdict is in summary.json, but a report failed: {e:#}");
    }
}

/// Where the growth is, judged from the CSVs in `dir` over the window
/// `judgement` judged; a file that cannot be read is a warning, never a
/// lost verdict.
fn attribution(
    dir: &Path,
    samples: &Recording,
    criteria: &Criteria,
    judgement: &Judgement,
    metric: Metric,
    unit: &RateUnit,
    workloads: &[WorkloadSummary],
) -> Option<Attribution> {
    let judged_s = (judgement.last_elapsed_s - judgement.warmup_s).max(0.0);
    let connects: u64 = workloads.iter().map(|w| w.totals.connects_judged).sum();
    let run = crate::analysis::attribution::RunContext {
        metric,
        growth: judgement.growth.as_ref(),
        unit,
        connects_judged: (connects > 0 && judged_s > 0.0).then_some((connects, judged_s)),
    };
    // Every series is judged over the tree's judged window: with the
    // warm-up found in the data, the one found for the tree.
    let criteria = Criteria {
        warmup: WarmupRule::Fixed(
            std::time::Duration::try_from_secs_f64(judgement.warmup_s.max(0.0))
                .unwrap_or(criteria.warmup.planned()),
        ),
        ..criteria.clone()
    };
    match crate::recording::breakdown::attribute(dir, samples, &criteria, &run) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("memsoak: warning: no attribution: {e:#}");
            None
        }
    }
}

/// Under a load design, the joint fit of the judged block series on time
/// and each driver's cumulative count (read back from `workload.csv` in
/// `dir`), with each workload's joint growth per unit set from it; without
/// one, or when the fit cannot be made, `None` and those figures cleared.
fn growth_drivers(
    dir: &Path,
    analyzer: &crate::analysis::Analyzer,
    design: Option<&crate::workload::design::DesignSummary>,
    workloads: &mut [WorkloadSummary],
) -> Option<crate::output::GrowthDrivers> {
    use crate::workload::design::DriverKind;
    for w in workloads.iter_mut() {
        w.joint_growth_per_message_bytes = None;
        w.joint_growth_per_message_ci95_bytes = None;
        w.joint_growth_per_connection_bytes = None;
        w.joint_growth_per_connection_ci95_bytes = None;
    }
    let design = design.filter(|d| !d.drivers.is_empty())?;
    let points = analyzer.judged_points();
    let times: Vec<f64> = points.iter().map(|p| p.0).collect();
    let counts =
        match crate::recording::load::cumulative_at(&dir.join(crate::workload::FILE), &times) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("memsoak: warning: no growth per driver: {e:#}");
                return None;
            }
        };
    let regressors: Vec<crate::analysis::joint::Regressor> = design
        .drivers
        .iter()
        .map(|d| {
            let values = counts.get(&d.workload).map_or_else(
                || vec![0.0; times.len()],
                |c| match d.driver {
                    DriverKind::Messages => c.sent.clone(),
                    DriverKind::Connections => c.connects.clone(),
                },
            );
            crate::analysis::joint::Regressor { values }
        })
        .collect();
    let Some(fit) = crate::analysis::joint::fit(&points, &regressors) else {
        eprintln!(
            "memsoak: warning: no growth per driver: too few judged points, or the drivers' counts did not vary apart"
        );
        return None;
    };
    let mut drivers = Vec::new();
    for (d, c) in design.drivers.iter().zip(&fit.drivers) {
        if let (Some(c), Some(w)) = (c, workloads.iter_mut().find(|w| w.name == d.workload)) {
            match d.driver {
                DriverKind::Messages => {
                    w.joint_growth_per_message_bytes = Some(c.estimate);
                    w.joint_growth_per_message_ci95_bytes = Some(c.ci95);
                }
                DriverKind::Connections => {
                    w.joint_growth_per_connection_bytes = Some(c.estimate);
                    w.joint_growth_per_connection_ci95_bytes = Some(c.ci95);
                }
            }
        }
        drivers.push(crate::output::DriverGrowth {
            workload: d.workload.clone(),
            driver: d.driver,
            bytes_per_unit: c.map(|c| c.estimate),
            ci95_bytes: c.map(|c| c.ci95),
        });
    }
    Some(crate::output::GrowthDrivers {
        time_bytes_per_hour: fit.time.estimate * 3600.0,
        time_ci95_bytes_per_hour: [fit.time.ci95[0] * 3600.0, fit.time.ci95[1] * 3600.0],
        drivers,
        noise: fit.noise,
        blocks: fit.points,
        method: crate::output::JOINT_METHOD.into(),
    })
}

/// Prints the summary's rendered text on stdout; on a terminal with
/// colours on (`NO_COLOR` unset), the verdict line is coloured.
fn print_summary(text: &str, verdict: Verdict, target_failed: bool) {
    use std::io::IsTerminal;
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let colour = std::io::stdout().is_terminal() && console::colors_enabled();
    let style = match crate::output::view::Tone::of(verdict, target_failed) {
        crate::output::view::Tone::Fail => console::Style::new().red().bold(),
        crate::output::view::Tone::Pass => console::Style::new().green().bold(),
        crate::output::view::Tone::Inconclusive => console::Style::new().yellow().bold(),
    };
    if colour {
        println!("{}", style.force_styling(true).apply_to(first));
    } else {
        println!("{first}");
    }
    print!("{rest}");
}

/// Runs a parsed command line; returns the exit code.
pub fn execute(cli: Cli) -> Result<i32, Failure> {
    crate::logging::init_logging(cli.verbose, cli.quiet);
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
                    Failure::Io(anyhow::Error::new(e).context("could not start the async runtime"))
                })?;
            runtime.block_on(run::run(config, options))
        }
        Command::Report(args) => report::report_command(&args, cli.quiet).map(|s| s.exit_code),
        Command::Compare(args) => {
            let config =
                config::CompareConfig::from_args(&args).map_err(|e| Failure::Usage(e.into()))?;
            let c = compare::compare(&config)?;
            print!(
                "{}",
                terminal::quiet_or_whole(&compare::render(&c, &args.margin), cli.quiet)
            );
            Ok(if c.worse { exit::FAIL } else { exit::PASS })
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "memsoak", &mut std::io::stdout());
            Ok(exit::PASS)
        }
        Command::DemoBackend(args) => demo_backend::demo_backend(&args).map(|()| exit::PASS),
    }
}
