#!/usr/bin/env bash
# tests/scripts/trace.sh: the seed's trace demo, traced, read back with urgent-trace. With
# gosched the trace shows goroutines on several Ps and the sleepers parking and unparking;
# without it, async preemptions. The Chrome JSON parses, the Perfetto protobuf decodes (the
# tool's own reader and protoc --decode_raw), and bad input gets a clear error.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/script_lib.sh
tool=$build/bin/urgent-trace

# 1. The demo as the seed runs it.
(cd "$tmp" && "$build/bin/tracedemo" >demo.out) || fail "tracedemo failed"
grep -q '^done; trace written to trace.out (.* 0 dropped)$' "$tmp/demo.out" || fail "demo said: $(cat "$tmp/demo.out")"
"$tool" check "$tmp/trace.out" >/dev/null || fail "the demo's trace is inconsistent: $("$tool" check "$tmp/trace.out")"
"$tool" summary --json "$tmp/trace.out" >"$tmp/summary.json"
[[ $(json_get "$tmp/summary.json" 'j["gomaxprocs"]') == 4 ]] || fail "not GOMAXPROCS=4"
ps=$(json_get "$tmp/summary.json" 'len(j["ps"])')
[[ $ps -ge 2 ]] || fail "goroutines ran on $ps P(s), want several"
[[ $(json_get "$tmp/summary.json" 'j["events_by_type"].get("GoSched", 0)') -gt 0 ]] || fail "no gosched"
"$tool" view "$tmp/trace.out" >"$tmp/view.txt"
sleeps=$(grep -c 'GoBlock .*reason="sleep"' "$tmp/view.txt" || true)
[[ $sleeps -eq 4 ]] || fail "$sleeps sleepers parked, want 4"
for g in $(grep 'GoBlock .*reason="sleep"' "$tmp/view.txt" | sed -E 's/.* g=([0-9]+) .*/\1/'); do
  grep -qE "GoUnblock +g=$g by=" "$tmp/view.txt" || fail "sleeper g$g never unparked"
done
"$tool" summary "$tmp/trace.out" | grep -q '^scheduler latency (runnable -> running): n=' || fail "summary text"

# 2. Without gosched, slices end by preemption (a 1 ms slice; --scale 10: the demo's
#    goroutines run 1 to 4 ms each at scale 1 depending on the CPU this VM got, and one that
#    ends within its slice is never preempted). Not under ThreadSanitizer, where only
#    cooperative preemption exists: the demo's goroutines would run to their end.
async=0
if ! tsan; then
(cd "$tmp" && URGENT_TIMESLICE=1ms "$build/bin/tracedemo" --no-gosched --scale 10 --out nogosched.trace >/dev/null)
"$tool" check "$tmp/nogosched.trace" >/dev/null || fail "the no-gosched trace is inconsistent"
"$tool" summary --json "$tmp/nogosched.trace" >"$tmp/nogosched.json"
[[ $(json_get "$tmp/nogosched.json" 'j["events_by_type"].get("GoSched", 0)') -eq 0 ]] || fail "gosched without gosched"
async=$(json_get "$tmp/nogosched.json" 'j["preempt"]["async"]')
[[ $async -gt 0 ]] || fail "no async preemption without gosched"
fi

# 3. Chrome JSON: parses, has per-P/M/goroutine tracks, counters and unblock flows.
"$tool" convert "$tmp/trace.out" "$tmp/trace.json"
json_get "$tmp/trace.json" 'len(j["traceEvents"])' >/dev/null || fail "the JSON does not parse"
for ph in B E i C s f M; do
  [[ $(json_get "$tmp/trace.json" "sum(1 for e in j['traceEvents'] if e['ph'] == '$ph')") -gt 0 ]] ||
    fail "no '$ph' events in the JSON"
done
[[ $(json_get "$tmp/trace.json" "sorted({e['args']['name'] for e in j['traceEvents'] if e.get('name') == 'process_name'})") == \
   "['Goroutines', 'Ms (threads)', 'Ps', 'Run queues']" ]] || fail "track groups"

