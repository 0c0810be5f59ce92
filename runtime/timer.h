// runtime/timer.h: timers in per-P 4-ary heaps (Go 1.14+'s time.go).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "lock.h"
#include "relaxed.h"

namespace urgent::rt {

struct P;

// A timer's status (Go's timer status machine, reduced: urgent removes a timer from its heap
// eagerly, under the heap's lock, instead of marking it deleted). Transitions:
//   kTimerIdle    -> kTimerWaiting  addtimer pushes it on a heap
//   kTimerWaiting -> kTimerIdle     deltimer takes it off its heap (it will not fire)
//   kTimerWaiting -> kTimerRunning  a runner (checkTimers) takes it off its heap to run f
//   kTimerRunning -> kTimerStopping deltimer while f runs: the runner must not re-arm it
//   kTimerRunning -> kTimerWaiting  the runner re-arms a periodic timer after f returned
//   kTimerRunning, kTimerStopping -> kTimerIdle  the runner, after f returned (or f itself,
//                                   if it returned true: timer_done)
// Only the party that takes a timer off its heap (under the heap's lock) runs f, so f never
// runs twice at once; deltimer waits for kTimerIdle, so once it returns f is not running and
// will not run, and the owner may free the timer.
enum TimerStatus : std::uint32_t {
  kTimerIdle = 0,
  kTimerWaiting = 1,
  kTimerRunning = 2,
  kTimerStopping = 3,
};

// A runtime timer. f runs when `when` (nanotime) has passed, on whichever M with a P runs
// the heap's timers (the owner in findRunnable, or a thief on its last steal pass), with no
// lock held. f returns true if it may have freed the timer: then the runtime never touches it
// again, and f must call timer_done first if anyone may deltimer it. period > 0 re-arms it
// (tickers) after f returns, `period` after the tick it served (missed ticks are dropped).
struct Timer {
  std::int64_t when = 0;
  std::int64_t period = 0;
  bool (*f)(void* arg, std::int64_t now) = nullptr;
  void* arg = nullptr;
  // A timer that owns itself (after's): timers_fini calls orphan(arg) to free it, since
  // once the run ends nothing else could (f would have freed it when it fired).
  void (*orphan)(void* arg) = nullptr;
  Relaxed<P*> pp;           // [pp->timerslock; racy reads: deltimer] its heap, or null
  std::int32_t index = -1;  // [pp->timerslock] its position there
  // [atomic] TimerStatus: changed under the heap's lock, but for the runner's and
  // deltimer's transitions out of kTimerRunning; kTimerIdle is stored with release order.
  std::atomic<std::uint32_t> status{kTimerIdle};
};

// A P's timers ([timerslock]); timer0when mirrors the earliest `when` (0: none) so that
// others can look without the lock.
struct TimerHeap {
  SpinMutex timerslock;
  std::vector<Timer*> heap;
  std::atomic<std::int64_t> timer0when{0};
};

// Time arithmetic on nanotime values and nanosecond durations, saturating at the int64 range
// instead of wrapping: a timer `INT64_MAX` away never fires (Go's maxWhen), it does not fire
// at once.
inline std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
inline std::int64_t mul_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
  return r;
}

// The nanotime d from now, saturated: d <= 0 is now, and a d past the clock's range is
// INT64_MAX (never).
std::int64_t when_after(std::int64_t d);
// The same as a steady_clock time point (the runtime's clock is steady_clock's), for
// deadlines: with_timeout, dial's timeout.
std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds d);

// Arms t (kTimerIdle; t->when set) on the current P's heap, waking an idle M if it fires
// before anyone would otherwise look.
void addtimer(Timer* t);
// Disarms t; true if it was pending (it will not fire), false if it already fired or is
// firing. When it returns, f is not running and will not run again. Never from t's own f.
bool deltimer(Timer* t);
// From a callback that returns true ("may have freed the timer"), before it may free it: the
// run is over, so a deltimer waiting for it returns.
void timer_done(Timer* t);

// Runs pp's expired timers (the caller holds a P); returns the earliest remaining `when`.
std::int64_t checkTimers(P* pp, std::int64_t now);
// The earliest timer of any P (0: none).
std::int64_t nextTimerWhen();
// Moves a destroyed P's timers to `to` (procresize).
void moveTimers(P* from, P* to);
// At the end of urgent::run, before its Ps are freed: takes every pending timer off its heap
// (idle again), so that a timer that outlives the run (a Timer object destroyed later) never
// touches a freed P, and can be armed again in a later run; a timer that owns itself
// (orphan set) is freed instead.
void timers_fini();
// A timer firing at `when` was added: make sure an M will be awake then (Go's
// wakeNetPoller, proc.cc).
void wakeNetPoller(std::int64_t when);

}  // namespace urgent::rt
