//! The live view of a running soak test.
//!
//! On a terminal, a progress display (indicatif) redrawn in place: elapsed
//! and remaining time, current memory, the slope so far with its interval,
//! the verdict so far and an estimate of when it will be decided, and the
//! load. Off a terminal (a CI log), the same facts as one plain line per
//! `--status-every`, without escape codes. `--quiet` shows neither.
//!
//! The facts come from two places: the sampler thread publishes a
//! [`Snapshot`] (at most once a second), and the run loop reads the
//! workloads' counters each stats interval ([`IntervalLoad`]). Rendering is
//! plain functions of those, so it is tested without a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{Judgement, Metric, Verdict};
use crate::sampler::Snapshot;
use crate::units::{format_elapsed, format_mb, Rate};
use crate::workload::IntervalLoad;

/// How the user asked to be told about the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// No live view, no status lines, no notes: errors and the verdict only.
    pub quiet: bool,
    /// Time between plain status lines off a terminal.
    pub status_every: Duration,
}

/// Where the verdict is heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outlook {
    /// Still in warm-up; seconds left.
    WarmingUp(f64),
    /// Too few judged samples for a slope yet.
    Gathering,
    /// The interval already excludes the limit (or the ceiling was crossed).
    Decided(Verdict),
    /// Expected to be decided in this many seconds, heading for the verdict.
    DecidesIn(f64, Verdict),
    /// Not expected to be decided before the planned end.
    NotByTheEnd,
    /// The slope sits on the limit: no estimate.
    Unknown,
}

/// Where the verdict is heading, with an estimate of when it is decided.
///
/// The estimate assumes the current slope holds and that the interval
/// narrows as (judged time)^-3/2, as a trend's standard error does once the
/// judged window is long against the noise's memory. It is a guide for the
/// person watching, never used for the verdict itself.
pub(crate) fn outlook(j: &Judgement, limit_bph: f64, warmup_s: f64, duration_s: f64) -> Outlook {
    let elapsed = j.last_elapsed_s;
    if j.ceiling_crossed {
        return Outlook::Decided(Verdict::Fail);
    }
    if elapsed < warmup_s {
        return Outlook::WarmingUp(warmup_s - elapsed);
    }
    let Some(g) = &j.growth else {
        return Outlook::Gathering;
    };
    if j.verdict != Verdict::Inconclusive {
        return Outlook::Decided(j.verdict);
    }
    let [lo, hi] = g.ci95_bytes_per_hour;
    let slope = g.slope_bytes_per_hour;
    let (half_width, gap, heading) = if slope < limit_bph {
        (hi - slope, limit_bph - slope, Verdict::Pass)
    } else {
        (slope - lo, slope - limit_bph, Verdict::Fail)
    };
    // The window the judgement itself used (with `--warmup auto`, the
    // warm-up it found), so the projection is of the same fit.
    let judged = elapsed - j.warmup_s;
    if gap <= 0.0 || half_width <= 0.0 || judged <= 0.0 {
        return Outlook::Unknown;
    }
    let needed = judged * (half_width / gap).powf(2.0 / 3.0);
    if j.warmup_s + needed > duration_s {
        Outlook::NotByTheEnd
    } else {
        Outlook::DecidesIn((needed - judged).max(0.0), heading)
    }
}

/// The facts of one status, rendered as up to three lines.
pub(crate) struct Status<'a> {
    /// Seconds since the start of the measured run.
    pub elapsed_s: f64,
    /// Planned measured duration, seconds.
    pub duration_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// The growth limit, for its unit.
    pub limit: &'a Rate,
    /// What the sampler saw last, if anything yet.
    pub sampler: Option<&'a Snapshot>,
    /// The load over the last interval.
    pub load: &'a [IntervalLoad],
}

