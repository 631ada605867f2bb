//! What one sampling tick costs, part by part: reading the process tree
//! (with and without PSS, for 5 and 50 processes, on a quiet host and with
//! 1,000 extra idle processes, by the children walk and by the full-scan
//! fallback), PSS on a target with a 1 GB heap, and the rest of a tick
//! (CSV row, analyser, live judgement, channel), and what attribution adds
//! (memory by kind, descriptors by type, socket queues, the smaps split)
//! on a 10-process tree of 100 MB python3 workers.
//!
//! Run: `cargo bench --bench sampler` (Linux; spawns `sleep` processes and
//! one `python3` that holds 1 GB, all ended on exit). CPU is the sampling
//! thread's own CPU time (`CLOCK_THREAD_CPUTIME_ID`), so other load on the
//! machine does not count; medians of rounds of reads.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use memsoak::analysis::{Analyzer, BlockStat, Criteria, WarmupRule};
use memsoak::sampler::{default_probe, Probe, Sample, Tree, Want};
use nix::time::{clock_gettime, ClockId};

/// Children killed and reaped on drop, so a failed bench leaves nothing:
/// each is the leader of its own process group, and the whole group is
/// killed (a shell's children with it).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn sleepers(n: usize) -> Procs {
    Procs(
        (0..n)
            .map(|_| {
                Command::new("sleep")
                    .arg("900")
                    .process_group(0)
                    .spawn()
                    .expect("spawn sleep")
            })
            .collect(),
    )
}

/// A shell with `n - 1` idle children: an `n`-process tree.
fn tree(n: usize) -> Procs {
    let script = format!("for i in $(seq {}); do sleep 900 & done; wait", n - 1);
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    std::thread::sleep(Duration::from_millis(300 + 10 * n as u64));
    Procs(vec![child])
}

fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// Median CPU per call of `f` over `rounds` rounds of `per_round` calls.
fn cpu_per_call(rounds: usize, per_round: usize, mut f: impl FnMut()) -> Duration {
    let mut per = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let before = thread_cpu();
        for _ in 0..per_round {
            f();
        }
        per.push((thread_cpu() - before) / per_round as u32);
    }
    per.sort();
    per[rounds / 2]
}

fn probe(kind: &str) -> Box<dyn Probe> {
    // SAFETY: set before any other thread of this bench reads the
    // environment (the bench is single-threaded).
    unsafe { std::env::set_var("MEMSOAK_SAMPLER", kind) };
    default_probe().expect("a probe")
}

struct Cost {
    /// A tick between walks: RSS, anonymous memory, open files.
    cheap: Duration,
    /// A tick that walks the tree (threads, CPU) too.
    walk: Duration,
    /// A tick that walks the tree and reads PSS.
    pss: Duration,
    processes: u32,
}

impl Cost {
    /// Mean CPU per sample at 10 Hz: the tree walked and PSS read once a
    /// second (the defaults with `--pss-interval 1s`).
    fn per_sample_10hz(&self) -> Duration {
        (self.cheap * 9 + self.pss) / 10
    }
}

fn measure(kind: &str, root: u32) -> Cost {
    let tree = Tree::Attached { root };
    let mut p = probe(kind);
    let processes = p.read(&tree, Want::ALL).expect("the tree").processes;
    let mut per = |want: Want, rounds, n| {
        cpu_per_call(rounds, n, || {
            p.read(&tree, want).expect("the tree");
        })
    };
    Cost {
        cheap: per(
            Want {
                pss: false,
                tree: false,
            },
            21,
            100,
        ),
        walk: per(
            Want {
                pss: false,
                tree: true,
            },
            21,
            100,
        ),
        pss: per(Want::ALL, 11, 20),
        processes,
    }
}

