// runtime/chan.h: the channel (Go's hchan), shared by chan.cc and select.cc.
#pragma once

#include <atomic>
#include <cstdint>

#include "lock.h"
#include "proc.h"
#include "runtime2.h"
#include "urgent/chan.h"

namespace urgent::detail {

// A FIFO of sudogs waiting on one side of a channel (Go's waitq). A channel may outlive the
// urgent::run whose goroutines wait in it: `run` says which run its waiters belong to, and
// waiters of an earlier run (their goroutines and stacks are gone) are dropped unread.
struct WaitQ {
  rt::Sudog* first = nullptr;
  rt::Sudog* last = nullptr;
  std::uint32_t run = 0;
  // Forgets the waiters of an earlier run; true if the queue is now empty.
  bool forgetEarlierRuns() {
    if (first != nullptr && run != rt::current_run()) first = last = nullptr;
    return first == nullptr;
  }
  void enqueue(rt::Sudog* s);
  // Removes and returns the first waiter that can still be woken: a select waiter whose
  // select already won elsewhere is skipped (Go's dequeue with selectDone).
  rt::Sudog* dequeue();
  // Removes s if it is queued (a select that won elsewhere cleaning up).
  void remove(rt::Sudog* s);
};

// Invariants (Go's): at most one of recvq and sendq is non-empty; with a buffer, sendq is
// non-empty only when the buffer is full and recvq only when it is empty. Every field but
// refs is guarded by lock.
struct Hchan {
  rt::SpinMutex lock;
  const ElemType* type;
  std::uint32_t dataqsiz;  // capacity
  std::uint32_t qcount = 0;
  std::uint32_t sendx = 0, recvx = 0;
  bool closed = false;
  unsigned char* buf;  // dataqsiz slots of type->size bytes
  WaitQ recvq, sendq;
  std::atomic<long> refs{1};  // Chan<T> handles pointing here

  void* slot(std::uint32_t i) { return buf + static_cast<std::size_t>(i) * type->size; }
};

// The data movements select shares with plain sends and receives (chan.cc), all with
// c->lock held. The caller unlocks, then wakes the waiter (wake).
void send_direct(Hchan* c, rt::Sudog* sg, void* elem);  // to a waiting receiver (Go's send)
void recv_direct(Hchan* c, rt::Sudog* sg, void* out);   // from a waiting sender (Go's recv)
void buf_put(Hchan* c, void* elem);
void buf_take(Hchan* c, void* out);
void wake(rt::Sudog* sg);  // after unlocking: readies sg's goroutine, telling it which sudog fired

}  // namespace urgent::detail
