//! The growth of a block series and an interval that stays honest whether
//! the footprint's noise wanders back or walks away.
//!
//! Memory noise comes in two kinds that need opposite treatment. A garbage
//! collector's sawtooth, a cache's churn or a slow wander around a level are
//! *stationary*: the footprint comes back, and every hour of data sharpens
//! the slope like `T^{-3/2}`. An allocator that takes arenas and does not
//! return them is a *random walk*: each step is permanent, and the slope
//! sharpens only like `T^{-1/2}`. An interval built for the first is far too
//! narrow under the second (it covered a random walk's true slope in two
//! runs of three in memsoak's simulations); one built for the second wastes
//! most of the data of the first.
//!
//! So the fit first asks the data which kind it is, with the DF-GLS unit-root
//! test of Elliott, Rothenberg & Stock (1996, "Efficient tests for an
//! autoregressive unit root", Econometrica 64), the most powerful simple
//! test against a trend-stationary alternative: the block series is
//! detrended by GLS at the local alternative `1 − 13.5/m`, and the
//! Dickey–Fuller regression (one lagged difference) gives a t statistic
//! compared with ERS's 1% critical value for a linear trend. Only a clear
//! rejection of the random walk selects the stationary model: wrongly
//! treating a walk as stationary is the costly mistake (an interval that
//! misses), wrongly treating a slow wander as a walk only widens the
//! interval. Within one unit of the critical value the two models' slopes
//! and standard errors are blended linearly, so the interval does not jump
//! when a series sits near the boundary (the same series sampled every 1 s
//! or every 30 s gives the same verdict). Under each model the slope is the
//! generalised least-squares estimate with its exact standard error:
//!
//! - **stationary**: block noise = AR(1) + white noise (block minima of a
//!   slow wander carry an independent "where in the block was the minimum"
//!   part);
//! - **random walk**: block noise = a walk whose steps are AR(1) (the minima
//!   of neighbouring blocks of a walk share part of a step, so the steps are
//!   positively correlated) + white noise.
//!
//! The noise parameters (the autocorrelation and the white share) are
//! chosen on a fixed grid by restricted maximum likelihood (REML, Patterson
//! & Thompson 1971), which unlike plain maximum likelihood accounts for the
//! fitted trend and so does not mistake persistence for trend; the variance
//! scale is profiled out. The likelihoods and GLS estimates come from a
//! Kalman filter run over the regressors as well as the data (the
//! "augmented" filter of de Jong 1991), O(m) per grid point. The interval
//! is Student's t with `m − 2` degrees of freedom around the GLS slope.
//!
//! The series fed here are block summaries (`blocks.rs`), so `m` stays
//! below ~200: a fit costs well under a millisecond.

/// A fitted trend with its 95% interval, in units of y per unit of x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// GLS slope.
    pub slope: f64,
    /// Lower bound of the 95% interval.
    pub lo: f64,
    /// Upper bound of the 95% interval.
    pub hi: f64,
    /// Intercept (median of `y - slope·x`), for drawing the line.
    pub intercept: f64,
    /// Number of points the fit used.
    pub points: usize,
    /// The slope's variance relative to what independent noise of the same
    /// size would give (≥ 0; above 1 when the noise is persistent).
    pub variance_inflation: f64,
    /// Which noise model the data selected.
    pub noise: NoiseModel,
    /// Standard error of the slope.
    pub se: f64,
    /// Degrees of freedom of the interval.
    pub df: f64,
}

impl Trend {
    /// The one-sided lower bound at normal quantile `z` (1.645 for 95%;
    /// larger for the stricter looks of fail-fast), through Student's t
    /// with the fit's degrees of freedom.
    pub fn lower(&self, z: f64) -> f64 {
        self.slope - t_quantile(z, self.df) * self.se
    }
}

/// The noise model a fit selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseModel {
    /// Comes back to a level: AR(1) plus white noise.
    Stationary,
    /// Each step stays: a random walk plus white noise.
    RandomWalk,
}

impl std::fmt::Display for NoiseModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoiseModel::Stationary => "stationary",
            NoiseModel::RandomWalk => "random walk",
        })
    }
}

/// Standard normal quantile for a two-sided 95% interval.
pub(crate) const Z95: f64 = 1.959_963_984_540_054;

/// Autocorrelations of the stationary model's grid: even steps up to 0.9,
/// then denser towards 1, where the slope's variance changes fastest.
pub(crate) const STATIONARY_PHI: [f64; 24] = [
    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.93, 0.946, 0.958, 0.967, 0.974, 0.98,
    0.984, 0.9875, 0.99, 0.992, 0.994, 0.9955, 0.9965, 0.997,
];

