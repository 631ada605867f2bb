//! What a frontend soak costs: one reading of a page through the DevTools
//! protocol (`Performance.getMetrics` and `Runtime.getHeapUsage`), the
//! collection of garbage before a reading, on a small heap and on one of
//! about 200 MB; a heap snapshot of that heap, and memsoak's streaming
//! comparison of it (time, throughput, peak memory) beside Python's
//! `json.load` of the same file, measured in the same run.
//!
//! Run: `cargo bench --bench frontend` (Linux, with Chromium: `apt-get
//! install chromium`). It starts `memsoak demo-backend` and a headless
//! Chromium through memsoak's own launcher, both ended on exit. Times are
//! wall-clock medians (the work is the browser's); memsoak's CPU per
//! reading is its process CPU time over the readings.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use memsoak::devtools::browser::{BrowserSpec, Launched};
use memsoak::devtools::{endpoint, page, snapshot, Session};
use serde_json::json;

const ROUNDS: usize = 200;

struct Backend(Child, u16);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn backend() -> Backend {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_memsoak"))
        .args(["demo-backend", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("demo backend");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    Backend(child, port)
}

fn process_cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t =
        |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    t(u.user_time()) + t(u.system_time())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn timed<F, Fut>(rounds: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut v = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f().await;
        v.push(t.elapsed());
    }
    median(v)
}

async fn reading(s: &Session) {
    let t = Duration::from_secs(30);
    s.call("Performance.getMetrics", json!({}), t)
        .await
        .unwrap();
    s.call("Runtime.getHeapUsage", json!({}), t).await.unwrap();
}

async fn gc(s: &Session) {
    s.call(
        "HeapProfiler.collectGarbage",
        json!({}),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
}

async fn heap_mb(s: &Session) -> f64 {
    let u = s
        .call("Runtime.getHeapUsage", json!({}), Duration::from_secs(10))
        .await
        .unwrap();
    u["usedSize"].as_f64().unwrap_or(0.0) / 1e6
}

/// The process's peak RSS since the last reset, MB (`VmHWM`).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e3
}

fn reset_peak_rss() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn python_json_load(file: &Path) -> Option<(Duration, f64)> {
    let script = "import json,resource,sys,time\nt=time.time()\nd=json.load(open(sys.argv[1]))\nprint(time.time()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1e3)";
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let mut it = text.split_whitespace();
    let secs: f64 = it.next()?.parse().ok()?;
    let mb: f64 = it.next()?.parse().ok()?;
    Some((Duration::from_secs_f64(secs), mb))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The browser's keeper is memsoak itself, not this benchmark.
    std::env::set_var("MEMSOAK_EXE", env!("CARGO_BIN_EXE_memsoak"));
    let backend = backend();
    let dir = tempfile::tempdir().unwrap();
    let browser = Launched::start(
        &BrowserSpec {
            executable: None,
            headless: true,
            args: Vec::new(),
        },
        dir.path(),
        Duration::from_secs(5),
        Duration::from_secs(30),
    )
    .await
    .expect("a Chromium to launch (apt-get install chromium)");
    let targets = browser.endpoint.targets().await.unwrap();
    let target = endpoint::choose_page(&targets, None).unwrap();
    let s = Session::connect(
        target.ws_url.as_deref().unwrap(),
        "bench page",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let url = format!("http://127.0.0.1:{}/frontend/clean", backend.1);
    page::navigate(&s, &url, Duration::from_secs(30))
        .await
        .unwrap();
    s.call("Performance.enable", json!({}), Duration::from_secs(5))
        .await
        .unwrap();
    println!("{}; page {url}", browser.version.browser);

    for (label, objects) in [("small heap", 0u64), ("~200 MB heap", 1_500_000)] {
        if objects > 0 {
            // Objects with strings and arrays: a graph like an app's state.
            let script = format!(
                "window.held = Array.from({{length: {objects}}}, (_, i) => ({{id: i, name: 'item ' + i, tags: [i, i + 1, i + 2]}})); window.held.length"
            );
            page::evaluate(&s, &script, Duration::from_secs(120))
                .await
                .unwrap();
            gc(&s).await;
        }
        let mb = heap_mb(&s).await;
        let cpu0 = process_cpu();
        let read = timed(ROUNDS, || reading(&s)).await;
        let cpu = (process_cpu() - cpu0) / ROUNDS as u32;
        let rounds = if objects > 0 { 20 } else { ROUNDS };
        let collect = timed(rounds, || gc(&s)).await;
        println!(
            "{label} ({mb:.1} MB used): reading median {:.2} ms (memsoak CPU {:.0} µs per reading); collectGarbage median {:.1} ms; ratio {:.0}×",
            read.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e6,
            collect.as_secs_f64() * 1e3,
            collect.as_secs_f64() / read.as_secs_f64()
        );
    }

    let file = dir.path().join("bench.heapsnapshot");
    let t = Instant::now();
    let bytes = snapshot::take(&s, &file, Duration::from_secs(600))
        .await
        .unwrap();
    let took = t.elapsed();
    reset_peak_rss();
    let before = peak_rss_mb();
    let t = Instant::now();
    let summary = snapshot::summarise(&file).unwrap();
    let read = t.elapsed();
    // The whole benchmark process at its peak while reading (its runtime,
    // the browser session, and what reading took).
    let peak = peak_rss_mb();
    println!(
        "snapshot: {:.0} MB written in {:.1} s; summarised in {:.1} s ({:.0} MB/s), {} nodes, {} classes; process peak RSS {:.1} MB while reading ({:.1} MB before)",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        read.as_secs_f64(),
        bytes as f64 / 1e6 / read.as_secs_f64(),
        summary.nodes,
        summary.classes.len(),
        peak,
        before
    );
    match python_json_load(&file) {
        Some((t, mb)) => println!(
            "python3 json.load of the same file: {:.1} s ({:.0} MB/s), peak RSS {:.0} MB: {:.1}x the time, {:.0}x the memory",
            t.as_secs_f64(),
            bytes as f64 / 1e6 / t.as_secs_f64(),
            mb,
            t.as_secs_f64() / read.as_secs_f64(),
            mb / peak.max(0.1)
        ),
        None => println!("python3 json.load: not measured (no python3)"),
    }
    s.close();
    browser.close().await;
    drop(backend);
}
