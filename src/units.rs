//! Human units on the command line and in profiles: durations (`90s`, `30m`,
//! `8h`), sizes (`500MB`, `512MiB`) and growth rates (`10MB/h`, `2GB/h`).
//!
//! Sizes follow SI and IEC strictly: `MB` is 10^6 bytes, `MiB` is 2^20 bytes
//! (parsed by the `bytesize` crate). Durations are parsed by `humantime`. A
//! rate remembers the unit the user wrote so that memsoak can answer in it:
//! a limit given as `2GB/h` is reported as `1.93 GB/h`, not in bytes/second.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// A value that is not the unit it should be: the message quotes it and
/// shows the forms that are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("invalid duration '{text}': {why} (examples: 90s, 30m, 8h)")]
    Duration {
        /// As given.
        text: String,
        /// What is wrong.
        why: String,
    },
    /// A duration of zero where one is needed.
    #[error("duration '{0}' must be greater than zero")]
    ZeroDuration(String),
    /// Not a size.
    #[error("invalid size '{text}': {why}")]
    Size {
        /// As given.
        text: String,
        /// What is wrong.
        why: String,
    },
    /// Not a rate.
    #[error("invalid rate '{text}': {why} (examples: {examples})")]
    Rate {
        /// As given.
        text: String,
        /// What is wrong.
        why: String,
        /// Rates of the kind expected.
        examples: &'static str,
    },
    /// Not a warm-up (a duration or `auto`).
    #[error("{0}, or auto")]
    Warmup(Box<UnitError>),
    /// Not a share.
    #[error("invalid share '{text}': {why} (examples: 5%, 0.5%, 100%)")]
    Share {
        /// As given.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// Parses a human duration such as `90s`, `30m`, `1h 30m` or `8h`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = |why: String| UnitError::Duration {
        text: text.to_string(),
        why,
    };
    if text.trim_start().starts_with('-') {
        return Err(bad("a duration cannot be negative".into()));
    }
    humantime::parse_duration(text.trim()).map_err(|e| bad(e.to_string()))
}

/// Parses a duration that must be longer than zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, UnitError> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(UnitError::ZeroDuration(text.to_string()));
    }
    Ok(d)
}

/// Parses a size such as `500MB` (10^6 bytes each) or `512MiB` (2^20 bytes each).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = |why: String| UnitError::Size {
        text: text.to_string(),
        why,
    };
    let t = text.trim();
    if t.starts_with('-') {
        return Err(bad("must not be negative".into()));
    }
    t.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| bad(format!("{e} (examples: 500MB, 512MiB, 2GB)")))
}

