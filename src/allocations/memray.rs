//! `memray`: Python with native frames, when memray is installed in the
//! target's environment.
//!
//! `memray attach --aggregate --native` at the end of warm-up and `memray
//! detach` at the end of the window bound the capture to the judged window
//! (memray injects itself through gdb or lldb): memray's "leaks" of that
//! capture are the window's allocations still live when it closed. They are
//! read with `memray transform csv --leaks`; the capture file stays in
//! `profiler/` for `memray flamegraph --leaks`. memray runs with the
//! target's own interpreter, the one its command line names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::command;
use super::leaks::{Frame, ProcessLeaks, Site};
use super::{Context, Found, Profiled, Profiler};
use crate::process::undo::Undo;

/// One attached process.
#[derive(Debug)]
struct Attached {
    pid: u32,
    name: String,
    python: PathBuf,
    capture: PathBuf,
    /// Detaches memray should memsoak be killed before it does.
    undo: Option<Undo>,
}

pub(super) struct Memray {
    context: Context,
    attached: Vec<Attached>,
    notes: Vec<String>,
}

impl Memray {
    pub(super) fn new(context: Context) -> Memray {
        Memray {
            context,
            attached: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn memray(&self, python: &Path, args: &[&str]) -> Result<command::Ran, String> {
        self.memray_guarded(python, args, None)
    }

    /// [`Memray::memray`]; `undo` (when given) outlives the command.
    fn memray_guarded(
        &self,
        python: &Path,
        args: &[&str],
        undo: Option<&Undo>,
    ) -> Result<command::Ran, String> {
        command::run_told(
            Command::new(python)
                .args(["-m", "memray"])
                .args(args)
                .env_remove("DEBUGINFOD_URLS"),
            self.context.settings.timeout,
            |pid| {
                if let Some(u) = undo {
                    u.outlive(pid);
                }
            },
        )
    }

    fn read(&self, a: &Attached) -> Result<ProcessLeaks, String> {
        let csv = a.capture.with_extension("leaks.csv");
        let capture = a.capture.display().to_string();
        let out = csv.display().to_string();
        // The tracker finishes writing the capture after `detach` returns.
        let deadline = Instant::now() + Duration::from_secs(10);
        let ran = loop {
            let ran = self.memray(
                &a.python,
                &["transform", "csv", "--leaks", "-f", "-o", &out, &capture],
            )?;
            if ran.ok || Instant::now() >= deadline {
                break ran;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        if !ran.ok {
            return Err(format!(
                "memray could not read {}: {}",
                a.capture.display(),
                ran.tail()
            ));
        }
        let sites = parse_leaks_csv(&csv, self.context.settings.frames as usize)?;
        let _ = std::fs::remove_file(&csv);
        Ok(ProcessLeaks {
            pid: a.pid,
            name: a.name.clone(),
            total_bytes: Some(sites.iter().map(|s| s.bytes).sum()),
            tracer_grown_bytes: None,
            sites,
            types: Vec::new(),
            gc: None,
        })
    }
}

/// The interpreter a process was started with: its command line's first
/// word (a virtual environment's `bin/python` keeps its packages), found
/// from the process's folder or PATH; else the executable.
fn interpreter(pid: u32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = cmdline.split(|&b| b == 0).next()?;
    let first = String::from_utf8_lossy(first).into_owned();
    let named = if first.contains('/') {
        let p = PathBuf::from(&first);
        if p.is_absolute() {
            Some(p)
        } else {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .map(|cwd| cwd.join(p))
        }
    } else {
        super::on_path(&first)
    };
    named
        .filter(|p| p.exists())
        .or_else(|| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
}

/// Whether a process runs a Python interpreter.
fn is_python(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
        exe.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python"))
    })
}

impl Profiler for Memray {
    fn baseline(&mut self, pids: &[u32]) -> Result<(), String> {
        let pythons: Vec<u32> = pids.iter().copied().filter(|&p| is_python(p)).collect();
        if pythons.is_empty() {
            return Err(
                "no Python process in the target's tree: memray profiles Python programs (use --profiler heaptrack for native ones)".into(),
            );
        }
        if super::on_path("gdb").is_none() && super::on_path("lldb").is_none() {
            return Err(
                "memray attaches through gdb or lldb, and neither is installed: `apt-get install gdb`"
                    .into(),
            );
        }
        if let Some(why) = super::ptrace_blocked() {
            return Err(format!("memray cannot attach: {why}"));
        }
        let folder = self
            .context
            .folder()
            .map_err(|e| format!("could not make the profiler folder: {e}"))?;
        let mut failures = Vec::new();
        for pid in super::largest(&pythons, self.context.settings.max_processes) {
            if let Err(e) = super::refuse_secret_command_line(pid, "memray") {
                failures.push(e);
                continue;
            }
            let Some(python) = interpreter(pid) else {
                failures.push(format!("pid {pid}: its interpreter could not be found"));
                continue;
            };
            let importable = command::run(
                Command::new(&python).args(["-c", "import memray"]),
                Duration::from_secs(30),
            );
            if !importable.as_ref().is_ok_and(|r| r.ok) {
                failures.push(format!(
                    "memray not importable by {}: pip install memray in the backend's environment",
                    python.display()
                ));
                continue;
            }
            let name = super::process_name(pid);
            let capture = folder.join(format!("memray.{pid}.bin"));
            let capture_text = capture.display().to_string();
            let pid_text = pid.to_string();
            // Started first: memsoak killed during the attach, or at any
            // time before it detaches, still leaves the process as it was.
            let detach: Vec<String> = ["-m", "memray", "detach", &pid_text]
                .iter()
                .map(|a| a.to_string())
                .collect();
            let undo = Undo::spawn(&python, &detach, self.context.settings.timeout).ok();
            let ran = self.memray_guarded(
                &python,
                &[
                    "attach",
                    "--aggregate",
                    "--native",
                    "-f",
                    "-o",
                    &capture_text,
                    &pid_text,
                ],
                undo.as_ref(),
            );
            match ran {
                Ok(r) if r.ok => self.attached.push(Attached {
                    pid,
                    name,
                    python,
                    capture,
                    undo,
                }),
                Ok(r) => {
                    if let Some(u) = undo {
                        u.done();
                    }
                    failures.push(format!("memray attach {pid} failed: {}", r.tail()));
                }
                // Timed out: memray may be half in; the undo detaches it.
                Err(e) => failures.push(format!("memray attach {pid}: {e}")),
            }
        }
        super::attached(self.attached.len(), failures, &mut self.notes)
    }

    fn finish(&mut self, _pids: &[u32]) -> Found {
        let mut notes = std::mem::take(&mut self.notes);
        let mut results = Vec::new();
        for mut a in std::mem::take(&mut self.attached) {
            // Once memsoak's own detach has run, the guard has nothing
            // left to do (a detach that failed is reported, not retried).
            let undo = a.undo.take();
            if crate::process::pid_alive(a.pid) {
                let pid = a.pid.to_string();
                let detached = self.memray(&a.python, &["detach", &pid]);
                if let Some(u) = undo {
                    u.done();
                }
                match detached {
                    Ok(r) if r.ok => {}
                    Ok(r) => {
                        results.push(Err(format!("memray detach {pid} failed: {}", r.tail())));
                        continue;
                    }
                    Err(e) => {
                        results.push(Err(format!("memray detach {pid}: {e}")));
                        continue;
                    }
                }
            } else {
                if let Some(u) = undo {
                    u.done();
                }
                notes.push(format!(
                    "pid {} ({}) ended before the window closed: its capture ran to its exit",
                    a.pid, a.name
                ));
            }
            results.push(self.read(&a).map(|leaks| {
                let rel = self.context.relative(&a.capture);
                Profiled {
                    leaks,
                    commands: vec![
                        format!("python3 -m memray flamegraph --leaks {rel}"),
                        format!("python3 -m memray summary {rel}"),
                    ],
                    artifact: a.capture,
                }
            }));
        }
        Found::gather(notes, results)
    }
}

/// The sites of `memray transform csv --leaks`: rows with the same stack
/// summed, memray's own attach machinery left out, leading native frames
/// dropped up to the first Python one.
fn parse_leaks_csv(path: &Path, max_frames: usize) -> Result<Vec<Site>, String> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no '{name}' column", path.display()))
    };
    let (count_at, size_at, stack_at) = (
        column("num_allocations")?,
        column("size")?,
        column("stack_trace")?,
    );
    let mut by_stack: HashMap<String, (i64, i64)> = HashMap::new();
    for (n, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("{} row {}: {e}", path.display(), n + 2))?;
        let stack = row.get(stack_at).unwrap_or_default();
        if stack.contains("_memray_attach_hook.py") || stack.contains("/_memray/") {
            continue;
        }
        let number = |at: usize| row.get(at).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let e = by_stack.entry(stack.to_string()).or_default();
        e.0 += number(size_at);
        e.1 += number(count_at);
    }
    let mut sites: Vec<Site> = by_stack
        .into_iter()
        .map(|(stack, (bytes, count))| {
            let mut frames: Vec<Frame> = stack
                .split('|')
                .filter(|f| !f.is_empty())
                .map(|f| {
                    let mut parts = f.rsplitn(3, ';');
                    let line = parts.next().and_then(|l| l.parse().ok()).filter(|&l| l > 0);
                    let file = parts.next().unwrap_or_default().to_string();
                    let function = parts.next().unwrap_or_default().to_string();
                    Frame {
                        function,
                        file,
                        line,
                    }
                })
                .collect();
            // The application's first: leading native frames, then leading
            // frames of the standard library and installed packages, are
            // dropped (each only when a later frame is left).
            if let Some(first) = frames.iter().position(|f| f.file.ends_with(".py")) {
                frames.drain(..first);
            }
            if let Some(first) = frames.iter().position(|f| !is_python_library(&f.file)) {
                frames.drain(..first);
            }
            frames.truncate(max_frames.max(1));
            Site {
                bytes,
                count,
                frames,
            }
        })
        .collect();
    sites.sort_by_key(|x| std::cmp::Reverse(x.bytes));
    sites.truncate(super::leaks::TOP_SITES);
    Ok(sites)
}

