//! The memory chart of a run and the comparison of two, drawn with the
//! toolkit in [`super::plot`].
//!
//! The top panel shows memory over time: the judged metric and RSS (plus
//! PSS/anonymous memory when sampled), the warm-up shaded, the fitted trend
//! with its 95% band, the limit drawn as the growth it allows from the start
//! of the judged window, and the RSS ceiling. Below: open files and
//! threads, workload throughput and errors, and latency p99.

use std::path::Path;

use anyhow::{anyhow, bail};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart_data::{Decimated, RunSeries};
use super::plot::{
    legend, legend_share, line, mesh, register_font, Corners, Raster, TimeAxis, FAMILY, PALETTE,
};
use super::Summary;
use crate::analysis::Metric;

/// Chart size in pixels.
pub(crate) const WIDTH: u32 = 1200;
/// Chart height in pixels.
pub(crate) const HEIGHT: u32 = 1000;
/// The narrow rendering of the same chart, for phones (inlined in
/// `report.html` beside the wide one; CSS shows one or the other): its
/// text stays legible when scaled to a 360–420 px screen.
pub(crate) const NARROW: (u32, u32) = (440, 1100);
/// Pixel columns the series are decimated to.
pub(crate) const COLUMNS: usize = 1100;

/// Largest magnitude a chart axis takes (bytes, seconds, milliseconds).
/// Beyond it (a corrupt or hostile CSV with values near `f64::MAX`), the
/// padded axis range overflows to infinity and the axis' key points never
/// end: such a chart is refused, not drawn.
const CHARTABLE: f64 = 1e18;

/// Refuses series whose values or times no axis can hold.
fn check_chartable(series: &RunSeries) -> anyhow::Result<()> {
    let fits = |v: f64| v.is_finite() && v.abs() <= CHARTABLE;
    if !fits(series.span_s) {
        bail!(
            "elapsed times up to {:e} s are too large to chart",
            series.span_s
        );
    }
    let all = series
        .samples
        .iter()
        .map(|(n, d)| (n.to_string(), d))
        .chain(series.page.iter().map(|(n, d)| (n.to_string(), d)))
        .chain(series.workloads.iter().flat_map(|w| {
            [
                (format!("{} throughput", w.name), &w.throughput),
                (format!("{} errors", w.name), &w.errors),
                (format!("{} p99_ms", w.name), &w.p99_ms),
            ]
        }));
    for (name, d) in all {
        if let Some((lo, hi)) = d.range() {
            if !(fits(lo) && fits(hi)) {
                bail!("values of '{name}' ({lo:e} … {hi:e}) are too large to chart");
            }
        }
    }
    Ok(())
}

/// The memory chart as SVG text, wide and narrow, for `report.html`.
pub(crate) struct ChartSvg {
    /// At [`WIDTH`] × [`HEIGHT`], as in `memory.svg`.
    pub wide: String,
    /// At [`NARROW`], for phones.
    pub narrow: String,
}

/// Writes `memory.png` and `memory.svg` into `dir`; returns the SVG text,
/// wide and narrow (for `report.html` to inline).
pub(crate) fn write(dir: &Path, summary: &Summary, series: &RunSeries) -> anyhow::Result<ChartSvg> {
    check_chartable(series)?;
    // Each small panel below the memory panel keeps its height: a page's
    // counts add one.
    let taller = |h: u32| h * (3 + small_panels(series)) / 6;
    let wide = render_both(
        dir,
        "memory",
        (WIDTH, taller(HEIGHT)),
        |root| draw(root, summary, series, Raster::Bitmap),
        |root| draw(root, summary, series, Raster::Vector),
    )?;
    let mut narrow = String::new();
    {
        let root =
            SVGBackend::with_string(&mut narrow, (NARROW.0, taller(NARROW.1))).into_drawing_area();
        draw(&root, summary, series, Raster::Vector)?;
        root.present()
            .map_err(|e| anyhow!("could not draw the narrow chart: {e}"))?;
    }
    Ok(ChartSvg { wide, narrow })
}

/// Small panels under the memory panel: open files and threads (or a
/// page's nodes, and its listeners and documents), throughput, latency.
fn small_panels(series: &RunSeries) -> u32 {
    if series.page.is_empty() {
        3
    } else {
        4
    }
}

