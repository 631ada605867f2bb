//! Reading `samples.csv` and `workload.csv` for charts, decimated to one
//! min/max pair per pixel column: an 8-hour run at 1 Hz (28,800 rows) or a
//! week of samples costs the same few thousand numbers, and no spike is
//! lost because each column keeps its extremes.

use std::path::Path;

use anyhow::Context;

use crate::recording::samples::Recording;

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
    pub samples: Vec<(&'static str, Decimated)>,
    /// `workload.csv`, one entry per workload.
    pub workloads: Vec<WorkloadSeries>,
    /// A browser page's counts from `breakdown.csv` ([`PAGE_COUNTS`]),
    /// those with values.
    pub page: Vec<(&'static str, Decimated)>,
}

/// The counts of a browser page that the charts draw.
pub const PAGE_COUNTS: [&str; 3] = ["dom_nodes", "js_event_listeners", "documents"];

/// One workload's rows of `workload.csv`, decimated.
pub struct WorkloadSeries {
    /// Workload name.
    pub name: String,
    /// Messages or requests sent per second.
    pub throughput: Decimated,
    /// Errors per second.
    pub errors: Decimated,
    /// Latency p99 per interval, milliseconds.
    pub p99_ms: Decimated,
}

impl RunSeries {
    /// The named `samples.csv` column, if present and not empty.
    pub fn sample(&self, name: &str) -> Option<&Decimated> {
        self.samples
            .iter()
            .find(|(n, d)| *n == name && !d.is_empty())
            .map(|(_, d)| d)
    }

    /// A browser page's count, if recorded.
    pub fn page_count(&self, name: &str) -> Option<&Decimated> {
        self.page
            .iter()
            .find(|(n, d)| *n == name && !d.is_empty())
            .map(|(_, d)| d)
    }
}

/// Reads `samples` (and the run folder's `workload.csv` and
/// `breakdown.csv`, when they exist) into `columns` buckets per series.
pub fn read(
    samples: &Recording,
    folder: Option<&Path>,
    columns: usize,
) -> anyhow::Result<RunSeries> {
    let workload_csv = folder.map(|f| f.join("workload.csv"));
    let workload_csv = workload_csv.as_deref();
    let span_s = samples.last_elapsed_s.max(0.0);
    let mut decimated: Vec<(&'static str, Decimated)> = crate::recording::samples::CHARTED
        .iter()
        .filter(|name| samples.has_column(name))
        .map(|name| (*name, Decimated::new(span_s, columns)))
        .collect();
    let names: Vec<&str> = decimated.iter().map(|(n, _)| *n).collect();
    samples.each_value(&names, |k, t, y| decimated[k].1.push(t, y))?;
    let workloads = match workload_csv.filter(|p| p.exists()) {
        Some(path) => read_workloads(path, span_s, columns)?,
        None => Vec::new(),
    };
    let mut page: Vec<(&'static str, Decimated)> = PAGE_COUNTS
        .iter()
        .map(|n| (*n, Decimated::new(span_s, columns)))
        .collect();
    if let Some(b) = folder
        .map(|f| f.join("breakdown.csv"))
        .filter(|p| p.is_file())
    {
        crate::recording::breakdown::read_breakdown(&b, |t, name, v| {
            if let Some((_, d)) = page.iter_mut().find(|(n, _)| *n == name) {
                d.push(t, v);
            }
        })?;
    }
    page.retain(|(_, d)| !d.is_empty());
    Ok(RunSeries {
        span_s,
        samples: decimated,
        workloads,
        page,
    })
}

/// Most workloads drawn: each costs three decimated series, and a crafted
/// `workload.csv` with thousands of names must not cost hundreds of MB.
pub(crate) const MAX_WORKLOADS: usize = 16;

/// `workload.csv`: rows are per interval; the interval is the gap between a
/// workload's consecutive rows. Workloads after the first
/// [`MAX_WORKLOADS`] are left out of the charts.
fn read_workloads(path: &Path, span_s: f64, columns: usize) -> anyhow::Result<Vec<WorkloadSeries>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("could not read '{}'", path.display()))?;
    let h = rdr.headers()?.clone();
    let col = |name: &str| h.iter().position(|x| x == name);
    let (Some(t), Some(name), Some(sent), Some(err), Some(p99)) = (
        col("elapsed_s"),
        col("workload"),
        col("sent"),
        col("errors"),
        col("p99_ms"),
    ) else {
        return Ok(Vec::new());
    };
    // Each row waits until the next one: a workload's last row is drawn
    // only if it covers a whole interval, give or take the timer's jitter
    // (the row written when the run stops covers what was left after the
    // load ended, a fraction of an interval, and would plot as a drop to
    // nothing).
    let mut workloads: Vec<(WorkloadSeries, f64, Option<Pending>)> = Vec::new();
    for rec in rdr.records().flatten() {
        let num = |i: usize| rec.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(tt), Some(w)) = (num(t), rec.get(name)) else {
            continue;
        };
        let idx = match workloads.iter().position(|x| x.0.name == w) {
            Some(i) => i,
            None if workloads.len() >= MAX_WORKLOADS => continue,
            None => {
                let d = || Decimated::new(span_s, columns);
                let series = WorkloadSeries {
                    name: w.to_string(),
                    throughput: d(),
                    errors: d(),
                    p99_ms: d(),
                };
                workloads.push((series, 0.0, None));
                workloads.len() - 1
            }
        };
        let (series, last_t, pending) = &mut workloads[idx];
        let dt = (tt - std::mem::replace(last_t, tt)).max(1e-3);
        let mut prev_dt = 0.0;
        if let Some(p) = pending.take() {
            p.draw(series);
            prev_dt = p.dt;
        }
        *pending = Some(Pending {
            t: tt,
            dt,
            prev_dt,
            sent: num(sent),
            errors: num(err),
            p99_ms: num(p99),
        });
    }
    Ok(workloads
        .into_iter()
        .map(|(mut w, _, last)| {
            if let Some(p) = last.filter(|p| p.dt >= FULL_INTERVAL * p.prev_dt) {
                p.draw(&mut w);
            }
            w
        })
        .collect())
}

