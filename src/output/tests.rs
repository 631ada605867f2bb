//! The renderers on hand-built summaries, without spawning the binary: one
//! summary with every section filled (a failed, interrupted run with a
//! target failure, two workloads and a flagged health step) and one as
//! bare as `memsoak report` on a foreign CSV makes.

use crate::analysis::{EarlyFail, Growth, Judgement, Metric, Verdict, WarmupRule};
use crate::output::html::Chart;
use crate::output::view::{Outcome, ReportView};
use crate::output::{
    html, junit, markdown, terminal, Environment, Judging, Rejudged, RunFacts, SamplingFacts,
    Summary, TargetSummary,
};
use crate::process::{ExitInfo, TargetMode};
use crate::sampler::ProcessSummary;
use crate::units::Rate;
use crate::workload::agent::HealthSummary;
use crate::workload::{Totals, WorkloadKind, WorkloadSummary};

const MB: f64 = 1e6;

fn judgement(verdict: Verdict, slope: f64, ci: [f64; 2]) -> Judgement {
    Judgement {
        verdict,
        reasons: vec!["growth above the limit: the whole 95% interval is above it".into()],
        growth: Some(Growth {
            slope_bytes_per_hour: slope,
            ci95_bytes_per_hour: ci,
            intercept_bytes: 50.0 * MB,
            blocks: 92,
            samples_per_block: 1,
            variance_inflation: 1.4,
            noise: crate::analysis::NoiseModel::Stationary,
        }),
        samples: 122,
        samples_judged: 92,
        peak_rss_bytes: Some(11_200_000),
        peak_rss_elapsed_s: Some(114.0),
        last_elapsed_s: 120.0,
        warmup_s: 30.0,
        held_until_s: None,
        ceiling_crossed: false,
    }
}

fn workload(name: &str, kind: WorkloadKind) -> WorkloadSummary {
    WorkloadSummary {
        growth_per_message_bytes: Some(847.0),
        growth_per_message_ci95_bytes: Some([732.0, 960.0]),
        ..WorkloadSummary::new(
            name,
            kind,
            Totals {
                sent: 2875,
                received: 5750,
                errors: 40,
                connects: 62,
                lost: 3,
                late_sends: 2,
                ..Totals::default()
            },
        )
    }
}

/// A failed run with every section filled; `<b>` in names tests escaping.
fn full() -> Summary {
    let mut agents = workload("agents <b>", WorkloadKind::Agent);
    agents.health.push(HealthSummary {
        name: "GET /health".into(),
        polls: 10,
        unhealthy_polls: 4,
        transitions: 1,
        longest_unhealthy_s: 75.0,
        flagged: true,
        ..HealthSummary::default()
    });
    let facts = RunFacts {
        name: "nightly".into(),
        profile: Some("profiles/demo-leak.toml".into()),
        judging: Judging {
            metric: Metric::Anon,
            metric_note: None,
            limit: Rate::parse("10MB/h").unwrap(),
            warmup: WarmupRule::Fixed(std::time::Duration::from_secs(30)),
            max_rss_bytes: Some(200_000_000),
        },
        planned_duration_s: 120.0,
        interval_s: 1.0,
        started_at: "2026-11-28T02:00:00Z".into(),
        sampling: SamplingFacts {
            late_samples: 2,
            failed_samples: 1,
            first_failure: Some("could not read /proc/42/status".into()),
            processes: vec![ProcessSummary {
                pid: 42,
                ppid: 1,
                name: "uvicorn".into(),
                rss_bytes: 11_000_000,
                anon_bytes: Some(8_000_000),
                threads: 4,
            }],
            ..SamplingFacts::default()
        },
        workloads: vec![workload("editors", WorkloadKind::Collab), agents],
        load_failures: Vec::new(),
        target: TargetSummary {
            mode: TargetMode::Launch,
            pid: 42,
            command: vec!["uvicorn".into(), "app:app".into()],
            exit: Some(ExitInfo {
                code: None,
                signal: Some(9),
            }),
            exit_description: Some("killed by signal 9 (SIGKILL)".into()),
            failure: Some("the target ended during the run, after 100.0s".into()),
            stderr_tail: vec!["OSError: [Errno 98] address already in use <port 8000>".into()],
            max_processes: 3,
        },
        partial: true,
        fail_fast: None,
        environment: Environment {
            host: "ci-runner".into(),
            kernel: "linux 6.1".into(),
            memsoak_version: "test".into(),
            command_line: vec!["memsoak".into(), "run".into()],
        },
        source: None,
        attribution: None,
        leaks: None,
        heap_snapshots: None,
        load_design: None,
        growth_drivers: None,
    };
    let j = judgement(Verdict::Fail, 73.0 * MB, [63.0 * MB, 82.7 * MB]);
    let mut s = Summary::of_run(&j, facts, |_| 3);
    s.memsoak_version = "test".into();
    s
}

