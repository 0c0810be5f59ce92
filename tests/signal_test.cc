// tests/signal_test.cc: the program's own signals and handlers, next to the runtime's.
//
// A handler installed with a plain sigaction (no SA_ONSTACK) runs on the goroutine's stack.
// Its signal frame holds the thread's mask and sigaltstack, which rt_sigreturn puts back on
// whatever thread executes it: so a goroutine must never be preempted inside such a
// handler (it would finish it on another M). These tests interrupt goroutines with such
// handlers under a preemption storm and check what only that bug breaks: a thread left with
// the signal blocked (raise() to self no longer delivered), an M running on another M's
// sigaltstack, the scheduler's own state.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <optional>
#include <string>
#include <thread>

#include "proc.h"
#include "test_util.h"

extern "C" {
int urgent_test_idiv(int a, int b);
std::uint64_t urgent_test_load(const void* p);
}

namespace urgent {
namespace {

using namespace std::chrono_literals;

std::atomic<long> handled{0};

// A handler that runs long enough (about two 50 µs slices) for SIGURG to land inside it,
// with no calls: its pc is the program's own code, where a goroutine is preemptible.
void slow_handler(int) {
  handled.fetch_add(1, std::memory_order_relaxed);
  for (long i = 0; i < 300'000; i++) asm volatile("");
}

// Installs slow_handler for SIGUSR1 with the given flags (0: the default sigaction, which
// runs it on the interrupted stack) for the scope; restores the old action after.
class ScopedHandler {
 public:
  explicit ScopedHandler(int flags) {
    struct sigaction sa {};
    sa.sa_handler = slow_handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old_);
    handled.store(0);
  }
  ~ScopedHandler() { sigaction(SIGUSR1, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// Every M still runs on its own sigaltstack: checked from goroutines on whichever Ms they
// land on (a NoPreempt scope keeps the M and the check together).
int foreign_sigaltstacks(int rounds) {
  int bad = 0;
  for (int i = 0; i < rounds; i++) {
    {
      NoPreempt np;
      stack_t ss{};
      sigaltstack(nullptr, &ss);
      if (ss.ss_sp != rt::getm()->sigaltstack_mem) bad++;
    }
    gosched();
  }
  return bad;
}

class HandlerOnTheGoroutineStack : public testing::TestWithParam<int> {};

// Goroutines raise SIGUSR1 at themselves while a 50 µs storm preempts them: every signal is
// handled (a thread whose handler was finished elsewhere keeps SIGUSR1 blocked forever),
// and the handler's runs are where the storm's signals are deferred.
TEST_P(HandlerOnTheGoroutineStack, IsNeverPreemptedInside) {
  test::ScopedEnv slice("URGENT_TIMESLICE", "50us");
  ScopedHandler h(GetParam());
  constexpr int kGoroutines = 4, kRaises = 150;
  std::atomic<long> raised{0};
  int bad_altstacks = 0;
  std::uint64_t deferred = 0;
  bool async = false;
  test::run_with(2, [&] {
    async = async_preemption();
    WaitGroup wg;
    wg.add(kGoroutines);
    for (int g = 0; g < kGoroutines; g++) {
      go([&] {
        for (int i = 0; i < kRaises; i++) {
          raise(SIGUSR1);  // tgkill to this thread: handled before raise returns
          raised++;
        }
        wg.done();
      });
    }
    wg.wait();
    bad_altstacks = foreign_sigaltstacks(200);
    deferred = sched_stats().preempt_deferred_signal;
  });
  EXPECT_EQ(handled.load(), raised.load());
  EXPECT_EQ(bad_altstacks, 0);
  if (async) {
    EXPECT_GT(deferred, 0u);
  }
}

// 0: the default sigaction (the handled signal is blocked in the handler); SA_NODEFER: the
// mask does not change, only the frame on the stack tells.
INSTANTIATE_TEST_SUITE_P(Flags, HandlerOnTheGoroutineStack, testing::Values(0, SA_NODEFER));

// A process-directed storm: a plain thread kill()s the process while goroutines work; the
// kernel picks any thread that does not block SIGUSR1, so handlers interrupt goroutines
// anywhere. The workload completes and the scheduler stays consistent.
TEST(HandlerOnTheGoroutineStack, ProcessDirectedStormDuringAWorkload) {
  test::ScopedEnv slice("URGENT_TIMESLICE", "50us");
  ScopedHandler h(0);
  std::atomic<bool> stop{false};
  long sum = 0, rounds = 0;
  int bad_altstacks = 0;
  std::thread storm([&] {
    sigset_t usr1;  // delivered to the Ms only, not to this thread
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
    while (!stop.load()) {
      kill(getpid(), SIGUSR1);
      std::this_thread::sleep_for(50us);
    }
  });
  test::run_with(2, [&] {
    // Work until the storm's handlers have run a thousand times (or 5 s).
    auto deadline = Clock::now() + 5s;
    while (handled.load() < 1000 && Clock::now() < deadline) {
      Chan<long> c;
      WaitGroup wg;
      wg.add(4);
      go([&] {
        for (long i = 1; i <= 2'000; i++) c.send(i);
        c.close();
        wg.done();
      });
      go([&] {
        for (auto v : c) sum += v;
        wg.done();
      });
      for (int k = 0; k < 2; k++) {
        go([&] {  // spinners the storm preempts
          for (long i = 0; i < 2'000'000; i++) asm volatile("");
          wg.done();
        });
      }
      wg.wait();
      rounds++;
    }
    bad_altstacks = foreign_sigaltstacks(200);
  });
  stop.store(true);
  storm.join();
  EXPECT_EQ(sum, rounds * (2'000L * 2'001 / 2));
  EXPECT_EQ(bad_altstacks, 0);
  EXPECT_GE(handled.load(), 1000);
}

// ---- crash signals: Go's reports, exit status 2 ----

// AddressSanitizer and ThreadSanitizer handle the crash signals themselves (urgent then
// passes the signal on to them): for the child of these death tests, they leave them to
// urgent.
class CrashReport : public testing::Test {
 protected:
  CrashReport() {
    for (const char* var : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
      std::string opts = std::getenv(var) ? std::getenv(var) : "";
      env_.emplace_back(var, (opts + ":handle_segv=0:handle_sigbus=0:handle_sigfpe=0:"
                                     "handle_sigill=0:handle_abort=0")
                                 .c_str());
    }
  }
  std::list<test::ScopedEnv> env_;
};
using CrashReportDeathTest = CrashReport;

// A goroutine crashes with `body` while another one is parked in a channel receive.
template <class F>
void crash_in_a_goroutine(F body) {
  test::run_with(2, [body] {
    Chan<int> never;
    go([never]() mutable { never.recv(); });
    Chan<int> done;
    go([body, done]() mutable {
      body();
      done.send(1);
    });
    done.recv();
  });
}

int zero = 0;  // a divisor the compiler cannot see

TEST_F(CrashReportDeathTest, IntegerDivideByZeroIsGosPanic) {
  EXPECT_EXIT(crash_in_a_goroutine([] { std::printf("%d\n", urgent_test_idiv(1, zero)); }),
              testing::ExitedWithCode(2),
              "^panic: runtime error: integer divide by zero\n"
              "\\[signal SIGFPE: floating-point exception code=0x1 addr=0x[0-9a-f]+ "
              "pc=0x[0-9a-f]+\\]\n\n"
              "goroutine [0-9]+ \\[running\\]:\n[^\n]*urgent_test_idiv");
}

TEST_F(CrashReportDeathTest, NilDereferenceIsGosPanic) {
  EXPECT_EXIT(crash_in_a_goroutine([] { std::printf("%lu\n", urgent_test_load(nullptr)); }),
              testing::ExitedWithCode(2),
              "^panic: runtime error: invalid memory address or nil pointer dereference\n"
              "\\[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x[0-9a-f]+\\]\n\n"
              "goroutine [0-9]+ \\[running\\]:\n[^\n]*urgent_test_load");
}

// (code 0x1 SEGV_MAPERR, or 0x2 SEGV_ACCERR where the address is reserved: ASan keeps its
// shadow gap there.)
TEST_F(CrashReportDeathTest, FaultAtAnotherAddressIsAFatalFaultListingEveryGoroutine) {
  EXPECT_EXIT(
      crash_in_a_goroutine([] {
        std::printf("%lu\n", urgent_test_load(reinterpret_cast<const void*>(0xdead0000)));
      }),
      testing::ExitedWithCode(2),
      "^unexpected fault address 0xdead0000\nfatal error: fault\n"
      "\\[signal SIGSEGV: segmentation violation code=0x[12] addr=0xdead0000 pc=0x[0-9a-f]+\\]\n\n"
      "goroutine [0-9]+ \\[running\\]:\n(.|\n)*goroutine [0-9]+ \\[chan receive\\]:");
}

TEST_F(CrashReportDeathTest, IllegalInstructionShowsItsBytesAndTheRegisters) {
  EXPECT_EXIT(crash_in_a_goroutine([] { __builtin_trap(); }), testing::ExitedWithCode(2),
              "^SIGILL: illegal instruction\nPC=0x[0-9a-f]+ m=[0-9]+ sigcode=2\n"
              "instruction bytes: 0xf 0xb( 0x[0-9a-f]+)*\n\n"
              "goroutine [0-9]+ \\[running\\]:\n(.|\n)*"
              "goroutine [0-9]+ \\[chan receive\\]:(.|\n)*"
              "\nrax    0x[0-9a-f]+\n(.|\n)*\nrip    0x[0-9a-f]+\nrflags 0x[0-9a-f]+\n");
}

TEST_F(CrashReportDeathTest, AbortListsEveryGoroutine) {
  EXPECT_EXIT(crash_in_a_goroutine([] { std::abort(); }), testing::ExitedWithCode(2),
              "^SIGABRT: abort\nPC=0x[0-9a-f]+ m=[0-9]+ sigcode=[0-9]+\n\n"
              "goroutine [0-9]+ \\[running\\]:\n(.|\n)*"
              "goroutine [0-9]+ \\[chan receive\\]:");
}

// raise(SIGSEGV) is a signal sent, not a fault: si_addr holds the sender's pid, not an address.
TEST_F(CrashReportDeathTest, RaisedSigsegvIsReportedAsSentNotAsAFault) {
  EXPECT_EXIT(crash_in_a_goroutine([] { raise(SIGSEGV); }), testing::ExitedWithCode(2),
              "^SIGSEGV: segmentation violation\nPC=0x[0-9a-f]+ m=[0-9]+ "
              "sigcode=18446744073709551610\n\ngoroutine [0-9]+ \\[running\\]:");
}

// Sent to a program that ignores it, a crash signal stays ignored.
TEST(CrashReport, IgnoredSignalSentWithKillStaysIgnored) {
  struct sigaction ign {}, old {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGTRAP, &ign, &old);
  bool survived = false;
  test::run_with(1, [&] {
    raise(SIGTRAP);
    survived = true;
  });
  sigaction(SIGTRAP, &old, nullptr);
  EXPECT_TRUE(survived);
}

}  // namespace
}  // namespace urgent