impl Status<'_> {
    /// Time and memory: `12m03s of 2h00m (1h47m left) · anon 512.3 MB, rss 640.1 MB, 5 processes`.
    pub(crate) fn progress_line(&self) -> String {
        let mut line = format!(
            "{} of {} ({} left)",
            format_elapsed(self.elapsed_s),
            format_elapsed(self.duration_s),
            format_elapsed(self.duration_s - self.elapsed_s)
        );
        if let Some(v) = self.sampler {
            let rss = v.rss_bytes.map(|r| format!("rss {}", format_mb(r as f64)));
            match (v.metric_bytes, rss) {
                (Some(b), Some(rss)) if v.metric != Metric::Rss => {
                    line.push_str(&format!(" · {} {}, {rss}", v.metric, format_mb(b as f64)))
                }
                (Some(b), None) => {
                    line.push_str(&format!(" · {} {}", v.metric, format_mb(b as f64)))
                }
                (_, Some(rss)) => line.push_str(&format!(" · {rss}")),
                (None, None) => {}
            }
            line.push_str(&format!(
                ", {} process{}",
                v.processes,
                if v.processes == 1 { "" } else { "es" }
            ));
        }
        line
    }

    /// The judgement so far: slope ± interval against the limit, and the outlook.
    pub(crate) fn verdict_line(&self) -> String {
        let unit = &self.limit.unit;
        let Some(v) = self.sampler else {
            return "waiting for the first sample".into();
        };
        let j = &v.judgement;
        // A fleet's sum is held live to the limit times its members; each
        // member to the limit itself at the end (one growing member can
        // fail a fleet whose sum passes).
        let (limit, against) = match v.fleet_limit_bytes_per_hour {
            Some(fleet) => (
                fleet,
                format!(
                    "vs {} × limit {} (each series is held to {} at the end)",
                    v.processes,
                    unit.format(fleet),
                    unit.format(self.limit.bytes_per_hour)
                ),
            ),
            None => (
                self.limit.bytes_per_hour,
                format!("vs limit {}", unit.format(self.limit.bytes_per_hour)),
            ),
        };
        let slope = j.growth.as_ref().map(|g| {
            format!(
                "{}slope {} (95% CI {} … {}) {against}",
                if v.fleet_limit_bytes_per_hour.is_some() {
                    format!("sum of {} series: ", v.processes)
                } else {
                    String::new()
                },
                signed(&unit.format(g.slope_bytes_per_hour)),
                signed(&unit.format_number(g.ci95_bytes_per_hour[0])),
                signed(&unit.format(g.ci95_bytes_per_hour[1])),
            )
        });
        let outlook = match outlook(j, limit, self.warmup_s, self.duration_s) {
            Outlook::WarmingUp(left) => format!("warming up, {} left", format_elapsed(left)),
            Outlook::Gathering => "gathering samples for a slope".into(),
            Outlook::Decided(Verdict::Fail) if j.ceiling_crossed => {
                "fail: RSS ceiling crossed".into()
            }
            Outlook::Decided(verdict) => format!("{verdict} so far"),
            // Close to the end, no promise beyond it.
            Outlook::DecidesIn(_, heading) if self.duration_s - self.elapsed_s < 60.0 => {
                format!("inconclusive so far, heading for {heading} before the end")
            }
            // Early estimates are rough: under a minute reads as such.
            Outlook::DecidesIn(left, heading) if left < 60.0 => {
                format!("inconclusive so far, heading for {heading} within ~1m")
            }
            Outlook::DecidesIn(left, heading) => format!(
                "inconclusive so far, heading for {heading} in ~{}",
                format_elapsed(left)
            ),
            Outlook::NotByTheEnd => "inconclusive so far; may not be decided by the end".into(),
            Outlook::Unknown => "inconclusive so far; slope at the limit".into(),
        };
        match slope {
            Some(s) => format!("{s} · {outlook}"),
            None => outlook,
        }
    }

    /// The load: `collab 120.0 msg/s, 0 errors · agent 4.0 req/s, 2 errors (17 total)`.
    pub(crate) fn load_line(&self) -> Option<String> {
        if self.load.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .load
            .iter()
            .map(|l| {
                let unit = l.kind.rate_unit();
                let mut part = format!(
                    "{} {:.1} {unit}, {} error{}",
                    l.name,
                    l.sent_per_s,
                    l.errors,
                    if l.errors == 1 { "" } else { "s" }
                );
                if l.errors_total > l.errors {
                    part.push_str(&format!(" ({} total)", l.errors_total));
                }
                part
            })
            .collect();
        Some(format!("load: {}", parts.join(" · ")))
    }

    /// Everything on one line, for logs.
    pub(crate) fn plain_line(&self) -> String {
        let mut line = format!(
            "memsoak: {} | {}",
            self.progress_line(),
            self.verdict_line()
        );
        if let Some(load) = self.load_line() {
            line.push_str(" | ");
            line.push_str(&load);
        }
        line
    }
}

