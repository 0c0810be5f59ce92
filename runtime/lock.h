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

// Runtime locks the calling thread holds (Go counts them in m.locks). The SIGURG handler
// never preempts a goroutine whose thread holds one: the lock may be held by code outside
// the runtime's own section (an out-of-line helper shared with user code), and the
// preemption path takes sched.lock. Counted before a lock is taken and after it is
// released, with compiler barriers, so the handler (same thread) never sees a held lock
// with a zero count. A plain thread-local: one `inc %fs:...` per lock.
extern thread_local constinit int tls_locks_held;

inline void locks_held_inc() {
  tls_locks_held++;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}
inline void locks_held_dec() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_locks_held--;
}

// A futex mutex with Go's three states: 0 unlocked, 1 locked, 2 locked with sleepers.
// Lock spins briefly (PAUSE, then sched_yield) before sleeping, like Go's lock2.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() {
    locks_held_inc();
    // Speculative grab for the uncontended case (inlined: it is on every scheduling path).
    std::uint32_t v = key_.exchange(1, std::memory_order_acquire);
    if (v != 0) lock_slow(v);
  }
  void unlock() RELEASE() {
    std::uint32_t v = key_.exchange(0, std::memory_order_release);
    if (v != 1) unlock_slow(v);
    locks_held_dec();
  }
  bool try_lock() ACQUIRE(true);

 private:
  void lock_slow(std::uint32_t v);
  void unlock_slow(std::uint32_t v);
  std::atomic<std::uint32_t> key_{0};
};

// A test-and-test-and-set spinlock for the scheduler's hottest, shortest critical sections
// (the global run queue and G free list: pointer copies). Its unlock is a plain release
// store, where a futex Mutex needs a locked exchange to learn whether anyone sleeps: on
// gosched, which takes sched.lock once, that barrier was a sixth of the cost. Waiters spin
// with PAUSE, then yield the CPU, then sleep in short naps, so a holder that the kernel
// preempted does not make them burn a core.
class CAPABILITY("mutex") SpinMutex {
 public:
  void lock() ACQUIRE() {
    locks_held_inc();
    if (!key_.exchange(true, std::memory_order_acquire)) return;
    lock_slow();
  }
  void unlock() RELEASE() {
    key_.store(false, std::memory_order_release);
    locks_held_dec();
  }

 private:
  void lock_slow();
  std::atomic<bool> key_{false};
};

// How a thread waits for another one that it cannot sleep on (a spinlock's holder, an M
// finishing a goroutine's switch): PAUSE spins first, then sched_yield, then 20 µs naps.
// The naps matter when the awaited thread is off the CPU: preempted by the kernel, or of
// lower priority than the waiter under SCHED_FIFO, or pinned to the waiter's CPU, where
// spinning or yielding alone would never let it run.
class SpinBackoff {
 public:
  void wait();

 private:
  int round_ = 0;
};

// RAII holder for a Mutex or SpinMutex.
template <class Lock>
class URGENT_TSA(scoped_lockable) LockGuardOf {
 public:
  explicit LockGuardOf(Lock& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~LockGuardOf() RELEASE() { mu_.unlock(); }
  LockGuardOf(const LockGuardOf&) = delete;
  LockGuardOf& operator=(const LockGuardOf&) = delete;

 private:
  Lock& mu_;
};

using LockGuard = LockGuardOf<Mutex>;
using SpinGuard = LockGuardOf<SpinMutex>;

// A one-shot event for one sleeper (Go's note): sleep() blocks the calling thread until
// wakeup(); clear() re-arms it. Exactly one thread may sleep on a note at a time.
// interrupt() (async-signal-safe, from a signal handler on the sleeper's own thread) also
// ends sleep(), weaker than wakeup(): a later wakeup() still overrides it (activation.cc).
class Note {
 public:
  void clear() { key_.store(0, std::memory_order_relaxed); }
  void wakeup();
  void sleep();
  // sleep(), ended by interrupt() from a handler with no further system call, even under
  // SA_RESTART: the kernel restarts a FUTEX_WAIT with no timeout after a handler
  // (-ERESTARTSYS), but one with a timeout returns EINTR (-ERESTART_RESTARTBLOCK), so this
  // waits with a long one. For a parked spare, whose activation handler runs SA_RESTART
  // like every urgent handler: a restarted wait cost ~1 µs more on its way to the P.
  void sleep_interruptible();
  // False if a wakeup() came first (the sleeper is on its way out anyway).
  bool interrupt() {
    std::uint32_t zero = 0;
    return key_.compare_exchange_strong(zero, kInterrupted, std::memory_order_release);
  }
  // After sleep() returned because of interrupt(): waits for the wakeup() that follows.
  void sleep_until_woken();
  // After sleep(): woken by interrupt() only (no wakeup() yet).
  bool interrupted() const { return key_.load(std::memory_order_acquire) == kInterrupted; }
  // Sleeps at most `ns` nanoseconds; returns true if woken, false on timeout.
  bool sleep_for(std::int64_t ns);

 private:
  static constexpr std::uint32_t kInterrupted = 2;
  std::atomic<std::uint32_t> key_{0};
};

// Thin futex wrappers shared by Mutex and Note.
void futex_sleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns);
void futex_wake(std::atomic<std::uint32_t>* addr, int count);

// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, the clock bpf_ktime_get_ns reads).
std::int64_t nanotime();

// A cheap, coarse clock (CLOCK_MONOTONIC_COARSE: a few milliseconds of resolution) for
// timestamps that only need minutes, such as how long a goroutine has been waiting.
std::int64_t coarsetime();

// A spin-wait hint (PAUSE) repeated `cycles` times.
void procyield(int cycles);

}  // namespace urgent::rt
