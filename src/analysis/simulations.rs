//! Seeded Monte Carlo checks of the estimator: on synthetic 1 Hz series with
//! a known slope and memory noise, the slope must be recovered and the 95%
//! interval must cover the truth in roughly 95% of runs.
//!
//! Two sets: one-hour series with small noise (the estimator's basics),
//! and 8-hour series of the realistic noise families of `families.rs`, a
//! couple of hundred per family here; `cargo bench --bench verdict` runs
//! a thousand per family for the table in BENCHMARKS.md.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::{Analyzer, BlockStat, Criteria, WarmupRule};

/// True slope of every simulated series: 20 MB/h.
const SLOPE_BYTES_PER_HOUR: f64 = 20e6;
/// Judged length: one hour at 1 Hz.
const SECONDS: usize = 3600;
const RUNS: usize = 400;

#[derive(Clone, Copy, Debug)]
enum Noise {
    /// Independent measurement noise, sd 200 kB.
    White,
    /// GC sawtooth: 5 MB ramps that drop back every 40–90 s.
    Sawtooth,
    /// Slow AR(1) wander: time constant 5 min, stationary sd 1 MB.
    Wander,
    /// Allocator steps: the floor jumps between levels 2 MB apart about
    /// every 10 minutes (arenas taken and returned), plus 100 kB noise.
    Steps,
}

fn series(noise: Noise, slope_bytes_per_hour: f64, rng: &mut StdRng) -> Vec<f64> {
    let slope = slope_bytes_per_hour / 3600.0;
    let white = |sd: f64| Normal::new(0.0, sd).expect("valid sd");
    let mut out = Vec::with_capacity(SECONDS);
    match noise {
        Noise::White => {
            let n = white(200e3);
            for t in 0..SECONDS {
                out.push(100e6 + slope * t as f64 + n.sample(rng));
            }
        }
        Noise::Sawtooth => {
            let n = white(50e3);
            let period: f64 = rng.random_range(40.0..90.0);
            let phase: f64 = rng.random_range(0.0..period);
            for t in 0..SECONDS {
                let frac = ((t as f64 + phase) % period) / period;
                out.push(100e6 + slope * t as f64 + 5e6 * frac + n.sample(rng));
            }
        }
        Noise::Wander => {
            let phi = (-1.0f64 / 300.0).exp();
            let sd = 1e6;
            let innov = white(sd * (1.0 - phi * phi).sqrt());
            let mut x = white(sd).sample(rng);
            for t in 0..SECONDS {
                x = phi * x + innov.sample(rng);
                out.push(100e6 + slope * t as f64 + x);
            }
        }
        Noise::Steps => {
            let n = white(100e3);
            let mut level: i32 = rng.random_range(0..3);
            for t in 0..SECONDS {
                if rng.random_bool(1.0 / 600.0) {
                    level = (level + if rng.random_bool(0.5) { 1 } else { -1 }).clamp(0, 2);
                }
                out.push(100e6 + slope * t as f64 + 2e6 * f64::from(level) + n.sample(rng));
            }
        }
    }
    out
}

/// Returns (coverage, median relative error of the slope).
fn simulate(noise: Noise, seed: u64) -> (f64, f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut covered = 0;
    let mut errors = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut a = Analyzer::new(Criteria {
            warmup: WarmupRule::Fixed(Duration::ZERO),
            max_growth_bytes_per_hour: 10e6,
            max_rss_bytes: None,
            block_stat: BlockStat::Min,
        });
        for (t, y) in series(noise, SLOPE_BYTES_PER_HOUR, &mut rng)
            .into_iter()
            .enumerate()
        {
            a.observe(t as f64, Some(y), None);
        }
        let g = a.judge().growth.expect("enough samples");
        let [lo, hi] = g.ci95_bytes_per_hour;
        if lo <= SLOPE_BYTES_PER_HOUR && SLOPE_BYTES_PER_HOUR <= hi {
            covered += 1;
        }
        errors.push((g.slope_bytes_per_hour / SLOPE_BYTES_PER_HOUR - 1.0).abs());
    }
    errors.sort_by(f64::total_cmp);
    (covered as f64 / RUNS as f64, errors[RUNS / 2])
}

fn check(noise: Noise, seed: u64, max_median_error: f64) {
    let (coverage, median_error) = simulate(noise, seed);
    eprintln!("{noise:?}: coverage {coverage:.3}, median |error| {median_error:.3}");
    // The upper end is open: an hour cannot tell a slow stationary wander
    // (or steps between a few levels) from a random walk, and such series
    // get the walk's wider, safe interval.
    assert!(
        coverage >= 0.90,
        "{noise:?}: 95% interval covered the true slope in {:.1}% of runs",
        coverage * 100.0
    );
    assert!(
        median_error < max_median_error,
        "{noise:?}: median relative slope error {median_error:.3}"
    );
}

#[test]
fn white_noise() {
    check(Noise::White, 1, 0.05);
}

