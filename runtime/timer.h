// runtime/timer.h: timers in per-P 4-ary heaps (Go 1.14+'s time.go).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "lock.h"

namespace urgent::rt {

struct P;

// A runtime timer. f runs when `when` (nanotime) has passed, on whichever M with a P runs
// the heap's timers (the owner in findRunnable, or a thief on its last steal pass), with no
// lock held. f returns true if it may have freed the timer (then the runtime does not touch
// it again). period > 0 re-arms it (tickers).
struct Timer {
  std::int64_t when = 0;
  std::int64_t period = 0;
  bool (*f)(void* arg, std::int64_t now) = nullptr;
  void* arg = nullptr;
  P* pp = nullptr;                   // [pp->timerslock] the heap it is in, or null
  std::int32_t index = -1;           // [pp->timerslock] its position there
  std::atomic<bool> running{false};  // f is executing right now
};

// A P's timers ([timerslock]); timer0when mirrors the earliest `when` (0: none) so that
// others can look without the lock.
struct TimerHeap {
  SpinMutex timerslock;
  std::vector<Timer*> heap;
  std::atomic<std::int64_t> timer0when{0};
};

// Arms t (t->when set) on the current P's heap, waking an idle M if it fires before anyone
// would otherwise look.
void addtimer(Timer* t);
// Disarms t; true if it was pending (it will not fire), false if it already fired or is
// firing. When it returns, f is not running (unless f itself called deltimer).
bool deltimer(Timer* t);

// Runs pp's expired timers (the caller holds a P); returns the earliest remaining `when`.
std::int64_t checkTimers(P* pp, std::int64_t now);
// The earliest timer of any P (0: none).
std::int64_t nextTimerWhen();
// Moves a destroyed P's timers to `to` (procresize).
void moveTimers(P* from, P* to);
// A timer firing at `when` was added: make sure an M will be awake then (Go's
// wakeNetPoller, proc.cc).
void wakeNetPoller(std::int64_t when);

}  // namespace urgent::rt
