//! memsoak's own heap is bounded: it must not grow with the length of a run.
//!
//! This is a test binary of its own (not part of `tests/integration`)
//! because dhat must be the global allocator of the whole process, and only
//! one dhat profiler may run in it, so everything is checked in one test.
//! It drives the sampler, the analysis and the workload accounting through
//! N and then 10·N samples or messages and compares the live heap.

use std::time::{Duration, Instant};

use memsoak::analysis::attribution::Attributor;
use memsoak::analysis::{Analyzer, BlockStat, Criteria, WarmupRule};
use memsoak::sampler::{Sampler, Settings};
use memsoak::workload::stats::{ErrorKind, Stats};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allowance for allocations by other threads of the test harness while a
/// measurement runs (seen: under 1 kB). A leak of even one byte per sample
/// would show as 90 kB or more between N and 10·N here.
const SLACK: u64 = 4096;

fn live_bytes() -> u64 {
    dhat::HeapStats::get().curr_bytes as u64
}

fn criteria() -> Criteria {
    Criteria {
        warmup: WarmupRule::Fixed(Duration::ZERO),
        max_growth_bytes_per_hour: 10e6,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    }
}

/// Live heap after `n` and after `10·n` steps of `step` on one state.
fn grow<S>(mut state: S, n: u64, mut step: impl FnMut(&mut S, u64)) -> (u64, u64) {
    for i in 0..n {
        step(&mut state, i);
    }
    let after_n = live_bytes();
    for i in n..10 * n {
        step(&mut state, i);
    }
    let after_10n = live_bytes();
    drop(state);
    (after_n, after_10n)
}

fn assert_flat(what: &str, (after_n, after_10n): (u64, u64), slack: u64) {
    eprintln!("{what}: live heap {after_n} B after N, {after_10n} B after 10·N");
    assert!(
        after_10n <= after_n + slack,
        "{what}: live heap grew from {after_n} B to {after_10n} B between N and 10·N"
    );
}

/// A heap snapshot in V8's layout with `nodes` nodes of a few classes,
/// written as it is generated (so writing it costs no memory).
fn write_snapshot(path: &std::path::Path, nodes: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        f,
        r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native"]]}},"node_count":{nodes}}},"nodes":["#
    )
    .unwrap();
    for i in 0..nodes {
        let (kind, name, detached) = [(3, 1, 0), (8, 2, 2), (5, 3, 0), (2, 4, 0)][(i % 4) as usize];
        let sep = if i == 0 { "" } else { "," };
        write!(f, "{sep}{kind},{name},{i},{},0,{detached}", 16 + i % 64).unwrap();
    }
    write!(
        f,
        r#"],"edges":[],"strings":["", "Array", "<div>", "onmessage", "a string"]}}"#
    )
    .unwrap();
}

#[test]
fn memsoak_heap_does_not_grow_with_run_length() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // Heap snapshots: reading one of 10·N nodes takes no more memory at
    // its peak than one of N (first, so nothing before sets the peak).
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (
        dir.path().join("n.heapsnapshot"),
        dir.path().join("10n.heapsnapshot"),
    );
    write_snapshot(&small, 20_000);
    write_snapshot(&large, 200_000);
    let peak = || dhat::HeapStats::get().max_bytes as u64;
    let n = memsoak::devtools::snapshot::summarise(&small).unwrap();
    let after_n = peak();
    let ten_n = memsoak::devtools::snapshot::summarise(&large).unwrap();
    let after_10n = peak();
    assert_eq!((n.nodes, ten_n.nodes), (20_000, 200_000));
    assert_eq!(ten_n.detached_total(), 50_000);
    eprintln!("heap snapshots: peak heap {after_n} B reading N nodes, {after_10n} B reading 10·N");
    assert!(
        after_10n <= after_n + SLACK,
        "heap snapshots: peak heap grew from {after_n} B to {after_10n} B between N and 10·N nodes"
    );

    // Analysis: 10,000 then 100,000 samples into one analyser.
    let sizes = grow(Analyzer::new(criteria()), 10_000, |a, i| {
        let t = i as f64;
        a.observe(t, Some(1e8 + t * 10.0 + (t * 0.7).sin() * 1e5), Some(1));
    });
    assert_flat("analysis", sizes, SLACK);

    // Workload accounting: counters and latency histograms.
    let sizes = grow(Stats::default(), 20_000, |s, i| {
        memsoak::workload::stats::bump(&s.sent);
        memsoak::workload::stats::bump(&s.received);
        s.latency(Duration::from_micros(100 + (i * 7919) % 50_000));
        if i % 100 == 0 {
            s.error(ErrorKind::Timeout);
            let _ = s.take_interval_latency();
        }
    });
    assert_flat("workload accounting", sizes, SLACK);

    // Attribution: every class, resource and process series fed 10,000
    // then 100,000 values (memory is per series, not per value).
    let sizes = grow(Attributor::new(&criteria()), 10_000, |a, i| {
        let t = i as f64;
        for (k, name) in memsoak::recording::breakdown::SERIES.iter().enumerate() {
            a.observe(t, name, 1e6 + t * k as f64);
        }
        a.observe(t, "fds", 10.0);
        a.observe(t, "threads", 3.0);
        for pid in 1..=4 {
            a.observe_process(t, pid, 0.0, "worker", "", Some(1e6 + t), 1);
        }
    });
    assert_flat("attribution", sizes, SLACK);

    // Sampler: this process sampled every millisecond, to real CSV files
    // (samples, breakdown with smaps every 10 ticks, processes), with the
    // live heap read after N and 10·N samples while it runs.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("samples.csv");
    let (tx, _rx) = tokio::sync::oneshot::channel();
    // The live view's channel holds only the latest judgement.
    let (live, _live_rx) = tokio::sync::watch::channel(None);
    let settings = Settings {
        tree: memsoak::sampler::Tree::Attached {
            root: std::process::id(),
        },
        interval: Duration::from_millis(1),
        pss_every: 10,
        smaps_every: 10,
        track_processes: 32,
        metric: None,
        fail_fast: None,
        live: Some(live),
        limit_per_member: None,
        hold: Default::default(),
    };
    let sampler = Sampler::spawn(
        settings,
        memsoak::sampler::default_probe().expect("a probe"),
        Analyzer::new(criteria()),
        dir.path(),
        Instant::now(),
        tx,
    )
    .unwrap();
    let rows = || std::fs::read_to_string(&csv).map_or(0, |s| s.lines().count() as u64);
    let wait_for = |n: u64| {
        let until = Instant::now() + Duration::from_secs(120);
        while rows() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        live_bytes()
    };
    let n = 100;
    let after_n = wait_for(n);
    let after_10n = wait_for(10 * n);
    let outcome = sampler.finish();
    let taken = outcome.analyzer.judge().samples;
    assert!(taken >= 10 * n, "{taken} samples");
    // The detail files were written as it went.
    let lines = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .lines()
            .count()
    };
    assert!(
        lines("breakdown.csv") > 10 * n as usize / 10,
        "breakdown.csv"
    );
    // The tree is walked (and processes written) once a second.
    assert!(lines("processes.csv") >= 2, "processes.csv");
    // A reading in flight allocates a few kilobytes for parsing /proc.
    assert_flat("sampler", (after_n, after_10n), 64 * 1024);
}
