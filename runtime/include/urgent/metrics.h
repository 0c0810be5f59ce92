// urgent/metrics.h: one snapshot of everything the scheduler counts (Go's runtime/metrics),
// and a text dump of it.
#pragma once

#include <string>

#include "urgent/stats.h"

namespace urgent {

// Goroutines by state at the moment of the snapshot (a racy count over all goroutines).
struct GoroutineCounts {
  int runnable = 0;  // on a run queue
  int running = 0;   // on an M with a P
  int syscall = 0;   // in urgent::blocking
  int waiting = 0;   // parked: channels, locks, timers, I/O
  int total = 0;     // all four
};

struct Metrics {
  SchedStats sched;              // counters: goroutines, steals, syscalls, handoffs,
                                 // sysmon, netpoll, preemption (urgent/stats.h)
  GoroutineCounts goroutines;    // by state, now
  LatencyStats sched_latency;    // ready -> running, one transition in 64 sampled
  LatencyStats preempt_latency;  // sysmon's decision -> off the M (preempt_latency())
  LatencyStats preempt_overrun;  // the slice's end -> off the M (preempt_overrun())
};

// A snapshot (zeros outside urgent::run). Costs a walk over all goroutines.
Metrics metrics();

// The snapshot as `name value` lines, one metric a line, named like Go's runtime/metrics
// (`/sched/goroutines:goroutines 12`, `/sched/latencies:p99-ns 18234`, ...).
std::string metrics_text(const Metrics& m);

}  // namespace urgent