/// Draws one chart twice, into `<stem>.png` and `<stem>.svg`, and returns
/// the SVG text. The drawing code is generic over the backend; the two
/// closures only name it twice.
pub(super) fn render_both(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    png: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> anyhow::Result<()>,
    svg: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    register_font();
    let png_path = dir.join(format!("{stem}.png"));
    let svg_path = dir.join(format!("{stem}.svg"));
    let root = BitMapBackend::new(&png_path, size).into_drawing_area();
    png(&root)?;
    root.present()
        .map_err(|e| anyhow!("could not write '{}': {e}", png_path.display()))?;
    drop(root);
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        svg(&root)?;
        root.present()
            .map_err(|e| anyhow!("could not draw '{}': {e}", svg_path.display()))?;
    }
    std::fs::write(&svg_path, &text)
        .map_err(|e| anyhow!("could not write '{}': {e}", svg_path.display()))?;
    Ok(text)
}

/// A small panel: title, unit, and labelled series.
type Panel<'a> = (&'static str, &'static str, Vec<(String, &'a Decimated)>);

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Summary,
    series: &RunSeries,
    raster: Raster,
) -> anyhow::Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("chart drawing failed: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let axis = TimeAxis::for_span(series.span_s.max(1.0));
    let x_max = series.span_s.max(1.0) / axis.divisor;
    let (_, height) = root.dim_in_pixel();
    // The memory panel is as tall as three small panels.
    let (top, rest) = root.split_vertically(height * 3 / (3 + small_panels(series)));

    memory_panel(&top, s, series, axis, x_max, raster).map_err(err)?;
    let counts = |names: &[&str], from_page: bool| -> Vec<(String, &Decimated)> {
        names
            .iter()
            .filter_map(|c| {
                if from_page {
                    series.page_count(c)
                } else {
                    series.sample(c)
                }
                .map(|d| (c.to_string(), d))
            })
            .collect()
    };
    // A browser page's counts take the place of open files and threads
    // (the browser's own are in the attribution): nodes in one panel,
    // listeners and documents (hundreds, not thousands) in another.
    let mut panels: Vec<Panel> = if series.page.is_empty() {
        vec![(
            "Open files and threads",
            "count",
            counts(&["fds", "threads"], false),
        )]
    } else {
        vec![
            ("DOM nodes", "count", counts(&["dom_nodes"], true)),
            (
                "Event listeners and documents",
                "count",
                counts(&["js_event_listeners", "documents"], true),
            ),
        ]
    };
    panels.extend([
        (
            "Workload throughput and errors",
            "per second",
            series
                .workloads
                .iter()
                .flat_map(|w| {
                    [
                        (format!("{} sent/s", w.name), &w.throughput),
                        (format!("{} errors/s", w.name), &w.errors),
                    ]
                })
                .filter(|(_, d)| !d.is_empty())
                .collect(),
        ),
        (
            "Latency p99",
            "ms",
            series
                .workloads
                .iter()
                .map(|w| (w.name.clone(), &w.p99_ms))
                .filter(|(_, d)| !d.is_empty())
                .collect(),
        ),
    ]);
    let lower = rest.split_evenly((panels.len(), 1));
    for (area, (title, unit, lines)) in lower.iter().zip(panels) {
        small_panel(area, title, unit, &lines, axis, x_max).map_err(err)?;
    }
    Ok(())
}

/// The lines of the memory panel: the judged metric first, then the
/// others the recording has.
fn memory_lines<'a>(s: &Summary, series: &'a RunSeries) -> Vec<(String, &'a Decimated)> {
    use crate::recording::samples::{CGROUP_USAGE, JS_HEAP, JS_HEAP_TOTAL, PAGE_HEAP, QUERY_SUM};
    // A page's heap is drawn with what the page reserved, not beside its
    // browser's hundreds of MB of processes (the attribution has those).
    let others: Vec<(&str, String)> = if !s.metric.is_page_heap() {
        vec![
            (Metric::Rss.column(), "rss".into()),
            (Metric::Pss.column(), "pss".into()),
            (Metric::Anon.column(), "anon".into()),
            (CGROUP_USAGE, "cgroup usage".into()),
            (QUERY_SUM, "query sum".into()),
        ]
    } else {
        vec![
            (JS_HEAP, "js_heap".into()),
            (JS_HEAP_TOTAL, "js heap total".into()),
            (PAGE_HEAP, "page_heap".into()),
        ]
    };
    let mut lines: Vec<(String, &Decimated)> = Vec::new();
    let judged = (s.metric.column(), format!("{} (judged)", s.metric));
    for (col, label) in std::iter::once(judged).chain(others) {
        if let Some(d) = series.sample(col) {
            if !lines.iter().any(|(_, x)| std::ptr::eq(*x, d)) {
                lines.push((label, d));
            }
        }
    }
    lines
}

