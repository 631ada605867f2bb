//! `memsoak run` against real targets.

use std::time::Duration;

use crate::common::*;

fn out_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("run").to_string_lossy().into_owned()
}

#[test]
fn flat_demo_backend_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--duration",
        "15s",
        "--warmup",
        "3s",
        "--interval",
        "500ms",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let dir = tmp.path().join("run");
    let s = summary(&dir);
    assert_eq!(s["verdict"], "pass");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["metric"], "anon");
    let [lo, hi] = [
        &s["growth"]["ci95_bytes_per_hour"][0],
        &s["growth"]["ci95_bytes_per_hour"][1],
    ];
    assert!(hi.as_f64().unwrap() < 10e6 && lo.as_f64().unwrap() <= hi.as_f64().unwrap());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("PASS") && stdout.contains("MB/h") && stdout.contains("95% CI"),
        "{stdout}"
    );

    let (header, rows) = samples(&dir);
    for col in [
        "elapsed_s",
        "rss_bytes",
        "pss_bytes",
        "anon_bytes",
        "swap_bytes",
        "fds",
        "threads",
        "cpu_percent",
        "processes",
        "late_ms",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "missing column {col} in {header:?}"
        );
    }
    assert!(rows.len() >= 28, "{} samples", rows.len());
    assert_eq!(s["samples"], rows.len() as u64);
    // The launched demo backend's output went to files, not the terminal.
    assert!(std::fs::read_to_string(dir.join("target.stdout.log"))
        .unwrap()
        .contains("listening on"));
}

#[test]
fn leaking_demo_backend_fails_with_the_injected_slope() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let injected = 100e6;
    let o = run(&[
        "run",
        "--duration",
        "20s",
        "--warmup",
        "4s",
        "--interval",
        "250ms",
        "--max-growth",
        "10MB/h",
        "--out",
        &out,
        "--",
        env!("CARGO_BIN_EXE_memsoak"),
        "demo-backend",
        "--port",
        "0",
        "--leak",
        "100MB/h",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let s = summary(&tmp.path().join("run"));
    assert_eq!(s["verdict"], "fail");
    let slope = s["growth"]["slope_bytes_per_hour"].as_f64().unwrap();
    assert!(
        (slope / injected - 1.0).abs() < 0.20,
        "slope {slope} vs injected {injected}"
    );
    assert!(s["growth"]["ci95_bytes_per_hour"][0].as_f64().unwrap() > 10e6);
}

#[test]
fn attach_samples_a_running_process_and_leaves_it_running() {
    let mut backend = DemoBackend::start(&[]);
    let pid = backend.child.id().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--pid",
        &pid,
        "--duration",
        "4s",
        "--warmup",
        "1s",
        "--interval",
        "250ms",
        "--on-inconclusive",
        "pass",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let s = summary(&tmp.path().join("run"));
    assert_eq!(s["target"]["mode"], "attach");
    assert_eq!(s["target"]["pid"].to_string(), pid);
    let (_, rows) = samples(&tmp.path().join("run"));
    assert!(rows.len() >= 12);
    assert!(
        rows.iter()
            .all(|r| r[4].parse::<u64>().unwrap() > 1_000_000),
        "rss_bytes looks wrong"
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
fn attach_to_a_missing_pid_is_a_target_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--pid",
        "999999999",
        "--duration",
        "2s",
        "--out",
        &out,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("999999999"));
}

#[test]
fn target_exiting_mid_run_is_exit_3_with_data_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--duration",
        "60s",
        "--warmup",
        "1s",
        "--interval",
        "200ms",
        "--out",
        &out,
        "--",
        "sh",
        "-c",
        "sleep 2; echo dying >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    let dir = tmp.path().join("run");
    let s = summary(&dir);
    assert_eq!(s["exit_code"], 3);
    assert_eq!(s["target"]["exit"]["code"], 7);
    assert!(s["target"]["failure"]
        .as_str()
        .unwrap()
        .contains("exit code 7"));
    let (_, rows) = samples(&dir);
    assert!(rows.len() >= 8, "{} samples", rows.len());
    assert_eq!(s["samples"], rows.len() as u64);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dying"),
        "{}",
        describe(&o)
    );
}

