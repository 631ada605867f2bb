//! The validated configuration of one run: the profile merged with the
//! command-line flags (flags win), placeholders expanded, defaults applied.
//! This is the only configuration the engine sees.
//!
//! It belongs to the command layer (ripgrep's high-level arguments): it
//! reads the flags, and hands the layers below only their own types
//! ([`TargetSpec`], [`WorkloadSpec`], analysis criteria). The judging
//! flags shared by `run` and `report` are resolved in one place,
//! [`JudgeSettings::resolve`]: flag, then the profile or the previous
//! summary, then the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::allocations::ProfilerSettings;
use crate::analysis::{default_warmup, BlockStat, Criteria, FailFast, Metric, WarmupRule};
use crate::cli::{JudgeArgs, RunArgs};
pub use crate::process::spec::{LaunchSpec, Readiness, TargetSpec};
use crate::profile::{OnInconclusive, Profile, QUICKSTART};
pub use crate::source::{CdpSpec, CgroupSpec, PageSpec, PrometheusSpec, SourceSpec};
use crate::tls::Trust;
use crate::units::{Rate, Warmup};
use crate::workload::{spec, WorkloadSpec};

pub mod report;
mod source;

pub use report::{CompareConfig, Located, ReportConfig, ReportInput};

/// One run, fully decided.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Name of the run: the profile's name or file stem, or the command's.
    pub name: String,
    /// The profile file, if one was used.
    pub profile: Option<PathBuf>,
    /// What to measure.
    pub target: TargetSpec,
    /// Readiness check before the measured clock starts.
    pub readiness: Option<Readiness>,
    /// Longest wait for readiness.
    pub ready_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping a launched target.
    pub stop_grace: Duration,
    /// Measured duration.
    pub duration: Duration,
    /// How the growth is judged: warm-up, limit, ceiling, metric.
    pub judge: JudgeSettings,
    /// Sampling interval.
    pub interval: Duration,
    /// PSS sampling interval (a multiple of `interval` is used).
    pub pss_interval: Duration,
    /// `smaps` reading interval; zero: never.
    pub smaps_interval: Duration,
    /// Processes tracked individually.
    pub track_processes: usize,
    /// Run folder.
    pub out_dir: PathBuf,
    /// Load driven against the target during the run.
    pub workloads: Vec<WorkloadSpec>,
    /// The load design: steady, or rates varied in blocks after warm-up.
    pub design: crate::workload::DesignRequest,
    /// Early-fail rule, with `--fail-fast`.
    pub fail_fast: Option<FailFast>,
    /// The allocation profiler handed the judged window, with `--profiler`.
    pub profiler: Option<ProfilerSettings>,
    /// Where the memory is read from.
    pub source: SourceSpec,
    /// What `wss://` and `https://` connections trust.
    pub tls: Trust,
}

/// Defaults, documented in `memsoak run --help` and docs/profiles.md.
pub mod defaults {
    use std::time::Duration;
    /// Measured duration.
    pub const DURATION: Duration = Duration::from_secs(120);
    /// Sampling interval.
    pub const INTERVAL: Duration = Duration::from_secs(1);
    /// Readiness timeout.
    pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
    /// SIGTERM → SIGKILL grace.
    pub const STOP_GRACE: Duration = Duration::from_secs(5);
    /// Shortest sampling interval.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
    /// Shortest PSS interval.
    pub const MIN_PSS_INTERVAL: Duration = Duration::from_secs(1);
    /// Per-mapping smaps reading, at least this often apart: it walks
    /// page tables like PSS and formats every mapping of every process
    /// (see BENCHMARKS.md for its cost).
    pub const MIN_SMAPS_INTERVAL: Duration = Duration::from_secs(2);
    /// ... and at most this far apart.
    pub const MAX_SMAPS_INTERVAL: Duration = Duration::from_secs(60);

