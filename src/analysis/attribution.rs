//! Where the growth is: each memory class, resource and process judged
//! with the same estimator as the tree (the GLS fit over block minima
//! with its 95% interval, over the tree's judged window),
//! the share of the judged growth each explains, a one-line headline,
//! and hints: tested rules that say what a recognisable pattern usually
//! means, each with its evidence.
//!
//! Pure and streaming like the verdict: an [`Attributor`] is fed values in
//! time order (from the CSVs of a run, see `breakdown.rs`) and keeps one
//! bounded [`Analyzer`] per series, so it costs the same for an 8-hour run
//! as for a 2-minute one.
//!
//! A trend word comes from the interval, not the slope: `growing` when
//! the whole 95% interval is above the noise floor, `shrinking` when it is
//! wholly below minus the floor, `flat` when it lies within ± the floor,
//! `unclear` otherwise (or with too few samples). The floor is a tenth of
//! the growth limit for bytes (growth that small cannot explain a fail)
//! and one per hour for counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Analyzer, Criteria, Growth, Metric};
use crate::units::RateUnit;

/// The memory classes, bytes: `heap`, `stacks` and `anon_other` from each
/// process's `smaps` (slow cadence); `file`, `shmem`, `swap` from `status`.
pub const CLASSES: [&str; 6] = ["heap", "stacks", "anon_other", "file", "shmem", "swap"];

/// The floor of a bytes trend, as a fraction of the growth limit.
pub const BYTES_FLOOR_OF_LIMIT: f64 = 0.1;
/// The floor of a count trend, per hour.
pub const COUNT_FLOOR_PER_HOUR: f64 = 1.0;
/// Processes judged individually at most (more rows in a foreign or
/// edited `processes.csv` are left out, so memory stays bounded).
pub const MAX_PROCESSES: usize = 256;
/// Share of the growth a process or class must carry to be named alone.
const NAMED_SHARE: f64 = 0.5;

/// What a series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Bytes.
    Bytes,
    /// A number of things (descriptors, threads, connections).
    Count,
}

/// A trend, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendWord {
    /// The whole interval above the floor.
    Growing,
    /// The interval within ± the floor.
    Flat,
    /// The whole interval below minus the floor.
    Shrinking,
    /// Neither, or too few samples.
    Unclear,
}

impl TrendWord {
    fn of(growth: Option<&Growth>, floor: f64) -> TrendWord {
        match growth.map(|g| g.ci95_bytes_per_hour) {
            Some([lo, _]) if lo > floor => TrendWord::Growing,
            Some([_, hi]) if hi < -floor => TrendWord::Shrinking,
            Some([lo, hi]) if lo >= -floor && hi <= floor => TrendWord::Flat,
            _ => TrendWord::Unclear,
        }
    }
}

impl std::fmt::Display for TrendWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrendWord::Growing => "growing",
            TrendWord::Flat => "flat",
            TrendWord::Shrinking => "shrinking",
            TrendWord::Unclear => "unclear",
        })
    }
}

/// One class or resource, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesAttribution {
    /// Series name (`heap`, `fds_socket`, …).
    pub name: String,
    /// `bytes` or `count`.
    pub unit: Unit,
    /// Fitted slope, units per hour.
    pub slope_per_hour: Option<f64>,
    /// 95% interval of the slope.
    pub ci95_per_hour: Option<[f64; 2]>,
    /// The trend word.
    pub trend: TrendWord,
    /// Fraction of the judged growth this explains (bytes only, and only
    /// when the judged metric grows).
    pub share: Option<f64>,
    /// Its last value.
    pub last: Option<f64>,
}