#[test]
fn target_killed_by_a_signal_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--duration",
        "60s",
        "--interval",
        "200ms",
        "--out",
        &out,
        "--",
        "sh",
        "-c",
        "sleep 1; kill -9 $$",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    let s = summary(&tmp.path().join("run"));
    assert_eq!(s["target"]["exit"]["signal"], 9);
    assert!(s["target"]["exit_description"]
        .as_str()
        .unwrap()
        .contains("SIGKILL"));
}

#[test]
fn launched_process_group_is_gone_after_memsoak_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    // A parent with two children that ignore SIGTERM: only SIGKILL ends them.
    let script = "trap '' TERM; sleep 300 & sleep 300 & wait";
    let o = run(&[
        "run",
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--interval",
        "250ms",
        "--on-inconclusive",
        "pass",
        "--out",
        &out,
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let s = summary(&tmp.path().join("run"));
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
}

#[test]
fn descendants_born_later_are_sampled() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--interval",
        "200ms",
        "--on-inconclusive",
        "pass",
        "--out",
        &out,
        "--",
        "sh",
        "-c",
        "sleep 1; sleep 30 & sleep 30 & wait",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let (header, rows) = samples(&tmp.path().join("run"));
    let col = header.iter().position(|h| h == "processes").unwrap();
    let counts: Vec<u32> = rows.iter().map(|r| r[col].parse().unwrap()).collect();
    // The shell (plus `sleep 1` at first), then the shell and two workers.
    assert!(counts[0] <= 2, "{counts:?}");
    assert_eq!(*counts.last().unwrap(), 3, "{counts:?}");
}

#[test]
fn not_ready_in_time_is_exit_3_with_the_targets_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&[
        "run",
        "--ready-tcp",
        "127.0.0.1:1",
        "--ready-timeout",
        "1s",
        "--out",
        &out,
        "--",
        "sh",
        "-c",
        "echo cannot bind port >&2; sleep 30",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not ready after 1s") && err.contains("cannot bind port"),
        "{err}"
    );
}

#[test]
fn nonexistent_command_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = run(&["run", "--out", &out, "--", "/nonexistent/backend"]);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("could not start '/nonexistent/backend'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn sigterm_writes_a_partial_summary_and_stops_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let child = memsoak()
        .args([
            "run",
            "--duration",
            "60s",
            "--warmup",
            "1s",
            "--interval",
            "200ms",
            "--out",
            &out,
            "--",
            "sleep",
            "300",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = tmp.path().join("run");
    assert!(eventually(Duration::from_secs(10), || samples_written(
        &dir
    ) >= 5));
    let pid = child.id() as i32;
    // The `kill` command sends SIGTERM as a supervisor (or CI timeout) would.
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", describe(&o));
    let s = summary(&dir);
    assert_eq!(s["partial"], true);
    assert_eq!(s["exit_code"], 130);
    let pgid = s["target"]["pid"].as_i64().unwrap() as i32;
    assert!(eventually(Duration::from_secs(2), || group_members(pgid).is_empty()));
}

fn samples_written(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("samples.csv"))
        .map_or(0, |s| s.lines().count().saturating_sub(1))
}

#[test]
fn portable_sampler_reads_rss_without_proc_extras() {
    let tmp = tempfile::tempdir().unwrap();
    let out = out_arg(&tmp);
    let o = memsoak()
        .env("MEMSOAK_SAMPLER", "sysinfo")
        .args([
            "run",
            "--duration",
            "3s",
            "--warmup",
            "1s",
            "--interval",
            "250ms",
            "--on-inconclusive",
            "pass",
            "--out",
            &out,
            "--",
            "sleep",
            "30",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let s = summary(&tmp.path().join("run"));
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
    let (header, rows) = samples(&tmp.path().join("run"));
    let rss = header.iter().position(|h| h == "rss_bytes").unwrap();
    let pss = header.iter().position(|h| h == "pss_bytes").unwrap();
    assert!(rows
        .iter()
        .all(|r| r[rss].parse::<u64>().unwrap() > 0 && r[pss].is_empty()));
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
