#!/usr/bin/env python3
"""Time `memsoak report` on an 8-hour run at 1 Hz (28,800 samples, with a
workload.csv of 28,800 rows): re-analysis, charts (PNG + SVG), HTML,
Markdown and JUnit. Prints the median of 5 runs.

With MEMSOAK_BASELINE set to another memsoak binary (e.g. one built from an
earlier commit), both are timed in the same run, alternating, on copies of
the same folder, and the ratio of the medians is printed.

Usage: [MEMSOAK_BASELINE=/path/to/memsoak] benches/report_render.py
"""
import math, os, shutil, statistics, subprocess, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "memsoak")

subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
d = tempfile.mkdtemp(prefix="memsoak-render-")
with open(os.path.join(d, "samples.csv"), "w") as f:
    f.write("elapsed_s,rss_bytes,pss_bytes,anon_bytes,fds,threads\n")
    for t in range(28_800):
        anon = 150e6 + t * 12e6 / 3600 + (t % 45) * 50e3 + math.sin(t * 0.37) * 2e5
        f.write(f"{t},{int(anon + 40e6)},{int(anon + 10e6)},{int(anon)},{30 + t % 5},{12}\n")
with open(os.path.join(d, "workload.csv"), "w") as f:
    f.write("elapsed_s,workload,kind,sent,received,errors,late_sends,connects,open_connections,p50_ms,p99_ms\n")
    for t in range(1, 28_801):
        f.write(f"{t},editors,collab,200,1800,{1 if t % 997 == 0 else 0},0,0,100,1.2,{3 + (t % 7) * 0.5}\n")
baseline = os.environ.get("MEMSOAK_BASELINE")
bins = {"memsoak": BIN}
if baseline:
    bins["baseline"] = baseline
folders = {}
for label in bins:
    folders[label] = os.path.join(d, label)
    os.makedirs(folders[label])
    for name in ("samples.csv", "workload.csv"):
        shutil.copy(os.path.join(d, name), folders[label])
times = {label: [] for label in bins}
for _ in range(5):
    for label, binary in bins.items():
        start = time.perf_counter()
        subprocess.run([binary, "report", folders[label]], stdout=subprocess.DEVNULL, check=False)
        times[label].append(time.perf_counter() - start)
for label, ts in times.items():
    print(f"{label} report on 28,800 samples (8 h at 1 Hz): median {statistics.median(ts):.3f} s, "
          f"min {min(ts):.3f} s, max {max(ts):.3f} s over 5 runs")
    for name in ("memory.png", "memory.svg", "report.html"):
        print(f"  {name}: {os.path.getsize(os.path.join(folders[label], name)) / 1e3:.0f} kB")
if baseline:
    ratio = statistics.median(times["memsoak"]) / statistics.median(times["baseline"])
    print(f"ratio of medians, memsoak / baseline: {ratio:.2f}")