/// Puts a `+` before a positive number, so growth reads as growth.
fn signed(text: &str) -> String {
    let number = text.split(' ').next().unwrap_or_default();
    match number.parse::<f64>() {
        Ok(v) if v > 0.0 => format!("+{text}"),
        _ => text.to_string(),
    }
}

/// The progress display, if one is drawn now. Log lines and notes are
/// printed around it ([`suspend`]) so they do not tear the display.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `f` (which writes to the terminal) with the progress display
/// hidden, if there is one.
pub(crate) fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let bar = ACTIVE.lock().ok().and_then(|a| a.clone());
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Prints a note to stderr without tearing the progress display.
pub(crate) fn note(text: &str) {
    suspend(|| {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    });
}

/// The live view of one run.
pub(crate) struct LiveView {
    mode: Mode,
    duration: Duration,
    every: Duration,
    last_line_at: Option<f64>,
}

enum Mode {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

impl LiveView {
    /// Chooses the display: a progress display when stderr is a terminal
    /// (and `TERM` is not `dumb`), plain lines otherwise, nothing when quiet.
    pub(crate) fn start(options: Options, duration: Duration) -> LiveView {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let mode = if options.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !dumb {
            let bar = ProgressBar::with_draw_target(
                Some(duration.as_millis() as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            // Colours go through `console`, which honours NO_COLOR.
            let style = ProgressStyle::with_template(
                "{spinner:.green} [{bar:24.cyan/blue}] {prefix}\n  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            if let Ok(mut active) = ACTIVE.lock() {
                *active = Some(bar.clone());
            }
            Mode::Bar(bar)
        } else {
            Mode::Lines
        };
        LiveView {
            mode,
            duration,
            every: options.status_every,
            last_line_at: None,
        }
    }

    /// How often [`LiveView::update`] has something to show: every second
    /// for the progress display, every status period for plain lines,
    /// never when quiet (so a quiet or logged run is not woken for it).
    pub(crate) fn refresh_every(&self) -> Option<Duration> {
        match self.mode {
            Mode::Bar(_) => Some(Duration::from_secs(1)),
            Mode::Lines => Some(self.every.max(Duration::from_secs(1))),
            Mode::Quiet => None,
        }
    }

    /// Shows the current status: redraws the display, or prints a plain
    /// line when one is due (the first after the first interval).
    pub(crate) fn update(&mut self, status: &Status<'_>) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => {
                let pos = (status.elapsed_s * 1000.0).max(0.0) as u64;
                bar.set_position(pos.min(self.duration.as_millis() as u64));
                bar.set_prefix(status.progress_line());
                let mut msg = status.verdict_line();
                if let Some(load) = status.load_line() {
                    msg.push_str("\n  ");
                    msg.push_str(&load);
                }
                bar.set_message(msg);
            }
            Mode::Lines => {
                let every = self.every.as_secs_f64();
                let due = match self.last_line_at {
                    Some(last) => status.elapsed_s >= last + every,
                    None => status.elapsed_s >= every,
                };
                if due {
                    // Keep the cadence: the next line is due a whole period
                    // after this one's slot, not after a late print.
                    let slot = (status.elapsed_s / every).floor() * every;
                    self.last_line_at = Some(slot);
                    note(&status.plain_line());
                }
            }
        }
    }

    /// Removes the display before the final summary is printed.
    pub(crate) fn finish(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
        }
        self.mode = Mode::Quiet;
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Growth;
    use crate::workload::WorkloadKind;