/// Autocorrelations of a random walk's steps.
pub(crate) const STEP_PSI: [f64; 11] = [-0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

/// White-noise variance relative to the persistent part's innovations.
pub(crate) const WHITE_SHARE: [f64; 9] = [0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0];

/// Fits a trend to `(x, y)` points with a 95% interval. Returns `None` with
/// fewer than 3 points or when all x are equal.
pub fn fit(points: &[(f64, f64)]) -> Option<Trend> {
    let m = points.len();
    if m < 3 {
        return None;
    }
    let Scaled { x, y, xs, ys } = Scaled::of(points)?;
    let (x, y) = (&x[..], &y[..]);
    let stationary_weight = stationary_weight(x, y);
    let stationary = (stationary_weight > 0.0)
        .then(|| {
            best_on_grid(&STATIONARY_PHI, |phi, white| {
                stationary_gls(x, y, phi, white)
            })
        })
        .flatten();
    let walk = (stationary_weight < 1.0)
        .then(|| best_on_grid(&STEP_PSI, |psi, white| walk_gls(x, y, psi, white)))
        .flatten();
    let df = (m as f64 - 2.0).max(1.0);
    let q = t_quantile(Z95, df);
    // The interval is the weighted blend of the two models' intervals.
    let (best, w) = match (stationary, walk) {
        (Some(s), Some(r)) => (
            Gls {
                reml: 0.0,
                slope: stationary_weight * s.slope + (1.0 - stationary_weight) * r.slope,
                se: stationary_weight * s.se + (1.0 - stationary_weight) * r.se,
            },
            stationary_weight,
        ),
        (Some(s), None) => (s, 1.0),
        (None, Some(r)) => (r, 0.0),
        (None, None) => return None,
    };
    let noise = if w >= 0.5 {
        NoiseModel::Stationary
    } else {
        NoiseModel::RandomWalk
    };
    let slope = best.slope * ys / xs;
    let se = best.se * ys / xs;
    let half = q * se;
    let ols = ols_se(x, y).map(|s| s * ys / xs);

    let mut residuals: Vec<f64> = points.iter().map(|&(px, py)| py - slope * px).collect();
    residuals.sort_by(f64::total_cmp);
    Some(Trend {
        slope,
        lo: slope - half,
        hi: slope + half,
        intercept: median_sorted(&residuals),
        points: m,
        variance_inflation: match ols {
            Some(o) if o > 0.0 => (se / o).powi(2),
            _ => 1.0,
        },
        noise,
        se,
        df,
    })
}

/// Points with both axes centred and scaled: the filter's sums stay well
/// conditioned whatever the units (bytes over seconds, counts over hours).
pub(crate) struct Scaled {
    /// Times, scaled.
    pub x: Vec<f64>,
    /// Values, scaled.
    pub y: Vec<f64>,
    /// The time scale (a slope in scaled units times `ys / xs` is one in
    /// the points' units).
    pub xs: f64,
    /// The value scale.
    pub ys: f64,
}

impl Scaled {
    /// `None` when every time is the same.
    pub(crate) fn of(points: &[(f64, f64)]) -> Option<Scaled> {
        let (x0, xs) = centre_scale(points.iter().map(|p| p.0));
        let (y0, ys) = centre_scale(points.iter().map(|p| p.1));
        if xs == 0.0 {
            return None;
        }
        Some(Scaled {
            x: points.iter().map(|p| (p.0 - x0) / xs).collect(),
            y: points
                .iter()
                .map(|p| (p.1 - y0) / ys.max(f64::MIN_POSITIVE))
                .collect(),
            xs,
            ys,
        })
    }
}

/// How clearly the data reject a random walk, as the stationary model's
/// weight: 0 below 8 points or at the 1% critical value plus one, 1 at it
/// minus one, smooth in between, so a series near the boundary (or the
/// same series sampled a little differently) does not jump from one
/// interval to the other.
pub(crate) fn stationary_weight(x: &[f64], y: &[f64]) -> f64 {
    let m = y.len();
    if m < 8 {
        return 0.0;
    }
    dfgls_statistic(x, y).map_or(0.0, |stat| {
        let margin = dfgls_critical_1pct(m) - stat;
        ((margin + 1.0) / 2.0).clamp(0.0, 1.0)
    })
}

/// Mean and half-range of a set of values (the scale is 1 for a constant).
pub(crate) fn centre_scale(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum, mut n) = (0.0, 0.0);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v;
        n += 1.0;
    }
    let scale = (hi - lo) / 2.0;
    (sum / n, if scale > 0.0 { scale } else { 0.0 })
}