# 4. Perfetto protobuf: our reader checks the structure; protoc decodes the wire format.
"$tool" convert "$tmp/trace.out" "$tmp/trace.pftrace"
"$tool" check-perfetto "$tmp/trace.pftrace" | grep -qE '^perfetto: [0-9]+ packets, [0-9]+ tracks, [1-9][0-9]* slices' ||
  fail "check-perfetto: $("$tool" check-perfetto "$tmp/trace.pftrace" 2>&1)"
if command -v protoc >/dev/null; then
  protoc --decode_raw <"$tmp/trace.pftrace" >"$tmp/raw.txt" || fail "protoc cannot decode the Perfetto trace"
  grep -q '"runq P0"' "$tmp/raw.txt" || fail "no run-queue track in the decoded Perfetto trace"
fi
"$tool" convert --format json "$tmp/trace.out" "$tmp/forced.pb"
head -c 1 "$tmp/forced.pb" | grep -q '{' || fail "--format json ignored"

# 5. Bad input: a clear message and exit status 2, never a crash.
head -c 100 /dev/urandom >"$tmp/junk"
set +e
"$tool" summary "$tmp/junk" 2>"$tmp/err"; st=$?
set -e
[[ $st -eq 2 ]] && grep -q 'not an urgent trace' "$tmp/err" || fail "junk: status $st, $(cat "$tmp/err")"
head -c 30 "$tmp/trace.out" >"$tmp/short"
set +e
"$tool" check "$tmp/short" 2>"$tmp/err"; st=$?
"$tool" 2>/dev/null; st2=$?
"$tool" frobnicate x 2>/dev/null; st3=$?
"$tool" convert "$tmp/trace.out" 2>/dev/null; st4=$?
"$tool" view "$tmp/nonexistent" 2>/dev/null; st5=$?
set -e
[[ $st -eq 2 && -s $tmp/err ]] || fail "truncated trace: status $st"
[[ $st2 -eq 2 && $st3 -eq 2 && $st4 -eq 2 && $st5 -eq 2 ]] || fail "usage errors: $st2 $st3 $st4 $st5"
# A trace cut short by a full disk (a file-size limit of 2 KiB makes the writes of a ~6 KB
# trace fail with EFBIG): the program says writing failed, and check calls the trace
# incomplete, exit 1.
set +e
(trap '' XFSZ; ulimit -f 2; cd "$tmp" && "$build/bin/tracedemo" --scale 10 --out full.trace >/dev/null 2>"$tmp/full.err"); st=$?
"$tool" check "$tmp/full.trace" >"$tmp/full.check" 2>&1; st2=$?
set -e
[[ $st -eq 1 ]] && grep -q 'writing full.trace: File too large' "$tmp/full.err" || fail "disk full: status $st, $(cat "$tmp/full.err")"
[[ $st2 -eq 1 ]] || fail "check of a cut-short trace: status $st2, $(cat "$tmp/full.check")"
grep -q '^the trace was cut short: no End chunk .* partial chunk at byte [0-9]*$' "$tmp/full.check" &&
  grep -q 'full.trace: [0-9]* events, INCOMPLETE (cut short)$' "$tmp/full.check" || fail "check said: $(cat "$tmp/full.check")"
# URGENT_TRACE to an impossible path: the program runs untraced, and says so.
URGENT_TRACE=/nonexistent/t.out "$build/bin/demo1" >/dev/null 2>"$tmp/err" || fail "demo1 failed"
grep -q 'URGENT_TRACE=/nonexistent/t.out: open' "$tmp/err" || fail "no warning: $(cat "$tmp/err")"
URGENT_TRACE_MEM=lots URGENT_TRACE="$tmp/d1.trace" "$build/bin/demo1" >/dev/null 2>"$tmp/err"
grep -q 'URGENT_TRACE_MEM' "$tmp/err" || fail "no warning for URGENT_TRACE_MEM=lots"
"$tool" check "$tmp/d1.trace" >/dev/null || fail "demo1's trace is inconsistent"

# 6. The Go twin writes Go's trace of the same demo.
(cd "$tmp" && "$build/bin/tracedemo-go" -out go.trace >/dev/null) || fail "tracedemo-go failed"
[[ -s $tmp/go.trace ]] || fail "tracedemo-go wrote no trace"
echo "trace.sh: ok (demo on $ps Ps, $async async preemptions without gosched)"
