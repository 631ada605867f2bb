//! Frontend soaks against a real headless Chromium (Debian's `chromium`,
//! installed by `.ci/run`): pages served by the demo backend on loopback,
//! read through the DevTools protocol.
//!
//! Every browser memsoak launches here gets its profile folder under the
//! test's own temporary folder (`TMPDIR`), and every Chromium process
//! carries that folder in its command line: that is how a test finds its
//! browser's processes among those of tests running beside it, and proves
//! none is left behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const MEMSOAK: &str = env!("CARGO_BIN_EXE_memsoak");

/// Live processes whose command line mentions `marker`.
fn processes_mentioning(marker: &str) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .map(|p| p.pid)
        .collect()
}

/// A test's own temporary folder, given to memsoak as `TMPDIR`.
struct Scratch {
    tmp: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The browser processes of this test.
    fn browsers(&self) -> Vec<i32> {
        processes_mentioning(&self.path().to_string_lossy())
            .into_iter()
            // memsoak itself has the folder in its `--out`.
            .filter(|&p| {
                std::fs::read_link(format!("/proc/{p}/exe"))
                    .is_ok_and(|e| e.to_string_lossy().contains("chrom"))
            })
            .collect()
    }

    /// Profile folders memsoak made for browsers and has not removed.
    fn profiles(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("memsoak-browser-"))
            })
            .collect()
    }

    fn memsoak(&self) -> Command {
        let mut c = memsoak();
        c.env("TMPDIR", self.path());
        c
    }

    fn assert_no_browser_left(&self) {
        assert!(
            eventually(Duration::from_secs(10), || self.browsers().is_empty()),
            "browser processes left behind: {:?}",
            self.browsers()
        );
        // The keeper removes the profile once the browser has ended.
        assert!(
            eventually(Duration::from_secs(10), || self.profiles().is_empty()),
            "profile folders left: {:?}",
            self.profiles()
        );
    }
}

/// Runs a frontend soak of the demo backend's `page` (`/frontend/leak`, …)
/// in a browser memsoak launches, with `flags`.
fn frontend_soak(scratch: &Scratch, page: &str, flags: &str) -> Soak {
    let browser = format!("http://127.0.0.1:{{port}}{page}");
    let command = [
        "--browser",
        &browser,
        "--ready-url",
        "http://127.0.0.1:{port}/health",
        "--",
        MEMSOAK,
        "demo-backend",
        "--port",
        "{port}",
    ];
    soak_with(scratch.memsoak(), flags, &command)
}

