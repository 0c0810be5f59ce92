// urgent/once.h: sync.Once.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "urgent/mutex.h"

namespace urgent {

// Runs f exactly once among all calls of do_once on this Once; every call returns only after
// that one call of f has returned. If f throws, it counts as done (as a Go panic would).
class Once {
 public:
  template <class F>
  void do_once(F&& f) {
    if (done_.load(std::memory_order_acquire) == 0) slow(std::forward<F>(f));
  }

 private:
  template <class F>
  void slow(F&& f) {
    mu_.lock();
    if (done_.load(std::memory_order_relaxed) == 0) {
      struct Finish {
        Once* o;
        ~Finish() {
          o->done_.store(1, std::memory_order_release);
          o->mu_.unlock();
        }
      } finish{this};
      std::forward<F>(f)();
      return;
    }
    mu_.unlock();
  }
  std::atomic<std::uint32_t> done_{0};
  Mutex mu_;
};

}  // namespace urgent