/// A span of time as every output writes it: `45s`, `12m03s`, `1h47m`
/// (the terminal, the reports and the live view alike).
pub fn format_elapsed(secs: f64) -> String {
    let s = if secs.is_finite() {
        secs.max(0.0).round() as u64
    } else {
        0
    };
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Formats a byte count in MB (10^6), the unit the README and reports use.
pub fn format_mb(bytes: f64) -> String {
    let mb = bytes / 1e6;
    if !mb.is_finite() || mb.abs() >= 1e9 {
        format!("{mb:.3e} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

/// The unit a rate was written in, kept so results are printed the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct RateUnit {
    /// Size part as the user wrote it, e.g. `MB`.
    pub size_label: String,
    /// Bytes in one size unit.
    pub size_bytes: f64,
    /// Time part as the user wrote it, e.g. `h`.
    pub time_label: String,
    /// Seconds in one time unit.
    pub time_secs: f64,
}

impl Default for RateUnit {
    fn default() -> Self {
        RateUnit {
            size_label: "MB".into(),
            size_bytes: 1e6,
            time_label: "h".into(),
            time_secs: 3600.0,
        }
    }
}

impl RateUnit {
    /// Converts bytes/hour into this unit's number.
    pub fn from_bytes_per_hour(&self, bytes_per_hour: f64) -> f64 {
        bytes_per_hour / 3600.0 * self.time_secs / self.size_bytes
    }

    /// Formats bytes/hour in this unit with a sensible number of decimals.
    pub fn format(&self, bytes_per_hour: f64) -> String {
        format!(
            "{} {}/{}",
            self.format_number(bytes_per_hour),
            self.size_label,
            self.time_label
        )
    }

    /// The number alone, as [`RateUnit::format`] writes it.
    pub fn format_number(&self, bytes_per_hour: f64) -> String {
        let v = self.from_bytes_per_hour(bytes_per_hour);
        // A number no person reads digit by digit (a corrupt recording):
        // scientific notation, not hundreds of digits.
        if !v.is_finite() || v.abs() >= 1e9 {
            return format!("{v:.3e}");
        }
        let decimals = if v.abs() >= 100.0 {
            0
        } else if v.abs() >= 10.0 {
            1
        } else {
            2
        };
        // Avoid printing "-0.00".
        let v = if format!("{v:.decimals$}")
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            0.0
        } else {
            v
        };
        format!("{v:.decimals$}")
    }
}

/// A memory growth rate, stored as bytes per hour, with the unit it was given in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// The rate in bytes per hour.
    pub bytes_per_hour: f64,
    /// The unit the user wrote, for output.
    pub unit: RateUnit,
}

impl Rate {
    /// Parses `10MB/h`, `2 GB/h`, `512KiB/min`, `100kB/s`.
    pub fn parse(text: &str) -> Result<Rate, UnitError> {
        let bad = |why: &str| UnitError::Rate {
            text: text.to_string(),
            why: why.to_string(),
            examples: "10MB/h, 2GB/h, 512KiB/min",
        };
        let (size, time) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("expected SIZE/TIME"))?;
        let size = size.trim();
        let split = size
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
            .unwrap_or(size.len());
        let (number, label) = size.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| bad("the amount is not a number"))?;
        if !number.is_finite() || number < 0.0 {
            return Err(bad("the amount must not be negative"));
        }
        let label = label.trim();
        let label = if label.is_empty() { "B" } else { label };
        let size_bytes =
            parse_size(&format!("1{label}")).map_err(|_| bad("unknown size unit"))? as f64;
        let time = time.trim();
        let time_secs = per_time(time).map_err(&bad)?;
        let unit = RateUnit {
            size_label: label.to_string(),
            size_bytes,
            time_label: time.to_string(),
            time_secs,
        };
        let bytes_per_hour = number * size_bytes * 3600.0 / time_secs;
        if !bytes_per_hour.is_finite() {
            return Err(bad("the amount is too large"));
        }
        Ok(Rate {
            bytes_per_hour,
            unit,
        })
    }

    /// The rate as it would be typed, e.g. `10MB/h`, for storing in files.
    pub fn spec(&self) -> String {
        let v = self.unit.from_bytes_per_hour(self.bytes_per_hour);
        format!("{v}{}/{}", self.unit.size_label, self.unit.time_label)
    }

    /// Bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes_per_hour / 3600.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.unit.format(self.bytes_per_hour))
    }
}

/// An event rate such as `"2/s"`, `"120/min"` or `"0.5/s"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerSecond(pub f64);

impl PerSecond {
    /// Parses `COUNT/TIME`.
    pub fn parse(text: &str) -> Result<PerSecond, UnitError> {
        let bad = |why: &str| UnitError::Rate {
            text: text.to_string(),
            why: why.to_string(),
            examples: "2/s, 120/min",
        };
        let (count, time) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("expected COUNT/TIME"))?;
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| bad("the count is not a number"))?;
        if !count.is_finite() || count <= 0.0 {
            return Err(bad("the count must be greater than zero"));
        }
        let secs = per_time(time.trim()).map_err(&bad)?;
        let rate = count / secs;
        if !(PerSecond::MIN..=PerSecond::MAX).contains(&rate) {
            return Err(bad("it must be between 1/day and 1000000/s"));
        }
        Ok(PerSecond(rate))
    }

    /// Slowest rate accepted: one a day.
    pub const MIN: f64 = 1.0 / 86_400.0;
    /// Fastest rate accepted: a million a second.
    pub const MAX: f64 = 1e6;

    /// The time between two events at `rate` per second, kept within
    /// 1 µs … 1 year whatever the rate (a total rate split among many
    /// clients can fall below [`PerSecond::MIN`]).
    pub fn period(rate: f64) -> Duration {
        const YEAR: Duration = Duration::from_secs(365 * 86_400);
        Duration::try_from_secs_f64(1.0 / rate)
            .unwrap_or(YEAR)
            .clamp(Duration::from_micros(1), YEAR)
    }
}

