//! Reading `samples.csv` and `workload.csv` for charts, decimated to one
//! min/max pair per pixel column: an 8-hour run at 1 Hz (28,800 rows) or a
//! week of samples costs the same few thousand numbers, and no spike is
//! lost because each column keeps its extremes.

use std::path::Path;

use anyhow::Context;

/// One series reduced to `columns` min/max buckets over `[0, span_s]`.
#[derive(Debug, Clone)]
pub struct Decimated {
    span_s: f64,
    buckets: Vec<Option<(f64, f64)>>,
}

impl Decimated {
    /// An empty series of `columns` buckets over `span_s` seconds.
    pub fn new(span_s: f64, columns: usize) -> Decimated {
        Decimated {
            span_s: span_s.max(1e-9),
            buckets: vec![None; columns.max(1)],
        }
    }

    /// Adds a point.
    pub fn push(&mut self, t: f64, y: f64) {
        if !(t.is_finite() && y.is_finite()) {
            return;
        }
        let n = self.buckets.len();
        let i = ((t / self.span_s) * n as f64)
            .floor()
            .clamp(0.0, (n - 1) as f64) as usize;
        let b = &mut self.buckets[i];
        *b = Some(match *b {
            Some((lo, hi)) => (lo.min(y), hi.max(y)),
            None => (y, y),
        });
    }

    /// Points to draw: each bucket's minimum then maximum at its centre, so
    /// a line through them covers every value of the column.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let width = self.span_s / self.buckets.len() as f64;
        let mut out = Vec::with_capacity(self.buckets.len() * 2);
        for (i, b) in self.buckets.iter().enumerate() {
            if let Some((lo, hi)) = b {
                let t = (i as f64 + 0.5) * width;
                out.push((t, *lo));
                if hi > lo {
                    out.push((t, *hi));
                }
            }
        }
        out
    }

    /// Smallest and largest value, if any.
    pub fn range(&self) -> Option<(f64, f64)> {
        self.buckets
            .iter()
            .flatten()
            .fold(None, |acc, &(lo, hi)| match acc {
                None => Some((lo, hi)),
                Some((a, b)) => Some((a.min(lo), b.max(hi))),
            })
    }

    /// Whether any value was pushed.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(Option::is_none)
    }
}

/// The decimated columns of a run folder's CSV files.
pub struct RunSeries {
    /// Last elapsed time, seconds.
    pub span_s: f64,
    /// Columns of `samples.csv` by name.
    pub samples: Vec<(String, Decimated)>,
    /// `workload.csv`: per workload, (name, throughput msgs/s, errors/s, p99 ms).
    pub workloads: Vec<(String, Decimated, Decimated, Decimated)>,
}

impl RunSeries {
    /// The named `samples.csv` column, if present and not empty.
    pub fn sample(&self, name: &str) -> Option<&Decimated> {
        self.samples
            .iter()
            .find(|(n, d)| n == name && !d.is_empty())
            .map(|(_, d)| d)
    }
}

const SAMPLE_COLUMNS: [&str; 6] = [
    "rss_bytes",
    "pss_bytes",
    "anon_bytes",
    "swap_bytes",
    "fds",
    "threads",
];

/// Reads `samples_csv` (and `workload_csv` if it exists) into `columns`
/// buckets per series.
pub fn read(samples_csv: &Path, workload_csv: &Path, columns: usize) -> anyhow::Result<RunSeries> {
    let open = |p: &Path| {
        csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(p)
            .with_context(|| format!("could not read '{}'", p.display()))
    };
    // First pass: the time span.
    let mut rdr = open(samples_csv)?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let t_col = col("elapsed_s").context("samples.csv has no elapsed_s column")?;
    let mut span_s: f64 = 0.0;
    for rec in rdr.records().flatten() {
        if let Some(t) = rec.get(t_col).and_then(|v| v.parse::<f64>().ok()) {
            span_s = span_s.max(t);
        }
    }
    let mut samples: Vec<(String, usize, Decimated)> = SAMPLE_COLUMNS
        .iter()
        .filter_map(|name| {
            col(name).map(|i| (name.to_string(), i, Decimated::new(span_s, columns)))
        })
        .collect();
    let mut rdr = open(samples_csv)?;
    for rec in rdr.records().flatten() {
        let Some(t) = rec.get(t_col).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        for (_, i, d) in &mut samples {
            if let Some(y) = rec.get(*i).and_then(|v| v.parse::<f64>().ok()) {
                d.push(t, y);
            }
        }
    }

    let mut workloads: Vec<(String, Decimated, Decimated, Decimated)> = Vec::new();
    if workload_csv.exists() {
        let mut rdr = open(workload_csv)?;
        let h = rdr.headers()?.clone();
        let wcol = |name: &str| h.iter().position(|x| x == name);
        if let (Some(t), Some(name), Some(sent), Some(recv), Some(err), Some(p99)) = (
            wcol("elapsed_s"),
            wcol("workload"),
            wcol("sent"),
            wcol("received"),
            wcol("errors"),
            wcol("p99_ms"),
        ) {
            // Rows are per interval; the interval is the gap between a
            // workload's consecutive rows.
            let mut last_t: Vec<(String, f64)> = Vec::new();
            for rec in rdr.records().flatten() {
                let num = |i: usize| rec.get(i).and_then(|v| v.parse::<f64>().ok());
                let (Some(tt), Some(w)) = (num(t), rec.get(name)) else {
                    continue;
                };
                let prev = match last_t.iter_mut().find(|(n, _)| n == w) {
                    Some(entry) => std::mem::replace(&mut entry.1, tt),
                    None => {
                        last_t.push((w.to_string(), tt));
                        0.0
                    }
                };
                let dt = (tt - prev).max(1e-3);
                let idx = match workloads.iter().position(|x| x.0 == w) {
                    Some(i) => i,
                    None => {
                        let d = || Decimated::new(span_s, columns);
                        workloads.push((w.to_string(), d(), d(), d()));
                        workloads.len() - 1
                    }
                };
                let entry = &mut workloads[idx];
                if let (Some(s), Some(r)) = (num(sent), num(recv)) {
                    entry.1.push(tt, (s + r) / dt);
                }
                if let Some(e) = num(err) {
                    entry.2.push(tt, e / dt);
                }
                if let Some(p) = num(p99) {
                    entry.3.push(tt, p);
                }
            }
        }
    }
    Ok(RunSeries {
        span_s,
        samples: samples.into_iter().map(|(n, _, d)| (n, d)).collect(),
        workloads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_spikes_and_bounds_size() {
        let mut d = Decimated::new(28_800.0, 100);
        for t in 0..28_800 {
            d.push(t as f64, if t == 12_345 { 1e9 } else { 1.0 });
        }
        let pts = d.points();
        assert!(pts.len() <= 200);
        assert!(pts.iter().any(|p| p.1 == 1e9), "the spike survives");
        assert_eq!(d.range(), Some((1.0, 1e9)));
    }
}