/// `memsoak report` on a CSV with no run folder: no target, no load.
fn bare(verdict: Verdict, exit_code: i32) -> Summary {
    let j = Judgement {
        reasons: Vec::new(),
        ..judgement(verdict, 1.0 * MB, [-2.0 * MB, 4.0 * MB])
    };
    let judging = Judging {
        metric: Metric::Rss,
        metric_note: None,
        limit: Rate::parse("512KiB/min").unwrap(),
        warmup: WarmupRule::Fixed(std::time::Duration::from_secs(30)),
        max_rss_bytes: None,
    };
    let facts = Rejudged {
        growth_drivers: None,
        judging,
        previous: None,
        name: "samples".into(),
        workloads: Vec::new(),
        source: None,
        started_at: None,
        attribution: None,
        leaks: None,
        replayed: None,
    };
    let mut s = Summary::rejudged(&j, facts, |_| exit_code);
    s.memsoak_version = "test".into();
    s
}

#[test]
fn terminal_summary() {
    let folder = std::path::Path::new("reports/nightly");
    insta::assert_snapshot!("terminal_full", terminal::render(&full(), folder));
    insta::assert_snapshot!(
        "terminal_bare",
        terminal::render(&bare(Verdict::Pass, 0), folder)
    );
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!("markdown_full", markdown::render(&full()));
    insta::assert_snapshot!("markdown_bare", markdown::render(&bare(Verdict::Pass, 0)));
}

#[test]
fn junit_report() {
    insta::assert_snapshot!("junit_full", junit::render(&full()));
    insta::assert_snapshot!("junit_bare", junit::render(&bare(Verdict::Pass, 0)));
}

#[test]
fn html_report_without_a_chart_says_why() {
    let page = html::render(
        &full(),
        Chart::Missing("drawing it failed (no space left)"),
        &["samples.csv", "summary.json"],
    );
    assert!(page.contains("<a href=\"samples.csv\">samples.csv</a>, <a href=\"summary.json\">"));
    assert!(
        !page.contains("memory.png"),
        "no link to a chart that is not there"
    );
    let bare = html::render(
        &bare(Verdict::Pass, 0),
        Chart::Missing("too few samples"),
        &[],
    );
    assert!(!bare.contains("<h2>Run</h2>"), "no empty section");
    insta::assert_snapshot!("html_full", page);
    assert!(page.contains("<p>No chart: drawing it failed (no space left).</p>"));
    assert!(page.contains("agents &lt;b&gt;"), "names are escaped");
}

#[test]
fn fail_fast_leads_the_reasons_and_fails_the_verdict() {
    let j = judgement(Verdict::Inconclusive, 30.0 * MB, [5.0 * MB, 60.0 * MB]);
    let facts = RunFacts {
        partial: false,
        fail_fast: Some(EarlyFail {
            look: 4,
            looks: 20,
            elapsed_s: 60.0,
            lower_bound_bytes_per_hour: 12.0 * MB,
            alpha: 0.01,
        }),
        ..run_facts()
    };
    let s = Summary::of_run(&j, facts, |v| if v == Verdict::Fail { 1 } else { 4 });
    assert_eq!(s.verdict, Verdict::Fail);
    assert_eq!(s.exit_code, 1);
    assert!(
        s.reasons[0]
            .starts_with("fail-fast: at look 4 of 20 (60s), the growth's lower bound 12.0 MB/h"),
        "{:?}",
        s.reasons
    );
}

