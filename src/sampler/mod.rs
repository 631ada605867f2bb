//! Sampling the memory of a process tree on a fixed schedule.
//!
//! The sampler runs on its own OS thread, not on the async runtime, so a
//! busy workload can never delay a tick. Sample `k` is due at
//! `start + k·interval` (no drift); a sample taken late is recorded with its
//! lateness, and ticks that were missed entirely are skipped and counted,
//! never replayed in a burst.
//!
//! Each sample is appended to `samples.csv` and flushed at once, so a run
//! killed at any moment keeps every sample written, and is fed to the
//! streaming [`Analyzer`]; nothing per sample stays in memory.
//!
//! Platform backends implement [`Probe`]: `/proc` on Linux ([`linux`]),
//! `sysinfo` elsewhere ([`portable`]).

#[cfg(target_os = "linux")]
pub mod linux;
pub mod portable;

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, FailFast, Metric};
use crate::live::SamplerView;

/// How often the live view gets a fresh judgement.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// One row of `samples.csv`. Empty cells mean "not measured".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the measured clock started (readiness).
    pub elapsed_s: f64,
    /// Wall-clock time, seconds since the Unix epoch.
    pub unix_time_s: f64,
    /// How late the sample was taken after its due time, milliseconds.
    pub late_ms: f64,
    /// Processes in the tree.
    pub processes: u32,
    /// Sum of resident set sizes, bytes.
    pub rss_bytes: u64,
    /// Sum of proportional set sizes, bytes.
    pub pss_bytes: Option<u64>,
    /// Sum of anonymous resident memory, bytes.
    pub anon_bytes: Option<u64>,
    /// Sum of swapped-out memory, bytes.
    pub swap_bytes: Option<u64>,
    /// Open file descriptors.
    pub fds: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
    /// CPU used by the tree since the previous sample, percent of one core.
    pub cpu_percent: Option<f64>,
}

impl Sample {
    /// The value of `metric` in this sample, if measured.
    pub fn metric(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Rss => Some(self.rss_bytes),
            Metric::Pss => self.pss_bytes,
            Metric::Anon => self.anon_bytes,
        }
    }
}

/// Why a reading failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    /// The root process no longer exists.
    #[error("the target process is gone")]
    RootGone,
    /// Anything else; the tick is counted as a failed sample.
    #[error("{0}")]
    Other(String),
}

/// A platform backend that reads a process tree.
pub trait Probe: Send {
    /// Reads `root`, its descendants and (if given) its process group. The
    /// sampler fills in the time fields of the returned sample.
    fn read(&mut self, root: u32, group: Option<i32>, want_pss: bool)
        -> Result<Sample, ProbeError>;
    /// `samples.csv` columns this backend cannot fill.
    fn unavailable(&self) -> &'static [&'static str];
    /// The tree's processes at the last successful reading, if known.
    fn processes(&self) -> Vec<ProcessSummary> {
        Vec::new()
    }
}

/// One process of the tree, as last seen: the report's per-process breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSummary {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// Command name.
    pub name: String,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Anonymous resident memory, bytes.
    pub anon_bytes: Option<u64>,
    /// Threads.
    pub threads: u64,
}

/// The best probe for this platform. `MEMSOAK_SAMPLER=sysinfo` forces the
/// portable one.
pub fn default_probe() -> Result<Box<dyn Probe>, ProbeError> {
    #[cfg(target_os = "linux")]
    if std::env::var("MEMSOAK_SAMPLER").as_deref() != Ok("sysinfo") {
        return Ok(Box::new(linux::ProcProbe::new()));
    }
    Ok(Box::new(portable::SysinfoProbe::new()?))
}

/// What the sampler needs to know.
pub struct Settings {
    /// Root process.
    pub root: u32,
    /// Process group of a launched target.
    pub group: Option<i32>,
    /// Time between samples.
    pub interval: Duration,
    /// PSS is read every this many ticks.
    pub pss_every: u32,
    /// The metric asked for, or `None` for the best available.
    pub metric: Option<Metric>,
    /// Early-fail looks: the rule, the time between looks, and the
    /// channel to report an early fail on.
    pub fail_fast: Option<(FailFast, Duration, tokio::sync::oneshot::Sender<EarlyFail>)>,
    /// Where to publish the latest reading and judgement for the live view
    /// (at most once a second).
    pub live: Option<tokio::sync::watch::Sender<Option<SamplerView>>>,
}

