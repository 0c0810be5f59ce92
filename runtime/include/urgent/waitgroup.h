// urgent/waitgroup.h: sync.WaitGroup.
#pragma once

#include <atomic>
#include <cstdint>

namespace urgent {

// Waits for a collection of goroutines to finish. add(n) before starting them, done() in
// each, wait() to block until the counter is zero. A negative counter throws
// urgent::Panic("sync: negative WaitGroup counter"); reusing it before a wait() returned
// throws Go's misuse panics too. Reusable once wait() has returned.
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(int delta);
  void done() { add(-1); }
  void wait();

 private:
  std::atomic<std::uint64_t> state_{0};  // high 32 bits: counter; low 32: waiters
  std::atomic<std::uint32_t> sema_{0};
};

}  // namespace urgent