impl<'de> Deserialize<'de> for PerSecond {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, PerSecond::parse)
    }
}

/// A share of a whole such as `"5%"`: a percentage from 0% to 100%, kept
/// as a fraction (0.05).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Share(pub f64);

impl Share {
    /// Parses `N%`, 0 ≤ N ≤ 100.
    pub fn parse(text: &str) -> Result<Share, UnitError> {
        let bad = |why| UnitError::Share {
            text: text.to_string(),
            why,
        };
        let number = text
            .trim()
            .strip_suffix('%')
            .ok_or_else(|| bad("expected a percentage ending in %"))?;
        let percent: f64 = number
            .trim()
            .parse()
            .map_err(|_| bad("not a number before the %"))?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(bad("it must be between 0% and 100%"));
        }
        Ok(Share(percent / 100.0))
    }

    /// As people read it: `5%`, `0.5%`.
    pub fn percent(self) -> String {
        format_percent(self.0)
    }
}

/// A fraction as a percentage with the digits that matter: `5%`, `0.5%`,
/// `5.04%`, `12.3%`, `100%` (so that a value just past a limit never
/// reads as the limit).
pub fn format_percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    let digits = match p.abs() {
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    let text = format!("{p:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{}%", if text == "-0" { "0" } else { text })
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, Share::parse)
    }
}

/// Seconds in the time part of a rate: a bare unit (`h`, `min`, `s`) is one
/// of it; a duration (`5m`, `2s`, `1h 30m`) is read whole. Zero is refused.
fn per_time(time: &str) -> Result<f64, &'static str> {
    let text = if time.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        time.to_string()
    } else {
        format!("1{time}")
    };
    let secs = humantime::parse_duration(&text)
        .map_err(|_| "unknown time unit")?
        .as_secs_f64();
    if secs > 0.0 {
        Ok(secs)
    } else {
        Err("the time must be longer than zero")
    }
}

/// Deserialises a human string with `parse`, turning its message into a
/// serde error so the profile loader can point at the value's line.
fn from_text<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, UnitError>,
) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// A duration in a profile: a human string such as `"30m"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, |t| parse_positive_duration(t).map(HumanDuration))
    }
}

/// A duration in a profile that may be zero, such as a warm-up of `"0s"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanDurationOrZero(pub Duration);

impl<'de> Deserialize<'de> for HumanDurationOrZero {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, |t| parse_duration(t).map(HumanDurationOrZero))
    }
}

/// A warm-up as given: a duration, or `auto` (found in the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmup {
    /// This much of the start is not judged.
    Fixed(Duration),
    /// memsoak finds where the warm-up ends (`--warmup auto`).
    Auto,
}

impl Warmup {
    /// Parses `auto` or a duration (`0s` allowed).
    pub fn parse(text: &str) -> Result<Warmup, UnitError> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(Warmup::Auto);
        }
        parse_duration(text)
            .map(Warmup::Fixed)
            .map_err(|e| UnitError::Warmup(Box::new(e)))
    }
}

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, Warmup::parse)
    }
}

/// A size in a profile: a human string such as `"500MB"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanSize(pub u64);

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, |t| parse_size(t).map(HumanSize))
    }
}

