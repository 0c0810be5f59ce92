// urgent/cond.h: sync.Cond.
#pragma once

#include <atomic>
#include <cstdint>

namespace urgent {

// A condition variable on any BasicLockable (urgent::Mutex, or an RWMutex's writer side).
// wait() atomically unlocks it and parks, and locks it again before returning; as in Go,
// callers re-check their condition in a loop. signal() wakes the longest waiter, broadcast()
// all of them; neither requires holding the lock.
class Cond {
 public:
  template <class Lockable>
  explicit Cond(Lockable& l)
      : lock_(&l),
        lockf_([](void* p) { static_cast<Lockable*>(p)->lock(); }),
        unlockf_([](void* p) { static_cast<Lockable*>(p)->unlock(); }) {
    init();
  }
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  void wait();
  void signal();
  void broadcast();

 private:
  void init();
  void* lock_;
  void (*lockf_)(void*);
  void (*unlockf_)(void*);
  // Go's notifyList, opaque here (runtime/sema.h).
  alignas(8) unsigned char list_[64];
};

}  // namespace urgent
