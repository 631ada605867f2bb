//! Synthetic memory series with the noise of real backends, for checking
//! the verdict (the seeded tests in `simulations.rs` and
//! `cargo bench --bench verdict`, whose table is in BENCHMARKS.md).
//!
//! Each series is one value a second of a process tree's footprint, in
//! bytes, rounded down to 4 KiB pages: a true linear growth plus the noise
//! of one family. Every family also carries the background every process
//! has (page-level measurement noise, sd 0.2 MB, and a short churn of
//! buffers and caches, AR(1) with a 5-minute time constant and sd 0.5 MB)
//! and a start-up ramp (the first 10 s rise from a fifth of the footprint).
//! The families, and where their magnitudes come from:
//!
//! - **sawtooth** — a garbage collector or pool that grows and is cut back:
//!   amplitude 10–50% of a 100–500 MB footprint (Go's default `GOGC=100`
//!   lets the heap reach twice the live set; CPython's and the JVM's young
//!   collections sit lower), period 1–10 minutes, each cycle ±20%.
//! - **wander** — slow AR(1) drift of caches, queues and connection pools:
//!   time constant 10–60 minutes, sd 5–20 MB, so a swing (about 4 sd) of
//!   20–80 MB, the growth of 8 hours at 2.5–10 MB/h.
//! - **steps** — an allocator taking arenas and not returning them: an
//!   unbounded random walk of jumps up or down (exponential sizes with mean
//!   0.5–4 MB: glibc's heap growth and mmap-threshold chunks, CPython's
//!   arenas) at 2–12 jumps an hour.
//! - **spikes** — large requests' buffers, allocated and freed: heavy-tailed
//!   (Pareto, α = 1.5, from 2 MB) jumps lasting 1–30 s, every 1–5 minutes.
//! - **warmup** — caches and pools filling: the footprint approaches its
//!   level as `1 − e^{−t/τ}` with 20–100 MB still to come and τ of 15–60
//!   minutes, so 4–45% of it is still to come after the default 48-minute
//!   warm-up of an 8-hour run.
//! - **mixture** — all of the above at once, each with its own draw.
//!
//! With each series comes the standard error of the best linear unbiased
//! estimate of its slope (GLS with the true noise model, knowing the
//! sawtooth, the spikes and the warm-up curve exactly) over the judged
//! window of the default warm-up: the yardstick for how wide an interval
//! needs to be.

use rand::rngs::StdRng;
use rand::Rng;

/// A megabyte.
const MB: f64 = 1e6;
/// The page size values are rounded down to.
const PAGE: f64 = 4096.0;

/// A noise family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// GC or pool sawtooth.
    Sawtooth,
    /// Slow AR(1) wander.
    Wander,
    /// Allocator steps: an unbounded random walk.
    Steps,
    /// Heavy-tailed transient spikes.
    Spikes,
    /// A warm-up curve reaching past the default warm-up.
    Warmup,
    /// All of them at once.
    Mixture,
}

impl Family {
    /// Every family, in table order.
    pub const ALL: [Family; 6] = [
        Family::Sawtooth,
        Family::Wander,
        Family::Steps,
        Family::Spikes,
        Family::Warmup,
        Family::Mixture,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Sawtooth => "sawtooth",
            Family::Wander => "wander",
            Family::Steps => "steps",
            Family::Spikes => "spikes",
            Family::Warmup => "warmup",
            Family::Mixture => "mixture",
        }
    }

    fn has(self, part: Family) -> bool {
        self == part || self == Family::Mixture
    }
}

/// A generated series and its yardstick.
#[derive(Debug, Clone)]
pub struct Series {
    /// Bytes, one value a second.
    pub values: Vec<f64>,
    /// Standard error (bytes/hour) of the best linear unbiased slope over
    /// the judged window `[reference_from_s, end]`.
    pub reference_se: f64,
    /// Where the yardstick's window starts, seconds.
    pub reference_from_s: f64,
}

/// A standard normal draw (Box–Muller; the crate's `rand` has no normal
/// distribution and two lines do not justify another dependency).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Log-uniform in `[lo, hi]`.
fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo.ln()..=hi.ln()).exp()
}

