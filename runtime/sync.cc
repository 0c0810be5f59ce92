// runtime/sync.cc: Go's sync package (sync/mutex.go, rwmutex.go, waitgroup.go, cond.go) on
// the runtime's semaphores (sema.cc). The algorithms and their panics are Go's.
#include <new>

#include "env.h"
#include "panic.h"
#include "proc.h"
#include "runq.h"
#include "sema.h"
#include "urgent/cond.h"
#include "urgent/mutex.h"
#include "urgent/panic.h"
#include "urgent/rwmutex.h"
#include "urgent/waitgroup.h"

namespace urgent {
namespace {

constexpr std::int64_t kStarvationThresholdNs = 1'000'000;  // Go's starvationThresholdNs
constexpr int kActiveSpin = 4;                              // Go's active_spin
constexpr int kActiveSpinCount = 30;                        // Go's active_spin_cnt

// Go's sync_runtime_canSpin: spin only if it pays. Several CPUs, some other P running
// (the holder may release soon), and nothing else to run on ours.
bool canSpin(int iter) {
  using namespace rt;
  if (iter >= kActiveSpin || getproccount() <= 1) return false;
  if (gomaxprocs_now.load() <= sched.npidle.load() + sched.nmspinning.load() + 1) return false;
  M* mp = getm();
  return mp != nullptr && mp->p != nullptr && runqempty(mp->p);
}

}  // namespace

bool Mutex::try_lock() {
  std::int32_t old = state_.load(std::memory_order_relaxed);
  if (old & (kLocked | kStarving)) return false;
  // There may be a goroutine waiting for the mutex, but we are running now and can try to
  // grab it before it wakes up (Go's TryLock).
  return state_.compare_exchange_strong(old, old | kLocked, std::memory_order_acquire);
}

void Mutex::lock_slow() {
  std::int64_t wait_start = 0;
  bool starving = false;
  bool awoke = false;
  int iter = 0;
  std::int32_t old = state_.load();
  for (;;) {
    // Don't spin in starvation mode: ownership is handed off to waiters.
    if ((old & (kLocked | kStarving)) == kLocked && canSpin(iter)) {
      // Set the woken flag so that unlock does not wake other blocked goroutines.
      if (!awoke && (old & kWoken) == 0 && (old >> kWaiterShift) != 0 &&
          state_.compare_exchange_strong(old, old | kWoken)) {
        awoke = true;
      }
      rt::procyield(kActiveSpinCount);
      iter++;
      old = state_.load();
      continue;
    }
    std::int32_t next = old;
    if ((old & kStarving) == 0) next |= kLocked;  // don't grab a starving mutex: queue
    if (old & (kLocked | kStarving)) next += 1 << kWaiterShift;
    // Switch to starvation mode, unless the mutex is free by now.
    if (starving && (old & kLocked)) next |= kStarving;
    if (awoke) {
      if ((next & kWoken) == 0) rt::fatal("sync: inconsistent mutex state");
      next &= ~kWoken;
    }
    if (state_.compare_exchange_strong(old, next, std::memory_order_acquire)) {
      if ((old & (kLocked | kStarving)) == 0) break;  // locked with the CAS
      // Waited before: queue at the front.
      bool lifo = wait_start != 0;
      if (wait_start == 0) wait_start = rt::nanotime();
      rt::semacquire(&sema_, lifo, rt::WaitReason::kSyncMutexLock);
      bool was_starving = starving;
      starving = starving || rt::nanotime() - wait_start > kStarvationThresholdNs;
      if (starving && !was_starving) rt::mutex_starvation_entered.fetch_add(1);
      old = state_.load();
      if (old & kStarving) {
        // Handed off to us, but the state is not updated yet: fix it up.
        if ((old & (kLocked | kWoken)) != 0 || (old >> kWaiterShift) == 0) {
          rt::fatal("sync: inconsistent mutex state");
        }
        std::int32_t delta = kLocked - (1 << kWaiterShift);
        // Leave starvation mode if we did not wait long or were the last waiter.
        if (!starving || (old >> kWaiterShift) == 1) delta -= kStarving;
        state_.fetch_add(delta, std::memory_order_acquire);
        break;
      }
      awoke = true;
      iter = 0;
    } else {
      old = state_.load();
    }
  }
}

void Mutex::unlock_slow(std::int32_t now) {
  if (((now + kLocked) & kLocked) == 0) rt::fatal("sync: unlock of unlocked mutex");
  if ((now & kStarving) == 0) {
    std::int32_t old = now;
    for (;;) {
      // Nobody to wake, or someone was already woken or grabbed the lock: done.
      if ((old >> kWaiterShift) == 0 || (old & (kLocked | kWoken | kStarving)) != 0) return;
      std::int32_t next = (old - (1 << kWaiterShift)) | kWoken;
      if (state_.compare_exchange_strong(old, next)) {
        rt::semrelease(&sema_, false);
        return;
      }
    }
  }
  // Starvation mode: hand ownership to the next waiter and yield to it, so it runs next.
  rt::semrelease(&sema_, true);
}

void RWMutex::lock_shared() {
  if (reader_count_.fetch_add(1, std::memory_order_acquire) + 1 < 0) {
    // A writer is pending: wait for it.
    rt::semacquire(&reader_sem_, false, rt::WaitReason::kSyncRWMutexRLock);
  }
}

void RWMutex::unlock_shared() {
  std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_release) - 1;
  if (r < 0) {
    if (r + 1 == 0 || r + 1 == -kMaxReaders) rt::fatal("sync: RUnlock of unlocked RWMutex");
    // A writer is pending: the last departing reader lets it in.
    if (reader_wait_.fetch_sub(1) - 1 == 0) rt::semrelease(&writer_sem_, false);
  }
}