fn trend(s: &Value, name: &str) -> String {
    s["attribution"]["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["name"] == name))
        .map(|x| x["trend"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no resource {name} in {}", s["attribution"]))
}

#[test]
fn a_page_that_never_cleans_up_fails_with_its_listeners_nodes_and_detached_nodes() {
    let scratch = Scratch::new();
    let r = frontend_soak(
        &scratch,
        "/frontend/leak",
        "--duration 30s --heap-snapshots",
    );
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["metric"], "js_heap", "{s}");
    assert_eq!(s["source"]["kind"], "cdp");
    assert_eq!(s["source"]["cdp"]["launched"], true);
    // 10 closures a second, each holding an 8 KB array: about 300 MB/h.
    let lo = s["growth"]["ci95_bytes_per_hour"][0].as_f64().unwrap();
    assert!(lo > 100e6, "{}", s["growth"]);
    // A reading every tick, but while the baseline snapshot is written:
    // the page's main thread is busy then, and the tick does not wait.
    let heap: Vec<String> = r.column("js_heap_bytes");
    let elapsed: Vec<f64> = r
        .column("elapsed_s")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let snapshot_from = s["heap_snapshots"]["baseline"]["elapsed_s"]
        .as_f64()
        .unwrap();
    let snapshot_to = s["warmup_held_until_s"].as_f64().unwrap_or(snapshot_from);
    for (v, t) in heap.iter().zip(&elapsed) {
        let busy = (snapshot_from - 1.0..=snapshot_to + 1.0).contains(t);
        assert!(
            v.parse::<u64>().is_ok_and(|b| b > 0) || (v.is_empty() && busy),
            "{v:?} at {t}s (snapshot {snapshot_from}…{snapshot_to}): {heap:?}"
        );
    }
    assert_eq!(trend(&s, "js_event_listeners"), "growing");
    assert_eq!(trend(&s, "dom_nodes"), "growing");
    assert_eq!(trend(&s, "documents"), "flat");
    let rules: Vec<&str> = s["attribution"]["hints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["rule"].as_str())
        .collect();
    assert!(
        rules.contains(&"listeners_leak") && rules.contains(&"dom_nodes_leak"),
        "{rules:?}"
    );
    assert!(
        s["attribution"]["headline"]
            .as_str()
            .unwrap()
            .contains("js_event_listeners"),
        "{}",
        s["attribution"]["headline"]
    );
    // The snapshots: kept, and the detached subtrees named.
    let h = &s["heap_snapshots"];
    for (key, file) in [
        ("baseline", "heap-baseline.heapsnapshot"),
        ("final", "heap-final.heapsnapshot"),
    ] {
        assert_eq!(h[key]["file"], file, "{h}");
        let text = std::fs::read(r.dir.join(file)).unwrap();
        assert!(
            text.starts_with(b"{\"snapshot\":"),
            "{file} is a heap snapshot"
        );
    }
    assert!(h["detached_nodes"]["delta"].as_i64().unwrap() > 50, "{h}");
    // The baseline held the judged window until it was written, and the
    // browser's processes were sampled all the while.
    let held = s["warmup_held_until_s"].as_f64().expect("a held window");
    assert!(held >= h["baseline"]["elapsed_s"].as_f64().unwrap(), "{s}");
    assert!(s["warmup_s"].as_f64().unwrap() >= held, "{s}");
    assert_eq!(s["missed_ticks"], 0, "{s}");
    let detached: Vec<&str> = h["detached_nodes"]["by_name"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        detached.iter().any(|n| n.starts_with("Detached <div")),
        "{detached:?}"
    );
    assert!(
        h["constructors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "(closure)" && c["count_delta"].as_i64() > Some(50)),
        "{h}"
    );
    // The report shows the JS heap chart, the page's counts and the diff.
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    for want in [
        "js_heap (judged)",
        "DOM nodes",
        "Event listeners and documents",
        "Heap snapshots",
        "Detached &lt;div",
    ] {
        assert!(html.contains(want), "report.html lacks {want}");
    }
    assert!(r.stdout().contains("heap snapshots"), "{}", r.stdout());
    scratch.assert_no_browser_left();
    // Judged again from the folder: the same metric, the snapshots kept.
    let again = run(&["report", r.dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    let s2 = r.summary();
    assert_eq!(s2["metric"], "js_heap");
    assert_eq!(s2["warmup_held_until_s"], s["warmup_held_until_s"]);
    assert_eq!(s2["growth"], s["growth"]);
    assert_eq!(s2["heap_snapshots"]["detached_nodes"], h["detached_nodes"]);
    assert_eq!(trend(&s2, "js_event_listeners"), "growing");
}

#[test]
fn a_page_that_cleans_up_passes_while_a_scripted_person_uses_it() {
    let scratch = Scratch::new();
    let profile = format!(
        r##"
[target]
command = ["{MEMSOAK}", "demo-backend", "--port", "{{port}}"]
ready_url = "http://127.0.0.1:{{port}}/health"

[run]
duration = "40s"

[source]
cdp = {{ browser = "http://127.0.0.1:{{port}}/frontend/clean?session=${{MEMSOAK_FRONTEND_TOKEN}}", heap_snapshots = true }}

[[workload]]
name = "person"
kind = "browser"
think_time = "200ms"

[[workload.step]]
action = "eval"
script = "window.session = '${{MEMSOAK_FRONTEND_TOKEN}}'; document.getElementById('count').textContent"

[[workload.step]]
action = "click"
selector = "h1"

[[workload.step]]
action = "wait"
selector = "#count"

[[workload.step]]
action = "press"
key = "Tab"

[[workload]]
name = "lost"
kind = "browser"
think_time = "1s"

# Its errors are what is tested here, not a load that failed.
[workload.checks]
max_errors = "100%"

[[workload.step]]
action = "click"
selector = "#not-on-the-page"
"##
    );
    let file = scratch.path().join("clean.toml");
    std::fs::write(&file, profile).unwrap();
    let token = "frontend-s3cr3t-5c1e0a";
    let mut cmd = scratch.memsoak();
    cmd.env("MEMSOAK_FRONTEND_TOKEN", token);
    let r = soak_with(cmd, "", &[file.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    // The page was given the token (its URL, a script): its heap holds it,
    // so the snapshots are compared and then deleted; no file keeps it.
    let h = &r.summary()["heap_snapshots"];
    assert!(h["constructors"].is_array(), "{h}");
    assert_eq!(
        (
            h["baseline"]["deleted"].as_bool(),
            h["final"]["deleted"].as_bool()
        ),
        (Some(true), Some(true)),
        "{h}"
    );
    assert!(
        h["error"]
            .as_str()
            .unwrap_or("")
            .contains("expanded from the environment"),
        "{h}"
    );
    assert!(!r.dir.join("heap-baseline.heapsnapshot").exists());
    assert!(!r.dir.join("heap-final.heapsnapshot").exists());
    assert_no_file_contains(&r.dir, token);
    assert!(!r.stdout().contains(token) && !r.stderr().contains(token));
    assert!(r.summary()["source"]["cdp"]["page_url"]
        .as_str()
        .unwrap()
        .ends_with("session=${MEMSOAK_FRONTEND_TOKEN}"));
    let s = r.summary();
    assert_eq!(s["verdict"], "pass");
    // A count that moves by one as a tick's listener comes and goes is
    // unclear over half a minute, never growing.
    assert_ne!(trend(&s, "js_event_listeners"), "growing");
    assert_ne!(trend(&s, "dom_nodes"), "growing");
    let page_hints: Vec<&Value> = s["attribution"]["hints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            [
                "listeners_leak",
                "dom_nodes_leak",
                "documents_leak",
                "js_objects_kept",
            ]
            .contains(&h["rule"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(page_hints.is_empty(), "{page_hints:?}");
    let person = workload(&s, "person");
    assert!(num(&person["sent"]) > 40, "{person}");
    assert_eq!(num(&person["errors"]), 0, "{person}");
    let steps: Vec<&str> = person["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(steps, ["eval", "click h1", "wait for #count", "press Tab"]);
    let lost = workload(&s, "lost");
    assert!(num(&lost["errors_by_kind"]["no_element"]) > 10, "{lost}");
    scratch.assert_no_browser_left();
}

/// A headless Chromium started as a person would, with a DevTools port.
struct OwnBrowser {
    child: Child,
    port: u16,
}

impl OwnBrowser {
    fn start(scratch: &Scratch, url: &str) -> OwnBrowser {
        let profile = scratch.path().join("own-profile");
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("DevTools listening on ws://127.0.0.1:")
                    .and_then(|r| r.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
            })
            .expect("chromium prints its DevTools port");
        std::thread::spawn(move || lines.for_each(drop));
        OwnBrowser { child, port }
    }

    fn pages(&self) -> Vec<Value> {
        let text = http_request(self.port, "GET", "/json/list");
        serde_json::from_str::<Vec<Value>>(&text)
            .unwrap()
            .into_iter()
            .filter(|t| t["type"] == "page")
            .collect()
    }

    fn open(&self, url: &str) {
        let _ = http_request(self.port, "PUT", &format!("/json/new?{url}"));
    }
}

impl Drop for OwnBrowser {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 request on loopback; the body of the answer (read to
/// its Content-Length: the DevTools server keeps the connection open).
fn http_request(port: u16, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the DevTools server closed before answering");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= length {
                return body.to_string();
            }
        }
    }
}

#[test]
fn attaching_to_a_running_browser_never_closes_it() {
    let scratch = Scratch::new();
    let backend = DemoBackend::start(&[]);
    let browser = OwnBrowser::start(
        &scratch,
        &format!("http://127.0.0.1:{}/frontend/clean", backend.port),
    );
    assert!(eventually(Duration::from_secs(10), || browser
        .pages()
        .len()
        == 1));
    browser.open(&format!(
        "http://127.0.0.1:{}/editor?doc=attach",
        backend.port
    ));
    assert!(eventually(Duration::from_secs(10), || browser
        .pages()
        .len()
        == 2));
    let endpoint = format!("http://127.0.0.1:{}", browser.port);
    // Two pages and no choice: an error naming both, before anything runs.
    let out = scratch
        .memsoak()
        .args(["run", "--cdp", &endpoint, "--duration", "10s", "--out"])
        .arg(scratch.path().join("ambiguous"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 pages open")
            && err.contains("/frontend/clean")
            && err.contains("--cdp-target"),
        "{err}"
    );
    assert!(!scratch.path().join("ambiguous").exists());

    let r = soak_with(
        scratch.memsoak(),
        &format!(
            "--cdp {endpoint} --cdp-target frontend/clean --duration 15s --heap-snapshots --metric page_heap"
        ),
        &[],
    );
    assert!(matches!(r.code(), Some(0 | 4)), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["source"]["kind"], "cdp");
    // Both heaps, judged together: JS and Blink's (the DOM).
    assert_eq!(s["metric"], "page_heap", "{}", s["metric_note"]);
    let (js, page) = (r.column("js_heap_bytes"), r.column("page_heap_bytes"));
    let bytes = |v: &String| v.parse::<u64>().unwrap_or(0);
    assert!(
        js.iter().zip(&page).all(|(j, p)| bytes(p) > bytes(j)),
        "{js:?} {page:?}"
    );
    let cdp = &s["source"]["cdp"];
    assert_eq!(cdp["launched"], false, "{cdp}");
    assert_eq!(cdp["browser_pid"], browser.child.id(), "{cdp}");
    assert!(
        cdp["page_url"]
            .as_str()
            .unwrap()
            .ends_with("/frontend/clean"),
        "{cdp}"
    );
    assert_eq!(s["target"]["mode"], "none");
    // The browser's processes were sampled: the main one and its children.
    assert!(num(&s["target"]["max_processes"]) >= 3, "{}", s["target"]);
    assert!(
        s["heap_snapshots"]["constructors"].is_array(),
        "{}",
        s["heap_snapshots"]
    );
    // The browser and both its pages are still there.
    assert!(process_alive(browser.child.id()));
    assert_eq!(browser.pages().len(), 2);
}

fn process_alive(pid: u32) -> bool {
    processes().iter().any(|p| p.pid == pid as i32)
}

/// Starts a frontend soak of the clean page meant to run a minute, and
/// waits until its browser is up.
fn start_soak(scratch: &Scratch, out: &Path) -> Child {
    let child = scratch
        .memsoak()
        .args([
            "run",
            "--duration",
            "60s",
            "--browser",
            "http://127.0.0.1:{port}/frontend/clean",
            "--ready-url",
            "http://127.0.0.1:{port}/health",
            "--out",
        ])
        .arg(out)
        .args(["--", MEMSOAK, "demo-backend", "--port", "{port}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Measuring has started when the provisional summary is written.
    assert!(
        eventually(Duration::from_secs(30), || out
            .join("summary.json")
            .is_file()),
        "the soak did not start"
    );
    assert!(!scratch.browsers().is_empty());
    child
}

fn signal(child: &Child, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), s).unwrap();
}

#[test]
fn a_launched_browser_is_closed_on_every_exit_path() {
    use nix::sys::signal::Signal;
    // Interrupted: the outputs are written and the browser closed.
    let scratch = Scratch::new();
    let out = scratch.path().join("interrupted");
    let child = start_soak(&scratch, &out);
    std::thread::sleep(Duration::from_secs(3));
    signal(&child, Signal::SIGINT);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", describe(&o));
    assert_eq!(summary(&out)["partial"], true);
    assert!(out.join("report.html").is_file());
    scratch.assert_no_browser_left();

    // Killed: memsoak does nothing, its keeper closes the browser.
    let scratch = Scratch::new();
    let out = scratch.path().join("killed");
    let mut child = start_soak(&scratch, &out);
    signal(&child, Signal::SIGKILL);
    let _ = child.wait();
    scratch.assert_no_browser_left();

    // The browser dies: a target failure, named.
    let scratch = Scratch::new();
    let out = scratch.path().join("crashed");
    let child = start_soak(&scratch, &out);
    let main = scratch
        .browsers()
        .into_iter()
        .find(|&p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| !String::from_utf8_lossy(&c).contains("--type="))
        })
        .expect("the browser's main process");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(main), Signal::SIGKILL).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    let failure = summary(&out)["target"]["failure"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        failure.contains("browser page could no longer be measured"),
        "{failure}"
    );
    scratch.assert_no_browser_left();
}

#[test]
fn a_browser_that_cannot_start_is_named_and_leaves_no_profile() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let bin = tempfile::tempdir().unwrap();
    let script = |name: &str, text: &str| {
        let p = bin.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let cases = [
        (
            script("no-interpreter", "#!/no/such/interpreter\n"),
            "the interpreter on its #! line is missing",
        ),
        (
            script(
                "quits",
                "#!/bin/sh\necho 'cannot open display' >&2\nexit 7\n",
            ),
            "ended before it was ready (exit code 7)",
        ),
    ];
    for (exe, says) in cases {
        let profile = scratch.path().join("browser.toml");
        std::fs::write(
            &profile,
            format!(
                "[run]\nduration = \"10s\"\n[source]\ncdp = {{ browser = \"http://127.0.0.1:9/\", executable = \"{}\" }}\n",
                exe.display()
            ),
        )
        .unwrap();
        let out = scratch.path().join(exe.file_name().unwrap());
        let o = scratch
            .memsoak()
            .arg("run")
            .arg(&profile)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
        assert!(
            err.contains(&format!("the browser '{}'", exe.display()))
                || err.contains(&format!("could not start the browser '{}'", exe.display())),
            "{err}"
        );
        assert!(err.contains(says), "{err}");
        // What the browser printed is kept with the run.
        assert!(out.join("browser.log").is_file());
        assert!(
            scratch.profiles().is_empty(),
            "profile folders left: {:?}",
            scratch.profiles()
        );
    }
}

/// Runs a frontend soak of `page` among `files`, served from a folder of
/// the test's by Python's `http.server` on loopback, with `flags`.
fn static_page_soak(scratch: &Scratch, files: &[(&str, &str)], page: &str, flags: &str) -> Soak {
    let site = scratch.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    for (name, text) in files {
        std::fs::write(site.join(name), text).unwrap();
    }
    let browser = format!("http://127.0.0.1:{{port}}/{page}");
    let site = site.to_string_lossy().into_owned();
    let command = [
        "--browser",
        &browser,
        "--ready-url",
        "http://127.0.0.1:{port}/",
        "--",
        "python3",
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        "--directory",
        &site,
        "{port}",
    ];
    soak_with(scratch.memsoak(), flags, &command)
}

fn failure(s: &Value) -> String {
    s["target"]["failure"].as_str().unwrap_or("").to_string()
}

#[test]
fn a_page_whose_main_thread_hangs_is_named_and_its_processes_sampled_meanwhile() {
    let scratch = Scratch::new();
    let page = "<!doctype html><title>hangs</title><script>\
                setTimeout(() => { for (;;) {} }, 3000);</script>";
    let r = static_page_soak(
        &scratch,
        &[("hang.html", page)],
        "hang.html",
        "--duration 2m --warmup 5s",
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let s = r.summary();
    let why = failure(&s);
    assert!(why.contains("stopped answering"), "{why}");
    // Named once quiet for 30 s, not at the end of the two minutes.
    let ended = s["duration_s"].as_f64().unwrap();
    assert!((30.0..75.0).contains(&ended), "{ended}");
    // The browser's processes were sampled every second while the page
    // hung: RSS in every row, js_heap in none of the quiet ones.
    let elapsed: Vec<f64> = r
        .column("elapsed_s")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let rss = r.column("rss_bytes");
    let heap = r.column("js_heap_bytes");
    let quiet: Vec<usize> = (0..elapsed.len())
        .filter(|&i| elapsed[i] > 15.0 && elapsed[i] < ended - 1.0)
        .collect();
    assert!(
        quiet.len() as f64 >= (ended - 16.0) * 0.8,
        "{quiet:?} of {elapsed:?}"
    );
    assert!(quiet.iter().all(|&i| !rss[i].is_empty()), "{rss:?}");
    assert!(quiet.iter().all(|&i| heap[i].is_empty()), "{heap:?}");
    assert_eq!(s["missed_ticks"], 0, "{s}");
    scratch.assert_no_browser_left();
}

#[test]
fn a_page_that_navigates_away_on_its_own_is_named() {
    let scratch = Scratch::new();
    let page = "<!doctype html><title>leaves</title><script>\
                setTimeout(() => { location.href = '/elsewhere.html'; }, 4000);</script>";
    let r = static_page_soak(
        &scratch,
        &[
            ("leaves.html", page),
            ("elsewhere.html", "<!doctype html><title>elsewhere</title>"),
        ],
        "leaves.html",
        "--duration 1m --warmup 5s",
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    let s = r.summary();
    let why = failure(&s);
    assert!(why.contains("navigated away on its own"), "{why}");
    assert!(why.contains("/elsewhere.html"), "{why}");
    assert!(s["duration_s"].as_f64().unwrap() < 20.0, "{s}");
    scratch.assert_no_browser_left();
}

#[test]
fn a_page_the_server_answers_with_an_error_is_not_soaked() {
    let scratch = Scratch::new();
    let r = static_page_soak(
        &scratch,
        &[("index.html", "<!doctype html><title>home</title>")],
        "missing.html",
        "--duration 1m",
    );
    assert_eq!(r.code(), Some(3), "{}", r.describe());
    assert!(r.stderr().contains("answered HTTP 404"), "{}", r.describe());
    scratch.assert_no_browser_left();
}

/// A small tmpfs mounted for one test (memsoak's tests run as root, as CI
/// does), unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&path).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "mount a tmpfs: {}", describe(&o));
        SmallDisk { path }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_disk_that_fills_during_a_heap_snapshot_keeps_the_verdict_and_no_truncated_snapshot() {
    let scratch = Scratch::new();
    let disk = SmallDisk::mount(scratch.path().join("disk"), "1536k");
    let out = disk.path.join("run");
    let o = scratch
        .memsoak()
        .args([
            "run",
            "--duration",
            "30s",
            "--heap-snapshots",
            "--browser",
            "http://127.0.0.1:{port}/frontend/leak",
            "--ready-url",
            "http://127.0.0.1:{port}/health",
            "--out",
        ])
        .arg(&out)
        .args(["--", MEMSOAK, "demo-backend", "--port", "{port}"])
        .output()
        .unwrap();
    // The leak is judged whatever else could not be written.
    let s = summary(&out);
    assert_eq!(s["verdict"], "fail", "{}", describe(&o));
    assert!(
        matches!(o.status.code(), Some(1) | Some(5)),
        "{}",
        describe(&o)
    );
    let why = s["heap_snapshots"]["error"].as_str().unwrap_or("");
    assert!(why.contains("snapshot failed"), "{}", s["heap_snapshots"]);
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".heapsnapshot"))
        .collect();
    assert!(left.is_empty(), "truncated snapshots kept: {left:?}");
    scratch.assert_no_browser_left();
}