    fn judgement(elapsed: f64, slope: f64, ci: [f64; 2], verdict: Verdict) -> Judgement {
        Judgement {
            verdict,
            reasons: Vec::new(),
            growth: Some(Growth {
                slope_bytes_per_hour: slope,
                ci95_bytes_per_hour: ci,
                intercept_bytes: 1e8,
                blocks: 48,
                samples_per_block: 10,
                variance_inflation: 1.0,
                noise: crate::analysis::NoiseModel::Stationary,
            }),
            samples: 500,
            samples_judged: 480,
            peak_rss_bytes: Some(2e8 as u64),
            peak_rss_elapsed_s: Some(400.0),
            last_elapsed_s: elapsed,
            warmup_s: 60.0,
            held_until_s: None,
            ceiling_crossed: false,
        }
    }

    const MB: f64 = 1e6;

    #[test]
    fn outlook_follows_the_interval() {
        let limit = 10.0 * MB;
        // Warm-up not over.
        let mut j = judgement(20.0, 0.0, [0.0, 0.0], Verdict::Inconclusive);
        j.growth = None;
        assert_eq!(outlook(&j, limit, 60.0, 3600.0), Outlook::WarmingUp(40.0));
        assert_eq!(outlook(&j, limit, 10.0, 3600.0), Outlook::Gathering);
        // Decided either way.
        let j = judgement(600.0, 2.0 * MB, [1.0 * MB, 3.0 * MB], Verdict::Pass);
        assert_eq!(
            outlook(&j, limit, 60.0, 3600.0),
            Outlook::Decided(Verdict::Pass)
        );
        // Heading for pass: half-width 16 MB/h against a gap of 8 MB/h after
        // 540 s judged needs 540 × 2^(2/3) ≈ 857 s judged: ~317 s more.
        let j = judgement(
            600.0,
            2.0 * MB,
            [-14.0 * MB, 18.0 * MB],
            Verdict::Inconclusive,
        );
        match outlook(&j, limit, 60.0, 3600.0) {
            Outlook::DecidesIn(left, Verdict::Pass) => {
                assert!((left - 317.2).abs() < 1.0, "{left}")
            }
            other => panic!("{other:?}"),
        }
        // Heading for fail, the same way round.
        let j = judgement(
            600.0,
            18.0 * MB,
            [2.0 * MB, 34.0 * MB],
            Verdict::Inconclusive,
        );
        assert!(matches!(
            outlook(&j, limit, 60.0, 3600.0),
            Outlook::DecidesIn(_, Verdict::Fail)
        ));
        // Needs more time than the run has.
        assert_eq!(outlook(&j, limit, 60.0, 700.0), Outlook::NotByTheEnd);
        // The projection counts from the warm-up the judgement used (found
        // in the data with `--warmup auto`), not the planned one.
        let mut found = j.clone();
        found.warmup_s = 300.0;
        match outlook(&found, limit, 60.0, 3600.0) {
            Outlook::DecidesIn(left, Verdict::Fail) => {
                // 300 s judged × 2^(2/3) ≈ 476 s: ~176 s more.
                assert!((left - 176.2).abs() < 1.0, "{left}")
            }
            other => panic!("{other:?}"),
        }
        // On the limit: no estimate.
        let j = judgement(600.0, limit, [0.0, 2.0 * limit], Verdict::Inconclusive);
        assert_eq!(outlook(&j, limit, 60.0, 3600.0), Outlook::Unknown);
        // The ceiling decides at once.
        let mut j = judgement(20.0, 0.0, [0.0, 0.0], Verdict::Fail);
        j.ceiling_crossed = true;
        assert_eq!(
            outlook(&j, limit, 60.0, 3600.0),
            Outlook::Decided(Verdict::Fail)
        );
    }