/// An AR(1) path with time constant `tau` seconds and stationary sd `sd`,
/// added into `out`.
fn add_ar1(out: &mut [f64], tau: f64, sd: f64, rng: &mut StdRng) {
    let phi = (-1.0 / tau).exp();
    let innovation = sd * (1.0 - phi * phi).sqrt();
    let mut x = sd * normal(rng);
    for v in out {
        x = phi * x + innovation * normal(rng);
        *v += x;
    }
}

/// The noise model the yardstick knows: a random walk (variance per
/// second), AR(1) parts `(phi, innovation variance)` and white noise.
struct Truth {
    walk: f64,
    ar: Vec<(f64, f64)>,
    white: f64,
}

/// Generates `seconds` of `family` growing at `slope_bytes_per_hour`,
/// with the yardstick's window starting at `reference_from_s`.
pub fn generate(
    family: Family,
    slope_bytes_per_hour: f64,
    seconds: usize,
    reference_from_s: f64,
    rng: &mut StdRng,
) -> Series {
    let footprint = rng.random_range(100.0..500.0) * MB;
    let slope = slope_bytes_per_hour / 3600.0;
    let mut y: Vec<f64> = (0..seconds).map(|t| footprint + slope * t as f64).collect();
    let background_white = 0.2 * MB;
    let (bg_tau, bg_sd) = (300.0, 0.5 * MB);
    // The yardstick's model, in MB (its filter's diffuse start needs
    // variances near 1).
    let mut truth = Truth {
        walk: 0.0,
        ar: Vec::new(),
        white: (background_white / MB).powi(2),
    };

    if family.has(Family::Sawtooth) {
        let amplitude = rng.random_range(0.1..0.5) * footprint;
        let period = log_uniform(rng, 60.0, 600.0);
        let mut start = -rng.random_range(0.0..period);
        let mut length = period * rng.random_range(0.8..1.2);
        for (t, v) in y.iter_mut().enumerate() {
            let t = t as f64;
            while t >= start + length {
                start += length;
                length = period * rng.random_range(0.8..1.2);
            }
            *v += amplitude * (t - start) / length;
        }
    }
    if family.has(Family::Wander) {
        let tau = log_uniform(rng, 600.0, 3600.0);
        let sd = log_uniform(rng, 5.0, 20.0) * MB;
        add_ar1(&mut y, tau, sd, rng);
        let phi = (-1.0 / tau).exp();
        truth.ar.push((phi, (sd / MB).powi(2) * (1.0 - phi * phi)));
    }
    if family.has(Family::Steps) {
        let rate = log_uniform(rng, 2.0, 12.0) / 3600.0;
        let size = log_uniform(rng, 0.5, 4.0) * MB;
        let mut level = 0.0;
        for v in &mut y {
            if rng.random_bool(rate) {
                let jump = -size * rng.random_range(f64::MIN_POSITIVE..1.0f64).ln();
                level += if rng.random_bool(0.5) { jump } else { -jump };
            }
            *v += level;
        }
        truth.walk = rate * 2.0 * (size / MB).powi(2);
    }
    if family.has(Family::Spikes) {
        let rate = 1.0 / log_uniform(rng, 60.0, 300.0);
        let mut t = 0;
        while t < seconds {
            if rng.random_bool(rate) {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                let height = 2.0 * MB * u.powf(-1.0 / 1.5);
                let length = rng.random_range(1..=30);
                for v in y.iter_mut().skip(t).take(length) {
                    *v += height;
                }
            }
            t += 1;
        }
    }
    if family.has(Family::Warmup) {
        let still_to_come = rng.random_range(20.0..100.0) * MB;
        let tau = log_uniform(rng, 900.0, 3600.0);
        for (t, v) in y.iter_mut().enumerate() {
            *v -= still_to_come * (-(t as f64) / tau).exp();
        }
    }
    add_ar1(&mut y, bg_tau, bg_sd, rng);
    let phi = (-1.0 / bg_tau).exp();
    truth
        .ar
        .push((phi, (bg_sd / MB).powi(2) * (1.0 - phi * phi)));
    for (t, v) in y.iter_mut().enumerate() {
        *v += background_white * normal(rng);
        // Start-up: the first 10 s rise from a fifth of the footprint.
        if t < 10 {
            *v *= 0.2 + 0.08 * t as f64;
        }
        *v = (v.max(0.0) / PAGE).floor() * PAGE;
    }
    let from = reference_from_s.max(0.0) as usize;
    Series {
        values: y,
        reference_se: reference_se(&truth, from, seconds) * MB * 3600.0,
        reference_from_s: from as f64,
    }
}

