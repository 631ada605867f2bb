//! Helpers shared by the integration tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The memsoak binary under test.
pub(crate) fn memsoak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memsoak"));
    c.stdin(Stdio::null());
    c
}

/// Runs memsoak with `args` and returns its output.
pub(crate) fn run(args: &[&str]) -> Output {
    memsoak().args(args).output().expect("memsoak runs")
}

/// Exit code, stdout and stderr together, for assertion messages.
pub(crate) fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Parsed `summary.json` of a run folder.
pub(crate) fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json exists");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Rows of a run's `samples.csv` as (header, rows).
pub(crate) fn samples(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr = csv::Reader::from_path(dir.join("samples.csv")).expect("samples.csv exists");
    let header = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// A demo backend started outside memsoak, killed on drop.
pub(crate) struct DemoBackend {
    pub child: Child,
    pub port: u16,
}

impl DemoBackend {
    pub(crate) fn start(extra: &[&str]) -> DemoBackend {
        let mut child = memsoak()
            .args(["demo-backend", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo backend starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        DemoBackend { child, port }
    }
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A live process as `/proc/PID/stat` shows it.
pub(crate) struct ProcStat {
    pub pid: i32,
    pub comm: String,
    pub ppid: i32,
    pub pgrp: i32,
}

/// Every live (not zombie) process, from `/proc`.
pub(crate) fn processes() -> Vec<ProcStat> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        // After the name: state, ppid, pgrp, ...
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| fields.get(i).and_then(|f| f.parse().ok());
        if let (Some(&state), Some(ppid), Some(pgrp)) = (fields.first(), num(1), num(2)) {
            if state != "Z" {
                out.push(ProcStat {
                    pid,
                    comm,
                    ppid,
                    pgrp,
                });
            }
        }
    }
    out
}

/// Debian's Chromium, which the browser tests render and soak pages in.
pub(crate) fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("Chromium is needed for this test: `apt-get install chromium` (.ci/run does it)")
}

/// Processes whose process group is `pgid`.
pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .map(|p| p.pid)
        .collect()
}

/// Children of `pid` whose command name is `name`.
pub(crate) fn children_named(pid: u32, name: &str) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.comm == name && u32::try_from(p.ppid) == Ok(pid))
        .map(|p| p.pid)
        .collect()
}

/// Starts `memsoak run` (sampling every 200 ms for up to a minute) on
/// `command`, writing into `dir`; stderr is piped for the test to read.
pub(crate) fn spawn_soak(dir: &Path, command: &[&str]) -> Child {
    memsoak()
        .args([
            "run",
            "--duration",
            "60s",
            "--warmup",
            "1s",
            "--interval",
            "200ms",
            "--out",
        ])
        .arg(dir)
        .arg("--")
        .args(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memsoak starts")
}

/// [`spawn_soak`] on a shell whose two children ignore SIGTERM.
pub(crate) fn spawn_stubborn_soak(dir: &Path) -> Child {
    spawn_soak(
        dir,
        &["sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait"],
    )
}

/// Waits up to `limit` for `cond`.
pub(crate) fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A finished `memsoak run` in its own temporary run folder.
pub(crate) struct Soak {
    pub output: Output,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Soak {
    pub(crate) fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub(crate) fn describe(&self) -> String {
        describe(&self.output)
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub(crate) fn summary(&self) -> serde_json::Value {
        summary(&self.dir)
    }

    /// The values of one `samples.csv` column.
    pub(crate) fn column(&self, name: &str) -> Vec<String> {
        let (header, rows) = samples(&self.dir);
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
        rows.into_iter().map(|mut r| r.swap_remove(i)).collect()
    }
}

/// Runs `memsoak run` with `flags` (split on whitespace), `--out` set to a
/// fresh folder, then `args` (a profile, or `--` and a command).
pub(crate) fn soak(flags: &str, args: &[&str]) -> Soak {
    soak_with(memsoak(), flags, args)
}

/// [`soak`] with a prepared command (e.g. extra environment variables).
pub(crate) fn soak_with(mut cmd: Command, flags: &str, args: &[&str]) -> Soak {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let output = cmd
        .arg("run")
        .args(flags.split_whitespace())
        .arg("--out")
        .arg(&dir)
        .args(args)
        .output()
        .expect("memsoak runs");
    Soak {
        output,
        dir,
        _tmp: tmp,
    }
}

/// Runs `memsoak run PROFILE` for a profile given as text (written to a
/// temporary file), with `flags` and environment `env`.
pub(crate) fn soak_profile(profile: &str, flags: &str, env: &[(&str, &str)]) -> Soak {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), profile).unwrap();
    let mut cmd = memsoak();
    for (k, v) in env {
        cmd.env(k, v);
    }
    soak_with(cmd, flags, &[file.path().to_str().unwrap()])
}

/// Fails if any file of `dir`, or of its folders, holds `secret`.
pub(crate) fn assert_no_file_contains(dir: &Path, secret: &str) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            assert_no_file_contains(&entry.path(), secret);
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} contains the token",
            entry.path().display()
        );
    }
}

/// The `summary.json` entry of workload `name`.
pub(crate) fn workload(s: &serde_json::Value, name: &str) -> serde_json::Value {
    s["workloads"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no workload {name} in {s}"))
}

/// A number from a JSON value.
pub(crate) fn num(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// A loopback port that refuses connections for as long as this lives: a
/// socket bound to it but not listening, so no other process can listen
/// there meanwhile (a fixed port such as 1 could have a listener on a
/// shared machine).
pub(crate) struct ClosedPort {
    _socket: std::os::fd::OwnedFd,
    pub(crate) port: u16,
}

impl ClosedPort {
    pub(crate) fn new() -> ClosedPort {
        use nix::sys::socket::{
            bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
        };
        let socket = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .expect("a TCP socket");
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            &SockaddrIn::new(127, 0, 0, 1, 0),
        )
        .expect("bound to a free loopback port");
        let addr: SockaddrIn =
            getsockname(std::os::fd::AsRawFd::as_raw_fd(&socket)).expect("its address");
        ClosedPort {
            _socket: socket,
            port: addr.port(),
        }
    }
}

/// Live processes whose command line is exactly `words` (e.g. `sleep
/// 7771`), by pid.
pub(crate) fn running(words: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"].concat())
        .collect();
    processes()
        .into_iter()
        .filter(|p| std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|c| c == want))
        .map(|p| p.pid)
        .collect()
}
