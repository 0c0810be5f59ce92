// tests/sync_test.cc: Mutex, RWMutex, WaitGroup, Once, Cond (Go's sync semantics).
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "test_util.h"

namespace urgent {
namespace {

using test::run_with;

void busy_for_ns(std::int64_t ns) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::nanoseconds(ns)) {
  }
}

class SyncProcs : public testing::TestWithParam<int> {};

TEST_P(SyncProcs, MutexExcludesAndWorksWithLockGuard) {
  constexpr int kG = 2000, kIters = 100;
  long counter = 0;  // deliberately not atomic: the mutex must protect it
  run_with(GetParam(), [&] {
    Mutex mu;
    WaitGroup wg;
    wg.add(kG);
    for (int g = 0; g < kG; g++) {
      urgent::go([&] {
        for (int i = 0; i < kIters; i++) {
          std::lock_guard<Mutex> l(mu);
          long v = counter;
          if (i % 10 == 0) urgent::gosched();  // hold it across a switch
          counter = v + 1;
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(counter, long{kG} * kIters);
}

TEST_P(SyncProcs, WaitGroupWaitsForAllAndIsReusable) {
  run_with(GetParam(), [&] {
    WaitGroup wg;
    for (int round = 0; round < 50; round++) {
      std::atomic<int> done{0};
      wg.add(100);
      for (int i = 0; i < 100; i++) {
        urgent::go([&] {
          urgent::gosched();
          done++;
          wg.done();
        });
      }
      wg.wait();
      ASSERT_EQ(done.load(), 100) << "round " << round;
    }
    wg.wait();  // counter is zero: returns at once
  });
}

TEST_P(SyncProcs, OnceRunsExactlyOnceAndEveryoneWaitsForIt) {
  std::atomic<int> runs{0}, early{0};
  run_with(GetParam(), [&] {
    Once once;
    std::atomic<bool> finished{false};
    WaitGroup wg;
    wg.add(200);
    for (int i = 0; i < 200; i++) {
      urgent::go([&] {
        once.do_once([&] {
          runs++;
          for (int k = 0; k < 50; k++) urgent::gosched();  // let the others pile up
          finished = true;
        });
        if (!finished.load()) early++;  // returned before f did
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(early.load(), 0);
}

TEST_P(SyncProcs, CondBroadcastWakesEveryWaiter) {
  constexpr int kWaiters = 100;
  std::atomic<int> woke{0};
  run_with(GetParam(), [&] {
    Mutex mu;
    Cond cond(mu);
    bool ready = false;
    int waiting = 0;
    WaitGroup wg;
    wg.add(kWaiters);
    for (int i = 0; i < kWaiters; i++) {
      urgent::go([&] {
        std::unique_lock<Mutex> l(mu);
        waiting++;
        while (!ready) cond.wait();
        woke++;
        wg.done();
      });
    }
    for (;;) {  // until all are inside wait()
      {
        std::lock_guard<Mutex> l(mu);
        if (waiting == kWaiters) break;
      }
      urgent::gosched();
    }
    {
      std::lock_guard<Mutex> l(mu);
      ready = true;
    }
    cond.broadcast();
    wg.wait();
  });
  EXPECT_EQ(woke.load(), kWaiters);
}

TEST_P(SyncProcs, CondSignalWakesOneInOrder) {
  std::vector<int> order;
  run_with(GetParam(), [&] {
    Mutex mu;
    Cond cond(mu);
    int tokens = 0, waiting = 0;
    WaitGroup wg;
    wg.add(3);
    for (int i = 0; i < 3; i++) {
      // Queue them one at a time so their order in the notify list is known.
      urgent::go([&, i] {
        std::unique_lock<Mutex> l(mu);
        waiting++;
        while (tokens == 0) cond.wait();
        tokens--;
        order.push_back(i);
        wg.done();
      });
      for (;;) {
        {
          std::lock_guard<Mutex> l(mu);
          if (waiting == i + 1) break;
        }
        urgent::gosched();
      }
    }
    for (int i = 0; i < 3; i++) {
      {
        std::lock_guard<Mutex> l(mu);
        tokens++;
      }
      cond.signal();
      for (;;) {  // wait until that one consumed its token
        {
          std::lock_guard<Mutex> l(mu);
          if (static_cast<int>(order.size()) == i + 1) break;
        }
        urgent::gosched();
      }
    }
    wg.wait();
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Procs, SyncProcs, testing::Values(1, 2));

TEST(WaitGroup, NegativeCounterPanics) {
  std::string what;
  urgent::run([&] {
    WaitGroup wg;
    wg.add(1);
    wg.done();
    try {
      wg.done();
    } catch (const Panic& p) {
      what = p.what();
    }
  });
  EXPECT_EQ(what, "sync: negative WaitGroup counter");
}

TEST(WaitGroupDeathTest, UncaughtNegativeCounterIsAGoPanic) {
  EXPECT_EXIT(urgent::run([] {
                WaitGroup wg;
                wg.done();
              }),
              testing::ExitedWithCode(2), "panic: sync: negative WaitGroup counter");
}

TEST(MutexDeathTest, UnlockOfUnlockedMutexIsFatal) {
  EXPECT_EXIT(urgent::run([] {
                Mutex mu;
                mu.unlock();
              }),
              testing::ExitedWithCode(2), "fatal error: sync: unlock of unlocked mutex");
}

TEST(Mutex, TryLock) {
  bool first = false, second = true, third = false;
  urgent::run([&] {
    Mutex mu;
    first = mu.try_lock();
    second = mu.try_lock();
    mu.unlock();
    third = mu.try_lock();
    mu.unlock();
  });
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_TRUE(third);
}

// Go's starvation mode, scripted on one P so that it happens every time. The waiter queues
// behind the hog and waits 2 ms; the hog's unlock wakes it, but in normal mode the running
// hog takes the mutex again first (barging). The waiter, having waited over 1 ms, switches
// the mutex to starvation mode and queues at the front; the hog's next unlock hands the
// mutex straight to it, and as the last waiter it switches back to normal mode.
TEST(Mutex, StarvationModeEnteredAndLeft) {
  test::ScopedEnv slice("URGENT_TIMESLICE", "10s");  // goroutines switch only where they block
  std::vector<std::string> owners;
  bool starving_while_hog_held = false, starving_at_end = true;
  SchedStats stats;
  run_with(1, [&] {
    Mutex mu;
    std::atomic<bool> waiter_started{false};
    WaitGroup wg;
    wg.add(2);
    urgent::go([&] {  // the hog
      mu.lock();
      urgent::go([&] {  // the waiter
        waiter_started = true;
        mu.lock();  // one P: nothing else runs until it has queued
        owners.push_back("waiter");
        mu.unlock();
        wg.done();
      });
      EXPECT_TRUE(test::yield_until([&] { return waiter_started.load(); }, 1000));
      busy_for_ns(2'000'000);
      mu.unlock();  // wakes the waiter, which has not run yet
      mu.lock();    // barging: the running goroutine wins
      owners.push_back("hog");
      starving_while_hog_held = test::yield_until([&] { return mu.starving(); }, 1000);
      mu.unlock();  // hands off to the waiter
      owners.push_back("hog unlocked");
      wg.done();
    });
    wg.wait();
    stats = sched_stats();
    starving_at_end = mu.starving();
  });
  EXPECT_EQ(owners, (std::vector<std::string>{"hog", "waiter", "hog unlocked"}));
  EXPECT_TRUE(starving_while_hog_held) << "the starved waiter did not switch modes";
  EXPECT_EQ(stats.mutex_starvation, 1u);
  EXPECT_FALSE(starving_at_end) << "the last waiter did not switch back to normal mode";
}

// Once a writer waits, readers that arrive after it wait too (writer preference).
TEST(RWMutex, PendingWriterExcludesNewReaders) {
  std::vector<std::string> events;
  run_with(2, [&] {
    RWMutex rw;
    Mutex log_mu;
    auto log = [&](const char* e) {
      std::lock_guard<Mutex> l(log_mu);
      events.push_back(e);
    };
    std::atomic<bool> writer_waiting{false};
    WaitGroup wg;
    wg.add(2);
    rw.lock_shared();  // main is a reader
    urgent::go([&] {
      writer_waiting = true;
      rw.lock();
      log("writer");
      rw.unlock();
      wg.done();
    });
    while (!writer_waiting.load()) urgent::gosched();
    for (int i = 0; i < 100; i++) urgent::gosched();  // let the writer block in lock()
    urgent::go([&] {
      rw.lock_shared();  // arrives after the writer: must wait for it
      log("late reader");
      rw.unlock_shared();
      wg.done();
    });
    for (int i = 0; i < 100; i++) urgent::gosched();
    log("first reader leaves");
    rw.unlock_shared();
    wg.wait();
  });
  EXPECT_EQ(events, (std::vector<std::string>{"first reader leaves", "writer", "late reader"}));
}

TEST_P(SyncProcs, RWMutexReadersShareWritersExclude) {
  long value = 0;
  std::atomic<int> torn{0};
  run_with(GetParam(), [&] {
    RWMutex rw;
    WaitGroup wg;
    wg.add(60);
    for (int g = 0; g < 60; g++) {
      urgent::go([&, g] {
        for (int i = 0; i < 200; i++) {
          if (g % 6 == 0) {
            std::lock_guard<RWMutex> l(rw);
            long v = value;
            urgent::gosched();
            value = v + 1;
          } else {
            std::shared_lock<RWMutex> l(rw);
            long v = value;
            urgent::gosched();
            if (value != v) torn++;
          }
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(value, 10 * 200);
  EXPECT_EQ(torn.load(), 0);
}

}  // namespace
}  // namespace urgent
