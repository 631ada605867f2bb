#!/usr/bin/env bash
# What a profiler costs the target: the same load against the same backend,
# with and without each profiler, rounds interleaved so the machine's noise
# falls on every variant alike. Prints, per variant, the medians over the
# rounds of: requests answered per second (the load asks for more than the
# backend serves), p50 and p99 latency, the judged growth (the profiler's own
# memory included) and the peak RSS of the tree.
#
#   pip install -r examples/fastapi-collab/requirements.txt memray
#   cargo build --release && benches/profiler_overhead.sh [ROUNDS] [SECS]
#
# Python: the FastAPI example (uvicorn, one worker) under agent (HTTP) load,
# with none, tracemalloc and memray. Native: the demo backend (Rust) with
# none and heaptrack. Loopback only; every run is bounded by SECS.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-40}
bin=$PWD/target/release/memsoak
out=$(mktemp -d)
# KEEP=1 keeps the run folders (their path is printed).
if [ -n "${KEEP:-}" ]; then echo "runs in $out"; else trap 'rm -rf "$out"' EXIT; fi

load='
[[workload]]
name = "agents"
kind = "agent"
base_url = "http://127.0.0.1:{port}"
agents = 8
rate = "100/s"

[[workload.step]]
name = "chat"
method = "POST"
path = "/agent/chat"
json = '"'"'{"message": "summarise document {seq} for agent {agent}"}'"'"'
expect_status = 200
'
cat > "$out/python.toml" <<EOF
[target]
command = ["python3", "-m", "uvicorn", "backend.server:app", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"]
cwd = "$PWD/examples/fastapi-collab"
ready_url = "http://127.0.0.1:{port}/health"
$load
EOF
cat > "$out/native.toml" <<EOF
[target]
command = ["$bin", "demo-backend", "--port", "{port}", "-q"]
ready_url = "http://127.0.0.1:{port}/health"
$load
EOF

# tracemalloc's cost is linear in the frames it records: the default (5),
# one frame and twenty.
for frames in 1 20; do
    cp "$out/python.toml" "$out/python-f$frames.toml"
    printf '\n[profiler]\nkind = "tracemalloc"\nframes = %s\n' "$frames" >> "$out/python-f$frames.toml"
done

run() { # profile, variant, round
    local flags="" profile=$1
    case $2 in
        none) ;;
        tracemalloc-f*) profile=$1-${2#tracemalloc-} ;;
        *) flags="--profiler $2" ;;
    esac
    "$bin" --quiet run "$out/$profile.toml" --duration "${secs}s" --warmup 10s $flags \
        --out "$out/$1-$2-$3" >/dev/null 2>&1 || true
}
python_variants="none tracemalloc tracemalloc-f1 tracemalloc-f20 memray"
native_variants="none heaptrack"
for r in $(seq "$rounds"); do
    for v in $python_variants; do run python "$v" "$r"; done
    for v in $native_variants; do run native "$v" "$r"; done
done

python3 - "$out" "$rounds" "$python_variants" "$native_variants" <<'PY'
import glob, json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
variants = {"python": sys.argv[3].split(), "native": sys.argv[4].split()}
def row(profile, variant):
    vals = {"rps": [], "p50": [], "p99": [], "slope": [], "peak": [], "final": []}
    for r in range(1, rounds + 1):
        try:
            s = json.load(open(f"{out}/{profile}-{variant}-{r}/summary.json"))
        except OSError:
            continue
        w = s["workloads"][0]
        judged = s["duration_s"]
        vals["rps"].append(w["received"] / judged)
        vals["p50"].append(w["latency"]["p50_ms"])
        vals["p99"].append(w["latency"]["p99_ms"])
        vals["slope"].append((s.get("growth") or {}).get("slope_bytes_per_hour", float("nan")) / 1e6)
        vals["peak"].append((s.get("peak_rss_bytes") or 0) / 1e6)
        # How long tracemalloc's final step took (collect, count, snapshot, diff).
        for f in glob.glob(f"{out}/{profile}-{variant}-{r}/profiler/tracemalloc/*[0-9].json"):
            vals["final"].append(json.load(open(f)).get("seconds", float("nan")))
    return {k: statistics.median(v) if v else float("nan") for k, v in vals.items()}
print(f"{'backend':<8} {'profiler':<16} {'req/s':>7} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'MB/h':>7} {'peak MB':>8} {'final s':>8}")
for profile in ("python", "native"):
    base = row(profile, "none")
    for v in variants[profile]:
        x = row(profile, v)
        print(f"{profile:<8} {v:<16} {x['rps']:7.0f} {x['rps'] / base['rps']:6.2f} {x['p50']:7.1f} {x['p99']:7.1f} {x['slope']:7.1f} {x['peak']:8.1f} {x['final']:8.1f}")
PY