void RWMutex::lock() {
  w_.lock();  // first, resolve competition with other writers
  // Announce the pending writer to readers, then wait for the active ones.
  std::int32_t r = reader_count_.fetch_sub(kMaxReaders);  // readers active right now
  if (r != 0 && reader_wait_.fetch_add(r) + r != 0) {
    rt::semacquire(&writer_sem_, false, rt::WaitReason::kSyncRWMutexLock);
  }
}

void RWMutex::unlock() {
  // Announce to readers there is no active writer.
  std::int32_t r = reader_count_.fetch_add(kMaxReaders) + kMaxReaders;
  if (r >= kMaxReaders) rt::fatal("sync: Unlock of unlocked RWMutex");
  for (std::int32_t i = 0; i < r; i++) rt::semrelease(&reader_sem_, false);
  w_.unlock();
}

void WaitGroup::add(int delta) {
  std::uint64_t state =
      state_.fetch_add(static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32) +
      (static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32);
  auto v = static_cast<std::int32_t>(state >> 32);
  auto w = static_cast<std::uint32_t>(state);
  if (v < 0) throw Panic("sync: negative WaitGroup counter");
  if (w != 0 && delta > 0 && v == delta) {
    throw Panic("sync: WaitGroup misuse: Add called concurrently with Wait");
  }
  if (v > 0 || w == 0) return;
  // The counter is 0 and there are waiters: nobody may change the state concurrently now
  // (adds must not race with wait; a reuse would be caught by the check below).
  if (state_.load() != state)
    throw Panic("sync: WaitGroup misuse: Add called concurrently with Wait");
  state_.store(0);
  for (; w != 0; w--) rt::semrelease(&sema_, false);
}

void WaitGroup::wait() {
  std::uint64_t state = state_.load();
  for (;;) {
    if ((state >> 32) == 0) return;  // counter is 0, no need to wait
    if (state_.compare_exchange_weak(state, state + 1)) {
      rt::semacquire(&sema_, false, rt::WaitReason::kSyncWaitGroupWait);
      if (state_.load() != 0)
        throw Panic("sync: WaitGroup is reused before previous Wait has returned");
      return;
    }
  }
}

static_assert(sizeof(rt::NotifyList) <= 64 && alignof(rt::NotifyList) <= 8,
              "Cond::list_ must hold a NotifyList");

void Cond::init() {
  new (list_) rt::NotifyList();
}

void Cond::wait() {
  auto* l = std::launder(reinterpret_cast<rt::NotifyList*>(list_));
  std::uint32_t t = rt::notifyListAdd(l);
  unlockf_(lock_);
  rt::notifyListWait(l, t);
  lockf_(lock_);
}

void Cond::signal() {
  rt::notifyListNotifyOne(std::launder(reinterpret_cast<rt::NotifyList*>(list_)));
}

void Cond::broadcast() {
  rt::notifyListNotifyAll(std::launder(reinterpret_cast<rt::NotifyList*>(list_)));
}

}  // namespace urgent
