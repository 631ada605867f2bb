//! Where the growth is: each deliberate fault of the demo backend is
//! attributed to the right class, resource or process, in `summary.json`,
//! the terminal summary and the reports, and `memsoak report` recomputes
//! the same attribution from the run folder's CSVs.

use serde_json::Value;

use crate::common::*;

const MEMSOAK: &str = env!("CARGO_BIN_EXE_memsoak");

/// A short run of the demo backend with `faults`, smaps read every second.
fn soak_demo(faults: &[&str]) -> Soak {
    let mut args = vec!["--", MEMSOAK, "demo-backend", "--port", "0"];
    args.extend_from_slice(faults);
    soak(
        "--duration 30s --warmup 5s --interval 500ms --smaps-interval 1s",
        &args,
    )
}

fn attribution(s: &Value) -> &Value {
    let a = &s["attribution"];
    assert!(a.is_object(), "no attribution in {s}");
    a
}

/// A class or resource entry by name.
fn series<'a>(a: &'a Value, name: &str) -> &'a Value {
    a["classes"]
        .as_array()
        .into_iter()
        .chain(a["resources"].as_array())
        .flatten()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no series {name} in {a}"))
}

fn trend(a: &Value, name: &str) -> String {
    series(a, name)["trend"].as_str().unwrap().to_string()
}

fn slope(a: &Value, name: &str) -> f64 {
    series(a, name)["slope_per_hour"].as_f64().unwrap()
}

fn headline(a: &Value) -> String {
    a["headline"].as_str().unwrap().to_string()
}

