// tests/blocking_test.cc: system calls from the scheduler's point of view (urgent::blocking,
// entersyscall/exitsyscall, handoffp), urgent::sys, the thread limit and sysmon.
//
// No wall-clock thresholds: the tests assert orderings (B ran before A's call returned) and
// counters (which exit path a call took), which only a scheduler bug can change.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urgent/urgent.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "proc.h"
#include "test_util.h"

extern char** environ;

namespace urgent {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using test::Pipe;

// Writes one byte to fd from an OS thread outside the runtime after `after`.
std::thread write_later(int fd, std::chrono::milliseconds after) {
  return std::thread([fd, after] {
    std::this_thread::sleep_for(after);
    if (::write(fd, "x", 1) != 1) std::abort();
  });
}

// Writes one byte to fd once `ready` is set, or after 10 s (a bound only a frozen P reaches):
// a reader blocked on fd returns only after the event, however loaded the machine is.
std::thread write_once(int fd, const std::atomic<bool>& ready) {
  return std::thread([fd, &ready] {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!ready.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (::write(fd, "x", 1) != 1) std::abort();
  });
}

// The seed scenario: at GOMAXPROCS=1, A blocks in read(2); B, made runnable meanwhile, runs
// before A's read returns (sysmon hands A's P to another M), and A continues afterwards
// with its byte, written once B has run (write_once).
TEST(Syscall, BlockedReadDoesNotFreezeItsP) {
  Pipe p;
  std::atomic<bool> b_has_run{false};
  std::thread writer = write_once(p.w, b_has_run);
  Clock::time_point b_ran{}, a_returned{};
  char got = 0;
  bool a_continued = false;
  SchedStats before{}, after{};
  test::run_with(1, [&] {
    before = sched_stats();
    WaitGroup wg;
    wg.add(2);
    urgent::go([&] {    // A
      urgent::go([&] {  // B: runnable while A blocks; only another M can run it
        b_ran = Clock::now();
        b_has_run = true;
        wg.done();
      });
      ssize_t r = blocking([&] { return ::read(p.r, &got, 1); });
      a_returned = Clock::now();
      a_continued = r == 1;
      wg.done();
    });
    wg.wait();
    after = sched_stats();
  });
  writer.join();
  EXPECT_TRUE(a_continued);
  EXPECT_EQ(got, 'x');
  EXPECT_LT(b_ran, a_returned) << "B waited for A's system call";
  EXPECT_GE(test::retakes(after) - test::retakes(before), 1u);
  EXPECT_GE(after.syscalls - before.syscalls, 1u);
}

// blocking_handoff gives the P away at entry (Go's entersyscallblock): one handoff per call,
// and the others run while it blocks.
TEST(Syscall, BlockingHandoffHandsThePOffAtOnce) {
  Pipe p;
  std::atomic<bool> b_has_run{false};
  std::thread writer = write_once(p.w, b_has_run);
  Clock::time_point b_ran{}, a_returned{};
  SchedStats before{}, after{};
  test::run_with(1, [&] {
    WaitGroup wg;
    wg.add(2);
    before = sched_stats();
    urgent::go([&] {
      urgent::go([&] {
        b_ran = Clock::now();
        b_has_run = true;
        wg.done();
      });
      char c;
      EXPECT_EQ(blocking_handoff([&] { return ::read(p.r, &c, 1); }), 1);
      a_returned = Clock::now();
      wg.done();
    });
    wg.wait();
    after = sched_stats();
  });
  writer.join();
  EXPECT_LT(b_ran, a_returned);
  EXPECT_EQ(after.handoffs_block - before.handoffs_block, 1u);
}

// A million short calls: each gets its own P back (the fast path), no thread is created and
// no P handed off. Retake cannot fire here by Go's rule: the run queue is empty and the
// other P is idle, so a P in a syscall is left alone for 10 ms, far longer than getpid.
TEST(Syscall, ShortCallsCreateNoThreadsAndNoHandoffs) {
  constexpr std::uint64_t kCalls = 1'000'000;
  SchedStats before{}, after{};
  long pid = 0;
  test::run_with(2, [&] {
    for (int i = 0; i < 1000; i++) blocking([] { return ::syscall(SYS_getpid); });  // warm-up
    before = sched_stats();
    for (std::uint64_t i = 0; i < kCalls; i++) pid = blocking([] { return ::syscall(SYS_getpid); });
    after = sched_stats();
  });
  EXPECT_EQ(pid, ::getpid());
  EXPECT_EQ(after.syscalls - before.syscalls, kCalls);
  // No spare M ever takes the P of a call that did not sleep. sysmon's 10 ms backstop may
  // take it from a call whose thread the kernel kept off the CPU that long (Go's rule;
  // seen under the 50 µs storm with URGENT_HANDOFF=perf, a few times in a million calls):
  // each such call returns without its P, nothing else does.
  std::uint64_t backstop = after.handoffs - before.handoffs;
  EXPECT_EQ(after.handoffs_activated - before.handoffs_activated, 0u);
  EXPECT_LE(backstop, kCalls / 50'000);
  EXPECT_EQ(after.syscall_exit_fast - before.syscall_exit_fast, kCalls - backstop);
  EXPECT_EQ(after.syscall_exit_idle_p + after.syscall_exit_slow,
            before.syscall_exit_idle_p + before.syscall_exit_slow + backstop);
  // (With URGENT_HANDOFF=perf|bpf sysmon starts one spare M, perhaps during the loop; a
  // backstop handoff may start an M too.)
  EXPECT_LE(after.threads_created, before.threads_created +
                                       (std::string(after.handoff) == "poll" ? 0 : 1) + backstop);
}

// Its P was retaken (after the 10 ms grace: the other P is idle) and every P is idle when
// the call returns: exitsyscall takes an idle P without parking.
TEST(Syscall, ExitTakesAnIdlePWhenItsOwnWasRetaken) {
  Pipe p;
  std::thread writer = write_later(p.w, 40ms);
  SchedStats before{}, after{};
  test::run_with(2, [&] {
    before = sched_stats();
    WaitGroup wg;
    wg.add(1);
    urgent::go([&] {
      char c;
      EXPECT_EQ(blocking([&] { return ::read(p.r, &c, 1); }), 1);
      wg.done();
    });
    wg.wait();  // main parks: both Ps are idle when the read returns
    after = sched_stats();
  });
  writer.join();
  EXPECT_GE(test::retakes(after) - test::retakes(before), 1u);
  EXPECT_GE(after.syscall_exit_idle_p - before.syscall_exit_idle_p, 1u);
}

// No P at all when the call returns (B keeps the only one busy until A has run again): the
// goroutine goes to the global run queue and its thread parks; errno survives the trip.
TEST(Syscall, ExitWithoutAPQueuesTheGoroutineAndKeepsErrno) {
  SchedStats before{}, after{};
  ssize_t r = 0;
  int err = 0;
  test::run_with(1, [&] {
    before = sched_stats();
    std::atomic<bool> a_back{false};
    WaitGroup wg;
    wg.add(2);
    urgent::go([&] {    // A: blocks 20 ms, then fails with EBADF
      urgent::go([&] {  // B: never lets the P go idle until A is back
        while (!a_back.load()) urgent::gosched();
        wg.done();
      });
      r = blocking([] {
        // 20 ms, EINTR or not (a timer trigger interrupts a call once at its slice's end:
        // URGENT_PREEMPT=timer, runtime/trigger.cc).
        auto end = std::chrono::steady_clock::now() + 20ms;
        for (auto now = end - 20ms; now < end; now = std::chrono::steady_clock::now()) {
          ::poll(nullptr, 0, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(end - now).count()));
        }
        return ::read(-1, nullptr, 0);
      });
      err = errno;
      a_back = true;
      wg.done();
    });
    wg.wait();
    after = sched_stats();
  });
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EBADF);
  EXPECT_GE(test::retakes(after) - test::retakes(before), 1u);
  EXPECT_GE(after.syscall_exit_slow - before.syscall_exit_slow, 1u);
}

