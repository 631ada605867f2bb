//! `workload.csv` read back: each workload's cumulative sends and
//! connections at given moments, the regressors of the joint fit.
//!
//! The file has one row per workload per interval (what was sent and
//! connected in it, stamped with the interval's end). The counts are
//! summed as the file streams by and interpolated linearly to each asked
//! time, so a week of rows costs a few numbers per workload, not the file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// One workload's cumulative counts at the asked times.
#[derive(Debug, Clone, PartialEq)]
pub struct Cumulative {
    /// Messages or requests sent by each time.
    pub sent: Vec<f64>,
    /// Connections opened by each time.
    pub connects: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct Row {
    elapsed_s: f64,
    workload: String,
    sent: u64,
    connects: u64,
}

/// Per workload: its running sums and where the interpolation stands.
struct Running {
    last_t: f64,
    sent: f64,
    connects: f64,
    next: usize,
    out: Cumulative,
}

/// Each workload's cumulative counts at `times` (seconds, ascending), read
/// from `workload.csv` at `path`. A time past the last row gets the last
/// totals.
pub fn cumulative_at(path: &Path, times: &[f64]) -> anyhow::Result<BTreeMap<String, Cumulative>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("could not read '{}'", path.display()))?;
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        if !row.elapsed_s.is_finite() {
            anyhow::bail!(
                "{}: row {}: elapsed_s is not a number",
                path.display(),
                i + 2
            );
        }
        let r = running.entry(row.workload).or_insert_with(|| Running {
            last_t: 0.0,
            sent: 0.0,
            connects: 0.0,
            next: 0,
            out: Cumulative {
                sent: Vec::with_capacity(times.len()),
                connects: Vec::with_capacity(times.len()),
            },
        });
        let (t0, t1) = (r.last_t, row.elapsed_s.max(r.last_t));
        let (s1, c1) = (r.sent + row.sent as f64, r.connects + row.connects as f64);
        while r.next < times.len() && times[r.next] <= t1 {
            let t = times[r.next];
            let w = if t1 > t0 {
                ((t - t0) / (t1 - t0)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            r.out.sent.push(r.sent + w * (s1 - r.sent));
            r.out.connects.push(r.connects + w * (c1 - r.connects));
            r.next += 1;
        }
        r.last_t = t1;
        r.sent = s1;
        r.connects = c1;
    }
    Ok(running
        .into_iter()
        .map(|(name, mut r)| {
            while r.out.sent.len() < times.len() {
                r.out.sent.push(r.sent);
                r.out.connects.push(r.connects);
            }
            (name, r.out)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_and_interpolated_per_workload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workload.csv");
        std::fs::write(
            &path,
            "elapsed_s,workload,kind,sent,received,errors,late_sends,connects,open_connections,p50_ms,p99_ms\n\
             1.0,a,collab,10,0,0,0,2,2,,\n\
             1.0,b,agent,4,4,0,0,0,0,1.0,2.0\n\
             2.0,a,collab,20,0,0,0,0,2,,\n\
             2.0,b,agent,4,4,0,0,0,0,1.0,2.0\n",
        )
        .unwrap();
        let c = cumulative_at(&path, &[0.5, 1.5, 5.0]).unwrap();
        assert_eq!(c["a"].sent, [5.0, 20.0, 30.0]);
        assert_eq!(c["a"].connects, [1.0, 2.0, 2.0]);
        assert_eq!(c["b"].sent, [2.0, 6.0, 8.0]);
        std::fs::write(&path, "elapsed_s,workload,sent,connects\nx,a,1,1\n").unwrap();
        let e = cumulative_at(&path, &[1.0]).unwrap_err();
        assert!(format!("{e:#}").contains("row 2"), "{e:#}");
    }
}
