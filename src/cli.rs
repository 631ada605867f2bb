//! The command line, as the user typed it (low level of the two-stage
//! configuration). Nothing here is validated beyond its syntax; `config.rs`
//! builds the `RunConfig` the engine receives.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analysis::Metric;
use crate::profile::OnInconclusive;
use crate::units::{self, PerSecond, Rate};

const EXIT_CODES: &str = "\
Exit codes:
  0    pass: growth below the limit with 95% confidence
  1    fail: growth above the limit, or the RSS ceiling crossed
  2    usage or profile error
  3    target failure: not ready in time, died during the run, pid gone
  4    inconclusive: the data cannot tell (see --on-inconclusive)
  5    I/O error: a file or folder could not be created or written
  6    load failure: a load check failed (deliveries lost, errors, rate not
       reached…): the load did not arrive, so the memory was not judged
  130  interrupted (Ctrl-C or SIGTERM); outputs are still written

Units: durations 90s, 30m, 8h; sizes 500MB (MB = 10^6 bytes) or 512MiB
(MiB = 2^20 bytes); rates 10MB/h, 2GB/h, 512KiB/min. Rates are printed in
the unit you give.";

/// `steady` or `alternate`.
fn parse_load_design(text: &str) -> Result<crate::workload::design::LoadDesign, String> {
    match text {
        "steady" => Ok(crate::workload::design::LoadDesign::Steady),
        "alternate" => Ok(crate::workload::design::LoadDesign::Alternate),
        _ => Err(format!(
            "'{text}' is not a load design (steady or alternate)"
        )),
    }
}

/// Memory soak testing and leak profiling for long-lived backends.
#[derive(Debug, Parser)]
#[command(name = "memsoak", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// More log detail on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// No live view, status lines or notes: errors and the verdict line only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The subcommands.
// One per process: boxing `run`'s flags would only move them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Launch (or attach to) a backend, sample its memory, judge the growth.
    ///
    /// With no profile, no command and no --pid, soaks memsoak's own demo
    /// backend for two minutes (profiles/quickstart.toml).
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Re-analyse a run folder or any CSV with elapsed_s and rss_bytes columns.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// Compare two run folders: exit 1 when NEW grows faster than BASE beyond a margin.
    #[command(
        after_help = "Exit codes: 0 NEW is not worse, 1 NEW is worse, 2 usage error, 5 compare.json or its chart could not be written."
    )]
    Compare(CompareArgs),
    /// Serve the reference backend: /health, /collab/{doc_id}, /agent/chat.
    DemoBackend(DemoArgs),
    /// Print a shell completion script: `memsoak completions bash > /etc/bash_completion.d/memsoak`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `memsoak compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference run folder (e.g. last night's).
    pub base: PathBuf,
    /// The run folder to judge (e.g. tonight's).
    pub new: PathBuf,
    /// NEW is worse when its slope exceeds BASE's by more than this.
    #[arg(long, value_name = "RATE", value_parser = Rate::parse, default_value = "1MB/h")]
    pub margin: Rate,
    /// NEW is also worse when its peak RSS exceeds BASE's by more than this.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub peak_margin: Option<u64>,
    /// Where to write compare.json and the chart [default: NEW].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `memsoak run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Profile (TOML) describing the run; flags override its values.
    pub profile: Option<PathBuf>,

    /// Attach to this running process (and its descendants) instead of launching.
    #[arg(long, conflicts_with = "command")]
    pub pid: Option<u32>,

    /// Command to launch, after `--`; run without a shell.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// Ready when this URL answers with a 2xx status.
    #[arg(long, value_name = "URL")]
    pub ready_url: Option<String>,

    /// Ready when this HOST:PORT accepts TCP connections.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "ready_url")]
    pub ready_tcp: Option<String>,

    /// Give up waiting for readiness after this long [default: 60s].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = units::parse_positive_duration)]
    pub ready_timeout: Option<Duration>,

    /// Measured duration, from readiness on [default: 2m].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = units::parse_positive_duration)]
    pub duration: Option<Duration>,

    /// Sampling interval [default: 1s].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = units::parse_positive_duration)]
    pub interval: Option<Duration>,

    /// PSS sampling interval; PSS walks page tables, so it may be slower [default: the interval, at least 1s].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = units::parse_positive_duration)]
    pub pss_interval: Option<Duration>,

    /// Interval of the per-mapping smaps reading that splits anonymous memory into heap, stacks and other; 0 turns it off [default: a 240th of the duration, within 2s … 60s].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = units::parse_duration)]
    pub smaps_interval: Option<Duration>,

    /// Processes of the tree tracked individually in processes.csv (the rest summed as `other`) [default: 32].
    #[arg(long, value_name = "N")]
    pub track_processes: Option<usize>,

    /// Hand the judged window to an allocation profiler: a baseline at the end of warm-up, a final snapshot at the end, the sites that grew in leaks.json (see docs/finding-the-leak.md).
    #[arg(long, value_name = "KIND")]
    pub profiler: Option<crate::allocations::ProfilerKind>,

    /// Where the memory is read from: the process tree by default.
    #[command(flatten)]
    pub source: SourceArgs,

    /// How the growth is judged.
    #[command(flatten)]
    pub judge: JudgeArgs,

    /// Stop early once a leak is statistically certain (20 planned looks, 1% family-wise false-fail rate).
    #[arg(long)]
    pub fail_fast: bool,

    /// Vary each workload's rate in blocks after warm-up (`alternate`) so the growth is attributed to messages, connections or time [default: steady].
    #[arg(long, value_name = "DESIGN", value_parser = parse_load_design)]
    pub load_design: Option<crate::workload::design::LoadDesign>,

    /// What wss:// and https:// connections trust.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// Off a terminal, print a status line this often [default: 1m].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = units::parse_positive_duration)]
    pub status_every: Option<Duration>,

    /// Run folder [default: reports/<name>-<UTC timestamp>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Memory sources beyond the process tree (docs/sources.md and