/// A run failed early (`--fail-fast`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyFail {
    /// The look that failed it (1-based).
    pub look: u32,
    /// Planned looks.
    pub looks: u32,
    /// When, seconds since start.
    pub elapsed_s: f64,
    /// The growth's lower bound at that look, bytes/hour.
    pub lower_bound_bytes_per_hour: f64,
    /// Family-wise false-fail probability of the rule.
    pub alpha: f64,
}

/// What the sampler hands back when stopped.
pub struct Outcome {
    /// The analyser, fed with every sample.
    pub analyzer: Analyzer,
    /// The metric judged.
    pub metric: Metric,
    /// Why the metric differs from the one asked for, if it does.
    pub metric_note: Option<String>,
    /// Samples written.
    pub samples: u64,
    /// Samples taken more than a quarter interval late.
    pub late_samples: u64,
    /// Ticks skipped because the sampler fell a whole interval behind.
    pub missed_ticks: u64,
    /// Ticks whose reading failed (other than the target being gone).
    pub failed_samples: u64,
    /// The first failure message, if any.
    pub first_failure: Option<String>,
    /// Columns this platform could not fill.
    pub unavailable: Vec<&'static str>,
    /// The largest process count seen.
    pub max_processes: u32,
    /// The tree's processes at the last reading.
    pub processes: Vec<ProcessSummary>,
}

/// A running sampler thread.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Outcome>,
}

