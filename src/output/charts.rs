//! Charts of a run with plotters, as PNG and SVG from the same drawing code.
//!
//! The top panel shows memory over time: the judged metric and RSS (plus
//! PSS/anonymous memory when sampled), the warm-up shaded, the fitted trend
//! with its 95% band, the limit drawn as the growth it allows from the start
//! of the judged window, and the RSS ceiling. Below: open files and
//! threads, workload throughput and errors, and latency p99.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (plotters'
//! `ab_glyph` backend), so charts render on machines without any fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart_data::{Decimated, RunSeries};
use super::Summary;
use crate::analysis::Metric;

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub(super) const FAMILY: &str = "sans-serif";

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

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure would only
        // mean text falls back to no glyphs, never a crash.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Time axis unit chosen from the run's length: the axis picks round
/// steps of it (10 s, 5 min, 1 h) and labels them as times.
#[derive(Clone, Copy)]
pub(super) struct TimeAxis {
    pub(super) divisor: f64,
    label: &'static str,
}

impl TimeAxis {
    pub(super) fn for_span(span_s: f64) -> TimeAxis {
        if span_s > 3.0 * 3600.0 {
            TimeAxis {
                divisor: 3600.0,
                label: "elapsed",
            }
        } else if span_s > 180.0 {
            TimeAxis {
                divisor: 60.0,
                label: "elapsed",
            }
        } else {
            TimeAxis {
                divisor: 1.0,
                label: "elapsed",
            }
        }
    }
}

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

/// Line colours: told apart with the common colour-vision deficiencies
/// (blue, brown-orange, bluish green, purple, after Okabe–Ito) and each at
/// least 3:1 against white, as WCAG asks of graphics (the orange they
/// replace was 2.5:1).
const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(153, 79, 0),
    RGBColor(0, 121, 96),
    RGBColor(106, 61, 154),
];

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

fn memory_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Summary,
    series: &RunSeries,
    axis: TimeAxis,
    x_max: f64,
    raster: Raster,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mb = 1e6;
    let judged = s.metric.column();
    let mut lines: Vec<(String, &Decimated)> = Vec::new();
    // A page's heap is drawn with what the page reserved, not beside its
    // browser's hundreds of MB of processes (the attribution has those).
    let others: Vec<(&str, String)> = if !s.metric.is_page_heap() {
        vec![
            (Metric::Rss.column(), "rss".into()),
            (Metric::Pss.column(), "pss".into()),
            (Metric::Anon.column(), "anon".into()),
        ]
    } else {
        vec![
            (crate::recording::samples::JS_HEAP, "js_heap".into()),
            (
                crate::recording::samples::JS_HEAP_TOTAL,
                "js heap total".into(),
            ),
            (crate::recording::samples::PAGE_HEAP, "page_heap".into()),
        ]
    };
    for (col, label) in std::iter::once((judged, format!("{} (judged)", s.metric))).chain(others) {
        if let Some(d) = series.sample(col) {
            if !lines.iter().any(|(_, x)| std::ptr::eq(*x, d)) {
                lines.push((label, d));
            }
        }
    }
    let (mut y_lo, mut y_hi) = lines
        .iter()
        .filter_map(|(_, d)| d.range())
        .fold((f64::MAX, f64::MIN), |(a, b), (lo, hi)| {
            (a.min(lo), b.max(hi))
        });
    if let Some(c) = s.max_rss_bytes.filter(|_| !s.metric.is_page_heap()) {
        y_hi = y_hi.max(c as f64);
    }
    if y_lo > y_hi {
        (y_lo, y_hi) = (0.0, 1.0);
    }
    let pad = ((y_hi - y_lo) * 0.1).max(0.5e6);
    let (y_lo, mut y_hi) = (((y_lo - pad) / mb).max(0.0), (y_hi + pad) / mb);
    // When the lines leave no corner free for the legend, headroom above
    // them holds it (a growing line leaves the upper left free, and the
    // scale is kept tight).
    let entries = 1
        + lines.len()
        + if s.growth.is_some() { 3 } else { 0 }
        + usize::from(s.max_rss_bytes.is_some() && !s.metric.is_page_heap());
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
    let (area_w, area_h) = area.dim_in_pixel();
    let share = legend_share(
        entries,
        longest,
        13,
        (
            f64::from(area_w.saturating_sub(94)),
            f64::from(area_h.saturating_sub(82)),
        ),
    );
    let mut tentative = Corners::new((0.0, x_max), (y_lo, y_hi));
    for (_, d) in &lines {
        tentative.add(
            d.points()
                .into_iter()
                .map(|(t, y)| (t / axis.divisor, y / mb)),
        );
    }
    if tentative.least(share) > 0 {
        y_hi = y_lo + (y_hi - y_lo) / (1.0 - share.1.min(0.5));
    }

    // A narrow drawing (phones) gets a shorter, smaller title: the page
    // says the rest right above it.
    let narrow = area_w < 800;
    let verdict = s.verdict.to_string().to_uppercase();
    let title = match (&s.growth, narrow) {
        (Some(g), false) => format!("Memory: {verdict} — {}", g.display),
        (Some(g), true) => format!(
            "Memory: {verdict}, {}",
            s.threshold.unit.format(g.slope_bytes_per_hour)
        ),
        (None, _) => format!("Memory: {verdict}"),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, if narrow { 18 } else { 22 }))
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
        // Lines through the judged window's centre with the slope and its bounds.
        let (t0, t1) = (s.warmup_s, series.span_s.max(s.warmup_s));
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
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], red.mix(0.2).filled())
            });
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
        // The limit: the growth it allows, starting where the trend starts.
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
    }
    if let Some(c) = s.max_rss_bytes.filter(|_| !s.metric.is_page_heap()) {
        let y = c as f64 / mb;
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
    }
    legend(&mut chart, 13, &corners, entries, longest)?;
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

