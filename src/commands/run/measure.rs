//! The second phase of a run: the measured clock.
//!
//! Sampling starts on its own thread, then the workloads; one small event
//! loop ([`Running::next`] waits, [`Running::handle`] decides) runs until
//! the duration, the target's end, a fail-fast look or an interruption.
//! The last sample is taken under load (closing connections frees memory,
//! which would read as a drop at the very end), then the work of the end
//! of warm-up is finished, the workloads and the target stop.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::time::{Interval, Sleep};

use super::ending::Ending;
use super::prepare::Prepared;
use super::warmup::{self, AtWarmup};
use super::{interrupted, say};
use crate::allocations::{self, leaks::Leaks};
use crate::analysis::{Analyzer, EarlyFail, FailFastMonitor};
use crate::commands::{exit, Failure};
use crate::config::RunConfig;
use crate::live::{self, LiveView, Status};
use crate::process::ExitInfo;
use crate::sampler::{self, FailFastWatch, Sampler, Snapshot};
use crate::source::page::{HeapSnapshots, Snapshots, BASELINE_SNAPSHOT};
use crate::source::{Opened, SourceSummary};
use crate::workload::{Finished, IntervalLoad, Workloads};

/// The view tick of a quiet run: it has nothing to show.
const QUIET_VIEW: Duration = Duration::from_secs(24 * 3600);

/// What the measured phase hands to the conclusion.
pub(super) struct Measured {
    pub(super) ending: Ending,
    /// When it ended, since the measured clock started.
    pub(super) ended_at: Duration,
    pub(super) started_at: SystemTime,
    /// What the memory was read from.
    pub(super) source: SourceSummary,
    pub(super) outcome: sampler::Outcome,
    pub(super) load: Vec<Finished>,
    /// The load design the workloads ran, when the run had one.
    pub(super) design: Option<crate::workload::design::DesignSummary>,
    /// Exit status of a target memsoak stopped.
    pub(super) stopped: Option<ExitInfo>,
    /// A launcher that exited 0 during the run, leaving processes that
    /// were sampled on.
    pub(super) launcher_exited: Option<ExitInfo>,
    /// What the profiler found, with `--profiler`.
    pub(super) leaks: Option<Leaks>,
    /// A page's heap snapshots compared, when asked for.
    pub(super) heap_snapshots: Option<HeapSnapshots>,
}

/// Samples and drives load until the run ends; see the module docs.
pub(super) async fn measure(
    config: &RunConfig,
    prepared: &mut Prepared,
    options: live::Options,
) -> Result<Measured, Failure> {
    let (mut running, mut signals) = Running::start(config, prepared, options)?;
    let ending = loop {
        let event = running.next(&mut signals).await;
        if let Some(ending) = running.handle(event) {
            break ending;
        }
    };
    running.wind_down(ending).await
}

/// What can happen while measuring.
enum Event {
    /// The planned duration is over.
    Deadline,
    /// The work of the end of warm-up is due.
    WarmedUp,
    /// The launched target (or its launcher) exited.
    TargetExited(ExitInfo),
    /// The sampler lost its root.
    RootGone,
    /// A fail-fast look failed the run.
    FailedEarly(EarlyFail),
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// An interval of load statistics is over.
    Stats,
    /// The live view is due a redraw.
    View,
}

/// The futures the loop waits on.
struct Signals {
    deadline: Pin<Box<Sleep>>,
    warmed_up: Pin<Box<Sleep>>,
    interrupt: Pin<Box<dyn Future<Output = ()> + Send>>,
    gone: Pin<Box<dyn Future<Output = ()> + Send>>,
    early: Pin<Box<dyn Future<Output = EarlyFail> + Send>>,
    stats: Interval,
    view: Interval,
}

/// The measured phase in progress.
struct Running<'a> {
    config: &'a RunConfig,
    options: live::Options,
    prepared: &'a mut Prepared,
    start: Instant,
    started_at: SystemTime,
    sampler: Sampler,
    summary: SourceSummary,
    workloads: Workloads,
    view: LiveView,
    live: watch::Receiver<Option<Snapshot>>,
    load_now: Vec<IntervalLoad>,
    launcher_exited: Option<ExitInfo>,
    profiler: AtWarmup<allocations::Session>,
    snapshots: AtWarmup<Snapshots>,
    /// Held by the end-of-warm-up work while it runs: the judged window
    /// starts after it.
    hold: sampler::WindowHold,
    /// The sampler's root gone ends the run when memsoak cannot know it
    /// otherwise: an attached target, or a browser page's browser.
    root_gone_ends: bool,
}

