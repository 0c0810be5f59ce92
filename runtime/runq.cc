// runtime/runq.cc: the local run queue (Go's runqput, runqputslow, runqget, runqgrab,
// runqsteal). See runq.h for the invariants.
#include "runq.h"

#include <unistd.h>

#include <cerrno>

#include "panic.h"
#include "proc.h"
#include "usdt.h"

namespace urgent::rt {

void (*runqgrab_courtesy_wait)() = [] {
  int saved = errno;  // (EINTR from a signal handler: not the goroutine's errno)
  usleep(3);
  errno = saved;
};

namespace {

constexpr auto kAcquire = std::memory_order_acquire;
constexpr auto kRelease = std::memory_order_release;
constexpr auto kRelaxed = std::memory_order_relaxed;

// Ring full: move half of it, plus gp, to the global queue in one batch. Returns false if
// a thief moved head meanwhile (the caller retries the fast path).
bool runqputslow(P* pp, G* gp, std::uint32_t h, std::uint32_t t) {
  G* batch[kRunqSize / 2 + 1];
  std::uint32_t n = (t - h) / 2;
  if (n != kRunqSize / 2) fatal("runqputslow: queue is not full");
  for (std::uint32_t i = 0; i < n; i++)
    batch[i] = pp->runq.slots[(h + i) % kRunqSize].load(kRelaxed);
  if (!pp->runq.head.compare_exchange_strong(h, h + n, kRelease, kRelaxed)) return false;
  batch[n] = gp;
  owner_add<std::uint64_t>(pp->runqputslow_n, 1);
  SpinGuard lock(sched.lock);
  globrunqputbatch(batch, static_cast<std::int32_t>(n + 1));
  return true;
}

// Copies up to half of pp's ring into `batch` starting at batchHead; returns how many.
// With stealRunNextG and an empty ring, takes runnext instead.
std::uint32_t runqgrab(P* pp, std::atomic<G*>* batch, std::uint32_t batchHead, bool stealRunNextG) {
  for (;;) {
    std::uint32_t h = pp->runq.head.load(kAcquire);  // synchronize with other consumers
    std::uint32_t t = pp->runq.tail.load(kAcquire);  // synchronize with the producer
    std::uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (stealRunNextG) {
        if (G* next = pp->runnext.load(kRelaxed)) {
          if (pp->status.load(kRelaxed) == kPrunning) {
            // pp is running and next is probably about to run: give its owner a moment to
            // schedule it rather than bouncing it between Ps (Go sleeps 3 µs here too).
            // If the owner ran its runnext meanwhile, it is not stuck: leave runnext alone.
            // Go's CAS alone would also succeed when runnext holds the same G *again*
            // (ABA: a pair of goroutines readying each other puts the same G there every
            // ~100 ns), and stole it in ~0.15% of pingpong's round trips; each steal split
            // the pair across two Ms for tens of µs (see README, pingpong).
            std::uint32_t taken = pp->runnexttaken.load(kRelaxed);
            runqgrab_courtesy_wait();
            if (pp->runnexttaken.load(kRelaxed) != taken) return 0;
          }
          if (!pp->runnext.compare_exchange_strong(next, nullptr, kAcquire, kRelaxed)) continue;
          batch[batchHead % kRunqSize].store(next, kRelaxed);
          return 1;
        }
      }
      return 0;
    }
    if (n > kRunqSize / 2) continue;  // read inconsistent h and t
    for (std::uint32_t i = 0; i < n; i++) {
      G* g = pp->runq.slots[(h + i) % kRunqSize].load(kRelaxed);
      batch[(batchHead + i) % kRunqSize].store(g, kRelaxed);
    }
    if (pp->runq.head.compare_exchange_strong(h, h + n, kRelease, kRelaxed)) return n;
  }
}

// Starts loading a G a few places behind the one just taken: Gs were usually created on
// another CPU, and running one starts with a miss on each of its two hot cache lines.
void prefetchAhead(P* pp, std::uint32_t h, std::uint32_t t) {
  constexpr std::uint32_t kDistance = 2;
  if (t - h <= kDistance) return;
  const char* g =
      reinterpret_cast<const char*>(pp->runq.slots[(h + kDistance) % kRunqSize].load(kRelaxed));
  __builtin_prefetch(g, 1);
  __builtin_prefetch(g + 64, 1);
}

}  // namespace

