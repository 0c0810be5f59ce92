// urgent/preempt.h: preemption, as Go 1.14+ does it (cooperative flag + SIGURG).
//
// sysmon asks a goroutine that has run for a whole time slice (URGENT_TIMESLICE, default
// 10 ms) to yield: it sets the goroutine's preemption flag and sends SIGURG to its thread.
// The handler switches the goroutine out right where it was, if that is an async safe point
// (its own code, no runtime lock, no NoPreempt scope, enough stack; see runtime/HACKING.md);
// otherwise the goroutine yields at its next call into urgent, or at preempt_point().
#pragma once

#include <chrono>

namespace urgent {

// Yields if sysmon asked the calling goroutine to (its time slice is over) and no NoPreempt
// scope is open; otherwise returns at once (a TLS load and a flag test). For hot loops that
// spend their time where the signal cannot preempt them (inside libc, NoPreempt scopes), or
// with GODEBUG=asyncpreemptoff=1. A no-op outside goroutines.
void preempt_point();

// While one exists, the goroutine that created it is not preempted: neither by the signal
// nor at preempt_point(). It may still block (channels, locks, sleep_for) and then resumes
// on any thread, scope still open. On destruction of the outermost scope the goroutine
// yields if it was asked to meanwhile. Scopes nest. A no-op outside goroutines.
class NoPreempt {
 public:
  NoPreempt();
  ~NoPreempt();
  NoPreempt(const NoPreempt&) = delete;
  NoPreempt& operator=(const NoPreempt&) = delete;

 private:
  void* g_;
};

// The time slice in force (URGENT_TIMESLICE; Go's fixed forcePreemptNS is 10 ms).
std::chrono::nanoseconds timeslice();

// True inside urgent::run when sysmon preempts with SIGURG: false with
// GODEBUG=asyncpreemptoff=1 (then only the cooperative flag works) or without XSAVE.
bool async_preemption();

}  // namespace urgent