impl<'a> Running<'a> {
    /// Starts the sampler, the provisional summary and the workloads.
    fn start(
        config: &'a RunConfig,
        prepared: &'a mut Prepared,
        options: live::Options,
    ) -> Result<(Running<'a>, Signals), Failure> {
        let dir = &config.out_dir;
        let (early_tx, early_rx) = tokio::sync::oneshot::channel();
        let (live_tx, live_rx) = watch::channel(None);
        let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
        let analyzer = Analyzer::new(config.judge.criteria());
        let tree = prepared.source.tree(&prepared.target_view(config));
        let Opened {
            probe,
            summary,
            fleet,
        } = prepared
            .source
            .open(&prepared.context, &tree)
            .map_err(Failure::Usage)?;
        let hold = sampler::WindowHold::default();
        let settings = sampler::Settings {
            hold: hold.clone(),
            limit_per_member: fleet.then_some(config.judge.max_growth.bytes_per_hour),
            fail_fast: config.fail_fast.map(|rule| FailFastWatch {
                monitor: FailFastMonitor::new(rule, &analyzer, config.duration, config.interval),
                report: early_tx,
            }),
            live: Some(live_tx),
            ..settings(config, tree)
        };
        let started_at = SystemTime::now();
        let start = Instant::now();
        let sampler =
            Sampler::spawn(settings, probe, analyzer, dir, start, gone_tx).map_err(Failure::Io)?;
        super::conclude::provisional_summary(config, &prepared.target, started_at)
            .write(dir)
            .map_err(Failure::Io)?;
        // The watchdog learns the target's processes now, not a second later.
        prepared.target.refresh();
        let what = prepared
            .source
            .sampled(&summary, &prepared.target_view(config));
        say(
            options,
            &format!(
                "memsoak: ready; sampling {what} every {} for {} (warm-up {})",
                humantime::format_duration(config.interval),
                humantime::format_duration(config.duration),
                humantime::format_duration(config.judge.planned_warmup())
            ),
        );
        let workloads = Workloads::start(
            &config.workloads,
            start,
            config.judge.planned_warmup(),
            &config.design,
            dir,
            prepared.source.page(),
        )
        .map_err(Failure::Io)?;
        let view = LiveView::start(options, config.duration);
        let signals = signals(config, start, &view, gone_rx, early_rx);
        let running = Running {
            config,
            options,
            root_gone_ends: !prepared.target.is_launched() || prepared.source.root_is_its_own(),
            profiler: AtWarmup::new(prepared.profiler.take()),
            snapshots: AtWarmup::new(prepared.source.heap_snapshots(&prepared.context)),
            hold,
            prepared,
            start,
            started_at,
            sampler,
            summary,
            workloads,
            view,
            live: live_rx,
            load_now: Vec::new(),
            launcher_exited: None,
        };
        Ok((running, signals))
    }

    /// Waits for the next thing to happen.
    async fn next(&mut self, s: &mut Signals) -> Event {
        let warmup_work = self.profiler.pending() || self.snapshots.pending();
        tokio::select! {
            _ = &mut s.deadline => Event::Deadline,
            _ = &mut s.warmed_up, if warmup_work => Event::WarmedUp,
            info = self.prepared.target.exited(), if self.launcher_exited.is_none() => {
                Event::TargetExited(info)
            }
            // A launched root's end is its exit status (`exited`); the
            // sampler, which may see it as a zombie first, only decides for
            // an attached process, whose status memsoak cannot collect.
            () = &mut s.gone, if self.root_gone_ends => Event::RootGone,
            e = &mut s.early => Event::FailedEarly(e),
            _ = &mut s.interrupt => Event::Interrupted,
            _ = s.stats.tick() => Event::Stats,
            _ = s.view.tick() => Event::View,
        }
    }

