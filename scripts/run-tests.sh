#!/usr/bin/env bash
# scripts/run-tests.sh BUILD_DIR: runs every test suite of `make test` and ends with one
# summary line, `tests: N passed, N failed, N skipped`; exits non-zero if anything failed.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0

# GoogleTest suites: their own last line is the same summary; add it up.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_gtest() {  # run_gtest [ENV=VALUE...]: the suite once, its summary added to the totals
  # A hang is a failure, not a stuck CI run: 15 minutes is ten times what the suite takes.
  env "$@" timeout --signal=QUIT --kill-after=30 900 "$build/bin/urgent-tests" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]} line p f s
  if line=$(grep -E '^gtest: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1); then
    read -r p f s < <(sed -E 's/^gtest: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$line")
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  else
    f=0
  fi
  [[ $status -eq 0 || $f -gt 0 ]] || failed=$((failed + 1))  # died without a summary
}
run_gtest
# Again under a preemption storm: every goroutine of every test is preempted every 50 us,
# anywhere in its own code (tests that need a slice of their own set it), once per
# P-handoff mode.
# (Not under ThreadSanitizer: there preemption is cooperative only, so there is no storm;
# runtime/HACKING.md, Sanitizers.)
if [[ ${SAN:-} == *thread* ]]; then
  echo "== skipped: the suite under a preemption storm (no asynchronous preemption under TSan)"
else
  # ... in every P-handoff mode (URGENT_HANDOFF; runtime/activation.h): the signals and
  # spare Ms of kernel-assisted handoff under the storm too.
  for mode in poll perf bpf; do
    echo "== the same suite with URGENT_TIMESLICE=50us URGENT_HANDOFF=$mode"
    run_gtest URGENT_TIMESLICE=50us URGENT_HANDOFF=$mode
  done
  # ... and with each preemption trigger (URGENT_PREEMPT; runtime/trigger.h): the Ms' own
  # timers and task-clock events end the slices instead of sysmon.
  for trigger in timer perf; do
    echo "== the same suite with URGENT_TIMESLICE=50us URGENT_PREEMPT=$trigger"
    run_gtest URGENT_TIMESLICE=50us URGENT_PREEMPT=$trigger
  done
fi

# Script-level tests (install + pkg-config, tools' error handling).
for t in tests/scripts/*.sh; do
  [[ -e $t ]] || continue
  BUILD="$build" bash "$t"
  case $? in
    0) echo "[  SCRIPT OK ] $t"; passed=$((passed + 1)) ;;
    77) echo "[ SCRIPT SKIP ] $t"; skipped=$((skipped + 1)) ;;  # (tests/script_lib.sh: skip)
    *) echo "[ SCRIPT FAIL ] $t"; failed=$((failed + 1)) ;;
  esac
done

echo "tests: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
