// tests/time_test.cc: sleep, Timer, Ticker, after on the per-P timer heaps.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;
using test::run_with;

double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

class TimeProcs : public testing::TestWithParam<int> {};

TEST_P(TimeProcs, SleepersWakeInDeadlineOrderAndNotEarly) {
  std::vector<int> order;
  std::vector<bool> early;
  run_with(GetParam(), [&] {
    Mutex mu;
    WaitGroup wg;
    wg.add(3);
    for (int ms : {30, 10, 20}) {
      urgent::go([&, ms] {
        auto t0 = Clock::now();
        sleep_for(std::chrono::milliseconds(ms));
        bool too_early = Clock::now() - t0 < std::chrono::milliseconds(ms);
        {
          std::lock_guard<Mutex> l(mu);
          order.push_back(ms);
          early.push_back(too_early);
        }
        wg.done();  // after the unlock: once wg.wait() returns, mu is gone
      });
    }
    wg.wait();
  });
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
  EXPECT_EQ(early, (std::vector<bool>{false, false, false}));
}

TEST_P(TimeProcs, ManyTimers) {
  URGENT_SKIP_UNDER_TSAN_MANY_GOROUTINES();
  constexpr int kG = 10000;
  std::atomic<int> woke{0};
  run_with(GetParam(), [&] {
    WaitGroup wg;
    wg.add(kG);
    for (int i = 0; i < kG; i++) {
      urgent::go([&, i] {
        sleep_for(std::chrono::microseconds(100 * (i % 200)));
        woke++;
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(woke.load(), kG);
}

// An idle runtime waiting for a timer sleeps in the kernel: it does not poll.
TEST(Time, IdleSleepBurnsNoCpu) {
  double used = 0;
  run_with(2, [&] {
    double c0 = cpu_seconds();
    sleep_for(300ms);
    used = cpu_seconds() - c0;
  });
  EXPECT_LT(used, 0.1) << "CPU seconds used while sleeping 0.3 s";
}

TEST(Time, TimerFiresStopsAndResets) {
  std::vector<int> r;
  run_with(2, [&] {
    Timer t(5ms);
    auto fired = t.c().recv();
    r.push_back(fired.has_value());
    r.push_back(t.stop());  // already fired
    Timer u(50ms);
    r.push_back(u.stop());  // stopped in time
    sleep_for(80ms);
    r.push_back(u.c().try_recv().has_value());  // so nothing was sent
    r.push_back(u.reset(5ms));                  // was not active
    r.push_back(u.c().recv().has_value());
  });
  EXPECT_EQ(r, (std::vector<int>{1, 0, 1, 0, 0, 1}));
}

TEST(Time, StopResetRaceWithFiring) {
  // Timers that fire while being stopped or reset: no crash, no lost or double delivery.
  std::atomic<int> bad{0};
  run_with(2, [&] {
    WaitGroup wg;
    wg.add(200);
    for (int g = 0; g < 200; g++) {
      urgent::go([&, g] {
        Timer t(std::chrono::microseconds(g % 50));
        for (int i = 0; i < 20; i++) {
          if (i % 2) {
            t.stop();
          } else {
            t.reset(std::chrono::microseconds(i * 3));
          }
        }
        t.reset(1ms);
        if (!t.c().recv()) bad++;
        if (t.c().try_recv()) bad++;  // at most one value buffered, and we took it
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(bad.load(), 0);
}

TEST(Time, TickerTicksAndAfterFires) {
  int ticks = 0;
  bool after_fired = false;
  run_with(2, [&] {
    Ticker tk(5ms);
    auto deadline = after(60ms);
    for (;;) {
      bool done = false;
      urgent::select(case_recv(tk.c(), [&] { ticks++; }),
                     case_recv(deadline, [&] { done = after_fired = true; }));
      if (done) break;
    }
    tk.stop();
  });
  EXPECT_TRUE(after_fired);
  EXPECT_GE(ticks, 3);
  EXPECT_LE(ticks, 13);
}

// The timer lives on the heap of a P whose goroutine never yields; another P runs it.
TEST(Time, TimersOnABusyPStillFire) {
  bool fired = false;
  run_with(2, [&] {
    std::atomic<bool> go_on{false};
    WaitGroup wg;
    wg.add(1);
    urgent::go([&] {
      Chan<int> done(1);
      urgent::go([&, done]() mutable {
        sleep_for(5ms);  // its timer is on this P...
        go_on = true;
        done.send(1);
      });
      auto t0 = Clock::now();
      urgent::gosched();  // let the sleeper arm its timer here
      while (!go_on.load() && Clock::now() - t0 < 5s) {
        // ...which this goroutine keeps busy without yielding
      }
      fired = go_on.load();
      done.recv();
      wg.done();
    });
    wg.wait();
  });
  EXPECT_TRUE(fired);
}

// Tickers whose period is shorter than a tick's delivery, destroyed while ticking at
// GOMAXPROCS=2 with both Ps running timers (their owners' scheduler and thieves): the
// destructor returns only when no tick is being delivered (ASan: no use after free).
TEST(Time, TickerDestroyedWhileTickingOnTwoPs) {
  int got = 0;
  run_with(2, [&] {
    std::atomic<bool> stop{false};
    WaitGroup wg;
    wg.add(2);
    for (int i = 0; i < 2; i++) {
      urgent::go([&] {
        while (!stop.load()) urgent::gosched();  // schedules: runs timers, steals
        wg.done();
      });
    }
    for (int i = 0; i < 2000; i++) {
      Ticker tk(std::chrono::nanoseconds(1 + i % 2000));
      if (tk.c().recv()) got++;
    }
    stop.store(true);
    wg.wait();
  });
  EXPECT_EQ(got, 2000);
}

// Go's contract for Stop: true means the timer will not fire, so its channel stays empty.
TEST(Time, StoppedTimerNeverDelivers) {
  std::atomic<int> delivered_after_stop{0}, stopped{0};
  run_with(2, [&] {
    WaitGroup wg;
    wg.add(100);
    for (int g = 0; g < 100; g++) {
      urgent::go([&, g] {
        for (int i = 0; i < 50; i++) {
          Timer t(std::chrono::microseconds((g + i) % 20));
          for (int k = 0; k < (g * 7 + i) % 5; k++) urgent::gosched();
          if (t.stop()) {
            stopped++;
            sleep_for(30us);
            if (t.c().try_recv()) delivered_after_stop++;
          }
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_GT(stopped.load(), 0);
  EXPECT_EQ(delivered_after_stop.load(), 0);
}

// Go's time arithmetic saturates: a duration too large to add to the clock means "never",
// not "at once", and a periodic timer that far away does not wrap around and spin.
TEST(Time, HugeDurationsMeanNeverNotNow) {
  using ns = std::chrono::nanoseconds;
  std::vector<std::string> fired;
  bool others_ran = false;
  run_with(2, [&] {
    std::atomic<int> woke{0};
    Ticker tk(ns::max());
    Timer t(ns::max());
    Chan<Clock::time_point> a = after(ns::max());
    auto [ctx, cancel] = with_timeout(Context::background(), ns::max());
    urgent::go([&] {
      sleep_for(ns::max());
      woke++;
    });
    urgent::go([&] {
      sleep_until(Clock::time_point::max());
      woke++;
    });
    for (int i = 0; i < 20; i++) sleep_for(1ms);  // other timers keep firing meanwhile
    others_ran = true;
    if (tk.c().try_recv()) fired.push_back("Ticker");
    if (t.c().try_recv()) fired.push_back("Timer");
    if (a.try_recv()) fired.push_back("after");
    if (ctx.err() != ContextError::kNone) fired.push_back("with_timeout");
    if (woke.load() != 0) fired.push_back("sleep");
    if (!t.stop()) fired.push_back("Timer.stop");
    cancel();
  });
  EXPECT_TRUE(others_ran);
  EXPECT_EQ(fired, std::vector<std::string>{});
}

// The other end: a duration far in the past means "now", without overflow.
TEST(Time, HugeNegativeDurationsMeanNow) {
  using ns = std::chrono::nanoseconds;
  int fired = 0;
  run_with(1, [&] {
    sleep_for(ns::min());
    sleep_until(Clock::time_point::min());
    Timer t(ns::min());
    fired += t.c().recv().has_value();
    fired += after(ns::min()).recv().has_value();
    auto [ctx, cancel] = with_timeout(Context::background(), ns::min());
    fired += ctx.err() == ContextError::kDeadlineExceeded;
    cancel();
  });
  EXPECT_EQ(fired, 3);
}

TEST(Time, SleepingMainIsNotADeadlock) {
  int ok = 0;
  run_with(1, [&] {
    sleep_for(20ms);
    ok = 1;
  });
  EXPECT_EQ(ok, 1);
}

INSTANTIATE_TEST_SUITE_P(Procs, TimeProcs, testing::Values(1, 2));

}  // namespace
}  // namespace urgent