/// The memory panel's vertical range (MB) and legend size: the lines and
/// the ceiling, padded, with headroom above them for the legend when the
/// lines leave no corner free (a growing line leaves the upper left free,
/// and the scale is kept tight).
struct MemoryScale {
    y: (f64, f64),
    entries: usize,
    longest: usize,
}

impl MemoryScale {
    fn of(
        s: &Summary,
        lines: &[(String, &Decimated)],
        plot_px: (u32, u32),
        axis: TimeAxis,
        x_max: f64,
    ) -> MemoryScale {
        let mb = 1e6;
        let ceiling = s.max_rss_bytes.filter(|_| !s.metric.is_page_heap());
        let (mut y_lo, mut y_hi) = lines
            .iter()
            .filter_map(|(_, d)| d.range())
            .fold((f64::MAX, f64::MIN), |(a, b), (lo, hi)| {
                (a.min(lo), b.max(hi))
            });
        if let Some(c) = ceiling {
            y_hi = y_hi.max(c as f64);
        }
        if y_lo > y_hi {
            (y_lo, y_hi) = (0.0, 1.0);
        }
        let pad = ((y_hi - y_lo) * 0.1).max(0.5e6);
        let (y_lo, mut y_hi) = (((y_lo - pad) / mb).max(0.0), (y_hi + pad) / mb);
        let entries = 1
            + lines.len()
            + if s.growth.is_some() { 3 } else { 0 }
            + usize::from(ceiling.is_some());
        let longest = if s.growth.is_some() {
            30
        } else {
            lines
                .iter()
                .map(|(l, _)| l.chars().count())
                .max()
                .unwrap_or(8)
                .max(15)
        };
        let share = legend_share(
            entries,
            longest,
            13,
            (
                f64::from(plot_px.0.saturating_sub(94)),
                f64::from(plot_px.1.saturating_sub(82)),
            ),
        );
        let mut tentative = Corners::new((0.0, x_max), (y_lo, y_hi));
        for (_, d) in lines {
            tentative.add(
                d.points()
                    .into_iter()
                    .map(|(t, y)| (t / axis.divisor, y / mb)),
            );
        }
        if tentative.least(share) > 0 {
            y_hi = y_lo + (y_hi - y_lo) / (1.0 - share.1.min(0.5));
        }
        MemoryScale {
            y: (y_lo, y_hi),
            entries,
            longest,
        }
    }
}

/// The memory panel's title; a narrow drawing (phones) gets a shorter
/// one: the page says the rest right above it.
fn memory_title(s: &Summary, narrow: bool) -> String {
    let verdict = s.verdict.to_string().to_uppercase();
    match (&s.growth, narrow) {
        (Some(g), false) => format!("Memory: {verdict} — {}", g.display),
        (Some(g), true) => format!(
            "Memory: {verdict}, {}",
            s.threshold.unit.format(g.slope_bytes_per_hour)
        ),
        (None, _) => format!("Memory: {verdict}"),
    }
}

