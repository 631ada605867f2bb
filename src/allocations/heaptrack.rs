//! `heaptrack`: native targets (C, C++, Rust), attached for the judged
//! window.
//!
//! heaptrack calls "leaked" what is not freed when its trace ends. Traced
//! to the target's exit, a program that frees its state on a graceful exit
//! shows nothing; memsoak wants *allocated during the window and still
//! live at its end*. So memsoak drives heaptrack's own pieces rather than
//! its `heaptrack -p` script (which ends the trace only at exit, and kills
//! its compressor before it has flushed): at the end of warm-up `gdb`
//! loads `libheaptrack_inject.so` into each process and starts the trace
//! into a FIFO read by `heaptrack_interpret`, compressed into
//! `profiler/heaptrack.PID.zst`; at the end of the window `gdb` calls
//! `heaptrack_stop()`, which ends the trace with the process still running
//! — every allocation of the window not freed by then is "leaked" — and
//! memsoak waits for the interpreter and the compressor to finish before
//! reading `heaptrack_print --print-leaks`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::command::{self, Ran};
use crate::process::keeper::Kept;

/// How long the trace pipeline is given to end once told to.
const PIPELINE_GRACE: Duration = Duration::from_secs(1);
use super::leaks::{Frame, ProcessLeaks, Site};
use super::{Context, Found, Profiled, Profiler};

