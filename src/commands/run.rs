//! `memsoak run`: the spine of a soak test, in three steps.
//!
//! **Prepare**: the run folder, launch or attach, readiness. **Measure**:
//! the measured clock, the sampler and the workloads, until the duration,
//! the target's end, a fail-fast look or an interruption. **Conclude**:
//! last sample, stop the workloads and the target, judge, write
//! `summary.json` and the reports, print. Every exit path after the run
//! folder exists writes the summary, and the target's process group is
//! stopped by [`Target`]'s `Drop` even on errors.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::run_source::Source;
use super::{exit, exit_code_for, run_folder, Failure};
use crate::allocations::{self, leaks::Leaks};
use crate::analysis::{Analyzer, BlockStat, Criteria, EarlyFail, FailFastMonitor, Verdict};
use crate::config::{Readiness, RunConfig, TargetSpec};
use crate::live::{self, LiveView, Status};
use crate::output::{
    terminal, Environment, Judging, LeaksSummary, RunFacts, SamplingFacts, Summary, TargetSummary,
};
use crate::process::{pid_alive, wait_ready, ExitInfo, Target, TargetError};
use crate::recording::samples::Recording;
use crate::sampler::{self, FailFastWatch, Sampler};
use crate::source::{SourceKind, SourceSummary};
use crate::workload::{state_growth_per_unit, Finished, Workloads};

/// How long a launched target must stay up after its readiness check
/// answered, so a check answered by another process is noticed.
const SETTLE: Duration = Duration::from_millis(500);

/// The view tick of a quiet run: it has nothing to show.
const QUIET_VIEW: Duration = Duration::from_secs(24 * 3600);

/// Why the measured phase ended.
enum Ending {
    Completed,
    FailedEarly(EarlyFail),
    TargetExited(ExitInfo),
    TargetGone,
    /// A launcher that exited 0 left processes behind, and they all ended.
    LeftProcessesGone(ExitInfo),
    Interrupted,
}

/// What the measured phase hands to the conclusion.
struct Measured {
    ending: Ending,
    /// When it ended, since the measured clock started.
    ended_at: Duration,
    started_at: SystemTime,
    /// What the memory was read from.
    source: SourceSummary,
    outcome: sampler::Outcome,
    load: Vec<Finished>,
    /// Exit status of a target memsoak stopped.
    stopped: Option<ExitInfo>,
    /// A launcher that exited 0 during the run, leaving processes that
    /// were sampled on.
    launcher_exited: Option<ExitInfo>,
    /// What the profiler found, with `--profiler`.
    leaks: Option<Leaks>,
    /// A page's heap snapshots compared, when asked for.
    heap_snapshots: Option<crate::source::page::HeapSnapshots>,
}

/// Runs a soak test; returns the exit code.
pub(crate) async fn run(config: RunConfig, options: live::Options) -> Result<i32, Failure> {
    let Some((mut target, profiler, mut source)) = prepare(&config, options).await? else {
        return Ok(exit::INTERRUPTED);
    };
    let measured = measure(&config, &mut target, profiler, &mut source, options).await;
    // A browser memsoak launched is closed on every path (its keeper
    // would close it anyway when memsoak ends).
    source.close().await;
    let measured = measured?;
    let code = conclude(&config, &target, measured, options);
    // A cgroup memsoak made goes once the target is stopped.
    drop(target);
    drop(source);
    code
}

/// Prints a note unless `--quiet`.
pub(super) fn say(options: live::Options, text: &str) {
    if !options.quiet {
        live::note(text);
    }
}

