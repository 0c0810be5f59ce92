// runtime/preempt.h: goroutine preemption (Go's preempt.go, preemptone/preemptM of proc.go
// and signal_unix.go). See preempt.cc for the design and its invariants.
#pragma once

#include <cstdint>

namespace urgent {
struct SchedStats;
}

namespace urgent::rt {

struct M;
struct P;
struct G;

// At urgent::run start, before the signal handlers: the time slice, GODEBUG's
// asyncpreemptoff, the XSAVE size and the code ranges the safe-point check needs.
void preempt_init(std::int64_t timeslice_ns, bool asyncpreemptoff);

// The time slice in force (URGENT_TIMESLICE; Go's forcePreemptNS).
std::int64_t timeslice_ns();

// How long before a slice ends sysmon signals its goroutine: the recent average preemption
// latency (decision to leaving the M), at most half the slice; 0 until measured.
std::int64_t preempt_lead_ns();

// True when sysmon preempts with signals (XSAVE usable and GODEBUG=asyncpreemptoff unset).
bool async_preempt_enabled();

// Asks the goroutine running on pp to yield (Go's preemptone): sets its cooperative flag and,
// with async preemption on, signals its M (preemptM). Returns false if pp runs no goroutine
// on another M. Called by sysmon and by stop-the-world (preemptall); mp_self is the caller's
// M (or null for sysmon), which is never signalled.
// due: the end of the goroutine's slice as the caller reckons it (0: none, stop-the-world).
bool preemptone(P* pp, M* mp_self, std::int64_t due = 0);

// The SIGURG handler's half (Go's doSigPreempt): if mp's goroutine was asked to yield and
// is at an async safe point, rewrites uctx so that it calls urgent_async_preempt when the
// handler returns. Async-signal-safe. Clears mp->signal_pending. True if it did (false:
// deferred, or nothing to preempt).
bool doSigPreempt(M* mp, void* uctx);

// A preemption trigger other than sysmon decided (trigger.cc): counted as sysmon's requests
// are. Async-signal-safe.
void preempt_count_request();

// The cooperative half: if gp (the caller, running) was asked to yield and no NoPreempt
// scope is open, yields (gosched) and counts it. Called at runtime calls that may yield.
void checkPreempt(G* gp);

// Whether the SIGURG handler may preempt a goroutine interrupted at pc, as far as the pc goes
// (the main executable's code, outside urgent's own code and the PLT). For tests.
bool pc_is_preemptible(std::uintptr_t pc);

// Fills the preempt_* counters of *s (sched_stats, urgent/stats.h).
void preempt_stats(SchedStats* s);

}  // namespace urgent::rt
