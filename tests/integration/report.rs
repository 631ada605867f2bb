//! `memsoak report`: re-judging run folders and foreign CSV files.

use std::fmt::Write;

use crate::common::*;

/// A CSV as another tool might record it: only the two required columns,
/// 1 Hz for an hour, growing 36 MB/h (10 kB/s) with a GC-like sawtooth.
fn foreign_csv(slope_bytes_per_s: f64) -> String {
    let mut s = String::from("elapsed_s,rss_bytes\n");
    for t in 0..3600 {
        let saw = (t % 45) as f64 * 40_000.0;
        let y = 200e6 + slope_bytes_per_s * t as f64 + saw;
        writeln!(s, "{t},{}", y as u64).unwrap();
    }
    s
}

#[test]
fn known_slope_is_recovered_from_a_hand_written_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("psrecord.csv");
    std::fs::write(&csv, foreign_csv(10_000.0)).unwrap();
    let o = run(&["report", csv.to_str().unwrap(), "--max-growth", "10MB/h"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    // A CSV that is not a run's samples.csv gets a report folder of its own.
    let s = summary(&tmp.path().join("psrecord-report"));
    let slope = s["growth"]["slope_bytes_per_hour"].as_f64().unwrap();
    assert!((slope / 36e6 - 1.0).abs() < 0.02, "slope {slope}");
    assert_eq!(s["metric"], "rss");
    // By default the warm-up is found in the data: a steady line has none
    // beyond the first 1% of the recording (last sample at 3599 s).
    assert_eq!(s["warmup_auto"], true);
    assert_eq!(s["warmup_s"], 35.99, "{s}");
    // A fixed one is taken as given.
    let o = run(&["report", csv.to_str().unwrap(), "--warmup", "10m"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let s = summary(&tmp.path().join("psrecord-report"));
    assert_eq!(
        (s["warmup_auto"].clone(), s["warmup_s"].clone()),
        (false.into(), 600.0.into())
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("36.0 MB/h"), "{stdout}");

    // The same data judged against a looser limit, in the unit given.
    let o = run(&["report", csv.to_str().unwrap(), "--max-growth", "1GB/h"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("0.04 GB/h"));
}

#[test]
fn report_reuses_the_runs_settings_and_truncated_last_row() {
    let r = soak(
        "--duration 6s --warmup 1s --interval 200ms --max-growth 2GB/h",
        &["--", "sleep", "30"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let dir = r.dir.clone();
    let out = dir.to_string_lossy().into_owned();
    let before = summary(&dir);
    // A run killed mid-write leaves a partial last line; report still works.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("samples.csv"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"6.2,17958").unwrap();
    let o = run(&["report", &out]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let after = summary(&dir);
    for key in [
        "verdict",
        "threshold",
        "warmup_s",
        "metric",
        "samples",
        "target",
    ] {
        assert_eq!(before[key], after[key], "{key} changed on re-analysis");
    }
}

#[test]
fn csv_without_required_columns_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("x.csv");
    std::fs::write(&csv, "time,mem\n1,2\n").unwrap();
    let o = run(&["report", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("has no column 'elapsed_s' (it has: time, mem)"));
    std::fs::write(&csv, "elapsed_s,rss_bytes\n1,2\n2,lots\n3,4\n").unwrap();
    let o = run(&["report", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("x.csv:3: column 'rss_bytes': 'lots' is not a number"),
        "{}",
        describe(&o)
    );
}

#[test]
fn a_time_column_that_goes_backwards_is_refused_with_its_line() {
    // Two recordings of a 100 MB/h leak appended: judged as one series the
    // jump back reads as a fall ("PASS: -105 MB/h"); it is refused instead.
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("appended.csv");
    let mut text = String::from("elapsed_s,rss_bytes\n");
    for _ in 0..2 {
        for i in 0..600u32 {
            let rss = 100_000_000 + u64::from(i) * 100_000_000 / 3600;
            text.push_str(&format!("{i},{rss}\n"));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let o = run(&["report", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("appended.csv:602: column 'elapsed_s' goes backwards (0 after 599)"),
        "{}",
        describe(&o)
    );
    assert!(
        !tmp.path().join("appended-report").exists(),
        "no report of it"
    );
}

#[test]
fn fail_fast_replays_the_planned_looks_of_a_recording() {
    let tmp = tempfile::tempdir().unwrap();
    // 36 MB/h with a sawtooth: over a 10 MB/h limit, clear early.
    let leak = tmp.path().join("leak.csv");
    std::fs::write(&leak, foreign_csv(10_000.0)).unwrap();
    let o = run(&["report", leak.to_str().unwrap(), "--fail-fast"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let s = summary(&tmp.path().join("leak-report"));
    let e = &s["fail_fast"];
    assert!(e.is_object(), "{s}");
    // The looks of a live run as long as the recording: 20 over the judged
    // window, so one every (3599 − 360) / 20 ≈ 162 s after warm-up.
    let look = e["look"].as_u64().unwrap();
    let at = e["elapsed_s"].as_f64().unwrap();
    assert!((1..20).contains(&look), "{e}");
    assert!((at - (359.9 + look as f64 * 161.95)).abs() < 2.0, "{e}");
    assert!(
        e["lower_bound_bytes_per_hour"].as_f64().unwrap() > 10e6,
        "{e}"
    );
    assert!(
        s["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("fail-fast: at look"),
        "{s}"
    );

    // Without the flag, the same recording has no fail-fast outcome.
    let o = run(&["report", leak.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(summary(&tmp.path().join("leak-report"))["fail_fast"].is_null());

    // Flat: no look fires, `fail_fast` is null and the verdict is the
    // whole recording's.
    let flat = tmp.path().join("flat.csv");
    std::fs::write(&flat, foreign_csv(0.0)).unwrap();
    let o = run(&["report", flat.to_str().unwrap(), "--fail-fast"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let s = summary(&tmp.path().join("flat-report"));
    assert!(s["fail_fast"].is_null(), "{s}");
    assert_eq!(s["verdict"], "pass");
}

#[test]
fn fail_fast_replay_of_a_run_folder_uses_the_runs_planned_looks() {
    let r = soak(
        "--duration 24s --warmup 4s --interval 250ms --max-growth 10MB/h",
        &[
            "--",
            env!("CARGO_BIN_EXE_memsoak"),
            "demo-backend",
            "--port",
            "0",
            "--leak",
            "400MB/h",
        ],
    );
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    assert!(r.summary()["fail_fast"].is_null());
    let o = run(&["report", r.dir.to_str().unwrap(), "--fail-fast"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let e = &r.summary()["fail_fast"];
    // Looks every (24 − 4) / 20 = 1 s after the 4 s warm-up, taken at the
    // first sample due (250 ms apart).
    let (look, at) = (
        e["look"].as_u64().unwrap(),
        e["elapsed_s"].as_f64().unwrap(),
    );
    assert!((1..=20).contains(&look), "{e}");
    assert!((at - (4.0 + look as f64)).abs() < 0.3, "{e}");
}
