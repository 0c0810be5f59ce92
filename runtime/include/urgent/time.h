// urgent/time.h: Go's time package basics: sleeping, timers, tickers, time.After.
// Times are std::chrono::steady_clock (CLOCK_MONOTONIC, the runtime's own clock).
#pragma once

#include <chrono>

#include "urgent/chan.h"

namespace urgent {

using Clock = std::chrono::steady_clock;

// Parks the goroutine (never the thread) for at least d (time.Sleep). d <= 0 returns at once.
void sleep_for(std::chrono::nanoseconds d);
void sleep_until(Clock::time_point t);

namespace detail {
struct TimerImpl;
}

// A single event (time.Timer): after d, the current time is sent on c() (capacity 1).
class Timer {
 public:
  explicit Timer(std::chrono::nanoseconds d);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  Chan<Clock::time_point> c() const;
  // Prevents the timer from firing; false if it already fired or was stopped (as Go's).
  bool stop();
  // Re-arms it to fire d from now; true if it had been active.
  bool reset(std::chrono::nanoseconds d);

 private:
  detail::TimerImpl* impl_;
};

// A ticker (time.Ticker): sends the time on c() every d, dropping ticks a slow receiver
// misses. d must be positive (else Panic("non-positive interval for NewTicker")).
class Ticker {
 public:
  explicit Ticker(std::chrono::nanoseconds d);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  Chan<Clock::time_point> c() const;
  void stop();
  void reset(std::chrono::nanoseconds d);

 private:
  detail::TimerImpl* impl_;
};

// time.After: a channel that receives the time once, d from now.
Chan<Clock::time_point> after(std::chrono::nanoseconds d);

}  // namespace urgent
