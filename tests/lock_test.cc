// tests/lock_test.cc: the runtime's own locks and waits (lock.h), white-box.
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "lock.h"
#include "sanitizer.h"

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

rt::Note interruptible_note;
void interrupt_note(int) { interruptible_note.interrupt(); }

// A parked spare's sleep ends with no system call after its handler's sigreturn, even
// though urgent's handlers are SA_RESTART (lock.h, sleep_interruptible): the sleeper's
// system calls from its sleep to its return are counted by the kernel (the raw_syscalls
// sys_enter tracepoint as a counting perf event on that thread, root): the futex wait and
// rt_sigreturn, not a restarted futex wait after them.
TEST(Note, SleepInterruptibleEndsAtTheHandlerWithoutARestartedWait) {
  int id = -1;
  std::ifstream("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id") >> id;
  if (id < 0) std::ifstream("/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id") >> id;
  if (id < 0 || geteuid() != 0) GTEST_SKIP() << "needs root and tracefs";
  if (rt::kTsan) GTEST_SKIP() << "ThreadSanitizer defers handlers and makes calls of its own";
  struct sigaction sa {}, old{};
  sa.sa_handler = interrupt_note;
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  interruptible_note.clear();
  std::atomic<pid_t> tid{0};
  std::atomic<int> phase{0};  // 1: sleep now; 2: slept; 3: may exit
  std::thread sleeper([&] {
    tid.store(static_cast<pid_t>(gettid()));
    while (phase.load() != 1) {  // (no system call until counted)
    }
    interruptible_note.sleep_interruptible();
    phase.store(2);
    while (phase.load() != 3) {
    }
  });
  while (tid.load() == 0) std::this_thread::yield();
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = static_cast<std::uint64_t>(id);
  int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, tid.load(), -1, -1, 0));
  if (fd < 0) {
    phase.store(1);
    interruptible_note.wakeup();
    phase.store(3);
    sleeper.join();
    sigaction(SIGUSR2, &old, nullptr);
    GTEST_SKIP() << "perf_event_open(raw_syscalls:sys_enter): " << std::strerror(errno);
  }
  phase.store(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // (asleep in its futex wait)
  tgkill(getpid(), tid.load(), SIGUSR2);
  while (phase.load() != 2) std::this_thread::yield();
  std::uint64_t calls = 0;
  ASSERT_EQ(read(fd, &calls, sizeof calls), static_cast<ssize_t>(sizeof calls));
  phase.store(3);
  sleeper.join();
  close(fd);
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_TRUE(interruptible_note.interrupted());
  // futex wait + rt_sigreturn (or, had the signal come before the wait, rt_sigreturn only).
  EXPECT_GE(calls, 1u);
  EXPECT_LE(calls, 2u) << "the futex wait was restarted after the handler";
}

}  // namespace
}  // namespace urgent
