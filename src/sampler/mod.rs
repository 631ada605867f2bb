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
pub(crate) mod linux;
mod per_process;
pub(crate) mod portable;

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::analysis::{Analyzer, EarlyFail, FailFastMonitor, Judgement, Metric};
use crate::recording::breakdown::{self, Breakdown};
pub use crate::recording::samples::Sample;

/// How often the live view gets a fresh judgement.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Why a reading failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    /// The root process no longer exists.
    #[error("the target process is gone")]
    RootGone,
    /// Nothing to read yet (a Prometheus series not scraped yet): the
    /// tick is skipped, not counted as a failure.
    #[error("{0}")]
    NotYet(String),
    /// Anything else; the tick is counted as a failed sample.
    #[error("{0}")]
    Other(String),
}

/// A platform backend that reads a process tree.
pub trait Probe: Send {
    /// Reads the processes of `tree`. The sampler fills in the time fields
    /// of the returned sample.
    fn read(&mut self, tree: &Tree, want: Want) -> Result<Sample, ProbeError>;
    /// `samples.csv` columns this backend cannot fill.
    fn unavailable(&self) -> &'static [&'static str];
    /// The tree's processes at the last successful reading, if known.
    fn processes(&self) -> Vec<ProcessSummary> {
        Vec::new()
    }
    /// The tree's memory classes and resources now, reading `smaps` too
    /// if asked; `None` where this platform cannot tell.
    fn breakdown(&mut self, _smaps: bool) -> Option<Breakdown> {
        None
    }
    /// Each process of the tree at the last walk of the tree.
    fn readings(&self) -> &[ProcReading] {
        &[]
    }
    /// The name and command line of a process of the last walk.
    fn describe(&self, _pid: i32) -> Option<ProcessInfo> {
        None
    }
    /// The command name of a process of the last walk (it changes on exec).
    fn name(&self, _pid: i32) -> Option<&str> {
        None
    }
    /// Called after each successful reading, timed on the run's clock: a
    /// source with series of its own (Prometheus) writes them here.
    fn record(&mut self, _elapsed_s: f64) -> anyhow::Result<()> {
        Ok(())
    }
    /// What the source saw happen (a replica restarting), in time order,
    /// taken once at the end.
    fn events(&mut self) -> Vec<SourceEvent> {
        Vec::new()
    }
}

/// Something a memory source saw happen during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RecordedEvent")]
pub struct SourceEvent {
    /// Seconds since the measured clock started.
    pub elapsed_s: f64,
    /// The series it happened to.
    pub series: String,
    /// What kind of thing happened.
    pub kind: EventKind,
    /// What happened, in a few words.
    pub what: String,
}

impl SourceEvent {
    /// An event of `kind` at `elapsed_s`.
    pub fn new(elapsed_s: f64, series: String, kind: EventKind, what: String) -> SourceEvent {
        SourceEvent {
            elapsed_s,
            series,
            kind,
            what,
        }
    }
}

/// The kinds of [`SourceEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A replica (a series) restarted: its values start again.
    Restart,
    /// The source's root went away (a browser page closed or crashed).
    Gone,
    /// Anything else worth telling (series left out, …).
    Note,
}

/// A [`SourceEvent`] as `summary.json` holds it; summaries written before
/// events had a kind are read by their words.
#[derive(Deserialize)]
struct RecordedEvent {
    elapsed_s: f64,
    series: String,
    #[serde(default)]
    kind: Option<EventKind>,
    what: String,
}

impl From<RecordedEvent> for SourceEvent {
    fn from(e: RecordedEvent) -> SourceEvent {
        let kind = e.kind.unwrap_or(if e.what.starts_with("restart") {
            EventKind::Restart
        } else {
            EventKind::Note
        });
        SourceEvent::new(e.elapsed_s, e.series, kind, e.what)
    }
}

/// One process of the tree at a walk: a row of `processes.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcReading {
    /// Process id.
    pub pid: i32,
    /// Start time, seconds after boot (with the pid, names one process).
    pub start_s: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Anonymous resident memory, bytes.
    pub anon_bytes: Option<u64>,
    /// Proportional set size, bytes, on PSS ticks.
    pub pss_bytes: Option<u64>,
}