/// heaptrack's programs and libraries, found from its script's place.
#[derive(Debug)]
struct Tools {
    gdb: PathBuf,
    interpret: PathBuf,
    inject: PathBuf,
    env_checker: PathBuf,
    print: PathBuf,
    /// `zstd` or `gzip`, and the suffix it writes.
    compressor: (PathBuf, &'static str),
}

/// One attached process.
#[derive(Debug)]
struct Trace {
    pid: u32,
    name: String,
    fifo: PathBuf,
    output: PathBuf,
    /// `heaptrack_interpret < fifo | compressor > output`, in one shell,
    /// under a keeper: memsoak killed while attaching (the pipeline then
    /// waits forever for a writer) or tracing leaves neither the pipeline
    /// nor the FIFO. A traced process whose reader ends sees its writes
    /// fail and stops tracing; it is not signalled.
    pipeline: Kept,
}

pub(super) struct Heaptrack {
    context: Context,
    traces: Vec<Trace>,
    notes: Vec<String>,
}

impl Heaptrack {
    pub(super) fn new(context: Context) -> Heaptrack {
        Heaptrack {
            context,
            traces: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Runs gdb on `pid`; the trace's pipeline (when given) outlives it,
    /// should memsoak be killed while it works.
    fn gdb(
        &self,
        tools: &Tools,
        pid: u32,
        commands: &[String],
        pipeline: Option<&Kept>,
    ) -> Result<Ran, String> {
        let mut cmd = Command::new(&tools.gdb);
        cmd.args(["--batch", "-n", "-iex", "set auto-solib-add off", "-p"])
            .arg(pid.to_string())
            // No symbol downloads: the soak's traffic stays local.
            .env_remove("DEBUGINFOD_URLS");
        for c in commands {
            cmd.arg("-ex").arg(c);
        }
        command::run_told(&mut cmd, self.context.settings.timeout, |gdb| {
            if let Some(p) = pipeline {
                p.outlive(gdb);
            }
        })
    }

    fn attach(&self, tools: &Tools, pid: u32, folder: &Path) -> Result<Trace, String> {
        super::refuse_secret_command_line(pid, "heaptrack")?;
        let name = super::process_name(pid);
        let output = folder.join(format!("heaptrack.{pid}.{}", tools.compressor.1));
        let fifo = folder.join(format!(".heaptrack.{pid}.fifo"));
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| format!("could not make the FIFO {}: {e}", fifo.display()))?;
        // A target run by another user must be able to write the FIFO.
        if let Ok(meta) = std::fs::metadata(format!("/proc/{pid}")) {
            use std::os::unix::fs::MetadataExt;
            let _ = std::os::unix::fs::chown(&fifo, Some(meta.uid()), None);
        }
        let script: &str = r#""$0" < "$1" | "$2" -c > "$3""#;
        let args = [
            "-c".to_string(),
            script.to_string(),
            tools.interpret.display().to_string(),
            fifo.display().to_string(),
            tools.compressor.0.display().to_string(),
            output.display().to_string(),
        ];
        let pipeline = Kept::spawn(
            Path::new("sh"),
            &args,
            PIPELINE_GRACE,
            Some(&fifo),
            Path::new("/dev/null"),
        )
        .map_err(|e| format!("could not start heaptrack_interpret: {e}"))?;
        let dlopen = command::run(
            Command::new(&tools.env_checker)
                .arg("dlopen")
                .arg(&tools.inject),
            Duration::from_secs(10),
        )?
        .stdout
        .trim()
        .to_string();
        let fifo_text = fifo.display().to_string().replace('"', "\\\"");
        let ran = self.gdb(
            tools,
            pid,
            &[
                "sharedlibrary libc.so".into(),
                format!("call (void) {dlopen}"),
                "sharedlibrary libheaptrack_inject".into(),
                format!("call (void) heaptrack_inject(\"{fifo_text}\")"),
                "detach".into(),
            ],
            Some(&pipeline),
        );
        let mut trace = Trace {
            pid,
            name,
            fifo,
            output,
            pipeline,
        };
        let loaded = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .is_ok_and(|m| m.contains("libheaptrack_inject"));
        match ran {
            Ok(_) if loaded => Ok(trace),
            Ok(r) => {
                discard(&mut trace);
                Err(format!(
                    "gdb could not load heaptrack into pid {pid}: {}",
                    r.tail()
                ))
            }
            Err(e) => {
                discard(&mut trace);
                Err(format!("gdb could not attach to pid {pid}: {e}"))
            }
        }
    }

    fn stop(&self, tools: &Tools, trace: &mut Trace) -> Result<ProcessLeaks, String> {
        let alive = crate::process::pid_alive(trace.pid);
        if alive {
            let stopped = self.gdb(
                tools,
                trace.pid,
                &[
                    "sharedlibrary libheaptrack_inject".into(),
                    "call (void) heaptrack_stop()".into(),
                    "detach".into(),
                ],
                Some(&trace.pipeline),
            );
            if let Err(e) = stopped {
                discard(trace);
                return Err(format!(
                    "could not stop heaptrack in pid {}: {e}",
                    trace.pid
                ));
            }
        }
        // The trace's end reaches the interpreter as the FIFO's end; it
        // then writes out what is still allocated, and the compressor
        // flushes.
        let deadline = Instant::now() + self.context.settings.timeout;
        loop {
            if trace.pipeline.has_ended() {
                trace.pipeline.stop();
                break;
            }
            if Instant::now() >= deadline {
                discard(trace);
                return Err(format!(
                    "heaptrack_interpret did not finish pid {}'s trace in time",
                    trace.pid
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&trace.fifo);
        let ran = command::run(
            Command::new(&tools.print)
                .args(["-p", "0", "-a", "0", "-T", "0", "-l", "1", "-m", "0", "-f"])
                .arg(&trace.output),
            self.context.settings.timeout,
        )?;
        if !ran.ok {
            return Err(format!(
                "heaptrack_print could not read {}: {}",
                trace.output.display(),
                ran.tail()
            ));
        }
        let (sites, total) = parse_leaks(&ran.stdout, self.context.settings.frames as usize);
        Ok(ProcessLeaks {
            pid: trace.pid,
            name: trace.name.clone(),
            sites,
            types: Vec::new(),
            gc: None,
            total_bytes: total,
            tracer_grown_bytes: None,
        })
    }
}

/// Ends a trace that will not be used.
fn discard(trace: &mut Trace) {
    trace.pipeline.stop();
    let _ = std::fs::remove_file(&trace.fifo);
}

fn tools() -> Result<Tools, String> {
    let script = super::on_path("heaptrack").ok_or(
        "heaptrack is not installed: `apt-get install heaptrack` (Debian, Ubuntu; `dnf install heaptrack` on Fedora)",
    )?;
    let gdb = super::on_path("gdb")
        .ok_or("heaptrack attaches through gdb, which is not installed: `apt-get install gdb`")?;
    let real = std::fs::canonicalize(&script).unwrap_or(script);
    let lib = real
        .parent()
        .map(|bin| bin.join("../lib/heaptrack"))
        .unwrap_or_default();
    let find = |p: PathBuf| {
        if p.exists() {
            Ok(p)
        } else {
            Err(format!(
                "heaptrack's {} is missing: is the heaptrack package complete?",
                p.display()
            ))
        }
    };
    let print = super::on_path("heaptrack_print")
        .or_else(|| real.parent().map(|b| b.join("heaptrack_print")))
        .unwrap_or_default();
    Ok(Tools {
        gdb,
        interpret: find(lib.join("libexec/heaptrack_interpret"))?,
        inject: find(lib.join("libheaptrack_inject.so"))?,
        env_checker: find(lib.join("libexec/heaptrack_env"))?,
        print: find(print)?,
        compressor: match super::on_path("zstd") {
            Some(z) => (z, "zst"),
            None => (
                super::on_path("gzip").ok_or("neither zstd nor gzip is installed")?,
                "gz",
            ),
        },
    })
}

impl Profiler for Heaptrack {
    fn baseline(&mut self, pids: &[u32]) -> Result<(), String> {
        let tools = tools()?;
        if let Some(why) = super::ptrace_blocked() {
            return Err(format!("heaptrack cannot attach: {why}"));
        }
        let folder = self
            .context
            .folder()
            .map_err(|e| format!("could not make the profiler folder: {e}"))?;
        let mut failures = Vec::new();
        for pid in super::largest(pids, self.context.settings.max_processes) {
            match self.attach(&tools, pid, &folder) {
                Ok(t) => self.traces.push(t),
                Err(e) => failures.push(e),
            }
        }
        super::attached(self.traces.len(), failures, &mut self.notes)
    }

    fn finish(&mut self, _pids: &[u32]) -> Found {
        let mut notes = std::mem::take(&mut self.notes);
        let tools = match tools() {
            Ok(t) => t,
            Err(e) => {
                return Found {
                    error: Some(e),
                    ..Found::default()
                }
            }
        };
        let mut results = Vec::new();
        for mut trace in std::mem::take(&mut self.traces) {
            let ended = !crate::process::pid_alive(trace.pid);
            if ended {
                notes.push(format!(
                    "pid {} ({}) ended before the window closed: its trace ran to its exit, so its sites are what it had not freed when it ended",
                    trace.pid, trace.name
                ));
            }
            let stopped = self.stop(&tools, &mut trace);
            if ended && stopped.is_err() {
                // A process that ended before its trace began leaves an
                // empty capture: not kept as if it were one.
                let _ = std::fs::remove_file(&trace.output);
            }
            results.push(stopped.map(|leaks| {
                let rel = self.context.relative(&trace.output);
                Profiled {
                    leaks,
                    commands: vec![
                        format!("heaptrack_print -l {rel}"),
                        format!("heaptrack_gui {rel}"),
                    ],
                    artifact: trace.output,
                }
            }));
        }
        Found::gather(notes, results)
    }
}

impl Drop for Heaptrack {
    /// A run that ends without `finish` (an error on the way) leaves no
    /// interpreter behind.
    fn drop(&mut self) {
        for t in &mut self.traces {
            discard(t);
        }
    }
}

/// The sites of `heaptrack_print --print-leaks --merge-backtraces 0`, and
/// its "total memory leaked". Sizes are heaptrack's (three significant
/// digits, powers of 1000). Leading frames in the allocator and the
/// standard libraries are dropped, so the first frame is the program's.
pub(super) fn parse_leaks(text: &str, max_frames: usize) -> (Vec<Site>, Option<i64>) {
    let mut sites: Vec<Site> = Vec::new();
    let mut total = None;
    let mut in_leaks = false;
    for line in text.lines() {
        if line == "MEMORY LEAKS" {
            in_leaks = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("total memory leaked: ") {
            total = parse_size(rest.trim());
            continue;
        }
        if !in_leaks {
            continue;
        }
        if !line.starts_with(' ') {
            if let Some((size, rest)) = line.split_once(" leaked over ") {
                let count = rest.split_whitespace().next().and_then(|c| c.parse().ok());
                if let (Some(bytes), Some(count)) = (parse_size(size), count) {
                    sites.push(Site {
                        bytes,
                        count,
                        frames: Vec::new(),
                    });
                    continue;
                }
            }
            if !line.trim().is_empty() {
                in_leaks = false;
            }
            continue;
        }
        let Some(site) = sites.last_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if let Some(at) = trimmed.strip_prefix("at ") {
            if let Some(frame) = site.frames.last_mut() {
                match at.rsplit_once(':') {
                    Some((file, l)) if l.parse::<u32>().is_ok() => {
                        frame.file = file.to_string();
                        frame.line = l.parse().ok().filter(|&l| l > 0);
                    }
                    _ => frame.file = at.to_string(),
                }
            }
        } else if let Some(module) = trimmed.strip_prefix("in ") {
            // The module: kept only when there is no source file.
            if let Some(frame) = site.frames.last_mut() {
                if frame.file.is_empty() {
                    frame.file = module.to_string();
                }
            }
        } else if !trimmed.is_empty() {
            site.frames.push(Frame {
                function: tidy_symbol(trimmed),
                file: String::new(),
                line: None,
            });
        }
    }
    for s in &mut sites {
        let first = s.frames.iter().position(|f| !is_library(f)).unwrap_or(0);
        s.frames.drain(..first);
        s.frames.truncate(max_frames.max(1));
    }
    (sites, total)
}

/// A Rust symbol as heaptrack prints a legacy-mangled one
/// (`a::b::_$u7b$$u7b$closure$u7d$$u7d$::h1e2c11254ceee188`), made
/// readable (`a::b::{{closure}}`); other names are unchanged.
fn tidy_symbol(name: &str) -> String {
    let mut s = name.to_string();
    if let Some((head, hash)) = s.rsplit_once("::h") {
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            s.truncate(head.len());
        }
    }
    if !s.contains('$') {
        return s;
    }
    const ESCAPES: &[(&str, &str)] = &[
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$C$", ","),
        ("$u20$", " "),
        ("$u27$", "'"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u7e$", "~"),
    ];
    for (from, to) in ESCAPES {
        s = s.replace(from, to);
    }
    s.replace("::_{", "::{")
}

/// A frame in the allocator or a standard library, not the program.
fn is_library(f: &Frame) -> bool {
    const FUNCTIONS: &[&str] = &["malloc", "calloc", "realloc", "operator new", "__libc_"];
    const PLACES: &[&str] = &[
        "/rustc/",
        "/.cargo/registry/",
        "/.rustup/",
        "library/alloc/",
        "library/core/",
        "library/std/",
        "/usr/include/",
        "./malloc/",
        "../sysdeps/",
        "./nptl/",
    ];
    f.file.is_empty()
        || FUNCTIONS.iter().any(|n| f.function.starts_with(n))
        || PLACES.iter().any(|p| f.file.contains(p))
        || f.file.ends_with(".so")
        || f.file.contains(".so.")
}

/// `2.83M`, `60.42K`, `512B` (powers of 1000, as heaptrack prints them).
fn parse_size(text: &str) -> Option<i64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    Some((number * scale).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRINTED: &str = "reading file \"x.zst\" - please wait, this might take some time...
Debuggee command was: ./server
finished reading file, now analyzing data:

MEMORY LEAKS
2.83M leaked over 51 calls from
  alloc
    at /rustc/5980/library/alloc/src/alloc.rs:95
    in /srv/server
  from_elem<>
    at /rustc/5980/library/alloc/src/vec/mod.rs:3651
  retain
    at src/demo/leak.rs:26
  {closure#0}
    at src/demo/leak.rs:41
    in /srv/server
2.05K leaked over 3 calls from
  start_thread
    at ./nptl/pthread_create.c:442
    in /lib/x86_64-linux-gnu/libc.so.6
  0x7f00
    in /srv/libplugin.so



total runtime: 5.39s.
total memory leaked: 2.84M
";

    #[test]
    fn reads_sites_from_the_first_program_frame() {
        let (sites, total) = parse_leaks(PRINTED, 10);
        assert_eq!(total, Some(2_840_000));
        assert_eq!(sites.len(), 2);
        assert_eq!((sites[0].bytes, sites[0].count), (2_830_000, 51));
        assert_eq!(
            sites[0].frames[0].describe(),
            "retain (src/demo/leak.rs:26)"
        );
        assert_eq!(sites[0].frames.len(), 2);
        // Nothing of the program's: every frame is kept.
        assert_eq!(sites[1].frames[0].function, "start_thread");
        assert_eq!(sites[1].frames[1].file, "/srv/libplugin.so");
        assert_eq!(parse_size("512B"), Some(512));
        assert_eq!(
            tidy_symbol("app::leak::drip::_$u7b$$u7b$closure$u7d$$u7d$::hd89e7b887ce3c88e"),
            "app::leak::drip::{{closure}}"
        );
        assert_eq!(tidy_symbol("retain"), "retain");
        assert_eq!(parse_size("60.42K"), Some(60_420));
    }
}
