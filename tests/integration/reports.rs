//! Reports: charts, HTML, Markdown, JUnit and compare.

use std::fmt::Write;
use std::path::Path;

use crate::common::*;

/// A deterministic recording: 1 Hz for 20 minutes, `slope` bytes/s of
/// growth under a sawtooth, with the columns memsoak's charts use.
fn recording(dir: &Path, slope: f64) -> std::path::PathBuf {
    let mut s = String::from("elapsed_s,rss_bytes,anon_bytes,fds,threads\n");
    for t in 0..1200u64 {
        let saw = (t % 30) as f64 * 20_000.0;
        let anon = 50e6 + slope * t as f64 + saw;
        writeln!(
            s,
            "{t},{},{},{},{}",
            (anon + 30e6) as u64,
            anon as u64,
            20 + t % 3,
            8
        )
        .unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("samples.csv");
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn report_files_are_stable_for_the_same_data() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = recording(tmp.path(), 5_000.0);
    let o = run(&[
        "report",
        csv.to_str().unwrap(),
        "--max-growth",
        "10MB/h",
        "--max-rss",
        "200MB",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let read = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
    insta::assert_snapshot!("report_md", read("report.md"));
    insta::assert_snapshot!("junit_xml", read("junit.xml"));
    let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    insta::assert_json_snapshot!("summary_json", summary, { ".memsoak_version" => "[version]" });
    // JUnit is XML a CI system can read.
    roxmltree::Document::parse(&read("junit.xml")).unwrap();
}

#[test]
fn charts_render_as_png_and_svg_with_text() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = recording(tmp.path(), 0.0);
    let o = run(&["report", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));

    let png = std::fs::File::open(tmp.path().join("memory.png")).unwrap();
    let reader = png::Decoder::new(std::io::BufReader::new(png))
        .read_info()
        .unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (1200, 1000));

    // The page: readable on a phone, the inline chart named for screen readers.
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(
        html.contains(
            "<figure class=\"chart\" role=\"img\" aria-label=\"Memory over time: PASS — anon grows"
        ),
        "{html}"
    );
    let svg = std::fs::read_to_string(tmp.path().join("memory.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    // Time ticks read as times at round steps of a 20-minute run.
    assert!(texts.iter().any(|t| t.trim() == "10m"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.trim() == "0.5"), "{texts:?}");
    for label in [
        "elapsed",
        "MB",
        "warm-up",
        "trend",
        "limit 10MB/h",
        "Open files and threads",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(label)),
            "no {label:?} in the SVG's text"
        );
    }
}

#[test]
fn html_report_is_self_contained_and_escapes_hostile_text() {
    let closed = ClosedPort::new();
    let profile = format!(
        r#"
[target]
command = ["sh", "-c", "sleep 30", "<script>alert('target')</script>"]

[[workload]]
name = "<script>alert('workload')</script>"
kind = "agent"
# Every request fails: its name in the reports is what is tested.
[workload.checks]
max_errors = "100%"
[[workload.step]]
url = "http://127.0.0.1:{}/<b>nope</b>"
"#,
        closed.port
    );
    let r = soak_profile(
        &profile,
        "--duration 3s --warmup 1s --interval 250ms --on-inconclusive pass",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(
        html.contains("<div class=\"banner pass\"><b>PASS</b>"),
        "verdict banner"
    );
    assert!(
        html.contains("<svg") && html.contains("\nelapsed\n") && html.contains("\n1s\n"),
        "inline chart"
    );
    assert!(!html.contains("<script"), "unescaped script in the report");
    assert!(html.contains("&lt;script&gt;alert(&#39;workload&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&#39;target&#39;)&lt;/script&gt;"));
    // Nothing is fetched: no external scripts, styles, images or fonts
    // (the SVG namespace URI is a name, not a request).
    for fetch in ["src=", "<link", "url(", "@import", "href=\"http"] {
        assert!(
            !html.contains(fetch),
            "the report fetches something: {fetch}"
        );
    }
    for file in ["report.md", "junit.xml", "memory.png", "memory.svg"] {
        assert!(r.dir.join(file).exists(), "{file} missing");
    }
}

#[test]
fn github_step_summary_gets_the_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = recording(tmp.path(), 0.0);
    let step_summary = tmp.path().join("step-summary.md");
    std::fs::write(&step_summary, "earlier step\n").unwrap();
    let o = memsoak()
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .args(["report", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let text = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        text.starts_with("earlier step\n## ✅ memsoak: PASS"),
        "{text}"
    );
}

#[test]
fn compare_detects_a_worse_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, new) = (tmp.path().join("base"), tmp.path().join("new"));
    for (dir, slope) in [(&base, 0.0), (&new, 10_000.0)] {
        recording(dir, slope);
        let o = run(&["report", dir.to_str().unwrap()]);
        assert!(o.status.code().is_some(), "{}", describe(&o));
    }
    let o = run(&["compare", base.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("NEW is WORSE than BASE"));
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("compare.json")).unwrap()).unwrap();
    assert_eq!(c["worse"], true);
    assert!(
        (c["slope_delta_bytes_per_hour"].as_f64().unwrap() / 36e6 - 1.0).abs() < 0.05,
        "{c}"
    );
    assert!(new.join("compare.png").exists() && new.join("compare.svg").exists());

    let o = run(&[
        "compare",
        new.to_str().unwrap(),
        base.to_str().unwrap(),
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));

    let o = run(&["compare", base.to_str().unwrap(), "/nonexistent/run"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a run folder"));
}

#[test]
fn a_chart_that_cannot_be_written_still_leaves_every_other_report() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = recording(tmp.path(), 0.0);
    // A folder where the PNG should go: the chart fails, nothing else may.
    std::fs::create_dir(tmp.path().join("memory.png")).unwrap();
    let o = run(&["report", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: the verdict is in summary.json, but a report failed")
            && stderr.contains("memory.png"),
        "{stderr}"
    );
    for name in ["summary.json", "report.md", "junit.xml"] {
        assert!(tmp.path().join(name).is_file(), "{name} missing");
    }
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.contains("<p>No chart: drawing it failed"), "{html}");
}

