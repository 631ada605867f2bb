//! `attribution.svg` / `.png`: where the memory is, over time. Above, the
//! memory classes stacked (so their sum is the tree's resident and swapped
//! memory, and the band that widens is the one that grows); below, each
//! tracked process's judged metric, the largest growers first.
//!
//! Read from `breakdown.csv` and `processes.csv` in one pass each into a
//! fixed number of time columns (the last value in each), so the chart
//! costs the same memory for any run length.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use super::charts::render_both;
use super::plot::{legend, mesh, Corners, TimeAxis, FAMILY};
use super::Summary;
use crate::analysis::attribution::{process_label, CLASSES};
use crate::analysis::Metric;
use crate::recording::breakdown::{read_breakdown, read_processes};

/// Chart size in pixels.
const SIZE: (u32, u32) = (1200, 800);
/// Time columns.
const COLUMNS: usize = 600;
/// Processes drawn at most (the largest growers).
const MAX_LINES: usize = 8;

/// Okabe–Ito: told apart with every common colour-vision deficiency.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

type Columns = Vec<Option<f64>>;

/// Draws the chart from the CSVs in `run_folder` into `out`; returns the
/// SVG text, or `None` when the run has no attribution.
pub(crate) fn write(out: &Path, run_folder: &Path, s: &Summary) -> anyhow::Result<Option<String>> {
    let Some(a) = &s.attribution else {
        return Ok(None);
    };
    let span = s.duration_s.max(1.0);
    let column =
        |t: f64| ((t / span * (COLUMNS - 1) as f64).round().max(0.0) as usize).min(COLUMNS - 1);
    let mut classes: Vec<Columns> = vec![vec![None; COLUMNS]; CLASSES.len()];
    let breakdown = run_folder.join("breakdown.csv");
    if breakdown.is_file() {
        read_breakdown(&breakdown, |t, name, v| {
            if let Some(k) = CLASSES.iter().position(|c| *c == name) {
                classes[k][column(t)] = Some(v);
            }
        })?;
    }
    // The processes drawn: the largest growers, as the attribution ranks them.
    let drawn: Vec<(i32, f64, String)> = a
        .processes
        .iter()
        .take(MAX_LINES)
        .map(|p| (p.pid, p.start_s, process_label(p)))
        .collect();
    let mut lines: Vec<Columns> = vec![vec![None; COLUMNS]; drawn.len()];
    let processes = run_folder.join("processes.csv");
    if processes.is_file() {
        read_processes(&processes, |r| {
            let value = crate::recording::breakdown::process_metric(s.metric, r);
            if let (Some(k), Some(v)) = (
                drawn
                    .iter()
                    .position(|(pid, start, _)| *pid == r.pid && *start == r.start_s),
                value,
            ) {
                lines[k][column(r.elapsed_s)] = Some(v as f64);
            }
        })?;
    }
    let axis = TimeAxis::for_span(span);
    let x = |i: usize| i as f64 / (COLUMNS - 1) as f64 * span / axis.divisor;
    // Stacked: each class carried forward to the columns it was not read
    // in, the sum drawn from the top class down.
    let mut last = [None::<f64>; CLASSES.len()];
    let mut stacked: Vec<Vec<(f64, f64)>> = vec![Vec::new(); CLASSES.len()];
    for i in 0..COLUMNS {
        for (k, series) in classes.iter().enumerate() {
            if let Some(v) = series[i] {
                last[k] = Some(v);
            }
        }
        if last.iter().all(Option::is_none) || classes.iter().all(|c| c[i].is_none()) {
            continue;
        }
        let mut sum = 0.0;
        for k in 0..CLASSES.len() {
            sum += last[k].unwrap_or(0.0) / 1e6;
            stacked[k].push((x(i), sum));
        }
    }
    let process_points: Vec<Vec<(f64, f64)>> = lines
        .iter()
        .map(|l| {
            l.iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (x(i), v / 1e6)))
                .collect()
        })
        .collect();
    let x_max = span / axis.divisor;
    // A page's heap is not a process's: its browser's processes are drawn
    // by their anonymous memory.
    let metric = if !s.metric.is_page_heap() {
        s.metric
    } else {
        Metric::Anon
    };
    let svg = render_both(
        out,
        "attribution",
        SIZE,
        |root| draw_panels(root, axis, x_max, &stacked, &process_points, &drawn, metric),
        |root| draw_panels(root, axis, x_max, &stacked, &process_points, &drawn, metric),
    )?;
    Ok(Some(svg))
}

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    axis: TimeAxis,
    x_max: f64,
    stacked: &[Vec<(f64, f64)>],
    processes: &[Vec<(f64, f64)>],
    drawn: &[(i32, f64, String)],
    metric: Metric,
) -> anyhow::Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("chart drawing failed: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2);
    classes_panel(&top, axis, x_max, stacked).map_err(err)?;
    processes_panel(&bottom, axis, x_max, processes, drawn, metric).map_err(err)?;
    Ok(())
}

/// The classes, stacked.
fn classes_panel<DB: DrawingBackend>(
    top: &DrawingArea<DB, plotters::coord::Shift>,
    axis: TimeAxis,
    x_max: f64,
    stacked: &[Vec<(f64, f64)>],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let y_top = stacked
        .last()
        .into_iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(top)
        .caption("Memory by class (stacked)", (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_top)?;
    mesh(&mut chart, axis, "MB", 15)?;
    let mut corners = Corners::new((0.0, x_max), (0.0, y_top));
    if let Some(top) = stacked.iter().rev().find(|s| !s.is_empty()) {
        corners.add_filled(top.iter().copied());
    }
    for k in (0..stacked.len()).rev() {
        if stacked[k].is_empty() {
            continue;
        }
        let colour = PALETTE[k % PALETTE.len()];
        chart
            .draw_series(AreaSeries::new(
                stacked[k].iter().copied(),
                0.0,
                colour.mix(0.85).filled(),
            ))?
            .label(CLASSES[k])
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    let classes = stacked.iter().filter(|s| !s.is_empty()).count();
    legend(&mut chart, 15, &corners, classes, 10)
}

/// Each process's judged metric.
fn processes_panel<DB: DrawingBackend>(
    bottom: &DrawingArea<DB, plotters::coord::Shift>,
    axis: TimeAxis,
    x_max: f64,
    processes: &[Vec<(f64, f64)>],
    drawn: &[(i32, f64, String)],
    metric: Metric,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let y_max = processes
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(bottom)
        .caption(format!("Each process: {metric}"), (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    mesh(&mut chart, axis, "MB", 15)?;
    let mut corners = Corners::new((0.0, x_max), (0.0, y_max));
    for points in processes {
        corners.add(points.iter().copied());
    }
    for (k, (points, (_, _, label))) in processes.iter().zip(drawn).enumerate() {
        if points.is_empty() {
            continue;
        }
        let colour = PALETTE[k % PALETTE.len()];
        // Line styles tell the processes apart without colour too.
        let width = if k == 0 { 3 } else { 2 };
        let style = colour.stroke_width(width);
        if k % 2 == 1 {
            chart.draw_series(
                points
                    .iter()
                    .step_by((points.len() / 60).max(1))
                    .map(|&p| Circle::new(p, 3, colour.filled())),
            )?;
        }
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    let shown: Vec<usize> = processes
        .iter()
        .zip(drawn)
        .filter(|(p, _)| !p.is_empty())
        .map(|(_, (_, _, label))| label.chars().count())
        .collect();
    let longest = shown.iter().copied().max().unwrap_or(0);
    legend(&mut chart, 15, &corners, shown.len(), longest)
}
