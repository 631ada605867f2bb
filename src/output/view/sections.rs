//! The sections of the report view beyond the verdict: "Where it
//! grows" (the attribution), "Where it leaks" (the profiler's sites) and
//! "Heap snapshots" (a page's), each worded once from the summary.

use crate::analysis::attribution::{
    format_rate, process_label, signed, SeriesAttribution, TrendWord, Unit,
};
use crate::units::format_elapsed;

use super::super::Summary;

/// A page's heap snapshots compared, worded.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotsView {
    /// `+5250 detached DOM nodes (Detached <span> +5000, …); most objects
    /// gained: <span> +5000, …`, or why there is no comparison.
    pub headline: String,
    /// `baseline at 15s, final at 40s`.
    pub window: String,
    /// The classes that gained the most objects.
    pub constructors: Vec<SnapshotRow>,
    /// The detached DOM nodes gained, by class.
    pub detached: Vec<SnapshotRow>,
    /// The snapshot files, relative to the run folder, with their sizes.
    pub files: Vec<(String, String)>,
}

/// One class of the comparison, worded.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotRow {
    /// `Detached <div>`, `(closure)`.
    pub name: String,
    /// `+5000`.
    pub gained: String,
    /// Objects in the final snapshot.
    pub at_end: String,
    /// Own size gained: `+520.0 KB`.
    pub size: String,
}

pub(super) fn heap_snapshots(s: &Summary) -> Option<SnapshotsView> {
    let h = s.heap_snapshots.as_ref()?;
    let row = |c: &crate::devtools::snapshot::ClassDelta| SnapshotRow {
        name: c.name.clone(),
        gained: format!("{:+}", c.count_delta),
        at_end: c.count_final.to_string(),
        size: signed(
            &format_bytes(c.self_size_delta_bytes as f64),
            c.self_size_delta_bytes as f64,
        ),
    };
    let brief = |rows: &[crate::devtools::snapshot::ClassDelta]| {
        rows.iter()
            .take(3)
            .map(|c| format!("{} {:+}", c.name, c.count_delta))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let headline = match (&h.diff, &h.error) {
        (Some(d), _) => {
            let detached = if d.detached_nodes.delta > 0 {
                format!(
                    "{:+} detached DOM nodes ({})",
                    d.detached_nodes.delta,
                    brief(&d.detached_nodes.by_name)
                )
            } else {
                format!(
                    "no detached DOM nodes gained ({} at the end)",
                    d.detached_nodes.r#final
                )
            };
            if d.constructors.is_empty() {
                format!("{detached}; no class gained objects")
            } else {
                format!(
                    "{detached}; most objects gained: {}",
                    brief(&d.constructors)
                )
            }
        }
        (None, Some(e)) => format!("no comparison: {e}"),
        (None, None) => "no comparison".into(),
    };
    let at = |f: &Option<crate::source::page::SnapshotFile>| {
        f.as_ref()
            .map_or("not taken".into(), |f| format_elapsed(f.elapsed_s))
    };
    Some(SnapshotsView {
        headline,
        window: match (&h.baseline, &h.last) {
            (Some(_), Some(_)) => {
                format!("baseline at {}, final at {}", at(&h.baseline), at(&h.last))
            }
            (None, Some(_)) => format!("no baseline, final at {}", at(&h.last)),
            (Some(_), None) => format!("baseline at {}, no final", at(&h.baseline)),
            (None, None) => "neither snapshot taken".into(),
        },
        constructors: h
            .diff
            .iter()
            .flat_map(|d| d.constructors.iter().map(row))
            .collect(),
        detached: h
            .diff
            .iter()
            .flat_map(|d| d.detached_nodes.by_name.iter().map(row))
            .collect(),
        files: [&h.baseline, &h.last]
            .into_iter()
            .flatten()
            .filter(|f| !f.deleted)
            .map(|f| (f.file.clone(), format_bytes(f.bytes as f64)))
            .collect(),
    })
}

/// The profiler's sites, worded.
#[derive(Debug, Clone)]
pub(crate) struct WhereItLeaks {
    /// `tracemalloc: +41.8 MB in the window at broadcast (backend/collab.py:57) in pid 123 (uvicorn)`,
    /// or why there is nothing.
    pub headline: String,
    /// `sites allocated between 30s and 2m and still live at 2m; noise floor 64.0 KB`.
    pub window: String,
    /// The top sites above the floor.
    pub rows: Vec<LeakRow>,
    /// `dict +152000 (pid 123)`.
    pub types: Vec<String>,
    /// The profiler's notes.
    pub notes: Vec<String>,
    /// Commands that open the profiler's files, from the run folder.
    pub commands: Vec<String>,
}

/// One site, worded.
#[derive(Debug, Clone)]
pub(crate) struct LeakRow {
    /// `pid 123 (uvicorn)`.
    pub process: String,
    /// The innermost frame's function.
    pub function: String,
    /// `backend/collab.py:57`.
    pub place: String,
    /// `+41.8 MB`.
    pub bytes: String,
    /// `+152000`.
    pub count: String,
}

/// Bytes for people: `512 B`, `64.0 KB`, `41.8 MB`, `1.20 GB` (powers of
/// 1000, like the rest of memsoak).
pub(crate) fn format_bytes(bytes: f64) -> String {
    let a = bytes.abs();
    if a < 1e3 {
        format!("{bytes:.0} B")
    } else if a < 1e6 {
        format!("{:.1} KB", bytes / 1e3)
    } else if a < 1e9 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.2} GB", bytes / 1e9)
    }
}