    /// The default smaps interval: a 240th of the run (enough points to
    /// judge the classes), within 2 s … 60 s.
    pub fn smaps_interval(duration: Duration) -> Duration {
        (duration / 240).clamp(MIN_SMAPS_INTERVAL, MAX_SMAPS_INTERVAL)
    }
    /// Processes tracked individually.
    pub const TRACK_PROCESSES: usize = 32;
    /// At most this many.
    pub const MAX_TRACK_PROCESSES: usize = 1000;
    /// Growth limit.
    pub const MAX_GROWTH: &str = "10MB/h";
    /// Whether the judged warm-up is found in the data when none is given
    /// (BENCHMARKS.md, "The verdict on 8-hour noise", says why).
    pub const WARMUP_AUTO: bool = true;
    /// Parent of run folders.
    pub const REPORTS_DIR: &str = "reports";
}

/// The judging settings, decided: what `run` judges with and what
/// `report` judges a recording again with.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeSettings {
    /// Where the judged window starts: fixed, or found in the data with
    /// the planned warm-up that workloads and profilers time themselves by.
    pub warmup: WarmupRule,
    /// Growth limit.
    pub max_growth: Rate,
    /// RSS ceiling of the tree.
    pub max_rss_bytes: Option<u64>,
    /// Metric asked for; `None` picks the best one measured.
    pub metric: Option<Metric>,
    /// Exit code for an inconclusive verdict.
    pub on_inconclusive: OnInconclusive,
}

/// What the judging flags fall back to: the profile's `[run]`/`[limits]`
/// for `run`, the previous `summary.json` for `report`.
#[derive(Debug, Clone, Default)]
pub struct JudgeFallback {
    /// Warm-up.
    pub warmup: Option<Warmup>,
    /// Growth limit.
    pub max_growth: Option<Rate>,
    /// RSS ceiling.
    pub max_rss_bytes: Option<u64>,
    /// Metric.
    pub metric: Option<Metric>,
    /// Inconclusive exit code.
    pub on_inconclusive: Option<OnInconclusive>,
}

impl JudgeSettings {
    /// Flag, then fallback, then default; the default warm-up is taken
    /// over `span` (the planned duration, or a recording's length).
    pub fn resolve(flags: &JudgeArgs, fallback: JudgeFallback, span: Duration) -> JudgeSettings {
        let warmup = match flags.warmup.or(fallback.warmup) {
            Some(Warmup::Fixed(d)) => WarmupRule::Fixed(d),
            Some(Warmup::Auto) => WarmupRule::Found {
                planned: default_warmup(span),
            },
            None if defaults::WARMUP_AUTO => WarmupRule::Found {
                planned: default_warmup(span),
            },
            None => WarmupRule::Fixed(default_warmup(span)),
        };
        JudgeSettings {
            warmup,
            max_growth: flags
                .max_growth
                .clone()
                .or(fallback.max_growth)
                .unwrap_or_else(default_limit),
            max_rss_bytes: flags.max_rss.or(fallback.max_rss_bytes),
            metric: flags.metric.map(Metric::from).or(fallback.metric),
            on_inconclusive: flags
                .on_inconclusive
                .map(OnInconclusive::from)
                .or(fallback.on_inconclusive)
                .unwrap_or_default(),
        }
    }

    /// What the analysis is asked to decide, fitted over block minima.
    pub fn criteria(&self) -> Criteria {
        Criteria {
            warmup: self.warmup,
            max_growth_bytes_per_hour: self.max_growth.bytes_per_hour,
            max_rss_bytes: self.max_rss_bytes,
            block_stat: BlockStat::Min,
        }
    }

    /// The warm-up workloads and profilers time themselves by.
    pub fn planned_warmup(&self) -> Duration {
        self.warmup.planned()
    }
}

/// The default growth limit, [`defaults::MAX_GROWTH`].
pub fn default_limit() -> Rate {
    // A constant in the rate syntax, parsed in the tests below: cannot fail.
    Rate::parse(defaults::MAX_GROWTH).expect("the default limit parses")
}

