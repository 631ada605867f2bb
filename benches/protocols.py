#!/usr/bin/env python3
"""CPU per message and memory per client of each collab protocol, side by
side with raw, against real servers on 127.0.0.1:

  raw       memsoak's demo backend (the broadcast relay)
  yjs       pycrdt-websocket under uvicorn, and y-websocket's node server
  socketio  python-socketio (ASGI) under uvicorn

Usage: scripts/test --setup-only && benches/protocols.py [SECONDS]  (default 20 per step)

Each server is started on its own; memsoak attaches to it (--pid), so
memsoak's rusage (user+system CPU, peak RSS) is its own alone. For every
protocol: 100 clients (10 documents x 10) at 100 and 1,000 messages/s sent
in all, and 10 clients (1 x 10) at 1 message/s each, for memory per client:
(peak RSS at 100 clients - peak RSS at 10 clients) / 90. A "frame" is one
message sent or one delivery received (each message reaches 9 peers).
Every step edits documents of its own (fresh names), so no step inherits
another's history.
"""
import json, os, re, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "memsoak")
PYTHON = os.path.join(ROOT, "target", "test-env", "python", "bin", "python3")
SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def servers(port):
    uvicorn = [PYTHON, "-m", "uvicorn", "--app-dir", "tests/servers", "--port", str(port), "--log-level", "warning"]
    yjs = 'protocol = "yjs"\nurl = "ws://127.0.0.1:{port}/notes-{{doc}}"\n'
    return [
        ("raw", "demo backend", [BIN, "demo-backend", "--port", str(port)], {},
         'url = "ws://127.0.0.1:{port}/collab/{{doc}}"\nmessage_bytes = "128B"\n'),
        ("yjs", "pycrdt-websocket", uvicorn + ["yjs_pycrdt:app"], {}, yjs),
        ("yjs", "y-websocket (node)", ["node", "tests/servers/yjs-node/server.mjs"],
         {"HOST": "127.0.0.1", "PORT": str(port)}, yjs),
        ("socketio", "python-socketio", uvicorn + ["socketio_server:app"], {},
         'protocol = "socketio"\nurl = "ws://127.0.0.1:{port}/socket.io/"\n\n[workload.socketio]\n'
         'event = "chat"\ndata = \'{{"room":"{{doc}}","tag":"{{tag}}","text":"{{random:128}}"}}\'\n'
         'join_event = "join"\njoin_data = \'{{"room":"{{doc}}"}}\'\n'),
    ]


def profile(name, port, docs, per_doc, total_rate, dialect):
    # The [workload.socketio] table must come last: the common keys first.
    # The workload's name names its documents: each step has fresh ones (a
    # y-websocket server without persistence keeps a document forever).
    return (f'[[workload]]\nname = "{name}"\nkind = "collab"\ndocs = {docs}\nclients_per_doc = {per_doc}\n'
            f'total_rate = "{total_rate}/s"\nramp_up = "3s"\n' + dialect.format(port=port))


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no server on port {port}")


def soak(work, name, pid, port, docs, per_doc, rate, dialect):
    prof = os.path.join(work, f"{name}.toml")
    with open(prof, "w") as f:
        f.write(profile(name.replace('-', '_'), port, docs, per_doc, rate, dialect))
    out = os.path.join(work, name)
    p = subprocess.Popen([BIN, "run", prof, "--pid", str(pid), "--duration", f"{SECS}s", "--warmup", "5s",
                          "--on-inconclusive", "pass", "--max-growth", "100GB/h", "-q", "--out", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(p.pid, 0)
    with open(os.path.join(out, "summary.json")) as f:
        w = json.load(f)["workloads"][0]
    return w, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    os.chdir(ROOT)
    work = tempfile.mkdtemp(prefix="memsoak-protocols-")
    print(f"== {SECS} s per step; memsoak attached (--pid) to each server; CPU is memsoak's user+system")
    print(f"{'protocol':<9} {'server':<19} {'sent/s':>7} {'frames/s':>9} {'lost':>6} {'errors':>6} "
          f"{'CPU ms/1k sent':>15} {'µs/frame':>9} {'vs raw':>7}")
    raw_cost = {}
    memory = []
    for proto, label, cmd, env, dialect in servers(0):
        port = free_port()
        proto, label, cmd, env, dialect = [s for s in servers(port) if s[1] == label][0]
        server = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            for rate in (100, 1000):
                w, cpu, _ = soak(work, f"{proto}-{port}-{rate}", server.pid, port, 10, 10, rate, dialect)
                frames = w["sent"] + w["received"]
                per_frame = 1e6 * cpu / max(frames, 1)
                if proto == "raw":
                    raw_cost[rate] = per_frame
                ratio = per_frame / raw_cost[rate] if rate in raw_cost else float("nan")
                print(f"{proto:<9} {label:<19} {w['sent'] / SECS:>7.0f} {frames / SECS:>9.0f} {w['lost']:>6} "
                      f"{w['errors']:>6} {1e6 * cpu / max(w['sent'], 1):>15.1f} {per_frame:>9.1f} {ratio:>6.2f}x")
            _, _, big = soak(work, f"{proto}-{port}-m100", server.pid, port, 10, 10, 100, dialect)
            _, _, small = soak(work, f"{proto}-{port}-m10", server.pid, port, 1, 10, 10, dialect)
            memory.append((proto, label, small, big))
        finally:
            server.terminate()
            server.wait()
    print("\n== memsoak's peak RSS, 1 message/s per client")
    print(f"{'protocol':<9} {'server':<19} {'10 clients MB':>14} {'100 clients MB':>15} {'kB per client':>14}")
    for proto, label, small, big in memory:
        print(f"{proto:<9} {label:<19} {small / 1e6:>14.1f} {big / 1e6:>15.1f} {(big - small) / 90 / 1e3:>14.1f}")


if __name__ == "__main__":
    main()
