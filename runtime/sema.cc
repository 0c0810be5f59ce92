// runtime/sema.cc: address-keyed semaphores and notify lists (Go's sema.go).
//
// Invariants:
// - A waiter is a Sudog on its own stack, queued in the root its address hashes to, under
//   that root's lock; it is removed (and its G readied) only by a releaser holding the lock.
// - root.nwait counts queued waiters, so a release with nobody waiting takes no lock.
// - ticket = 1 means the releaser handed the count directly to this waiter (starvation-mode
//   handoff); the waiter then owns it without re-trying cansemacquire.
#include "sema.h"

#include "panic.h"
#include "proc.h"

namespace urgent::rt {
namespace {

constexpr std::size_t kSemTabSize = 251;  // prime, as Go's semTabSize

struct alignas(64) SemaRoot {
  SpinMutex lock;
  Sudog* head = nullptr;  // FIFO of waiters on any address hashing here
  Sudog* tail = nullptr;
  std::atomic<std::uint32_t> nwait{0};
};

SemaRoot semtable[kSemTabSize];

SemaRoot* semroot(const void* addr) {
  return &semtable[(reinterpret_cast<std::uintptr_t>(addr) >> 3) % kSemTabSize];
}

bool cansemacquire(std::atomic<std::uint32_t>* addr) {
  std::uint32_t v = addr->load();
  while (v != 0) {
    if (addr->compare_exchange_weak(v, v - 1)) return true;
  }
  return false;
}

void enqueue(SemaRoot* root, Sudog* s, bool lifo) REQUIRES(root->lock) {
  s->next = s->prev = nullptr;
  if (root->head == nullptr) {
    root->head = root->tail = s;
  } else if (lifo) {
    s->next = root->head;
    root->head->prev = s;
    root->head = s;
  } else {
    s->prev = root->tail;
    root->tail->next = s;
    root->tail = s;
  }
}

// Removes the first waiter on addr, or returns null.
Sudog* dequeue(SemaRoot* root, const void* addr) REQUIRES(root->lock) {
  for (Sudog* s = root->head; s != nullptr; s = s->next) {
    if (s->elem != addr) continue;
    (s->prev ? s->prev->next : root->head) = s->next;
    (s->next ? s->next->prev : root->tail) = s->prev;
    s->next = s->prev = nullptr;
    return s;
  }
  return nullptr;
}

bool unlockSpin(G*, void* lock) {
  static_cast<SpinMutex*>(lock)->unlock();
  return true;
}

// Go's less(a, b) on wrapping uint32 tickets.
bool ticketLess(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) < 0;
}

}  // namespace

std::atomic<std::uint64_t> mutex_starvation_entered{0};

void goparkunlock(SpinMutex* lock, WaitReason reason) {
  gopark(unlockSpin, lock, reason);
}

void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, WaitReason reason) {
  if (cansemacquire(addr)) return;
  SemaRoot* root = semroot(addr);
  Sudog s;
  s.g = getg_to_park(reason);
  s.elem = addr;
  for (;;) {
    s.ticket = 0;
    root->lock.lock();
    root->nwait.fetch_add(1);  // makes a concurrent semrelease take the lock
    if (cansemacquire(addr)) {
      root->nwait.fetch_sub(1);
      root->lock.unlock();
      return;
    }
    enqueue(root, &s, lifo);
    goparkunlock(&root->lock, reason);
    if (s.ticket != 0 || cansemacquire(addr)) return;
    lifo = true;  // woken but beaten to it: wait at the head next time (Go does too)
  }
}

void semrelease(std::atomic<std::uint32_t>* addr, bool handoff) {
  SemaRoot* root = semroot(addr);
  addr->fetch_add(1);
  if (root->nwait.load() == 0) return;  // easy case: no waiters
  Sudog* s;
  {
    SpinGuard lock(root->lock);
    if (root->nwait.load() == 0) return;  // the count is already consumed
    s = dequeue(root, addr);
    if (s != nullptr) root->nwait.fetch_sub(1);
  }
  if (s == nullptr) return;
  bool handed = handoff && cansemacquire(addr);
  if (handed) s->ticket = 1;
  // s lives on the waiter's stack: once it is ready it may return, so s is not read after.
  goready(s->g);
  // Direct handoff: let the waiter run now, on our P, so no third goroutine barges in.
  if (handed && getg() != nullptr) goyield();
}

namespace {
// With l->lock held: forgets the waiters and tickets of an earlier run.
void forgetEarlierRuns(NotifyList* l) REQUIRES(l->lock) {
  std::uint32_t run = current_run();
  if (l->run.load(std::memory_order_relaxed) == run) return;
  l->head = l->tail = nullptr;
  l->notify = l->wait.load();
  l->run.store(run, std::memory_order_relaxed);
}
}  // namespace

void sema_fini() {
  for (SemaRoot& root : semtable) {
    SpinGuard lock(root.lock);
    root.head = root.tail = nullptr;
    root.nwait.store(0);
  }
}

std::uint32_t notifyListAdd(NotifyList* l) {
  // The first ticket of a run comes after every earlier run's: those are notified already.
  if (l->run.load(std::memory_order_relaxed) != current_run()) {
    SpinGuard lock(l->lock);
    forgetEarlierRuns(l);
  }
  return l->wait.fetch_add(1);
}

void notifyListWait(NotifyList* l, std::uint32_t t) {
  l->lock.lock();
  forgetEarlierRuns(l);
  if (ticketLess(t, l->notify)) {  // already notified
    l->lock.unlock();
    return;
  }
  Sudog s;
  s.g = getg_to_park(WaitReason::kSyncCondWait);
  s.ticket = t;
  if (l->tail == nullptr) {
    l->head = &s;
  } else {
    l->tail->next = &s;
  }
  l->tail = &s;
  goparkunlock(&l->lock, WaitReason::kSyncCondWait);
}

void notifyListNotifyAll(NotifyList* l) {
  if (l->wait.load() == l->notify) return;  // fast path: no new waiters since last notify
  Sudog* s;
  {
    SpinGuard lock(l->lock);
    forgetEarlierRuns(l);
    s = l->head;
    l->head = l->tail = nullptr;
    l->notify = l->wait.load();
  }
  while (s != nullptr) {
    Sudog* next = s->next;
    s->next = nullptr;
    goready(s->g);
    s = next;
  }
}

void notifyListNotifyOne(NotifyList* l) {
  if (l->wait.load() == l->notify) return;
  Sudog* found = nullptr;
  {
    SpinGuard lock(l->lock);
    forgetEarlierRuns(l);
    std::uint32_t t = l->notify;
    if (t == l->wait.load()) return;
    l->notify = t + 1;
    // Find the waiter with ticket t. It may not have queued yet (between add and wait):
    // then its wait sees notify > t and returns at once.
    for (Sudog *p = nullptr, *s = l->head; s != nullptr; p = s, s = s->next) {
      if (s->ticket == t) {
        Sudog* n = s->next;
        (p ? p->next : l->head) = n;
        if (n == nullptr) l->tail = p;
        s->next = nullptr;
        found = s;
        break;
      }
    }
  }
  if (found != nullptr) goready(found->g);
}

}  // namespace urgent::rt
