// tests/deadlock_test.cc: Go's checkdead. When no goroutine can ever run again the program
// says so, lists the goroutines, and exits with status 2 (death tests: child processes).
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "sysmon.h"
#include "test_util.h"

namespace urgent {
namespace {

class DeadlockDeathTest : public testing::TestWithParam<int> {};

TEST_P(DeadlockDeathTest, MainBlockedOnAChannel) {
  EXPECT_EXIT(test::run_with(GetParam(),
                             [] {
                               Chan<int> c;
                               c.recv();
                             }),
              testing::ExitedWithCode(2),
              "fatal error: all goroutines are asleep - deadlock!\n\n"
              "goroutine 1 \\[chan receive\\]:");
}

TEST_P(DeadlockDeathTest, EveryGoroutineBlockedOnAMutex) {
  EXPECT_EXIT(test::run_with(GetParam(),
                             [] {
                               Mutex mu;
                               mu.lock();
                               for (int i = 0; i < 3; i++) urgent::go([&] { mu.lock(); });
                               for (int i = 0; i < 100; i++) urgent::gosched();
                               mu.lock();  // and main too: nobody will ever unlock it
                             }),
              testing::ExitedWithCode(2),
              "fatal error: all goroutines are asleep - deadlock!(.|\n)*"
              "goroutine 1 \\[sync.Mutex.Lock\\]:(.|\n)*goroutine [0-9]+ \\[sync.Mutex.Lock\\]:");
}

TEST_P(DeadlockDeathTest, NilChannelAndEmptySelect) {
  EXPECT_EXIT(test::run_with(GetParam(),
                             [] {
                               urgent::go([] { urgent::select(); });
                               Chan<int>(nullptr).send(1);
                             }),
              testing::ExitedWithCode(2),
              "all goroutines are asleep - deadlock!(.|\n)*chan send \\(nil chan\\)");
}

INSTANTIATE_TEST_SUITE_P(Procs, DeadlockDeathTest, testing::Values(1, 2));

// sysmon's netpoll takes main off the poller, then (the hook widens the window) the only
// other goroutine ends and its M goes idle before sysmon has queued main: not a deadlock.
TEST(DeadlockDeathTest, SysmonsHarvestInFlightIsNotADeadlock) {
  EXPECT_EXIT(
      {
        test::ScopedEnv slice("URGENT_TIMESLICE", "10s");  // nobody preempts the spinner
        rt::sysmon_netpoll_hook = [] { usleep(200'000); };
        int got = test::run_with(1, [] {
          auto [r, w] = urgent::pipe();
          std::thread([fd = w.fd()] {
            usleep(5'000);
            if (::write(fd, "x", 1) != 1) std::abort();
          }).detach();
          go([] {  // keeps the only M from polling for 50 ms, so sysmon polls
            auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
            while (std::chrono::steady_clock::now() < end) {
            }
          });
          char b;
          return r.read(&b, 1) == 1 && b == 'x' ? 0 : 3;
        });
        std::exit(got);
      },
      testing::ExitedWithCode(0), "");
}

// Not deadlocks: goroutines blocked while another keeps running, then everything finishes.
TEST(Deadlock, NoFalseAlarmWhileSomeoneRuns) {
  int got = 0;
  test::run_with(2, [&] {
    Chan<int> c;
    urgent::go([&] {
      for (int i = 0; i < 200; i++) urgent::gosched();
      c.send(42);
    });
    got = *c.recv();
  });
  EXPECT_EQ(got, 42);
}

}  // namespace
}  // namespace urgent