#[test]
fn gc_sawtooth() {
    check(Noise::Sawtooth, 2, 0.10);
}

#[test]
fn slow_ar1_wander() {
    check(Noise::Wander, 3, 0.30);
}

#[test]
fn allocator_steps() {
    check(Noise::Steps, 4, 0.20);
}

/// Runs the early-fail rule over one series with looks every 1/20 of the
/// hour; returns the time of the early fail, if any.
fn early_fail_time(y: &[f64], limit: f64) -> Option<usize> {
    let rule = super::FailFast::DEFAULT;
    let mut a = Analyzer::new(Criteria {
        warmup: WarmupRule::Fixed(Duration::ZERO),
        max_growth_bytes_per_hour: limit,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    });
    let duration = Duration::from_secs(y.len() as u64);
    let mut monitor = super::FailFastMonitor::new(rule, &a, duration, Duration::from_secs(1));
    for (t, v) in y.iter().enumerate() {
        a.observe(t as f64, Some(*v), None);
        if monitor.observe(t as f64, &a).is_some() {
            return Some(t);
        }
    }
    None
}

#[test]
fn fail_fast_rarely_fails_flat_runs_and_catches_clear_leaks_early() {
    let limit = 10e6;
    let noises = [Noise::White, Noise::Sawtooth, Noise::Wander, Noise::Steps];
    let mut rng = StdRng::seed_from_u64(7);
    // 1,000 flat series (250 of each noise): false early fails.
    let mut false_fails = 0;
    for noise in noises {
        for _ in 0..250 {
            if early_fail_time(&series(noise, 0.0, &mut rng), limit).is_some() {
                false_fails += 1;
            }
        }
    }
    let rate = false_fails as f64 / 1000.0;
    eprintln!(
        "fail-fast: {false_fails} false early fails in 1000 flat series ({:.2}%)",
        rate * 100.0
    );
    assert!(rate <= 0.01, "false early-fail rate {rate}");
    // Leaks at 2x and 5x the limit: how soon are they caught?
    for factor in [2.0, 5.0] {
        let mut times = Vec::new();
        for noise in noises {
            for _ in 0..40 {
                times.push(early_fail_time(
                    &series(noise, factor * limit, &mut rng),
                    limit,
                ));
            }
        }
        let caught: Vec<usize> = times.iter().flatten().copied().collect();
        let mut sorted = caught.clone();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied();
        eprintln!(
            "fail-fast: {factor}x the limit caught early in {}/{} one-hour runs, median after {:?} s",
            caught.len(),
            times.len(),
            median
        );
        // Most clear leaks end early; slow wander can hide one until the
        // end, and a look only fails on a growth that also holds in the
        // recent half of the window, at the final judgement's block length.
        assert!(
            caught.len() * 5 >= times.len() * 3,
            "{factor}x: only {} of {} caught early",
            caught.len(),
            times.len()
        );
    }
}

/// Judges `y` (one value a second) as sampled every `step` seconds, with
/// the default 10% warm-up; returns (verdict, interval width bytes/hour).
fn judged_every(y: &[f64], step: usize, limit: f64) -> (super::Verdict, f64) {
    let mut a = Analyzer::new(Criteria {
        warmup: WarmupRule::Fixed(Duration::from_secs(y.len() as u64 / 10)),
        max_growth_bytes_per_hour: limit,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    });
    for (t, v) in y.iter().enumerate().step_by(step) {
        a.observe(t as f64, Some(*v), None);
    }
    let j = a.judge();
    let g = j.growth.expect("enough samples");
    let [lo, hi] = g.ci95_bytes_per_hour;
    (j.verdict, hi - lo)
}

/// The same 8-hour series sampled every 1 s, 5 s and 30 s gets the same
/// verdict and, in the median over series, an interval of the same width:
/// the blocks are a fixed span of time, not a fixed number of samples. The
/// noise is a GC sawtooth of 20 MB with a period of 1–10 minutes over a
/// slow AR(1) wander (time constant 20 minutes, sd 3 MB), the magnitudes of
/// a mid-size backend. One series' width varies with the sampling (its
/// autocorrelation estimate does), within a factor of 2.5.
#[test]
fn the_verdict_does_not_depend_on_the_sampling_interval() {
    const HOURS8: usize = 8 * 3600;
    let limit = 10e6;
    let mut rng = StdRng::seed_from_u64(11);
    let mut ratios = [Vec::new(), Vec::new()];
    for slope in [0.0, 20e6, 40e6] {
        for _ in 0..6 {
            let period: f64 = rng.random_range(60.0..600.0);
            let phase: f64 = rng.random_range(0.0..period);
            let phi = (-1.0f64 / 1200.0).exp();
            let innov = Normal::new(0.0, 3e6 * (1.0 - phi * phi).sqrt()).expect("valid sd");
            let white = Normal::new(0.0, 2e5).expect("valid sd");
            let mut x = 0.0;
            let y: Vec<f64> = (0..HOURS8)
                .map(|t| {
                    x = phi * x + innov.sample(&mut rng);
                    let saw = 20e6 * (((t as f64 + phase) % period) / period);
                    200e6 + slope / 3600.0 * t as f64 + x + saw + white.sample(&mut rng)
                })
                .collect();
            let (v1, w1) = judged_every(&y, 1, limit);
            for (i, step) in [5, 30].into_iter().enumerate() {
                let (v, w) = judged_every(&y, step, limit);
                assert_eq!(v, v1, "slope {slope}: verdict at {step} s differs from 1 s");
                assert!(
                    (0.4..=2.5).contains(&(w / w1)),
                    "slope {slope}: interval width {w:.0} at {step} s vs {w1:.0} at 1 s"
                );
                ratios[i].push(w / w1);
            }
        }
    }
    for (step, r) in [5, 30].iter().zip(&mut ratios) {
        r.sort_by(f64::total_cmp);
        let median = r[r.len() / 2];
        eprintln!(
            "interval width at {step} s / at 1 s: median {median:.2}, range {:.2} … {:.2}",
            r[0],
            r[r.len() - 1]
        );
        assert!(
            (0.75..=1.33).contains(&median),
            "median width ratio {median:.2} at {step} s"
        );
    }
}

