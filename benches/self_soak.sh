#!/usr/bin/env bash
# memsoak judges its own memory: an inner memsoak samples the demo backend
# at a high rate (PSS on every tick), and an outer memsoak attaches to the
# inner one (and so its whole tree) at 1 Hz and judges its anonymous memory.
# Everything runs on 127.0.0.1. Usage: benches/self_soak.sh [SECONDS] [INTERVAL]
# MEMSOAK_BIN=/path/to/memsoak measures another build (e.g. an earlier
# commit's, run beside this one in the same minutes for a side-by-side).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
interval=${2:-50ms}
if [ -z "${MEMSOAK_BIN:-}" ]; then cargo build --release --quiet; fi
bin=${MEMSOAK_BIN:-target/release/memsoak}
out=$(mktemp -d)
"$bin" run --duration "${secs}s" --warmup 30s --interval "$interval" --pss-interval "$interval" \
  --on-inconclusive pass --out "$out/inner" -- "$bin" demo-backend --port 0 >"$out/inner.log" 2>&1 &
inner=$!
sleep 2
"$bin" run --pid "$inner" --duration "$(( secs - 20 ))s" --warmup 30s --interval 1s --metric anon \
  --on-inconclusive pass --out "$out/outer" >"$out/outer.log" 2>&1
wait "$inner"
echo "== inner memsoak (sampling the demo backend every $interval)"
cat "$out/inner.log"
echo "== outer memsoak (judging the inner memsoak's tree)"
cat "$out/outer.log"
awk -F, 'NR>2 { n++; c += $11 } END { printf "mean CPU of the inner tree: %.2f%% of one core\n", c / n }' "$out/outer/samples.csv"
awk -F, 'NR==2 { first = $7 } END { printf "inner tree anon memory: first %.3f MB, last %.3f MB\n", first / 1e6, $7 / 1e6 }' "$out/outer/samples.csv"
