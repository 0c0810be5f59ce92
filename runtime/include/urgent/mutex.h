// urgent/mutex.h: sync.Mutex. Parks goroutines, never threads. BasicLockable and Lockable,
// so std::lock_guard and std::unique_lock work.
#pragma once

#include <atomic>
#include <cstdint>

namespace urgent {

// Go's sync.Mutex, including its two modes. Normal mode: waiters queue FIFO, but a woken
// waiter competes with newly arriving goroutines (which spin a little when that pays:
// several CPUs, other Ps busy, an empty local run queue) and usually loses. A waiter that
// fails to get the mutex for more than 1 ms switches it to starvation mode: ownership is
// then handed directly from the unlocking goroutine to the waiter at the front of the
// queue, and newcomers queue at the tail without spinning. The last waiter, or one that
// waited less than 1 ms, switches it back.
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    std::int32_t unlocked = 0;
    if (state_.compare_exchange_strong(unlocked, kLocked, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock();
  // Unlocking an unlocked Mutex is a fatal error, as in Go.
  void unlock() {
    std::int32_t now = state_.fetch_sub(kLocked, std::memory_order_release) - kLocked;
    if (now != 0) unlock_slow(now);
  }
  // Diagnostics: is it in starvation mode right now?
  bool starving() const { return (state_.load(std::memory_order_relaxed) & kStarving) != 0; }

 private:
  static constexpr std::int32_t kLocked = 1;
  static constexpr std::int32_t kWoken = 2;
  static constexpr std::int32_t kStarving = 4;
  static constexpr int kWaiterShift = 3;
  void lock_slow();
  void unlock_slow(std::int32_t now);
  std::atomic<std::int32_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};
};

}  // namespace urgent
