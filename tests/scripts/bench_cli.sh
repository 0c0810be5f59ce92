#!/usr/bin/env bash
# tests/scripts/bench_cli.sh: urgent-bench and its Go twin share one CLI: one
# `<workload> <value> <unit>` line per run, and a clear error with exit status 2 on bad input.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
for bin in "$build/bin/urgent-bench" "$build/bin/urgent-bench-go"; do
  for w in spawn yield pingpong chanbuf mutex select sleep50 sleep99; do
    n=2000
    [[ $w == sleep* ]] && n=20
    line=$("$bin" "$w" "$n")
    [[ "$line" =~ ^$w\ -?[0-9]+\.[0-9]\ (ns/(goroutine|switch|roundtrip|item|lock|op)|us-late-p(50|99))$ ]] ||
      { echo "bench_cli.sh: $bin $w printed '$line'" >&2; exit 1; }
  done
  for bad in "nosuch" "spawn 0" "spawn x" "spawn 5 6"; do
    set +e
    err=$("$bin" $bad 2>&1 >/dev/null)
    rc=$?
    set -e
    [[ $rc -eq 2 && -n "$err" ]] || { echo "bench_cli.sh: $bin $bad: rc=$rc err='$err'" >&2; exit 1; }
  done
done
# The comparison script reads both and prints a ratio per workload.
out=$(URGENT_BENCH="$build/bin/urgent-bench" GO_BENCH="$build/bin/urgent-bench-go" COMPARE_N=2000 scripts/compare.sh -r 1 spawn yield 2>/dev/null)
grep -Eq '^spawn .* [0-9]+\.[0-9]{3} ' <<<"$out" || { echo "compare.sh: $out" >&2; exit 1; }
grep -Eq '^yield .* [0-9]+\.[0-9]{3} ' <<<"$out" || { echo "compare.sh: $out" >&2; exit 1; }