/// A configuration that cannot run: the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The profile failed to load.
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// Values that contradict each other or are missing.
    #[error("{0}")]
    Invalid(String),
}

impl RunConfig {
    /// Builds the run from the flags and the profile they name (or the
    /// built-in quickstart when they name neither a profile nor a target).
    pub fn from_args(args: &RunArgs) -> Result<RunConfig, ConfigError> {
        let builtin = args.profile.is_none()
            && args.command.is_empty()
            && args.pid.is_none()
            && args.source.cgroup.is_none()
            && args.source.prometheus.is_none()
            && args.source.cdp.is_none()
            && args.source.browser.is_none();
        let profile = match &args.profile {
            Some(path) => Profile::load(path)?,
            None if builtin => Profile::parse(QUICKSTART, Path::new("<built-in quickstart>"))?,
            None => Profile::default(),
        };
        RunConfig::from_profile(args, profile)
    }

    /// Builds the run from the flags and a loaded profile.
    pub fn from_profile(args: &RunArgs, profile: Profile) -> Result<RunConfig, ConfigError> {
        let mut expander = Placeholders::default();
        let from = Inputs {
            args,
            profile: &profile,
        };
        let source = from.memory_source(&mut expander)?;
        let target = from.target(&mut expander, &source)?;
        let readiness = from.readiness(&mut expander)?;
        let (timing, judge) = from.timing_and_judging(&source)?;
        from.check_source(&source, &target, &judge)?;
        let name = from.name(&target);
        let tls = from.tls()?;
        let workloads = spec::build(&profile.workloads, &tls, &mut |t| {
            expander.expand(t).map_err(|e| e.to_string())
        })
        .map_err(|e| {
            let path: Vec<&str> = e.at.iter().map(String::as_str).collect();
            ConfigError::Invalid(format!("{}{}", profile.at(&path), e.message))
        })?;
        if !matches!(source, SourceSpec::Cdp(_)) {
            if let Some(i) = workloads
                .iter()
                .position(|w| matches!(w, WorkloadSpec::Browser(_)))
            {
                return Err(ConfigError::Invalid(format!(
                    "{}[[workload]] '{}': a browser workload drives the run's browser page: give --browser URL (or --cdp URL), or [source] cdp = {{...}}",
                    profile.at(&["workload", &i.to_string(), "kind"]),
                    workloads[i].name()
                )));
            }
        }
        let design = crate::workload::DesignRequest {
            kind: args
                .load_design
                .or(profile.run.load_design)
                .unwrap_or_default(),
            block: profile.run.design_block.map(|d| d.0),
            judged: timing.duration.saturating_sub(judge.warmup.planned()),
        };
        check_design(&design, &workloads, timing.interval, &profile)?;
        let track_processes = args
            .track_processes
            .or(profile.run.track_processes)
            .unwrap_or(defaults::TRACK_PROCESSES);
        if track_processes > defaults::MAX_TRACK_PROCESSES {
            return Err(ConfigError::Invalid(format!(
                "{}track_processes ({track_processes}) must be at most {}: each tracked process writes a row a second; the rest are summed as `other`",
                from.at(args.track_processes.is_some(), &["run", "track_processes"]),
                defaults::MAX_TRACK_PROCESSES
            )));
        }
        // An empty folder name would write the run into the current
        // directory: refused even when a flag overrides it.
        if let Some(p) = &profile.run.out {
            if p.as_os_str().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{}the run folder must not be empty: give a folder name, or leave 'out' out for reports/<name>-<time>",
                    profile.at(&["run", "out"])
                )));
            }
        }
        let profiler = from.profiler(&target)?;
        let out_dir = match args.out.clone().or(profile.run.out.clone()) {
            Some(dir) => dir,
            None => default_out_dir(&name),
        };
        let t = &profile.target;
        Ok(RunConfig {
            name,
            profile: args.profile.clone(),
            target,
            readiness,
            ready_timeout: args
                .ready_timeout
                .or(t.ready_timeout.map(|d| d.0))
                .unwrap_or(defaults::READY_TIMEOUT),
            stop_grace: t.stop_grace.map_or(defaults::STOP_GRACE, |d| d.0),
            duration: timing.duration,
            judge: JudgeSettings {
                metric: match (&source, judge.metric) {
                    // A page's heap is what a frontend soak judges.
                    (SourceSpec::Cdp(_), None) => Some(Metric::JsHeap),
                    // A query's value is all Prometheus gives (`rss`: its
                    // name before it had its own).
                    (SourceSpec::Prometheus(_), None | Some(Metric::Rss)) => Some(Metric::Query),
                    (_, m) => m,
                },
                ..judge
            },
            interval: timing.interval,
            pss_interval: timing.pss_interval,
            smaps_interval: args
                .smaps_interval
                .or(profile.run.smaps_interval.map(|d| d.0))
                .unwrap_or(defaults::smaps_interval(timing.duration)),
            track_processes,
            out_dir,
            design,
            workloads,
            fail_fast: (args.fail_fast || profile.limits.fail_fast == Some(true))
                .then_some(FailFast::DEFAULT),
            profiler,
            source,
            tls,
        })
    }
}

