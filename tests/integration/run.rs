//! `memsoak run` against real targets.

use std::time::Duration;

use crate::common::*;

const MEMSOAK: &str = env!("CARGO_BIN_EXE_memsoak");

#[test]
fn flat_demo_backend_passes() {
    // No profile and no command: the built-in quickstart, exactly as the
    // README's main command runs it (two minutes of collab and agent load).
    let r = soak("", &[]);
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["verdict"], "pass");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["metric"], "anon");
    let ci = &s["growth"]["ci95_bytes_per_hour"];
    assert!(ci[1].as_f64().unwrap() < 10e6 && ci[0].as_f64() <= ci[1].as_f64());
    let stdout = r.stdout();
    assert!(
        stdout.contains("PASS") && stdout.contains("MB/h") && stdout.contains("95% CI"),
        "{stdout}"
    );

    let (header, rows) = samples(&r.dir);
    for col in [
        "elapsed_s",
        "unix_time_s",
        "late_ms",
        "processes",
        "rss_bytes",
        "pss_bytes",
        "anon_bytes",
        "swap_bytes",
        "fds",
        "threads",
        "cpu_percent",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "missing column {col} in {header:?}"
        );
    }
    assert!(rows.len() >= 120, "{} samples", rows.len());
    assert_eq!(s["samples"], rows.len() as u64);
    let pss: Vec<u64> = r
        .column("pss_bytes")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(pss.iter().all(|&v| v > 0), "{pss:?}");
    let w = workload(&s, "editors");
    assert!(num(&w["sent"]) > 2000 && num(&w["errors"]) == 0, "{w}");
    assert_eq!(num(&workload(&s, "agents")["errors"]), 0);
    // The launched backend's output went to files, not the terminal.
    let log = std::fs::read_to_string(r.dir.join("target.stdout.log")).unwrap();
    assert!(log.contains("listening on"), "{log}");
    assert!(!stdout.contains("listening on"));
}

#[test]
fn leaking_demo_backend_fails_with_the_injected_slope() {
    let r = soak(
        "--duration 20s --warmup 4s --interval 250ms --max-growth 10MB/h",
        &[
            "--",
            MEMSOAK,
            "demo-backend",
            "--port",
            "0",
            "--leak",
            "100MB/h",
        ],
    );
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["verdict"], "fail");
    let slope = s["growth"]["slope_bytes_per_hour"].as_f64().unwrap();
    assert!(
        (slope / 100e6 - 1.0).abs() < 0.20,
        "slope {slope} vs injected 100 MB/h"
    );
    assert!(s["growth"]["ci95_bytes_per_hour"][0].as_f64().unwrap() > 10e6);
}

#[test]
fn attach_samples_a_running_process_and_leaves_it_running() {
    let mut backend = DemoBackend::start(&[]);
    let pid = backend.child.id().to_string();
    let r = soak(
        "--duration 4s --warmup 1s --interval 250ms --on-inconclusive pass",
        &["--pid", &pid],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["target"]["mode"], "attach");
    assert_eq!(s["target"]["pid"].to_string(), pid);
    let rss = r.column("rss_bytes");
    assert!(rss.len() >= 12);
    assert!(
        rss.iter().all(|v| v.parse::<u64>().unwrap() > 1_000_000),
        "{rss:?}"
    );
    assert!(
        backend.child.try_wait().unwrap().is_none(),
        "memsoak must not stop an attached process"
    );
    assert!(
        http_get(backend.port, "/health").starts_with("HTTP/1.1 200"),
        "the attached backend still serves"
    );
}