/// A file of Python's standard library or of an installed package.
fn is_python_library(file: &str) -> bool {
    file.contains("/site-packages/")
        || file.contains("/dist-packages/")
        || file.starts_with('<')
        || file
            .split("/lib/python")
            .nth(1)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_rows_by_stack_and_starts_at_python() {
        let dir = std::env::temp_dir().join(format!("memsoak-memray-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("leaks.csv");
        std::fs::write(
            &path,
            "allocator,num_allocations,size,tid,thread_name,stack_trace
MALLOC,60,6000000,1,0x1,_PyObject_Malloc;Objects/obmalloc.c;2003|grow;/srv/app.py;4|<module>;/srv/app.py;6
MALLOC,8,800000,2,0x2,_PyObject_Malloc;Objects/obmalloc.c;2003|grow;/srv/app.py;4|<module>;/srv/app.py;6
MALLOC,9,900000,1,0x1,raw_decode;/usr/lib/python3.11/json/decoder.py;353|loads;/usr/lib/python3.11/json/__init__.py;346|keep;/srv/app.py;9
MALLOC,1,960,3,0x3,type_new;Objects/typeobject.c;1124|<module>;_memray_attach_hook.py;12
MMAP,1,4096,1,0x1,new_arena;Objects/obmalloc.c;1641
",
        )
        .unwrap();
        let sites = parse_leaks_csv(&path, 10).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(sites.len(), 3);
        assert_eq!((sites[0].bytes, sites[0].count), (6_800_000, 68));
        assert_eq!(sites[0].frames[0].describe(), "grow (/srv/app.py:4)");
        assert_eq!(sites[1].frames[0].describe(), "keep (/srv/app.py:9)");
        assert_eq!(sites[2].frames[0].function, "new_arena");
    }
}
