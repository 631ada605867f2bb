#!/usr/bin/env bash
# What attribution costs the whole memsoak process: memsoak runs attached
# side by side, in the same minute, to one tree of python3 workers (100 MB
# each, a few sockets and pipes): the defaults (smaps every 2 s, the
# shortest default cadence, for runs under 8 minutes), smaps every 60 s
# (the default for runs of 4 hours and more), smaps off, and, when MEMSOAK_BASELINE names a build from before attribution,
# that build. Prints each run's CPU time (user + system, all its threads)
# per second of run.
#
#   cargo build --release && benches/attribution_cost.sh [WORKERS] [SECS]
#   MEMSOAK_BASELINE=/path/to/old/memsoak benches/attribution_cost.sh 10 60
#
# Loopback only; the tree and the runs end with the script.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-10}
secs=${2:-60}
bin=target/release/memsoak
out=$(mktemp -d)
worker='import socket, os, time
b = bytearray(b"\x01") * (100 << 20)
keep = [socket.socket() for _ in range(4)] + [os.pipe() for _ in range(2)]
time.sleep(3600)'
setsid sh -c "for i in \$(seq $((workers - 1))); do python3 -c '$worker' & done; python3 -c '$worker'" &
root=$!
trap 'kill -9 -- -$root 2>/dev/null; wait $root 2>/dev/null; rm -rf "$out"' EXIT
sleep 3
run() { # name, extra flags[, binary]
    /usr/bin/time -f "%U %S" -o "$out/$1.time" \
        "${3:-$bin}" --quiet run --pid "$root" --duration "${secs}s" --warmup 5s --interval 1s \
        --out "$out/$1" $2 >/dev/null 2>&1 || true
}
run defaults "" &
a=$!
run smaps-off "--smaps-interval 0" &
b=$!
run smaps-60s "--smaps-interval 60s" &
c=$!
names="smaps-off smaps-60s defaults"
if [ -n "${MEMSOAK_BASELINE:-}" ]; then
    run baseline "" "$MEMSOAK_BASELINE" &
    d=$!
    names="baseline $names"
fi
# The tree runs in the background too: wait for the runs only.
wait $a $b $c ${d:-}
for name in $names; do
    read -r user sys < "$out/$name.time"
    awk -v n="$name" -v u="$user" -v s="$sys" -v t="$secs" \
        'BEGIN { printf "%-10s %.2f%% of one core (%.2f s CPU over %d s)\n", n, (u + s) / t * 100, u + s, t }'
done
