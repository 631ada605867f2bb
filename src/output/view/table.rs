//! The report's tables, built once from the view: a [`Table`] is a title,
//! named columns (numeric ones right-aligned) and rows of worded cells;
//! Markdown and HTML each draw it in their own markup, so no renderer
//! writes a header or a cell format of its own.

use super::{ReportView, SnapshotsView, WhereItGrows, WhereItLeaks};
use crate::units::format_mb;
use crate::workload::WorkloadKind;

/// One column: its header, and whether its cells are numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    /// The header.
    pub name: &'static str,
    /// Right-aligned.
    pub numeric: bool,
}

/// A titled table of worded cells.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    /// The title, for renderers that show one.
    pub title: &'static str,
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, one cell per column.
    pub rows: Vec<Vec<String>>,
}

/// Columns from `(name, numeric)` pairs.
fn columns(spec: &[(&'static str, bool)]) -> Vec<Column> {
    spec.iter()
        .map(|&(name, numeric)| Column { name, numeric })
        .collect()
}

impl WhereItGrows {
    /// Every judged series: classes, resources, processes.
    pub(crate) fn table(&self) -> Table {
        Table {
            title: "Classes, resources and processes",
            columns: columns(&[
                ("", false),
                ("name", false),
                ("trend", false),
                ("per hour", true),
                ("95% CI", true),
                ("share", true),
            ]),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.kind.to_string(),
                        r.name.clone(),
                        r.trend.to_string(),
                        r.rate.clone(),
                        r.ci.clone(),
                        r.share.clone(),
                    ]
                })
                .collect(),
        }
    }
}

impl WhereItLeaks {
    /// The top sites above the noise floor.
    pub(crate) fn table(&self) -> Table {
        Table {
            title: "Allocation sites grown in the window",
            columns: columns(&[
                ("function", false),
                ("file:line", false),
                ("grown", true),
                ("allocations", true),
                ("process", false),
            ]),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.function.clone(),
                        r.place.clone(),
                        r.bytes.clone(),
                        r.count.clone(),
                        r.process.clone(),
                    ]
                })
                .collect(),
        }
    }
}

impl SnapshotsView {
    /// The detached DOM nodes gained, then the classes that gained objects.
    pub(crate) fn tables(&self) -> [Table; 2] {
        let table = |title, rows: &[super::SnapshotRow]| Table {
            title,
            columns: columns(&[
                ("class", false),
                ("gained", true),
                ("at the end", true),
                ("own size gained", true),
            ]),
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.gained.clone(),
                        r.at_end.clone(),
                        r.size.clone(),
                    ]
                })
                .collect(),
        };
        [
            table("Detached DOM nodes gained", &self.detached),
            table("Objects gained, by class", &self.constructors),
        ]
    }
}

impl ReportView<'_> {
    /// The load, every count (the HTML report).
    pub(crate) fn load_table(&self) -> Table {
        Table {
            title: "Load",
            columns: columns(&[
                ("workload", false),
                ("kind", false),
                ("sent", true),
                ("received", true),
                ("errors", true),
                ("late sends", true),
                ("p50 ms", true),
                ("p99 ms", true),
                ("connects", true),
                ("lost", true),
                ("misdelivered", true),
            ]),
            rows: self
                .load
                .iter()
                .map(|w| {
                    let t = w.totals;
                    vec![
                        w.name.to_string(),
                        w.kind.to_string(),
                        t.sent.to_string(),
                        t.received.to_string(),
                        t.errors.to_string(),
                        t.late_sends.to_string(),
                        format!("{:.1}", t.latency.p50_ms),
                        format!("{:.1}", t.latency.p99_ms),
                        t.connects.to_string(),
                        t.lost.to_string(),
                        t.misdelivered.to_string(),
                    ]
                })
                .collect(),
        }
    }

    /// The load in brief (a CI job's page).
    pub(crate) fn load_brief(&self) -> Table {
        Table {
            title: "Load",
            columns: columns(&[
                ("workload", false),
                ("kind", false),
                ("sent", true),
                ("received", true),
                ("errors", true),
                ("p99 ms", true),
                ("lost", true),
                ("growth per message", true),
            ]),
            rows: self
                .load
                .iter()
                .map(|w| {
                    let t = w.totals;
                    vec![
                        w.name.to_string(),
                        w.kind.to_string(),
                        t.sent.to_string(),
                        t.received.to_string(),
                        t.errors.to_string(),
                        format!("{:.1}", t.latency.p99_ms),
                        // Loss is counted for broadcast deliveries only.
                        if w.kind == WorkloadKind::Collab {
                            t.lost.to_string()
                        } else {
                            "–".into()
                        },
                        w.per_message_short.clone().unwrap_or_else(|| "–".into()),
                    ]
                })
                .collect(),
        }
    }

    /// The tree's processes at the last sample.
    pub(crate) fn processes_table(&self) -> Table {
        Table {
            title: "Processes at the end",
            columns: columns(&[
                ("pid", true),
                ("parent", true),
                ("name", false),
                ("RSS", true),
                ("anon", true),
                ("threads", true),
            ]),
            rows: self
                .summary
                .processes
                .iter()
                .map(|p| {
                    vec![
                        p.pid.to_string(),
                        p.ppid.to_string(),
                        p.name.clone(),
                        format_mb(p.rss_bytes as f64),
                        p.anon_bytes.map_or("–".into(), |a| format_mb(a as f64)),
                        p.threads.to_string(),
                    ]
                })
                .collect(),
        }
    }
}
