#!/usr/bin/env bash
# scripts/lab.sh BUILD_DIR: `make lab`. For now the seed demo: demo1 (11 goroutines
# printing) run by urgent and by Go side by side, at GOMAXPROCS=1 (where both must print
# 10, 0, 1, ..., 9) and at the default GOMAXPROCS (where the order is up to the scheduler).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
for procs in 1 "$(nproc)"; do
  echo "== demo1, GOMAXPROCS=$procs: urgent | Go"
  paste -d'|' <(GOMAXPROCS=$procs "$build/bin/demo1") <(GOMAXPROCS=$procs "$build/bin/demo1-go") |
    awk -F'|' '{ printf "  %-42s | %s\n", $1, $2 }'
done
