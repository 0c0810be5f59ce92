#!/usr/bin/env bash
# tests/scripts/usdt.sh: urgent's USDT probes (runtime/usdt.h) are in every program linked
# with liburgent, each with a semaphore, and fire with their documented arguments under
# bpftrace (as root, where uprobes attach: CI runs as root; elsewhere that half is skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
fail() { echo "usdt.sh: $*" >&2; exit 1; }
if [[ ${SAN:-} == *thread* ]]; then  # (tests/script_lib.sh's skip)
  echo "usdt.sh: skipped: the preemption probes need asynchronous preemption, off under ThreadSanitizer"
  exit 77
fi

probes=(go_create go_start go_end go_block go_unblock go_preempt preempt_signal
        preempt_handler syscall_enter syscall_exit handoff steal)
notes=$(readelf -n "$build/bin/demo1")
for p in "${probes[@]}"; do
  # Each probe's note: provider urgent, its name, and a non-zero semaphore address.
  grep -A3 -E "Provider: urgent$" <<<"$notes" | grep -q "Name: $p$" || fail "no probe urgent:$p"
done
if grep -A3 -E "Provider: urgent$" <<<"$notes" | grep -qE "Semaphore: 0x0+$"; then
  fail "a probe without a semaphore"
fi

if [[ $(id -u) -ne 0 ]] || ! command -v bpftrace >/dev/null; then
  echo "usdt.sh: not root or no bpftrace: probes checked in the ELF notes only"
  exit 0
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true

# demo1: exactly 11 goroutines created by goroutine 1, each started and ended once.
out=$(timeout 60 bpftrace -q -e "
  usdt:$build/bin/demo1:urgent:go_create /arg1 == 1/ { @created = count(); }
  usdt:$build/bin/demo1:urgent:go_start /arg0 > 1/ { @started = count(); }
  usdt:$build/bin/demo1:urgent:go_end /arg0 > 1/ { @ended = count(); }" -c "$build/bin/demo1" 2>&1) ||
  fail "bpftrace failed: $out"
for want in "@created: 11" "@started: 11" "@ended: 11"; do
  grep -q "^$want$" <<<"$out" || fail "want '$want' from demo1, got:"$'\n'"$out"
done

# A spinning goroutine at a 1 ms slice: sysmon's signals, the handler, async preemptions.
out=$(URGENT_TIMESLICE=1ms timeout 60 bpftrace -q -e "
  usdt:$build/bin/urgent-bench:urgent:preempt_signal { @signals = count(); }
  usdt:$build/bin/urgent-bench:urgent:preempt_handler /arg1 == 0/ { @taken = count(); }
  usdt:$build/bin/urgent-bench:urgent:go_preempt /arg1 == 0/ { @async = count(); }" \
  -c "$build/bin/urgent-bench probe 20" 2>&1) || fail "bpftrace failed: $out"
for key in @signals @taken @async; do
  grep -qE "^$key: [1-9][0-9]*$" <<<"$out" || fail "no $key from a spinning goroutine:"$'\n'"$out"
done