/// One process, judged on the run's metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessAttribution {
    /// Process id; 0 for `other`, the untracked processes summed.
    pub pid: i32,
    /// Command name.
    pub name: String,
    /// Command line.
    pub command: Vec<String>,
    /// Start time, seconds after boot.
    pub start_s: f64,
    /// Slope of its judged metric, bytes per hour.
    pub slope_bytes_per_hour: Option<f64>,
    /// 95% interval.
    pub ci95_bytes_per_hour: Option<[f64; 2]>,
    /// The trend word.
    pub trend: TrendWord,
    /// Fraction of the tree's judged growth it explains.
    pub share: Option<f64>,
    /// Its last RSS, bytes.
    pub last_rss_bytes: Option<u64>,
    /// It ended before the run did (its values are its last).
    pub ended: bool,
}

/// A recognised pattern and what it usually means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hint {
    /// The rule's name (stable; documented in docs/where-it-grows.md).
    pub rule: String,
    /// What it means, in words.
    pub text: String,
    /// The numbers the rule fired on.
    pub evidence: BTreeMap<String, f64>,
}

/// Where the growth is: `summary.json`'s `attribution`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Memory classes, in [`CLASSES`] order.
    pub classes: Vec<SeriesAttribution>,
    /// Resources: `fds`, its types, socket queues, `threads`, `connections`.
    pub resources: Vec<SeriesAttribution>,
    /// Processes, largest growth first.
    pub processes: Vec<ProcessAttribution>,
    /// The finding in one line.
    pub headline: String,
    /// Recognised patterns.
    #[serde(default)]
    pub hints: Vec<Hint>,
    /// The floor of bytes trends, bytes per hour.
    pub noise_floor_bytes_per_hour: f64,
    /// The floor of count trends, per hour.
    pub noise_floor_count_per_hour: f64,
}

/// What the attribution knows of the run besides the series.
#[derive(Debug, Clone)]
pub struct RunContext<'a> {
    /// The judged metric.
    pub metric: Metric,
    /// The tree's judged growth.
    pub growth: Option<&'a Growth>,
    /// The limit's unit, for rates in words.
    pub unit: &'a RateUnit,
    /// Connections opened by the load after warm-up, and over how many
    /// seconds (for growth per connection).
    pub connects_judged: Option<(u64, f64)>,
}

struct Series {
    name: &'static str,
    unit: Unit,
    analyzer: Analyzer,
    last: Option<f64>,
}

struct Process {
    pid: i32,
    start_s: f64,
    name: String,
    command: Vec<String>,
    analyzer: Analyzer,
    last_rss: Option<u64>,
    last_seen: f64,
}

/// Resources judged, with their units, in output order.
const RESOURCE_ORDER: [(&str, Unit); 20] = [
    ("fds", Unit::Count),
    ("fds_socket", Unit::Count),
    ("fds_pipe", Unit::Count),
    ("fds_file", Unit::Count),
    ("fds_anon_inode", Unit::Count),
    ("fds_other", Unit::Count),
    ("socket_queue_bytes", Unit::Bytes),
    ("socket_send_queue_bytes", Unit::Bytes),
    ("socket_recv_queue_bytes", Unit::Bytes),
    ("threads", Unit::Count),
    ("connections", Unit::Count),
    ("kernel_bytes", Unit::Bytes),
    ("sock_bytes", Unit::Bytes),
    ("slab_bytes", Unit::Bytes),
    ("dom_nodes", Unit::Count),
    ("js_event_listeners", Unit::Count),
    ("documents", Unit::Count),
    ("frames", Unit::Count),
    ("layout_objects", Unit::Count),
    ("blink_heap_bytes", Unit::Bytes),
];

/// A page's counts, in the order a headline names them: listeners are the
/// classic missing cleanup, then nodes kept, then whole documents.
const PAGE_COUNTS: [&str; 3] = ["js_event_listeners", "dom_nodes", "documents"];

/// Feeds the series of a run, then judges them.
pub struct Attributor {
    criteria: Criteria,
    series: Vec<Series>,
    processes: Vec<Process>,
    last_elapsed: f64,
    any_class_or_process: bool,
}