    #[test]
    fn near_the_end_the_outlook_promises_nothing_beyond_it() {
        let limit = Rate::parse("10MB/h").unwrap();
        // Heading for fail in ~60 s, with 15 s of the run left.
        let view = Snapshot {
            metric: Metric::Anon,
            metric_bytes: Some(1),
            rss_bytes: Some(1),
            processes: 1,
            judgement: judgement(
                45.0,
                30.0 * MB,
                [5.0 * MB, 55.0 * MB],
                Verdict::Inconclusive,
            ),
            fleet_limit_bytes_per_hour: None,
        };
        let status = Status {
            elapsed_s: 45.0,
            duration_s: 60.0,
            warmup_s: 20.0,
            limit: &limit,
            sampler: Some(&view),
            load: &[],
        };
        let mut early = view.judgement.clone();
        early.warmup_s = 20.0;
        let view = Snapshot {
            judgement: early,
            ..view
        };
        let status = Status {
            sampler: Some(&view),
            ..status
        };
        let line = status.verdict_line();
        assert!(line.ends_with("heading for fail before the end"), "{line}");
        assert!(!line.contains("~1m"), "{line}");
    }

    #[test]
    fn status_lines_say_what_a_person_needs() {
        let limit = Rate::parse("10MB/h").unwrap();
        let view = Snapshot {
            metric: Metric::Anon,
            metric_bytes: Some(512_300_000),
            rss_bytes: Some(640_100_000),
            processes: 5,
            judgement: judgement(723.0, 3.2 * MB, [1.1 * MB, 5.3 * MB], Verdict::Pass),
            fleet_limit_bytes_per_hour: None,
        };
        let load = [
            IntervalLoad {
                name: "editors".into(),
                kind: WorkloadKind::Collab,
                sent_per_s: 120.0,
                errors: 0,
                errors_total: 0,
            },
            IntervalLoad {
                name: "agents".into(),
                kind: WorkloadKind::Agent,
                sent_per_s: 4.0,
                errors: 2,
                errors_total: 17,
            },
        ];
        let status = Status {
            elapsed_s: 723.0,
            duration_s: 7200.0,
            warmup_s: 600.0,
            limit: &limit,
            sampler: Some(&view),
            load: &load,
        };
        assert_eq!(
            status.progress_line(),
            "12m03s of 2h00m (1h47m left) · anon 512.3 MB, rss 640.1 MB, 5 processes"
        );
        assert_eq!(
            status.verdict_line(),
            "slope +3.20 MB/h (95% CI +1.10 … +5.30 MB/h) vs limit 10.0 MB/h · pass so far"
        );
        assert_eq!(
            status.load_line().unwrap(),
            "load: editors 120.0 msg/s, 0 errors · agents 4.0 req/s, 2 errors (17 total)"
        );
        // Five series of a query: the sum against five times the limit,
        // said so, and the outlook against that.
        let fleet = Snapshot {
            fleet_limit_bytes_per_hour: Some(50.0 * MB),
            judgement: judgement(723.0, 30.0 * MB, [25.0 * MB, 35.0 * MB], Verdict::Pass),
            ..view.clone()
        };
        assert_eq!(
            Status {
                sampler: Some(&fleet),
                ..status
            }
            .verdict_line(),
            "sum of 5 series: slope +30.0 MB/h (95% CI +25.0 … +35.0 MB/h) vs 5 × limit 50.0 MB/h (each series is held to 10.0 MB/h at the end) · pass so far"
        );
        let line = status.plain_line();
        assert!(line.starts_with("memsoak: 12m03s of 2h00m"), "{line}");
        assert!(!line.contains('\x1b') && !line.contains('\n'), "{line}");
        // Before the first sample, and without load.
        let early = Status {
            sampler: None,
            load: &[],
            ..status
        };
        assert_eq!(early.verdict_line(), "waiting for the first sample");
        assert_eq!(early.load_line(), None);
    }

    #[test]
    fn short_durations_read_at_a_glance() {
        assert_eq!(format_elapsed(45.4), "45s");
        assert_eq!(format_elapsed(723.0), "12m03s");
        assert_eq!(format_elapsed(6420.0), "1h47m");
        assert_eq!(format_elapsed(-3.0), "0s");
    }
}