/// A load design that can be fitted: something to vary, and blocks long
/// enough to hold several samples and short enough for a whole cycle to
/// fit in the judged window.
fn check_design(
    design: &crate::workload::DesignRequest,
    workloads: &[WorkloadSpec],
    interval: Duration,
    profile: &Profile,
) -> Result<(), ConfigError> {
    use crate::workload::design::LoadDesign;
    if design.kind == LoadDesign::Steady {
        if design.block.is_some() {
            return Err(ConfigError::Invalid(format!(
                "{}'design_block' needs load_design = \"alternate\"",
                profile.at(&["run", "design_block"])
            )));
        }
        return Ok(());
    }
    if !workloads.iter().any(|w| w.schedule().is_some()) {
        return Err(ConfigError::Invalid(format!(
            "{}load_design = \"alternate\" varies the rates of workloads that send at a rate (`rate` or `total_rate`): this profile has none",
            profile.at(&["run", "load_design"])
        )));
    }
    let drivers = crate::workload::design::drivers_of(workloads);
    let block = design
        .block
        .unwrap_or_else(|| crate::workload::design::block_for(design.judged, drivers));
    let min_block = interval * 5;
    if block < min_block {
        return Err(ConfigError::Invalid(format!(
            "{}the load design's blocks ({}) must hold at least five samples ({}): lengthen the run or the blocks, or sample more often",
            profile.at(&["run", "design_block"]),
            humantime::format_duration(block),
            humantime::format_duration(min_block)
        )));
    }
    let cycle = block * 2u32.saturating_pow(drivers.max(1));
    if cycle > design.judged {
        eprintln!(
            "memsoak: warning: the load design's cycle ({} for {drivers} driver(s)) is longer than the judged window ({}): the drivers are told apart less well",
            humantime::format_duration(cycle),
            humantime::format_duration(design.judged)
        );
    }
    Ok(())
}

/// The run's clock.
struct Timing {
    duration: Duration,
    interval: Duration,
    pss_interval: Duration,
}

/// The flags and the profile, read together: each step of
/// [`RunConfig::from_profile`] takes a flag over its profile key.
struct Inputs<'a> {
    args: &'a RunArgs,
    profile: &'a Profile,
}

