//! Memory sources beyond the process tree, against the real things: a
//! real Prometheus server (Debian's `prometheus`, installed by `.ci/run`)
//! scraping the demo backend's `/metrics` every second on loopback, and
//! real cgroups of this machine (a child memsoak makes, and one the test
//! makes and starts a backend in).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_ok(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains(" 200 ")
}

/// A Prometheus server on loopback, stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping each `(job, port)` every second.
    fn start(jobs: &[(&str, u16)]) -> Prometheus {
        let data = tempfile::tempdir().unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        // Prometheus scrapes itself too: hundreds of series of its own.
        let port = free_port();
        config.push_str(&format!(
            "  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ));
        for (job, port) in jobs {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            ));
        }
        let file = data.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.path().join("log")).unwrap())
            .spawn()
            .expect("Prometheus is installed (.ci/run installs Debian's `prometheus`)");
        let p = Prometheus {
            child,
            port,
            _data: data,
        };
        assert!(
            eventually(Duration::from_secs(30), || http_ok(&p.url("-/ready"))),
            "Prometheus did not become ready"
        );
        p
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn slope_mb_per_hour(s: &serde_json::Value) -> f64 {
    s["growth"]["slope_bytes_per_hour"]
        .as_f64()
        .expect("a slope")
        / 1e6
}

fn within(measured: f64, injected: f64, share: f64) -> bool {
    (measured - injected).abs() <= share * injected
}

