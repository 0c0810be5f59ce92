// tests/test_util.h: helpers shared by the runtime tests.
#pragma once

#include <urgent/urgent.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "proc.h"

namespace urgent::test {

// Runs main under urgent::run with GOMAXPROCS=procs (the environment is how a program
// configures the runtime, so that is what the tests exercise).
template <class F>
int run_with(int procs, F&& main) {
  const char* old = std::getenv("GOMAXPROCS");
  std::string saved = old ? old : "";
  setenv("GOMAXPROCS", std::to_string(procs).c_str(), 1);
  int status = urgent::run(std::forward<F>(main));
  if (old) {
    setenv("GOMAXPROCS", saved.c_str(), 1);
  } else {
    unsetenv("GOMAXPROCS");
  }
  return status;
}

// Yields until pred() holds; false if it did not within `max_yields` (a generous bound that
// only a real bug exhausts: the tests assert on the result instead of hanging).
template <class Pred>
bool yield_until(Pred pred, long max_yields = 100'000'000) {
  for (long i = 0; i < max_yields; i++) {
    if (pred()) return true;
    urgent::gosched();
  }
  return pred();
}

// Parks one goroutine until `n` others called done(), like a Go WaitGroup (urgent's own
// comes with the sync primitives), built on the runtime's gopark/goready so that the
// waiter is off the run queues meanwhile, as in Go.
class Countdown {
 public:
  explicit Countdown(int n) : left_(n) {}
  void done() {
    if (left_.fetch_sub(1) != 1) return;
    finished_.store(true);
    if (parked_.exchange(false)) rt::goready(waiter_);
  }
  void wait() {
    waiter_ = rt::getg();
    rt::gopark(
        [](rt::G*, void* self) {
          auto* c = static_cast<Countdown*>(self);
          c->parked_.store(true);
          // If the last done() already ran and did not see us parked, don't park.
          if (c->finished_.load() && c->parked_.exchange(false)) return false;
          return true;
        },
        this, rt::WaitReason::kTestPark);
  }

 private:
  std::atomic<int> left_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> parked_{false};
  rt::G* waiter_ = nullptr;
};

}  // namespace urgent::test
