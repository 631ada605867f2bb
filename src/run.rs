//! `memsoak run`: the spine of a soak test.
//!
//! Launch or attach → wait for readiness → start the measured clock and the
//! sampler → wait for the duration, the target's end, or an interruption →
//! last sample → stop the target → judge → write `summary.json` → print.
//! Every exit path after the run folder exists writes the summary, and the
//! target's process group is stopped by [`Target`]'s `Drop` even on errors.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::analysis::Verdict;
use crate::analysis::{Analyzer, BlockStat, Criteria};
use crate::config::{RunConfig, TargetSpec};
use crate::live::{self, LiveView, Status};
use crate::report::{export, terminal, Environment, Summary, TargetSummary};
use crate::sampler::{self, EarlyFail, Sampler};
use crate::target::{pid_alive, wait_ready, ExitInfo, Target, TargetError};
use crate::workload::{state_growth_per_unit, WorkloadSummary, Workloads};
use crate::{exit, exit_code_for, Failure};

/// How often the live view is redrawn.
const VIEW_EVERY: Duration = Duration::from_secs(1);

/// Why the measured phase ended.
enum Ending {
    Completed,
    FailedEarly(EarlyFail),
    TargetExited(ExitInfo),
    TargetGone,
    Interrupted,
}

/// Runs a soak test; returns the exit code.
pub async fn run(config: RunConfig, options: live::Options) -> Result<i32, Failure> {
    let dir = &config.out_dir;
    // A run that cannot start leaves no run folder behind: a missing pid
    // is found before the folder is made, and a program that cannot be
    // started removes the folder made for its logs.
    if let TargetSpec::Attach { pid } = &config.target {
        if !pid_alive(*pid) {
            return Err(Failure::Target(TargetError::NoSuchPid(*pid).into()));
        }
    }
    let existed = dir.exists();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the run folder '{}'", dir.display()))
        .map_err(Failure::Usage)?;
    let say = |text: String| {
        if !options.quiet {
            live::note(&text);
        }
    };
    say(format!(
        "memsoak: {} → {}",
        describe_target(&config.target),
        dir.display()
    ));

    let mut target = match Target::start(&config.target, dir, config.stop_grace) {
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
                live::note("memsoak: interrupted while waiting for the target to be ready");
                return Ok(exit::INTERRUPTED);
            }
        }
    }

    let (early_tx, early_rx) = tokio::sync::oneshot::channel();
    let (live_tx, live_rx) = tokio::sync::watch::channel(None);
    let criteria = Criteria {
        warmup: config.warmup,
        max_growth_bytes_per_hour: config.max_growth.bytes_per_hour,
        max_rss_bytes: config.max_rss_bytes,
        block_stat: BlockStat::Min,
    };
    let pss_every =
        (config.pss_interval.as_secs_f64() / config.interval.as_secs_f64()).ceil() as u32;
    let settings = sampler::Settings {
        root: target.pid(),
        group: target.process_group(),
        interval: config.interval,
        pss_every: pss_every.max(1),
        metric: config.metric,
        live: Some(live_tx),
        fail_fast: config.fail_fast.map(|rule| {
            // Looks spread evenly over the judged window, at least one interval apart.
            let every = ((config.duration - config.warmup) / rule.looks).max(config.interval);
            (rule, every, early_tx)
        }),
    };
    let started_at = SystemTime::now();
    let start = Instant::now();
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
    let sampler = Sampler::spawn(
        settings,
        Analyzer::new(criteria),
        &dir.join("samples.csv"),
        start,
        gone_tx,
    )
    .map_err(Failure::Usage)?;
    say(format!(
        "memsoak: ready; sampling pid {} every {} for {} (warm-up {})",
        target.pid(),
        humantime::format_duration(config.interval),
        humantime::format_duration(config.duration),
        humantime::format_duration(config.warmup)
    ));

    let mut workloads = Workloads::start(
        &config.workloads,
        start,
        config.warmup,
        &dir.join("workload.csv"),
    )
    .map_err(Failure::Usage)?;
    let stats_every = config.interval.max(Duration::from_secs(1));
    let mut stats_tick = tokio::time::interval_at((start + stats_every).into(), stats_every);
    // The live view is redrawn every second, whatever the intervals.
    let mut view_tick = tokio::time::interval_at((start + VIEW_EVERY).into(), VIEW_EVERY);
    view_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut view = LiveView::start(options, config.duration);
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
    let launched = target.is_launched();
    tokio::pin!(deadline, interrupt, gone, early);
    let ending = loop {
        tokio::select! {
            _ = &mut deadline => break Ending::Completed,
            info = target.exited() => break Ending::TargetExited(info),
            // A launched root's end is its exit status (`exited`); the
            // sampler, which may see it as a zombie first, only decides for
            // an attached process, whose status memsoak cannot collect.
            () = &mut gone, if !launched => break Ending::TargetGone,
            e = &mut early => break Ending::FailedEarly(e),
            _ = &mut interrupt => break Ending::Interrupted,
            _ = stats_tick.tick() => load_now = workloads.write_interval(),
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
        live::note("memsoak: interrupted: writing the outputs from the data so far (interrupt again to quit at once)");
        // A second interrupt quits at once; the watchdog then stops the
        // launched target's process group, as it does whenever memsoak dies.
        tokio::spawn(async {
            interrupted().await;
            eprintln!("memsoak: interrupted again: quitting; the target is being stopped");
            std::process::exit(exit::INTERRUPTED);
        });
    }
    let ramp_ups = workloads.ramp_ups();
    // The last sample is taken under load: closing the workloads' connections
    // frees memory, which would read as a drop at the very end.
    let outcome = sampler.finish();
    let mut load = workloads.stop().await;
    let stopped = target.stop();

    let judgement = outcome.analyzer.judge();
    let mut s = Summary::from_judgement(&judgement, &config.max_growth);
    s.name = config.name.clone();
    s.metric = outcome.metric;
    s.metric_note = outcome.metric_note.clone();
    s.max_rss_bytes = config.max_rss_bytes;
    s.late_samples = outcome.late_samples;
    s.missed_ticks = outcome.missed_ticks;
    s.failed_samples = outcome.failed_samples;
    if let Some(f) = &outcome.first_failure {
        s.reasons.push(format!(
            "{} sample(s) failed; first: {f}",
            outcome.failed_samples
        ));
    }
    s.planned_duration_s = Some(config.duration.as_secs_f64());
    s.warmup_s = config.warmup.as_secs_f64();
    s.interval_s = Some(config.interval.as_secs_f64());
    s.started_at = Some(humantime::format_rfc3339_seconds(started_at).to_string());
    s.profile = config.profile.as_ref().map(|p| p.display().to_string());
    s.unavailable_columns = outcome.unavailable.iter().map(|c| c.to_string()).collect();
    // Per-unit figures only where the load was steady over the judged
    // window: ramp-up over by the end of warm-up.
    let steady = |w: &WorkloadSummary| {
        ramp_ups
            .iter()
            .any(|(n, r)| *n == w.name && *r <= config.warmup)
    };
    state_growth_per_unit(
        &mut load,
        steady,
        judgement.growth.as_ref(),
        judgement.last_elapsed_s - s.warmup_s,
    );
    s.workloads = load;
    s.processes = outcome.processes.clone();
    s.processes.sort_by_key(|p| std::cmp::Reverse(p.rss_bytes));
    s.environment = Some(Environment::current());

    let (exit_info, failure) = match &ending {
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
        Ending::TargetGone => (
            None,
            Some(format!(
                "the target process {} disappeared during the run, after {:.1}s",
                target.pid(),
                ended_at.as_secs_f64()
            )),
        ),
    };
    s.target = Some(TargetSummary {
        mode: if target.is_launched() {
            "launch"
        } else {
            "attach"
        }
        .into(),
        pid: target.pid(),
        command: match &config.target {
            TargetSpec::Launch(l) => std::iter::once(l.program.clone())
                .chain(l.args.iter().cloned())
                .collect(),
            TargetSpec::Attach { .. } => Vec::new(),
        },
        exit: exit_info,
        exit_description: exit_info.map(|i| match failure {
            Some(_) => i.describe(),
            None => format!("stopped by memsoak: {}", i.describe()),
        }),
        failure: failure.clone(),
        max_processes: outcome.max_processes,
    });
    s.partial = matches!(ending, Ending::Interrupted);
    if let Ending::FailedEarly(e) = &ending {
        s.verdict = Verdict::Fail;
        s.reasons.insert(
            0,
            format!(
                "fail-fast: at look {} of {} ({:.0}s), the growth's lower bound {} exceeds the limit (at most {}% of runs within the limit fail early)",
                e.look,
                e.looks,
                e.elapsed_s,
                config.max_growth.unit.format(e.lower_bound_bytes_per_hour),
                e.alpha * 100.0
            ),
        );
        s.fail_fast = Some(*e);
    }
    s.exit_code = match ending {
        Ending::Interrupted => exit::INTERRUPTED,
        Ending::TargetExited(_) | Ending::TargetGone => exit::TARGET,
        Ending::Completed | Ending::FailedEarly(_) => {
            exit_code_for(s.verdict, config.on_inconclusive)
        }
    };
    s.write(dir).map_err(Failure::Usage)?;
    if let Err(e) = export::write_all(dir, dir, &dir.join("samples.csv"), &s) {
        eprintln!(
            "memsoak: warning: the verdict is in summary.json, but the reports failed: {e:#}"
        );
    }
    print!(
        "{}",
        terminal::quiet_or_whole(&terminal::render(&s, dir), options.quiet)
    );
    if failure.is_some() {
        eprint!("{}", target_tail(&target, dir));
    }
    Ok(s.exit_code)
}

fn describe_target(t: &TargetSpec) -> String {
    match t {
        TargetSpec::Launch(l) => format!(
            "launching {}",
            std::iter::once(l.program.as_str())
                .chain(l.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        TargetSpec::Attach { pid } => format!("attaching to pid {pid}"),
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