/// The acceptance: through Prometheus alone, memsoak fails a
/// leaking backend (slope within 20% of the injected rate) and passes a
/// flat one; a query answering for both judges each series and fails on
/// the worst; `memsoak report --prometheus` judges the past window; the
/// token in a header is never written.
#[test]
fn prometheus_judges_leaking_and_flat_backends_and_a_past_window() {
    let (leak_port, flat_port) = (free_port(), free_port());
    let prom = Prometheus::start(&[("leak", leak_port), ("flat", flat_port)]);
    let token = "prom-token-never-written-7f3a";
    let launched = |job: &'static str, port: u16, extra: &'static [&'static str]| {
        let base = prom.base();
        std::thread::spawn(move || {
            let mut cmd = memsoak();
            cmd.env("MEMSOAK_TEST_PROM_TOKEN", token);
            let port_s = port.to_string();
            let mut args = vec![
                "--prometheus-header",
                "Authorization: Bearer ${MEMSOAK_TEST_PROM_TOKEN}",
                "--",
                env!("CARGO_BIN_EXE_memsoak"),
                "demo-backend",
                "--port",
                &port_s,
            ];
            args.extend_from_slice(extra);
            let flags = format!(
                "--prometheus {base} --query process_resident_memory_bytes{{job=\"{job}\"}} --duration 60s --ready-url http://127.0.0.1:{port}/health"
            );
            soak_with(cmd, &flags, &args)
        })
    };
    let leak = launched("leak", leak_port, &["--leak", "400MB/h"]);
    let flat = launched("flat", flat_port, &[]);
    // Both replicas through one query, nothing launched: each series
    // judged, the verdict the worst of them. Started once Prometheus has
    // both (a query with nothing to measure is refused).
    assert!(
        eventually(Duration::from_secs(40), || {
            let body = http_get(&prom.url(
                "api/v1/query?query=process_resident_memory_bytes%7Bjob%3D~%22leak%7Cflat%22%7D",
            ));
            body.contains("\"job\":\"leak\"") && body.contains("\"job\":\"flat\"")
        }),
        "Prometheus never scraped both backends"
    );
    let fleet_soak = |extra: &'static str| {
        let base = prom.base();
        std::thread::spawn(move || {
            soak(
                &format!(
                    "--prometheus {base} --query process_resident_memory_bytes{{job=~\"leak|flat\"}} --duration 45s{extra}"
                ),
                &[],
            )
        })
    };
    let fleet = fleet_soak("");
    // The same two against a limit the fleet sum keeps (400 < 2 × 250
    // MB/h) and the leaking series does not: each series is held to the
    // limit itself, so it fails.
    let per_series = fleet_soak(" --max-growth 250MB/h");
    let fleet = fleet.join().unwrap();
    let per_series = per_series.join().unwrap();
    let leak = leak.join().unwrap();
    let flat = flat.join().unwrap();

    assert_eq!(leak.code(), Some(1), "{}", leak.describe());
    let s = leak.summary();
    assert_eq!(s["source"]["kind"], "prometheus");
    assert_eq!(
        s["source"]["query"],
        "process_resident_memory_bytes{job=\"leak\"}"
    );
    let slope = slope_mb_per_hour(&s);
    assert!(
        within(slope, 400.0, 0.2),
        "slope {slope} MB/h, injected 400"
    );
    assert_eq!(s["source"]["series"].as_array().unwrap().len(), 1);
    assert!(leak.dir.join("series.csv").is_file());
    assert_no_file_contains(&leak.dir, token);
    assert!(!leak.stderr().contains(token) && !leak.stdout().contains(token));

    assert_eq!(flat.code(), Some(0), "{}", flat.describe());
    assert_eq!(flat.summary()["verdict"], "pass");

    assert_eq!(fleet.code(), Some(1), "{}", fleet.describe());
    let f = fleet.summary();
    assert_eq!(f["target"]["mode"], "none");
    let series = f["source"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    let verdict_of = |job: &str| {
        series
            .iter()
            .find(|x| x["name"].as_str().unwrap().contains(&format!("job={job}")))
            .unwrap_or_else(|| panic!("no series for {job}: {series:?}"))["verdict"]
            .clone()
    };
    assert_eq!(verdict_of("leak"), "fail");
    assert_eq!(verdict_of("flat"), "pass");
    assert_eq!(f["source"]["series_at_end"], 2);
    assert_eq!(per_series.code(), Some(1), "{}", per_series.describe());
    let p = per_series.summary();
    assert_eq!(p["verdict"], "fail", "{p}");
    let leaking = p["source"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"].as_str().unwrap().contains("job=leak"))
        .cloned()
        .unwrap();
    assert_eq!(leaking["verdict"], "fail", "{leaking}");
    assert!(
        per_series.stdout().contains("growth above the limit"),
        "{}",
        per_series.stdout()
    );

    // The leaking run's window, judged again from Prometheus alone.
    let times = leak.column("unix_time_s");
    let start: f64 = times.first().unwrap().parse().unwrap();
    let end: f64 = times.last().unwrap().parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("window");
    let o = memsoak()
        .args(["report", "--prometheus", &prom.base()])
        .args(["--query", "process_resident_memory_bytes{job=\"leak\"}"])
        .args([
            "--start",
            &format!("{start:.3}"),
            "--end",
            &format!("{end:.3}"),
        ])
        .args(["--step", "1s", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let r = summary(&out);
    assert_eq!(r["source"]["window"]["step_s"], 1.0);
    let slope = slope_mb_per_hour(&r);
    assert!(within(slope, 400.0, 0.2), "window slope {slope} MB/h");
    for file in ["samples.csv", "series.csv", "report.html", "junit.xml"] {
        assert!(out.join(file).is_file(), "{file}");
    }
}

/// The memory cgroup folder this test process lives in (v1 memory
/// hierarchy, else v2).
fn own_memory_cgroup() -> PathBuf {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        if controllers.split(',').any(|c| c == "memory") {
            return Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
        }
    }
    let path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'))
}

#[test]
fn a_cgroup_memsoak_makes_fails_a_leaking_backend_and_is_removed() {
    let port = free_port();
    let soak = soak(
        &format!("--cgroup new --duration 40s --ready-url http://127.0.0.1:{port}/health"),
        &[
            "--",
            env!("CARGO_BIN_EXE_memsoak"),
            "demo-backend",
            "--port",
            &port.to_string(),
            "--leak",
            "400MB/h",
        ],
    );
    assert_eq!(soak.code(), Some(1), "{}", soak.describe());
    let s = soak.summary();
    assert_eq!(s["source"]["kind"], "cgroup");
    assert_eq!(s["source"]["cgroup_made"], true);
    assert_eq!(s["metric"], "anon");
    let slope = slope_mb_per_hour(&s);
    assert!(
        within(slope, 400.0, 0.2),
        "slope {slope} MB/h, injected 400"
    );
    let cgroup = PathBuf::from(s["source"]["cgroup"].as_str().unwrap());
    assert!(!cgroup.exists(), "the cgroup memsoak made is removed");
    // The kernel's own accounting is in the breakdown, for attribution.
    let breakdown = std::fs::read_to_string(soak.dir.join("breakdown.csv")).unwrap();
    for series in ["kernel_bytes", "sock_bytes", "file"] {
        assert!(breakdown.contains(series), "{series} in breakdown.csv");
    }
    // The process tree is still known: the demo is a process of the run.
    assert!(s["processes"].as_array().is_some_and(|p| !p.is_empty()));
}

#[test]
fn an_existing_cgroup_alone_passes_a_flat_backend() {
    let dir = own_memory_cgroup().join(format!("memsoak-test-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "this test needs a writable memory cgroup ({}): {e}",
            dir.display()
        )
    });
    let port = free_port();
    // The backend starts inside the cgroup, so its memory is charged there.
    let mut backend = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > '{}' && exec '{}' demo-backend --port {port}",
            dir.join("cgroup.procs").display(),
            env!("CARGO_BIN_EXE_memsoak")
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(20), || http_ok(&format!(
        "http://127.0.0.1:{port}/health"
    ))));
    let soak = soak(&format!("--cgroup {} --duration 40s", dir.display()), &[]);
    let _ = backend.kill();
    let _ = backend.wait();
    let removed = eventually(Duration::from_secs(5), || std::fs::remove_dir(&dir).is_ok());
    assert_eq!(soak.code(), Some(0), "{}", soak.describe());
    let s = soak.summary();
    assert_eq!(s["target"]["mode"], "none");
    assert_eq!(s["source"]["kind"], "cgroup");
    assert!(s["source"].get("cgroup_made").is_none());
    let anon: Vec<u64> = soak
        .column("anon_bytes")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        anon.iter().all(|&a| a > 0),
        "the backend's anon is charged to the cgroup"
    );
    assert!(removed, "the test's cgroup could be removed");
}