    /// Acts on one event; the ending when it ends the run.
    fn handle(&mut self, event: Event) -> Option<Ending> {
        match event {
            Event::Deadline => return Some(Ending::Completed),
            Event::WarmedUp => self.warmed_up(),
            Event::TargetExited(info) => {
                // A launcher that daemonizes exits 0 and leaves its
                // processes (re-parented to memsoak, its subreaper): they
                // are the target now, sampled until the end.
                let left = self.prepared.target.refresh();
                if info.code != Some(0) || left == 0 {
                    return Some(Ending::TargetExited(info));
                }
                say(self.options, &format!(
                    "memsoak: the launcher exited 0 after {:.1}s and left {left} process(es): sampling them",
                    self.start.elapsed().as_secs_f64()
                ));
                self.launcher_exited = Some(info);
            }
            Event::RootGone => return Some(Ending::TargetGone),
            Event::FailedEarly(e) => return Some(Ending::FailedEarly(e)),
            Event::Interrupted => return Some(Ending::Interrupted),
            Event::Stats => {
                self.load_now = self.workloads.write_interval();
                // Keeps the watchdog's list of the target's processes
                // current, and notices when a launcher's processes are gone.
                let left = self.prepared.target.refresh();
                if let Some(info) = self.launcher_exited.filter(|_| left == 0) {
                    return Some(Ending::LeftProcessesGone(info));
                }
            }
            Event::View => {
                let latest = self.live.borrow().clone();
                self.view.update(&Status {
                    elapsed_s: self.start.elapsed().as_secs_f64(),
                    duration_s: self.config.duration.as_secs_f64(),
                    warmup_s: self.config.judge.planned_warmup().as_secs_f64(),
                    limit: &self.config.judge.max_growth,
                    sampler: latest.as_ref(),
                    load: &self.load_now,
                });
            }
        }
        None
    }

    /// Starts the work due at the end of warm-up.
    fn warmed_up(&mut self) {
        let elapsed_s = self.start.elapsed().as_secs_f64();
        if let AtWarmup::Waiting(Some(session)) = &self.profiler {
            if session.failure().is_none() {
                say(
                    self.options,
                    &format!(
                        "memsoak: {}: baseline, as warm-up ends",
                        session.kind().name()
                    ),
                );
            }
            warmup::profiler_baseline(
                &mut self.profiler,
                self.prepared.target.pids(),
                elapsed_s,
                self.hold.enter(),
            );
        }
        if self.snapshots.pending() {
            say(
                self.options,
                "memsoak: heap snapshot of the page: baseline, as warm-up ends",
            );
            warmup::snapshot_baseline(&mut self.snapshots, elapsed_s, self.hold.enter());
        }
    }

    /// The end of the measured phase: the last sample, the final steps of
    /// the end-of-warm-up work, the load and the target stopped.
    async fn wind_down(self, ending: Ending) -> Result<Measured, Failure> {
        let Running {
            config,
            options,
            prepared,
            start,
            started_at,
            sampler,
            summary,
            workloads,
            mut view,
            launcher_exited,
            profiler,
            snapshots,
            ..
        } = self;
        view.finish();
        let ended_at = start.elapsed();
        let interrupted_now = matches!(ending, Ending::Interrupted);
        if interrupted_now {
            say(options, "memsoak: interrupted: writing the outputs from the data so far (interrupt again to quit at once)");
        }
        quit_on_next_interrupt(interrupted_now);
        let outcome = sampler.finish();
        let leaks = match profiler.done().await {
            Some(session) => profiler_finish(session, config, options, prepared, start).await,
            None => None,
        };
        let heap_snapshots = if interrupted_now && snapshots.running() {
            // Interrupted while the baseline is written (tens of seconds
            // for a large heap): it is abandoned rather than finished and
            // followed by a final one.
            snapshots.abandon();
            let _ = std::fs::remove_file(config.out_dir.join(BASELINE_SNAPSHOT));
            say(
                options,
                "memsoak: heap snapshot of the page: the baseline was cut short by the interrupt",
            );
            Some(HeapSnapshots {
                baseline: None,
                last: None,
                diff: None,
                error: Some(
                    "interrupted while the baseline snapshot was being taken: no snapshots compared"
                        .into(),
                ),
            })
        } else {
            match snapshots.done().await {
                Some(s) => {
                    let found = s.finish(start.elapsed().as_secs_f64()).await;
                    say(
                        options,
                        "memsoak: heap snapshot of the page: final, compared with the baseline",
                    );
                    Some(found)
                }
                None => None,
            }
        };
        let design = workloads.design().cloned();
        let load = workloads.stop().await;
        // The page closes before the backend it talks to stops.
        prepared.source.close().await;
        let stopped = prepared.target.stop();
        Ok(Measured {
            ending,
            ended_at,
            started_at,
            source: summary,
            outcome,
            load,
            design,
            stopped,
            launcher_exited,
            leaks,
            heap_snapshots,
        })
    }
}