impl Inputs<'_> {
    /// Where an error about a value goes: `file:line: ` for a value from
    /// the profile, nothing for a value given by a flag.
    fn at(&self, from_flag: bool, path: &[&str]) -> String {
        if from_flag {
            String::new()
        } else {
            self.profile.at(path)
        }
    }

    /// Launch (`-- COMMAND` or `[target] command`) or attach (`--pid` or
    /// `[target] pid`).
    fn target(
        &self,
        expander: &mut Placeholders,
        source: &SourceSpec,
    ) -> Result<TargetSpec, ConfigError> {
        let (args, profile) = (self.args, self.profile);
        let t = &profile.target;
        if let Some(pid) = args.pid {
            return Ok(TargetSpec::Attach { pid });
        }
        if !args.command.is_empty() {
            return launch_spec(&args.command, t, expander, "");
        }
        match (&t.command, t.pid) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
                "{}[target] sets both 'command' and 'pid': choose one",
                profile.at(&["target", "pid"])
            ))),
            (Some(cmd), None) => launch_spec(cmd, t, expander, &profile.at(&["target", "command"])),
            (None, Some(pid)) => Ok(TargetSpec::Attach { pid }),
            // Something else runs the backend; the source says what to read.
            (None, None)
                if matches!(
                    source,
                    SourceSpec::Prometheus(_)
                        | SourceSpec::Cgroup(CgroupSpec::Existing(_))
                        | SourceSpec::Cdp(_)
                ) =>
            {
                Ok(TargetSpec::None)
            }
            (None, None) => Err(ConfigError::Invalid(format!(
                "{}nothing to measure: give a profile with [target] command or pid, `--pid N`, or `-- COMMAND`",
                profile.at(&["target"])
            ))),
        }
    }

    /// The readiness check, checked for its form.
    fn readiness(&self, expander: &mut Placeholders) -> Result<Option<Readiness>, ConfigError> {
        let (args, t) = (self.args, &self.profile.target);
        let readiness = match (&args.ready_url, &args.ready_tcp) {
            (Some(u), _) => Some(Readiness::Http(expander.expand(u)?)),
            (_, Some(a)) => Some(Readiness::Tcp(expander.expand(a)?)),
            _ => match (&t.ready_url, &t.ready_tcp) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Invalid(format!(
                        "{}[target] sets both 'ready_url' and 'ready_tcp': choose one",
                        self.profile.at(&["target", "ready_tcp"])
                    )))
                }
                (Some(u), None) => Some(Readiness::Http(expander.expand(u)?)),
                (None, Some(a)) => Some(Readiness::Tcp(expander.expand(a)?)),
                (None, None) => None,
            },
        };
        match &readiness {
            Some(Readiness::Http(url))
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                Err(ConfigError::Invalid(format!(
                    "{}ready URL '{url}' must start with http:// or https://, e.g. http://127.0.0.1:8000/health",
                    self.at(args.ready_url.is_some(), &["target", "ready_url"]),
                )))
            }
            Some(Readiness::Tcp(addr)) => {
                let port = addr
                    .rsplit_once(':')
                    .map(|(host, port)| (host, port.parse::<u16>()));
                if matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                    Ok(readiness)
                } else {
                    Err(ConfigError::Invalid(format!(
                        "{}ready TCP address '{addr}' must be HOST:PORT (e.g. 127.0.0.1:8000)",
                        self.at(args.ready_tcp.is_some(), &["target", "ready_tcp"])
                    )))
                }
            }
            _ => Ok(readiness),
        }
    }

    /// Duration, intervals and the judging settings, checked against each
    /// other.
    fn timing_and_judging(
        &self,
        source: &SourceSpec,
    ) -> Result<(Timing, JudgeSettings), ConfigError> {
        let (args, r, l) = (self.args, &self.profile.run, &self.profile.limits);
        let invalid = ConfigError::Invalid;
        let duration = args
            .duration
            .or(r.duration.map(|d| d.0))
            .unwrap_or(defaults::DURATION);
        let step = match source {
            SourceSpec::Prometheus(p) => p.step,
            _ => None,
        };
        let interval = args
            .interval
            .or(step)
            .or(r.interval.map(|d| d.0))
            .unwrap_or(defaults::INTERVAL);
        let judge = JudgeSettings::resolve(
            &args.judge,
            JudgeFallback {
                warmup: r.warmup,
                max_growth: l.max_growth.clone(),
                max_rss_bytes: l.max_rss.map(|s| s.0),
                metric: l.metric,
                on_inconclusive: l.on_inconclusive,
            },
            duration,
        );
        let warmup = judge.warmup.planned();
        let pss_interval = args
            .pss_interval
            .or(r.pss_interval.map(|d| d.0))
            .unwrap_or(interval.max(defaults::MIN_PSS_INTERVAL));
        if warmup >= duration {
            let place = if args.judge.warmup.is_none() && r.warmup.is_some() {
                self.at(false, &["run", "warmup"])
            } else {
                self.at(args.duration.is_some(), &["run", "duration"])
            };
            return Err(invalid(format!(
                "{place}warm-up ({}) must be shorter than the duration ({})",
                humantime::format_duration(warmup),
                humantime::format_duration(duration)
            )));
        }
        if interval < defaults::MIN_INTERVAL {
            return Err(invalid(format!(
                "{}interval ({}) must be at least {}: reading a process tree takes about a millisecond",
                self.at(args.interval.is_some(), &["run", "interval"]),
                humantime::format_duration(interval),
                humantime::format_duration(defaults::MIN_INTERVAL)
            )));
        }
        if interval > duration {
            return Err(invalid(format!(
                "{}interval ({}) must not be longer than the duration ({})",
                self.at(args.interval.is_some(), &["run", "interval"]),
                humantime::format_duration(interval),
                humantime::format_duration(duration)
            )));
        }
        let timing = Timing {
            duration,
            interval,
            pss_interval,
        };
        Ok((timing, judge))
    }

    /// The profiler (`--profiler` over `[profiler] kind`) and its options.
    fn profiler(&self, target: &TargetSpec) -> Result<Option<ProfilerSettings>, ConfigError> {
        let p = &self.profile.profiler;
        let invalid = ConfigError::Invalid;
        let Some(kind) = self.args.profiler.or(p.kind) else {
            if p.frames.is_some() || p.max_processes.is_some() || p.timeout.is_some() {
                return Err(invalid(format!(
                    "{}[profiler] sets options but no 'kind': add kind = \"tracemalloc\", \"memray\" or \"heaptrack\" (or pass --profiler)",
                    self.profile.at(&["profiler"])
                )));
            }
            return Ok(None);
        };
        let from_flag = self.args.profiler.is_some();
        if matches!(target, TargetSpec::None) {
            return Err(invalid(format!(
                "{}a profiler needs a process: launch the target (`-- COMMAND`) or attach (`--pid N`); with only a cgroup or Prometheus there is none",
                self.at(from_flag, &["profiler", "kind"])
            )));
        }
        if matches!(target, TargetSpec::Attach { .. }) && !kind.can_attach() {
            return Err(invalid(format!(
                "{}the {} profiler is armed when the target starts, so it needs a launched target (`-- COMMAND` or [target] command); memray and heaptrack can attach to a running pid",
                self.at(from_flag, &["profiler", "kind"]),
                kind.name()
            )));
        }
        let mut settings = ProfilerSettings::new(kind);
        if let Some(frames) = p.frames {
            if frames == 0 || frames > ProfilerSettings::MAX_FRAMES {
                return Err(invalid(format!(
                    "{}[profiler] frames ({frames}) must be between 1 and {}",
                    self.profile.at(&["profiler", "frames"]),
                    ProfilerSettings::MAX_FRAMES
                )));
            }
            settings.frames = frames;
        }
        if let Some(n) = p.max_processes {
            if n == 0 || n > defaults::MAX_TRACK_PROCESSES {
                return Err(invalid(format!(
                    "{}[profiler] max_processes ({n}) must be between 1 and {}",
                    self.profile.at(&["profiler", "max_processes"]),
                    defaults::MAX_TRACK_PROCESSES
                )));
            }
            settings.max_processes = n;
        }
        if let Some(t) = p.timeout {
            settings.timeout = t.0;
        }
        Ok(Some(settings))
    }

    /// What TLS connections trust: `--tls-ca` and `--tls-insecure` over
    /// `[tls]`; a CA file is read now.
    pub(super) fn tls(&self) -> Result<Trust, ConfigError> {
        let t = &self.profile.tls;
        let flags = &self.args.tls;
        let trust = Trust {
            ca_file: flags.tls_ca.clone().or(t.ca_file.clone()),
            insecure: flags.tls_insecure || t.insecure == Some(true),
        };
        trust.check().map_err(|e| {
            ConfigError::Invalid(format!(
                "{}{e:#}",
                self.at(flags.tls_ca.is_some(), &["tls", "ca_file"])
            ))
        })?;
        Ok(trust)
    }

    /// The run's name: the profile's, its file stem, or the program's.
    fn name(&self, target: &TargetSpec) -> String {
        sanitize(
            &self
                .profile
                .name
                .clone()
                .or_else(|| {
                    self.args
                        .profile
                        .as_ref()
                        .and_then(|p| p.file_stem())
                        .map(|s| s.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| match target {
                    TargetSpec::Launch(l) => Path::new(&l.program)
                        .file_name()
                        .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned()),
                    TargetSpec::Attach { pid } => format!("pid-{pid}"),
                    TargetSpec::None => match &self.profile.memory {
                        m if m.prometheus.is_some() || self.args.source.prometheus.is_some() => {
                            "prometheus".into()
                        }
                        m if m.cdp.is_some()
                            || self.args.source.cdp.is_some()
                            || self.args.source.browser.is_some() =>
                        {
                            "frontend".into()
                        }
                        _ => "cgroup".into(),
                    },
                }),
        )
    }
}

