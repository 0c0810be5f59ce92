#!/usr/bin/env bash
# tests/scripts/scope.sh: urgent-scope from the outside. Bad usage and a missing process
# are clear errors; without privileges it says why and prints no report; as root it sees a
# real Go program's SIGURGs (a goroutine spinning under Go 1.19's sysmon), attaches to a
# running process with -p, passes the command's exit status on, and with --trace runs the
# P-handoff checker on urgent's handoff benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/script_lib.sh
scope=$build/bin/urgent-scope
status() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; set -e; }

[[ $(status "$scope") -eq 2 ]] || fail "no arguments: not status 2"
[[ $(status "$scope" -p 1 -- true) -eq 2 ]] || fail "-p and a command: not status 2"
[[ $(status "$scope" --duration soon -p 1) -eq 2 ]] || fail "bad --duration: not status 2"
[[ $(status "$scope" -p 999999999) -ne 0 ]] && grep -q "no process\|process id" "$tmp/err" ||
  fail "missing process: $(cat "$tmp/err")"

if [[ $(id -u) -ne 0 ]]; then
  echo "scope.sh: the rest needs root (BPF); skipped"
  exit 0
fi

# Without privileges: one clear line, status 1, no report, and the command never runs.
st=$(status setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
  "$scope" -- touch "$tmp/ran")
[[ $st -eq 1 ]] || fail "unprivileged: status $st"
grep -q "needs root" "$tmp/err" || fail "unprivileged: $(cat "$tmp/err")"
[[ ! -s $tmp/out && ! -e $tmp/ran ]] || fail "unprivileged: output or the command ran"

# URGENT_BPF=1 without privileges: one line, and the program runs normally.
st=$(status setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
  env URGENT_BPF=1 GOMAXPROCS=1 "$build/bin/demo1")
[[ $st -eq 0 ]] || fail "URGENT_BPF=1 unprivileged: demo1 failed ($st): $(cat "$tmp/err")"
grep -q 'URGENT_BPF=1: .*needs root.*running without the observers' "$tmp/err" ||
  fail "URGENT_BPF=1 unprivileged: $(cat "$tmp/err")"
grep -q 'Hello, Welcome to Goroutines' "$tmp/out" || fail "URGENT_BPF=1 unprivileged: no output"

# A real Go program: urgent-bench-go's probe spins a goroutine that only SIGURG preempts.
"$scope" --json -o "$tmp/go.json" -- "$build/bin/urgent-bench-go" probe 20 >/dev/null
gen=$(json_get "$tmp/go.json" 'j["sigurg"]["generated"]')
del=$(json_get "$tmp/go.json" 'j["sigurg"]["delivered"]')
[[ $gen -gt 0 && $del -gt 0 ]] || fail "Go's SIGURGs: generated $gen, delivered $del"
[[ $(json_get "$tmp/go.json" 'j["sigurg"]["latency"]["n"]') -gt 0 ]] || fail "no SIGURG latency"
[[ $(json_get "$tmp/go.json" 'j["drops"]["ringbuf"]') -eq 0 ]] || fail "ring buffer drops"

# -p: attach to a running Go program for half a second.
"$build/bin/urgent-bench-go" probe 200 >/dev/null &
pid=$!
sleep 0.3
"$scope" --json -o "$tmp/p.json" --duration 0.5 -p "$pid"
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[[ $(json_get "$tmp/p.json" 'j["pid"]') -eq $pid ]] || fail "-p: wrong pid"
[[ $(json_get "$tmp/p.json" 'j["sigurg"]["delivered"]') -gt 0 ]] || fail "-p: no SIGURG seen"

# The command's exit status comes back; a missing command is 127.
[[ $(status "$scope" -o "$tmp/x" -- sh -c 'exit 3') -eq 3 ]] || fail "exit status not passed on"
[[ $(status "$scope" -o "$tmp/x" -- "$tmp/no-such-command") -eq 127 ]] || fail "missing command"

# The checker on urgent's handoff benchmark (GOMAXPROCS=1, a read(2) blocking 20 ms).
"$scope" -o "$tmp/h.txt" --trace "$tmp/h.trace" -- \
  env URGENT_TRACE="$tmp/h.trace" "$build/bin/urgent-bench" handoff 20 >/dev/null
grep -qE '^  system calls holding a P: [0-9]+   good [1-9]' "$tmp/h.txt" ||
  fail "checker: $(sed -n '/P handoff/,$p' "$tmp/h.txt")"
grep -qE 'needless 0 ' "$tmp/h.txt" || fail "needless handoffs: $(sed -n '/P handoff/,$p' "$tmp/h.txt")"
grep -q '^  handoff delay after the thread left the CPU: n=' "$tmp/h.txt" || fail "no handoff delay"
# URGENT_BPF=1 with URGENT_TRACE: the records travel in the trace; the checker reads them.
URGENT_BPF=1 URGENT_TRACE="$tmp/k.trace" "$build/bin/urgent-bench" handoff 20 >/dev/null
"$scope" --trace "$tmp/k.trace" >"$tmp/k.txt"
grep -qE '^  system calls holding a P: [0-9]+   good [1-9]' "$tmp/k.txt" || fail "offline checker: $(cat "$tmp/k.txt")"
grep -qE '^[0-9]+ +M0 ' "$tmp/k.txt" || fail "threads not labelled with their M"
[[ $(status "$scope" --trace "$tmp/h.trace") -eq 1 ]] && grep -q 'no kernel records' "$tmp/err" ||
  fail "a trace without kernel records: $(cat "$tmp/err")"
echo "scope.sh: ok (Go: $gen SIGURGs generated, $del delivered)"