/// The profiler's final snapshot, taken under load like the last sample
/// (the window the verdict judged is the window the sites belong to),
/// and `leaks.json`.
async fn profiler_finish(
    session: allocations::Session,
    config: &RunConfig,
    options: live::Options,
    prepared: &mut Prepared,
    start: Instant,
) -> Option<Leaks> {
    say(
        options,
        &format!(
            "memsoak: {}: final snapshot of the judged window",
            session.kind().name()
        ),
    );
    let pids = prepared.target.pids();
    let (elapsed, limit) = (
        start.elapsed().as_secs_f64(),
        config.judge.max_growth.bytes_per_hour,
    );
    let leaks = tokio::task::spawn_blocking(move || session.finish(&pids, elapsed, limit))
        .await
        .ok()?;
    if let Err(e) = leaks.write(&config.out_dir) {
        eprintln!("memsoak: warning: {e:#}");
    }
    Some(leaks)
}

/// The sampler's settings that follow from the run's configuration.
fn settings(config: &RunConfig, tree: sampler::Tree) -> sampler::Settings {
    let ticks = |every: Duration| {
        ((every.as_secs_f64() / config.interval.as_secs_f64()).ceil() as u32).max(1)
    };
    sampler::Settings {
        limit_per_member: None,
        hold: sampler::WindowHold::default(),
        tree,
        interval: config.interval,
        pss_every: ticks(config.pss_interval),
        smaps_every: if config.smaps_interval.is_zero() {
            0
        } else {
            ticks(config.smaps_interval)
        },
        track_processes: config.track_processes,
        metric: config.judge.metric,
        live: None,
        fail_fast: None,
    }
}

/// The futures and tickers the loop waits on.
fn signals(
    config: &RunConfig,
    start: Instant,
    view: &LiveView,
    gone: tokio::sync::oneshot::Receiver<()>,
    early: tokio::sync::oneshot::Receiver<EarlyFail>,
) -> Signals {
    let stats_every = config.interval.max(Duration::from_secs(1));
    // The live view is redrawn every second whatever the intervals (plain
    // status lines at their own period; nothing wakes for a quiet run).
    let view_every = view.refresh_every().unwrap_or(QUIET_VIEW);
    let mut view = tokio::time::interval_at((start + view_every).into(), view_every);
    view.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    Signals {
        deadline: Box::pin(tokio::time::sleep(config.duration)),
        warmed_up: Box::pin(tokio::time::sleep(warmup::due(
            config.judge.planned_warmup(),
        ))),
        interrupt: Box::pin(interrupted()),
        // The sampler's channels resolve once; a closed one (no
        // fail-fast, or the sampler ended) must never end the run, so it
        // waits forever.
        gone: Box::pin(async move {
            if gone.await.is_err() {
                std::future::pending::<()>().await;
            }
        }),
        early: Box::pin(async move {
            match early.await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            }
        }),
        stats: tokio::time::interval_at((start + stats_every).into(), stats_every),
        view,
    }
}

/// From here on an interrupt (a second one, or a first one while the
/// workloads and the target stop) quits at once; the watchdog then stops
/// the launched target's process group, as it does whenever memsoak
/// dies. The provisional summary already marks the run partial.
fn quit_on_next_interrupt(interrupted_before: bool) {
    let again = if interrupted_before {
        "interrupted again"
    } else {
        "interrupted while stopping"
    };
    tokio::spawn(async move {
        interrupted().await;
        eprintln!("memsoak: {again}: quitting; the target is being stopped");
        std::process::exit(exit::INTERRUPTED);
    });
}
