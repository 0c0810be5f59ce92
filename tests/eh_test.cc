// tests/eh_test.cc: C++ exception state belongs to the goroutine, not to the thread.
//
// libstdc++ keeps the stack of caught exceptions and the count of uncaught ones per thread
// (the Itanium ABI's __cxa_eh_globals). A goroutine that switches inside a catch block (an
// urgent call that parks, a gosched, an async preemption) must find its own exception when
// it resumes, on whichever thread; `throw;` must rethrow it; std::uncaught_exceptions()
// must count its own unwinding only.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>

#include "test_util.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

struct Named : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How a goroutine gives up its thread inside a catch block.
enum class Switch { kSleep, kGosched, kChannel };

void give_up_thread(Switch how, Chan<int>& ping, Chan<int>& pong) {
  switch (how) {
    case Switch::kSleep: sleep_for(20us); break;
    case Switch::kGosched: gosched(); break;
    case Switch::kChannel:
      ping.send(1);  // a partner goroutine answers: we park until it does
      pong.recv();
      break;
  }
}

class CaughtException : public testing::TestWithParam<std::tuple<int, Switch>> {};

// Goroutines throw their own exceptions, switch inside the catch block, then read what()
// and rethrow with `throw;`: each must see its own exception every time.
TEST_P(CaughtException, SurvivesASwitchInsideTheCatchBlock) {
  auto [procs, how] = GetParam();
  constexpr int kGoroutines = 8, kRounds = 300;
  std::atomic<int> wrong_what{0}, wrong_rethrow{0}, rounds{0};
  test::run_with(procs, [&] {
    Chan<int> ping, pong;
    WaitGroup wg;
    wg.add(kGoroutines + 1);
    go([&] {  // the partner of Switch::kChannel
      for (int i = 0; how == Switch::kChannel && i < kGoroutines * kRounds; i++) {
        ping.recv();
        pong.send(1);
      }
      wg.done();
    });
    for (int g = 0; g < kGoroutines; g++) {
      go([&, g] {
        for (int r = 0; r < kRounds; r++) {
          std::string mine = "goroutine " + std::to_string(g) + " round " + std::to_string(r);
          try {
            try {
              throw Named(mine);
            } catch (const Named& e) {
              give_up_thread(how, ping, pong);
              if (e.what() != mine) wrong_what++;
              throw;
            }
          } catch (const Named& e) {
            if (e.what() != mine) wrong_rethrow++;
          }
          rounds++;
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(rounds.load(), kGoroutines * kRounds);
  EXPECT_EQ(wrong_what.load(), 0);
  EXPECT_EQ(wrong_rethrow.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(ProcsAndSwitches, CaughtException,
                         testing::Combine(testing::Values(1, 2),
                                          testing::Values(Switch::kSleep, Switch::kGosched,
                                                          Switch::kChannel)));

// The same with no call at all inside the catch block: only an async preemption switches.
TEST(CaughtException, SurvivesAsyncPreemptionInsideTheCatchBlock) {
  URGENT_REQUIRE_ASYNC_PREEMPTION();  // the spinners would keep main off every P
  test::ScopedEnv slice("URGENT_TIMESLICE", "50us");
  constexpr int kGoroutines = 4;
  std::atomic<int> wrong{0}, rounds{0};
  std::atomic<bool> stop{false};
  std::uint64_t async = 0;
  test::run_with(2, [&] {
    WaitGroup wg;
    wg.add(kGoroutines);
    for (int g = 0; g < kGoroutines; g++) {
      go([&, g] {
        std::string mine = "goroutine " + std::to_string(g);
        while (!stop.load(std::memory_order_relaxed)) {
          try {
            throw Named(mine);
          } catch (const Named& e) {
            // Spin about a slice with no calls: the signal preempts us right here.
            for (int i = 0; i < 200'000; i++) asm volatile("");
            if (e.what() != mine) wrong++;
          }
          rounds++;
        }
        wg.done();
      });
    }
    sleep_for(300ms);
    stop.store(true);
    wg.wait();
    async = sched_stats().preempt_async;
  });
  if (async == 0) GTEST_SKIP() << "no asynchronous preemption happened (async preemption off?)";
  EXPECT_GT(rounds.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

// std::uncaught_exceptions() is per goroutine: a destructor that runs during unwinding and
// switches sees 1 before and after, while goroutines that are not unwinding see 0.
TEST(UncaughtExceptions, CountsTheGoroutinesOwnUnwinding) {
  struct SwitchesWhileUnwinding {
    std::atomic<int>* wrong;
    ~SwitchesWhileUnwinding() {
      if (std::uncaught_exceptions() != 1) (*wrong)++;
      for (int i = 0; i < 20; i++) {
        gosched();
        if (std::uncaught_exceptions() != 1) (*wrong)++;
      }
    }
  };
  for (int procs : {1, 2}) {
    std::atomic<int> wrong_unwinding{0}, wrong_others{0};
    std::atomic<bool> done{false};
    test::run_with(procs, [&] {
      WaitGroup wg;
      wg.add(3);
      for (int k = 0; k < 2; k++) {
        go([&] {
          while (!done.load()) {
            if (std::uncaught_exceptions() != 0) wrong_others++;
            gosched();
          }
          wg.done();
        });
      }
      go([&] {
        for (int r = 0; r < 200; r++) {
          try {
            SwitchesWhileUnwinding s{&wrong_unwinding};
            throw Named("unwind");
          } catch (const Named&) {
          }
        }
        done.store(true);
        wg.done();
      });
      wg.wait();
    });
    EXPECT_EQ(wrong_unwinding.load(), 0) << "GOMAXPROCS=" << procs;
    EXPECT_EQ(wrong_others.load(), 0) << "GOMAXPROCS=" << procs;
  }
}

// urgent::run called inside a catch block: the thread's own caught exception is still
// there when run returns, whatever its goroutines caught and rethrew meanwhile.
TEST(CaughtException, ThreadsOwnExceptionSurvivesRun) {
  std::string seen, rethrown;
  try {
    try {
      throw Named("the thread's own");
    } catch (const Named& e) {
      test::run_with(2, [] {
        WaitGroup wg;
        wg.add(4);
        for (int g = 0; g < 4; g++) {
          go([&wg] {
            for (int r = 0; r < 50; r++) {
              try {
                throw Named("goroutine's");
              } catch (const Named&) {
                gosched();
              }
            }
            wg.done();
          });
        }
        try {
          throw Named("main goroutine's");
        } catch (const Named&) {
          wg.wait();  // main parks inside its catch block too
        }
      });
      seen = e.what();
      throw;
    }
  } catch (const Named& e) {
    rethrown = e.what();
  }
  EXPECT_EQ(seen, "the thread's own");
  EXPECT_EQ(rethrown, "the thread's own");
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

}  // namespace
}  // namespace urgent