/// The launch from `command`; `place` prefixes errors (`file:line: ` when
/// the command came from the profile).
fn launch_spec(
    command: &[String],
    t: &crate::profile::TargetSection,
    expander: &mut Placeholders,
    place: &str,
) -> Result<TargetSpec, ConfigError> {
    // Started from memsoak's own folder, the command names memsoak by the
    // shortest path that works there, so outputs show what a user typed
    // (`target/release/memsoak`), not this machine's absolute path.
    expander.relative_exe = t.cwd.is_none();
    let mut words = command
        .iter()
        .map(|w| expander.expand(w))
        .collect::<Result<Vec<_>, _>>()?;
    expander.relative_exe = false;
    if words.first().is_none_or(|p| p.is_empty()) {
        return Err(ConfigError::Invalid(format!(
            "{place}[target] command is empty"
        )));
    }
    let program = words.remove(0);
    let mut env: BTreeMap<String, String> = t
        .env
        .iter()
        .flatten()
        .map(|(k, v)| Ok((k.clone(), expander.expand(v)?)))
        .collect::<Result<_, ConfigError>>()?;
    if t.decorate_maps != Some(false) {
        decorate_maps(&mut env);
    }
    Ok(TargetSpec::Launch(LaunchSpec {
        program,
        args: words,
        cwd: t.cwd.clone(),
        env,
        cgroup_procs: None,
    }))
}

