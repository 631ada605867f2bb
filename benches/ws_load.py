#!/usr/bin/env python3
"""WebSocket load benchmark: how many messages memsoak sustains against the
demo backend, its CPU time per 1,000 messages, and its own memory over a
long run with 100 clients. Everything runs on 127.0.0.1.

Usage: benches/ws_load.py [SOAK_SECONDS]   (default 600; 0 skips the soak)

memsoak attaches (--pid) to a separately started demo backend, so memsoak's
own process has no children and its rusage is memsoak's alone. An outer
memsoak samples the inner one at 1 Hz during the soak.
"""
import json, os, re, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "memsoak")
SOAK = int(sys.argv[1]) if len(sys.argv) > 1 else 600


def profile(port, total_rate):
    return f"""
[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{port}/collab/{{doc}}"
docs = 10
clients_per_doc = 10
total_rate = "{total_rate}/s"
message_bytes = "128B"
"""


def run(args):
    """Runs memsoak; returns (summary, user+sys CPU seconds of memsoak alone)."""
    p = subprocess.Popen([BIN, "run", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(p.pid, 0)
    out = args[args.index("--out") + 1]
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f), usage.ru_utime + usage.ru_stime


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="memsoak-bench-")
    backend = subprocess.Popen([BIN, "demo-backend", "--port", "0"], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)$", backend.stdout.readline().strip()).group(1))
    try:
        print("== throughput: 100 clients (10 docs x 10), 20 s per step, memsoak attached to the demo backend")
        print(f"{'offered/s':>10} {'sent/s':>9} {'recv/s':>9} {'late %':>7} {'lost':>6} {'p99 ms':>8} {'CPU s':>7} {'CPU ms/1k msgs':>15}")
        for rate in (2000, 8000, 16000, 32000):
            prof = os.path.join(work, f"t{rate}.toml")
            with open(prof, "w") as f:
                f.write(profile(port, rate))
            out = os.path.join(work, f"t{rate}")
            s, cpu = run([prof, "--pid", str(backend.pid), "--duration", "20s", "--warmup", "5s",
                          "--on-inconclusive", "pass", "--out", out])
            w = s["workloads"][0]
            secs = s["duration_s"]
            msgs = w["sent"] + w["received"]
            print(f"{rate:>10} {w['sent'] / secs:>9.0f} {w['received'] / secs:>9.0f} "
                  f"{100 * w['late_sends'] / max(w['sent'], 1):>7.1f} {w['lost']:>6} "
                  f"{w['latency']['p99_ms']:>8.1f} {cpu:>7.2f} {1000 * cpu / max(msgs, 1) * 1000:>15.1f}")

        if SOAK == 0:
            return
        print(f"\n== soak: 100 clients at 200 messages/s for {SOAK} s; an outer memsoak samples the inner one")
        prof = os.path.join(work, "soak.toml")
        with open(prof, "w") as f:
            f.write(profile(port, 200))
        inner_out = os.path.join(work, "soak")
        inner = subprocess.Popen([BIN, "run", prof, "--pid", str(backend.pid), "--duration", f"{SOAK}s",
                                  "--warmup", "60s", "--on-inconclusive", "pass", "--out", inner_out],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        outer_out = os.path.join(work, "outer")
        outer = subprocess.run([BIN, "run", "--pid", str(inner.pid), "--duration", f"{SOAK - 10}s",
                                "--warmup", "60s", "--metric", "anon", "--on-inconclusive", "pass",
                                "--out", outer_out], capture_output=True, text=True)
        _, _, usage = os.wait4(inner.pid, 0)
        with open(os.path.join(inner_out, "summary.json")) as f:
            w = json.load(f)["workloads"][0]
        rows = [l.split(",") for l in open(os.path.join(outer_out, "samples.csv")).read().splitlines()[1:]]
        rss = [int(r[4]) for r in rows]
        anon = [int(r[6]) for r in rows]
        cpu = usage.ru_utime + usage.ru_stime
        msgs = w["sent"] + w["received"]
        print(f"inner memsoak: {w['sent']} sent, {w['received']} received, {w['lost']} lost, "
              f"{w['late_sends']} late, p99 {w['latency']['p99_ms']:.1f} ms")
        print(f"inner memsoak CPU: {cpu:.1f} s = {1000 * cpu / msgs * 1000:.1f} ms per 1,000 messages")
        print(f"inner memsoak RSS:  start {rss[0] / 1e6:.2f} MB, after 60 s {rss[60] / 1e6:.2f} MB, "
              f"end {rss[-1] / 1e6:.2f} MB, max {max(rss) / 1e6:.2f} MB")
        print(f"inner memsoak anon: start {anon[0] / 1e6:.2f} MB, after 60 s {anon[60] / 1e6:.2f} MB, "
              f"end {anon[-1] / 1e6:.2f} MB")
        print("outer verdict on the inner memsoak:", outer.stdout.splitlines()[0])
    finally:
        backend.terminate()
        backend.wait()


if __name__ == "__main__":
    main()
