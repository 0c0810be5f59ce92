// runtime/lock.cc: futex-based Mutex and Note (Go's lock_futex.go).
//
// Invariants:
// - Mutex::key_ is 0 (unlocked), 1 (locked, nobody sleeping) or 2 (locked, maybe sleepers).
//   A thread that sleeps always leaves 2 behind, so unlock() knows it must wake someone.
// - Note::key_ goes 0 -> 1 exactly once between clear()s; wakeup() twice is a runtime bug.
//   interrupt() may put 2 there first (0 -> 2); wakeup() then still goes to 1.
// - A thread holding a Mutex or SpinMutex is never preempted asynchronously: every lock
//   counts in tls_locks_held, which the SIGURG handler checks (preempt.cc).
#include "lock.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "cpu.h"
#include "panic.h"

namespace urgent::rt {

thread_local constinit int tls_locks_held = 0;

namespace {
constexpr int kActiveSpin = 4;        // rounds of PAUSE spinning (Go: active_spin)
constexpr int kActiveSpinCount = 30;  // PAUSEs per round (Go: active_spin_cnt)
constexpr int kPassiveSpin = 1;       // rounds of sched_yield (Go: passive_spin)
constexpr int kYieldRounds = 16;      // SpinBackoff: rounds of sched_yield before napping
constexpr long kNapNs = 20'000;       // SpinBackoff: then naps of this long
}  // namespace

std::int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t coarsetime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void procyield(int cycles) {
  for (int i = 0; i < cycles; i++) arch::cpu_relax();
}

void futex_sleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns) {
  timespec ts;
  timespec* tsp = nullptr;
  if (ns >= 0) {
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    tsp = &ts;
  }
  // Errors (EAGAIN: value changed, EINTR, ETIMEDOUT) all mean "look again": callers loop.
  int saved = errno;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, tsp, nullptr,
          0);
  errno = saved;
}

void futex_wake(std::atomic<std::uint32_t>* addr, int count) {
  int saved = errno;
  long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAKE_PRIVATE, count,
                   nullptr, nullptr, 0);
  if (r < 0) fatal("futex wake failed: errno %d", errno);
  errno = saved;
}

bool Mutex::try_lock() {
  locks_held_inc();
  std::uint32_t expected = 0;
  if (key_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return true;
  locks_held_dec();
  return false;
}

void Mutex::lock_slow(std::uint32_t v) {
  // From here on we may leave 2 behind: we cannot know whether others sleep.
  std::uint32_t wait = v;
  for (;;) {
    for (int i = 0; i < kActiveSpin; i++) {
      while (key_.load(std::memory_order_relaxed) == 0) {
        std::uint32_t expected = 0;
        if (key_.compare_exchange_weak(expected, wait, std::memory_order_acquire)) return;
      }
      procyield(kActiveSpinCount);
    }
    for (int i = 0; i < kPassiveSpin; i++) {
      while (key_.load(std::memory_order_relaxed) == 0) {
        std::uint32_t expected = 0;
        if (key_.compare_exchange_weak(expected, wait, std::memory_order_acquire)) return;
      }
      sched_yield();
    }
    v = key_.exchange(2, std::memory_order_acquire);
    if (v == 0) return;
    wait = 2;
    futex_sleep(&key_, 2, -1);
  }
}

void Mutex::unlock_slow(std::uint32_t v) {
  if (v == 0) fatal("unlock of unlocked lock");
  futex_wake(&key_, 1);  // v == 2: somebody may sleep
}

void SpinBackoff::wait() {
  if (round_ < kActiveSpin) {
    procyield(kActiveSpinCount);
  } else if (round_ < kActiveSpin + kYieldRounds) {
    sched_yield();
  } else {
    timespec nap{0, kNapNs};  // the awaited thread is probably off the CPU: let it run
    // (A signal handler ends the nap with EINTR: the errno of the goroutine whose way to
    // the switch this may be must not change. The SIGURG storm of URGENT_PREEMPT=timer hit it.)
    int saved = errno;
    nanosleep(&nap, nullptr);
    errno = saved;
  }
  round_++;
}

void SpinMutex::lock_slow() {
  SpinBackoff backoff;
  for (;;) {
    // Wait for it to look free before trying again (no cache-line ping-pong meanwhile).
    while (key_.load(std::memory_order_relaxed)) backoff.wait();
    if (!key_.exchange(true, std::memory_order_acquire)) return;
  }
}

void Note::wakeup() {
  std::uint32_t old = key_.exchange(1, std::memory_order_release);
  if (old != 0 && old != kInterrupted) fatal("notewakeup - double wakeup (%u)", old);
  futex_wake(&key_, 1);
}

void Note::sleep() {
  while (key_.load(std::memory_order_acquire) == 0) futex_sleep(&key_, 0, -1);
}

void Note::sleep_interruptible() {
  constexpr std::int64_t kLongNs = 3600'000'000'000;  // (expiry just loops)
  while (key_.load(std::memory_order_acquire) == 0) futex_sleep(&key_, 0, kLongNs);
}

void Note::sleep_until_woken() {
  for (std::uint32_t k; (k = key_.load(std::memory_order_acquire)) != 1;) futex_sleep(&key_, k, -1);
}

bool Note::sleep_for(std::int64_t ns) {
  std::int64_t deadline = nanotime() + ns;
  while (key_.load(std::memory_order_acquire) == 0) {
    std::int64_t left = deadline - nanotime();
    if (left <= 0) return false;
    futex_sleep(&key_, 0, left);
  }
  return true;
}

}  // namespace urgent::rt
