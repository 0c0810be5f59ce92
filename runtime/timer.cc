// runtime/timer.cc: per-P timer heaps (Go's time.go since 1.14, simplified: a timer is
// removed from its heap eagerly, under the heap's lock, instead of being marked deleted).
//
// Invariants:
// - A kTimerWaiting timer is in exactly one P's heap (t->pp, t->index), guarded by that P's
//   timerslock; timer0when is the heap's earliest `when`, or 0 when empty.
// - f runs with no lock held, only by the runner that took the timer off its heap (status
//   kTimerRunning), periodic timers included: a ticker is back on its heap only after f
//   returned, so two Ms never run the same f at once (the owner's checkTimers and a thief's
//   steal pass both look at a heap). deltimer waits for the run in progress (kTimerStopping
//   tells the runner not to re-arm), so a timer's owner may free it when deltimer returns.
// - `when` saturates at INT64_MAX ("never", as Go's maxWhen): a huge duration or period
//   never wraps into the past.
// - A new timer that fires before the idle M sleeping on timers would wake up wakes it
//   (or, with no such sleeper, starts one): timers never wait for unrelated activity.
#include "timer.h"

#include <algorithm>

#include "cpu.h"
#include "panic.h"
#include "proc.h"
#include "urgent/sched.h"

namespace urgent::rt {

namespace {

// 4-ary heap on `when` (Go's siftupTimer/siftdownTimer).
void siftup(std::vector<Timer*>& h, std::size_t i) {
  Timer* t = h[i];
  while (i > 0) {
    std::size_t p = (i - 1) / 4;
    if (t->when >= h[p]->when) break;
    h[i] = h[p];
    h[i]->index = static_cast<std::int32_t>(i);
    i = p;
  }
  h[i] = t;
  t->index = static_cast<std::int32_t>(i);
}

void siftdown(std::vector<Timer*>& h, std::size_t i) {
  std::size_t n = h.size();
  Timer* t = h[i];
  for (;;) {
    std::size_t c = 4 * i + 1;
    if (c >= n) break;
    std::size_t best = c;
    for (std::size_t k = c + 1; k < c + 4 && k < n; k++) {
      if (h[k]->when < h[best]->when) best = k;
    }
    if (h[best]->when >= t->when) break;
    h[i] = h[best];
    h[i]->index = static_cast<std::int32_t>(i);
    i = best;
  }
  h[i] = t;
  t->index = static_cast<std::int32_t>(i);
}

void updateTimer0(TimerHeap& th) {
  th.timer0when.store(th.heap.empty() ? 0 : th.heap[0]->when, std::memory_order_release);
}

void push(P* pp, Timer* t) {
  TimerHeap& th = pp->timers;
  t->pp = pp;
  th.heap.push_back(t);
  siftup(th.heap, th.heap.size() - 1);
  updateTimer0(th);
}

void removeAt(TimerHeap& th, std::size_t i) {
  Timer* t = th.heap[i];
  Timer* last = th.heap.back();
  th.heap.pop_back();
  if (last != t) {
    th.heap[i] = last;
    last->index = static_cast<std::int32_t>(i);
    siftup(th.heap, i);
    siftdown(th.heap, static_cast<std::size_t>(last->index));
  }
  t->pp = nullptr;
  t->index = -1;
  updateTimer0(th);
}

}  // namespace

std::int64_t when_after(std::int64_t d) {
  std::int64_t now = nanotime();
  return d > 0 ? add_sat(now, d) : now;
}

std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds d) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(when_after(d.count())));
}

void addtimer(Timer* t) {
  M* mp = getm();
  if (mp == nullptr || mp->p == nullptr) fatal("addtimer called without a P");
  P* pp = mp->p;
  std::int64_t when = t->when;  // once it is on the heap, a runner may re-arm or free t
  {
    SpinGuard lock(pp->timers.timerslock);
    std::uint32_t idle = kTimerIdle;
    if (!t->status.compare_exchange_strong(idle, kTimerWaiting, std::memory_order_relaxed)) {
      fatal("addtimer: timer is not idle (status %u)", idle);
    }
    push(pp, t);
  }
  wakeNetPoller(when);
}

