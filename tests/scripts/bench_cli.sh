#!/usr/bin/env bash
# tests/scripts/bench_cli.sh: urgent-bench and its Go twin share one CLI: one
# `<workload> <value> <unit>` line per run, and a clear error with exit status 2 on bad input.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for bin in "$build/bin/urgent-bench" "$build/bin/urgent-bench-go"; do
  for w in spawn yield pingpong chanbuf mutex select sleep50 sleep99; do
    n=2000
    [[ $w == sleep* ]] && n=20
    line=$("$bin" "$w" "$n")
    [[ "$line" =~ ^$w\ -?[0-9]+\.[0-9]\ (ns/(goroutine|switch|roundtrip|item|lock|op)|us-late-p(50|99))$ ]] ||
      { echo "bench_cli.sh: $bin $w printed '$line'" >&2; exit 1; }
  done
  # handoff: 3 samples of 20 ms each (no warm-up below n = 10); echo: a 200 ms run after its
  # 200 ms warm-up, against urgent-echo-client from the same directory.
  for w in handoff50 handoffmax; do
    line=$("$bin" "$w" 3)
    [[ "$line" =~ ^$w\ [0-9]+\.[0-9]\ us-handoff-(p50|max)$ ]] ||
      { echo "bench_cli.sh: $bin $w 3 printed '$line'" >&2; exit 1; }
  done
  line=$(URGENT_BENCH_SAMPLES="$tmp/handoff.samples" "$bin" handoff 3)
  [[ "$line" =~ ^handoff\ p50\ [0-9]+\.[0-9]\ us\ p99\ [0-9]+\.[0-9]\ us\ max\ [0-9]+\.[0-9]\ us ]] ||
    { echo "bench_cli.sh: $bin handoff 3 printed '$line'" >&2; exit 1; }
  [[ $(wc -l <"$tmp/handoff.samples") -eq 3 ]] ||
    { echo "bench_cli.sh: $bin handoff 3 wrote $(wc -l <"$tmp/handoff.samples") samples" >&2; exit 1; }
  if [[ $bin == */urgent-bench ]]; then
    # urgent's line also says who handed the P off, in which mode, and sysmon's rate.
    for mode in poll perf; do
      # (Where perf is unavailable, as under ThreadSanitizer, it says so and polls.)
      line=$(URGENT_HANDOFF=$mode "$bin" handoff 3 2>"$tmp/err")
      got=$mode
      grep -q "URGENT_HANDOFF=$mode unavailable" "$tmp/err" && got=poll
      [[ "$line" =~ \(URGENT_HANDOFF=$got\;\ by\ the\ kernel\'s\ spare\ [0-9]+,\ by\ sysmon\ [0-9]+\;\ sysmon\ [0-9]+\ wakeups/s\)$ ]] ||
        { echo "bench_cli.sh: URGENT_HANDOFF=$mode $bin handoff 3 printed '$line'" >&2; exit 1; }
      line=$(URGENT_HANDOFF=$mode "$bin" handoffload 50 2>/dev/null)
      [[ "$line" =~ ^handoffload\ URGENT_HANDOFF=$got:\ [0-9]+\ reads\ in\ [0-9.]+\ s\;\ handoffs\ by\ the\ kernel\'s\ spare\ [0-9]+,\ by\ sysmon\ [0-9]+\;\ sysmon\ [0-9]+\ wakeups/s,\ CPU\ [0-9.]+%$ ]] ||
        { echo "bench_cli.sh: $bin handoffload 50 printed '$line'" >&2; exit 1; }
      line=$(URGENT_HANDOFF=$mode "$bin" sysmonidle 50 2>/dev/null)
      [[ "$line" =~ ^sysmonidle\ URGENT_HANDOFF=$got:\ idle\ 0\.0[5-9]\ s\;\ spares\ woken\ [0-9]+\;\ sysmon\ [0-9]+\ wakeups/s,\ CPU\ [0-9]+\.[0-9]{3}%$ ]] ||
        { echo "bench_cli.sh: $bin sysmonidle 50 printed '$line'" >&2; exit 1; }
    done
    line=$("$bin" syscall 2000)
    [[ "$line" =~ ^syscall\ [0-9]+\.[0-9]\ ns/call$ ]] ||
      { echo "bench_cli.sh: $bin syscall printed '$line'" >&2; exit 1; }
  fi
  line=$("$bin" echo 200)
  [[ "$line" =~ ^echo\ [0-9]+\.[0-9]\ req/s$ && ! "$line" =~ ^echo\ 0\.0\  ]] ||
    { echo "bench_cli.sh: $bin echo 200 printed '$line'" >&2; exit 1; }
  # A client that fails is an error of the workload: exit status 1 and a message.
  set +e
  err=$(URGENT_ECHO_CLIENT=/bin/false "$bin" echo 200 2>&1 >/dev/null)
  rc=$?
  set -e
  [[ $rc -eq 1 && "$err" == *false* ]] ||
    { echo "bench_cli.sh: $bin echo with a failing client: rc=$rc err='$err'" >&2; exit 1; }
  for bad in "nosuch" "spawn 0" "spawn x" "spawn 5 6" "echo 0" "handoff x"; do
    set +e
    err=$("$bin" $bad 2>&1 >/dev/null)
    rc=$?
    set -e
    [[ $rc -eq 2 && -n "$err" ]] || { echo "bench_cli.sh: $bin $bad: rc=$rc err='$err'" >&2; exit 1; }
  done
done
# activation (urgent-bench only): the perf-event floor beside the tgkill floor, then the BPF
# program's two wake paths (root) or why not; where perf events are not allowed, exit
# status 1 and why.
set +e
out=$("$build/bin/urgent-bench" activation 20 2>&1)
rc=$?
set -e
floor_line='p50 [0-9]+\.[0-9] us p99 [0-9.]+ us max [0-9.]+ us \([0-9]+ samples, blocks of 20000 us; woken thread on the blocked thread.s CPU [0-9]+%'
if [[ $(id -u) -eq 0 ]]; then
  bpf_lines="bpf signal $floor_line\)"$'\n'"bpf ringbuf $floor_line\)"
else
  bpf_lines='bpf unavailable: .+'
fi
if [[ $(cat /proc/sys/kernel/perf_event_paranoid) -le 2 ]]; then
  [[ $rc -eq 0 && "$out" =~ ^activation\ $floor_line\;\ last\ switch-out\ record:\ [0-9]+\ blocked,\ [0-9]+\ preempted\)$'\n'tgkill-\>handler\ p50\ .*$'\n'ratio\ p50\ [0-9]+\.[0-9]{3}$'\n'$bpf_lines$ ]] ||
    { echo "bench_cli.sh: urgent-bench activation 20: rc=$rc out='$out'" >&2; exit 1; }
else
  [[ $rc -eq 1 && "$out" == *perf_event_open* ]] ||
    { echo "bench_cli.sh: urgent-bench activation without perf events: rc=$rc out='$out'" >&2; exit 1; }
fi
set +e
out=$(URGENT_BENCH_BLOCK_US=5 "$build/bin/urgent-bench" activation 20 2>&1)
rc=$?
set -e
[[ $rc -eq 1 && "$out" == *"URGENT_BENCH_BLOCK_US must be 100 to 1000000"* ]] ||
  { echo "bench_cli.sh: URGENT_BENCH_BLOCK_US=5 urgent-bench activation: rc=$rc out='$out'" >&2; exit 1; }
# triggerfloor (urgent-bench only): a line per trigger's own signal, its lateness or why
# it is unavailable (perf events refused, or sigtrap before Linux 5.13).
out=$("$build/bin/urgent-bench" triggerfloor 20 2>&1)
late='p50 [0-9]+\.[0-9] us p99 [0-9.]+ us max [0-9.]+ us \(20 samples\)'
perf_line="($late|unavailable: perf_event_open\(PERF_COUNT_SW_TASK_CLOCK.*)"
if [[ ${SAN:-} == *thread* ]]; then
  late='unavailable: ThreadSanitizer defers signal handlers to an intercepted call'
  perf_line=$late
fi
[[ "$out" =~ ^timer\ expiry\ -\>\ handler\ $late$'\n'task-clock\ overflow\ -\>\ handler\ \(F_SETSIG\)\ $perf_line$'\n'task-clock\ overflow\ -\>\ handler\ \(sigtrap\)\ $perf_line$ ]] ||
  { echo "bench_cli.sh: urgent-bench triggerfloor 20: out='$out'" >&2; exit 1; }
# The echo client on its own: bad arguments are exit status 2, a refused connection 1.
client="$build/bin/urgent-echo-client"
for bad in "" "1 2 3" "0 1 64 100" "80 x 64 100" "80 1 64 0"; do
  set +e
  err=$("$client" $bad 2>&1 >/dev/null)
  rc=$?
  set -e
  [[ $rc -eq 2 && "$err" == *usage:* ]] || { echo "bench_cli.sh: $client $bad: rc=$rc err='$err'" >&2; exit 1; }
done
set +e
err=$("$client" 1 1 64 100 2>&1 >/dev/null)  # nothing listens on port 1
rc=$?
set -e
[[ $rc -eq 1 && "$err" == *"connect to 127.0.0.1:1"* ]] ||
  { echo "bench_cli.sh: $client 1 1 64 100: rc=$rc err='$err'" >&2; exit 1; }
# The comparison script reads both and prints a ratio per workload.
out=$(URGENT_BENCH="$build/bin/urgent-bench" GO_BENCH="$build/bin/urgent-bench-go" COMPARE_N=2000 scripts/compare.sh -r 1 spawn yield 2>/dev/null)
grep -Eq '^spawn .* [0-9]+\.[0-9]{3} ' <<<"$out" || { echo "compare.sh: $out" >&2; exit 1; }
grep -Eq '^yield .* [0-9]+\.[0-9]{3} ' <<<"$out" || { echo "compare.sh: $out" >&2; exit 1; }
# --floor (higher is better): a floor of 0 is always met, an absurd one always missed.
out=$(URGENT_BENCH="$build/bin/urgent-bench" GO_BENCH="$build/bin/urgent-bench-go" COMPARE_N=200 \
  scripts/compare.sh -r 1 --floor echo=0 echo 2>/dev/null)
grep -Eq '^echo +req/s .* [0-9]+\.[0-9]{3} +1  ok \(>= 0\)$' <<<"$out" || { echo "compare.sh: $out" >&2; exit 1; }
out=$(URGENT_BENCH="$build/bin/urgent-bench" GO_BENCH="$build/bin/urgent-bench-go" COMPARE_N=3 \
  scripts/compare.sh -r 1 --floor handoff50=1000000 handoff50 2>/dev/null)
grep -Eq '^handoff50 .* MISSED \(< 1000000\)$' <<<"$out" || { echo "compare.sh: $out" >&2; exit 1; }
