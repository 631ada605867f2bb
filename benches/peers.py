#!/usr/bin/env python3
"""memsoak side by side with the tools a user would pick instead, on the
same target, at the same rate, for the same time, in the same minutes.

  sampling: memsoak vs psrecord (PyPI) --include-children, both attached at
            once to the same idle 5-process tree, at 1 Hz and 10 Hz (memsoak
            also alone at 50 Hz), on a quiet host and with 1,000 extra idle
            processes: CPU per sample, samples lost, drift.
  load:     memsoak's collab workload vs Artillery's ws engine (npm), 100
            clients (10 documents x 10) sending 128-byte messages against the
            demo backend at the same total rate: CPU per message sent and
            peak RSS of each tool.
  k6:       not installable from the registries this project can reach (no
            Debian package; the npm package of that name is a stub for
            editor completion; no PyPI wheel), so it is left out.

Usage: benches/peers.py [SECONDS] [sampling|load|all]   (default 60 all)
MEMSOAK_BASELINE=/path/to/memsoak adds another build's load run (e.g. the
previous commit's), measured in the same round.
Installs the peers under target/peers/ on first use (pip, npm) and builds
memsoak in release mode. Every socket is on 127.0.0.1; every process it
starts is ended on exit.
"""
import json, os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_load import profile as memsoak_profile  # the same 100-client collab load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "memsoak")
PEERS = os.path.join(ROOT, "target", "peers")
SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
WHAT = sys.argv[2] if len(sys.argv) > 2 else "all"
# Another memsoak build (e.g. the previous commit's) to load side by side.
BASELINE = os.environ.get("MEMSOAK_BASELINE")
started = []


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    started.append(p)
    return p


def cleanup():
    for p in started:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL) if getattr(p, "own_group", False) else p.kill()
            except ProcessLookupError:
                pass
            p.wait()


def wait_usage(p):
    """(CPU seconds, peak RSS MB) of a finished child and its reaped children."""
    _, _, u = os.wait4(p.pid, 0)
    p.returncode = 0
    return u.ru_utime + u.ru_stime, u.ru_maxrss / 1024


def install():
    venv = os.path.join(PEERS, "venv")
    if not os.path.exists(os.path.join(venv, "bin", "psrecord")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "psrecord"], check=True)
    node = os.path.join(PEERS, "node")
    if not os.path.exists(os.path.join(node, "node_modules", ".bin", "artillery")):
        os.makedirs(node, exist_ok=True)
        env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "artillery@2"],
                       cwd=node, env=env, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(venv, "bin", "psrecord"), os.path.join(node, "node_modules", ".bin", "artillery")


def cpu_ns(pid):
    """CPU time of every thread of `pid` so far, nanoseconds (schedstat)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return total


def host_processes():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def idle_tree():
    """A shell with four idle children: five processes."""
    p = spawn(["sh", "-c", "sleep 3600 & sleep 3600 & sleep 3600 & sleep 3600 & wait"],
              start_new_session=True)
    p.own_group = True
    time.sleep(0.5)
    return p


def sample_side_by_side(psrecord, work, interval, label, with_psrecord=True):
    tree = idle_tree()
    out = os.path.join(work, f"m-{label}")
    m = spawn([BIN, "run", "--pid", str(tree.pid), "--interval", f"{interval}s",
               "--pss-interval", "1s", "--duration", f"{SECS}s", "--warmup", f"{SECS // 4}s",
               "--on-inconclusive", "pass", "--out", out],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if with_psrecord:
        log = os.path.join(work, f"p-{label}.log")
        ps = spawn([psrecord, str(tree.pid), "--include-children", "--interval", str(interval),
                    "--duration", str(SECS), "--log", log],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Steady state: the middle two thirds of the run, without start-up
    # (and memsoak's report at the end).
    time.sleep(SECS / 6)
    a = {"memsoak": cpu_ns(m.pid), "psrecord": cpu_ns(ps.pid) if with_psrecord else 0}
    window = SECS * 2 / 3
    time.sleep(window)
    b = {"memsoak": cpu_ns(m.pid), "psrecord": cpu_ns(ps.pid) if with_psrecord else 0}
    steady = {k: (b[k] - a[k]) / 1e9 / (window / interval) for k in a}
    m_cpu, _ = wait_usage(m)
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    expected = round(SECS / interval)
    row = {"memsoak": (steady["memsoak"], m_cpu, s["samples"], s["missed_ticks"], s["late_samples"])}
    if with_psrecord:
        p_cpu, _ = wait_usage(ps)
        with open(log) as f:
            times = [float(l.split()[0]) for l in f if l.strip() and not l.startswith("#")]
        drift = times[-1] - (len(times) - 1) * interval if times else float("nan")
        row["psrecord"] = (steady["psrecord"], p_cpu, len(times), max(expected - len(times), 0), drift)
    os.killpg(tree.pid, signal.SIGKILL)
    tree.wait()
    return expected, row


def sampling(psrecord):
    work = tempfile.mkdtemp(prefix="memsoak-peers-")
    print(f"== sampling an idle 5-process tree for {SECS} s (memsoak PSS every 1 s)")
    print("   CPU per sample in the steady middle of the run (whole run, start-up and reports included)")
    print(f"{'host processes':>15} {'rate':>6} {'memsoak':>20} {'psrecord':>20} {'ratio':>7}  "
          f"{'memsoak samples (missed, late)':>31}  {'psrecord samples (lost, drift s)':>33}")
    crowd = []
    for extra in (0, 1000):
        for _ in range(extra):
            crowd.append(spawn(["sleep", "3600"]))
        time.sleep(1 if extra else 0)
        for hz in (1, 10, 50):
            interval = 1 / hz
            expected, row = sample_side_by_side(psrecord, work, interval, f"{extra}-{hz}", hz <= 10)
            m_steady, mc, ms, mmiss, mlate = row["memsoak"]
            line = f"{host_processes():>15} {hz:>4}Hz {m_steady * 1e3:>7.3f} ({mc / max(ms, 1) * 1e3:>6.3f}) ms"
            if "psrecord" in row:
                p_steady, pc, pn, plost, pdrift = row["psrecord"]
                line += f" {p_steady * 1e3:>7.3f} ({pc / max(pn, 1) * 1e3:>6.3f}) ms {p_steady / m_steady:>6.1f}x"
                line += f"  {ms:>8} of {expected} ({mmiss}, {mlate})".rjust(33)
                line += f"  {pn:>8} of {expected} ({plost}, {pdrift:+.2f})".rjust(35)
            else:
                line += f" {'-':>20} {'-':>7}" + f"  {ms:>8} of {expected} ({mmiss}, {mlate})".rjust(33)
            print(line, flush=True)
    for p in crowd:
        p.kill()
        p.wait()
    shutil.rmtree(work, ignore_errors=True)


def artillery_script(port, clients, rate_per_client, secs):
    sends = int(secs * rate_per_client)
    payload = "x" * 128
    return f"""config:
  target: "ws://127.0.0.1:{port}"
  phases:
    - duration: 1
      arrivalCount: {clients}
  variables:
    doc: [{", ".join(f'"peers-{i}"' for i in range(10))}]