bool deltimer(Timer* t) {
  for (;;) {
    std::uint32_t s = t->status.load(std::memory_order_acquire);
    switch (s) {
      case kTimerIdle: return false;
      case kTimerWaiting: {
        P* pp = t->pp;  // (rechecked under that heap's lock)
        if (pp == nullptr) continue;  // a runner is taking it off its heap right now
        SpinGuard lock(pp->timers.timerslock);
        // Still there? (A runner may have taken it meanwhile, procresize moved it.)
        if (t->pp != pp || t->status.load(std::memory_order_relaxed) != kTimerWaiting) continue;
        removeAt(pp->timers, static_cast<std::size_t>(t->index));
        t->status.store(kTimerIdle, std::memory_order_relaxed);
        return true;
      }
      case kTimerRunning:
        // Tell the runner not to re-arm it, then wait for the run to end.
        if (!t->status.compare_exchange_strong(s, kTimerStopping)) continue;
        [[fallthrough]];
      case kTimerStopping:
        while (t->status.load(std::memory_order_acquire) != kTimerIdle) {
          if (getg() != nullptr) {
            urgent::gosched();
          } else {
            arch::cpu_relax();
          }
        }
        return false;
      default: fatal("deltimer: bad timer status %u", s);
    }
  }
}

void timer_done(Timer* t) {
  t->status.store(kTimerIdle, std::memory_order_release);
}

namespace {

// After f returned false: a periodic timer goes back on the heap it came from, for its next
// tick after `now` (dropping missed ones, as Go does), unless deltimer stopped it meanwhile.
// (home is alive: the world cannot stop, nor procresize free a P, while we hold our own P.)
void finishRun(Timer* t, P* home, std::int64_t now) {
  if (t->period > 0) {
    SpinGuard lock(home->timers.timerslock);
    std::uint32_t running = kTimerRunning;
    if (t->status.compare_exchange_strong(running, kTimerWaiting, std::memory_order_relaxed)) {
      std::int64_t ticks = now > t->when ? (now - t->when) / t->period + 1 : 1;
      t->when = add_sat(t->when, mul_sat(ticks, t->period));
      push(home, t);
      return;
    }
  }
  timer_done(t);
}

}  // namespace

std::int64_t checkTimers(P* pp, std::int64_t now) {
  TimerHeap& th = pp->timers;
  std::int64_t next = th.timer0when.load(std::memory_order_acquire);
  if (next == 0 || next > now) return next;
  for (;;) {
    Timer* t;
    {
      SpinGuard lock(th.timerslock);
      if (th.heap.empty() || th.heap[0]->when > now) {
        return th.heap.empty() ? 0 : th.heap[0]->when;
      }
      t = th.heap[0];
      t->status.store(kTimerRunning, std::memory_order_relaxed);
      removeAt(th, 0);
    }
    if (!t->f(t->arg, now)) finishRun(t, pp, now);
  }
}

std::int64_t nextTimerWhen() {
  std::int64_t next = 0;
  std::int32_t n = gomaxprocs_now.load();
  for (std::int32_t i = 0; i < n; i++) {
    std::int64_t w = allp[i]->timers.timer0when.load(std::memory_order_acquire);
    if (w != 0 && (next == 0 || w < next)) next = w;
  }
  return next;
}

void timers_fini() {
  std::vector<Timer*> orphans;
  for (std::int32_t i = 0; i < kMaxGomaxprocs && allp[i] != nullptr; i++) {
    TimerHeap& th = allp[i]->timers;
    SpinGuard lock(th.timerslock);
    for (Timer* t : th.heap) {
      t->pp = nullptr;
      t->index = -1;
      t->status.store(kTimerIdle, std::memory_order_release);
      if (t->orphan != nullptr) orphans.push_back(t);
    }
    th.heap.clear();
    updateTimer0(th);
  }
  // Freed with no lock held: freeing may drop the last reference to a channel.
  for (Timer* t : orphans) t->orphan(t->arg);
}

void moveTimers(P* from, P* to) {
  SpinGuard a(from->timers.timerslock);
  SpinGuard b(to->timers.timerslock);
  for (Timer* t : from->timers.heap) push(to, t);
  from->timers.heap.clear();
  updateTimer0(from->timers);
}

}  // namespace urgent::rt
