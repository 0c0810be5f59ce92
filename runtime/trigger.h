// runtime/trigger.h: who ends a time slice (URGENT_PREEMPT).
//
//   sysmon  Go's way: sysmon notices a P whose goroutine ran a whole slice and sends SIGURG
//           to its M from another CPU (tgkill: a cross-CPU IPI).
//   timer   each M's own POSIX timer (CLOCK_MONOTONIC, SIGEV_THREAD_ID) delivers SIGURG to
//           itself when its goroutine's slice ends (wall time).
//   perf    each M's own PERF_COUNT_SW_TASK_CLOCK event (sample period = the slice) signals
//           the M after every slice of its *on-CPU* time: time the kernel gave another
//           thread is not charged to the goroutine.
// Every trigger ends in the same SIGURG handler, safe-point rules and trampoline
// (preempt.cc); only who decides, and when, differs. See trigger.cc for the design.
#pragma once

#include <signal.h>

#include <cstdint>

#include "trace_format.h"

namespace urgent {
struct SchedStats;
}

namespace urgent::rt {

struct M;

// (Its numbers are the trace's, PreemptTrigger events.)
using PreemptTrigger = tracefmt::TriggerKind;

// "sysmon", "timer" or "perf".
const char* trigger_name(PreemptTrigger t);

// urgent::run's start, after preempt_init: resolves `requested` (an unavailable trigger
// prints one line and falls back to sysmon). Returns the trigger in effect.
PreemptTrigger trigger_init(PreemptTrigger requested);
void trigger_fini();
PreemptTrigger preempt_trigger();  // [const during a run]
extern bool trigger_on;            // [const during a run] timer or perf

// Per M, on its own thread (minit / munit): creates its timer or opens its event. A failure
// leaves the M to sysmon (counted, one warning).
void trigger_minit(M* mp);
void trigger_unminit(M* mp);

// execute(): a goroutine starts a new slice, or inherits its predecessor's (runnext).
// timer: a new slice's start, and the timer armed if it was idle; perf: a new slice counted.
void trigger_slice_start(M* mp, bool inheritTime);
// exitsyscall, back to a running goroutine: timer: re-arms a timer the call left idle.
void trigger_resume(M* mp);

// Does mp's own trigger end its goroutines' slices (so sysmon leaves them alone)?
bool trigger_covers(const M* mp);
// Some M's timer or event failed to open this run (sysmon then keeps its slice-rate ticks).
bool trigger_uncovered();

// The SIGURG handler, first: if this signal is mp's own trigger's, decides (a whole slice
// run?), preempts through doSigPreempt, re-arms, and returns true (the signal is not passed
// on to the program's handler: nobody sent it). False for any other SIGURG.
bool trigger_fired(M* mp, const siginfo_t* info, void* uctx);

void trigger_stats(SchedStats* s);

// urgent_async_preempt2 (a timer's preemption taken): how long after its expiry the
// goroutine left its M, for the timers' lead.
void trigger_record_lateness(std::int64_t ns);

}  // namespace urgent::rt
