// urgent/stats.h: scheduler counters, for tests, benchmarks and researchers.
#pragma once

#include <cstdint>

namespace urgent {

// A snapshot of monotonic counters since urgent::run started. Read without stopping the
// world, so fields are individually exact but not mutually consistent.
struct SchedStats {
  std::uint64_t goroutines_created = 0;  // goroutines started (including main)
  std::uint64_t steals = 0;              // successful work-stealing operations
  std::uint64_t stolen_goroutines = 0;   // goroutines moved by them
  std::uint64_t runq_overflows = 0;      // local run queue full: half moved to global
  std::uint64_t threads_created = 0;     // Ms started (M0 not counted)
  std::uint64_t stacks = 0;              // goroutine stacks mapped (reused ones not recounted)
  std::uint64_t mutex_starvation = 0;    // times a Mutex waiter switched it to starvation mode
  int gomaxprocs = 0;
  int idle_procs = 0;
  int spinning_threads = 0;
  int global_runq = 0;
};

// Returns the counters of the running runtime (zeros outside urgent::run).
SchedStats sched_stats();

}  // namespace urgent
