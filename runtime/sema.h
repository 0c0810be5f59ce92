// runtime/sema.h: semaphores for sync primitives, keyed by address (Go's sema.go), and the
// ticket-based notify list behind Cond.
#pragma once

#include <atomic>
#include <cstdint>

#include "lock.h"
#include "runtime2.h"

namespace urgent::rt {

// Waits until *addr > 0, then decrements it (Go's semacquire1). lifo: queue at the head
// (a waiter that already waited once, e.g. sync.Mutex). Parks the goroutine, never the M.
void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, WaitReason reason);

// Increments *addr and wakes one waiter if there is one (Go's semrelease1). handoff: pass
// the count straight to the first waiter and yield to it (sync.Mutex starvation mode).
void semrelease(std::atomic<std::uint32_t>* addr, bool handoff);

// Go's notifyList: a ticket per waiter, so that notifications are FIFO and none is lost
// between registering (add) and sleeping (wait).
// Like a channel's wait queues, a Cond may outlive its urgent::run: `run` [lock] is the run
// of its waiters and tickets; a later run forgets them (as if all had been notified).
struct NotifyList {
  std::atomic<std::uint32_t> wait{0};  // ticket of the next waiter
  std::uint32_t notify = 0;            // ticket of the next to be notified [lock]
  SpinMutex lock;
  Sudog* head = nullptr;
  Sudog* tail = nullptr;
  std::atomic<std::uint32_t> run{0};
};

std::uint32_t notifyListAdd(NotifyList* l);
void notifyListWait(NotifyList* l, std::uint32_t t);
void notifyListNotifyOne(NotifyList* l);
void notifyListNotifyAll(NotifyList* l);

// Times a sync.Mutex waiter decided to switch its mutex to starvation mode (SchedStats).
extern std::atomic<std::uint64_t> mutex_starvation_entered;

// At the end of urgent::run: forgets every waiter in the semaphore table (their goroutines
// are abandoned), so that the next run's semaphores never touch them.
void sema_fini();

// Parks the running goroutine after releasing `lock` (Go's goparkunlock).
void goparkunlock(SpinMutex* lock, WaitReason reason);

}  // namespace urgent::rt
