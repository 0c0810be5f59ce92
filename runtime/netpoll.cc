// runtime/netpoll.cc: the network poller (Go's netpoll.go and netpoll_epoll.go).
//
// Design and invariants:
// - One epoll instance per run, edge-triggered: every descriptor is registered once, for
//   reading and writing, when it is opened (poll_open), and readiness is remembered in its
//   PollDesc until a goroutine consumes it. An eventfd (breakfd) interrupts a blocked
//   epoll_wait (netpollBreak); at most one wakeup is pending (netpollWakeSig).
// - PollDesc::rg / wg, one per direction, hold kPdNil, kPdReady (readiness not consumed
//   yet), kPdWait (a goroutine is about to park) or the parked goroutine itself. Only CAS
//   moves them, so exactly one party takes a parked goroutine out (the poller on readiness,
//   a deadline timer, close): that party readies it and decrements netpollWaiters.
// - A goroutine parks (gopark with netpollblockcommit) only after rg/wg said kPdWait, and the
//   commit CAS kPdWait -> G fails if readiness arrived meanwhile, so no wakeup is lost.
// - PollDescs are never freed, only reused (Go's pollCache): an event harvested for a
//   descriptor that was closed and reopened meanwhile is a spurious wakeup, which is
//   harmless because every operation retries its system call until EAGAIN.
// - Deadlines are runtime timers; their callbacks enforce the deadline *currently* set
//   (rd/wd), so a timer that fires after the deadline moved does nothing.
// - A File may outlive its urgent::run: its PollDesc remembers the run it was registered in
//   (epoch), and the first operation in another one forgets the old run's waiters and
//   registers it again (revive).
#include "netpoll.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "lock.h"
#include "panic.h"
#include "proc.h"
#include "timer.h"