/// docs/frontends.md).
#[derive(Debug, Args, Default)]
pub struct SourceArgs {
    /// Read a cgroup's memory (its folder, or its path as in /proc/PID/cgroup); `new`: launch the target in a fresh child cgroup memsoak makes.
    #[arg(long, value_name = "PATH|new", conflicts_with_all = ["prometheus", "cdp", "browser"])]
    pub cgroup: Option<PathBuf>,

    /// Attach to a page of a running browser through its DevTools endpoint (a browser started with --remote-debugging-port, e.g. http://127.0.0.1:9222) and judge the page's JS heap; memsoak never closes it.
    #[arg(long, value_name = "URL", conflicts_with_all = ["prometheus", "browser"])]
    pub cdp: Option<String>,

    /// With --cdp: the page to attach to, by part of its URL or title, or its target id [default: the only page open].
    #[arg(
        long,
        value_name = "TEXT",
        requires = "cdp",
        conflicts_with = "browser"
    )]
    pub cdp_target: Option<String>,

    /// Launch a headless Chromium on this URL and judge the page's JS heap; memsoak closes it at the end, whatever happens.
    #[arg(long, value_name = "URL", conflicts_with = "prometheus")]
    pub browser: Option<String>,

    /// With --cdp or --browser: heap snapshots of the page as warm-up ends and at the end (.heapsnapshot files in the run folder) and their comparison: the constructors that gained objects, detached DOM nodes.
    #[arg(long)]
    pub heap_snapshots: bool,

    /// Read memory from this Prometheus server (its base URL), asking --query every interval.
    #[arg(long, value_name = "URL", requires = "query")]
    pub prometheus: Option<String>,

    /// The PromQL query: one series per label set (e.g. per pod), each judged.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,

    /// How often Prometheus is asked: the sampling interval of a --prometheus run (set it to the scrape interval) [default: --interval].
    #[arg(long, value_name = "DUR", requires = "prometheus", conflicts_with = "interval", value_parser = units::parse_positive_duration)]
    pub step: Option<Duration>,

    /// A header for Prometheus, `Name: value`; `${ENV}` in the value is expanded and never written (repeatable).
    #[arg(long, value_name = "HEADER", requires = "prometheus")]
    pub prometheus_header: Vec<String>,

    /// Count a replica restart as a target failure (exit 3) rather than an event.
    #[arg(long, requires = "prometheus")]
    pub restarts_fail: bool,
}

