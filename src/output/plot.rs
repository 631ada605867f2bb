//! The plotting toolkit every chart of memsoak draws with (plotters, as
//! PNG and SVG from the same drawing code): the font compiled in, the time
//! axis and its ticks, the palette, data lines that render the same on
//! both backends, and legends placed where they hide the least data. The
//! charts themselves (`charts`, `attribution_chart`) only say what to draw.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (plotters'
//! `ab_glyph` backend), so charts render on machines without any fonts.

use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub(super) const FAMILY: &str = "sans-serif";

pub(super) fn register_font() {
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
    pub(super) label: &'static str,
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

/// Line colours: told apart with the common colour-vision deficiencies
/// (blue, brown-orange, bluish green, purple, after Okabe–Ito) and each at
/// least 3:1 against white, as WCAG asks of graphics (the orange they
/// replace was 2.5:1).
pub(super) const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(153, 79, 0),
    RGBColor(0, 121, 96),
    RGBColor(106, 61, 154),
];

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
pub(super) fn tick_time(secs: f64) -> String {
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
pub(super) fn tick(v: f64) -> String {
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
pub(super) enum Raster {
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
pub(super) fn line(
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
pub(super) fn legend_share(
    entries: usize,
    longest: usize,
    font_size: u32,
    plot: (f64, f64),
) -> (f64, f64) {
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
