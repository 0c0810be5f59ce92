#!/usr/bin/env bash
# tests/scripts/schedtrace.sh: GODEBUG=schedtrace=N prints Go's SCHED line every N ms, and
# scheddetail=1 adds Go's P, M and G lines, in the same format as Go 1.19 (the seed's
# schedtrace demo, urgent and its Go twin, checked against the same patterns).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
fail() { echo "schedtrace.sh: $*" >&2; exit 1; }

num='[0-9]+'
sched="^SCHED ${num}ms: gomaxprocs=${num} idleprocs=${num} threads=${num} spinningthreads=${num} idlethreads=${num} runqueue=${num}"
short="${sched} \\[(${num} )*${num}\\]\$"
detail="${sched} gcwaiting=${num} nmidlelocked=-?${num} stopwait=-?${num} sysmonwait=${num}\$"
pline="^  P${num}: status=${num} schedtick=${num} syscalltick=${num} m=-?${num} runqsize=${num} gfreecnt=${num} timerslen=${num}\$"
# urgent has no malloc, throw or dying state: it prints Go's idle values; Go's vary.
mline_for() {  # mline_for VALUE: the M line with VALUE for mallocing, throwing and dying
  echo "^  M${num}: p=-?${num} curg=-?${num} mallocing=$1 throwing=$1 preemptoff= locks=${num} dying=$1 spinning=(true|false) blocked=(true|false) lockedg=-?${num}\$"
}
gline="^  G${num}: status=${num}\\(.*\\) m=-?${num} lockedm=-?${num}\$"

check() {  # check NAME PROGRAM M-FIELD-VALUE: its schedtrace output has Go's shape
  local name=$1 prog=$2 mline out lines
  mline=$(mline_for "$3")
  # Short form: every line of stderr is a SCHED line with the per-P queue lengths.
  out=$(GOMAXPROCS=2 GODEBUG=schedtrace=100 "$prog" 20000000 2>&1 >/dev/null)
  lines=$(grep -c '^SCHED' <<<"$out" || true)
  [[ $lines -ge 5 ]] || fail "$name: $lines SCHED lines in >1 s at schedtrace=100:"$'\n'"$out"
  # The first line comes at sysmon's first tick (SCHED 0ms in Go and urgent; a slow build,
  # such as ASan's, may take a few ms to get there): well before the first period ends.
  first=$(head -1 <<<"$out" | sed -nE 's/^SCHED ([0-9]+)ms: .*/\1/p')
  [[ -n $first && $first -lt 100 ]] || fail "$name: first line is not at start-up: $(head -1 <<<"$out")"
  while IFS= read -r l; do
    [[ $l =~ $short ]] || fail "$name: not Go's SCHED line: '$l'"
    [[ $l =~ \[([0-9]+)\ ([0-9]+)\]$ ]] || fail "$name: not two local queues: '$l'"
  done <<<"$out"
  # Detailed form: SCHED lines, then P, M and G lines; the 20 workers and main as G lines.
  out=$(GOMAXPROCS=2 GODEBUG=schedtrace=200,scheddetail=1 "$prog" 1000 2>&1 >/dev/null)
  while IFS= read -r l; do
    [[ $l =~ $detail || $l =~ $pline || $l =~ $mline || $l =~ $gline ]] ||
      fail "$name: not one of Go's scheddetail lines: '$l'"
  done <<<"$out"
  [[ $(grep -c '^  P' <<<"$out") -ge 2 ]] || fail "$name: no P lines"
  [[ $(grep -c '^  M' <<<"$out") -ge 1 ]] || fail "$name: no M lines"
  [[ $(grep -cE '^  G[0-9]+: status=4\(sleep\)' <<<"$out") -ge 20 ]] ||
    fail "$name: the 20 sleeping workers are not listed:"$'\n'"$out"
}

check urgent "$build/bin/schedtrace" 0
check go "$build/bin/schedtrace-go" "$num"

# A bad value is reported, not ignored, and the program still runs.
err=$(GODEBUG=schedtrace=often "$build/bin/schedtrace" 0 2>&1 >/dev/null)
grep -q 'GODEBUG="schedtrace=often"' <<<"$err" || fail "no warning for schedtrace=often: $err"