/// What TLS connections trust, shared by `run` and `report`.
#[derive(Debug, Args, Default, Clone)]
pub struct TlsArgs {
    /// Trust the CA certificates of this PEM file (beside the system's) for wss:// and https:// ([tls] ca_file).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Accept any TLS certificate: only for a local server with a self-signed one ([tls] insecure).
    #[arg(long)]
    pub tls_insecure: bool,
}

/// `memsoak report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run folder (with samples.csv) or a CSV file; none with --prometheus.
    #[arg(required_unless_present = "prometheus", conflicts_with = "prometheus")]
    pub path: Option<PathBuf>,

    /// Judge a past window from this Prometheus server alone (with --query, --start, --end).
    #[arg(long, value_name = "URL", requires_all = ["query", "start", "end"])]
    pub prometheus: Option<String>,

    /// The PromQL query (with --prometheus).
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,

    /// Start of the window: RFC 3339 (2026-11-28T01:00:00Z), Unix seconds, `now` or `now-8h`.
    #[arg(
        long,
        value_name = "TIME",
        requires = "prometheus",
        allow_hyphen_values = true
    )]
    pub start: Option<String>,

    /// End of the window, as --start.
    #[arg(
        long,
        value_name = "TIME",
        requires = "prometheus",
        allow_hyphen_values = true
    )]
    pub end: Option<String>,

    /// Resolution of the window; set it to the scrape interval [default: the window / 10000, at least 1s].
    #[arg(long, value_name = "DUR", requires = "prometheus", value_parser = units::parse_positive_duration)]
    pub step: Option<Duration>,

    /// A header for Prometheus, `Name: value`; `${ENV}` is expanded and never written (repeatable).
    #[arg(long, value_name = "HEADER", requires = "prometheus")]
    pub prometheus_header: Vec<String>,

    /// How the growth is judged; a run folder's own settings are the defaults.
    #[command(flatten)]
    pub judge: JudgeArgs,

    /// What an https:// Prometheus is trusted with.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// Where to write summary.json and the reports [default: the run
    /// folder; for another CSV, a folder `<name>-report` beside it].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Exit with the growth verdict alone, even for a run whose target
    /// failed (3) or that was interrupted or killed (130).
    #[arg(long)]
    pub growth_only: bool,

    /// Replay the recording through --fail-fast's planned looks, as a live run of the same duration and interval takes them: `fail_fast` in summary.json says at which look and time the run would have stopped (null: it would have run to the end).
    #[arg(long)]
    pub fail_fast: bool,
}

/// Flags that decide the verdict, shared by `run` and `report`. For
/// `report` on a run folder, each defaults to the run's own value.
#[derive(Debug, Clone, Args)]
pub struct JudgeArgs {
    /// Initial part not judged, or `auto` to find where the footprint settles [default: auto; planned as 10% of the duration, at least 30s, at most half].
    #[arg(long, value_name = "DUR|auto", allow_hyphen_values = true, value_parser = units::Warmup::parse)]
    pub warmup: Option<units::Warmup>,

    /// Largest acceptable growth, e.g. 10MB/h [default: 10MB/h].
    #[arg(long, value_name = "RATE", value_parser = Rate::parse)]
    pub max_growth: Option<Rate>,

    /// Fail when the tree's RSS ever exceeds this, e.g. 2GB.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub max_rss: Option<u64>,

    /// Metric to judge [default: anon where measured, else pss, else rss; js_heap for a browser page].
    #[arg(long, value_enum)]
    pub metric: Option<MetricArg>,