TEST(Syscall, ErrnoOfAFastCallIsTheCallsErrno) {
  int err = 0;
  test::run_with(1, [&] {
    errno = 0;
    EXPECT_EQ(blocking([] { return ::close(-1); }), -1);
    err = errno;
  });
  EXPECT_EQ(err, EBADF);
}

TEST(Syscall, OutsideAGoroutineBlockingJustCalls) {
  EXPECT_EQ(blocking([] { return 42; }), 42);
  EXPECT_EQ(blocking_handoff([] { return std::string("x"); }), "x");
  EXPECT_EQ(sched_stats().syscalls, 0u);
}

// urgent::sys: libc's signatures and conventions.
TEST(Sys, FileCallsWork) {
  char dir[] = "/tmp/urgent-sys-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/f";
  test::run_with(2, [&] {
    int fd = sys::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(sys::write(fd, "hello world", 11), 11);
    EXPECT_EQ(sys::pwrite(fd, "W", 1, 6), 1);
    EXPECT_EQ(sys::fsync(fd), 0);
    char buf[16] = {};
    EXPECT_EQ(sys::pread(fd, buf, 5, 6), 5);
    EXPECT_STREQ(buf, "World");
    ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
    std::memset(buf, 0, sizeof buf);
    EXPECT_EQ(sys::read(fd, buf, sizeof buf), 11);
    EXPECT_STREQ(buf, "hello World");
    EXPECT_EQ(sys::close(fd), 0);
    errno = 0;
    EXPECT_EQ(sys::open((std::string(dir) + "/missing").c_str(), O_RDONLY), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(sys::read(-1, buf, 1), -1);
    EXPECT_EQ(errno, EBADF);
  });
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(Sys, WaitpidReapsAChild) {
  pid_t got = 0;
  int status = 0;
  pid_t child = 0;
  test::run_with(2, [&] {
    char sh[] = "/bin/sh", c[] = "-c", cmd[] = "sleep 0.02; exit 7";
    char* argv[] = {sh, c, cmd, nullptr};
    ASSERT_EQ(posix_spawn(&child, "/bin/sh", nullptr, nullptr, argv, environ), 0);
    // Other goroutines keep running while main waits for the child.
    std::atomic<int> ticks{0};
    urgent::go([&] {
      while (ticks.load() >= 0) {
        ticks++;
        urgent::gosched();
      }
    });
    got = sys::waitpid(child, &status, 0);
    EXPECT_GT(ticks.exchange(-1000000), 0);
  });
  EXPECT_EQ(got, child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(Sys, ThreadSleepSleepsTheThread) {
  Clock::duration slept{};
  int bad = 0, bad_errno = 0;
  test::run_with(1, [&] {
    auto t0 = Clock::now();
    EXPECT_EQ(sys::thread_sleep(5ms), 0);
    slept = Clock::now() - t0;
    bad = sys::thread_sleep(-1ms);
    bad_errno = errno;
  });
  EXPECT_GE(slept, 5ms);
  EXPECT_EQ(bad, -1);
  EXPECT_EQ(bad_errno, EINVAL);
}

TEST(Sys, GetaddrinfoNumericHost) {  // numeric only: this machine has no DNS
  int r = -1;
  std::string ip;
  test::run_with(1, [&] {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    r = sys::getaddrinfo("127.0.0.1", "80", &hints, &res);
    if (r == 0) {
      char buf[64];
      ::getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
      ip = buf;
      ::freeaddrinfo(res);
    }
    addrinfo* none = nullptr;
    EXPECT_EQ(sys::getaddrinfo("not-a-number", "80", &hints, &none), EAI_NONAME);
  });
  EXPECT_EQ(r, 0);
  EXPECT_EQ(ip, "127.0.0.1");
}

// More Ms than the limit: Go's message and fatal error. Each blocking_handoff needs a new M
// for the P it hands off.
TEST(SyscallDeathTest, ThreadLimitIsFatal) {
  EXPECT_EXIT(
      {
        set_max_threads(4);
        test::run_with(1, [] {
          Pipe* p = new Pipe;  // nobody writes: every reader blocks for good
          for (int i = 0; i < 8; i++) {
            urgent::go([p] {
              char c;
              blocking_handoff([&] { return ::read(p->r, &c, 1); });
            });
          }
          for (;;) urgent::sleep_for(1ms);
        });
      },
      testing::ExitedWithCode(2),
      "runtime: program exceeds 4-thread limit\nfatal error: thread exhaustion");
}

TEST(Syscall, SetMaxThreadsReturnsThePreviousLimit) {
  int old = set_max_threads(500);
  EXPECT_EQ(old, 10000);
  EXPECT_EQ(set_max_threads(old), 500);
}

// sysmon's backoff: 20 µs while it has just retaken something, doubling after 50 ticks that
// did nothing, up to 10 ms; asleep while every P is idle.
TEST(Sysmon, BacksOffWhileNothingNeedsIt) {
  test::ScopedEnv slice("URGENT_TIMESLICE", "10ms");  // Go's backoff, at Go's time slice
  std::int64_t grown = 0;
  std::uint64_t ticks = 0, idle_sleeps = 0;
  bool polling = true;
  test::run_with(1, [&] {
    polling = std::string(sched_stats().handoff) == "poll";
    // Busy without system calls: sysmon ticks, never retakes, so it backs off.
    auto give_up = Clock::now() + 10s;
    while (Clock::now() < give_up) {
      grown = sched_stats().sysmon_delay_us;
      if (grown > 20) break;
      urgent::gosched();
    }
    ticks = sched_stats().sysmon_ticks;  // since the run started (sysmon ticks before main)
    // Every P idle: sysmon sleeps until the timer is due instead of ticking.
    std::uint64_t sleeps0 = sched_stats().sysmon_idle_sleeps;
    urgent::sleep_for(50ms);
    idle_sleeps = sched_stats().sysmon_idle_sleeps - sleeps0;
  });
  EXPECT_GT(grown, 20);
  EXPECT_LE(grown, 10'000);
  if (polling) {
    EXPECT_GT(ticks, 50u);  // 50 ticks of 20 µs before it backs off
  } else {
    EXPECT_EQ(grown, 5'000);  // the kernel watches calls: half a slice from the start
  }
  EXPECT_GE(idle_sleeps, 1u);
}

// sysmon sleeps while every P is idle; a P that gets busy again wakes it. Here the runtime
// idles until I/O readies a goroutine that spins without calls: only sysmon can preempt it
// or poll the network for a second goroutine readied by I/O. (Without the wakeup sysmon
// slept on, up to a minute; with it the second goroutine runs within a slice or two.)
TEST(Sysmon, WakesWhenAnIdleRuntimeGetsBusyAgain) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();  // only a signal gets the spinner off its P
  int first_fds[2], second_fds[2];
  ASSERT_EQ(::pipe2(first_fds, O_CLOEXEC | O_NONBLOCK), 0);
  ASSERT_EQ(::pipe2(second_fds, O_CLOEXEC | O_NONBLOCK), 0);
  std::atomic<bool> second_ran{false};
  std::atomic<bool> spinner_gave_up{false};
  std::thread io;
  test::run_with(1, [&] {
    File first = File::adopt(first_fds[0]), second = File::adopt(second_fds[0]);
    WaitGroup wg;
    wg.add(2);
    urgent::go([&] {
      char b;
      first.read(&b, 1);
      // Spin with no calls at all (a clock read would sit in the vdso, where nothing is
      // preempted), for some seconds at most.
      for (long i = 0; i < 10'000'000'000 && !second_ran.load(std::memory_order_relaxed); i++) {
      }
      spinner_gave_up = !second_ran.load();
      wg.done();
    });
    urgent::go([&] {
      char b;
      second.read(&b, 1);
      second_ran = true;
      wg.done();
    });
    // From outside the runtime: once sysmon sleeps (every P idle), ready the spinner, then
    // the other one.
    io = std::thread([&] {
      while (!rt::sched.sysmonwait_hint.load()) std::this_thread::sleep_for(1ms);
      if (::write(first_fds[1], "x", 1) != 1) std::abort();
      std::this_thread::sleep_for(5ms);
      if (::write(second_fds[1], "x", 1) != 1) std::abort();
    });
    wg.wait();
  });
  io.join();
  for (int fd : {first_fds[1], second_fds[1]}) ::close(fd);
  EXPECT_TRUE(second_ran.load());
  EXPECT_FALSE(spinner_gave_up.load()) << "the second goroutine waited for the spinner";
}

// A goroutine in a system call can still run: no deadlock while main waits for it.
TEST(Syscall, GoroutineInASyscallIsNotADeadlock) {
  Pipe p;
  std::thread writer = write_later(p.w, 30ms);
  int got = 0;
  int status = test::run_with(1, [&] {
    Chan<int> c;
    urgent::go([&] {
      char b;
      blocking([&] { return ::read(p.r, &b, 1); });
      c.send(7);
    });
    got = *c.recv();
    return 0;
  });
  writer.join();
  EXPECT_EQ(status, 0);
  EXPECT_EQ(got, 7);
}

// ... but once the call has returned and everyone waits on channels, it is one.
TEST(SyscallDeathTest, DeadlockAfterTheSyscallReturnsIsReported) {
  EXPECT_EXIT(test::run_with(1,
                             [] {
                               Chan<int> never;
                               urgent::go([never]() mutable {
                                 blocking([] { return ::poll(nullptr, 0, 20); });
                                 never.recv();
                               });
                               never.recv();
                             }),
              testing::ExitedWithCode(2),
              "fatal error: all goroutines are asleep - deadlock!(.|\n)*"
              "goroutine 1 \\[chan receive\\]:(.|\n)*goroutine 2 \\[chan receive\\]:");
}

}  // namespace
}  // namespace urgent