/// The grid and axis labels of a panel: time across, `unit` up, labels
/// at `font_size` and axis titles one point larger.
pub(super) fn mesh<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    axis: TimeAxis,
    unit: &str,
    font_size: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    // About one time label per 70 px, so a narrow chart's do not collide.
    let (width, _) = chart.plotting_area().dim_in_pixel();
    chart
        .configure_mesh()
        .x_labels((width / 70).clamp(5, 14) as usize)
        // One light line between labelled ones: a denser grid greys a
        // short panel over, as if it were all warm-up.
        .max_light_lines(1)
        .x_desc(axis.label)
        .y_desc(unit)
        .x_label_formatter(&|v| tick_time(*v * axis.divisor))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FAMILY, font_size))
        .axis_desc_style((FAMILY, font_size + 1))
        .draw()
}

/// A time tick in the one human format, without zero parts: `0`, `30s`,
/// `1m30s`, `20m`, `1h`, `1h30m` (the axis picks round steps of its unit,
/// so these are the natural marks of the run's length).
fn tick_time(secs: f64) -> String {
    // A short run's steps may be fractions of a second.
    if secs.is_finite() && secs.abs() < 60.0 && secs != 0.0 {
        return format!("{}s", tick(secs));
    }
    let s = if secs.is_finite() {
        secs.max(0.0).round() as u64
    } else {
        0
    };
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 && h == 0 {
        out.push_str(&format!("{sec}s"));
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// A tick label without needless decimals: `40`, `2.5`, `0.25`.
fn tick(v: f64) -> String {
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_string()
    }
}

/// Which kind of backend a chart is drawn on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Raster {
    /// The PNG.
    Bitmap,
    /// The SVG.
    Vector,
}

/// A data line. On the bitmap it is drawn as separate segments: the
/// decimated series zigzags between each pixel column's minimum and
/// maximum, and the bitmap backend joins a thick polyline's segments with
/// unlimited miters, so every sharp turn (a GC drop) became a spike far
/// above the data. Segments drawn apart have no joins, so the PNG shows the
/// data's extent exactly. The SVG keeps one polyline (its renderer joins
/// well, and the file stays small).
fn line(
    points: Vec<(f64, f64)>,
    style: ShapeStyle,
    raster: Raster,
) -> Vec<PathElement<(f64, f64)>> {
    match raster {
        Raster::Bitmap => points
            .windows(2)
            .map(|w| PathElement::new(w.to_vec(), style))
            .collect(),
        Raster::Vector => vec![PathElement::new(points, style)],
    }
}

/// A panel's data, kept (as shares of the axes) to count how much of it
/// each corner's legend box would hide, so the legend goes where it hides
/// the least (a growing line leaves the upper left empty, a flat high one
/// the lower corners). Bounded: the lines are already decimated to the
/// chart's pixel columns.
pub(super) struct Corners {
    x: (f64, f64),
    y: (f64, f64),
    points: Vec<(f64, f64)>,
}

impl Corners {
    /// For a panel spanning `x` and `y` in data coordinates.
    pub(super) fn new(x: (f64, f64), y: (f64, f64)) -> Corners {
        Corners {
            x,
            y,
            points: Vec::new(),
        }
    }

    /// Keeps the points of a line.
    pub(super) fn add(&mut self, points: impl IntoIterator<Item = (f64, f64)>) {
        let share = |(lo, hi): (f64, f64), v: f64| {
            if hi > lo {
                (v - lo) / (hi - lo)
            } else {
                0.5
            }
        };
        let (x, y) = (self.x, self.y);
        self.points
            .extend(points.into_iter().map(|(a, b)| (share(x, a), share(y, b))));
    }

    /// Keeps a filled area from the axis up to each point.
    pub(super) fn add_filled(&mut self, points: impl IntoIterator<Item = (f64, f64)>) {
        let floor = self.y.0;
        for (x, y) in points {
            self.add((0..=8).map(|k| (x, floor + (y - floor) * f64::from(k) / 8.0)));
        }
    }