impl Attributor {
    /// An attributor judging after `criteria`'s warm-up, against its limit.
    pub fn new(criteria: &Criteria) -> Attributor {
        let criteria = Criteria {
            max_rss_bytes: None,
            ..criteria.clone()
        };
        let classes = CLASSES.map(|n| (n, Unit::Bytes));
        let series = classes
            .iter()
            .chain(RESOURCE_ORDER.iter())
            .map(|&(name, unit)| Series {
                name,
                unit,
                analyzer: Analyzer::new(criteria.clone()),
                last: None,
            })
            .collect();
        Attributor {
            criteria,
            series,
            processes: Vec::new(),
            last_elapsed: 0.0,
            any_class_or_process: false,
        }
    }

    /// One value of a named series; unknown names are ignored.
    pub fn observe(&mut self, elapsed_s: f64, name: &str, value: f64) {
        if let Some(s) = self.series.iter_mut().find(|s| s.name == name) {
            s.analyzer.observe(elapsed_s, Some(value), None);
            s.last = Some(value);
            self.any_class_or_process = true;
        }
    }

    /// One process row: its judged metric (when read) and RSS. `command`
    /// is set on a process's first row and again after an exec.
    #[allow(clippy::too_many_arguments)]
    pub fn observe_process(
        &mut self,
        elapsed_s: f64,
        pid: i32,
        start_s: f64,
        name: &str,
        command: &str,
        metric_bytes: Option<f64>,
        rss_bytes: u64,
    ) {
        self.any_class_or_process = true;
        self.last_elapsed = self.last_elapsed.max(elapsed_s);
        let found = self
            .processes
            .iter()
            .position(|p| p.pid == pid && p.start_s == start_s);
        let i = match found {
            Some(i) => i,
            None if self.processes.len() < MAX_PROCESSES => {
                self.processes.push(Process {
                    pid,
                    start_s,
                    name: name.to_string(),
                    command: Vec::new(),
                    analyzer: Analyzer::new(self.criteria.clone()),
                    last_rss: None,
                    last_seen: elapsed_s,
                });
                self.processes.len() - 1
            }
            None => return,
        };
        let p = &mut self.processes[i];
        // A later command (after an exec) replaces the first.
        if !command.is_empty() {
            p.command = serde_json::from_str(command).unwrap_or_else(|_| vec![command.to_string()]);
            p.name = name.to_string();
        }
        p.analyzer.observe(elapsed_s, metric_bytes, None);
        p.last_rss = Some(rss_bytes);
        p.last_seen = elapsed_s;
    }