impl Sampler {
    /// Starts sampling at `start` into `csv_path`; `root_gone` fires if the
    /// root process disappears.
    pub fn spawn(
        settings: Settings,
        analyzer: Analyzer,
        csv_path: &Path,
        start: Instant,
        root_gone: tokio::sync::oneshot::Sender<()>,
    ) -> anyhow::Result<Sampler> {
        use anyhow::Context;
        let probe = default_probe().map_err(anyhow::Error::new)?;
        let file = File::create(csv_path)
            .with_context(|| format!("could not create '{}'", csv_path.display()))?;
        let writer = csv::Writer::from_writer(file);
        let (stop, stop_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("memsoak-sampler".into())
            .spawn(move || {
                sample_loop(settings, probe, analyzer, writer, start, stop_rx, root_gone)
            })
            .context("could not start the sampler thread")?;
        Ok(Sampler { stop, thread })
    }

    /// Stops sampling (after a last sample) and returns the outcome.
    pub fn finish(self) -> Outcome {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Counts kept while sampling; bounded, whatever the run length.
#[derive(Default)]
struct Tally {
    samples: u64,
    late_samples: u64,
    missed_ticks: u64,
    failed_samples: u64,
    first_failure: Option<String>,
    max_processes: u32,
}

impl Tally {
    fn failed(&mut self, message: String) {
        self.failed_samples += 1;
        self.first_failure.get_or_insert(message);
    }
}

fn sample_loop(
    settings: Settings,
    mut probe: Box<dyn Probe>,
    mut analyzer: Analyzer,
    mut writer: csv::Writer<File>,
    start: Instant,
    stop: mpsc::Receiver<()>,
    root_gone: tokio::sync::oneshot::Sender<()>,
) -> Outcome {
    let mut tally = Tally::default();
    let mut chosen: Option<(Metric, Option<String>)> = None;
    let mut write_failed = false;
    let mut tick: u64 = 0;
    let mut stopping = false;
    let warmup_s = analyzer.criteria().warmup.as_secs_f64();
    let limit = analyzer.criteria().max_growth_bytes_per_hour;
    let mut fail_fast = settings.fail_fast;
    let mut look: u32 = 0;
    let mut published: Option<Instant> = None;
    loop {
        let due = start + settings.interval * u32::try_from(tick).unwrap_or(u32::MAX);
        if !stopping {
            match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                // Asked to stop: take one last sample now, then end.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
        }
        let now = Instant::now();
        let late = now.saturating_duration_since(due);
        let want_pss = tick.is_multiple_of(u64::from(settings.pss_every.max(1)));
        match probe.read(settings.root, settings.group, want_pss) {
            Ok(mut sample) => {
                sample.elapsed_s = now.duration_since(start).as_secs_f64();
                sample.unix_time_s = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                sample.late_ms = if stopping {
                    0.0
                } else {
                    late.as_secs_f64() * 1000.0
                };
                let metric = chosen
                    .get_or_insert_with(|| {
                        let (m, note) = choose_metric(settings.metric, &sample);
                        tracing::info!(
                            "judging {m}{}",
                            note.as_deref().map_or(String::new(), |n| format!(" ({n})"))
                        );
                        (m, note)
                    })
                    .0;
                if !write_failed {
                    if let Err(e) = writer.serialize(&sample).and_then(|()| Ok(writer.flush()?)) {
                        write_failed = true;
                        tally.failed(format!("could not write samples.csv: {e}"));
                    }
                }
                analyzer.observe(
                    sample.elapsed_s,
                    sample.metric(metric).map(|v| v as f64),
                    Some(sample.rss_bytes),
                );
                tally.samples += 1;
                tally.max_processes = tally.max_processes.max(sample.processes);
                if let Some(tx) = &settings.live {
                    if published.is_none_or(|t: Instant| now.duration_since(t) >= PUBLISH_EVERY) {
                        published = Some(now);
                        tx.send_replace(Some(SamplerView {
                            metric,
                            metric_bytes: sample.metric(metric),
                            rss_bytes: sample.rss_bytes,
                            processes: sample.processes,
                            judgement: analyzer.judge(),
                        }));
                    }
                }
                // An early-fail look is due every `every` after warm-up.
                let mut fired = None;
                if let Some((rule, every, _)) = &fail_fast {
                    let due = warmup_s + f64::from(look + 1) * every.as_secs_f64();
                    if sample.elapsed_s >= due && look < rule.looks {
                        look += 1;
                        let bound = analyzer.early_fail_bound(rule);
                        tracing::info!(
                            "fail-fast look {look} of {} at {:.0}s: growth lower bound {} bytes/h, limit {limit:.0}",
                            rule.looks,
                            sample.elapsed_s,
                            bound.map_or("unknown".into(), |b| format!("{b:.0}"))
                        );
                        fired = bound.filter(|lo| *lo > limit).map(|lo| EarlyFail {
                            look,
                            looks: rule.looks,
                            elapsed_s: sample.elapsed_s,
                            lower_bound_bytes_per_hour: lo,
                            alpha: rule.alpha,
                        });
                    }
                }
                if let Some(e) = fired {
                    // Report once; no more looks after the run failed.
                    if let Some((_, _, tx)) = fail_fast.take() {
                        let _ = tx.send(e);
                    }
                }
                if !stopping && late > settings.interval / 4 {
                    tally.late_samples += 1;
                    tracing::debug!("sample at {:.1}s was {late:?} late", sample.elapsed_s);
                }
            }
            Err(ProbeError::RootGone) => {
                tracing::info!("the root process {} is gone", settings.root);
                let _ = root_gone.send(());
                break;
            }
            Err(ProbeError::Other(e)) => {
                tracing::debug!("reading the process tree failed: {e}");
                tally.failed(e);
            }
        }
        if stopping {
            break;
        }
        tick += 1;
        // Fell a whole interval or more behind: skip to the current slot.
        let elapsed = Instant::now().saturating_duration_since(start);
        let current = (elapsed.as_nanos() / settings.interval.as_nanos().max(1)) as u64;
        if current > tick {
            tally.missed_ticks += current - tick;
            tick = current;
        }
    }
    let (metric, metric_note) =
        chosen.unwrap_or((settings.metric.unwrap_or(Metric::PREFERENCE[0]), None));
    Outcome {
        analyzer,
        metric,
        metric_note,
        samples: tally.samples,
        late_samples: tally.late_samples,
        missed_ticks: tally.missed_ticks,
        failed_samples: tally.failed_samples,
        first_failure: tally.first_failure,
        unavailable: probe.unavailable().to_vec(),
        max_processes: tally.max_processes,
        processes: probe.processes(),
    }
}

/// The metric to judge, and a note when it is not the one asked for.
fn choose_metric(asked: Option<Metric>, first: &Sample) -> (Metric, Option<String>) {
    match asked {
        Some(m) if first.metric(m).is_some() => (m, None),
        _ => {
            let best = Metric::PREFERENCE
                .into_iter()
                .find(|&m| first.metric(m).is_some())
                .unwrap_or(Metric::Rss);
            let note = match asked {
                Some(m) => Some(format!(
                    "{m} is not readable for this target on this platform; judged {best} instead"
                )),
                None if best != Metric::PREFERENCE[0] => Some(format!(
                    "{} is not readable for this target on this platform; judged {best}",
                    Metric::PREFERENCE[0]
                )),
                None => None,
            };
            (best, note)
        }
    }
}