bool runqempty(P* pp) {
  // Looking at head, tail and runnext separately could see a G moving from runnext to the
  // ring as "nowhere"; re-reading tail makes the snapshot consistent (Go's runqempty).
  for (;;) {
    std::uint32_t head = pp->runq.head.load(kAcquire);
    std::uint32_t tail = pp->runq.tail.load(kAcquire);
    G* next = pp->runnext.load(kAcquire);
    if (tail == pp->runq.tail.load(kAcquire)) return head == tail && next == nullptr;
  }
}

void runqput(P* pp, G* gp, bool next) {
  if (next) {
    G* old = pp->runnext.load(kRelaxed);
    while (!pp->runnext.compare_exchange_weak(old, gp, kRelease, kRelaxed)) {
    }
    if (old == nullptr) return;
    gp = old;  // kick the old runnext out to the regular run queue
  }
  for (;;) {
    std::uint32_t h = pp->runq.head.load(kAcquire);  // synchronize with consumers
    std::uint32_t t = pp->runq.tail.load(kRelaxed);
    if (t - h < kRunqSize) {
      pp->runq.slots[t % kRunqSize].store(gp, kRelaxed);
      pp->runq.tail.store(t + 1, kRelease);  // makes the slot visible to consumers
      return;
    }
    if (runqputslow(pp, gp, h, t)) return;
    // the queue is not full now, the put above must succeed
  }
}

G* runqget(P* pp, bool* inheritTime) {
  // If there's a runnext, it's the next G to run; it inherits the time slice.
  G* next = pp->runnext.load(kRelaxed);
  // Only the owner sets runnext to non-null, so a failed CAS means a thief took it and
  // runnext is now null: no retry needed.
  if (next != nullptr && pp->runnext.compare_exchange_strong(next, nullptr, kAcquire, kRelaxed)) {
    pp->runnexttaken.store(pp->runnexttaken.load(kRelaxed) + 1, kRelaxed);
    *inheritTime = true;
    return next;
  }
  if (gomaxprocs_now.load(std::memory_order_relaxed) == 1) {
    // No other P exists (changing GOMAXPROCS stops the world), so no thief can race us for
    // head: a plain store does what the CAS would, without a locked instruction.
    std::uint32_t h = pp->runq.head.load(kRelaxed);
    if (pp->runq.tail.load(kRelaxed) == h) return nullptr;
    G* gp = pp->runq.slots[h % kRunqSize].load(kRelaxed);
    pp->runq.head.store(h + 1, kRelease);
    *inheritTime = false;
    prefetchAhead(pp, h + 1, pp->runq.tail.load(kRelaxed));
    return gp;
  }
  for (;;) {
    std::uint32_t h = pp->runq.head.load(kAcquire);
    std::uint32_t t = pp->runq.tail.load(kRelaxed);
    if (t == h) return nullptr;
    G* gp = pp->runq.slots[h % kRunqSize].load(kRelaxed);
    if (pp->runq.head.compare_exchange_weak(h, h + 1, kRelease, kRelaxed)) {
      *inheritTime = false;
      prefetchAhead(pp, h + 1, t);
      return gp;
    }
  }
}

G* runqsteal(P* pp, P* p2, bool stealRunNextG) {
  std::uint32_t t = pp->runq.tail.load(kRelaxed);
  std::uint32_t n = runqgrab(p2, pp->runq.slots, t, stealRunNextG);
  if (n == 0) return nullptr;
  owner_add<std::uint64_t>(pp->steals, 1);
  owner_add<std::uint64_t>(pp->stolen, n);
  URGENT_PROBE(steal, pp->id, p2->id, n);
  URGENT_TRACE_EVENT(kSteal, pp->id, p2->id, n);
  n--;
  G* gp = pp->runq.slots[(t + n) % kRunqSize].load(kRelaxed);
  if (n == 0) return gp;
  std::uint32_t h = pp->runq.head.load(kAcquire);
  if (t - h + n >= kRunqSize) fatal("runqsteal: runq overflow");
  pp->runq.tail.store(t + n, kRelease);
  return gp;
}

std::uint32_t runqlen(P* pp) {
  std::uint32_t h = pp->runq.head.load(kAcquire);
  std::uint32_t t = pp->runq.tail.load(kAcquire);
  std::uint32_t n = t - h;
  if (n > kRunqSize) n = 0;  // inconsistent snapshot
  return n + (pp->runnext.load(kRelaxed) != nullptr ? 1 : 0);
}

}  // namespace urgent::rt