    /// Judges everything fed; `None` when nothing was (a foreign CSV).
    pub fn finish(self, run: &RunContext<'_>) -> Option<Attribution> {
        if !self.any_class_or_process {
            return None;
        }
        let floor_bytes = BYTES_FLOOR_OF_LIMIT * self.criteria.max_growth_bytes_per_hour;
        let tree_growing = run
            .growth
            .is_some_and(|g| g.ci95_bytes_per_hour[0] > floor_bytes);
        let tree_slope = run.growth.map(|g| g.slope_bytes_per_hour);
        // A share is of the judged growth: a page's heap is not the sum of
        // its browser's memory classes or processes.
        let share = |slope: Option<f64>| match (tree_slope, slope) {
            (Some(t), Some(s)) if tree_growing && t > 0.0 && !run.metric.is_page_heap() => {
                Some(s / t)
            }
            _ => None,
        };
        let judge = |s: &Series| {
            let growth = s.analyzer.judge().growth;
            let floor = match s.unit {
                Unit::Bytes => floor_bytes,
                Unit::Count => COUNT_FLOOR_PER_HOUR,
            };
            let slope = growth.as_ref().map(|g| g.slope_bytes_per_hour);
            SeriesAttribution {
                name: s.name.to_string(),
                unit: s.unit,
                slope_per_hour: slope,
                ci95_per_hour: growth.as_ref().map(|g| g.ci95_bytes_per_hour),
                trend: TrendWord::of(growth.as_ref(), floor),
                share: if s.unit == Unit::Bytes {
                    share(slope)
                } else {
                    None
                },
                last: s.last,
            }
        };
        let n_classes = CLASSES.len();
        let classes: Vec<_> = self.series[..n_classes]
            .iter()
            .filter(|s| s.last.is_some())
            .map(judge)
            .collect();
        let resources: Vec<_> = self.series[n_classes..]
            .iter()
            .filter(|s| s.last.is_some())
            .map(judge)
            .collect();
        let last_elapsed = self.last_elapsed;
        let mut processes: Vec<_> = self
            .processes
            .into_iter()
            .map(|p| {
                let growth = p.analyzer.judge().growth;
                let slope = growth.as_ref().map(|g| g.slope_bytes_per_hour);
                ProcessAttribution {
                    pid: p.pid,
                    name: p.name,
                    command: p.command,
                    start_s: p.start_s,
                    slope_bytes_per_hour: slope,
                    ci95_bytes_per_hour: growth.as_ref().map(|g| g.ci95_bytes_per_hour),
                    trend: TrendWord::of(growth.as_ref(), floor_bytes),
                    share: share(slope),
                    last_rss_bytes: p.last_rss,
                    // Every live process has a row on each walk, the
                    // last one included: one without is gone.
                    ended: p.last_seen < last_elapsed,
                }
            })
            .collect();
        processes.sort_by(|a, b| {
            let key = |p: &ProcessAttribution| p.slope_bytes_per_hour.unwrap_or(f64::NEG_INFINITY);
            key(b).total_cmp(&key(a))
        });
        let mut a = Attribution {
            classes,
            resources,
            processes,
            headline: String::new(),
            hints: Vec::new(),
            noise_floor_bytes_per_hour: floor_bytes,
            noise_floor_count_per_hour: COUNT_FLOOR_PER_HOUR,
        };
        a.headline = headline(&a, run, tree_growing);
        a.hints = super::hints::hints(&a, run, tree_growing);
        Some(a)
    }
}

impl Attribution {
    /// A class or resource by name.
    pub fn series(&self, name: &str) -> Option<&SeriesAttribution> {
        self.classes
            .iter()
            .chain(&self.resources)
            .find(|s| s.name == name)
    }

    /// Whether a series is judged growing.
    pub fn grows(&self, name: &str) -> bool {
        self.series(name)
            .is_some_and(|s| s.trend == TrendWord::Growing)
    }

    /// Processes judged individually (not `other`).
    pub fn named_processes(&self) -> impl Iterator<Item = &ProcessAttribution> {
        self.processes.iter().filter(|p| p.pid != 0)
    }
}

/// How a series' rate reads: `+41.8 MB/h` or `+36000 fds/h`.
pub fn format_rate(s: &SeriesAttribution, unit: &RateUnit) -> String {
    match (s.unit, s.slope_per_hour) {
        (_, None) => "n/a".into(),
        (Unit::Bytes, Some(v)) => signed(&unit.format(v), v),
        (Unit::Count, Some(v)) => format!("{v:+.0} {}/h", noun(&s.name)),
    }
}

/// `+` in front of a non-negative formatted number.
pub(crate) fn signed(text: &str, v: f64) -> String {
    if v >= 0.0 && !text.starts_with('+') {
        format!("+{text}")
    } else {
        text.to_string()
    }
}

/// What a count series counts, for rates in words.
pub(crate) fn noun(series: &str) -> &'static str {
    match series {
        "fds" => "fds",
        "fds_socket" => "sockets",
        "fds_pipe" => "pipes",
        "fds_file" => "files",
        "fds_anon_inode" => "anon inodes",
        "threads" => "threads",
        "connections" => "connections",
        "dom_nodes" => "nodes",
        "js_event_listeners" => "listeners",
        "documents" => "documents",
        "frames" => "frames",
        "layout_objects" => "layout objects",
        _ => "fds",
    }
}