/// One grid point's GLS result on the scaled data.
#[derive(Debug, Clone, Copy)]
struct Gls {
    /// Restricted log-likelihood, variance scale profiled out.
    reml: f64,
    slope: f64,
    se: f64,
}

/// The fit with the highest restricted likelihood over every pair of an
/// autocorrelation in `shapes` and a white share in [`WHITE_SHARE`].
fn best_on_grid(shapes: &[f64], fit: impl Fn(f64, f64) -> Option<Gls>) -> Option<Gls> {
    shapes
        .iter()
        .flat_map(|&shape| WHITE_SHARE.iter().map(move |&white| (shape, white)))
        .filter_map(|(shape, white)| fit(shape, white))
        .filter(|g| g.reml.is_finite() && g.slope.is_finite() && g.se.is_finite())
        .max_by(|a, b| a.reml.total_cmp(&b.reml))
}

/// Sums of products of the filter's standardised innovations of the data
/// and of each regressor: `S[i][j] = Σ v_i v_j / F`.
struct Innovations<const K: usize> {
    s: [[f64; K]; K],
    log_f: f64,
    used: usize,
}

impl<const K: usize> Innovations<K> {
    fn new() -> Self {
        Innovations {
            s: [[0.0; K]; K],
            log_f: 0.0,
            used: 0,
        }
    }

    fn add(&mut self, v: &[f64; K], f: f64) {
        for i in 0..K {
            for j in i..K {
                self.s[i][j] += v[i] * v[j] / f;
            }
        }
        self.log_f += f.ln();
        self.used += 1;
    }
}

/// A tiny residual sum keeps an exact line from an infinite likelihood.
pub(crate) const RSS_FLOOR: f64 = 1e-18;

/// GLS under AR(1) (`phi`) + white noise (`white` × the AR innovations'
/// variance), regressors intercept and slope. Scalar-state Kalman filter.
fn stationary_gls(x: &[f64], y: &[f64], phi: f64, white: f64) -> Option<Gls> {
    // Columns: data, intercept, x.
    let mut a = [0.0f64; 3];
    let mut p = 1.0 / (1.0 - phi * phi);
    let mut acc = Innovations::<3>::new();
    for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
        if i > 0 {
            for v in &mut a {
                *v *= phi;
            }
            p = phi * phi * p + 1.0;
        }
        let f = p + white;
        if f <= 0.0 {
            return None;
        }
        let obs = [yi, 1.0, xi];
        let v = [obs[0] - a[0], obs[1] - a[1], obs[2] - a[2]];
        acc.add(&v, f);
        let k = p / f;
        for c in 0..3 {
            a[c] += k * v[c];
        }
        p *= 1.0 - k;
    }
    let s = &acc.s;
    // Solve the 2×2 normal equations for (intercept, slope).
    let (b1, b2) = (s[0][1], s[0][2]);
    let n = Normal2::new(s[1][1], s[1][2], s[2][2])?;
    let (intercept, slope) = n.solve(b1, b2);
    let rss = (s[0][0] - intercept * b1 - slope * b2).max(RSS_FLOOR);
    let df = acc.used as f64 - 2.0;
    if df < 1.0 {
        return None;
    }
    Some(Gls {
        reml: -0.5 * acc.log_f - 0.5 * n.det.ln() - 0.5 * df * rss.ln(),
        slope,
        se: (rss / df * n.inverse_22()).sqrt(),
    })
}

/// GLS under a random walk whose steps are AR(1) (`psi`) + white noise
/// (`white` × the steps' innovation variance), regressor the slope; the
/// walk's unknown start absorbs the intercept (a diffuse first state, so
/// the first point only sets the level). Two-state Kalman filter:
/// `level_t = level_{t−1} + step_t`, `step_t = psi·step_{t−1} + e_t`.
fn walk_gls(x: &[f64], y: &[f64], psi: f64, white: f64) -> Option<Gls> {
    // The diffuse level's prior variance, far beyond the scaled data's range.
    const DIFFUSE: f64 = 1e8;
    // State means per column (data, x): [level, step].
    let mut a = [[0.0f64; 2]; 2];
    let mut p = [[DIFFUSE, 0.0], [0.0, 1.0 / (1.0 - psi * psi)]];
    let mut acc = Innovations::<2>::new();
    for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
        if i > 0 {
            // Predict: T = [[1, psi], [0, psi]], noise enters both states.
            for col in &mut a {
                let (l, s) = (col[0], col[1]);
                *col = [l + psi * s, psi * s];
            }
            p = walk_predict(&p, psi);
        }
        let f = p[0][0] + white;
        if f <= 0.0 {
            return None;
        }
        let v = [yi - a[0][0], xi - a[1][0]];
        // The first innovation carries the diffuse level: it is left out.
        if i > 0 {
            acc.add(&v, f);
        }
        let k = [p[0][0] / f, p[1][0] / f];
        for (col, vc) in a.iter_mut().zip(v) {
            col[0] += k[0] * vc;
            col[1] += k[1] * vc;
        }
        let row = p[0];
        for r in 0..2 {
            for c in 0..2 {
                p[r][c] -= k[r] * row[c];
            }
        }
    }
    let s = &acc.s;
    if s[1][1] <= 0.0 {
        return None;
    }
    let slope = s[0][1] / s[1][1];
    let rss = (s[0][0] - slope * s[0][1]).max(RSS_FLOOR);
    let df = acc.used as f64 - 1.0;
    if df < 1.0 {
        return None;
    }
    Some(Gls {
        reml: -0.5 * acc.log_f - 0.5 * s[1][1].ln() - 0.5 * df * rss.ln(),
        slope,
        se: (rss / df / s[1][1]).sqrt(),
    })
}