    /// Exit code of an inconclusive verdict: pass (0), fail (1) or inconclusive (4) [default: inconclusive].
    #[arg(long, value_enum, value_name = "MODE")]
    pub on_inconclusive: Option<OnInconclusiveArg>,
}

/// `--metric`: the flag's spelling of [`Metric`], so the analysis stays
/// free of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Resident set size summed over the process tree (double-counts shared pages).
    Rss,
    /// Proportional set size: shared pages split among their sharers, so the
    /// sum over a tree is what the tree really costs.
    Pss,
    /// Anonymous resident memory (heap, stacks): where heap leaks live.
    Anon,
    /// A browser page's JavaScript heap in use (with --cdp or --browser).
    #[value(name = "js_heap", alias = "js-heap")]
    JsHeap,
    /// A browser page's JS heap and Blink's heap (its DOM) together.
    #[value(name = "page_heap", alias = "page-heap")]
    PageHeap,
    /// Everything a cgroup is charged (with --cgroup): what its memory limit is held against.
    Usage,
    /// A Prometheus query's value summed over its series (with --prometheus; the default there).
    Query,
}

impl From<MetricArg> for Metric {
    fn from(m: MetricArg) -> Metric {
        match m {
            MetricArg::Rss => Metric::Rss,
            MetricArg::Pss => Metric::Pss,
            MetricArg::Anon => Metric::Anon,
            MetricArg::JsHeap => Metric::JsHeap,
            MetricArg::PageHeap => Metric::PageHeap,
            MetricArg::Usage => Metric::Usage,
            MetricArg::Query => Metric::Query,
        }
    }
}

/// `--on-inconclusive`: the flag's spelling of [`OnInconclusive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnInconclusiveArg {
    /// Exit 0, as if passed.
    Pass,
    /// Exit 1, as if failed.
    Fail,
    /// Exit 4, its own code.
    Inconclusive,
}

impl From<OnInconclusiveArg> for OnInconclusive {
    fn from(m: OnInconclusiveArg) -> OnInconclusive {
        match m {
            OnInconclusiveArg::Pass => OnInconclusive::Pass,
            OnInconclusiveArg::Fail => OnInconclusive::Fail,
            OnInconclusiveArg::Inconclusive => OnInconclusive::Inconclusive,
        }
    }
}

/// `memsoak demo-backend`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port on 127.0.0.1 (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Leak memory steadily at this rate, e.g. 20MB/h (allocated every 100 ms).
    #[arg(long, value_name = "RATE", value_parser = Rate::parse)]
    pub leak: Option<Rate>,

    /// Leak this many bytes for every WebSocket message received, e.g. 2KB.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub leak_per_message: Option<u64>,

    /// Leak this many bytes for every WebSocket connection opened, e.g. 64KB.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub leak_per_connection: Option<u64>,

    /// Require `Authorization: Bearer TOKEN` on the agent endpoints (401 otherwise).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MEMSOAK_DEMO_TOKEN",
        hide_env_values = true
    )]
    pub agent_token: Option<String>,

    /// Open /dev/null at this rate and never close it, e.g. 600/min (a descriptor leak).
    #[arg(long, value_name = "RATE", value_parser = PerSecond::parse)]
    pub leak_fds: Option<PerSecond>,

    /// Start threads that never end at this rate, e.g. 60/min (a thread leak).
    #[arg(long, value_name = "RATE", value_parser = PerSecond::parse)]
    pub leak_threads: Option<PerSecond>,

    /// Map anonymous memory outside malloc at this rate, e.g. 100MB/h, and never unmap it.
    #[arg(long, value_name = "RATE", value_parser = Rate::parse)]
    pub leak_mmap: Option<Rate>,

    /// Restart the "planner" agent this often, e.g. 20s: its restart_count in
    /// /agents/health rises (an unstable agent that a health check must catch).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_positive_duration)]
    pub restart_agent_every: Option<Duration>,
}
