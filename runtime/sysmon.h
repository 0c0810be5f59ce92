// runtime/sysmon.h: the system monitor thread (Go's sysmon, proc.go).
#pragma once

#include <cstdint>

namespace urgent::rt {

// Starts sysmon (urgent::run start) / stops and joins it (urgent::run end). schedtrace_ms >
// 0: it prints Go's scheduler trace every that many ms (GODEBUG=schedtrace, scheddetail).
void sysmon_start(int schedtrace_ms, bool scheddetail);
void sysmon_stop();

// Wakes sysmon if it sleeps because every P was idle (Go's sysmonwait/sysmonnote). Cheap
// when it does not: one relaxed load.
void sysmonwake();
// The same, for a caller that holds sched.lock: pidleget, for every P that leaves the idle
// list (sysmon must watch a busy P: preempt its goroutine, poll the network for it).
void sysmonwakeLocked();

// Called by sysmon between its netpoll and queueing what it found, if set: white-box tests
// widen that window.
extern void (*sysmon_netpoll_hook)();

struct SysmonStats {
  std::uint64_t ticks;
  std::uint64_t idle_sleeps;
  std::int64_t delay_us;
  std::int64_t cpu_ns;  // CPU time its thread used in this run (0 once stopped)
};
SysmonStats sysmon_stats();

}  // namespace urgent::rt
