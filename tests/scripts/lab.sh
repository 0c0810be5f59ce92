#!/usr/bin/env bash
# tests/scripts/lab.sh: `urgent-lab --quick` end to end: every experiment runs, results.json
# is valid JSON with every experiment in it, the plots are PNG files; bad options are errors.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/script_lib.sh
tsan && skip "the lab's preemption experiments need asynchronous preemption, off under ThreadSanitizer"

"$build/bin/urgent-lab" --quick --out "$tmp/r" >"$tmp/table" 2>"$tmp/progress" ||
  fail "urgent-lab --quick failed: $(grep -i fail "$tmp/table" "$tmp/progress" | head -5)"
python3 - "$tmp/r/results.json" <<'PY' || fail "results.json: see above"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["quick"] is True and j["failures"] == 0, j.get("failures")
ex = j["experiments"]
for name in ["floor", "preempt", "probe", "fairness", "overhead", "handoff", "micro", "trigger"]:
    assert name in ex, name
for t in ["sysmon", "timer", "perf"]:
    for s in ["10ms", "1ms", "100us", "50us"]:
        r = ex["trigger"][t + "-" + s]
        assert r["max_us"] >= r["p99_us"] >= r["p50_us"] >= 0, (t, s, r)
        assert r["sysmon_wakeups_per_s"] >= 0
    assert ex["trigger"]["sharedcpu"][t]["wall_p50_ms"] >= ex["trigger"]["sharedcpu"][t]["on_cpu_p50_ms"] > 0, t
for s in ["10ms", "1ms", "100us", "50us"]:
    assert ex["preempt"][s]["p50_us"] > 0
    for run in ["urgent", "urgent-timer", "urgent-perf"]:
        assert 0.25 <= ex["fairness"][run + "-" + s]["jain"] <= 1.0, run
        assert ex["probe"][run + "-" + s]["p99_us"] >= ex["probe"][run + "-" + s]["p50_us"] > 0, run
assert ex["probe"]["go-10ms"]["p50_us"] > 0
assert ex["micro"]["pingpong"]["ratio"] > 0
if j["root"]:
    assert "kernel" in ex["preempt"]["1ms"], "no eBPF breakdown as root"
    for mode in ["poll", "perf", "bpf"]:
        assert ex["handoff"]["urgent-" + mode]["checker"]["good"] > 0, mode
        assert ex["handoff"]["load"]["urgent-" + mode]["reads"] > 0, mode
    assert ex["handoff"]["load"]["urgent-perf"]["handoffs_by_spare"] > 0
    assert ex["handoff"]["short_calls"]["urgent-perf"]["kept"] > 0
    assert len(j["cross_checks"]) >= 4
for run in ["urgent-poll", "urgent-perf", "go"]:
    assert ex["handoff"][run]["p99_us"] >= ex["handoff"][run]["p50_us"] > 0, run
assert ex["floor"]["activation_p50_us"] > 0
PY
for p in probe_cdf probe_trigger handoff_cdf preempt overhead fairness micro trigger; do
  head -c 8 "$tmp/r/$p.png" | od -An -tx1 | grep -q '89 50 4e 47' || fail "$p.png is not a PNG"
done
grep -q '^7. micro-benchmarks' "$tmp/table" || fail "no table on stdout"
set +e
"$build/bin/urgent-lab" --only nonsense >/dev/null 2>&1; st=$?
set -e
[[ $st -eq 2 ]] || fail "--only nonsense: status $st"
"$build/bin/urgent-lab" --quick --only fairness --json --out "$tmp/j" 2>/dev/null |
  python3 -c 'import json,sys; j=json.load(sys.stdin); assert list(j["experiments"]) == ["fairness"]' ||
  fail "--only fairness --json"
echo "lab.sh: ok"
