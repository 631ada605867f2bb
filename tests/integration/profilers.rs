//! Profiler hand-off: a real profiler on a real backend names the leaking
//! line in `leaks.json`, the summary and the reports; a clean backend has
//! no site above the noise floor; a profiler that cannot work never fails
//! the soak.
//!
//! The Python backends are written by the tests (standard library only),
//! with the leak on a line the test finds by a marker. memray must be
//! importable by `python3` and heaptrack and gdb installed: `.ci/run`
//! installs them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const MEMSOAK: &str = env!("CARGO_BIN_EXE_memsoak");

/// An HTTP backend: `backend.py PORT leak|clean [workers]`. Every POST is
/// handled by `handle_post`; with `leak`, `remember` keeps 4 KB of it for
/// ever. With workers, the first process binds the port and starts that
/// many worker interpreters sharing the socket (like `uvicorn --workers`);
/// only worker 1 leaks, and each worker writes `worker-N.pid`.
const BACKEND: &str = r#"import http.server, os, socket, subprocess, sys

HISTORY = []


def remember(body):
    HISTORY.append({"body": bytearray(4096) + body})  # LEAK


def handle_post(body, leak):
    scratch = [bytes(4096) for _ in range(4)]  # freed at once: not a leak
    if leak:
        remember(body)
    return len(scratch)


class Handler(http.server.BaseHTTPRequestHandler):
    leak = False

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        handle_post(body, self.leak)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"reply": "ok"}')

    def log_message(self, *args):
        pass


def serve(sock, leak):
    Handler.leak = leak
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.serve_forever()


if sys.argv[1] == "worker":
    n, fd = int(sys.argv[2]), int(sys.argv[3])
    with open("worker-%d.pid" % n, "w") as f:
        f.write(str(os.getpid()))
    serve(socket.socket(fileno=fd), n == 1)
else:
    port, mode = int(sys.argv[1]), sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    if workers == 0:
        serve(sock, mode == "leak")
    fd = sock.fileno()
    children = [
        subprocess.Popen([sys.executable, __file__, "worker", str(n), str(fd)], pass_fds=[fd])
        for n in range(1, workers + 1)
    ]
    for c in children:
        c.wait()
"#;

/// A folder holding `backend.py`.
struct Backend {
    dir: tempfile::TempDir,
}

impl Backend {
    fn new() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("backend.py"), BACKEND).unwrap();
        Backend { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The line of `remember` that leaks.
    fn leak_line() -> u64 {
        BACKEND.lines().position(|l| l.contains("# LEAK")).unwrap() as u64 + 1
    }

    /// A profile driving POSTs at the backend with `python` and `args`.
    fn profile(&self, python: &str, args: &[&str], profiler: &str) -> String {
        let mut command = vec![
            format!("{python:?}"),
            "\"backend.py\"".into(),
            "\"{port}\"".into(),
        ];
        command.extend(args.iter().map(|a| format!("{a:?}")));
        format!(
            r#"
[target]
command = [{}]
cwd = {:?}
ready_url = "http://127.0.0.1:{{port}}/health"

[run]
duration = "24s"
warmup = "8s"

[profiler]
kind = "{profiler}"

[[workload]]
name = "posts"
kind = "agent"
base_url = "http://127.0.0.1:{{port}}"
agents = 4
rate = "12/s"

[[workload.step]]
name = "post"
method = "POST"
path = "/agent/chat"
json = '{{"message": "hello {{seq}}"}}'
expect_status = 200
"#,
            command.join(", "),
            self.path().display().to_string()
        )
    }
}

fn leaks(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("leaks.json")).expect("leaks.json exists");
    serde_json::from_str(&text).expect("leaks.json is JSON")
}