#[test]
fn checks_read_the_verdict_they_are_given() {
    // Inconclusive mapped to exit 0 is a skipped growth check, not a pass.
    let s = bare(Verdict::Inconclusive, 0);
    let v = ReportView::new(&s);
    assert!(matches!(v.checks[0].outcome, Outcome::Skip(_)));
    let s = bare(Verdict::Inconclusive, 4);
    let v = ReportView::new(&s);
    assert!(matches!(v.checks[0].outcome, Outcome::Fail(_)));
    let s = full();
    let v = ReportView::new(&s);
    assert!(matches!(&v.checks[2].outcome, Outcome::Fail(m) if m.contains("ended during the run")));
    assert!(
        matches!(&v.checks[3].outcome, Outcome::Fail(m) if m.contains("40 errors in 2875 sent"))
    );
}

fn run_facts() -> RunFacts {
    let s = full();
    RunFacts {
        name: s.name.clone(),
        profile: s.profile.clone(),
        judging: Judging {
            metric: s.metric,
            metric_note: None,
            limit: s.threshold.clone(),
            warmup: WarmupRule::Fixed(std::time::Duration::from_secs(30)),
            max_rss_bytes: s.max_rss_bytes,
        },
        planned_duration_s: 120.0,
        interval_s: 1.0,
        started_at: "2026-11-28T02:00:00Z".into(),
        sampling: SamplingFacts::default(),
        workloads: Vec::new(),
        load_failures: Vec::new(),
        target: s.target.clone().unwrap(),
        partial: false,
        fail_fast: None,
        environment: s.environment.clone().unwrap(),
        source: None,
        attribution: None,
        leaks: None,
        heap_snapshots: None,
        load_design: None,
        growth_drivers: None,
    }
}

#[test]
fn dead_load_is_a_load_failure_never_a_pass() {
    let j = Judgement {
        reasons: Vec::new(),
        ..judgement(Verdict::Pass, 1.0 * MB, [0.5 * MB, 2.0 * MB])
    };
    let mut editors = workload("editors", WorkloadKind::Collab);
    editors.tasks_died = 4;
    let mut facts = RunFacts {
        workloads: vec![editors],
        load_failures: vec!["workload 'editors': 4 of its 4 tasks died (first: boom)".into()],
        ..run_facts()
    };
    facts.target.failure = None;
    let s = Summary::of_run(&j, facts, |v| match v {
        Verdict::Pass => 0,
        Verdict::LoadFailure => 6,
        _ => 4,
    });
    assert_eq!(s.verdict, Verdict::LoadFailure);
    assert_eq!(s.exit_code, 6);
    assert!(
        s.reasons[0].starts_with("the load failed 1 check, so the memory was not judged"),
        "{:?}",
        s.reasons
    );
    assert_eq!(
        s.reasons[1],
        "workload 'editors': 4 of its 4 tasks died (first: boom)"
    );
    let text = terminal::render(&s, std::path::Path::new("run"));
    assert!(
        text.starts_with("memsoak: LOAD FAILURE: load check failed: editors: 4 of its tasks died"),
        "{text}"
    );
    assert!(text.contains("(not judged)"), "{text}");
    assert!(text.contains("✗ editors: 4 of its tasks died"), "{text}");
    let xml = junit::render(&s);
    assert!(xml.contains("name=\"memory growth\""), "{xml}");
    assert!(
        xml.contains("not judged: the load failed its checks"),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"load check: editors tasks alive\""),
        "{xml}"
    );
}

#[test]
fn control_characters_keep_junit_valid_xml_and_markdown_free_of_html() {
    let mut s = full();
    s.workloads[0].name = "bad\u{1}name <script>".into();
    s.workloads[0].totals.errors = 2875;
    let xml = junit::render(&s);
    roxmltree::Document::parse(&xml).expect("valid XML");
    let md = markdown::render(&s);
    assert!(md.contains("bad name &lt;script&gt;"), "{md}");
    assert!(!md.contains("<script>"), "{md}");
}

#[test]
fn a_summary_written_by_an_earlier_memsoak_still_loads() {
    // Fields added later (the noise model, the found warm-up, the memory
    // source) are absent from older run folders: `memsoak report` and
    // `compare` must still read them.
    let mut v = serde_json::to_value(full()).unwrap();
    v["growth"].as_object_mut().unwrap().remove("noise");
    for field in ["warmup_auto", "source", "attribution", "leaks"] {
        v.as_object_mut().unwrap().remove(field);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let s = Summary::load(&path).unwrap();
    assert_eq!(s.growth.unwrap().noise, None);
    assert!(!s.warmup_auto);
    assert!(s.source.is_none());
}
