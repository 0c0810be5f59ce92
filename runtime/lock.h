// runtime/lock.h: the runtime's own locks and one-shot notes, on Linux futexes.
//
// These are Go's lock_futex.go primitives. They block the *M* (the OS thread), never park a
// goroutine, so they are for short runtime critical sections only. Code holding one must
// not switch goroutines.
#pragma once

#include <atomic>
#include <cstdint>

#include "tsa.h"

namespace urgent::rt {

// A futex mutex with Go's three states: 0 unlocked, 1 locked, 2 locked with sleepers.
// Lock spins briefly (PAUSE, then sched_yield) before sleeping, like Go's lock2.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() {
    // Speculative grab for the uncontended case (inlined: it is on every scheduling path).
    std::uint32_t v = key_.exchange(1, std::memory_order_acquire);
    if (v != 0) lock_slow(v);
  }
  void unlock() RELEASE() {
    std::uint32_t v = key_.exchange(0, std::memory_order_release);
    if (v != 1) unlock_slow(v);
  }
  bool try_lock() ACQUIRE(true);

 private:
  void lock_slow(std::uint32_t v);
  void unlock_slow(std::uint32_t v);
  std::atomic<std::uint32_t> key_{0};
};

// RAII holder for a Mutex.
class URGENT_TSA(scoped_lockable) LockGuard {
 public:
  explicit LockGuard(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~LockGuard() RELEASE() { mu_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Mutex& mu_;
};

// A one-shot event for one sleeper (Go's note): sleep() blocks the calling thread until
// wakeup(); clear() re-arms it. Exactly one thread may sleep on a note at a time.
class Note {
 public:
  void clear() { key_.store(0, std::memory_order_relaxed); }
  void wakeup();
  void sleep();
  // Sleeps at most `ns` nanoseconds; returns true if woken, false on timeout.
  bool sleep_for(std::int64_t ns);

 private:
  std::atomic<std::uint32_t> key_{0};
};

// Thin futex wrappers shared by Mutex and Note.
void futex_sleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns);
void futex_wake(std::atomic<std::uint32_t>* addr, int count);

// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, the clock bpf_ktime_get_ns reads).
std::int64_t nanotime();

// A spin-wait hint (PAUSE) repeated `cycles` times.
void procyield(int cycles);

}  // namespace urgent::rt