/// The judged line's colour in the charts (the first of the palette).
const JUDGED_RGB: [u8; 3] = [0, 114, 178];

#[test]
fn the_png_draws_no_peak_the_data_does_not_have() {
    // Eight hours at 1 Hz of a GC sawtooth on a slow leak: every drop is a
    // sharp turn of the decimated min/max line.
    let tmp = tempfile::tempdir().unwrap();
    let mut s = String::from("elapsed_s,rss_bytes,anon_bytes\n");
    for t in 0..28_800u64 {
        let saw = (t % 600) as f64 / 600.0 * 25e6;
        let anon = 400e6 + t as f64 * 12e6 / 3600.0 + saw;
        writeln!(s, "{t},{},{}", (anon + 20e6) as u64, anon as u64).unwrap();
    }
    std::fs::write(tmp.path().join("samples.csv"), s).unwrap();
    let o = run(&["report", tmp.path().to_str().unwrap()]);
    assert!(o.status.code().is_some(), "{}", describe(&o));

    // The data's top edge per pixel column, from the SVG's own coordinates.
    let svg = std::fs::read_to_string(tmp.path().join("memory.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let hex = format!(
        "#{:02X}{:02X}{:02X}",
        JUDGED_RGB[0], JUDGED_RGB[1], JUDGED_RGB[2]
    );
    let mut top: std::collections::BTreeMap<i64, f64> = Default::default();
    for line in doc.descendants().filter(|n| {
        n.has_tag_name("polyline")
            && n.attribute("stroke")
                .is_some_and(|c| c.eq_ignore_ascii_case(&hex))
            && n.attribute("stroke-width") == Some("2")
    }) {
        let pts: Vec<(f64, f64)> = line
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .filter_map(|p| p.split_once(','))
            .map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap()))
            .collect();
        for w in pts.windows(2) {
            let (x0, x1) = (w[0].0.min(w[1].0) as i64, w[0].0.max(w[1].0) as i64);
            for x in x0..=x1 {
                let e = top.entry(x).or_insert(f64::MAX);
                *e = e.min(w[0].1.min(w[1].1));
            }
        }
    }
    assert!(
        top.len() > 500,
        "the judged line spans the chart: {}",
        top.len()
    );

    // The PNG's top pixel of that colour per column, searched from well
    // above the data down to it.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(tmp.path().join("memory.png")).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixel = |x: i64, y: i64| {
        let i = (y as usize * info.width as usize + x as usize) * channels;
        [buf[i], buf[i + 1], buf[i + 2]]
    };
    let mut worst = 0.0f64;
    for (&x, &data_top) in &top {
        let from = (data_top as i64 - 60).max(0);
        let drawn_top = (from..data_top as i64 + 1).find(|&y| pixel(x, y) == JUDGED_RGB);
        if let Some(y) = drawn_top {
            worst = worst.max(data_top - y as f64);
        }
    }
    assert!(
        worst <= 3.0,
        "the PNG draws up to {worst} px above the data's top edge"
    );
}