/// The walk filter's predicted state covariance: `T P Tᵀ + Q` with
/// `T = [[1, psi], [0, psi]]` and the step's innovation entering both the
/// level and the step.
pub(crate) fn walk_predict(p: &[[f64; 2]; 2], psi: f64) -> [[f64; 2]; 2] {
    let tp = [
        [p[0][0] + psi * p[1][0], p[0][1] + psi * p[1][1]],
        [psi * p[1][0], psi * p[1][1]],
    ];
    [
        [tp[0][0] + psi * tp[0][1] + 1.0, psi * tp[0][1] + 1.0],
        [tp[1][0] + psi * tp[1][1] + 1.0, psi * tp[1][1] + 1.0],
    ]
}

/// The normal equations of a two-regressor least-squares fit,
/// `[[a11, a12], [a12, a22]]`, solved in closed form.
struct Normal2 {
    a11: f64,
    a12: f64,
    a22: f64,
    det: f64,
}

impl Normal2 {
    /// `None` when the regressors are collinear.
    fn new(a11: f64, a12: f64, a22: f64) -> Option<Normal2> {
        let det = a11 * a22 - a12 * a12;
        (det > 0.0).then_some(Normal2 { a11, a12, a22, det })
    }

    /// The coefficients for right-hand side `(r1, r2)`.
    fn solve(&self, r1: f64, r2: f64) -> (f64, f64) {
        (
            (self.a22 * r1 - self.a12 * r2) / self.det,
            (self.a11 * r2 - self.a12 * r1) / self.det,
        )
    }

    /// The first diagonal element of the inverse.
    fn inverse_11(&self) -> f64 {
        self.a22 / self.det
    }

    /// The second diagonal element of the inverse.
    fn inverse_22(&self) -> f64 {
        self.a11 / self.det
    }
}

/// The ordinary least-squares slope's standard error under independent
/// noise, the yardstick of `variance_inflation`.
fn ols_se(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    if sxx <= 0.0 || n < 3.0 {
        return None;
    }
    let b = sxy / sxx;
    let rss: f64 = x
        .iter()
        .zip(y)
        .map(|(a, c)| (c - my - b * (a - mx)).powi(2))
        .sum();
    Some((rss / (n - 2.0) / sxx).sqrt())
}