type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn memory_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Summary,
    series: &RunSeries,
    axis: TimeAxis,
    x_max: f64,
    raster: Raster,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mb = 1e6;
    let lines = memory_lines(s, series);
    let plot_px = area.dim_in_pixel();
    let scale = MemoryScale::of(s, &lines, plot_px, axis, x_max);
    let (y_lo, y_hi) = scale.y;
    let narrow = plot_px.0 < 800;
    let mut chart = ChartBuilder::on(area)
        .caption(
            memory_title(s, narrow),
            (FAMILY, if narrow { 18 } else { 22 }),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, y_lo..y_hi)?;
    mesh(&mut chart, axis, "MB", 14)?;
    let mut corners = Corners::new((0.0, x_max), (y_lo, y_hi));
    let warm = s.warmup_s / axis.divisor;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, y_lo), (warm.min(x_max), y_hi)],
            RGBColor(225, 225, 225).filled(),
        )))?
        .label(if s.warmup_auto {
            "warm-up (found)"
        } else {
            "warm-up"
        })
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 18, y + 5)],
                RGBColor(225, 225, 225).filled(),
            )
        });
    for (i, (label, d)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = d
            .points()
            .into_iter()
            .map(|(t, y)| (t / axis.divisor, y / mb))
            .collect();
        corners.add(pts.iter().copied());
        chart
            .draw_series(line(
                pts,
                color.stroke_width(if i == 0 { 2 } else { 1 }),
                raster,
            ))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    if let Some(g) = &s.growth {
        draw_trend(&mut chart, s, g, series.span_s, axis, &mut corners)?;
    }
    if let Some(c) = s.max_rss_bytes.filter(|_| !s.metric.is_page_heap()) {
        draw_ceiling(&mut chart, c as f64 / mb, x_max)?;
    }
    legend(&mut chart, 13, &corners, scale.entries, scale.longest)?;
    Ok(())
}

/// The fitted trend with its 95% band, through the judged window's
/// centre, and the limit: the growth it allows from where the trend
/// starts.
fn draw_trend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    s: &Summary,
    g: &super::GrowthSummary,
    span_s: f64,
    axis: TimeAxis,
    corners: &mut Corners,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mb = 1e6;
    let (t0, t1) = (s.warmup_s, span_s.max(s.warmup_s));
    let tc = (t0 + t1) / 2.0;
    let yc = g.intercept_bytes + g.slope_bytes_per_hour / 3600.0 * tc;
    let at = |slope_h: f64, t: f64| (yc + slope_h / 3600.0 * (t - tc)) / mb;
    let [lo, hi] = g.ci95_bytes_per_hour;
    let band = vec![
        (t0 / axis.divisor, at(lo, t0)),
        (t1 / axis.divisor, at(lo, t1)),
        (t1 / axis.divisor, at(hi, t1)),
        (t0 / axis.divisor, at(hi, t0)),
    ];
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(std::iter::once(Polygon::new(band, red.mix(0.2).filled())))?
        .label("95% band")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], red.mix(0.2).filled()));
    let slope = g.slope_bytes_per_hour;
    corners.add((0..=20).map(|k| {
        let t = t0 + (t1 - t0) * f64::from(k) / 20.0;
        (t / axis.divisor, at(slope, t))
    }));
    chart
        .draw_series(LineSeries::new(
            [t0, t1].map(|t| (t / axis.divisor, at(slope, t))),
            red.stroke_width(2),
        ))?
        .label("trend (fitted to block minima)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(2)));
    let start = at(slope, t0) * mb;
    let limit = [t0, t1].map(|t| {
        (
            t / axis.divisor,
            (start + s.judged_limit_bytes_per_hour() / 3600.0 * (t - t0)) / mb,
        )
    });
    chart
        .draw_series(DashedLineSeries::new(limit, 8, 6, BLACK.stroke_width(2)))?
        .label(format!("limit {}", s.threshold.spec()))
        .legend(|(x, y)| {
            // Dashed like the line it stands for.
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (7, 0)], BLACK.stroke_width(2))
                + PathElement::new(vec![(11, 0), (18, 0)], BLACK.stroke_width(2))
        });
    Ok(())
}

/// The RSS ceiling, at `y` MB.
fn draw_ceiling<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    y: f64,
    x_max: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, y), (x_max, y)],
            4,
            4,
            RGBColor(140, 86, 75).stroke_width(2),
        ))?
        .label("RSS ceiling")
        .legend(|(x, y)| {
            let style = RGBColor(140, 86, 75).stroke_width(2);
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (4, 0)], style)
                + PathElement::new(vec![(8, 0), (12, 0)], style)
                + PathElement::new(vec![(16, 0), (18, 0)], style)
        });
    Ok(())
}