    /// The fewest points any corner's box of `share` holds.
    pub(super) fn least(&self, share: (f64, f64)) -> usize {
        self.counts(share)
            .into_iter()
            .map(|(_, n)| n)
            .min()
            .unwrap_or(0)
    }

    /// The corner whose box of `share` (width, height, as shares of the
    /// plot) holds the fewest points (upper left on a tie).
    pub(super) fn emptiest(&self, share: (f64, f64)) -> SeriesLabelPosition {
        let corners = self.counts(share);
        let best = (0..4).min_by_key(|&k| corners[k].1).unwrap_or(0);
        corners[best].0.clone()
    }

    fn counts(&self, share: (f64, f64)) -> [(SeriesLabelPosition, usize); 4] {
        let (w, h) = share;
        let count = |left: bool, upper: bool| {
            self.points
                .iter()
                .filter(|(x, y)| {
                    let in_x = if left { *x <= w } else { *x >= 1.0 - w };
                    let in_y = if upper { *y >= 1.0 - h } else { *y <= h };
                    in_x && in_y
                })
                .count()
        };
        [
            (SeriesLabelPosition::UpperLeft, count(true, true)),
            (SeriesLabelPosition::UpperRight, count(false, true)),
            (SeriesLabelPosition::LowerLeft, count(true, false)),
            (SeriesLabelPosition::LowerRight, count(false, false)),
        ]
    }
}

/// The share of a plot of `plot` pixels (width, height) a legend of
/// `entries` rows, the `longest` label (characters) at `font_size`, takes:
/// a row per entry, the swatch, the text and the box's padding.
fn legend_share(entries: usize, longest: usize, font_size: u32, plot: (f64, f64)) -> (f64, f64) {
    let font = f64::from(font_size);
    let box_w = 40.0 + longest as f64 * font * 0.6 + 10.0;
    let box_h = entries as f64 * (font + 6.0) + 20.0;
    (
        (box_w / plot.0.max(1.0)).min(1.0),
        (box_h / plot.1.max(1.0)).min(1.0),
    )
}

/// The legend box, in the corner of the panel where it hides the least
/// data: its size estimated from its `entries` and `longest` label (in
/// characters) at `font_size`.
pub(super) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    font_size: u32,
    corners: &Corners,
    entries: usize,
    longest: usize,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let share = legend_share(entries, longest, font_size, (f64::from(w), f64::from(h)));
    chart
        .configure_series_labels()
        .position(corners.emptiest(share))
        .label_font((FAMILY, font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::{tick_time, Corners};
    use plotters::prelude::SeriesLabelPosition;

    #[test]
    fn the_legend_goes_where_the_data_is_not() {
        fn line(f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
            (0..=100).map(|k| (f64::from(k), f(f64::from(k)))).collect()
        }
        let share = (0.4, 0.4);
        // Growing from the lower left to the upper right: upper left free.
        let mut c = Corners::new((0.0, 100.0), (0.0, 100.0));
        c.add(line(|x| x));
        assert!(matches!(c.emptiest(share), SeriesLabelPosition::UpperLeft));
        // Starts high and falls: the upper left holds data, the upper right not.
        let mut c = Corners::new((0.0, 100.0), (0.0, 100.0));
        c.add(line(|x| 100.0 - x));
        assert!(matches!(c.emptiest(share), SeriesLabelPosition::UpperRight));
        // Flat along the top: a lower corner.
        let mut c = Corners::new((0.0, 100.0), (0.0, 100.0));
        c.add(line(|_| 95.0));
        assert!(matches!(c.emptiest(share), SeriesLabelPosition::LowerLeft));
        // A filled area covers what is under it: high on the left, empty
        // on the right, so the upper right.
        let mut c = Corners::new((0.0, 100.0), (0.0, 100.0));
        c.add_filled(line(|x| if x < 50.0 { 90.0 } else { 30.0 }));
        assert!(matches!(c.emptiest(share), SeriesLabelPosition::UpperRight));
        // A small box fits above a line that a large box would cover: a
        // line at 25% along the bottom and one rising to 90% at the
        // right leave the upper left free for a short, narrow legend.
        let mut c = Corners::new((0.0, 100.0), (0.0, 100.0));
        c.add(line(|_| 25.0));
        c.add(line(|x| 40.0 + x / 2.0));
        assert!(matches!(
            c.emptiest((0.2, 0.2)),
            SeriesLabelPosition::UpperLeft
        ));
    }

    #[test]
    fn time_ticks_read_as_times() {
        let ticks: Vec<String> = [0.0, 0.5, 30.0, 90.0, 1200.0, 3600.0, 5400.0, 25_200.0]
            .into_iter()
            .map(tick_time)
            .collect();
        assert_eq!(
            ticks,
            ["0", "0.5s", "30s", "1m30s", "20m", "1h", "1h30m", "7h"]
        );
    }
}