scenarios:
  - engine: ws
    flow:
      - connect: "ws://127.0.0.1:{port}/collab/{{{{ doc }}}}"
      - loop:
          - send: "{payload}"
          - think: {1 / rate_per_client}
        count: {sends}
"""


def load(artillery):
    work = tempfile.mkdtemp(prefix="memsoak-peers-")
    backend = spawn([BIN, "demo-backend", "--port", "0"], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)$", backend.stdout.readline().strip()).group(1))
    print(f"\n== WebSocket load: 100 clients (10 documents x 10), 128-byte messages, {SECS} s each, demo backend")
    print(f"{'total rate':>11} {'tool':>10} {'sent':>8} {'CPU s':>7} {'CPU µs/msg':>11} {'peak RSS':>10}")
    for total in (100, 1000):
        results = {}
        prof = os.path.join(work, f"m{total}.toml")
        with open(prof, "w") as f:
            f.write(memsoak_profile(port, total))
        for tool, binary in [("memsoak", BIN), ("baseline", BASELINE)]:
            if not binary:
                continue
            out = os.path.join(work, f"{tool}{total}")
            m = spawn([binary, "run", prof, "--pid", str(backend.pid), "--duration", f"{SECS}s",
                       "--warmup", f"{SECS // 4}s", "--on-inconclusive", "pass", "--out", out],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu, rss = wait_usage(m)
            with open(os.path.join(out, "summary.json")) as f:
                sent = json.load(f)["workloads"][0]["sent"]
            results[tool] = (sent, cpu, rss)
        script = os.path.join(work, f"a{total}.yml")
        with open(script, "w") as f:
            f.write(artillery_script(port, 100, total / 100, SECS))
        report = os.path.join(work, f"a{total}.json")
        a = spawn([artillery, "run", "--output", report, script], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, env=dict(os.environ, ARTILLERY_DISABLE_TELEMETRY="true"))
        cpu, rss = wait_usage(a)
        with open(report) as f:
            counters = json.load(f)["aggregate"]["counters"]
        results["artillery"] = (counters.get("websocket.messages_sent", 0), cpu, rss)
        for tool, (sent, cpu, rss) in results.items():
            print(f"{total:>9}/s {tool:>10} {sent:>8} {cpu:>7.2f} {cpu / max(sent, 1) * 1e6:>11.1f} {rss:>7.1f} MB")
        (ms, mc, mr), (asent, ac, ar) = results["memsoak"], results["artillery"]
        print(f"{'':>11} {'ratio':>10} {'':>8} {'':>7} {(ac / max(asent, 1)) / (mc / max(ms, 1)):>10.1f}x {ar / mr:>8.1f}x",
              flush=True)
    shutil.rmtree(work, ignore_errors=True)


def main():
    psrecord, artillery = install()
    try:
        if WHAT in ("sampling", "all"):
            sampling(psrecord)
        if WHAT in ("load", "all"):
            load(artillery)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