/// Adds `glibc.mem.decorate_maps=1` to the target's `GLIBC_TUNABLES`
/// (the profile's value, else memsoak's own, kept): glibc 2.40 and later
/// then name their arenas and thread stacks in `smaps` on kernels that
/// allow names (5.17+ with `CONFIG_ANON_VMA_NAME`), so the memory classes
/// come from names, not shapes. An older glibc ignores the tunable.
fn decorate_maps(env: &mut BTreeMap<String, String>) {
    const TUNABLE: &str = "glibc.mem.decorate_maps";
    let current = env
        .get("GLIBC_TUNABLES")
        .cloned()
        .or_else(|| std::env::var("GLIBC_TUNABLES").ok())
        .unwrap_or_default();
    if current.contains(TUNABLE) {
        return;
    }
    let value = if current.is_empty() {
        format!("{TUNABLE}=1")
    } else {
        format!("{current}:{TUNABLE}=1")
    };
    env.insert("GLIBC_TUNABLES".into(), value);
}

/// Expands `{port}` (a free loopback port, picked once per run) and
/// `{memsoak}` (this executable) in profile strings.
#[derive(Default)]
struct Placeholders {
    port: Option<u16>,
    /// `{memsoak}` relative to the current folder when it lies below it.
    relative_exe: bool,
}