fn us(d: Duration) -> String {
    if d < Duration::from_micros(1) {
        format!("{} ns", d.as_nanos())
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn row(label: &str, c: &Cost) {
    println!(
        "| {label} | {} | {} | {} | {} | {} |",
        c.processes,
        us(c.cheap),
        us(c.walk),
        us(c.pss),
        us(c.per_sample_10hz())
    );
}

fn host_processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

fn main() {
    println!("CPU per read of the tree (median; the sampling thread's own CPU time)\n");
    println!(
        "| tree, host | processes | tick | tick with walk | tick with walk and PSS | per sample at 10 Hz, walk and PSS every 1 s |"
    );
    println!("|---|---|---|---|---|---|");
    let five = tree(5);
    let fifty = tree(50);
    let quiet = host_processes();
    for (kind, name) in [("proc", "children walk"), ("scan", "full scan (fallback)")] {
        row(
            &format!("5 processes, {quiet} on host, {name}"),
            &measure(kind, five.0[0].id()),
        );
    }
    row(
        &format!("50 processes, {quiet} on host, children walk"),
        &measure("proc", fifty.0[0].id()),
    );
    let crowd = sleepers(1000);
    std::thread::sleep(Duration::from_millis(500));
    let busy = host_processes();
    for (kind, name) in [("proc", "children walk"), ("scan", "full scan (fallback)")] {
        row(
            &format!("5 processes, {busy} on host, {name}"),
            &measure(kind, five.0[0].id()),
        );
    }
    drop(crowd);
    drop(fifty);

    // PSS walks page tables: its cost grows with the target's memory.
    let big = Procs(vec![Command::new("python3")
        .args([
            "-c",
            "import sys, time\nb = bytearray(b'\\x01') * (1 << 30)\nprint('ready', flush=True)\ntime.sleep(900)",
        ])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("python3")]);
    let mut big = big;
    {
        use std::io::BufRead;
        let out = big.0[0].stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("ready line");
    }
    let heap = measure("proc", big.0[0].id());
    println!();
    println!(
        "1 GB heap (python3): tick with walk {}, with walk and PSS (smaps_rollup) {}",
        us(heap.walk),
        us(heap.pss)
    );
    let smaps = format!("/proc/{}/smaps", big.0[0].id());
    let full = cpu_per_call(5, 5, || {
        let _ = std::fs::read(&smaps);
    });
    println!("  full /proc/PID/smaps of the same process: {}", us(full));
    drop(big);

    // The rest of a tick.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv = csv::Writer::from_writer(
        std::fs::File::create(dir.path().join("samples.csv")).expect("csv file"),
    );
    let mut p = probe("proc");
    let sample: Sample = p
        .read(
            &Tree::Attached {
                root: five.0[0].id(),
            },
            Want::ALL,
        )
        .expect("the tree");
    let csv_row = cpu_per_call(21, 200, || {
        csv.serialize(&sample).expect("row");
        csv.flush().expect("flush");
    });
    let mut analyzer = Analyzer::new(Criteria {
        warmup: WarmupRule::Fixed(Duration::from_secs(60)),
        max_growth_bytes_per_hour: 10e6,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    });
    let mut t = 0.0;
    // An 8-hour history at 10 Hz first, so the analyser is at its bound.
    for _ in 0..288_000 {
        t += 0.1;
        analyzer.observe(t, Some(100e6 + t), Some(100_000_000));
    }
    let observe = cpu_per_call(21, 1000, || {
        t += 0.1;
        analyzer.observe(t, Some(100e6 + t), Some(100_000_000));
    });
    let judge = cpu_per_call(11, 20, || {
        std::hint::black_box(analyzer.judge());
    });
    let (tx, _rx) = tokio::sync::watch::channel(None::<(f64, u64)>);
    let send = cpu_per_call(21, 1000, || {
        tx.send_replace(Some((t, 1)));
    });
    println!();
    println!("the rest of a tick (median CPU per call):");
    println!("  CSV row, serialised and flushed: {}", us(csv_row));
    println!("  analyser, one sample: {}", us(observe));
    println!(
        "  judgement for the live view (once a second): {}",
        us(judge)
    );
    println!("  live-view channel: {}", us(send));
    drop(five);
    attribution_cost();
    cgroup_cost();
}

/// What a cgroup source costs per tick: the cgroup's files alone (a
/// container memsoak only reads), and the cgroup with the process tree
/// (`--cgroup new`), against the tree alone, for a 5-process tree started
/// in a child cgroup.
fn cgroup_cost() {
    use memsoak::source::cgroup::{cgroup_probe, Cgroup, Fresh};
    println!();
    let fresh = match Fresh::create() {
        Ok(f) => f,
        Err(e) => {
            println!("cgroup source: not measured here ({e:#})");
            return;
        }
    };
    let procs = fresh.dir().join("cgroup.procs");
    let script = format!(
        "echo $$ > '{}' && for i in $(seq 4); do sleep 900 & done; wait",
        procs.display()
    );
    let five = Procs(vec![Command::new("sh")
        .arg("-c")
        .arg(script)
        .process_group(0)
        .spawn()
        .expect("spawn sh")]);
    std::thread::sleep(Duration::from_millis(400));
    let root = five.0[0].id();
    let cheap = Want {
        pss: false,
        tree: false,
    };
    let mut alone = cgroup_probe(Cgroup::open(fresh.dir()).expect("the cgroup"), None);
    let read_alone = cpu_per_call(21, 100, || {
        alone.read(&Tree::None, cheap).expect("the cgroup");
    });
    let walk_alone = cpu_per_call(21, 100, || {
        alone.read(&Tree::None, Want::ALL).expect("the cgroup");
    });
    let breakdown_alone = cpu_per_call(21, 100, || {
        std::hint::black_box(alone.breakdown(false));
    });
    let tree = Tree::Attached { root };
    let mut with_tree = cgroup_probe(
        Cgroup::open(fresh.dir()).expect("the cgroup"),
        Some(probe("proc")),
    );
    with_tree.read(&tree, Want::ALL).expect("the tree");
    let read_with_tree = cpu_per_call(21, 100, || {
        with_tree.read(&tree, cheap).expect("the tree");
    });
    let mut plain = probe("proc");
    plain.read(&tree, Want::ALL).expect("the tree");
    let read_plain = cpu_per_call(21, 100, || {
        plain.read(&tree, cheap).expect("the tree");
    });
    println!(
        "cgroup source ({}), 5-process tree inside (median CPU per tick):",
        alone_version(fresh.dir())
    );
    println!(
        "  cgroup alone: {} a tick, {} with its members (cgroup.procs, threads; once a second)",
        us(read_alone),
        us(walk_alone)
    );
    println!(
        "  its breakdown (kernel, sock, slab, file, shmem): {}",
        us(breakdown_alone)
    );
    println!(
        "  cgroup with the tree: {} (the tree alone: {})",
        us(read_with_tree),
        us(read_plain)
    );
    drop(five);
    drop(fresh);
}

fn alone_version(dir: &std::path::Path) -> String {
    memsoak::source::cgroup::version_of(dir).map_or_else(|e| e.to_string(), |v| v.to_string())
}

/// A tree of `n` python3 processes holding `mb` MB each (a pre-fork
/// server's workers), with a few sockets and pipes each.
fn workers(n: usize, mb: usize) -> Procs {
    let worker = format!(
        "import socket, os, time\nb = bytearray(b'\\x01') * ({mb} << 20)\nkeep = [socket.socket() for _ in range(4)] + [os.pipe() for _ in range(2)]\ntime.sleep(900)"
    );
    let script = format!(
        "for i in $(seq {}); do python3 -c \"$W\" & done; python3 -c \"$W\"; wait",
        n - 1
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("W", worker)
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    std::thread::sleep(Duration::from_millis(1500 + 100 * n as u64));
    Procs(vec![child])
}

/// What attribution adds to sampling: the detail read (memory by kind
/// from `status`, descriptors by type, socket queues) and the per-mapping
/// `smaps` split, on a 10-process tree of 100 MB workers.
fn attribution_cost() {
    let tree10 = workers(10, 100);
    let tree = Tree::Attached {
        root: tree10.0[0].id(),
    };
    let mut p = probe("proc");
    let processes = p.read(&tree, Want::ALL).expect("the tree").processes;
    let walk_pss = cpu_per_call(11, 20, || {
        p.read(&tree, Want::ALL).expect("the tree");
    });
    let detail = cpu_per_call(11, 20, || {
        std::hint::black_box(p.breakdown(false));
    });
    let with_smaps = cpu_per_call(11, 10, || {
        std::hint::black_box(p.breakdown(true));
    });
    // At 1 Hz with the defaults: a walk with PSS and the detail read every
    // second, smaps every 2 s (its shortest default) or 60 s (8-hour run).
    let second = |smaps_every: u32| walk_pss + detail + (with_smaps - detail) / smaps_every;
    let percent = |d: Duration| d.as_secs_f64() * 100.0;
    println!();
    println!(
        "attribution on a {processes}-process tree (python3 workers, 100 MB each; median CPU per call):"
    );
    println!(
        "  tick with walk and PSS (before attribution): {}",
        us(walk_pss)
    );
    println!(
        "  detail read (status, descriptors by type, TCP queues): {}",
        us(detail)
    );
    println!(
        "  detail read with smaps (heap / stacks / anon_other): {}",
        us(with_smaps)
    );
    println!(
        "  at 1 Hz: {:.3}% of one core with smaps every 2 s, {:.3}% with smaps every 60 s, {:.3}% before attribution",
        percent(second(2)),
        percent(second(60)),
        percent(walk_pss)
    );
    drop(tree10);
}
