//! Analysis speed and footprint for an 8-hour run at 1 Hz (28,800 samples):
//! feeding every sample to the streaming analyser and judging.
//!
//! Run: `cargo bench --bench analysis`. Prints the median of 21 rounds and
//! the number of blocks held in memory.

use std::time::{Duration, Instant};

use memsoak::analysis::{Analyzer, BlockStat, Criteria, WarmupRule};

fn main() {
    const SAMPLES: usize = 8 * 3600;
    // A 12 MB/h leak under a 45 s GC sawtooth and a deterministic wobble.
    let series: Vec<f64> = (0..SAMPLES)
        .map(|t| {
            let t = t as f64;
            150e6 + t * 12e6 / 3600.0 + (t % 45.0) * 50e3 + (t * 0.37).sin() * 200e3
        })
        .collect();
    for auto in [false, true] {
        measure(&series, auto);
    }
}

/// Feeds and judges `series` 21 times with a 48-minute warm-up or the
/// warm-up found in the data; prints the median time and the fit.
fn measure(series: &[f64], auto: bool) {
    const SAMPLES: usize = 8 * 3600;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..21 {
        let started = Instant::now();
        let mut a = Analyzer::new(Criteria {
            warmup: if auto {
                WarmupRule::Found {
                    planned: Duration::from_secs(48 * 60),
                }
            } else {
                WarmupRule::Fixed(Duration::from_secs(48 * 60))
            },
            max_growth_bytes_per_hour: 10e6,
            max_rss_bytes: None,
            block_stat: BlockStat::Min,
        });
        for (t, y) in series.iter().enumerate() {
            a.observe(t as f64, Some(*y), Some(*y as u64));
        }
        let j = a.judge();
        times.push(started.elapsed());
        last = Some(j);
    }
    times.sort();
    let j = last.expect("21 rounds ran");
    let g = j.growth.expect("enough samples");
    println!(
        "analysis of {SAMPLES} samples, warm-up {}: median {:.2} ms (min {:.2}, max {:.2}) over 21 rounds",
        if auto { "found (auto)" } else { "48m" },
        times[10].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[20].as_secs_f64() * 1e3
    );
    println!(
        "blocks fitted: {} of {} samples each after {:.0} s; slope {:.2} MB/h (95% CI {:.2} … {:.2}); noise {}; verdict {}",
        g.blocks,
        g.samples_per_block,
        j.warmup_s,
        g.slope_bytes_per_hour / 1e6,
        g.ci95_bytes_per_hour[0] / 1e6,
        g.ci95_bytes_per_hour[1] / 1e6,
        g.noise,
        j.verdict
    );
}