/// Judges one 8-hour series of a family with the defaults (warm-up found
/// in the data, 10 MB/h); returns (covered, verdict, early fail).
fn judge_family(
    family: super::families::Family,
    slope: f64,
    rng: &mut StdRng,
    fail_fast: bool,
) -> (bool, super::Verdict, bool) {
    const HOURS8: usize = 8 * 3600;
    let series = super::families::generate(family, slope, HOURS8, HOURS8 as f64 / 10.0, rng);
    let mut a = Analyzer::new(Criteria {
        warmup: WarmupRule::Found {
            planned: Duration::from_secs(HOURS8 as u64 / 10),
        },
        max_growth_bytes_per_hour: 10e6,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    });
    let duration = Duration::from_secs(HOURS8 as u64);
    let mut monitor = super::FailFastMonitor::new(
        super::FailFast::DEFAULT,
        &a,
        duration,
        Duration::from_secs(1),
    );
    let mut early = false;
    for (t, y) in series.values.iter().enumerate() {
        a.observe(t as f64, Some(*y), None);
        if fail_fast && !early {
            early = monitor.observe(t as f64, &a).is_some();
        }
    }
    let j = a.judge();
    let [lo, hi] = j.growth.expect("8 hours have a trend").ci95_bytes_per_hour;
    (lo <= slope && slope <= hi, j.verdict, early)
}

/// 8-hour series of every realistic family: the interval covers the true
/// growth about 95% of the time, and a series growing at or below the
/// limit is (almost) never failed. The warm-up family's bound is lower:
/// what is left of a settling start biases its very narrow intervals
/// (BENCHMARKS.md, "The verdict on 8-hour noise").
#[test]
fn realistic_families_keep_coverage_and_never_fail_a_healthy_run() {
    use super::families::Family;
    const SERIES: usize = 100;
    let mut false_fails = 0;
    for (i, family) in Family::ALL.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(100 + i as u64);
        for slope in [0.0, 5e6, 20e6] {
            let mut covered = 0;
            for _ in 0..SERIES {
                let (c, verdict, _) = judge_family(family, slope, &mut rng, false);
                covered += usize::from(c);
                if slope <= 10e6 && verdict == super::Verdict::Fail {
                    false_fails += 1;
                }
            }
            let coverage = covered as f64 / SERIES as f64;
            eprintln!(
                "{}: {} MB/h, coverage {coverage:.3}",
                family.name(),
                slope / 1e6
            );
            let floor = if family == Family::Warmup { 0.78 } else { 0.89 };
            assert!(
                coverage >= floor,
                "{}: {} MB/h: the 95% interval covered the true growth in {:.1}% of runs",
                family.name(),
                slope / 1e6,
                coverage * 100.0
            );
        }
    }
    let rate = false_fails as f64 / (Family::ALL.len() * 2 * SERIES) as f64;
    eprintln!(
        "false FAIL at 0 and 5 MB/h: {false_fails} ({:.2}%)",
        rate * 100.0
    );
    assert!(rate <= 0.01, "false FAIL rate {rate}");
}

/// Fail-fast on flat 8-hour series of every realistic family: at most 1%
/// of them stop early, pooled over the families.
#[test]
fn fail_fast_rarely_stops_a_flat_realistic_run() {
    use super::families::Family;
    const SERIES: usize = 100;
    let mut early = 0;
    for (i, family) in Family::ALL.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(200 + i as u64);
        let here = (0..SERIES)
            .filter(|_| judge_family(family, 0.0, &mut rng, true).2)
            .count();
        eprintln!(
            "{}: {here} early fails in {SERIES} flat runs",
            family.name()
        );
        early += here;
    }
    let rate = early as f64 / (Family::ALL.len() * SERIES) as f64;
    assert!(rate <= 0.01, "false early-fail rate {rate}");
}