/// A replica that restarts (here: the backend killed and started again on
/// its port, while memsoak reads Prometheus alone) starts a new series
/// and is an event; with `--restarts-fail` it is a target failure.
#[test]
fn a_restarted_replica_is_a_new_series_and_fails_when_asked() {
    let port = free_port();
    let prom = Prometheus::start(&[("api", port)]);
    let backend = || {
        Command::new(env!("CARGO_BIN_EXE_memsoak"))
            .args(["demo-backend", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let health = format!("http://127.0.0.1:{port}/health");
    let mut first = backend();
    assert!(eventually(Duration::from_secs(20), || http_ok(&health)));
    let flags = format!(
        "--prometheus {} --query process_resident_memory_bytes{{job=\"api\"}} --duration 40s --restarts-fail",
        prom.base()
    );
    let run = std::thread::spawn(move || soak(&flags, &[]));
    std::thread::sleep(Duration::from_secs(15));
    let _ = first.kill();
    let _ = first.wait();
    // Down for a few scrapes, then back on the same port.
    std::thread::sleep(Duration::from_secs(4));
    let mut second = backend();
    let soak = run.join().unwrap();
    let _ = second.kill();
    let _ = second.wait();

    assert_eq!(soak.code(), Some(3), "{}", soak.describe());
    let s = soak.summary();
    let events = s["source"]["events"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e["what"].as_str().unwrap().starts_with("restart")
                && e["series"].as_str().unwrap().ends_with(" #2")),
        "{events:?}"
    );
    let names: Vec<&str> = s["source"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(s["target"]["failure"]
        .as_str()
        .unwrap()
        .contains("1 replica restart(s)"));
}

/// A reading that is no number (here `+Inf` every 15 s, as a division by
/// a zero does in a real query) is a poll without a value, not a replica
/// gone and back: no restart, no target failure with `--restarts-fail`.
#[test]
fn a_reading_that_is_no_number_is_no_restart() {
    let port = free_port();
    let prom = Prometheus::start(&[("api", port)]);
    let mut backend = Command::new(env!("CARGO_BIN_EXE_memsoak"))
        .args(["demo-backend", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let health = format!("http://127.0.0.1:{port}/health");
    assert!(eventually(Duration::from_secs(20), || http_ok(&health)));
    let query = "process_resident_memory_bytes{job=\"api\"} / (time() % 15 > bool 1)";
    let flags = format!(
        "--prometheus {} --duration 32s --warmup 4s --restarts-fail --on-inconclusive pass --max-growth 100GB/h",
        prom.base()
    );
    let soak = soak(&flags, &["--query", query]);
    let _ = backend.kill();
    let _ = backend.wait();
    assert_eq!(soak.code(), Some(0), "{}", soak.describe());
    let s = soak.summary();
    let events = s["source"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !events
            .iter()
            .any(|e| e["what"].as_str().unwrap_or("").starts_with("restart")),
        "{events:?}"
    );
    assert_eq!(
        s["source"]["series"].as_array().map(Vec::len),
        Some(1),
        "{s}"
    );
    // The query did answer without a number: those polls are failed
    // readings, not gaps.
    assert!(s["failed_samples"].as_u64().unwrap_or(0) >= 1, "{s}");
}

/// Starts `sleep` inside the cgroup `dir`.
fn sleep_in(dir: &Path) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > '{}' && exec sleep 300",
            dir.join("cgroup.procs").display()
        ))
        .spawn()
        .unwrap()
}

/// Pids in the cgroup `dir`.
fn procs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_cgroup_read_alone_is_measured_only_while_something_runs_there() {
    let dir = own_memory_cgroup().join(format!("memsoak-empty-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "this test needs a writable memory cgroup ({}): {e}",
            dir.display()
        )
    });
    // Empty from the start: nothing to measure, refused before a folder.
    let empty = soak(&format!("--cgroup {} --duration 5s", dir.display()), &[]);
    assert_eq!(empty.code(), Some(2), "{}", empty.describe());
    assert!(
        empty.stderr().contains("has no processes"),
        "{}",
        empty.stderr()
    );
    assert!(!empty.dir.exists(), "no run folder for a refused run");

    // A service restarted (every process replaced), then gone for good.
    let mut first = sleep_in(&dir);
    assert!(eventually(Duration::from_secs(10), || !procs(&dir).is_empty()));
    let (d, stop) = (dir.clone(), std::sync::mpsc::channel::<()>());
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(6));
        let _ = first.kill();
        let _ = first.wait();
        let mut second = sleep_in(&d);
        std::thread::sleep(Duration::from_secs(6));
        let _ = second.kill();
        let _ = second.wait();
        drop(stop.1);
    });
    let started = std::time::Instant::now();
    let r = soak(
        &format!("--cgroup {} --duration 5m --interval 500ms", dir.display()),
        &[],
    );
    restarter.join().unwrap();
    let took = started.elapsed();
    let _ = std::fs::remove_dir(&dir);
    drop(stop.0);
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let s = r.summary();
    let why = s["target"]["failure"].as_str().unwrap_or_default();
    assert!(
        why.contains("every process of the cgroup") && why.contains("none came back"),
        "{s}"
    );
    assert!(took < Duration::from_secs(120), "ended after {took:?}");
    let restarts: Vec<&serde_json::Value> = s["source"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "restart")
        .collect();
    assert_eq!(restarts.len(), 1, "{s}");
    assert!(
        r.stdout().contains("every process of the cgroup"),
        "{}",
        r.stdout()
    );
}