/// Stored as typed (`"10MB/h"`), so a summary shows the limit in the
/// user's unit and reads back to the same `Rate`.
impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.spec())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, Rate::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_percentages() {
        assert_eq!(Share::parse("5%").unwrap().0, 0.05);
        assert_eq!(Share::parse(" 0.5 %").unwrap().0, 0.005);
        assert_eq!(Share::parse("100%").unwrap().0, 1.0);
        for bad in ["5", "101%", "-1%", "x%", ""] {
            assert!(Share::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format_percent(0.05), "5%");
        assert_eq!(format_percent(0.0504), "5.04%");
        assert_eq!(format_percent(1.0), "100%");
        assert_eq!(format_percent(0.123_45), "12.3%");
        assert_eq!(format_percent(0.005), "0.5%");
        assert_eq!(format_percent(0.0), "0%");
    }

    #[test]
    fn sizes_are_si_or_iec_as_written() {
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("512MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("1 GB").unwrap(), 1_000_000_000);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("-5MB").is_err());
    }

    #[test]
    fn rates_keep_their_unit() {
        let r = Rate::parse("10MB/h").unwrap();
        assert_eq!(r.bytes_per_hour, 10e6);
        assert_eq!(r.to_string(), "10.0 MB/h");
        let r = Rate::parse("2GB/h").unwrap();
        assert_eq!(r.unit.format(1.5e9), "1.50 GB/h");
        let r = Rate::parse("1KiB/s").unwrap();
        assert_eq!(r.bytes_per_hour, 1024.0 * 3600.0);
        let r = Rate::parse("1 MiB / min").unwrap();
        assert_eq!(r.bytes_per_hour, 1048576.0 * 60.0);
        assert_eq!(Rate::parse(&r.spec()).unwrap(), r);
        assert!(Rate::parse("10MB").is_err());
        assert!(Rate::parse("ten MB/h").is_err());
        assert!(Rate::parse("10XB/h").is_err());
        assert!(Rate::parse("10MB/fortnightly").is_err());
        assert!(Rate::parse("-1MB/h").is_err());
    }

    #[test]
    fn a_number_in_the_time_part_is_read_whole() {
        let r = Rate::parse("10MB/5m").unwrap();
        assert_eq!(r.bytes_per_hour, 120e6);
        assert_eq!(r.spec(), "10MB/5m");
        assert_eq!(Rate::parse("1MB/1h").unwrap().bytes_per_hour, 1e6);
        assert_eq!(Rate::parse("3MB/1h 30m").unwrap().bytes_per_hour, 2e6);
        assert!(Rate::parse("1MB/0s")
            .unwrap_err()
            .to_string()
            .contains("longer than zero"));
        let huge = format!("1{}PB/h", "0".repeat(300));
        assert!(Rate::parse(&huge)
            .unwrap_err()
            .to_string()
            .contains("too large"));
        assert!((PerSecond::parse("6/2s").unwrap().0 - 3.0).abs() < 1e-12);
        assert!(PerSecond::parse("6/0s").is_err());
    }

    #[test]
    fn parse_of_spec_is_identity() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let sizes = ["B", "kB", "KiB", "MB", "MiB", "GB", "GiB"];
        let times = ["s", "min", "m", "h", "d", "5m", "2s", "1h 30m", "90s"];
        for _ in 0..2000 {
            let amount = (rng.random_range(0.0..1e4f64) * 1000.0).round() / 1000.0;
            let text = format!(
                "{amount}{}/{}",
                sizes[rng.random_range(0..sizes.len())],
                times[rng.random_range(0..times.len())]
            );
            let r = Rate::parse(&text).unwrap();
            let again = Rate::parse(&r.spec()).unwrap();
            assert_eq!(again.unit, r.unit, "{text}");
            let tolerance = 1e-9 * r.bytes_per_hour.abs().max(1.0);
            assert!(
                (again.bytes_per_hour - r.bytes_per_hour).abs() <= tolerance,
                "{text}: {} vs {}",
                again.bytes_per_hour,
                r.bytes_per_hour
            );
        }
    }

    #[test]
    fn absurd_numbers_print_short() {
        let unit = Rate::parse("10MB/h").unwrap().unit;
        assert_eq!(unit.format(1e300), "1.000e294 MB/h");
        assert_eq!(format_mb(1e300), "1.000e294 MB");
        assert_eq!(format_mb(5e6), "5.0 MB");
    }

    #[test]
    fn event_rates() {
        assert_eq!(PerSecond::parse("2/s").unwrap().0, 2.0);
        assert_eq!(PerSecond::parse("120/min").unwrap().0, 2.0);
        assert!(PerSecond::parse("1e-300/s").is_err());
        assert!(PerSecond::parse("1e300/s").is_err());
        assert!(PerSecond::parse("0/s").is_err());
        assert_eq!(PerSecond::period(1e300), Duration::from_micros(1));
        assert_eq!(PerSecond::period(0.0), Duration::from_secs(365 * 86_400));
        assert_eq!(
            PerSecond::period(f64::NAN),
            Duration::from_secs(365 * 86_400)
        );
        assert!(PerSecond::parse("0/s").is_err());
        assert!(PerSecond::parse("fast").is_err());
    }

    #[test]
    fn durations_must_be_positive() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("8h").unwrap(), Duration::from_secs(8 * 3600));
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
