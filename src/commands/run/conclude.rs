//! The last phase of a run: judge, build the summary once from typed
//! facts, write `summary.json` and the reports, print.

use std::path::Path;
use std::time::SystemTime;

use super::ending::{target_summary, Ending, Seen};
use super::measure::Measured;
use crate::analysis::{Analyzer, Judgement, Metric};
use crate::commands::{exit, Failure};
use crate::config::RunConfig;
use crate::live;
use crate::output::{
    terminal, Environment, Judging, LeaksSummary, RunFacts, SamplingFacts, Summary, TargetSummary,
};
use crate::process::Target;
use crate::recording::samples::Recording;
use crate::source::SourceKind;
use crate::workload::{state_growth_per_unit, Finished, WorkloadSummary};

/// Judges, writes `summary.json` and the reports, prints the summary.
pub(super) fn conclude(
    config: &RunConfig,
    target: &Target,
    m: Measured,
    options: live::Options,
) -> Result<i32, Failure> {
    let dir = &config.out_dir;
    let mut source = m.source;
    source.events = m.outcome.events.clone();
    let mut judgement = source.judge(dir, &m.outcome.analyzer, &config.judge.max_growth);
    if let Some(p) = &config.profiler {
        // The profiler's own bookkeeping grows with what it records.
        judgement.reasons.push(format!(
            "a profiled run: the target ran under {}, whose own records add to its memory and its growth; judge a leak's size on a run without --profiler",
            p.kind.name()
        ));
        // tracemalloc says what its own records grew: shown beside the
        // growth, not subtracted (the verdict judges what the target held).
        if let Some(l) = &m.leaks {
            let hours = (l.window.end_s - l.window.start_s) / 3600.0;
            if let (Some(b), true) = (l.tracer_grown_bytes(), hours > 0.0) {
                judgement.reasons.push(format!(
                    "of that, {}'s own records grew {} in the profiled window ({} at that pace)",
                    p.kind.name(),
                    crate::units::format_mb(b as f64),
                    config.judge.max_growth.unit.format(b as f64 / hours)
                ));
            }
        }
    }
    let mut load = Load::of(m.load, &judgement);
    let growth_drivers = super::super::growth_drivers(
        dir,
        &m.outcome.analyzer,
        m.design.as_ref(),
        &mut load.workloads,
    );
    let seen = Seen {
        ended_at: m.ended_at,
        stopped: m.stopped,
        launcher_exited: m.launcher_exited,
    };
    let mut target_summary = target_summary(config, target, &m.ending, &seen, &source);
    target_summary.max_processes = m.outcome.max_processes;
    let target_failed = target_summary.failure.is_some();
    if target_failed {
        target_summary.stderr_tail = crate::process::tail_lines(&dir.join("target.stderr.log"), 10);
    }
    let o = m.outcome;
    let judging = judging(
        config,
        o.metric,
        if source.kind() == SourceKind::Prometheus {
            Some(crate::source::PROMETHEUS_NOTE.into())
        } else {
            o.metric_note
        },
    );
    let samples = Recording::scan(&dir.join("samples.csv"));
    let attribution = samples.as_ref().ok().and_then(|samples| {
        super::super::attribution(
            dir,
            samples,
            &config.judge.criteria(),
            &judgement,
            o.metric,
            &config.judge.max_growth.unit,
            &load.workloads,
        )
    });
    let facts = RunFacts {
        sampling: SamplingFacts {
            late_samples: o.late_samples,
            missed_ticks: o.missed_ticks,
            failed_samples: o.failed_samples,
            first_failure: o.first_failure,
            unavailable_columns: o.unavailable.iter().map(|c| c.to_string()).collect(),
            processes: o.processes,
        },
        workloads: load.workloads,
        load_failures: load.failures,
        partial: matches!(m.ending, Ending::Interrupted),
        fail_fast: m.ending.fail_fast(),
        source: Some(source),
        attribution,
        leaks: m.leaks.as_ref().map(LeaksSummary::of),
        heap_snapshots: m.heap_snapshots,
        load_design: m.design,
        growth_drivers,
        ..planned_facts(config, judging, m.started_at, target_summary)
    };
    let s = Summary::of_run(&judgement, facts, |verdict| {
        m.ending.exit_code(verdict, config, target_failed)
    });
    // The verdict is printed even when the files cannot be written (a full
    // disk): the terminal, at least, gets it.
    let written = s.write(dir);
    if written.is_ok() {
        let samples = samples.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"));
        super::super::write_reports(dir, Some(dir), samples, &s);
    }
    super::super::print_summary(
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

/// The load of a run, summed up for the summary.
struct Load {
    workloads: Vec<WorkloadSummary>,
    /// Workloads whose tasks died, one line each.
    failures: Vec<String>,
}

impl Load {
    /// The workloads' totals, with growth per unit stated for the
    /// judgement.
    fn of(finished: Vec<Finished>, judgement: &Judgement) -> Load {
        let judged_s = judgement.last_elapsed_s - judgement.warmup_s;
        let mut load = Load {
            workloads: Vec::with_capacity(finished.len()),
            failures: Vec::new(),
        };
        for Finished {
            mut summary,
            steady,
            deaths,
        } in finished
        {
            if let Some(d) = deaths {
                load.failures
                    .push(format!("workload '{}': {d}", summary.name));
            }
            state_growth_per_unit(&mut summary, steady, judgement.growth.as_ref(), judged_s);
            load.workloads.push(summary);
        }
        load
    }
}

/// How the judgement was asked for, with the metric the sampler chose.
fn judging(config: &RunConfig, metric: Metric, metric_note: Option<String>) -> Judging {
    Judging {
        metric,
        metric_note,
        limit: config.judge.max_growth.clone(),
        warmup: config.judge.warmup,
        max_rss_bytes: config.judge.max_rss_bytes,
    }
}

/// The facts a run has from its start: the final summary adds what the
/// run measured, the provisional one is written with these alone.
fn planned_facts(
    config: &RunConfig,
    judging: Judging,
    started_at: SystemTime,
    target: TargetSummary,
) -> RunFacts {
    RunFacts {
        name: config.name.clone(),
        profile: config.profile.as_ref().map(|p| p.display().to_string()),
        judging,
        planned_duration_s: config.duration.as_secs_f64(),
        interval_s: config.interval.as_secs_f64(),
        started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
        sampling: SamplingFacts::default(),
        workloads: Vec::new(),
        load_failures: Vec::new(),
        target,
        partial: true,
        fail_fast: None,
        environment: Environment::current(),
        source: None,
        attribution: None,
        leaks: None,
        heap_snapshots: None,
        load_design: None,
        growth_drivers: None,
    }
}

/// The summary of a run with no samples yet: its planned settings, the
/// target as launched or attached, `failure` if any, exit `code` and one
/// reason.
fn unsampled_summary(
    config: &RunConfig,
    target: TargetSummary,
    started_at: SystemTime,
    code: i32,
    reason: &str,
) -> Summary {
    let judgement = Analyzer::new(config.judge.criteria()).judge();
    let metric = config
        .judge
        .metric
        .unwrap_or(crate::analysis::Metric::PREFERENCE[0]);
    let facts = planned_facts(config, judging(config, metric, None), started_at, target);
    let mut s = Summary::of_run(&judgement, facts, |_| code);
    s.reasons = vec![reason.into()];
    s
}

/// The target as launched or attached, before anything of it was seen.
fn target_as_started(
    config: &RunConfig,
    target: &Target,
    failure: Option<String>,
    stderr_tail: Vec<String>,
) -> TargetSummary {
    TargetSummary {
        mode: config.target.mode(),
        pid: target.pid(),
        command: config.target.command_line(),
        exit: None,
        exit_description: None,
        failure,
        stderr_tail,
        max_processes: 0,
    }
}

/// The summary written when measuring starts, so a run that memsoak never
/// concludes (SIGKILL, a power cut) keeps its settings: `memsoak report`
/// re-judges it with its own warm-up, limit and metric, marked partial.
/// The final summary replaces it.
pub(super) fn provisional_summary(
    config: &RunConfig,
    target: &Target,
    started_at: SystemTime,
) -> Summary {
    unsampled_summary(
        config,
        target_as_started(config, target, None, Vec::new()),
        started_at,
        exit::INTERRUPTED,
        "provisional: written when measuring started; memsoak did not conclude this run (killed?): `memsoak report` on the folder judges its samples",
    )
}

/// Records a run whose target never became ready (or whose source found
/// nothing to read once it was): `summary.json`, the reports and
/// `junit.xml` say so (exit 3, nothing judged), so a CI job finds the
/// night's record in the folder rather than an empty folder. A file that
/// cannot be written is warned about; the failure itself is printed by
/// the caller either way.
pub(super) fn record_unready(
    config: &RunConfig,
    target: &Target,
    started_at: SystemTime,
    failure: &str,
    dir: &Path,
) {
    let target = target_as_started(
        config,
        target,
        Some(crate::secrets::redact(failure)),
        crate::process::tail_lines(&dir.join("target.stderr.log"), 10),
    );
    let s = unsampled_summary(
        config,
        target,
        started_at,
        exit::TARGET,
        "not judged: nothing was measured (the target, or the source, was never ready)",
    );
    match s.write(dir) {
        Ok(()) => super::super::write_reports(
            dir,
            Some(dir),
            Err(anyhow::anyhow!("nothing was sampled")),
            &s,
        ),
        Err(e) => eprintln!("memsoak: warning: {e:#}"),
    }
}

/// The launched target's last lines on stderr, for the terminal.
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
