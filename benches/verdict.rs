//! The verdict on realistic 8-hour noise: for each noise family of
//! `memsoak::analysis::families` and true growth of 0, 5 and 20 MB/h
//! against a 10 MB/h limit, how often the 95% interval covers the truth,
//! how wide it is next to the best possible (GLS with the true noise
//! model), and how often the verdict is FAIL or INCONCLUSIVE, with the
//! warm-up found in the data (the default) and with the 10% rule; then
//! fail-fast's false early fails and time to FAIL.
//!
//! Run: `cargo bench --bench verdict [-- SERIES [HOURS [FAMILY,…]]]`
//! (defaults 1000 series per family and growth, 8 hours, every family).
//! Prints Markdown tables for BENCHMARKS.md. Seeded: the same arguments
//! give the same tables.

use std::time::{Duration, Instant};

use memsoak::analysis::families::{generate, Family};
use memsoak::analysis::{
    Analyzer, BlockStat, Criteria, FailFast, FailFastMonitor, Verdict, WarmupRule,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const LIMIT: f64 = 10e6;
const SLOPES: [f64; 3] = [0.0, 5e6, 20e6];

/// What one series gave.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    covered: bool,
    width: f64,
    ratio: f64,
    verdict: Verdict,
    warmup_s: f64,
    fixed_covered: bool,
    fixed_width: f64,
    fixed_verdict: Verdict,
    early_fail_s: Option<f64>,
}

fn criteria(seconds: usize, auto: bool) -> Criteria {
    Criteria {
        warmup: if auto {
            WarmupRule::Found {
                planned: Duration::from_secs(seconds as u64 / 10),
            }
        } else {
            WarmupRule::Fixed(Duration::from_secs(seconds as u64 / 10))
        },
        max_growth_bytes_per_hour: LIMIT,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    }
}

fn one(family: Family, slope: f64, seconds: usize, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let series = generate(family, slope, seconds, seconds as f64 / 10.0, &mut rng);
    let mut auto = Analyzer::new(criteria(seconds, true));
    let mut fixed = Analyzer::new(criteria(seconds, false));
    let duration = Duration::from_secs(seconds as u64);
    let mut monitor =
        FailFastMonitor::new(FailFast::DEFAULT, &auto, duration, Duration::from_secs(1));
    let mut early_fail_s = None;
    for (t, &y) in series.values.iter().enumerate() {
        let t = t as f64;
        auto.observe(t, Some(y), None);
        fixed.observe(t, Some(y), None);
        if early_fail_s.is_none() {
            early_fail_s = monitor.observe(t, &auto).map(|e| e.elapsed_s);
        }
    }
    let (a, f) = (auto.judge(), fixed.judge());
    let ga = a.growth.expect("an 8-hour series has a trend");
    let gf = f.growth.expect("an 8-hour series has a trend");
    let covers = |g: &memsoak::analysis::Growth| {
        g.ci95_bytes_per_hour[0] <= slope && slope <= g.ci95_bytes_per_hour[1]
    };
    let width = |g: &memsoak::analysis::Growth| g.ci95_bytes_per_hour[1] - g.ci95_bytes_per_hour[0];
    let reference_width = 2.0 * 1.959_964 * series.reference_se;
    Outcome {
        covered: covers(&ga),
        width: width(&ga),
        ratio: width(&ga) / reference_width,
        verdict: a.verdict,
        warmup_s: a.warmup_s,
        fixed_covered: covers(&gf),
        fixed_width: width(&gf),
        fixed_verdict: f.verdict,
        early_fail_s,
    }
}

/// Runs `n` series of a family and growth on two threads.
fn run(family: Family, slope: f64, seconds: usize, n: usize) -> Vec<Outcome> {
    let base = (family as u64) << 40 | (slope as u64 / 1000) << 8;
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let mut out: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                s.spawn(move || {
                    (w..n)
                        .step_by(threads)
                        .map(|i| (i, one(family, slope, seconds, base + i as u64)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a simulation thread panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

fn pct(n: usize, of: usize) -> String {
    format!("{:.1}%", 100.0 * n as f64 / of as f64)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let hours: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8.0);
    let seconds = (hours * 3600.0) as usize;
    let families: Vec<Family> = match args.get(2) {
        Some(list) => Family::ALL
            .into_iter()
            .filter(|f| list.split(',').any(|n| n == f.name()))
            .collect(),
        None => Family::ALL.to_vec(),
    };
    let started = Instant::now();
    println!("{n} series per family and growth, {hours} h at 1 Hz, limit 10 MB/h\n");
    println!("| family | growth | coverage | width (MB/h) | width / GLS | FAIL | INCONCLUSIVE | warm-up found (median, p90) | 10% rule: coverage | width | FAIL | INCONCLUSIVE |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut fast = Vec::new();
    for &family in &families {
        for slope in SLOPES {
            let o = run(family, slope, seconds, n);
            let count = |f: &dyn Fn(&Outcome) -> bool| o.iter().filter(|x| f(x)).count();
            println!(
                "| {} | {} MB/h | {} | {:.1} | {:.2} | {} | {} | {:.0} min, {:.0} min | {} | {:.1} | {} | {} |",
                family.name(),
                slope / 1e6,
                pct(count(&|x| x.covered), n),
                median(o.iter().map(|x| x.width / 1e6).collect()),
                median(o.iter().map(|x| x.ratio).collect()),
                pct(count(&|x| x.verdict == Verdict::Fail), n),
                pct(count(&|x| x.verdict == Verdict::Inconclusive), n),
                median(o.iter().map(|x| x.warmup_s / 60.0).collect()),
                quantile(o.iter().map(|x| x.warmup_s / 60.0).collect(), 0.9),
                pct(count(&|x| x.fixed_covered), n),
                median(o.iter().map(|x| x.fixed_width / 1e6).collect()),
                pct(count(&|x| x.fixed_verdict == Verdict::Fail), n),
                pct(count(&|x| x.fixed_verdict == Verdict::Inconclusive), n),
            );
            let early: Vec<f64> = o.iter().filter_map(|x| x.early_fail_s).collect();
            fast.push((family, slope, early));
        }
    }
    println!("\nFail-fast (20 looks, 1% family-wise), warm-up found in the data:\n");
    println!("| family | early FAIL at 0 MB/h | at 5 MB/h | 20 MB/h caught early | time to FAIL at 20 MB/h (median, p90) |");
    println!("|---|---|---|---|---|");
    for &family in &families {
        let at = |s: f64| {
            fast.iter()
                .find(|(f, sl, _)| *f == family && *sl == s)
                .map(|(_, _, e)| e.clone())
                .unwrap_or_default()
        };
        let leak = at(20e6);
        println!(
            "| {} | {} | {} | {} | {} |",
            family.name(),
            pct(at(0.0).len(), n),
            pct(at(5e6).len(), n),
            pct(leak.len(), n),
            if leak.is_empty() {
                "—".to_string()
            } else {
                format!(
                    "{:.0} min, {:.0} min",
                    median(leak.iter().map(|s| s / 60.0).collect()),
                    quantile(leak.iter().map(|s| s / 60.0).collect(), 0.9)
                )
            }
        );
    }
    eprintln!("\n({:.0} s)", started.elapsed().as_secs_f64());
}