fn floor_of(a: &Attribution) -> f64 {
    a.noise_floor_bytes_per_hour
}

/// A process as people name it: `pid 123 (uvicorn)`.
pub(crate) fn process_label(p: &ProcessAttribution) -> String {
    if p.pid == 0 {
        "the untracked processes (other)".into()
    } else {
        format!("pid {} ({})", p.pid, p.name)
    }
}

/// The finding in one line. When the judged metric grows: the class and
/// the process that carry it. Otherwise the first resource that grows
/// (socket queues, then descriptors, threads, connections), then a class
/// outside the judged metric, else that nothing grows.
fn headline(a: &Attribution, run: &RunContext<'_>, tree_growing: bool) -> String {
    let unit = run.unit;
    let growing = |list: &[SeriesAttribution]| -> Option<SeriesAttribution> {
        list.iter()
            .filter(|s| s.trend == TrendWord::Growing)
            .max_by(|x, y| {
                x.slope_per_hour
                    .unwrap_or(0.0)
                    .total_cmp(&y.slope_per_hour.unwrap_or(0.0))
            })
            .cloned()
    };
    if tree_growing && run.metric.is_page_heap() {
        return page_headline(a, run);
    }
    if tree_growing {
        let tree = run.growth.map_or(0.0, |g| g.slope_bytes_per_hour);
        let of_tree = format!("of the tree's {}", signed(&unit.format(tree), tree));
        let class = growing(&a.classes).filter(|c| c.share.is_some_and(|s| s >= NAMED_SHARE));
        let process = a
            .processes
            .first()
            .filter(|p| p.trend == TrendWord::Growing)
            .filter(|p| p.share.is_some_and(|s| s >= NAMED_SHARE));
        // A class that carries the growth by its slope but whose interval
        // is too wide to call it growing (few smaps readings): said as such.
        let likely = a
            .classes
            .iter()
            .filter(|c| c.trend == TrendWord::Unclear && c.share.is_some_and(|s| s >= NAMED_SHARE))
            .max_by(|x, y| x.share.unwrap_or(0.0).total_cmp(&y.share.unwrap_or(0.0)))
            .map_or(String::new(), |c| {
                format!(
                    "; most likely {} ({}, its interval too wide to be sure)",
                    c.name,
                    format_rate(c, unit)
                )
            });
        return match (class, process) {
            (Some(c), Some(p)) => format!(
                "{} of {}: {} {of_tree}",
                c.name,
                process_label(p),
                signed(&unit.format(p.slope_bytes_per_hour.unwrap_or(0.0)), 1.0)
            ),
            (None, Some(p)) => format!(
                "{}: {} {of_tree}{likely}",
                process_label(p),
                signed(&unit.format(p.slope_bytes_per_hour.unwrap_or(0.0)), 1.0)
            ),
            (Some(c), None) => format!("{}: {} {of_tree}", c.name, format_rate(&c, unit)),
            (None, None) => format!(
                "the tree's {} grows {} and no single class or process carries most of it{likely}",
                run.metric,
                signed(&unit.format(tree), tree)
            ),
        };
    }
    let quiet = match run.growth.map(|g| TrendWord::of(Some(g), floor_of(a))) {
        Some(TrendWord::Unclear) | None => format!("({}'s own trend is unclear)", run.metric),
        Some(_) => format!("while {} is not growing", run.metric),
    };
    let resource_order = [
        "js_event_listeners",
        "dom_nodes",
        "documents",
        "socket_queue_bytes",
        "fds_socket",
        "fds_pipe",
        "fds_file",
        "fds_anon_inode",
        "fds_other",
        "fds",
        "threads",
        "connections",
    ];
    for name in resource_order {
        if let Some(s) = a.series(name).filter(|s| s.trend == TrendWord::Growing) {
            // Thread stacks grow with threads: say both.
            let with = match a.series("stacks") {
                Some(st) if name == "threads" && st.trend == TrendWord::Growing => {
                    format!(", stacks {}", format_rate(st, unit))
                }
                _ => String::new(),
            };
            return format!("{}: {}{with} {quiet}", s.name, format_rate(s, unit));
        }
    }
    if let Some(c) = growing(&a.classes) {
        return format!("{}: {} {quiet}", c.name, format_rate(&c, unit));
    }
    "nothing grows: no memory class, resource or process".into()
}