/// The share of the previous interval a last row must cover to be drawn.
const FULL_INTERVAL: f64 = 0.9;

/// A `workload.csv` row not drawn yet.
struct Pending {
    t: f64,
    /// The interval this row covers, and the one before it (0: none).
    dt: f64,
    prev_dt: f64,
    sent: Option<f64>,
    errors: Option<f64>,
    p99_ms: Option<f64>,
}

impl Pending {
    fn draw(&self, series: &mut WorkloadSeries) {
        if let Some(s) = self.sent {
            // Sent, as the terminal and the live view count it.
            series.throughput.push(self.t, s / self.dt);
        }
        if let Some(e) = self.errors {
            series.errors.push(self.t, e / self.dt);
        }
        if let Some(p) = self.p99_ms {
            series.p99_ms.push(self.t, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_of_workload_names_cost_a_bounded_chart() {
        let dir = tempfile::tempdir().unwrap();
        let samples = dir.path().join("samples.csv");
        std::fs::write(&samples, "elapsed_s,rss_bytes\n0,1\n1,2\n").unwrap();
        let workload = dir.path().join("workload.csv");
        let mut text = String::from("elapsed_s,workload,kind,sent,received,errors,p99_ms\n");
        for i in 0..4000 {
            text.push_str(&format!("1,w{i},agent,1,1,0,2.0\n"));
        }
        std::fs::write(&workload, text).unwrap();
        let recording = Recording::scan(&samples).unwrap();
        let series = read(&recording, Some(dir.path()), 1100).unwrap();
        assert_eq!(series.workloads.len(), MAX_WORKLOADS);
    }

    #[test]
    fn a_short_last_interval_is_not_drawn_as_a_drop() {
        let dir = tempfile::tempdir().unwrap();
        let samples = dir.path().join("samples.csv");
        std::fs::write(&samples, "elapsed_s,rss_bytes\n0,1\n10,2\n").unwrap();
        let workload = dir.path().join("workload.csv");
        // 24 a second for 10 s; then 0.5 s more, after the load stopped.
        let mut text = String::from("elapsed_s,workload,kind,sent,received,errors,p99_ms\n");
        for t in 1..=10 {
            text.push_str(&format!("{t},editors,collab,24,48,0,2.0\n"));
        }
        text.push_str("10.5,editors,collab,0,0,0,2.0\n");
        std::fs::write(&workload, &text).unwrap();
        let recording = Recording::scan(&samples).unwrap();
        let series = read(&recording, Some(dir.path()), 100).unwrap();
        let (lo, hi) = series.workloads[0].throughput.range().unwrap();
        assert_eq!((lo, hi), (24.0, 24.0));
        // A last interval as long as the others is drawn, even at zero.
        text.push_str("11.5,editors,collab,0,0,0,2.0\n");
        std::fs::write(&workload, &text).unwrap();
        let series = read(&recording, Some(dir.path()), 100).unwrap();
        assert_eq!(series.workloads[0].throughput.range(), Some((0.0, 24.0)));
    }

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