#[test]
fn target_exiting_mid_run_is_exit_3_with_data_kept() {
    let r = soak(
        "--duration 60s --warmup 1s --interval 200ms",
        &["--", "sh", "-c", "sleep 2; echo dying >&2; exit 7"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["exit_code"], 3);
    assert_eq!(s["target"]["exit"]["code"], 7);
    assert!(s["target"]["failure"]
        .as_str()
        .unwrap()
        .contains("exit code 7"));
    let rows = r.column("elapsed_s");
    assert!(rows.len() >= 8, "{} samples", rows.len());
    assert_eq!(s["samples"], rows.len() as u64);
    assert!(r.stderr().contains("dying"), "{}", r.describe());
}

#[test]
fn target_killed_by_a_signal_is_reported() {
    let r = soak(
        "--duration 60s --interval 200ms",
        &["--", "sh", "-c", "sleep 1; kill -9 $$"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["target"]["exit"]["signal"], 9);
    assert!(s["target"]["exit_description"]
        .as_str()
        .unwrap()
        .contains("SIGKILL"));
}

#[test]
fn launched_process_group_is_gone_after_memsoak_exits() {
    // A parent with two children that ignore SIGTERM: only SIGKILL ends them.
    let r = soak(
        "--duration 3s --warmup 1s --interval 250ms --on-inconclusive pass",
        &[
            "--",
            "sh",
            "-c",
            "trap '' TERM; sleep 300 & sleep 300 & wait",
        ],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    let pgid = s["target"]["pid"].as_i64().unwrap() as i32;
    assert!(
        s["target"]["max_processes"].as_u64().unwrap() >= 3,
        "children were sampled: {s}"
    );
    assert!(
        eventually(Duration::from_secs(2), || group_members(pgid).is_empty()),
        "left behind: {:?}",
        group_members(pgid)
    );
    assert!(s["target"]["exit_description"]
        .as_str()
        .unwrap()
        .starts_with("stopped by memsoak"));
}

#[test]
fn descendants_born_later_are_sampled() {
    let r = soak(
        "--duration 3s --warmup 1s --interval 200ms --on-inconclusive pass",
        &["--", "sh", "-c", "sleep 1; sleep 30 & sleep 30 & wait"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let counts: Vec<u32> = r
        .column("processes")
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    // The shell (plus `sleep 1` at first), then the shell and two workers.
    assert!(counts[0] <= 2, "{counts:?}");
    assert_eq!(*counts.last().unwrap(), 3, "{counts:?}");
}

#[test]
fn not_ready_in_time_is_exit_3_with_the_targets_stderr() {
    let closed = ClosedPort::new();
    let r = soak(
        &format!("--ready-tcp 127.0.0.1:{} --ready-timeout 1s", closed.port),
        &["--", "sh", "-c", "echo cannot bind port >&2; sleep 30"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let err = r.stderr();
    assert!(
        err.contains("not ready after 1s") && err.contains("cannot bind port"),
        "{err}"
    );
}

#[test]
fn target_ending_before_ready_is_reported_with_its_status() {
    let closed = ClosedPort::new();
    let r = soak(
        &format!(
            "--ready-url http://127.0.0.1:{}/health --ready-timeout 30s",
            closed.port
        ),
        &["--", "sh", "-c", "echo no config >&2; exit 2"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let err = r.stderr();
    assert!(
        err.contains("ended before it was ready: exit code 2") && err.contains("no config"),
        "{err}"
    );
}

#[test]
fn ctrl_c_or_sigterm_writes_every_output_marked_partial_and_stops_the_target() {
    for signal in ["INT", "TERM"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let child = spawn_soak(&dir, &["sleep", "300"]);
        assert!(eventually(Duration::from_secs(10), || samples_written(
            &dir
        ) >= 5));
        // `kill -INT` is what a terminal's Ctrl-C sends; `kill -TERM` what a
        // supervisor or a CI timeout sends.
        std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "SIG{signal}: {}", describe(&o));
        let s = summary(&dir);
        assert_eq!(s["partial"], true);
        assert_eq!(s["exit_code"], 130);
        assert_eq!(s["samples"], samples_written(&dir) as u64);
        for file in [
            "samples.csv",
            "memory.png",
            "memory.svg",
            "report.html",
            "report.md",
            "junit.xml",
        ] {
            assert!(dir.join(file).exists(), "SIG{signal}: no {file}");
        }
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("(partial: interrupted)"), "{md}");
        let pgid = s["target"]["pid"].as_i64().unwrap() as i32;
        assert!(
            eventually(Duration::from_secs(2), || group_members(pgid).is_empty()),
            "SIG{signal}: left behind: {:?}",
            group_members(pgid)
        );
    }
}

#[test]
fn portable_sampler_reads_rss_without_proc_extras() {
    let mut cmd = memsoak();
    cmd.env("MEMSOAK_SAMPLER", "sysinfo");
    let r = soak_with(
        cmd,
        "--duration 3s --warmup 1s --interval 250ms --on-inconclusive pass",
        &["--", "sleep", "30"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["metric"], "rss");
    assert!(s["metric_note"]
        .as_str()
        .unwrap()
        .contains("anon is not readable"));
    assert!(s["unavailable_columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "pss_bytes"));
    assert!(r
        .column("rss_bytes")
        .iter()
        .all(|v| v.parse::<u64>().unwrap() > 0));
    assert!(r.column("pss_bytes").iter().all(String::is_empty));
}

fn samples_written(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("samples.csv"))
        .map_or(0, |s| s.lines().count().saturating_sub(1))
}

/// A minimal HTTP/1.1 GET on 127.0.0.1, returning the raw response.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn sigkilled_memsoak_leaves_no_target_and_its_data_is_reportable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = spawn_stubborn_soak(&dir);
    assert!(eventually(Duration::from_secs(10), || samples_written(
        &dir
    ) >= 12));
    let target = children_named(child.id(), "sh");
    assert_eq!(target.len(), 1, "the launched shell");
    let pgid = target[0];
    assert!(group_members(pgid).len() >= 3);

    child.kill().unwrap(); // SIGKILL: memsoak gets no chance to clean up.
    child.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || group_members(pgid).is_empty()),
        "target processes outlived memsoak: {:?}",
        group_members(pgid)
    );

    // Every sample written before the kill is there and can be judged.
    let written = samples_written(&dir) as u64;
    // The provisional summary written at the start keeps the run's own
    // settings (a 1 s warm-up, not the default) and marks it partial.
    let provisional = summary(&dir);
    assert_eq!(provisional["partial"], true, "{provisional}");
    assert_eq!(provisional["warmup_s"], 1.0, "{provisional}");
    let o = run(&["report", dir.to_str().unwrap(), "--on-inconclusive", "pass"]);
    assert_eq!(
        o.status.code(),
        Some(130),
        "a killed run stays unfinished: {}",
        describe(&o)
    );
    let s = summary(&dir);
    assert_eq!(s["samples"], written);
    assert_eq!(s["partial"], true);
    assert_eq!(s["warmup_s"], 1.0);
    // The growth verdict alone, when asked for.
    let o = run(&[
        "report",
        dir.to_str().unwrap(),
        "--on-inconclusive",
        "pass",
        "--growth-only",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", describe(&o));
}

#[test]
fn a_second_interrupt_quits_at_once_and_still_stops_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // The target ignores SIGTERM, so the first interrupt's orderly stop
    // waits out the 5 s grace; the second one must not wait for it.
    let child = spawn_stubborn_soak(&dir);
    assert!(eventually(Duration::from_secs(10), || samples_written(
        &dir
    ) >= 5));
    let pgid = children_named(child.id(), "sh")[0];
    let term = || {
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
    };
    term();
    std::thread::sleep(Duration::from_millis(500));
    term();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("interrupted again"),
        "{}",
        describe(&o)
    );
    let s = summary(&dir);
    assert!(
        s["reasons"][0].as_str().unwrap().starts_with("provisional"),
        "it quit before the orderly stop finished: {s}"
    );
    assert!(
        samples_written(&dir) >= 5,
        "samples written so far are kept"
    );
    assert!(
        eventually(Duration::from_secs(10), || group_members(pgid).is_empty()),
        "left behind: {:?}",
        group_members(pgid)
    );
}

#[test]
fn fail_fast_ends_a_leaking_run_early_and_not_a_flat_one() {
    // 20 looks over the judged window: one every 29 s.
    let leak = soak(
        "--duration 10m --warmup 20s --interval 250ms --fail-fast",
        &[
            "--",
            MEMSOAK,
            "demo-backend",
            "--port",
            "0",
            "--leak",
            "2GB/h",
        ],
    );
    assert_eq!(leak.code(), Some(1), "{}", leak.describe());
    let s = leak.summary();
    let ended = s["duration_s"].as_f64().unwrap();
    assert!(ended < 300.0, "stopped after {ended} s of a 10-minute run");
    assert!(s["fail_fast"]["look"].as_u64().unwrap() >= 1, "{s}");
    assert!(
        s["reasons"][0].as_str().unwrap().starts_with("fail-fast"),
        "{s}"
    );

    let flat = soak(
        "--duration 20s --warmup 2s --interval 250ms --fail-fast --on-inconclusive pass",
        &["--", "sleep", "60"],
    );
    assert_eq!(flat.code(), Some(0), "{}", flat.describe());
    let s = flat.summary();
    assert!(
        s["fail_fast"].is_null() && s["duration_s"].as_f64().unwrap() >= 19.0,
        "{s}"
    );
}
