#!/usr/bin/env bash
# scripts/demos.sh BUILD_DIR: `make demos`, the seed's three demos, urgent next to its Go
# twin: demo1 (11 goroutines printing), the trace demo (traced, summarized by urgent-trace;
# Go's trace is left for `go tool trace`) and the schedtrace demo (GODEBUG=schedtrace=1000).
set -euo pipefail
build=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== demo1 (GOMAXPROCS=1): urgent | Go"
paste -d'|' <(GOMAXPROCS=1 "$build/bin/demo1") <(GOMAXPROCS=1 "$build/bin/demo1-go") |
  awk -F'|' '{ printf "  %-42s | %s\n", $1, $2 }'

for mode in "" --no-gosched; do
  echo "== tracedemo ${mode:-(gosched every 500000 iterations)}"
  (cd "$out" && "$build/bin/tracedemo" $mode --out urgent.trace && "$build/bin/tracedemo-go" ${mode:+-no-gosched} -out go.trace)
  "$build/bin/urgent-trace" summary --top 10 "$out/urgent.trace" | sed 's/^/  /'
done

echo "== schedtrace demo, GODEBUG=schedtrace=1000 (20 goroutines sleep 1 s, then count to 1e8)"
echo "-- urgent"
GODEBUG=schedtrace=1000 "$build/bin/schedtrace" 100000000 2>&1 >/dev/null | sed 's/^/  /'
echo "-- Go"
GODEBUG=schedtrace=1000 "$build/bin/schedtrace-go" 100000000 2>&1 >/dev/null | sed 's/^/  /'
