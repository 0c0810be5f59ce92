// bpf/checker.h: the P-handoff and preemption checker. Joins urgent's execution trace
// (runtime/trace_format.h: syscall enter/exit, GoSysBlock, preemption signal, handler, G
// off its M; CLOCK_MONOTONIC, with thread ids) with the kernel's view from the observers
// (observer.h: system calls with their off-CPU time, SIGURG generate/deliver), and judges:
//
//   every system call a goroutine made while holding a P (urgent::blocking):
//     good      it blocked at least the threshold and its P was handed off; delay = the
//               handoff's time minus when the thread first left the CPU inside the call
//               (negative when sysmon retook the P before the thread got to sleep)
//     at-entry  handed off when the call started (blocking_handoff, entersyscallblock)
//     missed    it blocked at least the threshold, runnable goroutines waited meanwhile,
//               and the P was not handed off: the P-time wasted is reported
//     needless  the P was handed off although the thread never left the CPU between
//               entersyscall and exitsyscall, and spent that time in the kernel's call
//     stalled   handed off while the thread never left the CPU, yet the kernel saw no call
//               long enough to fill the wait (time the guest kernel cannot see, such as a
//               vCPU the hypervisor took away; the handoff was not needless)
//     kept      short or unblocked calls that kept their P, rightly
//   every block of an M holding a P outside urgent::blocking (at least the threshold; the
//     runtime reports them with URGENT_HANDOFF=perf|bpf): "M blocked N ms outside
//     urgent::blocking while G's were runnable"
//   every preemption signal: decision (sysmon, just before tgkill) -> signal_generate ->
//     signal_deliver -> the handler's verdict -> the goroutine off its M (async preemption)
// and, as a check of the two clocks, how long after the trace's GoSysCall the kernel saw
// the call enter (a few µs at most when both clocks agree).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cmd/urgent-trace/reader.h"
#include "observer.h"

namespace urgent::bpf {

struct CheckerOptions {
  std::int64_t block_threshold_ns = 1'000'000;  // "blocked": off the CPU at least this long
};

struct SyscallVerdict {
  enum Kind { kGood, kAtEntry, kMissed, kNeedless, kKept, kStalled };
  Kind kind = kKept;
  std::int64_t tid = 0;
  std::uint64_t g = 0;
  std::int64_t enter_ns = 0, exit_ns = 0;  // the trace's GoSysCall and GoSysExit
  std::uint64_t offcpu_ns = 0;             // the kernel's: off the CPU between the two
  std::int64_t first_off_ns = 0;           // when the thread first left the CPU (0: never)
  std::int64_t kernel_enter_ns = 0;        // the first kernel-recorded call inside (0: none)
  std::int64_t handoff_ns = 0;             // the trace's GoSysBlock (0: none)
  std::int64_t delay_ns = 0;               // good: handoff - first_off
  std::int64_t wasted_ns = 0;              // missed: blocked time while goroutines waited
};

struct PreemptChain {
  std::int64_t tid = 0;
  std::uint64_t g = 0;
  std::int64_t decision_ns = 0, generate_ns = 0, deliver_ns = 0, handler_ns = 0, off_ns = 0;
  int result = -1;   // signal_generate's result (0 delivered, 2 coalesced), -1 not seen
  int verdict = -1;  // the handler's (0 safe), -1 not seen
  // Who decided (tracefmt::TriggerKind): sysmon (its PreemptSignal: decision, then the
  // tgkill's generate), or the M's own timer or perf event (URGENT_PREEMPT): the kernel's
  // expiry generates the signal, which is the decision (decision_ns = generate_ns), and the
  // handler checks the slice (the trace's PreemptTrigger due).
  int trigger = 0;
};

// An M holding a P that blocked outside urgent::blocking (the runtime's UnwrappedBlock
// event, URGENT_HANDOFF=perf|bpf): its P could run nothing meanwhile.
struct UnwrappedBlock {
  std::int64_t tid = 0;
  std::int64_t end_ns = 0;  // when the runtime reported it (after it ended)
  std::int64_t ns = 0;      // off the CPU
  bool runnable = false;    // goroutines were runnable when a spare saw it
};

struct CheckReport {
  std::vector<SyscallVerdict> syscalls;
  std::vector<UnwrappedBlock> unwrapped;  // at least the threshold long
  std::vector<PreemptChain> preemptions;
  std::uint64_t counts[6] = {};  // by SyscallVerdict::Kind
  std::int64_t threshold_ns = 0;
  std::uint64_t kernel_drops = 0;  // ring-buffer records the kernel side lost
  // Calls whose syscall record says the thread left the CPU while no off-CPU interval
  // covers them (the kernel side missed a switch-in; seen about once in 1,000 calls).
  std::uint64_t kernel_inconsistent = 0;
  // The kernel side's own count of such misses, in any thread (OBS_C_SWITCH_IN_UNSEEN).
  std::uint64_t switch_ins_unseen = 0;
  std::uint64_t trace_dropped = 0;
};

CheckReport check(const tracetool::Trace& trace, const Observations& kernel,
                  const CheckerOptions& options = {});

std::string check_text(const CheckReport& r);
std::string check_json(const CheckReport& r);

extern const char* const kVerdictKindNames[6];

}  // namespace urgent::bpf