impl Placeholders {
    fn expand(&mut self, text: &str) -> Result<String, ConfigError> {
        let mut out = text.to_string();
        if out.contains("{port}") {
            let port = match self.port {
                Some(p) => p,
                None => {
                    let p = free_port().map_err(|e| {
                        ConfigError::Invalid(format!(
                            "could not find a free port for {{port}}: {e}"
                        ))
                    })?;
                    *self.port.insert(p)
                }
            };
            out = out.replace("{port}", &port.to_string());
        }
        if out.contains("{memsoak}") {
            let exe = std::env::current_exe().map_err(|e| {
                ConfigError::Invalid(format!(
                    "could not locate the memsoak executable for {{memsoak}}: {e}"
                ))
            })?;
            let here = std::env::current_dir().ok();
            let exe = match here.as_deref().and_then(|d| exe.strip_prefix(d).ok()) {
                // A bare name would be looked up in PATH: keep a slash.
                Some(rel) if self.relative_exe && rel.components().count() > 1 => rel.to_path_buf(),
                Some(rel) if self.relative_exe => Path::new(".").join(rel),
                _ => exe,
            };
            out = out.replace("{memsoak}", &exe.to_string_lossy());
        }
        Ok(out)
    }
}

/// A port on 127.0.0.1 that is free right now. The kernel picks it; another
/// process could take it before the target binds, which a readiness timeout
/// then reports.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Keeps a name usable as a folder name.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("run{s}")
    } else {
        s
    }
}

/// `reports/<name>-<UTC timestamp>`, with a numeric suffix if it exists.
pub fn default_out_dir(name: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = Path::new(defaults::REPORTS_DIR).join(format!("{name}-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(argv: &[&str]) -> Result<RunConfig, ConfigError> {
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        match cli.command {
            crate::cli::Command::Run(args) => RunConfig::from_args(&args),
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_default_limit_parses() {
        assert_eq!(default_limit().spec(), "10MB/h");
        assert_eq!(default_limit().bytes_per_hour, 10e6);
    }

    #[test]
    fn bare_run_is_the_quickstart() {
        let c = config(&["memsoak", "run"]).unwrap();
        assert_eq!(c.name, "quickstart");
        assert_eq!(c.duration, Duration::from_secs(120));
        let TargetSpec::Launch(l) = &c.target else {
            panic!()
        };
        assert_eq!(l.args[0], "demo-backend");
        let port = &l.args[2];
        assert_eq!(
            c.readiness,
            Some(Readiness::Http(format!("http://127.0.0.1:{port}/health")))
        );
        assert!(c.out_dir.starts_with("reports"));
    }

    #[test]
    fn flags_override_and_defaults_apply() {
        let c = config(&[
            "memsoak",
            "run",
            "--duration",
            "10m",
            "--max-growth",
            "2GB/h",
            "--",
            "sleep",
            "600",
        ])
        .unwrap();
        assert_eq!(c.name, "sleep");
        assert_eq!(c.judge.warmup.planned(), Duration::from_secs(60));
        assert_eq!(c.judge.max_growth.to_string(), "2.00 GB/h");
        assert_eq!(c.judge.on_inconclusive, OnInconclusive::Inconclusive);
        assert_eq!(c.readiness, None);
    }

    #[test]
    fn contradictions_are_errors() {
        let e = config(&[
            "memsoak",
            "run",
            "--duration",
            "1m",
            "--warmup",
            "2m",
            "--",
            "x",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("warm-up"), "{e}");
        let e = config(&["memsoak", "run", "--ready-url", "localhost:80", "--", "x"]).unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
    }
}