/// The run folder, the target (armed for the profiler), and its readiness;
/// `None` when interrupted while waiting for it.
async fn prepare(
    config: &RunConfig,
    options: live::Options,
) -> Result<Option<(Target, Option<allocations::Session>, Source)>, Failure> {
    let dir = &config.out_dir;
    // A run that cannot start leaves no run folder behind: a missing pid
    // is found before the folder is made, and a program that cannot be
    // started removes the folder made for its logs.
    if let TargetSpec::Attach { pid } = &config.target {
        if !pid_alive(*pid) {
            return Err(Failure::Target(TargetError::NoSuchPid(*pid).into()));
        }
    }
    // A source that cannot be read is found before the folder is made.
    let mut source = Source::check(config).await?;
    let existed = run_folder::prepare(dir, options)?;
    say(
        options,
        &format!(
            "memsoak: {} → {}",
            describe_target(&config.target, &config.source),
            dir.display()
        ),
    );
    let mut spec = config.target.clone();
    source.prepare_target(&mut spec)?;
    let session = config.profiler.clone().map(|settings| {
        let mut session = allocations::Session::new(allocations::Context {
            run_dir: dir.clone(),
            settings,
        });
        if let TargetSpec::Launch(launch) = &mut spec {
            session.arm(launch);
        }
        if let Some(why) = session.failure() {
            say(
                options,
                &format!(
                    "memsoak: the {} profiler will not run: {why}",
                    session.kind().name()
                ),
            );
        }
        session
    });
    let mut target = match Target::start(&spec, dir, config.stop_grace) {
        Ok(t) => t,
        Err(e) => {
            if !existed {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(Failure::Target(e.into()));
        }
    };
    if let Some(readiness) = &config.readiness {
        tokio::select! {
            r = wait_ready(&mut target, readiness, config.ready_timeout) => {
                r.map_err(|e| Failure::Target(e.into()))?;
            }
            _ = interrupted() => {
                target.stop();
                say(options, "memsoak: interrupted while waiting for the target to be ready");
                return Ok(None);
            }
        }
        // Another process may be the one answering (the port was taken):
        // then the launched one exits at once, typically "address in use".
        if target.is_launched() {
            if let Ok(info) = tokio::time::timeout(SETTLE, target.exited()).await {
                let probe = match readiness {
                    Readiness::Http(url) => format!("GET {url}"),
                    Readiness::Tcp(addr) => format!("TCP {addr}"),
                };
                return Err(Failure::Target(anyhow::anyhow!(
                    "the target ended right after {probe} answered ({}): another process may be answering there (is the port free?){}",
                    info.describe(),
                    target.stderr_tail()
                )));
            }
        }
    }
    // A browser page opens once the backend it talks to is ready.
    tokio::select! {
        r = source.start(config) => r?,
        _ = interrupted() => {
            target.stop();
            say(options, "memsoak: interrupted while opening the browser page");
            return Ok(None);
        }
    }
    Ok(Some((target, session, source)))
}

/// The analysis criteria of this run.
fn criteria(config: &RunConfig) -> Criteria {
    Criteria {
        warmup: config.warmup,
        warmup_auto: config.warmup_auto,
        max_growth_bytes_per_hour: config.max_growth.bytes_per_hour,
        max_rss_bytes: config.max_rss_bytes,
        block_stat: BlockStat::Min,
    }
}

/// Samples and drives load until the run ends, then takes the last sample
/// (under load: closing connections frees memory, which would read as a
/// drop at the very end), stops the workloads and the target.
async fn measure(
    config: &RunConfig,
    target: &mut Target,
    profiler: Option<allocations::Session>,
    source: &mut Source,
    options: live::Options,
) -> Result<Measured, Failure> {
    let dir = &config.out_dir;
    let (early_tx, early_rx) = tokio::sync::oneshot::channel();
    let (live_tx, live_rx) = tokio::sync::watch::channel(None);
    let analyzer = Analyzer::new(criteria(config));
    let pss_every =
        (config.pss_interval.as_secs_f64() / config.interval.as_secs_f64()).ceil() as u32;
    let tree = source.tree(config, target);
    let opened = source.open(config, &tree).map_err(Failure::Usage)?;
    let settings = sampler::Settings {
        limit_per_member: source.limit_per_member(config),
        tree,
        interval: config.interval,
        pss_every: pss_every.max(1),
        smaps_every: if config.smaps_interval.is_zero() {
            0
        } else {
            ((config.smaps_interval.as_secs_f64() / config.interval.as_secs_f64()).ceil() as u32)
                .max(1)
        },
        track_processes: config.track_processes,
        metric: config.metric,
        live: Some(live_tx),
        fail_fast: config.fail_fast.map(|rule| FailFastWatch {
            monitor: FailFastMonitor::new(rule, &analyzer, config.duration, config.interval),
            report: early_tx,
        }),
    };
    let started_at = SystemTime::now();
    let start = Instant::now();
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
    let source_summary = opened.summary;
    let sampler = Sampler::spawn(settings, opened.probe, analyzer, dir, start, gone_tx)
        .map_err(Failure::Io)?;
    provisional_summary(config, target, started_at)
        .write(dir)
        .map_err(Failure::Io)?;
    // The watchdog learns the target's processes now, not a second later.
    target.refresh();
    let what = source.sampled(&source_summary, target, config);
    say(
        options,
        &format!(
            "memsoak: ready; sampling {what} every {} for {} (warm-up {})",
            humantime::format_duration(config.interval),
            humantime::format_duration(config.duration),
            humantime::format_duration(config.warmup)
        ),
    );
    let mut workloads = Workloads::start(
        &config.workloads,
        start,
        config.warmup,
        &dir.join("workload.csv"),
        source.page_session(),
    )
    .map_err(Failure::Io)?;
    let stats_every = config.interval.max(Duration::from_secs(1));
    let mut stats_tick = tokio::time::interval_at((start + stats_every).into(), stats_every);
    // The live view is redrawn every second whatever the intervals (plain
    // status lines at their own period; nothing wakes for a quiet run).
    let mut view = LiveView::start(options, config.duration);
    let view_every = view.refresh_every().unwrap_or(QUIET_VIEW);
    let mut view_tick = tokio::time::interval_at((start + view_every).into(), view_every);
    view_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut load_now = Vec::new();
    let deadline = tokio::time::sleep(config.duration);
    let interrupt = interrupted();
    // The sampler's channels resolve once; a closed one (no fail-fast, or
    // the sampler ended) must never end the run, so it waits forever.
    let gone = async move {
        if gone_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let early = async move {
        match early_rx.await {
            Ok(e) => e,
            Err(_) => std::future::pending().await,
        }
    };
    // The sampler's root gone ends the run when memsoak cannot know it
    // otherwise: an attached target, or a browser page's browser.
    let root_gone_ends = !target.is_launched() || source.root_is_its_own();
    let mut launcher_exited: Option<ExitInfo> = None;
    // The profiler's baseline is taken as warm-up ends (shortly before, so
    // the memory the snapshot itself takes lands in the warm-up), off the
    // async tasks (a debugger attaching takes a second or more).
    let mut profiler = Profiling::Waiting(profiler);
    let warmed_up = tokio::time::sleep(config.warmup - allocations::baseline_lead(config.warmup));
    // Heap snapshots of a page: the baseline at the same moment.
    let mut snapshots = source.snapshots(config);
    let snapshot_due =
        tokio::time::sleep(config.warmup - allocations::baseline_lead(config.warmup));
    tokio::pin!(deadline, interrupt, gone, early, warmed_up, snapshot_due);
    let ending = loop {
        tokio::select! {
            _ = &mut deadline => break Ending::Completed,
            _ = &mut warmed_up, if profiler.waiting() => {
                if let Some(kind) = profiler.kind() {
                    say(options, &format!("memsoak: {}: baseline, as warm-up ends", kind.name()));
                }
                profiler = profiler.baseline(target.pids(), start.elapsed().as_secs_f64());
            }
            _ = &mut snapshot_due, if snapshots.waiting() => {
                say(options, "memsoak: heap snapshot of the page: baseline, as warm-up ends");
                snapshots = snapshots.baseline(start.elapsed().as_secs_f64());
            }
            info = target.exited(), if launcher_exited.is_none() => {
                // A launcher that daemonizes exits 0 and leaves its
                // processes (re-parented to memsoak, its subreaper): they
                // are the target now, sampled until the end.
                let left = target.refresh();
                if info.code == Some(0) && left > 0 {
                    say(options, &format!(
                        "memsoak: the launcher exited 0 after {:.1}s and left {left} process(es): sampling them",
                        start.elapsed().as_secs_f64()
                    ));
                    launcher_exited = Some(info);
                } else {
                    break Ending::TargetExited(info);
                }
            }
            // A launched root's end is its exit status (`exited`); the
            // sampler, which may see it as a zombie first, only decides for
            // an attached process, whose status memsoak cannot collect.
            () = &mut gone, if root_gone_ends => break Ending::TargetGone,
            e = &mut early => break Ending::FailedEarly(e),
            _ = &mut interrupt => break Ending::Interrupted,
            _ = stats_tick.tick() => {
                load_now = workloads.write_interval();
                // Keeps the watchdog's list of the target's processes
                // current, and notices when a launcher's processes are gone.
                let left = target.refresh();
                if let Some(info) = launcher_exited.filter(|_| left == 0) {
                    break Ending::LeftProcessesGone(info);
                }
            }
            _ = view_tick.tick() => {
                let latest = live_rx.borrow().clone();
                view.update(&Status {
                    elapsed_s: start.elapsed().as_secs_f64(),
                    duration_s: config.duration.as_secs_f64(),
                    warmup_s: config.warmup.as_secs_f64(),
                    limit: &config.max_growth,
                    sampler: latest.as_ref(),
                    load: &load_now,
                });
            }
        }
    };
    view.finish();
    let ended_at = start.elapsed();
    if matches!(ending, Ending::Interrupted) {
        say(options, "memsoak: interrupted: writing the outputs from the data so far (interrupt again to quit at once)");
    }
    // An interrupt from here on (a second one, or a first one while the
    // workloads and the target stop) quits at once; the watchdog then stops
    // the launched target's process group, as it does whenever memsoak dies.
    // The provisional summary already marks the run partial.
    let again = if matches!(ending, Ending::Interrupted) {
        "interrupted again"
    } else {
        "interrupted while stopping"
    };
    tokio::spawn(async move {
        interrupted().await;
        eprintln!("memsoak: {again}: quitting; the target is being stopped");
        std::process::exit(exit::INTERRUPTED);
    });
    let outcome = sampler.finish();
    // The final snapshot is taken under load, like the last sample: the
    // window the verdict judged is the window the sites belong to.
    let leaks = match profiler.session().await {
        Some(session) => {
            say(
                options,
                &format!(
                    "memsoak: {}: final snapshot of the judged window",
                    session.kind().name()
                ),
            );
            let pids = target.pids();
            let (elapsed, limit) = (
                start.elapsed().as_secs_f64(),
                config.max_growth.bytes_per_hour,
            );
            let leaks = tokio::task::spawn_blocking(move || session.finish(&pids, elapsed, limit))
                .await
                .ok();
            if let Some(l) = &leaks {
                if let Err(e) = l.write(dir) {
                    eprintln!("memsoak: warning: {e:#}");
                }
            }
            leaks
        }
        None => None,
    };
    let heap_snapshots = snapshots.finish(start.elapsed().as_secs_f64()).await;
    if heap_snapshots.is_some() {
        say(
            options,
            "memsoak: heap snapshot of the page: final, compared with the baseline",
        );
    }
    let load = workloads.stop().await;
    // The page closes before the backend it talks to stops.
    source.close().await;
    let stopped = target.stop();
    Ok(Measured {
        ending,
        ended_at,
        started_at,
        source: source_summary,
        outcome,
        load,
        stopped,
        launcher_exited,
        leaks,
        heap_snapshots,
    })
}

/// The profiler through the run: waiting for the end of warm-up, then
/// taking its baseline on a blocking thread.
enum Profiling {
    Waiting(Option<allocations::Session>),
    Baseline(tokio::task::JoinHandle<allocations::Session>),
}

impl Profiling {
    fn waiting(&self) -> bool {
        matches!(self, Profiling::Waiting(Some(_)))
    }

    fn kind(&self) -> Option<allocations::ProfilerKind> {
        match self {
            Profiling::Waiting(Some(s)) if s.failure().is_none() => Some(s.kind()),
            _ => None,
        }
    }

    fn baseline(self, pids: Vec<u32>, elapsed_s: f64) -> Profiling {
        match self {
            Profiling::Waiting(Some(mut session)) => {
                Profiling::Baseline(tokio::task::spawn_blocking(move || {
                    session.baseline(&pids, elapsed_s);
                    session
                }))
            }
            other => other,
        }
    }

    /// The session, once its baseline (if started) is done.
    async fn session(self) -> Option<allocations::Session> {
        match self {
            Profiling::Waiting(s) => s,
            Profiling::Baseline(h) => h.await.ok(),
        }
    }
}

/// Judges, writes `summary.json` and the reports, prints the summary.
fn conclude(
    config: &RunConfig,
    target: &Target,
    m: Measured,
    options: live::Options,
) -> Result<i32, Failure> {
    let dir = &config.out_dir;
    let mut source = m.source;
    source.events = m.outcome.events.clone();
    let judgement = super::judge_source(
        dir,
        &m.outcome.analyzer,
        Some(&mut source),
        &config.max_growth,
    );
    let judged_s = judgement.last_elapsed_s - judgement.warmup_s;
    let mut load_failures = Vec::new();
    let mut load_lost = false;
    let workloads = m
        .load
        .into_iter()
        .map(
            |Finished {
                 mut summary,
                 steady,
                 deaths,
             }| {
                if let Some(d) = deaths {
                    load_lost |= d.died == d.of;
                    load_failures.push(format!("workload '{}': {d}", summary.name));
                }
                state_growth_per_unit(&mut summary, steady, judgement.growth.as_ref(), judged_s);
                summary
            },
        )
        .collect();
    let o = m.outcome;
    let target_summary = TargetSummary {
        max_processes: o.max_processes,
        stderr_tail: Vec::new(),
        ..target_summary(
            config,
            target,
            &m.ending,
            m.ended_at,
            m.stopped,
            m.launcher_exited,
            &source,
        )
    };
    // A restart is a failure only when asked for (`--restarts-fail`).
    let restarts = source.restarts();
    let restart_failure = (source.restarts_fail && restarts > 0).then(|| {
        let first = source.events.iter().find(|e| e.what.starts_with("restart"));
        format!(
            "{restarts} replica restart(s) during the run (--restarts-fail){}",
            first.map_or(String::new(), |e| format!(
                "; first: {} at {:.0}s",
                e.series, e.elapsed_s
            ))
        )
    });
    let target_summary = TargetSummary {
        failure: target_summary.failure.or(restart_failure.clone()),
        ..target_summary
    };
    let target_failed = target_summary.failure.is_some();
    let target_summary = TargetSummary {
        stderr_tail: if target_failed {
            crate::process::tail_lines(&dir.join("target.stderr.log"), 10)
        } else {
            Vec::new()
        },
        ..target_summary
    };
    let facts = RunFacts {
        name: config.name.clone(),
        profile: config.profile.as_ref().map(|p| p.display().to_string()),
        judging: Judging {
            metric: o.metric,
            metric_note: if source.kind == SourceKind::Prometheus {
                Some(crate::source::PROMETHEUS_NOTE.into())
            } else {
                o.metric_note
            },
            limit: config.max_growth.clone(),
            warmup_auto: config.warmup_auto,
            max_rss_bytes: config.max_rss_bytes,
        },
        planned_duration_s: config.duration.as_secs_f64(),
        interval_s: config.interval.as_secs_f64(),
        started_at: humantime::format_rfc3339_seconds(m.started_at).to_string(),
        sampling: SamplingFacts {
            late_samples: o.late_samples,
            missed_ticks: o.missed_ticks,
            failed_samples: o.failed_samples,
            first_failure: o.first_failure,
            unavailable_columns: o.unavailable.iter().map(|c| c.to_string()).collect(),
            processes: o.processes,
        },
        workloads,
        load_failures,
        target: target_summary,
        partial: matches!(m.ending, Ending::Interrupted),
        fail_fast: match m.ending {
            Ending::FailedEarly(e) => Some(e),
            _ => None,
        },
        environment: Environment::current(),
    };
    let mut s = Summary::of_run(&judgement, facts, |verdict| match m.ending {
        Ending::Interrupted => exit::INTERRUPTED,
        _ if restart_failure.is_some() => exit::TARGET,
        Ending::TargetExited(_) | Ending::TargetGone | Ending::LeftProcessesGone(_) => exit::TARGET,
        // A run whose load died is never a pass, whatever
        // --on-inconclusive says.
        Ending::Completed | Ending::FailedEarly(_) if load_lost && verdict != Verdict::Fail => {
            exit::INCONCLUSIVE
        }
        Ending::Completed | Ending::FailedEarly(_) => {
            exit_code_for(verdict, config.on_inconclusive)
        }
    });
    s.leaks = m.leaks.as_ref().map(LeaksSummary::of);
    s.heap_snapshots = m.heap_snapshots;
    s.source = Some(source);
    let samples = Recording::scan(&dir.join("samples.csv"));
    if let Ok(samples) = &samples {
        super::attribute(
            &mut s,
            dir,
            samples,
            &criteria(config),
            judgement.growth.as_ref(),
        );
    }
    // The verdict is printed even when the files cannot be written (a full
    // disk): the terminal, at least, gets it.
    let written = s.write(dir);
    if written.is_ok() {
        let samples = samples.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"));
        super::write_reports(dir, Some(dir), samples, &s);
    }
    super::print_summary(
        &terminal::render_for(&s, dir, options.quiet),
        s.verdict,
        target_failed,
    );
    if target_failed && !options.quiet {
        eprint!("{}", target_tail(target, dir));
    }
    written.map_err(Failure::Io)?;
    Ok(s.exit_code)
}

/// The summary written when measuring starts, so a run that memsoak never
/// concludes (SIGKILL, a power cut) keeps its settings: `memsoak report`
/// re-judges it with its own warm-up, limit and metric, marked partial.
/// The final summary replaces it.
fn provisional_summary(config: &RunConfig, target: &Target, started_at: SystemTime) -> Summary {
    let judgement = Analyzer::new(criteria(config)).judge();
    let facts = RunFacts {
        name: config.name.clone(),
        profile: config.profile.as_ref().map(|p| p.display().to_string()),
        judging: Judging {
            metric: config
                .metric
                .unwrap_or(crate::analysis::Metric::PREFERENCE[0]),
            metric_note: None,
            limit: config.max_growth.clone(),
            warmup_auto: config.warmup_auto,
            max_rss_bytes: config.max_rss_bytes,
        },
        planned_duration_s: config.duration.as_secs_f64(),
        interval_s: config.interval.as_secs_f64(),
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        sampling: SamplingFacts::default(),
        workloads: Vec::new(),
        load_failures: Vec::new(),
        target: TargetSummary {
            mode: config.target.mode(),
            pid: target.pid(),
            command: config.target.command_line(),
            exit: None,
            exit_description: None,
            failure: None,
            stderr_tail: Vec::new(),
            max_processes: 0,
        },
        partial: true,
        fail_fast: None,
        environment: Environment::current(),
    };
    let mut s = Summary::of_run(&judgement, facts, |_| exit::INTERRUPTED);
    s.reasons = vec![
        "provisional: written when measuring started; memsoak did not conclude this run (killed?): `memsoak report` on the folder judges its samples".into(),
    ];
    s
}

/// The target and how it ended.
fn target_summary(
    config: &RunConfig,
    target: &Target,
    ending: &Ending,
    ended_at: Duration,
    stopped: Option<ExitInfo>,
    launcher_exited: Option<ExitInfo>,
    source: &SourceSummary,
) -> TargetSummary {
    let (exit_info, failure) = match ending {
        _ if launcher_exited.is_some() && !matches!(ending, Ending::LeftProcessesGone(_)) => {
            (launcher_exited, None)
        }
        Ending::Completed | Ending::FailedEarly(_) | Ending::Interrupted => (stopped, None),
        Ending::TargetExited(info) => (
            Some(*info),
            Some(format!(
                "the target ended during the run, after {:.1}s: {}{}",
                ended_at.as_secs_f64(),
                info.describe(),
                if info.is_sigkill() {
                    " (not sent by memsoak: most often the kernel's OOM killer; see `dmesg`)"
                } else {
                    ""
                }
            )),
        ),
        // A browser page's browser is the sampler's root, whatever the
        // target: the page (or the browser) went away.
        Ending::TargetGone if source.kind == SourceKind::Cdp => (
            None,
            Some(format!(
                "the browser page went away during the run, after {:.1}s: {}",
                ended_at.as_secs_f64(),
                source
                    .events
                    .iter()
                    .rev()
                    .find(|e| e.series == "page")
                    .map_or("its DevTools connection closed", |e| e.what.as_str())
            )),
        ),
        Ending::TargetGone if matches!(config.target, TargetSpec::None) => (
            None,
            Some(format!(
                "the cgroup disappeared during the run (the container stopped?), after {:.1}s",
                ended_at.as_secs_f64()
            )),
        ),
        Ending::TargetGone => (
            None,
            Some(format!(
                "the target process {} disappeared during the run, after {:.1}s",
                target.pid(),
                ended_at.as_secs_f64()
            )),
        ),
        Ending::LeftProcessesGone(info) => (
            Some(*info),
            Some(format!(
                "the launcher exited 0 and every process it left had ended, after {:.1}s",
                ended_at.as_secs_f64()
            )),
        ),
    };
    TargetSummary {
        mode: config.target.mode(),
        pid: target.pid(),
        command: config.target.command_line(),
        exit: exit_info,
        exit_description: exit_info.map(|i| match (&failure, launcher_exited) {
            (Some(_), _) => i.describe(),
            (None, Some(_)) => format!(
                "the launcher exited by itself ({}); the processes it left were stopped by memsoak",
                i.describe()
            ),
            (None, None) => format!("stopped by memsoak: {}", i.describe()),
        }),
        failure,
        stderr_tail: Vec::new(),
        // Filled in from the sampler's outcome.
        max_processes: 0,
    }
}

fn describe_target(t: &TargetSpec, source: &crate::config::SourceSpec) -> String {
    use crate::source::{PageSpec, SourceSpec};
    match (t, source) {
        (TargetSpec::Launch(_), _) => format!("launching {}", t.command_line().join(" ")),
        (TargetSpec::Attach { pid }, _) => format!("attaching to pid {pid}"),
        (TargetSpec::None, SourceSpec::Cdp(c)) => match &c.page {
            PageSpec::Attach { endpoint, .. } => {
                format!("attaching to a browser page through {endpoint}")
            }
            PageSpec::Launch { url, .. } => format!("opening {url} in a browser"),
        },
        (TargetSpec::None, _) => {
            "reading the memory source alone (no process to launch or attach)".into()
        }
    }
}

fn target_tail(target: &Target, dir: &Path) -> String {
    let tail = target.stderr_tail();
    if tail.is_empty() {
        String::new()
    } else {
        format!(
            "{}\n  (full log: {})\n",
            tail.trim_start_matches('\n'),
            dir.join("target.stderr.log").display()
        )
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
