// runtime/chan.cc: channels (Go's chan.go), type-erased: elements are moved with the
// ElemType's functions instead of Go's memmove.
//
// Invariants:
// - A value is moved exactly once from its sender to its receiver: directly, sender's stack
//   to receiver's stack, when the other side is already waiting (even on a buffered
//   channel: a receiver woken by a send never re-queues); otherwise through one buffer slot.
// - A parked waiter's sudog and elem live on its own stack; whoever dequeues it finishes its
//   operation for it (moves the value, sets success) before readying it.
// - Closing wakes every waiter with success = false: receivers return "closed", senders
//   panic, as in Go.
#include "chan.h"

#include <limits>
#include <new>

#include "panic.h"
#include "proc.h"
#include "sema.h"
#include "urgent/panic.h"

namespace urgent::detail {

using rt::G;
using rt::Sudog;

void WaitQ::enqueue(Sudog* s) {
  forgetEarlierRuns();
  run = rt::current_run();
  s->next = nullptr;
  s->prev = last;
  if (last != nullptr) {
    last->next = s;
  } else {
    first = s;
  }
  last = s;
}

void WaitQ::remove(Sudog* s) {
  if (s->prev == nullptr && first != s) return;  // not queued (already dequeued)
  (s->prev ? s->prev->next : first) = s->next;
  (s->next ? s->next->prev : last) = s->prev;
  s->next = s->prev = nullptr;
}

Sudog* WaitQ::dequeue() {
  if (forgetEarlierRuns()) return nullptr;
  for (;;) {
    Sudog* s = first;
    if (s == nullptr) return nullptr;
    first = s->next;
    if (first == nullptr) {
      last = nullptr;
    } else {
      first->prev = nullptr;
    }
    s->next = s->prev = nullptr;
    // A select waiter is queued on several channels: only the first to claim it wins.
    bool expected = false;
    if (s->isSelect && !s->g->selectDone.compare_exchange_strong(expected, true)) continue;
    return s;
  }
}

namespace {

[[noreturn]] void unlockAndPanic(Hchan* c, const char* msg) {
  c->lock.unlock();
  throw Panic(msg);
}

// Parks on q with the channel unlocked atomically; returns the sudog's success.
bool parkOn(Hchan* c, WaitQ* q, void* elem, rt::WaitReason reason) {
  Sudog s;
  s.g = rt::getg_to_park(reason);
  s.elem = elem;
  s.c = c;
  s.g->param = nullptr;
  q->enqueue(&s);
  rt::goparkunlock(&c->lock, reason);
  return s.success;
}

// With c->lock held and c not closed: hands elem to a waiting receiver or the buffer and
// unlocks; false (still locked) if neither can take it.
bool trySend(Hchan* c, void* elem) {
  if (Sudog* sg = c->recvq.dequeue()) {
    send_direct(c, sg, elem);
    c->lock.unlock();
    wake(sg);
    return true;
  }
  if (c->qcount < c->dataqsiz) {
    buf_put(c, elem);
    c->lock.unlock();
    return true;
  }
  return false;
}

// With c->lock held: takes a value from a waiting sender or the buffer and unlocks; false
// (still locked) if there is none.
bool tryRecv(Hchan* c, void* out) {
  if (Sudog* sg = c->sendq.dequeue()) {
    recv_direct(c, sg, out);
    c->lock.unlock();
    wake(sg);
    return true;
  }
  if (c->qcount > 0) {
    buf_take(c, out);
    c->lock.unlock();
    return true;
  }
  return false;
}

[[noreturn]] void blockForever(rt::WaitReason reason) {
  rt::gopark(nullptr, nullptr, reason);
  rt::fatal("unreachable: a goroutine blocked on a nil channel was woken");
}

}  // namespace

void send_direct(Hchan* c, Sudog* sg, void* elem) {
  c->type->move_construct(sg->elem, elem);  // straight to the receiver's stack
  sg->success = true;
}

void recv_direct(Hchan* c, Sudog* sg, void* out) {
  if (c->dataqsiz == 0) {
    c->type->move_construct(out, sg->elem);  // straight from the sender's stack
  } else {
    // The buffer is full: take its head, and put the sender's value in the freed slot,
    // which is also the tail (Go's recv).
    void* s = c->slot(c->recvx);
    c->type->move_construct(out, s);
    c->type->destroy(s);
    c->type->move_construct(s, sg->elem);
    if (++c->recvx == c->dataqsiz) c->recvx = 0;
    c->sendx = c->recvx;
  }
  sg->success = true;
}

void buf_put(Hchan* c, void* elem) {
  c->type->move_construct(c->slot(c->sendx), elem);
  if (++c->sendx == c->dataqsiz) c->sendx = 0;
  c->qcount++;
}

void buf_take(Hchan* c, void* out) {
  void* s = c->slot(c->recvx);
  c->type->move_construct(out, s);
  c->type->destroy(s);
  if (++c->recvx == c->dataqsiz) c->recvx = 0;
  c->qcount--;
}

void wake(Sudog* sg) {
  sg->g->param = sg;
  rt::goready(sg->g);
}

Hchan* makechan(const ElemType* t, std::size_t cap) {
  if (cap > std::numeric_limits<std::uint32_t>::max() / 2 ||
      (t->size != 0 && cap > (std::size_t{1} << 40) / t->size)) {
    throw Panic("makechan: size out of range");
  }
  auto* c = new Hchan;
  c->type = t;
  c->dataqsiz = static_cast<std::uint32_t>(cap);
  std::size_t align = t->align < alignof(std::max_align_t) ? alignof(std::max_align_t) : t->align;
  c->buf =
      cap == 0
          ? nullptr
          : static_cast<unsigned char*>(::operator new(cap * t->size, std::align_val_t(align)));
  return c;
}

Hchan* makechan_signed(const ElemType* t, long long cap) {
  if (cap < 0) throw Panic("makechan: size out of range");
  return makechan(t, static_cast<std::size_t>(cap));
}

void chanref(Hchan* c) {
  c->refs.fetch_add(1, std::memory_order_relaxed);
}

void chanunref(Hchan* c) {
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Last handle: nobody can be waiting on it (a waiter holds a handle), drop buffered values.
  for (std::uint32_t i = 0, k = c->recvx; i < c->qcount; i++) {
    c->type->destroy(c->slot(k));
    if (++k == c->dataqsiz) k = 0;
  }
  if (c->buf != nullptr) {
    std::size_t align =
        c->type->align < alignof(std::max_align_t) ? alignof(std::max_align_t) : c->type->align;
    ::operator delete(c->buf, std::align_val_t(align));
  }
  delete c;
}

void chansend(Hchan* c, void* elem) {
  if (c == nullptr) blockForever(rt::WaitReason::kChanSendNilChan);
  c->lock.lock();
  if (c->closed) unlockAndPanic(c, "send on closed channel");
  if (trySend(c, elem)) return;
  if (!parkOn(c, &c->sendq, elem, rt::WaitReason::kChanSend)) {
    throw Panic("send on closed channel");  // woken by close
  }
}

bool chansend_nb(Hchan* c, void* elem) {
  if (c == nullptr) return false;
  c->lock.lock();
  if (c->closed) unlockAndPanic(c, "send on closed channel");
  if (trySend(c, elem)) return true;
  c->lock.unlock();
  return false;
}

bool chanrecv(Hchan* c, void* out) {
  if (c == nullptr) blockForever(rt::WaitReason::kChanReceiveNilChan);
  c->lock.lock();
  if (c->closed && c->qcount == 0) {
    c->lock.unlock();
    return false;
  }
  if (tryRecv(c, out)) return true;
  return parkOn(c, &c->recvq, out, rt::WaitReason::kChanReceive);
}

int chanrecv_nb(Hchan* c, void* out) {
  if (c == nullptr) return 0;
  c->lock.lock();
  if (c->closed && c->qcount == 0) {
    c->lock.unlock();
    return -1;
  }
  if (tryRecv(c, out)) return 1;
  c->lock.unlock();
  return 0;
}

void closechan(Hchan* c) {
  if (c == nullptr) throw Panic("close of nil channel");
  c->lock.lock();
  if (c->closed) unlockAndPanic(c, "close of closed channel");
  c->closed = true;
  // Collect every waiter, then ready them after unlocking (Go's glist).
  Sudog* woken = nullptr;
  for (WaitQ* q : {&c->recvq, &c->sendq}) {
    while (Sudog* sg = q->dequeue()) {
      sg->success = false;
      sg->next = woken;
      woken = sg;
    }
  }
  c->lock.unlock();
  while (woken != nullptr) {
    Sudog* next = woken->next;
    wake(woken);
    woken = next;
  }
}

std::size_t chanlen(Hchan* c) {
  if (c == nullptr) return 0;
  rt::SpinGuard lock(c->lock);
  return c->qcount;
}

std::size_t chancap(Hchan* c) {
  return c == nullptr ? 0 : c->dataqsiz;
}

}  // namespace urgent::detail
