#!/usr/bin/env bash
# memsoak judges its own memory. An inner memsoak attaches to the demo
# backend (started apart, so the inner memsoak's tree is memsoak alone),
# samples it at a high rate with PSS on every tick and, with RATE > 0,
# drives 100 collab clients (10 documents x 10) at RATE messages/s in all,
# each reconnecting every 30 s on average, 30% of them abruptly. An outer
# memsoak attaches to the inner one at 1 Hz and judges its anonymous memory.
# Everything runs on 127.0.0.1.
#
# Usage: benches/self_soak.sh [SECONDS] [INTERVAL] [RATE]   (300 50ms 0)
# MEMSOAK_BIN=/path/to/memsoak measures another build (e.g. one built with
# `--features mimalloc`, run beside this one in the same minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
interval=${2:-50ms}
rate=${3:-0}
if [ -z "${MEMSOAK_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MEMSOAK_BIN:-target/release/memsoak}
out=$(mktemp -d)
"$bin" demo-backend --port 0 >"$out/backend.log" 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q 127.0.0.1 "$out/backend.log" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$out/backend.log" | head -1 | cut -d: -f2)
profile=()
if [ "$rate" != 0 ]; then
  cat >"$out/churn.toml" <<TOML
[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:$port/collab/{doc}"
docs = 10
clients_per_doc = 10
total_rate = "$rate/s"
message_bytes = "128B"
churn_interval = "30s"
abrupt_fraction = 0.3
TOML
  profile=("$out/churn.toml")
fi
"$bin" run "${profile[@]}" --pid "$backend" --duration "${secs}s" --warmup 30s \
  --interval "$interval" --pss-interval "$interval" \
  --on-inconclusive pass --out "$out/inner" >"$out/inner.log" 2>&1 &
inner=$!
sleep 2
"$bin" run --pid "$inner" --duration "$(( secs - 20 ))s" --warmup "$(( secs >= 240 ? 60 : secs / 4 ))s" --interval 1s --metric anon \
  --max-growth 1MB/h --on-inconclusive pass --out "$out/outer" >"$out/outer.log" 2>&1 || true
wait "$inner" || true
echo "== inner memsoak (sampling the demo backend every $interval, load $rate messages/s)"
cat "$out/inner.log"
echo "== outer memsoak (judging the inner memsoak's anonymous memory against 1 MB/h)"
cat "$out/outer.log"
awk -F, 'NR>2 { n++; c += $11 } END { printf "mean CPU of the inner memsoak: %.2f%% of one core\n", c / n }' "$out/outer/samples.csv"
awk -F, 'NR>1 && ($1 % 60) < 1 { printf "%s%.0fs %.2f MB", sep, $1, $7 / 1e6; sep = ", " } END { print "" }' "$out/outer/samples.csv" |
  sed 's/^/inner memsoak anon memory, every 60 s: /'
echo "outputs in $out"
