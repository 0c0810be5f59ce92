// urgent/stats.h: scheduler counters, for tests, benchmarks and researchers.
#pragma once

#include <chrono>
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
  // System calls (urgent::blocking): every exitsyscall takes exactly one of three paths.
  std::uint64_t syscalls = 0;             // blocking() / blocking_handoff() calls entered
  std::uint64_t syscall_exit_fast = 0;    // got its own P back (the common, cheap case)
  std::uint64_t syscall_exit_idle_p = 0;  // its P was taken: got an idle one at once
  std::uint64_t syscall_exit_slow = 0;    // no P: queued globally, its thread parked
  std::uint64_t handoffs = 0;             // Ps handed off from a syscall: sysmon's retake
  std::uint64_t handoffs_block = 0;       // ... and blocking_handoff's, at entry
  // Kernel-assisted handoff (URGENT_HANDOFF=perf|bpf: a spare M the kernel wakes the moment
  // an M holding a P blocks; all zero with poll).
  const char* handoff = "poll";             // the mode in effect: poll, perf or bpf
  std::uint64_t handoffs_activated = 0;     // Ps handed off by such a spare
  std::uint64_t activations = 0;            // spares woken that looked for blocked Ms
  std::uint64_t activation_strays = 0;      // signals that reached a program thread (passed on)
  std::uint64_t activation_preempted = 0;   // Ms in a call found preempted, not blocked: kept
  std::uint64_t activation_uncovered = 0;   // Ms whose event failed to open (sysmon covers them)
  std::uint64_t unwrapped_blocks = 0;       // an M holding a P slept outside urgent::blocking
  std::uint64_t unwrapped_block_ns = 0;     // ... their total time off the CPU
  // sysmon (Go's system monitor thread).
  std::uint64_t sysmon_ticks = 0;        // wakeups of its loop
  std::uint64_t sysmon_idle_sleeps = 0;  // times it slept until woken (every P idle)
  std::int64_t sysmon_delay_us = 0;      // its current sleep between ticks: 20 µs, doubling
                                         // after 50 idle ticks up to 10 ms (URGENT_HANDOFF=
                                         // perf|bpf: half a slice, at most 10 ms, always)
  std::int64_t sysmon_cpu_ns = 0;        // CPU time its thread has used
  // Network poller.
  std::uint64_t netpoll_polls = 0;     // epoll_wait calls (non-blocking and blocking)
  std::uint64_t netpoll_blocking = 0;  // ... of which blocked an idle M
  std::uint64_t netpoll_ready = 0;     // goroutines made runnable by I/O readiness
  std::uint64_t netpoll_sysmon = 0;    // polls sysmon made (nobody polled for 10 ms)
  // Preemption (urgent/preempt.h): sysmon's requests and what became of them.
  std::uint64_t preempt_requests = 0;     // goroutines found past their time slice (preemptone)
  std::uint64_t preempt_signals = 0;      // SIGURGs sent (tgkill; at most one pending per M)
  std::uint64_t preempt_async = 0;        // taken by the handler at an async safe point
  std::uint64_t preempt_cooperative = 0;  // yields at a runtime call or preempt_point()
  std::uint64_t preempt_stale = 0;        // a signal found nothing to preempt (already yielded)
  // Who ends slices (URGENT_PREEMPT): "sysmon" (its tgkill), or each M's own "timer" or
  // "perf" task-clock event, whose signals are counted here (none with sysmon).
  const char* preempt_trigger = "sysmon";
  std::uint64_t trigger_fires = 0;      // the trigger's signals handled
  std::uint64_t trigger_early = 0;      // ... for a goroutine that had not had its slice yet
  std::uint64_t trigger_idle = 0;       // ... with no goroutine running (scheduling, a call)
  std::uint64_t trigger_retries = 0;    // ... deferred (unsafe point): retried by the trigger
  std::uint64_t trigger_uncovered = 0;  // Ms whose timer or event failed (sysmon covers them)
  std::int64_t trigger_lead_ns = 0;     // how early the trigger fires: its average lateness
  std::uint64_t trigger_retunes = 0;    // perf: events whose period was set to slice - lead
  // Signals that found the goroutine at an unsafe point, by reason (it yields later):
  std::uint64_t preempt_deferred_runtime = 0;   // in urgent's own code
  std::uint64_t preempt_deferred_locks = 0;     // the thread held a runtime lock
  std::uint64_t preempt_deferred_disabled = 0;  // inside a NoPreempt scope
  std::uint64_t preempt_deferred_foreign = 0;   // in another object (libc, libstdc++, vdso)
  std::uint64_t preempt_deferred_stack = 0;     // too little goroutine stack left
  std::uint64_t preempt_deferred_signal = 0;    // inside one of the program's signal handlers
  int netpoll_waiters = 0;                      // goroutines parked on I/O right now
  int threads = 0;                              // Ms alive now (M0 included)
  int gomaxprocs = 0;
  int idle_procs = 0;
  int spinning_threads = 0;
  int global_runq = 0;
};

// Returns the counters of the running runtime (zeros outside urgent::run).
SchedStats sched_stats();

// A latency distribution: how many samples, and percentiles from a log-linear histogram
// (within ~3%; max exact).
struct LatencyStats {
  std::uint64_t count = 0;
  std::chrono::nanoseconds p50{0}, p99{0}, max{0};
};

// Latency of signal preemption since urgent::run started: from sysmon's decision (just
// before its tgkill) to the preempted goroutine entering the scheduler from the trampoline
// (registers saved, about to switch off its M). Preemptions whose signal was deferred count
// from the last signal sysmon sent that M.
using PreemptLatency = LatencyStats;
PreemptLatency preempt_latency();

// How late asynchronous preemptions were: from the end of the goroutine's slice (the
// intended moment, whoever decides: URGENT_PREEMPT) to the goroutine entering the
// scheduler from the trampoline. sysmon: its slice start + URGENT_TIMESLICE (it signals one
// average latency early, so a preemption before the end counts as 0); timer: the slice
// start execute recorded + the slice; perf: the overflow's time (the sample the task-clock
// event wrote when the M's slice of on-CPU time ended). Stop-the-world
// preemptions have no slice end and are not counted.
PreemptLatency preempt_overrun();

}  // namespace urgent