/// The body of an HTTP/1.0 GET of `url` (loopback), empty when unreachable.
fn http_get(url: &str) -> String {
    let Some(rest) = url.strip_prefix("http://") else {
        return String::new();
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_err() {
        return String::new();
    }
    let mut body = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut body);
    body
}

#[test]
fn a_query_memsoak_cannot_follow_is_refused_before_the_night() {
    let prom = Prometheus::start(&[]);
    assert!(
        eventually(Duration::from_secs(30), || http_get(
            &prom.url("api/v1/query?query=up%7Bjob%3D%22self%22%7D")
        )
        .contains("\"1\"]")),
        "Prometheus never scraped itself"
    );
    // More series than memsoak follows: one left out could leak unseen.
    let r = soak(
        &format!(
            "--prometheus {} --query {{job=\"self\"}} --duration 10s",
            prom.base()
        ),
        &[],
    );
    assert_eq!(r.code(), Some(2), "{}", r.describe());
    assert!(
        r.stderr().contains("memsoak follows at most 256"),
        "{}",
        r.stderr()
    );
    assert!(!r.dir.exists(), "no run folder for a refused run");
    // Nothing, or nothing but NaN: the run ends once the readiness wait
    // is over, recorded, not after a night of nothing.
    for query in [
        "process_resident_memory_bytes{job=\"nothing\"}",
        "process_resident_memory_bytes{job=\"self\"}/0*0",
    ] {
        let r = soak(
            &format!(
                "--prometheus {} --query {query} --duration 5m --ready-timeout 3s",
                prom.base()
            ),
            &[],
        );
        assert_eq!(r.code(), Some(3), "{query}: {}", r.describe());
        assert!(
            r.stderr()
                .contains("matched no series with a value within 3s"),
            "{query}: {}",
            r.stderr()
        );
        assert_eq!(
            r.summary()["exit_code"],
            3,
            "{query}: the night is recorded"
        );
    }
    // A launched target the query never finds: ends once readiness is over.
    let port = free_port();
    let started = std::time::Instant::now();
    let r = soak(
        &format!(
            "--prometheus {} --query process_resident_memory_bytes{{job=\"nothing\"}} --duration 5m --ready-timeout 5s --ready-url http://127.0.0.1:{port}/health",
            prom.base()
        ),
        &[
            "--",
            env!("CARGO_BIN_EXE_memsoak"),
            "demo-backend",
            "--port",
            &port.to_string(),
        ],
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    assert!(
        r.stderr()
            .contains("matched no series with a value within 5s"),
        "{}",
        r.stderr()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.summary()["exit_code"], 3, "the night is recorded");
    assert!(r.dir.join("junit.xml").is_file());
}

#[test]
fn a_cgroup_memsoak_makes_goes_with_it_when_memsoak_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = memsoak()
        .args(["run", "--cgroup", "new", "--duration", "2m", "--out"])
        .arg(tmp.path().join("run"))
        .args(["--", "sleep", "300"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = own_memory_cgroup().join(format!("memsoak-{}", child.id()));
    assert!(
        eventually(Duration::from_secs(20), || !procs(&dir).is_empty()),
        "the target never ran in {}",
        dir.display()
    );
    let inside = procs(&dir);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    // The watchdog stops the target, then removes the folder.
    assert!(
        eventually(Duration::from_secs(20), || !dir.exists()),
        "{} left behind with {:?}",
        dir.display(),
        procs(&dir)
    );
    for pid in inside {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")),
            "process {pid} outlived memsoak"
        );
    }
}
