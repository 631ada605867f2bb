//! The report's tables, built once from the view: a [`Table`] is a title,
//! named columns (numeric ones right-aligned) and rows of worded cells;
//! Markdown and HTML each draw it in their own markup, so no renderer
//! writes a header or a cell format of its own.

use super::{LoadRow, ReportView, SnapshotsView, WhereItGrows, WhereItLeaks};
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

/// One column of a load table: header, alignment and cell.
type LoadColumn = (&'static str, bool, fn(&LoadRow<'_>) -> String);

/// Every column a load table may have.
const LOAD_COLUMNS: [LoadColumn; 13] = [
    ("workload", false, |w| w.name.to_string()),
    ("kind", false, |w| w.kind.to_string()),
    ("sent", true, |w| w.totals.sent.to_string()),
    ("received", true, |w| w.totals.received.to_string()),
    ("errors", true, |w| w.totals.errors.to_string()),
    ("late sends", true, |w| w.totals.late_sends.to_string()),
    ("p50 ms", true, |w| {
        format!("{:.1}", w.totals.latency.p50_ms)
    }),
    ("p99 ms", true, |w| {
        format!("{:.1}", w.totals.latency.p99_ms)
    }),
    ("connects", true, |w| w.totals.connects.to_string()),
    ("lost", true, |w| w.totals.lost.to_string()),
    ("lost", true, |w| {
        // In brief: loss is counted for broadcast deliveries only.
        if w.kind == WorkloadKind::Collab {
            w.totals.lost.to_string()
        } else {
            "–".into()
        }
    }),
    ("misdelivered", true, |w| w.totals.misdelivered.to_string()),
    ("growth per message", true, |w| {
        w.per_message_short.clone().unwrap_or_else(|| "–".into())
    }),
];

impl ReportView<'_> {
    /// The load, every count (the HTML report).
    pub(crate) fn load_table(&self) -> Table {
        self.load_with(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11])
    }

    /// The load in brief (a CI job's page).
    pub(crate) fn load_brief(&self) -> Table {
        self.load_with(&[0, 1, 2, 3, 4, 7, 10, 12])
    }

    /// The load table with the columns at `indices` of [`LOAD_COLUMNS`].
    fn load_with(&self, indices: &[usize]) -> Table {
        let chosen: Vec<&LoadColumn> = indices.iter().map(|&i| &LOAD_COLUMNS[i]).collect();
        Table {
            title: "Load",
            columns: chosen
                .iter()
                .map(|&&(name, numeric, _)| Column { name, numeric })
                .collect(),
            rows: self
                .load
                .iter()
                .map(|w| chosen.iter().map(|c| (c.2)(w)).collect())
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
