//! `report.html` as a person sees it: a real run's page rendered by
//! headless Chromium (Debian's `chromium`, installed by `.ci/run`) at a
//! desktop and a phone width.
//!
//! Chromium's headless window cannot be narrower than about 500 px, so
//! each width is an `<iframe>` of that width in a wrapper page. A copy of
//! the report with a small probe script measures itself once loaded and
//! posts what it found to the wrapper, whose DOM Chromium prints
//! (`--dump-dom`). Console messages go to Chromium's log on stderr: the
//! page has no script of its own, so any message is a fault.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

const MEMSOAK: &str = env!("CARGO_BIN_EXE_memsoak");

/// What the probe measures inside the page.
const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const d = document.documentElement;
  const banner = document.querySelector('.banner');
  const b = banner ? banner.getBoundingClientRect() : { top: -1, bottom: 1e9 };
  const figures = [...document.querySelectorAll('figure')];
  parent.postMessage(JSON.stringify({
    width: window.innerWidth,
    height: window.innerHeight,
    scrollWidth: d.scrollWidth,
    clientWidth: d.clientWidth,
    bannerTop: b.top,
    bannerBottom: b.bottom,
    figures: figures.length,
    named: figures.filter(f => f.getAttribute('role') === 'img'
      && (f.getAttribute('aria-label') || '').length > 0).length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    images: [...document.querySelectorAll('img')].map(i => i.getAttribute('src')),
    charts: [...document.querySelectorAll('figure svg')]
      .filter(g => g.getBoundingClientRect().width > 0)
      .map(g => ({ shown: g.getBoundingClientRect().width, drawn: g.viewBox.baseVal.width })),
    hiddenCharts: [...document.querySelectorAll('figure svg')]
      .filter(g => g.getBoundingClientRect().width === 0).length,
  }), '*');
});
</script>"#;

/// Renders `dir/report.html` `width` pixels wide; returns the probe's
/// findings and Chromium's console lines.
fn render(dir: &Path, width: u32) -> (Value, Vec<String>) {
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("</body>"));
    std::fs::write(
        dir.join("probe.html"),
        page.replacen("</body>", &format!("{PROBE}</body>"), 1),
    )
    .unwrap();
    std::fs::write(
        dir.join("wrap.html"),
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\">\
<iframe src=\"probe.html\" style=\"width:{width}px;height:900px;border:0\"></iframe>\
<script>window.addEventListener('message', e => {{ const p = document.createElement('pre'); \
p.id = 'result'; p.textContent = e.data; document.body.appendChild(p); }});</script>\
</body></html>"
        ),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1440,1000",
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", dir.join("wrap.html").display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .split("<pre id=\"result\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "no probe result at {width} px:\n{dom}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    (serde_json::from_str(&json).unwrap(), console)
}

#[test]
fn the_report_of_a_real_run_reads_at_desktop_and_phone_widths() {
    let r = soak(
        "--duration 12s --warmup 3s --interval 250ms --smaps-interval 1s",
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
    for width in [1400, 400] {
        let (found, console) = render(&r.dir, width);
        let n = |k: &str| {
            found[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} in {found}"))
        };
        assert_eq!(n("width"), f64::from(width), "{found}");
        // No horizontal scrolling of the page itself.
        assert!(
            n("scrollWidth") <= n("clientWidth"),
            "overflow at {width} px: {found}"
        );
        // The verdict is in the first screen.
        assert!(
            n("bannerTop") >= 0.0 && n("bannerBottom") <= n("height"),
            "{found}"
        );
        // Both charts (memory; where it grows), each with a name.
        assert_eq!(n("figures"), 2.0, "{found}");
        assert_eq!(n("named"), n("figures"), "{found}");
        for link in found["links"]
            .as_array()
            .unwrap()
            .iter()
            .chain(found["images"].as_array().unwrap())
        {
            let target = link.as_str().unwrap();
            assert!(
                r.dir.join(target).is_file(),
                "dead link {target} at {width} px"
            );
        }
        // One drawing of each chart is shown; its text stays legible (the
        // drawing's 13–14 px labels at 10 px or more: shown at ≥ 75% of
        // its drawn size), and it fits the page or scrolls in its frame.
        let charts = found["charts"].as_array().unwrap();
        assert_eq!(charts.len(), 2, "one drawing per chart shown: {found}");
        for c in charts {
            let (shown, drawn) = (c["shown"].as_f64().unwrap(), c["drawn"].as_f64().unwrap());
            assert!(
                shown / drawn >= 0.75,
                "a chart drawn {drawn} px wide shown at {shown} px at {width} px: {found}"
            );
            if width >= 700 {
                assert!(shown <= n("clientWidth"), "{found}");
            }
        }
        // At 400 px the memory chart is its narrow drawing, fitting the
        // page without scrolling.
        if width < 700 {
            let memory = &charts[0];
            assert!(
                memory["shown"].as_f64().unwrap() <= n("clientWidth"),
                "the memory chart fits a phone: {found}"
            );
        }
        assert!(console.is_empty(), "console at {width} px: {console:?}");
    }
}