/// What names a process in the outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// Command name.
    pub name: String,
    /// Command line.
    pub command: Vec<String>,
}

/// What a tick reads besides the cheap per-tick figures (RSS, anonymous
/// memory, open files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// PSS and swap (`smaps_rollup`, which walks page tables).
    pub pss: bool,
    /// The tree itself: new and re-parented members, threads and CPU.
    /// Between such ticks a probe may reuse the members it knows (those
    /// that end are noticed at once), so sampling faster than once a
    /// second costs a few reads per process per tick.
    pub tree: bool,
}

impl Want {
    /// Everything.
    pub const ALL: Want = Want {
        pss: true,
        tree: true,
    };
}

/// How often a tick rediscovers the tree (and reads threads and CPU).
pub const TREE_EVERY: Duration = Duration::from_secs(1);

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
/// portable one; `MEMSOAK_SAMPLER=scan` the `/proc` probe's fallback that
/// scans every process on each tick (for kernels without children files;
/// selectable so it is tested and benchmarked).
pub fn default_probe() -> Result<Box<dyn Probe>, ProbeError> {
    let choice = std::env::var("MEMSOAK_SAMPLER").unwrap_or_default();
    #[cfg(target_os = "linux")]
    match choice.as_str() {
        "sysinfo" => {}
        "scan" => return Ok(Box::new(linux::ProcProbe::with_children_files(false))),
        _ => return Ok(Box::new(linux::ProcProbe::new())),
    }
    let _ = choice;
    Ok(Box::new(portable::SysinfoProbe::new()?))
}

/// Which processes are measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    /// A running process and its descendants.
    Attached {
        /// The process attached to.
        root: u32,
    },
    /// A launched target: every descendant of memsoak (its subreaper, so
    /// orphans of the target come back to it) and every member of the
    /// target's process group, less memsoak itself and the `exclude`d
    /// processes (the watchdog) with their descendants.
    Launched {
        /// The target's process group.
        group: i32,
        /// memsoak's own helpers.
        exclude: Vec<u32>,
    },
    /// No process: the memory source (a cgroup, Prometheus) is all that
    /// is measured.
    None,
}

/// What the sampler needs to know.
pub struct Settings {
    /// The processes to measure.
    pub tree: Tree,
    /// Time between samples.
    pub interval: Duration,
    /// PSS is read every this many ticks; so are the memory classes from
    /// `status`, open files by type and socket queues (`breakdown.csv`).
    pub pss_every: u32,
    /// Each process's `smaps` (heap, stacks, other anonymous memory) is
    /// read every this many ticks; 0: never.
    pub smaps_every: u32,
    /// At most this many processes get their own rows in `processes.csv`.
    pub track_processes: usize,
    /// The metric asked for, or `None` for the best available.
    pub metric: Option<Metric>,
    /// Early-fail looks, with `--fail-fast`.
    pub fail_fast: Option<FailFastWatch>,
    /// Where to publish the latest reading and judgement (at most once a
    /// second), for whoever shows the run as it goes.
    pub live: Option<tokio::sync::watch::Sender<Option<Snapshot>>>,
    /// With a many-series source (Prometheus): the limit per series, so
    /// the fleet sum is judged, live and by fail-fast, against it times
    /// the series answering (the `processes` of each sample).
    pub limit_per_member: Option<f64>,
    /// Held while memsoak works on the target at the end of warm-up (a
    /// profiler's baseline, a heap snapshot): the judged window starts
    /// after the last sample taken while it was held.
    pub hold: WindowHold,
}

/// A hold on the start of the judged window, shared between the sampler
/// and the work that holds it; each [`WindowHold::enter`] holds it until
/// its guard is dropped, and the last release is remembered, so a hold
/// shorter than an interval still moves the window.
#[derive(Debug, Clone, Default)]
pub struct WindowHold(std::sync::Arc<HoldState>);

#[derive(Debug, Default)]
struct HoldState {
    count: std::sync::atomic::AtomicUsize,
    released: std::sync::Mutex<Option<Instant>>,
}

/// Holds the window while it lives.
#[derive(Debug)]
pub struct HoldGuard(std::sync::Arc<HoldState>);

impl WindowHold {
    /// Holds the window until the guard is dropped.
    pub fn enter(&self) -> HoldGuard {
        self.0
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        HoldGuard(self.0.clone())
    }

