// tests/timer_test.cc: the runtime timer's life cycle (timer.cc), white-box.
//
// A timer's callback runs on whichever M holds a P and looks at the timer's heap: the
// heap's owner in its scheduler, or a thief on its last steal pass. These tests play both
// parts at once (two goroutines on two Ps calling checkTimers on the same heap) and check
// the guarantees the timer's users build on: a callback never runs twice at once, and once
// deltimer returns it is not running and never runs again, so the owner may free the timer.
#include <gtest/gtest.h>
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "lock.h"
#include "proc.h"
#include "test_util.h"
#include "timer.h"

namespace urgent {
namespace {

using namespace std::chrono_literals;

struct Probe {
  rt::Timer t;
  std::atomic<int> active{0};           // callbacks running now
  std::atomic<int> overlapping{0};      // callbacks that started while another ran
  std::atomic<int> after_delete{0};     // callbacks that started after deltimer returned
  std::atomic<bool> deleted{false};
  std::atomic<long> runs{0};
};

void busy(std::int64_t ns) {
  std::int64_t end = rt::nanotime() + ns;
  while (rt::nanotime() < end) {
  }
}

bool probe_callback(void* arg, std::int64_t) {
  auto* p = static_cast<Probe*>(arg);
  if (p->active.fetch_add(1) != 0) p->overlapping++;
  if (p->deleted.load()) p->after_delete++;
  p->runs++;
  busy(3'000);  // long enough for the other runner to reach the same timer
  p->active.fetch_sub(1);
  return false;
}

// Two goroutines (at GOMAXPROCS=2, usually one per P) run the timers of one heap as fast as
// they can, as its owner and a thief would, until stop.
class TwoRunners {
 public:
  explicit TwoRunners(WaitGroup* wg) : wg_(wg) {
    wg_->add(2);
    for (int i = 0; i < 2; i++) {
      go([this] {
        while (!stop_.load()) {
          if (rt::P* pp = heap_.load()) rt::checkTimers(pp, rt::nanotime());
          gosched();
        }
        wg_->done();
      });
    }
  }
  // Arms t (when and period set) and makes its heap the one both runners run.
  void arm(rt::Timer* t) {
    rt::addtimer(t);
    heap_.store(t->pp);
  }
  void stop() {
    stop_.store(true);
    wg_->wait();
  }

 private:
  WaitGroup* wg_;
  std::atomic<bool> stop_{false};
  std::atomic<rt::P*> heap_{nullptr};
};

// A periodic timer whose callback outlasts its period: it is due again while it runs, and
// both runners see it. It must never run twice at once, and deltimer must wait for the run
// in progress and stop the next ones.
TEST(RuntimeTimer, PeriodicCallbackNeverOverlapsItselfAndStopsAtDeltimer) {
  constexpr int kTimers = 200;
  int overlapping = 0, after_delete = 0, active_at_delete = 0;
  long runs = 0;
  test::run_with(2, [&] {
    std::vector<std::unique_ptr<Probe>> probes;
    WaitGroup wg;
    TwoRunners runners(&wg);
    for (int i = 0; i < kTimers; i++) {
      auto p = std::make_unique<Probe>();
      p->t.f = probe_callback;
      p->t.arg = p.get();
      p->t.period = 1'000;  // 1 µs: always due again before the 3 µs callback returns
      p->t.when = rt::nanotime();
      runners.arm(&p->t);
      while (p->runs.load() < 3) gosched();
      rt::deltimer(&p->t);
      active_at_delete += p->active.load() != 0;
      p->deleted.store(true);
      probes.push_back(std::move(p));
    }
    sleep_for(2ms);  // give stray runs a chance to show
    runners.stop();
    for (auto& p : probes) {
      overlapping += p->overlapping.load();
      after_delete += p->after_delete.load();
      runs += p->runs.load();
    }
  });
  EXPECT_GE(runs, 3L * kTimers);
  EXPECT_EQ(overlapping, 0);
  EXPECT_EQ(active_at_delete, 0);
  EXPECT_EQ(after_delete, 0);
}

// A one-shot timer deleted while its callback runs: deltimer reports it already fired
// (false) and returns only after the callback did.
TEST(RuntimeTimer, DeltimerOfARunningOneShotWaitsForItsCallback) {
  constexpr int kTimers = 300;
  int fired_twice = 0, active_at_delete = 0, pending_and_ran = 0;
  test::run_with(2, [&] {
    WaitGroup wg;
    TwoRunners runners(&wg);
    for (int i = 0; i < kTimers; i++) {
      Probe p;
      p.t.f = probe_callback;
      p.t.arg = &p;
      p.t.when = rt::nanotime();
      runners.arm(&p.t);
      while (p.runs.load() == 0 && p.active.load() == 0) {
      }
      bool pending = rt::deltimer(&p.t);
      active_at_delete += p.active.load() != 0;
      pending_and_ran += pending && p.runs.load() != 0;
      busy(10'000);
      fired_twice += p.runs.load() > 1;
    }
    runners.stop();
  });
  EXPECT_EQ(active_at_delete, 0);
  EXPECT_EQ(pending_and_ran, 0);
  EXPECT_EQ(fired_twice, 0);
}

}  // namespace
}  // namespace urgent