namespace urgent::rt {

std::atomic<std::int32_t> netpollWaiters{0};

struct PollDesc {
  PollDesc* link = nullptr;  // [cache lock] free list
  int fd = -1;
  SpinMutex lock;  // serializes closing/deadline changes with the deadline timers
  std::atomic<std::uintptr_t> rg{0};
  std::atomic<std::uintptr_t> wg{0};
  std::atomic<bool> closing{false};
  std::atomic<std::int64_t> rd{0};  // read deadline: 0 none, -1 expired, else nanotime
  std::atomic<std::int64_t> wd{0};
  Timer rt;  // read deadline timer
  Timer wt;  // write deadline timer
  // [atomic; changed under lock] current_run() when it was opened or last revived: a File
  // may outlive its urgent::run (revive).
  std::atomic<std::uint32_t> epoch{0};
};

namespace {

constexpr std::uintptr_t kPdNil = 0;
constexpr std::uintptr_t kPdReady = 1;
constexpr std::uintptr_t kPdWait = 2;

int epfd = -1;
int breakfd = -1;
std::atomic<std::uint32_t> netpollWakeSig{0};
bool have_pwait2 = true;  // epoll_pwait2 (Linux 5.11): nanosecond timeouts

std::atomic<std::uint64_t> n_polls{0}, n_blocking{0}, n_ready{0}, n_sysmon{0};

// The cache of PollDescs (Go's pollCache): allocated in blocks, never freed.
Mutex cache_lock;
PollDesc* cache_first = nullptr;
std::vector<std::unique_ptr<PollDesc[]>> cache_blocks;

// Restores errno on scope exit: runtime code running on a goroutine must not change it.
struct ErrnoSaver {
  int saved = errno;
  ~ErrnoSaver() { errno = saved; }
};

std::atomic<std::uintptr_t>& waiter(PollDesc* pd, int mode) {
  return mode == kModeRead ? pd->rg : pd->wg;
}

PollError netpollcheckerr(PollDesc* pd, int mode) {
  if (pd->closing.load(std::memory_order_acquire)) return kPollErrClosing;
  std::int64_t d = (mode == kModeRead ? pd->rd : pd->wd).load(std::memory_order_acquire);
  if (d < 0) return kPollErrTimeout;
  return kPollNoError;
}

bool netpollblockcommit(G* gp, void* arg) {
  auto* gpp = static_cast<std::atomic<std::uintptr_t>*>(arg);
  std::uintptr_t expected = kPdWait;
  if (gpp->compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(gp))) {
    // Bump the count of goroutines waiting for the poller: the scheduler uses it to decide
    // whether to block in the poller when there is nothing else to do.
    netpollWaiters.fetch_add(1);
    return true;
  }
  return false;  // readiness (or an unblock) arrived first: don't park
}

// Returns true if I/O is ready, false if woken by a deadline or close (Go's netpollblock).
bool netpollblock(PollDesc* pd, int mode) {
  std::atomic<std::uintptr_t>& gpp = waiter(pd, mode);
  for (;;) {
    std::uintptr_t v = kPdReady;
    if (gpp.compare_exchange_strong(v, kPdNil)) return true;  // consume readiness
    v = kPdNil;
    if (gpp.compare_exchange_strong(v, kPdWait)) break;
    if (v != kPdReady && v != kPdNil) fatal("runtime: double wait");
  }
  // The check after setting kPdWait pairs with the one in poll_unblock/deadlines: either we
  // see closing/expired here or they see kPdWait and clear it.
  if (netpollcheckerr(pd, mode) == kPollNoError) {
    gopark(netpollblockcommit, &gpp, WaitReason::kIOWait);
  }
  std::uintptr_t old = gpp.exchange(kPdNil);
  if (old > kPdWait) fatal("runtime: corrupted polldesc");
  return old == kPdReady;
}

// Takes the goroutine waiting on pd for mode out (Go's netpollunblock); with ioready,
// leaves kPdReady behind for the next operation.
G* netpollunblock(PollDesc* pd, int mode, bool ioready) {
  std::atomic<std::uintptr_t>& gpp = waiter(pd, mode);
  for (;;) {
    std::uintptr_t old = gpp.load();
    if (old == kPdReady) return nullptr;
    if (old == kPdNil && !ioready) return nullptr;  // only set kPdReady for ioready
    std::uintptr_t desired = ioready ? kPdReady : kPdNil;
    if (gpp.compare_exchange_weak(old, desired)) {
      if (old <= kPdWait) return nullptr;
      netpollWaiters.fetch_sub(1);
      return reinterpret_cast<G*>(old);
    }
  }
}

// Readies pd's waiters for the given directions; returns how many it found.
int netpollready(GList* toRun, PollDesc* pd, bool read, bool write) {
  int n = 0;
  if (read)
    if (G* gp = netpollunblock(pd, kModeRead, true)) toRun->push(gp), n++;
  if (write)
    if (G* gp = netpollunblock(pd, kModeWrite, true)) toRun->push(gp), n++;
  return n;
}

// Deadline timer callbacks: run on an M with a P, no lock held.
bool deadlineFired(PollDesc* pd, int mode, std::int64_t now) {
  G* gp = nullptr;
  {
    SpinGuard lock(pd->lock);
    std::atomic<std::int64_t>& d = mode == kModeRead ? pd->rd : pd->wd;
    std::int64_t when = d.load(std::memory_order_relaxed);
    if (when > 0 && when <= now) {  // still the deadline this timer was armed for
      d.store(-1, std::memory_order_release);
      gp = netpollunblock(pd, mode, false);
    }
  }
  if (gp != nullptr) goready(gp);
  return false;  // PollDescs are never freed
}

bool readDeadline(void* arg, std::int64_t now) {
  return deadlineFired(static_cast<PollDesc*>(arg), kModeRead, now);
}

bool writeDeadline(void* arg, std::int64_t now) {
  return deadlineFired(static_cast<PollDesc*>(arg), kModeWrite, now);
}

// A descriptor opened in another urgent::run (its File outlived the run): that run's epoll
// instance is gone, and so are the goroutines that waited on it. Forget them; inside a run,
// register the fd with this run's poller (which reports its current readiness) and re-arm
// the deadlines still set. Every poll_* operation starts here.
void revive(PollDesc* pd) {
  std::uint32_t now = current_run();
  if (pd->epoch.load(std::memory_order_acquire) == now) return;
  Timer* arm[2] = {nullptr, nullptr};
  {
    SpinGuard lock(pd->lock);
    if (pd->epoch.load(std::memory_order_relaxed) == now) return;
    pd->rg.store(kPdNil);
    pd->wg.store(kPdNil);
    if (runtime_running() && epfd >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.ptr = pd;
      // (A failure means the program closed the fd under its File: its calls then fail.)
      epoll_ctl(epfd, EPOLL_CTL_ADD, pd->fd, &ev);
      if (std::int64_t d = pd->rd.load(); d > 0) (arm[0] = &pd->rt)->when = d;
      if (std::int64_t d = pd->wd.load(); d > 0) (arm[1] = &pd->wt)->when = d;
    }
    pd->epoch.store(now, std::memory_order_release);
  }
  for (Timer* t : arm) {
    if (t != nullptr) addtimer(t);  // idle: timers_fini took them off the old run's heaps
  }
}

PollDesc* pdalloc() {
  LockGuard lock(cache_lock);
  if (cache_first == nullptr) {
    constexpr std::size_t kBlock = 64;
    cache_blocks.emplace_back(new PollDesc[kBlock]);
    PollDesc* block = cache_blocks.back().get();
    for (std::size_t i = 0; i < kBlock; i++) {
      block[i].link = cache_first;
      cache_first = &block[i];
    }
  }
  PollDesc* pd = cache_first;
  cache_first = pd->link;
  return pd;
}

void pdfree(PollDesc* pd) {
  LockGuard lock(cache_lock);
  pd->link = cache_first;
  cache_first = pd;
}

int epoll_wait_ns(epoll_event* events, int max, std::int64_t delay) {
  if (have_pwait2) {
    timespec ts{static_cast<time_t>(delay / 1'000'000'000),
                static_cast<long>(delay % 1'000'000'000)};
    int n = epoll_pwait2(epfd, events, max, delay < 0 ? nullptr : &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2 = false;
  }
  // Old kernels: milliseconds, rounded up so that a timer is never run early.
  int ms = delay < 0 ? -1 : static_cast<int>((delay + 999'999) / 1'000'000);
  return epoll_wait(epfd, events, max, ms);
}

}  // namespace

void netpollinit() {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fatal("runtime: netpollinit failed: epoll_create1: %s", strerror(errno));
  breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (breakfd < 0) fatal("runtime: netpollinit failed: eventfd: %s", strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &breakfd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev) != 0) {
    fatal("runtime: netpollinit failed: epoll_ctl: %s", strerror(errno));
  }
  netpollWakeSig.store(0);
  netpollWaiters.store(0);
  n_polls = n_blocking = n_ready = n_sysmon = 0;
}

void netpollfini() {
  close(breakfd);
  close(epfd);
  breakfd = epfd = -1;
}

void netpollBreak() {
  // Failing to CAS means a wakeup is already pending.
  std::uint32_t expected = 0;
  if (!netpollWakeSig.compare_exchange_strong(expected, 1)) return;
  ErrnoSaver keep;
  std::uint64_t one = 1;
  for (;;) {
    if (write(breakfd, &one, sizeof one) == sizeof one) return;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return;  // the counter is full: a wakeup is pending anyway
    fatal("runtime: netpollBreak write failed: %s", strerror(errno));
  }
}

GList netpoll(std::int64_t delay) {
  GList toRun;
  if (epfd < 0) return toRun;
  ErrnoSaver keep;
  constexpr int kEvents = 128;
  epoll_event events[kEvents];
  n_polls.fetch_add(1, std::memory_order_relaxed);
  if (delay != 0) n_blocking.fetch_add(1, std::memory_order_relaxed);
  int n;
  for (;;) {
    n = epoll_wait_ns(events, kEvents, delay);
    if (n >= 0) break;
    if (errno != EINTR) fatal("runtime: netpoll failed: epoll_wait: %s", strerror(errno));
    // A timed sleep that was interrupted returns, so the caller recomputes how long to sleep.
    if (delay > 0) return toRun;
  }
  std::uint64_t ready = 0;
  for (int i = 0; i < n; i++) {
    const epoll_event& ev = events[i];
    if (ev.events == 0) continue;
    if (ev.data.ptr == &breakfd) {
      if (ev.events != EPOLLIN) fatal("runtime: netpoll: eventfd ready for something else");
      if (delay != 0) {
        // A non-blocking poll leaves the wakeup pending for the blocked poller it was meant
        // for; a blocking one consumes it.
        std::uint64_t v;
        ssize_t r = read(breakfd, &v, sizeof v);
        (void)r;
        netpollWakeSig.store(0);
      }
      continue;
    }
    bool read = ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool write = ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    ready += netpollready(&toRun, static_cast<PollDesc*>(ev.data.ptr), read, write);
  }
  if (ready != 0) n_ready.fetch_add(ready, std::memory_order_relaxed);
  return toRun;
}

NetpollStats netpoll_stats() {
  return {n_polls.load(), n_blocking.load(), n_ready.load(), n_sysmon.load()};
}

void netpoll_count_sysmon() {
  n_sysmon.fetch_add(1, std::memory_order_relaxed);
}

PollDesc* poll_open(int fd, int* errcode) {
  PollDesc* pd = pdalloc();
  if (pd->rg.load() > kPdWait || pd->wg.load() > kPdWait)
    fatal("runtime: blocked read/write on free polldesc");
  pd->fd = fd;
  pd->closing.store(false);
  pd->rg.store(kPdNil);
  pd->wg.store(kPdNil);
  pd->rd.store(0);
  pd->wd.store(0);
  pd->rt.f = readDeadline;
  pd->rt.arg = pd;
  pd->wt.f = writeDeadline;
  pd->wt.arg = pd;
  pd->epoch.store(current_run(), std::memory_order_release);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = pd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    *errcode = errno;
    pdfree(pd);
    return nullptr;
  }
  return pd;
}

void poll_close(PollDesc* pd) {
  revive(pd);
  if (!pd->closing.load()) fatal("runtime: close polldesc w/o unblock");
  if (pd->rg.load() > kPdWait || pd->wg.load() > kPdWait)
    fatal("runtime: blocked read/write on closing polldesc");
  ErrnoSaver keep;
  deltimer(&pd->rt);
  deltimer(&pd->wt);
  epoll_event ev{};
  epoll_ctl(epfd, EPOLL_CTL_DEL, pd->fd, &ev);
  pdfree(pd);
}

PollError poll_reset(PollDesc* pd, int mode) {
  revive(pd);
  PollError err = netpollcheckerr(pd, mode);
  if (err != kPollNoError) return err;
  // Readiness left from before is stale: the caller tries its system call first anyway.
  std::uintptr_t ready = kPdReady;
  waiter(pd, mode).compare_exchange_strong(ready, kPdNil);
  return kPollNoError;
}

PollError poll_wait(PollDesc* pd, int mode) {
  revive(pd);
  PollError err = netpollcheckerr(pd, mode);
  if (err != kPollNoError) return err;
  while (!netpollblock(pd, mode)) {
    err = netpollcheckerr(pd, mode);
    if (err != kPollNoError) return err;
    // The deadline fired and was moved before we ran again: wait once more.
  }
  return kPollNoError;
}

void poll_set_deadline(PollDesc* pd, std::int64_t when, int mode) {
  revive(pd);
  Timer& t = mode == kModeRead ? pd->rt : pd->wt;
  std::atomic<std::int64_t>& d = mode == kModeRead ? pd->rd : pd->wd;
  std::int64_t now = nanotime();
  bool expired = when != 0 && when <= now;
  {
    SpinGuard lock(pd->lock);
    if (pd->closing.load()) return;
    d.store(expired ? -1 : when, std::memory_order_release);
  }
  // Outside pd->lock: deltimer waits for a running callback, which takes that lock.
  deltimer(&t);
  if (when > now) {
    t.when = when;
    addtimer(&t);
  }
  if (expired) {
    G* gp;
    {
      SpinGuard lock(pd->lock);
      gp = netpollunblock(pd, mode, false);
    }
    if (gp != nullptr) goready(gp);
  }
}

void poll_unblock(PollDesc* pd) {
  revive(pd);
  G* rg;
  G* wg;
  {
    SpinGuard lock(pd->lock);
    if (pd->closing.load()) fatal("runtime: unblock on closing polldesc");
    pd->closing.store(true, std::memory_order_release);
    rg = netpollunblock(pd, kModeRead, false);
    wg = netpollunblock(pd, kModeWrite, false);
  }
  if (rg != nullptr) goready(rg);
  if (wg != nullptr) goready(wg);
}

}  // namespace urgent::rt