fn process(l: &Value, pid: u64) -> &Value {
    l["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("no process {pid} in {l}"))
}

/// Sites above the file's noise floor.
fn above_floor(l: &Value, p: &Value) -> Vec<Value> {
    let floor = l["noise_floor_bytes"].as_i64().unwrap();
    p["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["bytes"].as_i64().unwrap() >= floor)
        .cloned()
        .collect()
}

/// The first frame of a site: (function, file, line).
fn first_frame(site: &Value) -> (String, String, u64) {
    let f = &site["frames"][0];
    (
        f["function"].as_str().unwrap().to_string(),
        f["file"].as_str().unwrap().to_string(),
        f["line"].as_u64().unwrap_or(0),
    )
}

fn assert_names_remember(l: &Value, site: &Value) {
    let (function, file, line) = first_frame(site);
    assert_eq!(
        (function.as_str(), file.as_str(), line),
        ("remember", "backend.py", Backend::leak_line()),
        "top site of {l}"
    );
}

fn python() -> String {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "these tests need python3 on PATH");
    "python3".into()
}

#[test]
fn tracemalloc_names_the_leaking_line_and_a_clean_backend_has_nothing_above_the_floor() {
    let backend = Backend::new();
    let py = python();
    let r = soak_profile(
        &backend.profile(&py, &["leak"], "tracemalloc"),
        "--max-growth 10MB/h",
        &[],
    );
    assert!(matches!(r.code(), Some(0 | 1 | 4)), "{}", r.describe());
    let l = leaks(&r.dir);
    assert_eq!(l["profiler"], "tracemalloc");
    assert!(l["error"].is_null(), "{l}");
    let window = &l["window"];
    let start = window["start_s"].as_f64().unwrap();
    assert!((3.5..6.5).contains(&start), "window {window}");
    assert!(window["end_s"].as_f64().unwrap() > 23.0, "window {window}");
    let procs = l["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{l}");
    let sites = above_floor(&l, &procs[0]);
    assert!(!sites.is_empty(), "{l}");
    assert_names_remember(&l, &sites[0]);
    // ~16 s at ~48 POSTs a second, 4 KB each: megabytes, counted (each
    // request keeps a dict, a bytearray object and its buffer).
    let (bytes, count) = (
        sites[0]["bytes"].as_i64().unwrap(),
        sites[0]["count"].as_i64().unwrap(),
    );
    assert!(bytes > 1_000_000 && count > 200, "{}", sites[0]);
    // tracemalloc's own records of those allocations, shown apart: a trace
    // for each live allocation the window added.
    let own = procs[0]["tracer_grown_bytes"].as_i64().unwrap();
    assert!(
        own > count * 16 && own < bytes,
        "{own} for {count} allocations"
    );
    // The hook counts live objects per type (those the collector tracks:
    // the dicts, not their bytearrays) and the collector's garbage.
    let types = procs[0]["types"].as_array().unwrap();
    assert!(
        types
            .iter()
            .any(|t| t["type"] == "dict" && t["count_delta"].as_i64().unwrap() > 200),
        "{types:?}"
    );
    assert!(procs[0]["gc"]["garbage_final"].is_u64(), "{}", procs[0]);
    // summary.json points to the file and carries the top site.
    let s = r.summary();
    assert!(
        s["reasons"].as_array().unwrap().iter().any(|x| x
            .as_str()
            .unwrap()
            .contains("tracemalloc's own records grew")),
        "{}",
        s["reasons"]
    );
    assert_eq!(s["leaks"]["file"], "leaks.json");
    let top = &s["leaks"]["top_site"];
    assert_eq!(
        (&top["function"], &top["file"], top["line"].as_u64()),
        (
            &Value::from("remember"),
            &Value::from("backend.py"),
            Some(Backend::leak_line())
        ),
        "{s}"
    );
    // Every output says where it leaks.
    let place = format!("remember (backend.py:{})", Backend::leak_line());
    assert!(
        r.stdout().contains("where it leaks: tracemalloc: +"),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains(&place), "{}", r.stdout());
    // The verdict says it is a profiled run's.
    assert!(
        r.stdout()
            .contains("a profiled run: the target ran under tracemalloc"),
        "{}",
        r.stdout()
    );
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(
        md.contains("### Where it leaks")
            && md.contains(&format!("backend.py:{}", Backend::leak_line())),
        "{md}"
    );
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(
        html.contains("Where it leaks")
            && html.contains(&format!("backend.py:{}", Backend::leak_line()))
    );
    // `memsoak report` on the folder reads the same sites.
    let out = tempfile::tempdir().unwrap();
    let rep = run(&[
        "report",
        r.dir.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(rep.status.code().is_some(), "{}", describe(&rep));
    assert_eq!(summary(out.path())["leaks"]["top_site"], *top);

    // The same backend without the leak: allocations churn, nothing stays.
    let r = soak_profile(
        &backend.profile(&py, &["clean"], "tracemalloc"),
        "--max-growth 10MB/h",
        &[],
    );
    assert!(matches!(r.code(), Some(0 | 4)), "{}", r.describe());
    let l = leaks(&r.dir);
    assert!(l["error"].is_null(), "{l}");
    let procs = l["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{l}");
    assert!(above_floor(&l, &procs[0]).is_empty(), "{l}");
    let s = r.summary();
    assert!(s["leaks"]["top_site"].is_null(), "{s}");
    assert!(
        r.stdout()
            .contains("no allocation site grew by more than the noise floor"),
        "{}",
        r.stdout()
    );
}

#[test]
fn tracemalloc_follows_every_worker_and_names_the_leaking_one() {
    let backend = Backend::new();
    let py = python();
    let r = soak_profile(
        &backend.profile(&py, &["leak", "2"], "tracemalloc"),
        "",
        &[],
    );
    assert!(matches!(r.code(), Some(0 | 1 | 4)), "{}", r.describe());
    let pid = |n: u32| -> u64 {
        std::fs::read_to_string(backend.path().join(format!("worker-{n}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let l = leaks(&r.dir);
    // The supervisor and both workers: one result each.
    assert_eq!(l["processes"].as_array().unwrap().len(), 3, "{l}");
    let leaking = process(&l, pid(1));
    let sites = above_floor(&l, leaking);
    assert!(!sites.is_empty(), "{l}");
    assert_names_remember(&l, &sites[0]);
    assert!(above_floor(&l, process(&l, pid(2))).is_empty(), "{l}");
    assert_eq!(r.summary()["leaks"]["top_site"]["pid"], pid(1));
}

#[test]
fn memray_names_the_leaking_line_with_native_frames_kept() {
    let backend = Backend::new();
    let py = python();
    let importable = std::process::Command::new(&py)
        .args(["-c", "import memray"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        importable,
        "memray must be importable by python3 (`.ci/run` installs it)"
    );
    let r = soak_profile(&backend.profile(&py, &["leak"], "memray"), "", &[]);
    assert!(matches!(r.code(), Some(0 | 1 | 4)), "{}", r.describe());
    let l = leaks(&r.dir);
    assert!(l["error"].is_null(), "{l}");
    let p = &l["processes"][0];
    let sites = above_floor(&l, p);
    assert!(!sites.is_empty(), "{l}");
    assert_names_remember(&l, &sites[0]);
    // The capture is kept, with the command that opens it.
    let artifact = l["artifacts"][0].as_str().unwrap();
    assert!(r.dir.join(artifact).is_file(), "{l}");
    assert!(
        l["commands"][0]
            .as_str()
            .unwrap()
            .contains("memray flamegraph --leaks"),
        "{l}"
    );
}

#[test]
fn heaptrack_reports_what_the_window_allocated_and_kept_not_what_exit_frees() {
    // Fail-fast ends the run, and the window, once the leak is certain.
    let r = soak(
        "--duration 90s --warmup 8s --profiler heaptrack --fail-fast",
        &[
            "--",
            MEMSOAK,
            "demo-backend",
            "--port",
            "0",
            "--leak",
            "200MB/h",
        ],
    );
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    assert!(r.summary()["fail_fast"].is_object(), "{}", r.describe());
    let l = leaks(&r.dir);
    assert!(l["error"].is_null(), "{l}");
    let end = l["window"]["end_s"].as_f64().unwrap();
    assert!(end < 80.0, "the window ran on after fail-fast: {l}");
    let window = l["window"]["end_s"].as_f64().unwrap() - l["window"]["start_s"].as_f64().unwrap();
    let p = &l["processes"][0];
    let sites = above_floor(&l, p);
    assert!(!sites.is_empty(), "{l}");
    let frames: Vec<String> = sites[0]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["function"].as_str().unwrap(),
                f["file"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        frames[0].contains("retain") && frames[0].contains("src/demo/leak.rs"),
        "{frames:?}"
    );
    assert!(frames.iter().any(|f| f.contains("drip")), "{frames:?}");
    // 200 MB/h over the window: the trace stopped with the process alive
    // (the demo frees its leak when it exits, which would read 0). The
    // demo leaks into 256 KiB slabs, one allocation each, so heaptrack sees
    // whole slabs: one partly filled at each end of the window may fall
    // either side, plus a second of the drip for the window's edges.
    let rate = 200e6 / 3600.0;
    let expected = rate * window;
    let margin = 2.0 * 262_144.0 + rate;
    let bytes = sites[0]["bytes"].as_f64().unwrap();
    assert!(
        (bytes - expected).abs() <= margin,
        "{bytes} vs {expected} ± {margin}"
    );
    let artifact = r.dir.join(l["artifacts"][0].as_str().unwrap());
    assert!(artifact.is_file(), "{l}");
    // heaptrack's helpers are memsoak's, not the target's.
    let procs = std::fs::read_to_string(r.dir.join("processes.csv")).unwrap();
    for helper in ["zstd", "heaptrack_inter", "gdb", ",sh,"] {
        assert!(!procs.contains(helper), "{helper} measured:\n{procs}");
    }
}

#[test]
fn a_profiler_that_cannot_work_never_fails_the_soak_and_says_why() {
    // heaptrack not installed: a PATH without it.
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = memsoak();
    cmd.env("PATH", empty.path());
    let r = soak_with(
        cmd,
        "--duration 15s --warmup 3s --profiler heaptrack",
        &["--", MEMSOAK, "demo-backend", "--port", "0"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["verdict"], "pass");
    let why = s["leaks"]["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("heaptrack is not installed: `apt-get install heaptrack`"),
        "{s}"
    );
    assert!(
        r.stdout()
            .contains("heaptrack found no sites: heaptrack is not installed"),
        "{}",
        r.stdout()
    );

    // tracemalloc on a program that is not Python.
    let r = soak(
        "--duration 15s --warmup 3s --profiler tracemalloc",
        &["--", MEMSOAK, "demo-backend", "--port", "0"],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let why = r.summary()["leaks"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("no Python process loaded memsoak's tracemalloc hook"),
        "{why}"
    );

    // memray not installed in the backend's own environment (a venv).
    let backend = Backend::new();
    let venv: PathBuf = backend.path().join("venv");
    let made = std::process::Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    let venv_python = venv.join("bin/python3").display().to_string();
    let profile = backend
        .profile(&venv_python, &["clean"], "memray")
        .replace("24s", "15s")
        .replace("\"8s\"", "\"3s\"");
    let r = soak_profile(&profile, "", &[]);
    // The soak completes with its own verdict (a short run of a Python
    // backend may be inconclusive).
    assert!(matches!(r.code(), Some(0 | 4)), "{}", r.describe());
    let why = r.summary()["leaks"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains(&format!(
            "memray not importable by {venv_python}: pip install memray in the backend's environment"
        )),
        "{why}"
    );
}

#[test]
fn tracemalloc_cannot_attach_and_says_so() {
    let backend = DemoBackend::start(&[]);
    let out = run(&[
        "run",
        "--pid",
        &backend.child.id().to_string(),
        "--profiler",
        "tracemalloc",
        "--duration",
        "5s",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a launched target"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_fastapi_example_names_the_broadcast_leak_in_report_html() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let importable = std::process::Command::new(python())
        .args(["-c", "import fastapi, uvicorn, websockets"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        importable,
        "pip install -r examples/fastapi-collab/requirements.txt (`.ci/run` does)"
    );
    let source =
        std::fs::read_to_string(root.join("examples/fastapi-collab/backend/collab.py")).unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("# the planted leak"))
        .unwrap()
        + 1;
    let mut cmd = memsoak();
    cmd.current_dir(root).env("COLLAB_LEAK", "1");
    let r = soak_with(
        cmd,
        "--duration 40s --warmup 12s",
        &["examples/fastapi-collab/soak.toml"],
    );
    assert!(matches!(r.code(), Some(0 | 1 | 4)), "{}", r.describe());
    let top = &r.summary()["leaks"]["top_site"];
    let l = leaks(&r.dir);
    assert_eq!(
        top["function"], "broadcast",
        "{top}; leaks.json: error {}, notes {}, window {}, floor {}",
        l["error"], l["notes"], l["window"], l["noise_floor_bytes"]
    );
    assert_eq!(top["file"], "backend/collab.py", "{top}");
    assert_eq!(top["line"].as_u64(), Some(line as u64), "{top}");
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(
        html.contains("Where it leaks") && html.contains(&format!("backend/collab.py:{line}")),
        "report.html does not name backend/collab.py:{line}"
    );
}

#[test]
fn a_secret_on_the_command_line_never_reaches_a_profiler_file() {
    const TOKEN: &str = "profiler-secret-7f3a9c";
    // A launcher passes the token the load sends (`${MEMSOAK_TEST_TOKEN}`)
    // on its child's command line.
    let profile = |command: &str, profiler: &str, cwd: &Path| {
        format!(
            r#"
[target]
command = {command}
cwd = {cwd:?}
ready_url = "http://127.0.0.1:{{port}}/health"
[run]
duration = "14s"
warmup = "3s"
[profiler]
kind = "{profiler}"
[[workload]]
kind = "agent"
base_url = "http://127.0.0.1:{{port}}"
agents = 1
rate = "5/s"
[[workload.step]]
method = "POST"
path = "/agent/chat"
json = '{{"message": "hi"}}'
headers = {{ Authorization = "Bearer ${{MEMSOAK_TEST_TOKEN}}" }}
"#,
            cwd = cwd.display().to_string()
        )
    };
    // tracemalloc: the hook never writes a command line.
    let backend = Backend::new();
    let command = r#"["sh", "-c", "exec python3 backend.py \"$0\" leak 0 \"$MEMSOAK_TEST_TOKEN\"", "{port}"]"#;
    let r = soak_profile(
        &profile(command, "tracemalloc", backend.path()),
        "",
        &[("MEMSOAK_TEST_TOKEN", TOKEN)],
    );
    assert!(matches!(r.code(), Some(0 | 1 | 4)), "{}", r.describe());
    assert!(leaks(&r.dir)["error"].is_null(), "{}", leaks(&r.dir));
    assert_no_file_contains(&r.dir, TOKEN);

    // heaptrack writes the command line into its capture: refused, said.
    let command = format!(
        r#"["sh", "-c", "exec \"$0\" demo-backend --port \"$1\" --agent-token \"$MEMSOAK_TEST_TOKEN\"", "{MEMSOAK}", "{{port}}"]"#
    );
    let r = soak_profile(
        &profile(&command, "heaptrack", backend.path()),
        "",
        &[("MEMSOAK_TEST_TOKEN", TOKEN)],
    );
    assert!(matches!(r.code(), Some(0 | 4)), "{}", r.describe());
    let why = leaks(&r.dir)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("command line holds a value from ${ENV}"),
        "{why}"
    );
    assert_no_file_contains(&r.dir, TOKEN);
}

/// Live processes other than `except` that name `dir` in their command
/// line or hold a file of it open (a FIFO on stdin, an output on stdout).
fn processes_using(dir: &Path, except: u32) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == except || pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let holds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with(&dir))
                })
            })
            .unwrap_or(false);
        if cmdline.contains(&dir) || holds {
            found.push(format!("{pid} {cmdline}"));
        }
    }
    found
}

/// `memsoak run --pid PID --profiler PROFILER` into `out`, a minute with a
/// 4 s warm-up, in the background.
fn attached_soak(pid: u32, profiler: &str, out: &Path) -> std::process::Child {
    use std::process::Stdio;
    memsoak()
        .args(["run", "--pid", &pid.to_string(), "--duration", "60s"])
        .args(["--warmup", "4s", "--profiler", profiler, "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// FIFOs heaptrack's traces read from, left in `dir`.
fn fifos(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        if entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".fifo"))
        {
            out.push(entry);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn memsoak_killed_while_heaptrack_attaches_leaves_no_pipeline_nor_fifo_and_the_target_runs() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let mut target = Command::new(MEMSOAK)
        .args(["demo-backend", "--port", "0", "--leak", "50MB/h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut soak = attached_soak(target.id(), "heaptrack", &out);
    // Killed the moment heaptrack's FIFO is made: gdb is about to attach.
    assert!(
        eventually(Duration::from_secs(40), || !fifos(&out).is_empty()),
        "no heaptrack FIFO appeared"
    );
    soak.kill().unwrap();
    soak.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(60), || processes_using(
            &out,
            target.id()
        )
        .is_empty()
            && fifos(&out).is_empty()),
        "left behind: {:?}, {:?}",
        processes_using(&out, target.id()),
        fifos(&out)
    );
    // The traced process goes on, its trace's reader gone.
    std::thread::sleep(Duration::from_secs(2));
    assert!(target.try_wait().unwrap().is_none(), "the target ended");
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn memsoak_killed_while_memray_attaches_to_a_pid_leaves_it_detached_and_running() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let backend = Backend::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut target = Command::new(python())
        .args(["backend.py", &port.to_string(), "clean"])
        .current_dir(backend.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut soak = attached_soak(target.id(), "memray", &out);
    // Killed while `memray attach` runs (its `-o` names the run folder).
    let attaching = || {
        processes_using(&out, target.id())
            .iter()
            .any(|p| p.contains("memray attach"))
    };
    assert!(
        eventually(Duration::from_secs(40), attaching),
        "memray attach never ran"
    );
    soak.kill().unwrap();
    soak.wait().unwrap();
    // The attach finishes, then the undo detaches: the target lets go of
    // its capture and nothing of memsoak's is left.
    let holds_capture = || {
        std::fs::read_dir(format!("/proc/{}/fd", target.id()))
            .unwrap()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().contains("memray."))
            })
    };
    assert!(
        eventually(Duration::from_secs(90), || !holds_capture()
            && processes_using(&out, target.id()).is_empty()),
        "still instrumented: {:?}",
        processes_using(&out, target.id())
    );
    assert!(target.try_wait().unwrap().is_none(), "the target ended");
    target.kill().unwrap();
    target.wait().unwrap();
}
