//! Robust trend estimation with an interval that survives autocorrelation.
//!
//! The slope is the Theil–Sen estimator (Theil 1950; Sen 1968): the median of
//! the slopes of all pairs of points. It ignores up to ~29% of wild points,
//! so a single GC spike or allocator jump does not move it.
//!
//! The 95% interval is Sen's distribution-free interval: with `N` pairwise
//! slopes sorted, the bounds are the slopes at ranks `(N ∓ C)/2`, where
//! `C = z·sqrt(Var(S))` and `Var(S) = n(n-1)(2n+5)/18` is the variance of
//! Kendall's S under independence (Gilbert 1987, §16.5).
//!
//! Memory samples are *not* independent: a process's footprint wanders
//! slowly, so neighbouring points are correlated and the plain interval is
//! far too narrow. We therefore inflate `Var(S)` with the correction of
//! Hamed & Rao (1998, "A modified Mann-Kendall trend test for autocorrelated
//! data", J. Hydrology 204): `Var*(S) = Var(S) · n/n*`, with
//!
//! ```text
//! n/n* = 1 + 2/(n(n-1)(n-2)) · Σ_{k=1}^{n-1} (n-k)(n-k-1)(n-k-2) · ρ_k
//! ```
//!
//! where `ρ_k` is the lag-k autocorrelation of the ranks of the detrended
//! series. Hamed & Rao keep only the significant lags; with the few dozen
//! block points memsoak judges, the lag estimates are biased towards zero,
//! so we keep every lag up to the first non-positive one (the initial
//! positive sequence, as Geyer 1992 does for MCMC effective sample sizes)
//! and apply Marriott–Pope's small-sample bias correction to ρ_1 before
//! extrapolating it with an AR(1) shape when that gives more. The factor is
//! never allowed below 1: correction only widens. Because the corrected
//! series has only `n/(n/n*)` effective points, the normal quantile is
//! replaced by Student's t with that many points less two degrees of freedom.
//!
//! The series fed here are block summaries (see `blocks.rs`), so `n` stays
//! below ~100 and the O(n²) pairwise slopes cost microseconds.

/// A fitted trend with its 95% interval, in units of y per unit of x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Theil–Sen slope.
    pub slope: f64,
    /// Lower bound of the 95% interval.
    pub lo: f64,
    /// Upper bound of the 95% interval.
    pub hi: f64,
    /// Intercept (median of `y - slope·x`), for drawing the line.
    pub intercept: f64,
    /// Number of points the fit used.
    pub points: usize,
    /// Variance inflation `n/n*` applied for autocorrelation (≥ 1).
    pub variance_inflation: f64,
}

/// Standard normal quantile for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Fits a trend to `(x, y)` points with a 95% interval. Returns `None` with
/// fewer than 3 points or when all x are equal.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<Trend> {
    theil_sen_at(points, Z95)
}

/// [`theil_sen`] with the interval's normal quantile `z` (1.96 for a
/// two-sided 95% interval; larger for the stricter bounds of repeated looks).
pub fn theil_sen_at(points: &[(f64, f64)], z: f64) -> Option<Trend> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = points[j].0 - points[i].0;
            if dx != 0.0 {
                slopes.push((points[j].1 - points[i].1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let slope = median_sorted(&slopes);

    let mut residuals: Vec<f64> = points.iter().map(|&(x, y)| y - slope * x).collect();
    let inflation = variance_inflation(&residuals);
    residuals.sort_by(f64::total_cmp);
    let intercept = median_sorted(&residuals);

    let nf = n as f64;
    let var_s = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0 * inflation;
    // Few effective points make the normal quantile optimistic: use
    // Student's t with the effective sample size's degrees of freedom.
    let effective = (nf / inflation).max(3.0);
    let c = t_quantile(z, effective - 2.0) * var_s.sqrt();
    let count = slopes.len() as f64;
    // Ranks are 1-based in Gilbert's formulation: lower = (N - C)/2,
    // upper = (N + C)/2 + 1. Interpolate between neighbours and clamp.
    let lo = interpolate(&slopes, (count - c) / 2.0 - 1.0);
    let hi = interpolate(&slopes, (count + c) / 2.0);
    Some(Trend {
        slope,
        lo,
        hi,
        intercept,
        points: n,
        variance_inflation: inflation,
    })
}

/// The quantile of Student's t with `df` degrees of freedom at the
/// probability of the normal quantile `z`, by the Cornish–Fisher expansion
/// (Abramowitz & Stegun 26.7.5); within 3% of the exact value for df ≥ 2
/// at 95%. Hand-written because two quantiles do not justify a statistics
/// crate.
fn t_quantile(z: f64, df: f64) -> f64 {
    let df = df.max(1.0);
    let z3 = z.powi(3);
    let z5 = z.powi(5);
    let z7 = z.powi(7);
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df.powi(2))
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3))
        + (79.0 * z.powi(9) + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z)
            / (92160.0 * df.powi(4))
}

