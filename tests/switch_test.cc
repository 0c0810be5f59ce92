// tests/switch_test.cc: the goroutine switch (proc.cc), white-box.
//
// urgent runs the scheduler on the stack of the goroutine that gives up the CPU. While it
// does, the M is in its scheduler: the goroutine is still the M's current goroutine, and
// the scheduler runs code that may live in the program's own text (timer callbacks, inline
// functions the linker took from the program). These tests check that nothing can preempt
// a goroutine inside its own switch, and that the scheduler never overflows the stack of a
// goroutine that has little left.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>

#include "proc.h"
#include "test_util.h"
#include "timer.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

// A timer callback in the program's own code (preemptible by its pc) that spins for
// several 50 µs slices and notes whether anything else ran on its M meanwhile: its P's
// schedtick moved, or it finished on another M. Either means the goroutine that ran the
// callback in its scheduler was preempted inside it.
std::atomic<long> callbacks{0}, switched_inside{0};
bool spinning_callback(void*, std::int64_t) {
  rt::M* m = rt::getm();
  std::uint32_t tick = m->p->schedtick;
  for (long i = 0; i < 400'000; i++) asm volatile("");
  rt::M* now = rt::getm();
  if (now != m || now->p->schedtick != tick) switched_inside++;
  callbacks++;
  return false;
}

TEST(Switch, NeverPreemptedInsideItsOwnScheduler) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();  // the spinners must be preempted
  test::ScopedEnv slice("URGENT_TIMESLICE", "50us");
  constexpr int kRounds = 200;
  callbacks = 0;
  switched_inside = 0;
  std::atomic<bool> stop{false};
  test::run_with(2, [&] {
    WaitGroup wg;
    constexpr int kSpinners = 3;  // the global queue is never empty: a preempted goroutine waits
    wg.add(kSpinners + 1);
    for (int k = 0; k < kSpinners; k++) {
      go([&] {
        while (!stop.load()) {
          for (int i = 0; i < 10'000; i++) asm volatile("");
        }
        wg.done();
      });
    }
    go([&] {
      for (int r = 0; r < kRounds; r++) {
        long before = callbacks.load();  // (before arming it: see dive_and_schedule)
        rt::Timer t;
        t.f = spinning_callback;
        t.when = rt::nanotime();  // due: this goroutine's next gosched runs it
        rt::addtimer(&t);
        auto deadline = Clock::now() + 10s;  // (a broken scheduler loses the timer)
        while (callbacks.load() == before && Clock::now() < deadline) gosched();
        rt::deltimer(&t);
      }
      stop.store(true);
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(callbacks.load(), kRounds);
  EXPECT_EQ(switched_inside.load(), 0);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr std::uintptr_t kLeft = 24 * 1024;  // ASan's frames of gosched itself are larger
#else
constexpr std::uintptr_t kLeft = 8 * 1024;
#endif

// A timer callback that needs more stack than the goroutine below has left: a stand-in for
// every deep path of the scheduler (netpoll's event array, stealing, the tracer).
std::atomic<long> deep_callbacks{0};
bool deep_callback(void*, std::int64_t) {
  volatile char frame[48 * 1024];
  frame[0] = 1;
  frame[sizeof frame - 1] = frame[0];
  deep_callbacks++;
  return false;
}

// Recurses until only kLeft bytes of the goroutine's stack are left, then schedules: with a
// due timer whose callback is deep, it yields; it parks on a channel while a goroutine waits
// on the poller (findRunnable polls the network); it sleeps.
[[gnu::noinline]] int dive_and_schedule(std::uintptr_t limit, Chan<int>& ping, Chan<int>& pong) {
  volatile char frame[256];
  frame[0] = 1;
  if (reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) > limit) {
    return dive_and_schedule(limit, ping, pong) + frame[0];
  }
  for (int i = 0; i < 20; i++) {
    // (Counted before the timer is armed: addtimer wakes the idle M, whose steal pass may
    // run our P's timers at once; counted after, the loop below waited for a second run
    // that never came, and hung about one run in two.)
    long before = deep_callbacks.load();
    rt::Timer t;
    t.f = deep_callback;
    t.when = rt::nanotime();
    rt::addtimer(&t);
    // The scheduler runs it, not on our stack.
    auto deadline = Clock::now() + 10s;  // (a broken scheduler loses the timer)
    while (deep_callbacks.load() == before && Clock::now() < deadline) gosched();
    rt::deltimer(&t);
    ping.send(i);  // the partner answers: we park
    pong.recv();
    sleep_for(10us);
  }
  return frame[0];
}

TEST(Switch, SchedulerNeedsNoStackOfTheGoroutineGivingUpTheCpu) {
  int depth_ok = 0;
  deep_callbacks = 0;
  test::run_with(2, [&] {
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    File waiter = File::adopt(efd);
    WaitGroup wg;
    wg.add(2);
    go([&] {  // parked on the poller until the end
      char buf[8];
      try {
        waiter.read(buf, sizeof buf);
      } catch (const std::system_error&) {
      }
      wg.done();
    });
    Chan<int> ping, pong;
    go([&] {
      for (int i = 0; i < 20; i++) {
        ping.recv();
        pong.send(i);
      }
      wg.done();
    });
    Chan<int> done;
    go([&, done]() mutable {
      depth_ok = dive_and_schedule(rt::getg()->stack_lo + kLeft, ping, pong);
      done.send(1);
    });
    done.recv();
    std::uint64_t one = 1;
    EXPECT_EQ(::write(efd, &one, sizeof one), 8);
    wg.wait();
  });
  EXPECT_GT(depth_ok, 0);
  EXPECT_EQ(deep_callbacks.load(), 20);
}

}  // namespace
}  // namespace urgent
