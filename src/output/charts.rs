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

use super::series::{Decimated, RunSeries};
use super::Summary;
use crate::analysis::Metric;

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub(super) const FAMILY: &str = "sans-serif";

/// Chart size in pixels.
pub(crate) const WIDTH: u32 = 1200;
/// Chart height in pixels.
pub(crate) const HEIGHT: u32 = 1000;
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

/// Writes `memory.png` and `memory.svg` into `dir`; returns the SVG text
/// (for `report.html` to inline).
pub(crate) fn write(dir: &Path, summary: &Summary, series: &RunSeries) -> anyhow::Result<String> {
    check_chartable(series)?;
    render_both(
        dir,
        "memory",
        (WIDTH, HEIGHT),
        |root| draw(root, summary, series, Raster::Bitmap),
        |root| draw(root, summary, series, Raster::Vector),
    )
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
    let (top, rest) = root.split_vertically(HEIGHT / 2);
    let lower = rest.split_evenly((3, 1));

    memory_panel(&top, s, series, axis, x_max, raster).map_err(err)?;
    let panels: [Panel; 3] = [
        (
            "Open files and threads",
            "count",
            ["fds", "threads"]
                .iter()
                .filter_map(|c| series.sample(c).map(|d| (c.to_string(), d)))
                .collect(),
        ),
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
    ];
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
    for (col, label) in [
        (judged, format!("{} (judged)", s.metric)),
        (Metric::Rss.column(), "rss".into()),
        (Metric::Pss.column(), "pss".into()),
        (Metric::Anon.column(), "anon".into()),
    ] {
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
    if let Some(c) = s.max_rss_bytes {
        y_hi = y_hi.max(c as f64);
    }
    if y_lo > y_hi {
        (y_lo, y_hi) = (0.0, 1.0);
    }
    let pad = ((y_hi - y_lo) * 0.1).max(0.5e6);
    let (y_lo, y_hi) = (((y_lo - pad) / mb).max(0.0), (y_hi + pad) / mb);

    let title = format!(
        "Memory: {} {}",
        s.verdict.to_string().to_uppercase(),
        s.growth
            .as_ref()
            .map_or(String::new(), |g| format!("— {}", g.display))
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, y_lo..y_hi)?;
    mesh(&mut chart, axis, "MB", 14)?;

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
    if let Some(c) = s.max_rss_bytes {
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
    legend(&mut chart, 13)?;
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
    let y_hi = if y_hi > 0.0 { y_hi * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_hi)?;
    mesh(&mut chart, axis, unit, 12)?;
    for (i, (label, d)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = d
            .points()
            .into_iter()
            .map(|(t, y)| (t / axis.divisor, y))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    legend(&mut chart, 12)?;
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
    for (i, (label, d)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = d
            .points()
            .into_iter()
            .map(|(t, y)| (t / axis.divisor, y / 1e6))
            .collect();
        chart
            .draw_series(line(pts, color.stroke_width(2), raster))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    legend(&mut chart, 13).map_err(err)?;
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
    chart
        .configure_mesh()
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

/// The legend box, upper left, on every panel.
pub(super) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    font_size: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::tick_time;

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
