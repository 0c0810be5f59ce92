// tests/dump_test.cc: goroutine dumps. SIGQUIT prints Go's dump (every goroutine with its
// wait reason and, for switched-out goroutines, a native stack) and exits with status 2,
// unless the program handles SIGQUIT itself; fatal errors list parked goroutines' stacks too.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "proc.h"
#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

// Goroutines parked for three different reasons, then SIGQUIT from kill(2).
void park_three_and_quit() {
  Chan<int> c;
  auto mu = std::make_shared<Mutex>();
  mu->lock();
  go([c]() mutable { c.recv(); });
  go([] { sleep_for(1h); });
  go([mu] { mu->lock(); });
  sleep_for(20ms);  // let them park
  // Under ThreadSanitizer a signal reaches its handler only when the thread it went to
  // enters one of TSan's interceptors; an idle M asleep in a raw futex call would take it
  // after main's 10 s sleep. There it is sent to this thread, running goroutine 1.
  if (rt::kTsan) {
    raise(SIGQUIT);
  } else {
    kill(getpid(), SIGQUIT);
  }
  sleep_for(10s);  // the handler exits the process first
}

TEST(DumpDeathTest, SigquitPrintsEveryGoroutineWithItsStack) {
  EXPECT_EXIT(test::run_with(2, park_three_and_quit), testing::ExitedWithCode(2),
              // kill(2) is SI_USER (0); raise under TSan SI_TKILL (-6), printed unsigned as
              // Go prints it
              std::string("SIGQUIT: quit\nPC=0x[0-9a-f]+ m=[0-9]+ sigcode=") +
                  (rt::kTsan ? "18446744073709551610" : "0") + "\n\n"
              // main raised it: running if the signal came at once, else asleep after it
              "goroutine 1 \\[(running|sleep)\\]:\n(.|\n)*"
              "goroutine [0-9]+ \\[chan receive\\]:\n[^\n]*\\+0x[0-9a-f]+(.|\n)*"
              "goroutine [0-9]+ \\[sleep\\]:\n(.|\n)*sleep_for(.|\n)*"
              "goroutine [0-9]+ \\[sync.Mutex.Lock\\]:\n(.|\n)*semacquire(.|\n)*created by "
              "goroutine 1");
}

// The dump reads the goroutine list without its lock: a SIGQUIT that lands while the thread
// allocates a goroutine (newG holds allglock) still dumps. (It deadlocked on that lock: the
// watchdog thread ends such a child with status 3 instead of 2; an alarm would not, the
// handler blocks SIGALRM.)
TEST(DumpDeathTest, SigquitWhileTheGoroutineListIsLockedStillDumps) {
  EXPECT_EXIT(test::run_with(1,
                             [] {
                               go([] { sleep_for(1h); });
                               gosched();
                               std::thread([] {
                                 std::this_thread::sleep_for(10s);
                                 _exit(3);
                               }).detach();
                               rt::LockGuard hold(rt::allglock);
                               raise(SIGQUIT);  // handled on this thread, right here
                             }),
              testing::ExitedWithCode(2),
              "SIGQUIT: quit\nPC=0x[0-9a-f]+ m=[0-9]+ sigcode=[0-9]+\n\n"
              "goroutine 1 \\[running\\]:\n(.|\n)*goroutine 2 \\[(runnable|sleep)\\]:");
}

std::atomic<int> quits{0};
void count_quit(int) {
  quits.fetch_add(1);
}

TEST(Dump, ProgramsOwnSigquitHandlerGetsItInstead) {
  struct sigaction sa, old;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_quit;
  sigaction(SIGQUIT, &sa, &old);
  bool got = false;
  test::run_with(2, [&] {
    kill(getpid(), SIGQUIT);
    got = test::yield_until([] { return quits.load() > 0; });
  });
  sigaction(SIGQUIT, &old, nullptr);
  EXPECT_TRUE(got);
}

TEST(DumpDeathTest, FatalErrorShowsParkedGoroutinesStacks) {
  EXPECT_EXIT(test::run_with(1,
                             [] {
                               Chan<int> c;
                               go([c]() mutable { c.send(1); });
                               Chan<int> never;
                               never.recv();
                             }),
              testing::ExitedWithCode(2),
              "fatal error: all goroutines are asleep - deadlock!(.|\n)*"
              "goroutine [0-9]+ \\[chan send\\]:\n[^\n]*\\+0x[0-9a-f]+");
}

}  // namespace
}  // namespace urgent
