#!/usr/bin/env bash
# scripts/observer-overhead.sh [-r ROUNDS] [BUILD_DIR]: what the eBPF observers cost a
# system-call-heavy workload. Runs the echo benchmark (a TCP echo server; every request is
# an epoll wake-up, a read and a write) of urgent-bench and of its Go twin, plain and under
# `urgent-scope`, ROUNDS times interleaved, and prints medians and ratios (observed/plain;
# echo is in requests per second, so below 1 means slower). Needs root.
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
parse_rounds "$@"
set -- "${args[@]}"
build=${1:-build}
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "observer-overhead.sh: needs root (BPF)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%-22s %12s %12s %8s\n' "echo (req/s)" plain observed ratio
for bench in urgent-bench urgent-bench-go; do
  : >"$tmp/plain" && : >"$tmp/obs"
  for ((r = 0; r < rounds; r++)); do
    "$build/bin/$bench" echo 1000 | awk '{ print $2 }' >>"$tmp/plain"
    "$build/bin/urgent-scope" -o "$tmp/report" -- "$build/bin/$bench" echo 1000 | awk '{ print $2 }' >>"$tmp/obs"
  done
  p=$(median <"$tmp/plain") o=$(median <"$tmp/obs")
  printf '%-22s %12s %12s %8.3f   (medians of %d)\n' "$bench" "$p" "$o" \
    "$(ratio "$o" "$p")" "$rounds"
done
grep -E '^drops' "$tmp/report" || true
