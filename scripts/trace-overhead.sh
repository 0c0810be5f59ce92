#!/usr/bin/env bash
# scripts/trace-overhead.sh [-r ROUNDS] [BUILD_DIR] [WORKLOAD...]: what the execution tracer
# costs. Runs each workload of urgent-bench and of its Go twin (urgent-bench-go) with and
# without URGENT_TRACE (urgent's tracer; Go's runtime/trace for the twin), ROUNDS times
# interleaved, and prints the medians and the ratio traced/untraced of each runtime. The
# traces go to a temporary directory on the same disk as /tmp. Target (issue 6): urgent's
# ratio <= 1.10 on pingpong.
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
parse_rounds "$@"
set -- "${args[@]}"
build=${1:-build}
shift || true
workloads=("$@")
[[ ${#workloads[@]} -gt 0 ]] || workloads=(pingpong yield spawn chanbuf)
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

value() { awk '{ print $2 }'; }  # "<workload> <value> <unit>" -> value

printf '%-10s %12s %12s %8s   %12s %12s %8s\n' workload "urgent off" "urgent on" ratio "Go off" "Go on" ratio
for w in "${workloads[@]}"; do
  : >"$tmp/uoff" && : >"$tmp/uon" && : >"$tmp/goff" && : >"$tmp/gon"
  unit=
  for ((r = 0; r < rounds; r++)); do
    line=$("$build/bin/urgent-bench" "$w")
    unit=$(awk '{ print $3 }' <<<"$line")
    value <<<"$line" >>"$tmp/uoff"
    URGENT_TRACE=$tmp/u.trace "$build/bin/urgent-bench" "$w" | value >>"$tmp/uon"
    "$build/bin/urgent-bench-go" "$w" | value >>"$tmp/goff"
    URGENT_TRACE=$tmp/g.trace "$build/bin/urgent-bench-go" "$w" | value >>"$tmp/gon"
  done
  uoff=$(median <"$tmp/uoff") uon=$(median <"$tmp/uon") goff=$(median <"$tmp/goff") gon=$(median <"$tmp/gon")
  printf '%-10s %12s %12s %8.3f   %12s %12s %8.3f   (%s, medians of %d)\n' "$w" "$uoff" "$uon" \
    "$(ratio "$uon" "$uoff")" "$goff" "$gon" "$(ratio "$gon" "$goff")" "$unit" "$rounds"
done
