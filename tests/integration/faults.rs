//! Faults and stale state: what memsoak does when a run or a re-judgement
//! meets a crashed target, a reused folder, a folder it cannot write, or a
//! summary from another run.

use std::fmt::Write;
use std::path::Path;

use crate::common::*;

/// A CSV of `secs` seconds at 1 Hz growing `bytes_per_s`.
fn csv(path: &Path, secs: u64, bytes_per_s: f64) {
    let mut s = String::from("elapsed_s,rss_bytes\n");
    for t in 0..secs {
        writeln!(s, "{t},{}", (100e6 + bytes_per_s * t as f64) as u64).unwrap();
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn report_on_a_csv_never_reads_or_replaces_another_runs_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
    csv(&a, 600, 0.0);
    // 100 MB/h.
    csv(&b, 600, 100e6 / 3600.0);
    let o = run(&["report", "--max-growth", "200MB/h", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = run(&["report", b.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "b is judged on its own: {}",
        describe(&o)
    );
    let a_summary = summary(&tmp.path().join("a-report"));
    assert_eq!(a_summary["threshold"], "200MB/h");
    assert_eq!(a_summary["name"], "a");
    let b_summary = summary(&tmp.path().join("b-report"));
    assert_eq!(b_summary["threshold"], "10MB/h");
    assert_eq!(b_summary["name"], "b");
    assert!(!tmp.path().join("summary.json").exists());
}

#[test]
fn rejudging_a_crashed_run_keeps_its_failure() {
    let r = soak(
        "--duration 8s --warmup 1s --interval 200ms",
        &["--", "sh", "-c", "echo boom-on-stderr >&2; sleep 4; exit 1"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    // The failure is the headline, with the target's own last words.
    assert!(
        r.stdout()
            .starts_with("memsoak: TARGET FAILURE: the target ended"),
        "{}",
        r.describe()
    );
    assert_eq!(r.summary()["target"]["stderr_tail"][0], "boom-on-stderr");
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(html.contains("<pre>boom-on-stderr</pre>"), "{html}");
    let dir = r.dir.to_str().unwrap();
    let o = run(&["report", dir, "--on-inconclusive", "pass"]);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    let s = r.summary();
    assert_eq!(s["exit_code"], 3);
    assert!(
        s["target"]["failure"]
            .as_str()
            .unwrap()
            .contains("exit code 1"),
        "{s}"
    );
    let o = run(&["report", dir, "--on-inconclusive", "pass", "--growth-only"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", describe(&o));
}

#[test]
fn an_unreadable_summary_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    csv(&dir.join("samples.csv"), 300, 0.0);
    std::fs::write(dir.join("summary.json"), "{ not json").unwrap();
    let o = run(&["report", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("will not replace a summary it cannot read"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.json")).unwrap(),
        "{ not json"
    );
    // Written elsewhere, the re-judgement goes ahead with a warning.
    let out = tmp.path().join("elsewhere");
    let o = run(&[
        "report",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"));
    assert_eq!(summary(&out)["verdict"], "pass");
}

#[test]
fn a_reused_run_folder_is_moved_aside_never_mixed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nightly");
    let flags = [
        "run",
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--interval",
        "200ms",
    ];
    let o = memsoak()
        .args(flags)
        .args(["--on-inconclusive", "pass", "--out", dir.to_str().unwrap()])
        .args(["--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    // The second night's target is never ready: nothing of the first run
    // may be left to read as its result.
    let closed = ClosedPort::new();
    let o = memsoak()
        .args(flags)
        .args(["--ready-tcp", &format!("127.0.0.1:{}", closed.port)])
        .args(["--ready-timeout", "1s", "--out", dir.to_str().unwrap()])
        .args(["--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("held an earlier run: moved to"));
    // The night is recorded as what it was: never ready, nothing judged,
    // with no earlier verdict beside it.
    let night = summary(&dir);
    assert_eq!(night["exit_code"], 3, "{night}");
    assert_ne!(night["verdict"], "pass", "{night}");
    assert!(
        night["target"]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("ready")),
        "{night}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    assert!(!dir.join("samples.csv").exists() || night["samples"] == 0);
    let aside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("nightly.previous-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        summary(&aside[0])["verdict"],
        "pass",
        "the first night is kept"
    );

    // A folder with something else in it is refused, and left alone.
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let o = memsoak()
        .args(flags)
        .args(["--out", busy.to_str().unwrap(), "--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no memsoak run"));
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // Two runs given the same folder a second apart: the second is
    // refused while the first writes; the first's folder stays its own.
    let shared = tmp.path().join("shared");
    let first = memsoak()
        .args([
            "run",
            "--duration",
            "6s",
            "--warmup",
            "1s",
            "--interval",
            "200ms",
        ])
        .args([
            "--on-inconclusive",
            "pass",
            "--out",
            shared.to_str().unwrap(),
        ])
        .args(["--", "sleep", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let second = memsoak()
        .args(flags)
        .args(["--out", shared.to_str().unwrap(), "--", "sleep", "30"])
        .output()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", describe(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another memsoak is writing"),
        "{}",
        describe(&second)
    );
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    assert_eq!(summary(&shared)["verdict"], "pass");
    let beside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("shared."))
        .collect();
    assert!(beside.is_empty(), "nothing moved aside: {beside:?}");
    // Once the first has ended, the folder is free for the next night.
    let next = memsoak()
        .args(flags)
        .args([
            "--on-inconclusive",
            "pass",
            "--out",
            shared.to_str().unwrap(),
        ])
        .args(["--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(next.status.code(), Some(0), "{}", describe(&next));
    assert!(String::from_utf8_lossy(&next.stderr).contains("held an earlier run: moved to"));
}

#[test]
fn a_summary_that_cannot_be_written_still_prints_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let child = memsoak()
        .args([
            "run",
            "--duration",
            "4s",
            "--warmup",
            "1s",
            "--interval",
            "200ms",
        ])
        .args(["--on-inconclusive", "pass", "--out", dir.to_str().unwrap()])
        .args(["--", "sleep", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the provisional summary is there, put a folder in its place:
    // the final summary cannot be renamed over it.
    assert!(eventually(std::time::Duration::from_secs(10), || dir
        .join("summary.json")
        .is_file()));
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    std::fs::create_dir_all(dir.join("summary.json").join("blocker")).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", describe(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("memsoak: PASS"), "{}", describe(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("I/O error: could not write"), "{stderr}");
    assert!(
        !dir.join(".summary.json.tmp").exists(),
        "no temporary file left"
    );
}

#[test]
fn quiet_shows_a_target_failure() {
    let r = soak(
        "-q --duration 4s --warmup 1s --interval 200ms --on-inconclusive pass",
        &["--", "sh", "-c", "sleep 2; exit 1"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    assert!(
        r.stdout()
            .starts_with("memsoak: TARGET FAILURE: the target ended"),
        "{}",
        r.describe()
    );
    assert!(r.stderr().is_empty(), "{}", r.describe());
}

#[test]
fn a_bad_header_from_the_environment_is_refused_before_launch() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let profile = tmp.path().join("p.toml");
    std::fs::write(
        &profile,
        r#"[target]
command = ["sleep", "60"]

[[workload]]
kind = "agent"
[[workload.step]]
url = "http://127.0.0.1:9/x"
headers = { Authorization = "Bearer ${MS_BAD_TOKEN}" }
"#,
    )
    .unwrap();
    let o = memsoak()
        .env("MS_BAD_TOKEN", "abc\ndef-secret")
        .args([
            "run",
            profile.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("p.toml:"), "{stderr}");
    assert!(
        stderr.contains("the value of header 'Authorization' is not valid"),
        "{stderr}"
    );
    assert!(!stderr.contains("def-secret"), "{stderr}");
    assert!(!out.exists(), "refused before anything started");
}

/// Runs memsoak with `args`, failing the test if it has not ended in
/// `limit` (it is killed then).
fn run_within(limit: std::time::Duration, args: &[&str]) -> std::process::Output {
    let mut child = memsoak()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ended = eventually(limit, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        ended,
        "memsoak {args:?} did not end in {limit:?}: {}",
        describe(&o)
    );
    o
}

#[test]
fn values_no_axis_can_hold_skip_the_chart_not_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    let mut s = String::from("elapsed_s,rss_bytes\n");
    for t in 0..120 {
        let v = if t == 60 { 1.7e308 } else { 1e8 };
        writeln!(s, "{t},{v}").unwrap();
    }
    std::fs::write(dir.join("samples.csv"), &s).unwrap();
    let o = run_within(
        std::time::Duration::from_secs(30),
        &["report", dir.to_str().unwrap(), "--on-inconclusive", "pass"],
    );
    assert!(o.status.code().is_some(), "{}", describe(&o));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("too large to chart"), "{html}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.lines().all(|l| l.len() < 300)
            && !stdout.contains("inf MB")
            && !stdout.contains("NaN"),
        "numbers print short: {stdout}"
    );

    // The same for a latency no axis can hold, in workload.csv.
    csv(&dir.join("samples.csv"), 120, 0.0);
    std::fs::write(
        dir.join("workload.csv"),
        "elapsed_s,workload,kind,sent,received,errors,late_sends,connects,open_connections,p50_ms,p99_ms\n\
         1,w,agent,1,1,0,0,0,0,1.0,1.7e308\n2,w,agent,1,1,0,0,0,0,1.0,2.0\n",
    )
    .unwrap();
    let o = run_within(
        std::time::Duration::from_secs(30),
        &["report", dir.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("too large to chart"), "{html}");
}

#[test]
fn compare_refuses_other_metrics_and_a_new_run_without_a_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, metric: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let mut s = String::from("elapsed_s,rss_bytes,anon_bytes\n");
        for t in 0..600 {
            writeln!(s, "{t},{},{}", 150_000_000 + t, 100_000_000 + t).unwrap();
        }
        std::fs::write(dir.join("samples.csv"), s).unwrap();
        let o = run(&["report", dir.to_str().unwrap(), "--metric", metric]);
        assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
        dir
    };
    let (anon, rss) = (make("anon", "anon"), make("rss", "rss"));
    let o = run(&["compare", anon.to_str().unwrap(), rss.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("judged on anon and NEW on rss"));

    // NEW's target crashed: no verdict, so not "not worse".
    let r = soak(
        "--duration 6s --warmup 1s --interval 200ms --metric rss",
        &["--", "sh", "-c", "sleep 1; exit 1"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let o = run(&["compare", rss.to_str().unwrap(), r.dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("NEW's target failed"));

    // A summary without its samples (written by `report --out`) compares,
    // without a chart.
    let elsewhere = tmp.path().join("elsewhere");
    let o = run(&[
        "report",
        rss.to_str().unwrap(),
        "--out",
        elsewhere.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = run(&[
        "compare",
        rss.to_str().unwrap(),
        elsewhere.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no comparison chart"));
}

/// Sleeps with durations no other test uses, to find them in `/proc`.
fn sleeps(seconds: &[&str]) -> Vec<i32> {
    seconds
        .iter()
        .flat_map(|s| running(&["sleep", s]))
        .collect()
}

#[test]
fn workers_that_leave_the_group_are_stopped_with_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("daemon.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsetsid sleep 7771 &\n( setsid sh -c 'exec sleep 7772' & )\nexec sleep 60\n",
    )
    .unwrap();
    let r = soak(
        "--duration 4s --warmup 1s --interval 500ms --on-inconclusive pass",
        &["--", "sh", script.to_str().unwrap()],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let pids: Vec<i64> = r.summary()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert!(pids.len() >= 3, "the workers are sampled: {pids:?}");
    assert!(
        eventually(std::time::Duration::from_secs(5), || sleeps(&[
            "7771", "7772"
        ])
        .is_empty()),
        "workers outside the group outlived the run: {:?}",
        sleeps(&["7771", "7772"])
    );

    let r = soak(
        "--duration 3s --warmup 1s --interval 500ms --on-inconclusive pass",
        &["--", "bash", "-c", "set -m; sleep 7821 & wait"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    assert!(
        eventually(std::time::Duration::from_secs(5), || sleeps(&["7821"])
            .is_empty()),
        "a job-control worker outlived the run"
    );
}

#[test]
fn a_launcher_that_daemonizes_is_followed_to_its_processes() {
    let r = soak(
        "--duration 4s --warmup 1s --interval 250ms --on-inconclusive pass",
        &[
            "--",
            "sh",
            "-c",
            "( setsid sleep 7831 & ); sleep 0.5; exit 0",
        ],
    );
    assert_eq!(r.code(), Some(0), "not a target failure: {}", r.describe());
    let s = r.summary();
    assert!(s["target"]["failure"].is_null(), "{s}");
    assert!(
        s["target"]["exit_description"]
            .as_str()
            .unwrap()
            .contains("the launcher exited by itself"),
        "{s}"
    );
    assert!(
        s["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "sleep"),
        "the daemon is sampled: {s}"
    );
    assert!(
        r.stderr().contains("left 1 process(es): sampling them"),
        "{}",
        r.describe()
    );
    assert!(
        eventually(std::time::Duration::from_secs(5), || sleeps(&["7831"])
            .is_empty()),
        "the daemon outlived the run"
    );

    // Its processes all end before the run does: a target failure.
    let r = soak(
        "--duration 6s --warmup 1s --interval 250ms --on-inconclusive pass",
        &["--", "sh", "-c", "( setsid sleep 2 & ); exit 0"],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    assert!(
        r.summary()["target"]["failure"]
            .as_str()
            .unwrap()
            .contains("every process it left had ended"),
        "{}",
        r.describe()
    );
}

#[test]
fn the_watchdog_stops_workers_outside_the_group_when_memsoak_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = spawn_soak(&dir, &["sh", "-c", "setsid sleep 7841 & wait"]);
    // The stats tick tells the watchdog once a second.
    assert!(eventually(std::time::Duration::from_secs(10), || {
        !sleeps(&["7841"]).is_empty() && summary_exists(&dir)
    }));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        eventually(std::time::Duration::from_secs(15), || sleeps(&["7841"])
            .is_empty()),
        "a worker outside the group outlived a SIGKILLed memsoak: {:?}",
        sleeps(&["7841"])
    );
}

fn summary_exists(dir: &Path) -> bool {
    dir.join("summary.json").is_file()
}

#[test]
fn odd_but_valid_csvs_are_judged_and_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    // Spaces around every field: judged, and charted.
    let dir = tmp.path().join("spaced");
    std::fs::create_dir(&dir).unwrap();
    let mut s = String::from(" elapsed_s , rss_bytes \n");
    for t in 0..120 {
        writeln!(s, " {t} , {} ", 100_000_000 + t).unwrap();
    }
    std::fs::write(dir.join("samples.csv"), s).unwrap();
    let o = run(&["report", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(dir.join("memory.png").is_file(), "{}", describe(&o));

    // Every sample at the same time: no trend, and the reason says why.
    let dir = tmp.path().join("frozen-clock");
    std::fs::create_dir(&dir).unwrap();
    let rows: String = (0..200)
        .map(|i| format!("5,{}\n", 100_000_000 + i))
        .collect();
    std::fs::write(
        dir.join("samples.csv"),
        format!("elapsed_s,rss_bytes\n{rows}"),
    )
    .unwrap();
    let o = run(&["report", dir.to_str().unwrap(), "--warmup", "0s"]);
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("span no time"),
        "{}",
        describe(&o)
    );

    // A CSV given by a bare name: its report folder is named, not empty.
    let o = memsoak()
        .current_dir(tmp.path().join("spaced"))
        .args(["report", "samples.csv"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("run folder: ."),
        "{}",
        describe(&o)
    );
}

#[test]
fn attach_refuses_a_thread_and_never_measures_memsoak() {
    // A thread of this test process, alive for the test's length.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        tx.send(nix::unistd::gettid().as_raw()).unwrap();
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().unwrap().to_string();
    let o = run(&["run", "--pid", &tid, "--duration", "2s"]);
    stop_tx.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "pid {tid} is a thread of process {}",
            std::process::id()
        )),
        "{}",
        describe(&o)
    );

    // A shell that is memsoak's parent: attaching to it would take in
    // memsoak itself, which is left out (and said so).
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -v run --pid $$ --duration 2s --warmup 1s --interval 250ms --on-inconclusive pass --out "$1"; code=$?; exit $code"#)
        .arg(env!("CARGO_BIN_EXE_memsoak"))
        .arg(&out)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is an ancestor of memsoak"),
        "{}",
        describe(&o)
    );
    let names: Vec<String> = summary(&out)["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["sh".to_string()], "the shell alone");
}

#[test]
fn readiness_answered_by_another_process_is_a_target_failure() {
    // Another server holds the port: readiness succeeds at once, and the
    // launched target fails to bind and exits.
    let foreign = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = foreign.local_addr().unwrap().port();
    let r = soak(
        &format!("--duration 10s --warmup 1s --ready-tcp 127.0.0.1:{port}"),
        &[
            "--",
            "sh",
            "-c",
            "echo 'error: address already in use' >&2; sleep 0.2; exit 2",
        ],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let err = r.stderr();
    assert!(
        err.contains("ended right after TCP 127.0.0.1:")
            && err.contains("another process may be answering")
            && err.contains("address already in use"),
        "{err}"
    );
    drop(foreign);
}

#[test]
fn command_line_mistakes_read_as_one_memsoak_error() {
    let o = run(&["run", "--duraton", "5s", "--", "sleep", "30"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("memsoak: error: unexpected argument '--duraton'"),
        "{err}"
    );
    assert!(
        err.contains("a similar argument exists: '--duration'"),
        "{err}"
    );
    // After `--` comes the target's command: no tip to put the flag there.
    assert!(!err.contains("-- --duraton"), "{err}");

    let o = run(&["run", "/nonexistent/profile.toml"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // Help and version are not errors.
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("memsoak "));
}
