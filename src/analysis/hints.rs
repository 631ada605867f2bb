//! Hints: recognisable patterns in an attribution and what they usually
//! mean. Each rule is a small function over the judged series, fires only
//! on `growing` trends (whole 95% interval above the floor), and records
//! the numbers it fired on, so a reader can check it. docs/where-it-grows.md lists them.

use std::collections::BTreeMap;

use super::attribution::{
    format_rate, noun, process_label, Attribution, Hint, RunContext, TrendWord,
};

/// A per-connection ratio this close to a whole number of descriptors
/// per connection is taken as "one per connection".
const PER_CONNECTION_BAND: (f64, f64) = (0.5, 1.5);
/// Share of the growth one process must carry to be "the one that grows".
const ONE_WORKER_SHARE: f64 = 0.8;
/// Share of the growth a class must carry for its hint.
const CLASS_SHARE: f64 = 0.5;

fn hint(rule: &str, text: String, evidence: &[(&str, f64)]) -> Hint {
    Hint {
        rule: rule.into(),
        text,
        evidence: evidence
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn slope(a: &Attribution, name: &str) -> f64 {
    a.series(name).and_then(|s| s.slope_per_hour).unwrap_or(0.0)
}

/// Every rule that fires, in a fixed order.
pub(crate) fn hints(a: &Attribution, run: &RunContext<'_>, tree_growing: bool) -> Vec<Hint> {
    let mut out = Vec::new();
    descriptor_hints(a, run, &mut out);
    kernel_hints(a, run, tree_growing, &mut out);
    count_hints(a, &mut out);
    page_hints(a, run, tree_growing, &mut out);
    process_hints(a, tree_growing, &mut out);
    class_hints(a, run, tree_growing, &mut out);
    out
}

/// Descriptors that grow with the connections made, or on their own.
fn descriptor_hints(a: &Attribution, run: &RunContext<'_>, out: &mut Vec<Hint>) {
    let unit = run.unit;
    let fd_series = ["fds_socket", "fds"].into_iter().find(|n| a.grows(n));
    if let (Some(fds), Some((connects, secs))) = (fd_series, run.connects_judged) {
        let per_hour = connects as f64 / secs * 3600.0;
        if connects > 0 && secs > 0.0 {
            let ratio = slope(a, fds) / per_hour;
            if (PER_CONNECTION_BAND.0..=PER_CONNECTION_BAND.1).contains(&ratio) {
                out.push(hint(
                    "fds_per_connection",
                    format!(
                        "{fds} grows at {ratio:.2} per connection made: connections are not closed (a handler that never returns, or a connection kept in a list)"
                    ),
                    &[
                        ("fds_per_hour", slope(a, fds)),
                        ("connections_made_per_hour", per_hour),
                        ("ratio", ratio),
                    ],
                ));
            }
        }
    }
    let fired_per_connection = out.iter().any(|h| h.rule == "fds_per_connection");
    // Descriptors that grow on their own.
    if !fired_per_connection {
        let by_type = [
            "fds_socket",
            "fds_pipe",
            "fds_file",
            "fds_anon_inode",
            "fds_other",
        ]
        .into_iter()
        .filter(|n| a.grows(n))
        .max_by(|x, y| slope(a, x).total_cmp(&slope(a, y)));
        if let Some(name) = by_type.or(fd_series) {
            let what = match name {
                "fds_socket" => "sockets are opened and never closed",
                "fds_pipe" => "pipes are opened and never closed (subprocesses whose pipes are not closed or waited for?)",
                "fds_file" => "files are opened and never closed",
                "fds_anon_inode" => "event descriptors (epoll, eventfd, timerfd) are created and never closed: often an event loop or client created per request",
                _ => "file descriptors are opened and never closed",
            };
            let s = a
                .series(name)
                .map(|s| format_rate(s, unit))
                .unwrap_or_default();
            out.push(hint(
                "fds_leak",
                format!("{name} grows at {s}: {what}"),
                &[("per_hour", slope(a, name))],
            ));
        }
    }
}

/// Memory the kernel holds for the tree: queues of a client that stopped
/// reading, a cgroup's socket buffers and kernel memory.
fn kernel_hints(a: &Attribution, run: &RunContext<'_>, tree_growing: bool, out: &mut Vec<Hint>) {
    let unit = run.unit;
    // A client that stopped reading.
    if a.grows("socket_queue_bytes") && !tree_growing {
        let s = a
            .series("socket_queue_bytes")
            .map(|s| format_rate(s, unit))
            .unwrap_or_default();
        out.push(hint(
            "stalled_reader",
            format!(
                "socket_queue_bytes grows ({s}) while {} does not: a client stopped reading and the server keeps queueing (kernel memory, not in RSS); bound the send queue or drop slow clients",
                run.metric
            ),
            &[
                ("socket_queue_bytes_per_hour", slope(a, "socket_queue_bytes")),
                ("send_queue_bytes_per_hour", slope(a, "socket_send_queue_bytes")),
                (
                    "judged_bytes_per_hour",
                    run.growth.map_or(0.0, |g| g.slope_bytes_per_hour),
                ),
            ],
        ));
    }
    // A cgroup's socket buffers or kernel memory, outside any heap.
    for (name, what) in [
        (
            "sock_bytes",
            "the cgroup's socket buffers grow: data queued for clients that read slowly or not at all (kernel memory, never in a heap or RSS); bound the send queue or drop slow clients",
        ),
        (
            "kernel_bytes",
            "the cgroup's kernel memory grows (socket buffers, slab, page tables, stacks): look for sockets, files or threads that are opened and never closed",
        ),
    ] {
        if a.grows(name) && !(name == "kernel_bytes" && a.grows("sock_bytes")) {
            let s = a
                .series(name)
                .map(|s| format_rate(s, unit))
                .unwrap_or_default();
            out.push(hint(
                if name == "sock_bytes" {
                    "cgroup_sockets"
                } else {
                    "cgroup_kernel"
                },
                format!("{name} grows ({s}): {what}"),
                &[("per_hour", slope(a, name))],
            ));
        }
    }
}

/// Threads that never end and connections that accumulate.
fn count_hints(a: &Attribution, out: &mut Vec<Hint>) {
    // Threads that never end.
    if a.grows("threads") {
        let with_stacks = if a.grows("stacks") {
            ", and their stacks with them"
        } else {
            ""
        };
        out.push(hint(
            "threads_leak",
            format!(
                "threads grow at {:+.0} {}/h{with_stacks}: threads are started and never end (a thread per request or connection that blocks forever, or a pool without bound)",
                slope(a, "threads"),
                noun("threads")
            ),
            &[
                ("threads_per_hour", slope(a, "threads")),
                ("stacks_bytes_per_hour", slope(a, "stacks")),
            ],
        ));
    }
    // Connections that accumulate.
    if a.grows("connections") {
        out.push(hint(
            "connections_accumulate",
            format!(
                "established connections accumulate at {:+.0}/h: one side never closes them",
                slope(a, "connections")
            ),
            &[("connections_per_hour", slope(a, "connections"))],
        ));
    }
}

/// One process of several grows.
fn process_hints(a: &Attribution, tree_growing: bool, out: &mut Vec<Hint>) {
    let named: Vec<_> = a.named_processes().collect();
    if tree_growing && named.len() > 1 {
        if let Some(top) = named.first().filter(|p| {
            p.trend == TrendWord::Growing && p.share.is_some_and(|s| s >= ONE_WORKER_SHARE)
        }) {
            let siblings = named.iter().filter(|p| p.name == top.name).count();
            let others_growing = named.iter().skip(1).any(|p| p.trend == TrendWord::Growing);
            if !others_growing {
                let of = if siblings > 1 {
                    format!("one of {siblings} processes named '{}'", top.name)
                } else {
                    format!("one of {} processes", named.len())
                };
                out.push(hint(
                    "one_process_grows",
                    format!(
                        "{of} grows: {} carries {:.0}% of the growth; look at what it alone does (a request only it served, a cache only it filled)",
                        process_label(top),
                        top.share.unwrap_or(0.0) * 100.0
                    ),
                    &[
                        ("pid", f64::from(top.pid)),
                        ("share", top.share.unwrap_or(0.0)),
                        ("processes", named.len() as f64),
                    ],
                ));
            }
        }
    }
}

/// The class that carries the growth.
fn class_hints(a: &Attribution, run: &RunContext<'_>, tree_growing: bool, out: &mut Vec<Hint>) {
    let unit = run.unit;
    let carried = |name: &str| {
        a.series(name)
            .filter(|s| s.trend == TrendWord::Growing)
            .and_then(|s| s.share)
            .filter(|&s| s >= CLASS_SHARE)
    };
    if let Some(share) = carried("heap") {
        out.push(hint(
            "heap_grows",
            format!(
                "heap carries {:.0}% of the growth: objects are allocated and kept (a cache or list without bound, state per request or connection never dropped); an allocation profiler (tracemalloc, memray, heaptrack) names the line",
                share * 100.0
            ),
            &[("share", share), ("heap_bytes_per_hour", slope(a, "heap"))],
        ));
    }
    if let Some(share) = carried("anon_other") {
        out.push(hint(
            "anon_other_grows",
            format!(
                "anonymous memory outside malloc carries {:.0}% of the growth: memory mapped with mmap and never unmapped, or a runtime's own allocator (for CPython: its arenas of small objects, such as dicts, lists and strings kept alive; tracemalloc names the line)",
                share * 100.0
            ),
            &[("share", share), ("anon_other_bytes_per_hour", slope(a, "anon_other"))],
        ));
    }
    if !tree_growing && a.grows("file") {
        out.push(hint(
            "file_pages_grow",
            format!(
                "file-backed pages grow ({}) while {} does not: files mapped or read further (usually page cache the kernel can reclaim, not a leak)",
                a.series("file").map(|s| format_rate(s, unit)).unwrap_or_default(),
                run.metric
            ),
            &[("file_bytes_per_hour", slope(a, "file"))],
        ));
    }
}

/// A browser page's patterns: listeners never removed, DOM nodes kept
/// after removal, documents kept after their frames closed, and a heap
/// that grows with none of them.
fn page_hints(a: &Attribution, run: &RunContext<'_>, heap_growing: bool, out: &mut Vec<Hint>) {
    let rate = |name: &str| {
        a.series(name)
            .map(|s| format_rate(s, run.unit))
            .unwrap_or_default()
    };
    if a.grows("js_event_listeners") {
        out.push(hint(
            "listeners_leak",
            format!(
                "event listeners grow at {}: listeners are added and never removed (addEventListener in a component, effect or subscription without the removeEventListener of its cleanup); each one keeps its closure, and what the closure references, alive",
                rate("js_event_listeners")
            ),
            &[("listeners_per_hour", slope(a, "js_event_listeners"))],
        ));
    }
    if a.grows("dom_nodes") && !a.grows("documents") {
        out.push(hint(
            "dom_nodes_leak",
            format!(
                "DOM nodes grow at {}: nodes removed from the page but still referenced from JavaScript (detached: kept in an array, a map, a closure or a listener), a list rendered without bound, or one of the browser's own bounded histories filling (an editing undo stack, performance entries); heap snapshots (--heap-snapshots) tell them apart: detached nodes gained, or the classes that gained objects",
                rate("dom_nodes")
            ),
            &[("nodes_per_hour", slope(a, "dom_nodes"))],
        ));
    }
    if a.grows("documents") {
        out.push(hint(
            "documents_leak",
            format!(
                "documents grow at {}: iframes or windows are closed or replaced but still referenced, so each keeps its whole document",
                rate("documents")
            ),
            &[("documents_per_hour", slope(a, "documents"))],
        ));
    }
    let counts_grow = ["js_event_listeners", "dom_nodes", "documents"]
        .iter()
        .any(|n| a.grows(n));
    if heap_growing && run.metric.is_page_heap() && !counts_grow {
        out.push(hint(
            "js_objects_kept",
            format!(
                "the JS heap grows ({}) while no DOM node, listener or document count does: JavaScript objects are kept (a cache or array without bound, a timer from setInterval never cleared, a fetch or WebSocket callback holding its data); the constructors that gained the most objects between the heap snapshots name them",
                run.growth.map_or(String::new(), |g| super::attribution::signed(
                    &run.unit.format(g.slope_bytes_per_hour),
                    g.slope_bytes_per_hour
                ))
            ),
            &[(
                "js_heap_bytes_per_hour",
                run.growth.map_or(0.0, |g| g.slope_bytes_per_hour),
            )],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::attribution::{
        Attribution, ProcessAttribution, RunContext, SeriesAttribution, TrendWord, Unit,
    };
    use super::hints;
    use crate::analysis::{Growth, Metric};
    use crate::units::Rate;

    fn series(name: &str, unit: Unit, slope: f64, trend: TrendWord) -> SeriesAttribution {
        SeriesAttribution {
            name: name.into(),
            unit,
            slope_per_hour: Some(slope),
            ci95_per_hour: Some([slope * 0.9, slope * 1.1]),
            trend,
            share: None,
            last: Some(1.0),
        }
    }

    fn process(pid: i32, name: &str, share: f64, trend: TrendWord) -> ProcessAttribution {
        ProcessAttribution {
            pid,
            name: name.into(),
            command: vec![name.into()],
            start_s: 1.0,
            slope_bytes_per_hour: Some(share * 100e6),
            ci95_bytes_per_hour: Some([share * 90e6, share * 110e6]),
            trend,
            share: Some(share),
            last_rss_bytes: Some(1),
            ended: false,
        }
    }

    fn attribution(
        resources: Vec<SeriesAttribution>,
        processes: Vec<ProcessAttribution>,
    ) -> Attribution {
        Attribution {
            classes: Vec::new(),
            resources,
            processes,
            headline: String::new(),
            hints: Vec::new(),
            noise_floor_bytes_per_hour: 1e6,
            noise_floor_count_per_hour: 1.0,
        }
    }

    fn growth(slope: f64) -> Growth {
        Growth {
            slope_bytes_per_hour: slope,
            ci95_bytes_per_hour: [slope * 0.9, slope * 1.1],
            intercept_bytes: 0.0,
            blocks: 50,
            samples_per_block: 1,
            variance_inflation: 1.0,
            noise: crate::analysis::NoiseModel::Stationary,
        }
    }

    fn rules(
        a: &Attribution,
        growth: Option<&Growth>,
        connects: Option<(u64, f64)>,
    ) -> Vec<String> {
        let limit = Rate::parse("10MB/h").unwrap();
        let run = RunContext {
            metric: Metric::Anon,
            growth,
            unit: &limit.unit,
            connects_judged: connects,
        };
        let growing = growth.is_some_and(|g| g.ci95_bytes_per_hour[0] > 1e6);
        hints(a, &run, growing)
            .into_iter()
            .map(|h| h.rule)
            .collect()
    }

    #[test]
    fn sockets_per_connection_made_or_leaked_on_their_own() {
        let a = attribution(
            vec![series(
                "fds_socket",
                Unit::Count,
                3600.0,
                TrendWord::Growing,
            )],
            Vec::new(),
        );
        // 3600 connections in an hour of judged time: one socket each.
        assert_eq!(
            rules(&a, None, Some((3600, 3600.0))),
            ["fds_per_connection"]
        );
        // Ten times as many connections: not one per connection.
        assert_eq!(rules(&a, None, Some((36_000, 3600.0))), ["fds_leak"]);
        assert_eq!(rules(&a, None, None), ["fds_leak"]);
    }

    #[test]
    fn queues_growing_alone_mean_a_stalled_reader() {
        let a = attribution(
            vec![series(
                "socket_queue_bytes",
                Unit::Bytes,
                50e6,
                TrendWord::Growing,
            )],
            Vec::new(),
        );
        assert_eq!(rules(&a, Some(&growth(0.0)), None), ["stalled_reader"]);
        // With memory growing too, the queue is not the whole story.
        assert!(rules(&a, Some(&growth(50e6)), None).is_empty());
    }

    #[test]
    fn connections_and_file_pages() {
        let mut a = attribution(
            vec![series(
                "connections",
                Unit::Count,
                120.0,
                TrendWord::Growing,
            )],
            Vec::new(),
        );
        a.classes = vec![series("file", Unit::Bytes, 30e6, TrendWord::Growing)];
        assert_eq!(
            rules(&a, Some(&growth(0.0)), None),
            ["connections_accumulate", "file_pages_grow"]
        );
        // Page cache growing with the judged memory is not singled out.
        assert_eq!(
            rules(&a, Some(&growth(50e6)), None),
            ["connections_accumulate"]
        );
        // Flat series fire nothing.
        let flat = attribution(
            vec![series("connections", Unit::Count, 0.0, TrendWord::Flat)],
            Vec::new(),
        );
        assert!(rules(&flat, Some(&growth(0.0)), None).is_empty());
    }

    #[test]
    fn a_page_that_keeps_listeners_and_nodes() {
        let page = |resources| attribution(resources, Vec::new());
        let limit = Rate::parse("10MB/h").unwrap();
        let g = growth(700e6);
        let run = RunContext {
            metric: Metric::JsHeap,
            growth: Some(&g),
            unit: &limit.unit,
            connects_judged: None,
        };
        let leaking = page(vec![
            series("dom_nodes", Unit::Count, 1.4e6, TrendWord::Growing),
            series(
                "js_event_listeners",
                Unit::Count,
                36000.0,
                TrendWord::Growing,
            ),
            series("documents", Unit::Count, 0.0, TrendWord::Flat),
        ]);
        let fired: Vec<String> = hints(&leaking, &run, true)
            .into_iter()
            .map(|h| h.rule)
            .collect();
        assert_eq!(fired, ["listeners_leak", "dom_nodes_leak"]);
        // The heap alone: objects kept by JavaScript.
        let alone = page(vec![series("dom_nodes", Unit::Count, 0.0, TrendWord::Flat)]);
        let fired: Vec<String> = hints(&alone, &run, true)
            .into_iter()
            .map(|h| h.rule)
            .collect();
        assert_eq!(fired, ["js_objects_kept"]);
        // A clean page fires nothing.
        assert!(hints(&alone, &run, false).is_empty());
    }

    #[test]
    fn one_worker_of_several_and_threads() {
        let workers = vec![
            process(11, "uvicorn", 0.95, TrendWord::Growing),
            process(12, "uvicorn", 0.02, TrendWord::Flat),
            process(13, "uvicorn", 0.02, TrendWord::Flat),
            process(14, "uvicorn", 0.01, TrendWord::Flat),
        ];
        let a = attribution(
            vec![series("threads", Unit::Count, 600.0, TrendWord::Growing)],
            workers.clone(),
        );
        let g = growth(100e6);
        assert_eq!(
            rules(&a, Some(&g), None),
            ["threads_leak", "one_process_grows"]
        );
        let limit = Rate::parse("10MB/h").unwrap();
        let run = RunContext {
            metric: Metric::Anon,
            growth: Some(&g),
            unit: &limit.unit,
            connects_judged: None,
        };
        let text = &hints(&a, &run, true)[1].text;
        assert!(
            text.starts_with("one of 4 processes named 'uvicorn' grows: pid 11"),
            "{text}"
        );
        // Two growing workers: not "the one".
        let mut two = workers;
        two[1] = process(12, "uvicorn", 0.9, TrendWord::Growing);
        let a = attribution(Vec::new(), two);
        assert!(rules(&a, Some(&g), None).is_empty());
    }
}