pub(super) fn where_it_leaks(s: &Summary) -> Option<WhereItLeaks> {
    let l = s.leaks.as_ref()?;
    let name = l.profiler.name();
    let place = |file: &str, line: Option<u32>| match line {
        Some(n) => format!("{file}:{n}"),
        None => file.to_string(),
    };
    let headline = match (&l.top_site, &l.error) {
        (Some(t), _) => format!(
            "{name}: +{} in the window at {} ({}) in pid {} ({}){}",
            format_bytes(t.bytes as f64),
            if t.function.is_empty() {
                "?"
            } else {
                &t.function
            },
            place(&t.file, t.line),
            t.pid,
            t.name,
            if l.sites_above_floor > 1 {
                format!("; {} sites above the noise floor", l.sites_above_floor)
            } else {
                String::new()
            }
        ),
        (None, Some(e)) => format!("{name} found no sites: {e}"),
        (None, None) => format!(
            "{name}: no allocation site grew by more than the noise floor ({}) in the window",
            format_bytes(l.noise_floor_bytes as f64)
        ),
    };
    Some(WhereItLeaks {
        headline,
        window: format!(
            "allocated between {} and {} and still live at {}; noise floor {}",
            format_elapsed(l.window.start_s),
            format_elapsed(l.window.end_s),
            format_elapsed(l.window.end_s),
            format_bytes(l.noise_floor_bytes as f64)
        ),
        rows: l
            .top_sites
            .iter()
            .map(|t| LeakRow {
                process: format!("pid {} ({})", t.pid, t.name),
                function: t.function.clone(),
                place: place(&t.file, t.line),
                bytes: format!("+{}", format_bytes(t.bytes as f64)),
                count: format!("{:+}", t.count),
            })
            .collect(),
        types: l
            .top_types
            .iter()
            .map(|t| format!("{} {:+} (pid {})", t.type_name, t.count_delta, t.pid))
            .collect(),
        notes: l.notes.clone(),
        commands: l.commands.clone(),
    })
}

/// The attribution, worded: the headline, one row per class, resource and
/// process, and the hints.
#[derive(Debug, Clone)]
pub(crate) struct WhereItGrows {
    /// The finding in one line.
    pub headline: String,
    /// Classes, then resources, then processes.
    pub rows: Vec<AttributionRow>,
    /// Each hint's text.
    pub hints: Vec<String>,
}

/// One judged series, worded.
#[derive(Debug, Clone)]
pub(crate) struct AttributionRow {
    /// `class`, `resource` or `process`.
    pub kind: &'static str,
    /// `heap`, `fds_socket`, `pid 123 (uvicorn)`.
    pub name: String,
    /// `+41.8 MB/h`, `+36000 fds/h`.
    pub rate: String,
    /// `40.1 … 43.5`, in the rate's unit.
    pub ci: String,
    /// The trend word.
    pub trend: TrendWord,
    /// `93%` of the judged growth, or empty.
    pub share: String,
}

pub(super) fn where_it_grows(s: &Summary) -> Option<WhereItGrows> {
    let a = s.attribution.as_ref()?;
    let unit = &s.threshold.unit;
    let share = |v: Option<f64>| v.map_or(String::new(), |v| format!("{:.0}%", v * 100.0));
    let series_row = |kind, x: &SeriesAttribution| AttributionRow {
        kind,
        name: x.name.clone(),
        rate: format_rate(x, unit),
        ci: match (x.unit, x.ci95_per_hour) {
            (_, None) => String::new(),
            (Unit::Bytes, Some([lo, hi])) => {
                format!("{} … {}", unit.format_number(lo), unit.format_number(hi))
            }
            (Unit::Count, Some([lo, hi])) => format!("{lo:.0} … {hi:.0}"),
        },
        trend: x.trend,
        share: share(x.share),
    };
    let mut rows: Vec<AttributionRow> = a
        .classes
        .iter()
        .map(|c| series_row("class", c))
        .chain(a.resources.iter().map(|r| series_row("resource", r)))
        .collect();
    rows.extend(a.processes.iter().map(|p| {
        AttributionRow {
            kind: "process",
            name: format!(
                "{}{}",
                process_label(p),
                if p.ended { ", ended" } else { "" }
            ),
            rate: p
                .slope_bytes_per_hour
                .map_or("n/a".into(), |v| signed(&unit.format(v), v)),
            ci: p.ci95_bytes_per_hour.map_or(String::new(), |[lo, hi]| {
                format!("{} … {}", unit.format_number(lo), unit.format_number(hi))
            }),
            trend: p.trend,
            share: share(p.share),
        }
    }));
    Some(WhereItGrows {
        headline: a.headline.clone(),
        rows,
        hints: a.hints.iter().map(|h| h.text.clone()).collect(),
    })
}