fn small_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    unit: &str,
    lines: &[(String, &Decimated)],
    axis: TimeAxis,
    x_max: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if lines.is_empty() {
        // Nothing recorded: said in words, not drawn as an empty grid on a
        // made-up 0–1 axis.
        let (w, h) = area.dim_in_pixel();
        let centred = |size: u32| {
            (FAMILY, size).into_font().color(&BLACK.mix(0.6)).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ),
            )
        };
        area.draw_text(title, &centred(16), (w as i32 / 2, h as i32 / 3))?;
        return area.draw_text(
            "not recorded",
            &centred(14),
            (w as i32 / 2, h as i32 * 2 / 3),
        );
    }
    let y_hi = lines
        .iter()
        .filter_map(|(_, d)| d.range())
        .fold(0.0f64, |m, (_, hi)| m.max(hi));
    // Headroom for the legend above the lines (the panel is short: a
    // legend in any corner would hide a line along its top or bottom).
    let plot_h = (f64::from(area.dim_in_pixel().1) - 70.0).max(40.0);
    let legend_share = ((lines.len() as f64 * 18.0 + 20.0) / plot_h).min(0.55);
    let y_hi = if y_hi > 0.0 {
        y_hi * 1.05 / (1.0 - legend_share)
    } else {
        1.0
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_hi)?;
    mesh(&mut chart, axis, unit, 12)?;
    let mut corners = Corners::new((0.0, x_max), (0.0, y_hi));
    for (i, (label, d)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = d
            .points()
            .into_iter()
            .map(|(t, y)| (t / axis.divisor, y))
            .collect();
        corners.add(pts.iter().copied());
        chart
            .draw_series(LineSeries::new(pts, color))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    let longest = lines
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    legend(&mut chart, 12, &corners, lines.len(), longest)?;
    Ok(())
}

/// Writes `compare.png` and `compare.svg`: the judged metric of two runs
/// over elapsed time, for `memsoak compare`.
pub(crate) fn write_comparison(
    dir: &Path,
    metric: Metric,
    runs: [(&str, &RunSeries); 2],
) -> anyhow::Result<()> {
    for (_, r) in runs {
        check_chartable(r)?;
    }
    render_both(
        dir,
        "compare",
        (WIDTH, HEIGHT / 2),
        |root| draw_comparison(root, metric, runs, Raster::Bitmap),
        |root| draw_comparison(root, metric, runs, Raster::Vector),
    )
    .map(drop)
}

fn draw_comparison<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: Metric,
    runs: [(&str, &RunSeries); 2],
    raster: Raster,
) -> anyhow::Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("chart drawing failed: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let span = runs.iter().map(|(_, r)| r.span_s).fold(1.0f64, f64::max);
    let axis = TimeAxis::for_span(span);
    let lines: Vec<(&str, &Decimated)> = runs
        .iter()
        .filter_map(|(label, r)| r.sample(metric.column()).map(|d| (*label, d)))
        .collect();
    let (lo, hi) = lines
        .iter()
        .filter_map(|(_, d)| d.range())
        .fold((f64::MAX, f64::MIN), |(a, b), (lo, hi)| {
            (a.min(lo), b.max(hi))
        });
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
    let pad = ((hi - lo) * 0.1).max(0.5e6);
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{metric}: base vs new"), (FAMILY, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0f64..span / axis.divisor,
            ((lo - pad) / 1e6).max(0.0)..(hi + pad) / 1e6,
        )
        .map_err(err)?;
    mesh(&mut chart, axis, "MB", 14).map_err(err)?;
    let mut corners = Corners::new(
        (0.0, span / axis.divisor),
        (((lo - pad) / 1e6).max(0.0), (hi + pad) / 1e6),
    );
    for (i, (label, d)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = d
            .points()
            .into_iter()
            .map(|(t, y)| (t / axis.divisor, y / 1e6))
            .collect();
        corners.add(pts.iter().copied());
        chart
            .draw_series(line(pts, color.stroke_width(2), raster))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    let longest = lines
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    legend(&mut chart, 13, &corners, lines.len(), longest).map_err(err)?;
    Ok(())
}
