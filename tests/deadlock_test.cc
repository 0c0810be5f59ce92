// tests/deadlock_test.cc: Go's checkdead. When no goroutine can ever run again the program
// says so, lists the goroutines, and exits with status 2 (death tests: child processes).
#include <gtest/gtest.h>
#include <urgent/urgent.h>

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