/// The standard normal quantile, by Acklam's rational approximation
/// (relative error below 1.2e-9), for the bounds of repeated looks. The
/// coefficients are Acklam's, digit for digit.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Linear interpolation into a sorted slice at a 0-based fractional index,
/// clamped to the ends (an interval wider than the data is the data's range).
fn interpolate(sorted: &[f64], index: f64) -> f64 {
    let last = sorted.len() - 1;
    if index <= 0.0 {
        return sorted[0];
    }
    if index >= last as f64 {
        return sorted[last];
    }
    let i = index.floor() as usize;
    let frac = index - i as f64;
    sorted[i] + (sorted[i + 1] - sorted[i]) * frac
}

/// Hamed–Rao variance inflation `n/n*` from the detrended residuals.
fn variance_inflation(residuals: &[f64]) -> f64 {
    let n = residuals.len();
    if n < 4 {
        return 1.0;
    }
    let ranks = ranks(residuals);
    let nf = n as f64;
    let mean = (nf + 1.0) / 2.0;
    let denom: f64 = ranks.iter().map(|r| (r - mean).powi(2)).sum();
    if denom == 0.0 {
        return 1.0;
    }
    let acf = |k: usize| -> f64 {
        let num: f64 = (0..n - k)
            .map(|i| (ranks[i] - mean) * (ranks[i + k] - mean))
            .sum();
        num / denom
    };
    let weight = |k: usize| -> f64 {
        let kf = k as f64;
        (nf - kf) * (nf - kf - 1.0) * (nf - kf - 2.0)
    };
    let scale = 2.0 / (nf * (nf - 1.0) * (nf - 2.0));

    // Initial positive sequence of the empirical autocorrelations.
    let mut empirical = 0.0;
    for k in 1..n - 2 {
        let rho = acf(k);
        if rho <= 0.0 {
            break;
        }
        empirical += weight(k) * rho;
    }

    // AR(1) extrapolation from a bias-corrected lag-1 estimate
    // (Marriott & Pope 1954: E[r1] ≈ ρ - (1 + 3ρ)/n).
    let r1 = acf(1);
    let rho1 = ((r1 * nf + 1.0) / (nf - 3.0)).clamp(0.0, 0.98);
    let mut ar1 = 0.0;
    let mut rho_k = rho1;
    for k in 1..n - 2 {
        if rho_k < 1e-6 {
            break;
        }
        ar1 += weight(k) * rho_k;
        rho_k *= rho1;
    }

    (1.0 + scale * empirical.max(ar1)).clamp(1.0, MAX_INFLATION)
}

/// Largest variance inflation: the fit never counts fewer than a tenth of
/// its points as independent. Memory is quantised in pages, so a slow,
/// steady trend reads as a staircase whose residuals look almost perfectly
/// autocorrelated; uncapped, the correction then declares a 92-point series
/// worth one point and the interval spans every pairwise slope (one page
/// per sample). The seeded simulations (slow wander, allocator steps) need
/// factors below this cap, and keep their 95% coverage with it.
const MAX_INFLATION: f64 = 10.0;

/// Ranks (1-based, ties averaged) of the values.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &idx in &order[i..=j] {
            ranks[idx] = rank;
        }
        i = j + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_has_its_slope_and_a_tight_interval() {
        let pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 3.0 * i as f64 + 7.0)).collect();
        let t = theil_sen(&pts).unwrap();
        assert_eq!(t.slope, 3.0);
        assert_eq!(t.intercept, 7.0);
        assert!(t.lo <= 3.0 && t.hi >= 3.0);
    }

    #[test]
    fn outliers_do_not_move_the_slope() {
        let mut pts: Vec<(f64, f64)> = (0..40).map(|i| (i as f64, 2.0 * i as f64)).collect();
        pts[10].1 += 1e6;
        pts[25].1 -= 1e6;
        let t = theil_sen(&pts).unwrap();
        assert!((t.slope - 2.0).abs() < 1e-9, "slope {}", t.slope);
    }

    #[test]
    fn too_few_points_give_no_trend() {
        assert!(theil_sen(&[(0.0, 1.0), (1.0, 2.0)]).is_none());
        assert!(theil_sen(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]).is_none());
    }

    #[test]
    fn t_quantiles_match_tables() {
        // Exact values: t(0.975; 2) = 4.303, 5 → 2.571, 10 → 2.228, 30 → 2.042.
        for (df, exact) in [(2.0, 4.303), (5.0, 2.571), (10.0, 2.228), (30.0, 2.042)] {
            let got = t_quantile(Z95, df);
            assert!(
                (got / exact - 1.0).abs() < 0.03,
                "df {df}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn a_page_quantised_slow_trend_gets_a_useful_interval() {
        // 0.9 MB/h for 92 s at 1 Hz, rounded down to 4 KiB pages.
        let slope = 0.9e6 / 3600.0;
        let pts: Vec<(f64, f64)> = (0..92)
            .map(|t| {
                let y = 3.08e6 + slope * t as f64;
                (t as f64, (y / 4096.0).floor() * 4096.0)
            })
            .collect();
        let t = theil_sen(&pts).unwrap();
        assert!(t.lo <= slope && slope <= t.hi, "{t:?}");
        // Not the maximum pairwise slope (one page per second, 14.7 MB/h).
        assert!(
            t.hi * 3600.0 < 5e6,
            "upper bound {} MB/h",
            t.hi * 3600.0 / 1e6
        );
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - Z95).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.0005) + 3.290_526_731).abs() < 1e-6);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 5.0]), vec![2.5, 4.0, 2.5, 1.0]);
    }
}