    /// Whether any work holds it.
    pub fn held(&self) -> bool {
        self.0.count.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// When it was last released.
    pub fn released(&self) -> Option<Instant> {
        self.0.released.lock().ok().and_then(|r| *r)
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        if let Ok(mut r) = self.0.released.lock() {
            *r = Some(Instant::now());
        }
        self.0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Fail-fast during sampling: the monitor that takes the looks, and where
/// to report the early fail it finds.
pub struct FailFastWatch {
    /// Decides when a look is due and whether it fails.
    pub monitor: FailFastMonitor,
    /// Receives the early fail, at most once.
    pub report: tokio::sync::oneshot::Sender<EarlyFail>,
}

/// What the sampler saw last: its latest reading and the judgement so far.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The metric judged.
    pub metric: Metric,
    /// Its current value for the whole tree, bytes.
    pub metric_bytes: Option<u64>,
    /// Current RSS of the tree, bytes, when there is a tree.
    pub rss_bytes: Option<u64>,
    /// Processes in the tree.
    pub processes: u32,
    /// The judgement of the data so far.
    pub judgement: Judgement,
    /// With members each held to the limit (the series of a Prometheus
    /// query) and more than one of them: the limit the sum is judged
    /// against live (the limit times the members), bytes per hour.
    pub fleet_limit_bytes_per_hour: Option<f64>,
}

/// What the sampler hands back when stopped.
pub struct Outcome {
    /// The analyser, fed with every sample.
    pub analyzer: Analyzer,
    /// The metric judged.
    pub metric: Metric,
    /// Why the metric differs from the one asked for, if it does.
    pub metric_note: Option<String>,
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
    /// What the memory source saw happen.
    pub events: Vec<SourceEvent>,
}

/// A running sampler thread.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Outcome>,
}

impl Sampler {
    /// Starts sampling at `start` into `samples.csv`, `breakdown.csv` and
    /// `processes.csv` in `dir`; `root_gone` fires if the root process
    /// disappears.
    pub fn spawn(
        settings: Settings,
        probe: Box<dyn Probe>,
        analyzer: Analyzer,
        dir: &Path,
        start: Instant,
        root_gone: tokio::sync::oneshot::Sender<()>,
    ) -> anyhow::Result<Sampler> {
        use anyhow::Context;
        let csv_path = dir.join("samples.csv");
        let file = File::create(&csv_path)
            .with_context(|| format!("could not create '{}'", csv_path.display()))?;
        let writer = csv::Writer::from_writer(file);
        let details = breakdown::Writers::create(dir)?;
        let (stop, stop_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("memsoak-sampler".into())
            .spawn(move || {
                sample_loop(
                    settings,
                    probe,
                    analyzer,
                    (writer, details),
                    start,
                    stop_rx,
                    root_gone,
                )
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

/// The sampler thread's state between ticks: bounded, whatever the run
/// length.
struct Sampling {
    settings: Settings,
    probe: Box<dyn Probe>,
    analyzer: Analyzer,
    writer: csv::Writer<File>,
    details: breakdown::Writers,
    slots: per_process::ProcessSlots,
    tally: Tally,
    /// The metric judged, chosen on the first reading.
    chosen: Option<(Metric, Option<String>)>,
    /// `samples.csv` could not be written: judging goes on in memory.
    write_failed: bool,
    /// `breakdown.csv` or `processes.csv` could not be written.
    details_failed: bool,
    fail_fast: Option<FailFastWatch>,
    published: Option<Instant>,
}

/// One tick: when it was due, when it was taken, what it read.
struct Tick {
    number: u64,
    now: Instant,
    late: Duration,
    want: Want,
    /// The last sample, taken when asked to stop.
    stopping: bool,
}

fn sample_loop(
    settings: Settings,
    probe: Box<dyn Probe>,
    analyzer: Analyzer,
    (writer, details): (csv::Writer<File>, breakdown::Writers),
    start: Instant,
    stop: mpsc::Receiver<()>,
    root_gone: tokio::sync::oneshot::Sender<()>,
) -> Outcome {
    let mut state = Sampling {
        slots: per_process::ProcessSlots::new(settings.track_processes),
        fail_fast: None,
        settings,
        probe,
        analyzer,
        writer,
        details,
        tally: Tally::default(),
        chosen: None,
        write_failed: false,
        details_failed: false,
        published: None,
    };
    state.fail_fast = state.settings.fail_fast.take();
    let interval = state.settings.interval;
    let pss_every = u64::from(state.settings.pss_every.max(1));
    let tree_every = TREE_EVERY
        .as_nanos()
        .div_ceil(interval.as_nanos().max(1))
        .max(1) as u64;
    let mut number: u64 = 0;
    let mut stopping = false;
    loop {
        let due = start + interval * u32::try_from(number).unwrap_or(u32::MAX);
        if !stopping {
            match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                // Asked to stop: take one last sample now, then end.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
        }
        let now = Instant::now();
        let tick = Tick {
            number,
            now,
            late: now.saturating_duration_since(due),
            want: Want {
                pss: number.is_multiple_of(pss_every),
                tree: stopping || number.is_multiple_of(tree_every),
            },
            stopping,
        };
        match state.probe.read(&state.settings.tree, tick.want) {
            Ok(sample) => state.sampled(sample, start, &tick),
            Err(ProbeError::RootGone) => {
                tracing::info!("the target is gone ({:?})", state.settings.tree);
                let _ = root_gone.send(());
                break;
            }
            Err(ProbeError::NotYet(e)) => {
                tracing::debug!("nothing to read yet: {e}");
            }
            Err(ProbeError::Other(e)) => {
                tracing::debug!("reading the process tree failed: {e}");
                state.tally.failed(e);
            }
        }
        if stopping {
            break;
        }
        number += 1;
        // Fell a whole interval or more behind: skip to the current slot.
        let elapsed = Instant::now().saturating_duration_since(start);
        let current = (elapsed.as_nanos() / interval.as_nanos().max(1)) as u64;
        if current > number {
            state.tally.missed_ticks += current - number;
            number = current;
        }
    }
    state.outcome()
}

impl Sampling {
    /// A reading: written, recorded, judged, published, looked at.
    fn sampled(&mut self, mut sample: Sample, start: Instant, tick: &Tick) {
        sample.elapsed_s = tick.now.duration_since(start).as_secs_f64();
        sample.unix_time_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        sample.late_ms = if tick.stopping {
            0.0
        } else {
            tick.late.as_secs_f64() * 1000.0
        };
        let metric = self.metric(&sample);
        self.write(&sample, tick);
        if let Some(limit) = self.settings.limit_per_member {
            self.analyzer
                .set_max_growth(limit * f64::from(sample.processes.max(1)));
        }
        if self.settings.hold.held() {
            self.analyzer.hold_until(sample.elapsed_s);
        } else if let Some(at) = self.settings.hold.released() {
            self.analyzer
                .hold_until(at.saturating_duration_since(start).as_secs_f64());
        }
        self.analyzer.observe(
            sample.elapsed_s,
            sample.metric(metric).map(|v| v as f64),
            sample.footprint(),
        );
        self.tally.max_processes = self.tally.max_processes.max(sample.processes);
        self.publish(&sample, metric, tick.now);
        if let Some(watch) = &mut self.fail_fast {
            if let Some(e) = watch.monitor.observe(sample.elapsed_s, &self.analyzer) {
                // Reported once; the monitor takes no more looks.
                if let Some(watch) = self.fail_fast.take() {
                    let _ = watch.report.send(e);
                }
            }
        }
        if !tick.stopping && tick.late > self.settings.interval / 4 {
            self.tally.late_samples += 1;
            tracing::debug!(
                "sample at {:.1}s was {:?} late",
                sample.elapsed_s,
                tick.late
            );
        }
    }

    /// The metric judged: chosen on the first reading.
    fn metric(&mut self, first: &Sample) -> Metric {
        let asked = self.settings.metric;
        self.chosen
            .get_or_insert_with(|| {
                let (m, note) = choose_metric(asked, first);
                tracing::info!(
                    "judging {m}{}",
                    note.as_deref().map_or(String::new(), |n| format!(" ({n})"))
                );
                (m, note)
            })
            .0
    }

    /// Appends the sample (and on detail ticks the breakdown and the
    /// processes) to the run folder; a file that cannot be written is
    /// said once, and judging goes on in memory.
    fn write(&mut self, sample: &Sample, tick: &Tick) {
        if !self.write_failed {
            let w = &mut self.writer;
            if let Err(e) = w.serialize(sample).and_then(|()| Ok(w.flush()?)) {
                self.write_failed = true;
                tracing::warn!(
                    "could not write samples.csv ({e}); no more samples are written, judging goes on"
                );
                self.tally
                    .failed(format!("could not write samples.csv: {e}"));
            }
        }
        if let Err(e) = self.probe.record(sample.elapsed_s) {
            self.tally.failed(format!("{e:#}"));
        }
        let every = u64::from(self.settings.smaps_every);
        let smaps = every > 0 && tick.number.is_multiple_of(every);
        if !self.details_failed && (tick.want.pss || smaps || tick.want.tree) {
            let written = write_details(
                &mut *self.probe,
                &mut self.details,
                &mut self.slots,
                sample.elapsed_s,
                tick.want,
                smaps,
            );
            if let Err(e) = written {
                self.details_failed = true;
                tracing::warn!(
                    "could not write breakdown.csv or processes.csv ({e:#}); no more are written"
                );
                self.tally
                    .failed(format!("could not write the breakdown: {e:#}"));
            }
        }
    }

    /// The latest reading and judgement for the live view, at most once
    /// a [`PUBLISH_EVERY`].
    fn publish(&mut self, sample: &Sample, metric: Metric, now: Instant) {
        let Some(tx) = &self.settings.live else {
            return;
        };
        if self
            .published
            .is_some_and(|t| now.duration_since(t) < PUBLISH_EVERY)
        {
            return;
        }
        self.published = Some(now);
        tx.send_replace(Some(Snapshot {
            metric,
            metric_bytes: sample.metric(metric),
            rss_bytes: sample.rss_bytes,
            processes: sample.processes,
            judgement: self.analyzer.judge(),
            fleet_limit_bytes_per_hour: self
                .settings
                .limit_per_member
                .filter(|_| sample.processes > 1)
                .map(|l| l * f64::from(sample.processes)),
        }));
    }

    /// What the sampler hands back when it stops.
    fn outcome(mut self) -> Outcome {
        let (metric, metric_note) = self
            .chosen
            .unwrap_or((self.settings.metric.unwrap_or(Metric::PREFERENCE[0]), None));
        Outcome {
            metric,
            metric_note,
            late_samples: self.tally.late_samples,
            missed_ticks: self.tally.missed_ticks,
            failed_samples: self.tally.failed_samples,
            first_failure: self.tally.first_failure,
            unavailable: self.probe.unavailable().to_vec(),
            max_processes: self.tally.max_processes,
            processes: self.probe.processes(),
            events: self.probe.events(),
            analyzer: self.analyzer,
        }
    }
}

/// Writes the classes and resources of a detail tick (PSS or smaps) and
/// the process rows of a walk of the tree.
fn write_details(
    probe: &mut dyn Probe,
    out: &mut breakdown::Writers,
    slots: &mut per_process::ProcessSlots,
    elapsed_s: f64,
    want: Want,
    smaps: bool,
) -> anyhow::Result<()> {
    if want.pss || smaps {
        if let Some(b) = probe.breakdown(smaps) {
            out.breakdown(elapsed_s, &b)?;
        }
    }
    if want.tree {
        slots.write(elapsed_s, probe, out)?;
    }
    Ok(())
}

/// The metric to judge, and a note when it is not the one asked for.
fn choose_metric(asked: Option<Metric>, first: &Sample) -> (Metric, Option<String>) {
    match asked {
        Some(m) if first.metric(m).is_some() => (m, None),
        // No tree's RSS where a source's footprint has its own column:
        // what `rss` meant for it before.
        Some(Metric::Rss) if first.cgroup_usage_bytes.is_some() => (
            Metric::Usage,
            Some("a cgroup without processes of memsoak's has no RSS of a tree: judged its usage (cgroup_usage_bytes)".into()),
        ),
        _ => {
            // A page's heap asked for and not reported (Blink's heap, by an
            // older browser): the page's JS heap before the tree's memory.
            let page_first = asked.is_some_and(|m| m.is_page_heap());
            let best = page_first
                .then_some(Metric::JsHeap)
                .into_iter()
                .chain(Metric::PREFERENCE)
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