/// The headline of a page whose JS heap grows: the heap, with the page's
/// counts that grow beside it.
fn page_headline(a: &Attribution, run: &RunContext<'_>) -> String {
    let slope = run.growth.map_or(0.0, |g| g.slope_bytes_per_hour);
    let heap = format!(
        "{} grows {}",
        run.metric,
        signed(&run.unit.format(slope), slope)
    );
    let with: Vec<String> = PAGE_COUNTS
        .iter()
        .filter_map(|n| a.series(n).filter(|s| s.trend == TrendWord::Growing))
        .map(|s| format!("{} {}", s.name, format_rate(s, run.unit)))
        .collect();
    if with.is_empty() {
        format!("{heap}; no DOM node, listener or document count grows with it: JavaScript objects are kept")
    } else {
        format!("{heap} with {}", with.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::analysis::WarmupRule;

    use super::*;
    use crate::analysis::BlockStat;
    use crate::units::Rate;

    fn criteria() -> Criteria {
        Criteria {
            warmup: WarmupRule::Fixed(Duration::from_secs(10)),
            max_growth_bytes_per_hour: 10e6,
            max_rss_bytes: None,
            block_stat: BlockStat::Min,
        }
    }

    #[test]
    fn the_growing_class_and_process_make_the_headline() {
        let mut a = Attributor::new(&criteria());
        for i in 0..300 {
            let t = f64::from(i);
            let leak = t * 100e6 / 3600.0;
            a.observe(t, "heap", 5e6 + leak);
            a.observe(t, "stacks", 1e6 + f64::from(i % 3) * 4096.0);
            a.observe(t, "fds", 12.0);
            a.observe_process(
                t,
                7,
                1.0,
                "worker",
                "[\"worker\",\"-n\"]",
                Some(3e6 + leak),
                9,
            );
            a.observe_process(t, 8, 1.0, "worker", "", Some(3e6), 9);
        }
        let limit = Rate::parse("10MB/h").unwrap();
        let growth = Growth {
            slope_bytes_per_hour: 100e6,
            ci95_bytes_per_hour: [99e6, 101e6],
            intercept_bytes: 0.0,
            blocks: 50,
            samples_per_block: 1,
            variance_inflation: 1.0,
            noise: crate::analysis::NoiseModel::Stationary,
        };
        let run = RunContext {
            metric: Metric::Anon,
            growth: Some(&growth),
            unit: &limit.unit,
            connects_judged: None,
        };
        let at = a.finish(&run).unwrap();
        assert_eq!(at.series("heap").unwrap().trend, TrendWord::Growing);
        assert!((at.series("heap").unwrap().share.unwrap() - 1.0).abs() < 0.01);
        assert_eq!(at.series("stacks").unwrap().trend, TrendWord::Flat);
        assert_eq!(at.series("fds").unwrap().trend, TrendWord::Flat);
        assert!(at.series("fds").unwrap().share.is_none());
        assert_eq!(at.processes[0].pid, 7);
        assert_eq!(at.processes[0].command, ["worker", "-n"]);
        assert_eq!(
            at.headline,
            "heap of pid 7 (worker): +100 MB/h of the tree's +100 MB/h"
        );
        // Nothing fed: no attribution (a recording from elsewhere).
        assert!(Attributor::new(&criteria()).finish(&run).is_none());
    }
}