/// The DF-GLS statistic (Elliott, Rothenberg & Stock 1996) with a linear
/// trend and one lagged difference: the more negative, the more clearly
/// the series comes back to its trend rather than walking away.
pub(crate) fn dfgls_statistic(x: &[f64], y: &[f64]) -> Option<f64> {
    let m = y.len();
    let rho = 1.0 - 13.5 / m as f64;
    // GLS detrending: quasi-differenced data on quasi-differenced [1, x].
    let quasi = |v: &[f64], i: usize| if i == 0 { v[0] } else { v[i] - rho * v[i - 1] };
    let ones = vec![1.0; m];
    let (mut s11, mut s12, mut s22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..m {
        let (z1, z2, w) = (quasi(&ones, i), quasi(x, i), quasi(y, i));
        s11 += z1 * z1;
        s12 += z1 * z2;
        s22 += z2 * z2;
        b1 += z1 * w;
        b2 += z2 * w;
    }
    let (c0, c1) = Normal2::new(s11, s12, s22)?.solve(b1, b2);
    let u: Vec<f64> = (0..m).map(|i| y[i] - c0 - c1 * x[i]).collect();

    // Δu_i = b·u_{i−1} + c·Δu_{i−1} + e, no constant, for i = 2..m.
    let (mut a11, mut a12, mut a22, mut r1, mut r2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let rows = m - 2;
    for i in 2..m {
        let (lag, dlag, d) = (u[i - 1], u[i - 1] - u[i - 2], u[i] - u[i - 1]);
        a11 += lag * lag;
        a12 += lag * dlag;
        a22 += dlag * dlag;
        r1 += lag * d;
        r2 += dlag * d;
    }
    if rows < 4 {
        return None;
    }
    let normal = Normal2::new(a11, a12, a22)?;
    let (b, c) = normal.solve(r1, r2);
    let rss: f64 = (2..m)
        .map(|i| {
            let (lag, dlag, d) = (u[i - 1], u[i - 1] - u[i - 2], u[i] - u[i - 1]);
            (d - b * lag - c * dlag).powi(2)
        })
        .sum();
    let s2 = rss / (rows - 2) as f64;
    let se = (s2 * normal.inverse_11()).sqrt();
    (se > 0.0).then(|| b / se)
}

/// ERS (1996) Table I, linear trend, 1% critical values by sample size,
/// interpolated (the smallest tabulated size for fewer points).
pub(crate) fn dfgls_critical_1pct(m: usize) -> f64 {
    const TABLE: [(f64, f64); 4] = [(50.0, -3.77), (100.0, -3.58), (200.0, -3.46), (1e9, -3.48)];
    let m = m as f64;
    if m <= TABLE[0].0 {
        return TABLE[0].1;
    }
    for w in TABLE.windows(2) {
        let ((n0, c0), (n1, c1)) = (w[0], w[1]);
        if m <= n1 {
            return c0 + (c1 - c0) * (m - n0) / (n1 - n0);
        }
    }
    TABLE[3].1
}

/// The quantile of Student's t with `df` degrees of freedom at the
/// probability of the normal quantile `z`, by the Cornish–Fisher expansion
/// (Abramowitz & Stegun 26.7.5); within 3% of the exact value for df ≥ 2
/// at 95%. Hand-written because two quantiles do not justify a statistics
/// crate.
pub(crate) fn t_quantile(z: f64, df: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn exact_line_has_its_slope_and_a_tight_interval() {
        let pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 3.0 * i as f64 + 7.0)).collect();
        let t = fit(&pts).unwrap();
        assert!((t.slope - 3.0).abs() < 1e-9, "{t:?}");
        assert!((t.intercept - 7.0).abs() < 1e-6, "{t:?}");
        assert!(t.lo <= 3.0 + 1e-9 && t.hi >= 3.0 - 1e-9);
        assert!(t.hi - t.lo < 1e-3, "{t:?}");
    }

    #[test]
    fn too_few_points_give_no_trend() {
        assert!(fit(&[(0.0, 1.0), (1.0, 2.0)]).is_none());
        assert!(fit(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]).is_none());
    }

    #[test]
    fn white_noise_is_stationary_and_a_walk_is_not() {
        let mut rng = StdRng::seed_from_u64(5);
        let e = Normal::new(0.0, 1.0).unwrap();
        let white: Vec<(f64, f64)> = (0..60).map(|i| (i as f64, e.sample(&mut rng))).collect();
        assert_eq!(fit(&white).unwrap().noise, NoiseModel::Stationary);
        let mut level = 0.0;
        let walk: Vec<(f64, f64)> = (0..60)
            .map(|i| {
                level += e.sample(&mut rng);
                (i as f64, level)
            })
            .collect();
        let t = fit(&walk).unwrap();
        assert_eq!(t.noise, NoiseModel::RandomWalk);
        // A walk's slope is known to about σ/√T: the interval says so.
        assert!(t.hi - t.lo > 0.3, "{t:?}");
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
        let t = fit(&pts).unwrap();
        assert!(t.lo <= slope && slope <= t.hi, "{t:?}");
        // Not the maximum pairwise slope (one page per second, 14.7 MB/h).
        assert!(
            t.hi * 3600.0 < 5e6,
            "upper bound {} MB/h",
            t.hi * 3600.0 / 1e6
        );
    }

    #[test]
    fn critical_values_interpolate_the_table() {
        assert_eq!(dfgls_critical_1pct(20), -3.77);
        assert_eq!(dfgls_critical_1pct(100), -3.58);
        assert!((dfgls_critical_1pct(150) + 3.52).abs() < 1e-9);
        assert!((dfgls_critical_1pct(100_000) + 3.46).abs() < 0.01);
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
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - Z95).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.0005) + 3.290_526_731).abs() < 1e-6);
    }
}