fn hint_rules(a: &Value) -> Vec<String> {
    a["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn leaked_descriptors_are_counted_as_descriptors_not_memory_and_survive_report() {
    let r = soak_demo(&["--leak-fds", "600/min"]);
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    let a = attribution(&s);
    // 600 a minute: 36,000 an hour.
    let fds = slope(a, "fds");
    assert!((fds / 36_000.0 - 1.0).abs() < 0.2, "fds slope {fds}");
    assert_eq!(trend(a, "fds"), "growing");
    assert_eq!(trend(a, "fds_file"), "growing");
    assert_eq!(series(a, "fds")["unit"], "count");
    assert!(series(a, "fds")["share"].is_null());
    for class in ["heap", "stacks", "anon_other"] {
        assert_ne!(trend(a, class), "growing", "{class} in {a}");
    }
    // The headline names the resource and its measured rate (near 36,000
    // an hour; the drip's ticks make it a little more or less).
    let head = headline(a);
    let rate: f64 = head
        .strip_prefix("fds_file: +")
        .and_then(|rest| rest.split_once(" files/h"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("headline {head:?} in {a}"));
    assert!((rate / 36_000.0 - 1.0).abs() < 0.2, "headline {head:?}");
    assert!(hint_rules(a).contains(&"fds_leak".to_string()), "{a}");
    // Every output says where it grows.
    let stdout = r.stdout();
    assert!(stdout.contains("where it grows: fds_file"), "{stdout}");
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(
        md.contains("### Where it grows") && md.contains("fds_file"),
        "{md}"
    );
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Where it grows</h2>"), "report.html");
    assert!(r.dir.join("attribution.svg").is_file());
    // The long-form breakdown and the per-process rows are on disk.
    let breakdown = std::fs::read_to_string(r.dir.join("breakdown.csv")).unwrap();
    assert!(breakdown.starts_with("elapsed_s,series,value\n"));
    assert!(breakdown.contains(",fds_file,") && breakdown.contains(",heap,"));
    let processes = std::fs::read_to_string(r.dir.join("processes.csv")).unwrap();
    assert!(processes
        .starts_with("elapsed_s,pid,start_s,name,rss_bytes,anon_bytes,pss_bytes,command\n"));

    // `memsoak report` recomputes the same attribution from the CSVs.
    let before = a.clone();
    let out = run(&["report", r.dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let again = summary(&r.dir);
    assert_eq!(again["attribution"], before);
    // A plain CSV from elsewhere has none.
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("other.csv");
    std::fs::write(&csv, "elapsed_s,rss_bytes\n0,100\n1,100\n2,100\n").unwrap();
    let out = run(&["report", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let plain = summary(&tmp.path().join("other-report"));
    assert!(plain["attribution"].is_null(), "{plain}");
}

#[test]
fn a_heap_leak_is_attributed_to_heap() {
    let r = soak_demo(&["--leak", "200MB/h"]);
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let s = r.summary();
    let a = attribution(&s);
    assert_eq!(trend(a, "heap"), "growing");
    let share = series(a, "heap")["share"].as_f64().unwrap();
    assert!(share > 0.8, "heap share {share}");
    assert_ne!(trend(a, "fds"), "growing");
    assert_ne!(trend(a, "anon_other"), "growing");
    assert!(headline(a).starts_with("heap of pid "), "{a}");
    assert!(hint_rules(a).contains(&"heap_grows".to_string()), "{a}");
}

#[test]
fn mmap_and_thread_leaks_are_told_from_heap() {
    let r = soak_demo(&["--leak-mmap", "200MB/h"]);
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let a = attribution(&r.summary()).clone();
    assert_eq!(trend(&a, "anon_other"), "growing", "{a}");
    assert_ne!(trend(&a, "heap"), "growing", "{a}");
    assert!(headline(&a).starts_with("anon_other of pid "), "{a}");
    assert!(
        hint_rules(&a).contains(&"anon_other_grows".to_string()),
        "{a}"
    );

    let r = soak_demo(&["--leak-threads", "120/min"]);
    let a = attribution(&r.summary()).clone();
    let threads = slope(&a, "threads");
    assert!(
        (threads / 7200.0 - 1.0).abs() < 0.2,
        "threads slope {threads}"
    );
    assert_eq!(trend(&a, "stacks"), "growing", "{a}");
    // glibc gives new threads arenas of their own (up to 8 per core), so
    // the heap may rise a little as the first threads start; the stacks
    // carry the growth.
    let share = |class| series(&a, class)["share"].as_f64().unwrap_or(0.0);
    assert!(share("stacks") > 0.5 && share("heap") < 0.5, "{a}");
    assert!(hint_rules(&a).contains(&"threads_leak".to_string()), "{a}");
    let h = headline(&a);
    assert!(h.starts_with("threads: ") || h.starts_with("stacks"), "{h}");
}

#[test]
fn the_one_leaking_process_of_a_tree_is_named() {
    let script = format!(
        "{MEMSOAK} demo-backend --port 0 & {MEMSOAK} demo-backend --port 0 --leak 200MB/h & wait"
    );
    let r = soak(
        "--duration 30s --warmup 5s --interval 500ms --smaps-interval 1s",
        &["--", "sh", "-c", &script],
    );
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let s = r.summary();
    let a = attribution(&s);
    let first = &a["processes"][0];
    let command: Vec<&str> = first["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(command.contains(&"--leak"), "{a}");
    assert!(first["share"].as_f64().unwrap() >= 0.8, "{a}");
    assert_eq!(first["trend"], "growing");
    let pid = first["pid"].as_i64().unwrap();
    assert!(headline(a).contains(&format!("pid {pid} ")), "{a}");
    assert!(
        hint_rules(a).contains(&"one_process_grows".to_string()),
        "{a}"
    );
    // The other backend is not growing.
    let other = a["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "memsoak" && p["pid"].as_i64() != Some(pid))
        .expect("the other backend");
    assert_ne!(other["trend"], "growing", "{a}");
}

#[test]
fn a_client_that_stops_reading_grows_socket_queues_while_memory_passes() {
    let profile = format!(
        r#"
name = "stalled"
[target]
command = ["{MEMSOAK}", "demo-backend", "--port", "{{port}}"]
ready_url = "http://127.0.0.1:{{port}}/health"
[run]
duration = "30s"
warmup = "5s"
interval = "500ms"
[[workload]]
name = "stalled"
kind = "collab"
url = "ws://127.0.0.1:{{port}}/collab/{{doc}}"
docs = 1
clients_per_doc = 2
rate = "20/s"
message_bytes = "1KB"
read = false
"#
    );
    let r = soak_profile(&profile, "", &[]);
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["verdict"], "pass");
    let a = attribution(&s);
    assert_eq!(trend(a, "socket_queue_bytes"), "growing", "{a}");
    assert_eq!(trend(a, "socket_send_queue_bytes"), "growing", "{a}");
    assert_eq!(series(a, "connections")["last"].as_f64(), Some(2.0), "{a}");
    assert!(headline(a).starts_with("socket_queue_bytes: +"), "{a}");
    assert!(hint_rules(a).contains(&"stalled_reader".to_string()), "{a}");
    // Nobody reads, so nothing is expected, and nothing is lost.
    assert_eq!(num(&workload(&s, "stalled")["lost"]), 0);
}

#[test]
fn a_token_on_a_child_command_line_is_redacted_from_the_process_rows() {
    // The launcher passes the workloads' token to the server on its
    // command line, where /proc/PID/cmdline shows it.
    let secret = "s3cr3t-token-77ab1e";
    let profile = r#"
[target]
command = ["sh", "-c", "exec {memsoak} demo-backend --port {port} --agent-token \"$MEMSOAK_TEST_TOKEN\""]
ready_url = "http://127.0.0.1:{port}/health"
"#
    .to_string()
        + crate::workload::AGENT;
    let r = soak_profile(
        &profile,
        "--duration 4s --warmup 1s --interval 500ms --on-inconclusive pass --max-growth 100GB/h",
        &[("MEMSOAK_TEST_TOKEN", secret)],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    // The server got the token (the agents were accepted) …
    assert_eq!(num(&workload(&r.summary(), "agents")["errors"]), 0);
    // … its command line was recorded, with the token redacted …
    let rows = std::fs::read_to_string(r.dir.join("processes.csv")).unwrap();
    assert!(
        rows.contains("--agent-token") && rows.contains("<redacted>"),
        "{rows}"
    );
    // … and no file holds it.
    assert_no_file_contains(&r.dir, secret);
}