/// The standard error (bytes/second) of the GLS slope over seconds
/// `[from, to)` under the true noise model, by a Kalman filter over the
/// time regressor: `Var = (Σ v_t² / F_t)⁻¹` for its innovations `v_t`.
/// A walk's start (or, without a walk, a constant level) is diffuse, so
/// it absorbs the intercept.
fn reference_se(truth: &Truth, from: usize, to: usize) -> f64 {
    // States: level (random walk, diffuse), then each AR(1) part.
    let k = 1 + truth.ar.len();
    let diffuse = 1e9;
    let mut a = vec![0.0; k];
    let mut p = vec![vec![0.0; k]; k];
    p[0][0] = diffuse;
    for (i, &(phi, q)) in truth.ar.iter().enumerate() {
        p[i + 1][i + 1] = q / (1.0 - phi * phi);
    }
    let mut information = 0.0;
    for (n, t) in (from..to).enumerate() {
        if n > 0 {
            // Predict: level keeps, AR parts decay; add innovations.
            for (i, &(phi, _)) in truth.ar.iter().enumerate() {
                a[i + 1] *= phi;
            }
            // Each state's decay: 1 for the level, phi for an AR part.
            let decay: Vec<f64> = std::iter::once(1.0)
                .chain(truth.ar.iter().map(|&(phi, _)| phi))
                .collect();
            for (row, fr) in p.iter_mut().zip(&decay) {
                for (cell, fc) in row.iter_mut().zip(&decay) {
                    *cell *= fr * fc;
                }
            }
            p[0][0] += truth.walk;
            for (i, &(_, q)) in truth.ar.iter().enumerate() {
                p[i + 1][i + 1] += q;
            }
        }
        // Observation: the sum of the states plus white noise.
        let x = (t - from) as f64;
        let predicted: f64 = a.iter().sum();
        let v = x - predicted;
        let ph: Vec<f64> = p.iter().map(|row| row.iter().sum()).collect();
        let f = ph.iter().sum::<f64>() + truth.white;
        if n > 0 {
            information += v * v / f;
        }
        for (state, g) in a.iter_mut().zip(&ph) {
            *state += g / f * v;
        }
        for (row, gr) in p.iter_mut().zip(&ph) {
            for (cell, gc) in row.iter_mut().zip(&ph) {
                *cell -= gr * gc / f;
            }
        }
    }
    1.0 / information.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_yardstick_matches_closed_forms() {
        // White noise alone: OLS is GLS, se = σ·sqrt(12 / n³) per second.
        let truth = Truth {
            walk: 0.0,
            ar: Vec::new(),
            white: 4.0,
        };
        let n = 1000;
        let expected = 2.0 * (12.0 / (n as f64).powi(3)).sqrt();
        let got = reference_se(&truth, 0, n);
        assert!((got / expected - 1.0).abs() < 0.01, "{got} vs {expected}");
        // A pure random walk: the drift is known to σ/√(n−1).
        let walk = Truth {
            walk: 9.0,
            ar: Vec::new(),
            white: 0.0,
        };
        let got = reference_se(&walk, 0, n);
        let expected = 3.0 / ((n - 1) as f64).sqrt();
        assert!((got / expected - 1.0).abs() < 0.01, "{got} vs {expected}");
    }

    #[test]
    fn series_are_seeded_and_page_rounded() {
        let a = generate(
            Family::Mixture,
            5e6,
            3600,
            360.0,
            &mut StdRng::seed_from_u64(1),
        );
        let b = generate(
            Family::Mixture,
            5e6,
            3600,
            360.0,
            &mut StdRng::seed_from_u64(1),
        );
        assert_eq!(a.values, b.values);
        assert!(a.values.iter().all(|v| v % PAGE == 0.0));
        assert!(a.reference_se > 0.0 && a.reference_se.is_finite());
    }
}
