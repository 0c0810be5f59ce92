// tests/lock_test.cc: the runtime's own locks and waits (lock.h), white-box.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "lock.h"

namespace urgent {
namespace {

// Runs f on a thread pinned to `cpu` with the given policy and priority; false (and f not
// run) if the thread may not have them (no CAP_SYS_NICE).
template <class F>
bool run_pinned(int cpu, int policy, int prio, F f, std::thread* out) {
  std::atomic<int> ok{-1};
  *out = std::thread([=, &ok] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_param sp{};
    sp.sched_priority = prio;
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0 ||
        pthread_setschedparam(pthread_self(), policy, &sp) != 0) {
      ok.store(0);
      return;
    }
    ok.store(1);
    f();
  });
  while (ok.load() < 0) std::this_thread::yield();
  if (ok.load() == 0) {
    out->join();
    return false;
  }
  return true;
}

// A waiter that spins for a thread it cannot sleep on (a goroutine's M finishing its
// switch: waitSaved; a spinlock's holder) must let that thread run even when it outranks
// it on the same CPU: a SCHED_FIFO waiter pinned with a SCHED_OTHER setter. Spinning and
// sched_yield never give the CPU to the lower class; only the backoff's naps do. (Without
// them the setter runs only once the kernel's real-time throttling stops the waiter, after
// 0.95 s of every second (sched_rt_runtime_us); with them, the 20 rounds take about a
// millisecond. The bound sits between, 500 times above the good case.)
TEST(SpinBackoff, LetsALowerPriorityThreadOnTheSameCpuRun) {
  constexpr int kRounds = 20;
  std::atomic<int> flag{0};
  sem_t go_on;
  sem_init(&go_on, 0, 0);
  std::thread setter, waiter;
  ASSERT_TRUE(run_pinned(0, SCHED_OTHER, 0,
                         [&] {
                           for (int i = 1; i <= kRounds; i++) {
                             while (sem_wait(&go_on) != 0) {
                             }
                             flag.store(i);
                           }
                         },
                         &setter));
  auto start = std::chrono::steady_clock::now();
  std::atomic<int> done{0};
  bool fifo = run_pinned(0, SCHED_FIFO, 1,
                         [&] {
                           for (int i = 1; i <= kRounds; i++) {
                             sem_post(&go_on);  // the setter is runnable, but below us
                             for (rt::SpinBackoff b; flag.load() != i;) b.wait();
                             done.store(i);
                           }
                         },
                         &waiter);
  if (!fifo) {
    for (int i = 0; i < kRounds; i++) sem_post(&go_on);
    setter.join();
    GTEST_SKIP() << "no permission for SCHED_FIFO";
  }
  waiter.join();
  setter.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(done.load(), kRounds);
  EXPECT_LT(seconds, 0.5) << "the waiter kept the setter off its CPU";
}

}  // namespace
}  // namespace urgent
