// runtime/select.cc: Go's select (select.go's selectgo).
//
// Invariants:
// - Every channel of the select is locked, in address order (each once), for pass 1 (find
//   a ready case, in a random permutation of the cases) and pass 2 (queue a sudog on every
//   channel and park). The channels are unlocked only by the park (selparkcommit), so no
//   case can fire before the goroutine is waiting.
// - A select waiter can be claimed by exactly one waker: dequeue CASes g->selectDone.
//   The winner's sudog is passed in g->param; pass 3 removes the other sudogs.
#include "urgent/select.h"

#include <algorithm>
#include <memory>

#include "chan.h"
#include "panic.h"
#include "proc.h"
#include "urgent/panic.h"

namespace urgent::detail {
namespace {

using rt::Sudog;

struct SelectLocks {
  Scase* cases;
  const int* lockorder;
  int n;
};

void sellock(const SelectLocks& l) {
  Hchan* last = nullptr;
  for (int i = 0; i < l.n; i++) {
    Hchan* c = l.cases[l.lockorder[i]].c;
    if (c != last) c->lock.lock();
    last = c;
  }
}

void selunlock(const SelectLocks& l) {
  // Unlock in reverse order; a channel that appears several times is unlocked once (at its
  // first occurrence in lock order, the last one visited here).
  for (int i = l.n - 1; i >= 0; i--) {
    Hchan* c = l.cases[l.lockorder[i]].c;
    if (i > 0 && c == l.cases[l.lockorder[i - 1]].c) continue;
    c->lock.unlock();
  }
}

bool selparkcommit(rt::G*, void* locks) {
  selunlock(*static_cast<const SelectLocks*>(locks));
  return true;
}

// Uniform in [0, n) (Go's cheaprandn).
std::uint32_t randn(std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(rt::fastrand()) * n) >> 32);
}

}  // namespace

int selectgo(Scase* cases, int nsends, int nrecvs, bool block, bool* recv_ok) {
  int ncases = nsends + nrecvs;
  *recv_ok = false;
  // Small selects use the stack; large ones the heap.
  constexpr int kSmall = 32;
  int small[2 * kSmall];
  std::unique_ptr<int[]> big;
  int* pollorder = small;
  if (ncases > kSmall) {
    big.reset(new int[2 * static_cast<std::size_t>(ncases)]);
    pollorder = big.get();
  }
  int* lockorder = pollorder + (ncases > kSmall ? ncases : kSmall);

  // Random permutation of the cases, skipping nil channels (they never fire).
  int norder = 0;
  for (int i = 0; i < ncases; i++) {
    if (cases[i].c == nullptr) continue;
    int j = static_cast<int>(randn(static_cast<std::uint32_t>(norder + 1)));
    pollorder[norder] = pollorder[j];
    pollorder[j] = i;
    norder++;
  }
  if (norder == 0) {
    if (!block) return -1;
    rt::gopark(nullptr, nullptr,
               ncases == 0 ? rt::WaitReason::kSelectNoCases : rt::WaitReason::kSelect);
    rt::fatal("unreachable: a select with no channels was woken");
  }
  std::copy(pollorder, pollorder + norder, lockorder);
  std::sort(lockorder, lockorder + norder,
            [&](int a, int b) { return std::less<Hchan*>()(cases[a].c, cases[b].c); });
  SelectLocks locks{cases, lockorder, norder};
  sellock(locks);

  // Pass 1: look for something already waiting, in poll order.
  for (int k = 0; k < norder; k++) {
    int casi = pollorder[k];
    Scase& cas = cases[casi];
    Hchan* c = cas.c;
    if (casi >= nsends) {
      if (Sudog* sg = c->sendq.dequeue()) {
        recv_direct(c, sg, cas.elem);
        selunlock(locks);
        wake(sg);
        *recv_ok = true;
        return casi;
      }
      if (c->qcount > 0) {
        buf_take(c, cas.elem);
        selunlock(locks);
        *recv_ok = true;
        return casi;
      }
      if (c->closed) {
        selunlock(locks);
        return casi;  // recv_ok false: closed
      }
    } else {
      if (c->closed) {
        selunlock(locks);
        throw Panic("send on closed channel");
      }
      if (Sudog* sg = c->recvq.dequeue()) {
        send_direct(c, sg, cas.elem);
        selunlock(locks);
        wake(sg);
        return casi;
      }
      if (c->qcount < c->dataqsiz) {
        buf_put(c, cas.elem);
        selunlock(locks);
        return casi;
      }
    }
  }
  if (!block) {
    selunlock(locks);
    return -1;
  }

  // Pass 2: queue on every channel, in lock order, and park.
  rt::G* gp = rt::getg_to_park(rt::WaitReason::kSelect);
  constexpr int kSmallSudogs = 8;
  Sudog small_sudogs[kSmallSudogs];
  std::unique_ptr<Sudog[]> big_sudogs;
  Sudog* sudogs = small_sudogs;
  if (norder > kSmallSudogs) {
    big_sudogs.reset(new Sudog[static_cast<std::size_t>(norder)]);
    sudogs = big_sudogs.get();
  }
  gp->selectDone.store(false);
  gp->param = nullptr;
  for (int k = 0; k < norder; k++) {
    int casi = lockorder[k];
    Sudog* sg = &sudogs[static_cast<std::size_t>(k)];
    sg->g = gp;
    sg->isSelect = true;
    sg->elem = cases[casi].elem;
    sg->c = cases[casi].c;
    (casi < nsends ? sg->c->sendq : sg->c->recvq).enqueue(sg);
  }
  rt::gopark(selparkcommit, &locks, rt::WaitReason::kSelect);

  // Pass 3: find the case that fired, and dequeue from the others.
  sellock(locks);
  Sudog* won = gp->param;
  gp->param = nullptr;
  int chosen = -1;
  bool success = false;
  for (int k = 0; k < norder; k++) {
    int casi = lockorder[k];
    Sudog* sg = &sudogs[static_cast<std::size_t>(k)];
    if (sg == won) {
      chosen = casi;
      success = sg->success;
    } else {
      (casi < nsends ? sg->c->sendq : sg->c->recvq).remove(sg);
    }
  }
  selunlock(locks);
  if (chosen < 0) rt::fatal("selectgo: bad wakeup");
  if (chosen < nsends) {
    if (!success) throw Panic("send on closed channel");
  } else {
    *recv_ok = success;
  }
  return chosen;
}

}  // namespace urgent::detail
