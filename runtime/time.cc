// runtime/time.cc: sleep, Timer, Ticker and after on the runtime's timers (timer.cc).
#include "urgent/time.h"

#include "lock.h"
#include "proc.h"
#include "timer.h"
#include "urgent/panic.h"

namespace urgent {
namespace detail {

struct TimerImpl {
  rt::Timer t;
  Chan<Clock::time_point> c{1};
};

}  // namespace detail

namespace {

using detail::TimerImpl;

Clock::time_point fromNanotime(std::int64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

// Sends the time without blocking; a full channel drops it (Go's sendTime).
bool sendTime(void* arg, std::int64_t now) {
  static_cast<TimerImpl*>(arg)->c.try_send(fromNanotime(now));
  return false;
}

// time.After's timer owns itself: it frees itself once it has fired.
bool sendTimeOnce(void* arg, std::int64_t now) {
  auto* ti = static_cast<TimerImpl*>(arg);
  ti->c.try_send(fromNanotime(now));
  delete ti;
  return true;
}

std::int64_t whenFromNow(std::chrono::nanoseconds d) {
  return rt::when_after(d.count());
}

// Parks the goroutine until nanotime `when`. (Inlined: a goroutine dump shows sleep_for or
// sleep_until, the caller's own call, as the frame below gopark.)
[[gnu::always_inline]] inline void sleepUntilWhen(std::int64_t when) {
  rt::Timer t;
  t.when = when;
  t.arg = rt::getg();
  // Readying the goroutine may let it return and end t's life: report t as freed.
  t.f = [](void* g, std::int64_t) {
    rt::goready(static_cast<rt::G*>(g));
    return true;
  };
  // Arm it only once parked (Go's resetForSleep), so it cannot fire before we sleep.
  rt::gopark(
      [](rt::G*, void* timer) {
        rt::addtimer(static_cast<rt::Timer*>(timer));
        return true;
      },
      &t, rt::WaitReason::kSleep);
}

TimerImpl* arm(TimerImpl* ti, bool (*f)(void*, std::int64_t), std::chrono::nanoseconds d,
               std::int64_t period) {
  ti->t.f = f;
  ti->t.arg = ti;
  ti->t.period = period;
  ti->t.when = whenFromNow(d);
  rt::addtimer(&ti->t);
  return ti;
}

}  // namespace

void sleep_for(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return;
  sleepUntilWhen(whenFromNow(d));
}

void sleep_until(Clock::time_point t) {
  // steady_clock is the runtime's clock: its count is a nanotime (max() is never).
  std::int64_t when = std::chrono::nanoseconds(t.time_since_epoch()).count();
  if (when <= rt::nanotime()) return;
  sleepUntilWhen(when);
}

Timer::Timer(std::chrono::nanoseconds d) : impl_(arm(new TimerImpl, sendTime, d, 0)) {}

Timer::~Timer() {
  rt::deltimer(&impl_->t);
  delete impl_;
}

Chan<Clock::time_point> Timer::c() const {
  return impl_->c;
}

bool Timer::stop() {
  return rt::deltimer(&impl_->t);
}

bool Timer::reset(std::chrono::nanoseconds d) {
  bool active = rt::deltimer(&impl_->t);
  impl_->t.when = whenFromNow(d);
  rt::addtimer(&impl_->t);
  return active;
}

Ticker::Ticker(std::chrono::nanoseconds d) : impl_(nullptr) {
  if (d.count() <= 0) throw Panic("non-positive interval for NewTicker");
  impl_ = arm(new TimerImpl, sendTime, d, d.count());
}

Ticker::~Ticker() {
  rt::deltimer(&impl_->t);
  delete impl_;
}

Chan<Clock::time_point> Ticker::c() const {
  return impl_->c;
}

void Ticker::stop() {
  rt::deltimer(&impl_->t);
}

void Ticker::reset(std::chrono::nanoseconds d) {
  if (d.count() <= 0) throw Panic("non-positive interval for Ticker.Reset");
  rt::deltimer(&impl_->t);
  impl_->t.period = d.count();
  impl_->t.when = whenFromNow(d);
  rt::addtimer(&impl_->t);
}

Chan<Clock::time_point> after(std::chrono::nanoseconds d) {
  auto* ti = new TimerImpl;
  // Never fired when the run ends: timers_fini frees it.
  ti->t.orphan = [](void* arg) { delete static_cast<TimerImpl*>(arg); };
  Chan<Clock::time_point> c = ti->c;
  arm(ti, sendTimeOnce, d, 0);
  return c;
}

}  // namespace urgent
