// runtime/proc.cc: the G/M/P scheduler (Go's proc.go).
//
// Design and invariants:
// - An M runs Gs only while it holds a P (m->p, p->m). P ownership moves only through
//   acquirep/releasep; a P is idle (kPidle, on sched.pidle) only with an empty run queue.
// - Scheduling happens on the stack of the goroutine that gives up the CPU whenever it
//   cannot block: gosched/gopark/goexit publish the current G, run schedule() right there
//   and switch directly to the next G (one context switch, not two). Only when the M must
//   block (no work: stopm; a locked-thread handoff; stop-the-world) does it switch to g0,
//   the M's own thread stack, which runs the blocking half of the scheduler.
// - A G that publishes itself (run queue, free list) before it has switched away sets
//   g->ctx.sp = nullptr first; the switch stores the real sp as its last act on that stack.
//   Whoever resumes or reuses a G waits until ctx.sp is non-null (waitSaved). This is what
//   makes it safe to publish before switching. Such waits happen only on g0 or in a
//   goroutine that has not published itself (switchTo detours through g0 otherwise), so
//   two Ms can never wait for each other's goroutine.
// - errno and the C++ exception state (caught exceptions, the uncaught count) belong to the
//   goroutine: switchTo saves them on the stack of the context it leaves and puts them back
//   on whichever thread that context resumes; a new goroutine starts with none.
// - Spinning Ms (looking for work with a P) are counted in sched.nmspinning; an M may start
//   spinning only while 2*nmspinning < busy Ps. New work calls wakep(), which starts a
//   spinning M only if there is an idle P and nobody spins; a spinner that finds work calls
//   resetspinning(), which wakes the next one (Go's "last spinner wakes another").
// - Lock order: sched.lock before sched.gflock before allglock. No runtime lock is held
//   across a goroutine switch.
#include "proc.h"

#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cxxabi.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "activation.h"
#include "cpu.h"
#include "env.h"
#include "log.h"
#include "netpoll.h"
#include "observe.h"
#include "panic.h"
#include "preempt.h"
#include "runq.h"
#include "sanitizer.h"
#include "sema.h"
#include "signal_unix.h"
#include "stack.h"
#include "sysmon.h"
#include "timer.h"
#include "trigger.h"
#include "urgent/blocking.h"
#include "urgent/debug.h"
#include "urgent/go.h"
#include "urgent/run.h"
#include "urgent/sched.h"
#include "urgent/stats.h"
#include "usdt.h"

namespace urgent::rt {

Sched sched;
LatencyHistogram sched_latency;
std::atomic<std::uint32_t> run_epoch{0};
thread_local constinit std::uint8_t tls_trackseq = 0;
P* allp[kMaxGomaxprocs];
std::atomic<std::int32_t> gomaxprocs_now{0};
Mutex allglock;

namespace {

thread_local M* tls_m = nullptr;

constexpr std::int64_t kGoidCacheBatch = 16;   // Go's _GoidCacheBatch
constexpr int kGfreePrefetch = 2;              // gfget prefetches the G this many `go`s ahead
constexpr std::size_t kG0StackSize = 1 << 20;  // pthread stack of each M (g0)
constexpr unsigned long kTimerSlackNs = 1000;  // Ms' timer slack (see minit)

std::atomic<bool> running{false};
std::atomic<int> helper_threads{0};  // start_helper_thread's threads, alive
std::atomic<int> orphans_alive{0};   // orphaned Ms (any run's) whose call has not returned
std::int64_t runtimeInitTime = 0;  // nanotime() when sysmon starts (schedtrace's 0 ms)
bool main_started = false;         // [own by M0 before any other M exists]
std::int32_t newprocs = 0;         // [sched] GOMAXPROCS requested by gomaxprocs(), for procresize
int exit_status = 0;               // [sched] main's result

// Every G ever allocated in this run (Go's allgs), carved out of slabs of kGSlab that are
// never freed while the run lasts: G i is slab_dir[i / kGSlab][i % kGSlab]. Readers need no
// lock (the SIGQUIT dump, checkdead, schedtrace, num_goroutine): a slab is published in
// slab_dir before allglen_ counts its Gs (release), and neither moves afterwards.
constexpr std::size_t kGSlab = 256;
constexpr std::size_t kMaxSlabs = std::size_t{1} << 20;  // 268 M goroutines; 8 MiB of BSS
std::atomic<G*> slab_dir[kMaxSlabs];
std::size_t nslabs = 0;  // [allglock]
G* slab_next = nullptr;  // [allglock]
G* slab_end = nullptr;   // [allglock]
std::atomic<std::int64_t> allglen_{0};

M* m0 = nullptr;

}  // namespace

void outside_runtime(const char* what) {
  if (runtime_running()) {
    fatal("%s called on a thread that runs no goroutine (a thread the program started "
          "itself: only goroutines may block in urgent)",
          what);
  }
  fatal("%s called outside urgent::run (no goroutine is running on this thread)", what);
}

void require_run(const char* what) {
  if (!runtime_running()) outside_runtime(what);
}

G* getg_to_park(WaitReason reason) {
  G* gp = getg();
  if (gp == nullptr) outside_runtime(blocking_call_name(reason));
  return gp;
}

const char* blocking_call_name(WaitReason r) {
  switch (r) {
    case WaitReason::kChanReceive:
    case WaitReason::kChanReceiveNilChan: return "urgent::Chan::recv";
    case WaitReason::kChanSend:
    case WaitReason::kChanSendNilChan: return "urgent::Chan::send";
    case WaitReason::kSelect:
    case WaitReason::kSelectNoCases: return "urgent::select";
    case WaitReason::kSyncMutexLock: return "urgent::Mutex::lock";
    case WaitReason::kSyncRWMutexRLock: return "urgent::RWMutex::lock_shared";
    case WaitReason::kSyncRWMutexLock: return "urgent::RWMutex::lock";
    case WaitReason::kSyncWaitGroupWait: return "urgent::WaitGroup::wait";
    case WaitReason::kSyncCondWait: return "urgent::Cond::wait";
    case WaitReason::kSleep: return "urgent::sleep_for";
    case WaitReason::kIOWait: return "urgent::File or urgent::net I/O";
    case WaitReason::kSemacquire: return "a blocking urgent call (semacquire)";
    case WaitReason::kLockOSThreadHandoff:
    case WaitReason::kTestPark:
    case WaitReason::kZero: break;
  }
  return "gopark";
}

namespace {

// ---- the goroutine switch ----
//
// One state machine, per M, for giving up the CPU. An M is in one of two states:
//
//   running     its current goroutine (m->curg) runs its own code: the SIGURG handler may
//               preempt it at an async safe point.
//   scheduling  the scheduler runs on this M (m->scheduling): on the stack of the goroutine
//               that is giving up the CPU, which stays m->curg until it publishes itself, or
//               on g0. The SIGURG handler never preempts meanwhile (verdict "runtime"),
//               whatever the pc: the scheduler runs code whose pc looks like the program's
//               (timer callbacks, inline functions the linker took from the program's objects).
//
//   running --enterScheduler--> scheduling: goschedImpl, gopark, goyield, goexit1,
//       exitsyscall's slow path. g0 is always scheduling.
//   scheduling --leaveScheduler--> running: a goroutine resumes from its switch (switchTo
//       returns into it), starts (goentry), or keeps running after all (gosched found
//       itself, gopark's unlockf refused, exitsyscall's slow path found an idle P).
//
// While its M is scheduling, the goroutine giving up the CPU goes through, in order:
//   1. markSwitching (ctx.sp = null), then it publishes itself: a run queue, a wait queue
//      (gopark's unlockf), the free list (goexit1).
//   2. The scheduler picks the next context. It runs on the leaving goroutine's stack
//      (schedule(onG0 = false), which never blocks) if that stack has kSchedulerStack bytes
//      left (roomToSchedule); otherwise, and whenever the M must block (stopm, a locked M,
//      stop-the-world), on g0 (mloop).
//   3. switchToNext: execute(next) makes next the M's running goroutine, then switchTo. What
//      the leaving side cannot finish itself goes to the next context on the M in M fields:
//        nextg        next published itself but is not saved yet: g0 waits for it
//                     (waitSaved) and switches to it, never the leaving goroutine (two Ms
//                     would wait for each other's goroutine)
//        pending      next is locked to another M: g0 hands it our P (startlockedm)
//        deadstack    the leaving goroutine exited: whoever runs next caches its stack
//        exit_locked  the leaving goroutine exited locked to the thread: g0 ends the thread
//   4. urgent_ctx_switch saves the leaving context: its sp is the last thing written on
//      that stack, so a resumer that saw it non-null (waitSaved) may run it. Its errno and
//      exception state stay on its own stack (ThreadState) until it resumes.

// Bytes of goroutine stack the scheduler may use below the frame that calls it (schedule,
// findRunnable, timers' callbacks, netpoll's event array, the tracer; measured: a few KiB,
// several times that under ASan). With less left, the scheduler runs on g0.
#if defined(URGENT_ASAN)
constexpr std::uintptr_t kSchedulerStack = 128 * 1024;
#else
constexpr std::uintptr_t kSchedulerStack = 32 * 1024;
#endif

[[gnu::always_inline]] inline void enterScheduler(M* mp) {
  mp->scheduling.store(true, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);  // before any scheduler code
}

[[gnu::always_inline]] inline void leaveScheduler(M* mp) {
  std::atomic_signal_fence(std::memory_order_seq_cst);  // after all scheduler code
  mp->scheduling.store(false, std::memory_order_relaxed);
}

// May the scheduler run on gp's stack, below the caller's frame?
[[gnu::always_inline]] inline bool roomToSchedule(const G* gp) {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) - gp->stack_lo >=
         kSchedulerStack;
}

void waitSaved(G* gp) {
  // See the header comment: the G published itself before its switch finished. Its M may
  // be off the CPU (preempted by the kernel, or of lower priority under SCHED_FIFO): back
  // off so that it runs.
  for (SpinBackoff backoff; __atomic_load_n(&gp->ctx.sp, __ATOMIC_ACQUIRE) == nullptr;) {
    backoff.wait();
  }
}

void markSwitching(G* gp) {
  __atomic_store_n(&gp->ctx.sp, nullptr, __ATOMIC_RELAXED);
}

// gp marked itself switching but keeps running after all (it took itself back, or never
// published itself): non-null again, so that nobody waits for a save and the SIGURG handler
// does not take it for a goroutine in the middle of a switch.
void unmarkSwitching(G* gp) {
  __atomic_store_n(&gp->ctx.sp, &gp->ctx, __ATOMIC_RELEASE);
}

// The body of every goroutine: urgent_gostart calls it on the goroutine's stack.
[[noreturn]] void goentry(void* arg);

// The running context's errno and exception state (runtime2.h, ThreadState), and putting
// them back on the thread it resumed on.
[[gnu::always_inline]] inline ThreadState saveThreadState(M* mp) {
  return ThreadState{*mp->errno_ptr, *mp->eh_globals};
}
[[gnu::always_inline]] inline void restoreThreadState(M* mp, const ThreadState& ts) {
  *mp->errno_ptr = ts.err;
  *mp->eh_globals = ts.eh;
}

// The goroutine that ran before us on this M exited; now that nothing runs on its stack,
// put the stack in the P's cache.
void cacheDeadStack(M* mp) {
  if (mp->deadstack.lo == 0) return;
  fiber_reset_stack(mp->deadstack);
  stackput(mp->p != nullptr ? &mp->p->stackcache : nullptr, mp->deadstack);
  mp->deadstack = Stack{0, 0};
}

// Switches from the running context `from` (a G or g0) to `to`. Returns when something
// switches back to `from`, possibly on another M.
//
// `to` may have published itself and not finished switching off its stack yet (ctx.sp is
// null). Spinning here for it would deadlock when its M is in the same situation waiting for
// `from`; so the wait is done on g0 instead, after `from` is saved (g0's loop, mp->nextg).
// A context on g0 is never published, so waits from g0 cannot form a cycle.
[[gnu::always_inline]] inline void switchTo(M* mp, G* from, G* to, bool exiting) {
  if (to != &mp->g0 && __atomic_load_n(&to->ctx.sp, __ATOMIC_ACQUIRE) == nullptr) {
    mp->nextg = to;
    to = &mp->g0;
  }
  ThreadState mine = saveThreadState(mp);  // kept on from's stack while it is switched out
  fiber_start(from, to, exiting);
  urgent_ctx_switch(&from->ctx, &to->ctx);
  // Resumed. Nothing here may use a value computed from getm() before the switch.
  fiber_finish(from);
  M* now = from->m;  // the M we resumed on (set by execute; g0's is fixed)
  restoreThreadState(now, mine);
  cacheDeadStack(now);
  if (from != &now->g0) leaveScheduler(now);  // a goroutine resumes (g0 keeps scheduling)
}

// ---- Ps ----

void acquirep(M* mp, P* pp) {
  if (mp->p != nullptr || pp->m != nullptr || pp->status.load() != kPidle) {
    fatal("acquirep: invalid p state (m->p=%p p->m=%p p->status=%u)", static_cast<void*>(mp->p),
          static_cast<void*>(pp->m), pp->status.load());
  }
  mp->p = pp;
  pp->m = mp;
  pp->status.store(kPrunning, std::memory_order_relaxed);
  activation_set_running(mp);
  URGENT_TRACE_EVENT(kProcStart, pp->id);
}

P* releasep(M* mp) {
  P* pp = mp->p;
  if (pp == nullptr || pp->m != mp || pp->status.load() != kPrunning) {
    fatal("releasep: invalid p state");
  }
  mp->p = nullptr;
  pp->m = nullptr;
  pp->status.store(kPidle, std::memory_order_relaxed);
  activation_set_idle(mp);
  URGENT_TRACE_EVENT(kProcStop, pp->id);
  return pp;
}

void pidleput(P* pp) REQUIRES(sched.lock) {
  if (!runqempty(pp)) fatal("pidleput: P has non-empty run queue");
  pp->link = sched.pidle;
  sched.pidle = pp;
  owner_add<std::int32_t>(sched.npidle, 1);
}

P* pidleget() REQUIRES(sched.lock) {
  P* pp = sched.pidle;
  if (pp != nullptr) {
    sched.pidle = pp->link;
    owner_add<std::int32_t>(sched.npidle, -1);
    // A P coming out of the idle list starts a fresh time slice, even if its first
    // goroutine inherits one from runnext: otherwise sysmon, which watches schedtick, counts
    // the idle time as the slice of whatever runs next and preempts it at once, or retakes
    // the P from its next short system call (a deviation from Go 1.19, which does that; the
    // P-handoff checker found it as needless handoffs).
    pp->schedtick++;
    // sysmon may sleep because every P was idle: this one gets busy (I/O readied a
    // goroutine, a timer fired, a system call returned), so sysmon must watch it again.
    sysmonwakeLocked();
  }
  return pp;
}

// ---- Ms ----

void mput(M* mp) REQUIRES(sched.lock) {
  mp->schedlink = sched.midle;
  sched.midle = mp;
  sched.nmidle++;
}

M* mget() REQUIRES(sched.lock) {
  M* mp = sched.midle;
  if (mp != nullptr) {
    sched.midle = mp->schedlink;
    sched.nmidle--;
  }
  return mp;
}

void mloop(M* mp);

// Per-thread setup of an M (Go's minit): thread id, g0's stack bounds, signal stack.
void minit(M* mp) {
  tls_m = mp;
  mp->g0.m = mp;
  mp->errno_ptr = &errno;  // this thread's errno; the M never changes threads
  mp->eh_globals = reinterpret_cast<CxaEhGlobals*>(abi::__cxa_get_globals());
  mp->tid = static_cast<pid_t>(syscall(SYS_gettid));
  mp->thread = pthread_self();
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attr, &addr, &size);
    mp->g0.stack_lo = reinterpret_cast<std::uintptr_t>(addr);
    mp->g0.stack_hi = mp->g0.stack_lo + size;
    pthread_attr_destroy(&attr);
  }
  fiber_adopt_thread(&mp->g0);
  trace_bind_thread(&mp->trace, mp->id, mp->tid);
  signal_minit(mp);
  // The kernel rounds timed sleeps up by the thread's timer slack (50 µs by default); an M
  // sleeping until the next timer should wake when it is due. M0 gets its own back at exit.
  mp->saved_timerslack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  prctl(PR_SET_TIMERSLACK, kTimerSlackNs, 0, 0, 0);
  activation_minit(mp);
  trigger_minit(mp);
}

void munit(M* mp) {
  trigger_unminit(mp);
  activation_unminit(mp);
  if (mp->saved_timerslack > 0) prctl(PR_SET_TIMERSLACK, mp->saved_timerslack, 0, 0, 0);
  signal_unminit(mp);
  trace_bind_thread(nullptr, 0, 0);
  tls_m = nullptr;
}

void* mstart(void* arg) {
  M* mp = static_cast<M*>(arg);
  minit(mp);
  log::debug("M{} started (tid {})", mp->id, mp->tid);
  if (mp->nextp != nullptr) {
    acquirep(mp, mp->nextp);
    mp->nextp = nullptr;
  }
  mloop(mp);
  munit(mp);
  return nullptr;
}

// The thread limit (Go's sched.maxmcount, debug.SetMaxThreads). Kept across runs.
std::atomic<std::int32_t> maxmcount{10000};

// Live Ms, M0 included (Go's mcount).
std::int64_t mcount() REQUIRES(sched.lock) {
  return sched.mnext - sched.nmexited;
}

// Go's checkmcount: exceeding the thread limit is fatal.
void checkmcount() REQUIRES(sched.lock) {
  if (mcount() > maxmcount.load()) {
    printf_raw("runtime: program exceeds %d-thread limit\n", maxmcount.load());
    fatal("thread exhaustion");
  }
}

}  // namespace

// Reserves the id of an M about to be created (Go's mReserveID). Counting the M in the same
// critical section that decided to create it keeps checkdead from seeing zero running Ms
// in between (an M returning from a syscall whose P was just handed to the new M).
std::int64_t mReserveID() REQUIRES(sched.lock) {
  std::int64_t id = sched.mnext++;
  checkmcount();
  return id;
}

// Creates a new M (thread) with a reserved id that starts with pp and the given spinning
// state (Go's newm).
void newm(P* pp, bool spinning, std::int64_t id) {
  M* mp = new M;
  mp->id = id;
  mp->nextp = pp;
  mp->spinning = spinning;
  mp->fastrand = static_cast<std::uint64_t>(mp->id) * 0x9E3779B97F4A7C15ull + 1;
  M* head = sched.allm.load();
  do {
    mp->alllink = head;
  } while (!sched.allm.compare_exchange_weak(head, mp));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kG0StackSize);
  // Create the thread with every signal blocked, so it has its sigaltstack before any
  // handler can run on it; mstart unblocks in minit.
  int err = create_thread_signals_blocked(&mp->thread, &attr, mstart, mp);
  pthread_attr_destroy(&attr);
  if (err != 0) fatal("newm: pthread_create failed: %s", strerror(err));
  sched.threads_created.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// The threads of this process, from /proc/self/stat (num_threads, the 20th field, after
// the command name in parentheses, which may hold anything). -1 if it cannot be read.
int processThreads() {
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  for (int field = 2; p != nullptr && field < 20; field++) p = std::strchr(p + 1, ' ');
  return p != nullptr ? std::atoi(p + 1) : -1;
}

// Threads the runtime knows of: its Ms, its helper threads (sysmon, the tracer's writer,
// the observer's reader), the Ms of earlier runs still stuck in a system call, and the
// sanitizer's own (ThreadSanitizer starts one with the first thread).
int runtimeThreads() REQUIRES(sched.lock) {
  return static_cast<int>(mcount()) + helper_threads.load() + orphans_alive.load() +
         (kTsan ? 1 : 0);
}

}  // namespace

// Called whenever an M goes idle (Go's checkdead): if no M is left running and no timer is
// pending, no goroutine can ever run again, so the program is deadlocked: report it as Go
// does and exit with status 2. An M in a system call or blocked in netpoll is not idle (it
// is not on sched.midle), and the last M blocks in netpoll instead of stopping while
// goroutines wait on the poller, so both count as able to run. Neither can a thread the
// program started itself (a std::thread that will send on a channel) be seen waiting: while
// the process has threads that are not the runtime's, the report waits (deadlock_deferred),
// and sysmon checks again every kDeadlockRecheckNs until they are gone (as Go does not
// report deadlocks while cgo may call in).
void checkdead() REQUIRES(sched.lock) {
  sched.deadlock_deferred.store(false, std::memory_order_relaxed);
  if (sched.shutdown.load()) return;
  std::int64_t run = mcount() - sched.nmidle - sched.nmidlelocked;
  if (run > 0) return;
  if (run < 0) {
    fatal("checkdead: inconsistent counts: mcount=%lld nmidle=%d nmidlelocked=%d",
          static_cast<long long>(mcount()), sched.nmidle, sched.nmidlelocked);
  }
  if (nextTimerWhen() != 0) return;  // a timer will ready someone
  int waiting = 0;
  for (std::int64_t i = 0, n = allglen(); i < n; i++) {
    G* gp = allg_at(i);
    switch (gp->atomicstatus.load()) {
      case kGwaiting: waiting++; break;
      case kGrunnable:
      case kGrunning:
      case kGsyscall:
        fatal("checkdead: runnable g: goroutine %lld in status %s",
              static_cast<long long>(gp->goid), gstatus_name(gp->atomicstatus.load()));
      default: break;
    }
  }
  if (processThreads() > runtimeThreads()) {
    sched.deadlock_deferred.store(true, std::memory_order_relaxed);  // one may ready a G
    // sysmon may already sleep as idle, for up to a minute: wake it, so that it sleeps
    // kDeadlockRecheckNs instead and looks again.
    sysmonwakeLocked();
    return;
  }
  if (waiting == 0) fatal("no goroutines (main called runtime.Goexit) - deadlock!");
  fatal("all goroutines are asleep - deadlock!");
}

int start_helper_thread(pthread_t* thread, void* (*fn)(void*), void* arg) {
  int err = create_thread_signals_blocked(thread, nullptr, fn, arg);
  if (err == 0) helper_threads.fetch_add(1);
  return err;
}

void join_helper_thread(pthread_t thread) {
  pthread_join(thread, nullptr);
  helper_threads.fetch_sub(1);
}

namespace {

// Removes mp from sched.midle; false if it is not there (startm took it).
bool mremove(M* mp) REQUIRES(sched.lock) {
  for (M** link = &sched.midle; *link != nullptr; link = &(*link)->schedlink) {
    if (*link == mp) {
      *link = mp->schedlink;
      sched.nmidle--;
      return true;
    }
  }
  return false;
}

// Stops the current M until it is handed a P (Go's stopm). Returns without a P only when
// the runtime shuts down. A parked M is also a spare for kernel-assisted handoff: an
// activation interrupts its sleep, and it takes a blocked M's P itself (activate).
void stopm(M* mp) {
  if (mp->p != nullptr) fatal("stopm holding p");
  if (mp->spinning) fatal("stopm spinning");
  for (;;) {
    {
      SpinGuard lock(sched.lock);
      if (sched.shutdown.load()) return;
      mput(mp);
      checkdead();
    }
    if (activation_park_begin(mp)) {
      mp->park.sleep_interruptible();
    } else {
      mp->park.sleep();
    }
    activation_park_end(mp);
    bool activated = false;
    if (mp->park.interrupted()) {
      SpinGuard lock(sched.lock);
      // Still idle unless startm took it meanwhile: then its wakeup (and nextp) follows.
      activated = mremove(mp);
    }
    if (!activated) {
      mp->park.sleep_until_woken();
      mp->park.clear();
      break;
    }
    mp->park.clear();
    if (sched.shutdown.load()) return;
    if (activate(mp)) return;  // it holds a P now
  }
  if (mp->nextp != nullptr) {
    acquirep(mp, mp->nextp);
    mp->nextp = nullptr;
  }
}

}  // namespace

void incidlelocked(std::int32_t v) {
  SpinGuard lock(sched.lock);
  sched.nmidlelocked += v;
  if (v > 0) checkdead();
}

// Schedules some M to run pp (or an idle P if pp is null): Go's startm.
void startm(P* pp, bool spinning) {
  M* nmp;
  std::int64_t id = -1;
  {
    SpinGuard lock(sched.lock);
    if (pp == nullptr) {
      pp = pidleget();
      if (pp == nullptr) {
        // The caller counted us in nmspinning, but there is no idle P after all.
        if (spinning && sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("startm: negative nmspinning");
        return;
      }
    }
    nmp = mget();
    if (nmp != nullptr) {
      if (nmp->spinning) fatal("startm: m is spinning");
      if (nmp->nextp != nullptr) fatal("startm: m has p");
      nmp->spinning = spinning;
      nmp->nextp = pp;
    } else {
      id = mReserveID();
    }
  }
  if (nmp != nullptr) {
    nmp->park.wakeup();  // outside sched.lock: a futex wake is a system call
    return;
  }
  newm(pp, spinning, id);
}

// Hands off pp from an M that is about to block (Go's handoffp). With self (an M without a
// P), self takes pp where another M would have been started for it; returns true then.
bool handoffp(P* pp, M* self) {
  auto start = [&](bool spinning) {
    if (self == nullptr) {
      startm(pp, spinning);
      return false;
    }
    self->spinning = spinning;  // (counted in nmspinning by the caller, as for startm)
    acquirep(self, pp);
    return true;
  };
  // If it has local work, start it straight away.
  if (!runqempty(pp) || sched.runqsize.load() != 0) return start(false);
  // No local work: if nobody spins and no P is idle, somebody must look for work.
  std::int32_t zero = 0;
  if (sched.nmspinning.load() + sched.npidle.load() == 0 &&
      sched.nmspinning.compare_exchange_strong(zero, 1)) {
    return start(true);
  }
  std::int64_t when = -1;  // -1: pp needs an M; else its earliest timer (0: none)
  {
    SpinGuard lock(sched.lock);
    if (sched.gcwaiting.load()) {
      pp->status.store(kPgcstop);
      if (--sched.stopwait == 0) sched.stopnote.wakeup();
      return false;
    }
    // If this is the last running P and nobody polls the network, an M must run it so
    // that it ends up blocked in the poller (waiting for I/O and timers).
    bool needPoller =
        sched.npidle.load() == gomaxprocs_now.load() - 1 && sched.lastpoll.load() != 0;
    if (sched.runqsize.load() == 0 && !needPoller) {
      when = pp->timers.timer0when.load();
      pidleput(pp);
    }
  }
  if (when < 0) return start(false);
  if (when > 0) wakeNetPoller(when);  // its timers still need an M (without sched.lock: may startm)
  return false;
}

namespace {
// A goroutine the poller (or sysmon's poll) found ready becomes runnable; no goroutine
// unblocked it.
void readyFromList(G* gp) {
  casgstatus(gp, kGwaiting, kGrunnable);
  URGENT_TRACE_EVENT(kGoUnblock, gp->goid, 0);
}
}  // namespace

void injectglist(GList* list) {
  if (list->empty()) return;
  // Mark them all runnable before any of them is queued.
  std::int32_t n = 0;
  for (G* gp = list->head; gp != nullptr; gp = gp->schedlink, n++) readyFromList(gp);
  M* mp = getm();
  P* pp = mp != nullptr ? mp->p : nullptr;
  // Without a P (sysmon, an M back from the poller) all of them go to the global queue;
  // with one, as many as there are idle Ps, and the rest to our local queue.
  std::int32_t global = pp == nullptr ? n : std::min(n, sched.npidle.load());
  if (global > 0) {
    SpinGuard lock(sched.lock);
    for (std::int32_t i = 0; i < global; i++) globrunqput(list->pop());
  }
  for (std::int32_t i = global; i > 0 && sched.npidle.load() != 0; i--) startm(nullptr, false);
  while (G* gp = list->pop()) runqput(pp, gp, false);
}

namespace {
// findRunnable's use of a list from the poller: its first goroutine, made runnable, to run
// now; the rest queued by injectglist. Null if the list is empty.
G* runFirstInjectRest(GList* list) {
  G* gp = list->pop();
  if (gp == nullptr) return nullptr;
  injectglist(list);
  readyFromList(gp);
  return gp;
}

void resetspinning(M* mp) {
  mp->spinning = false;
  if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("resetspinning: negative nmspinning");
  // The M wakeup policy is deliberately conservative: we were the spinner that found
  // work, so if nobody else spins, wake one more in case there is more work.
  wakep();
}

// Stop-the-world participant: give up the P and sleep (Go's gcstopm).
void gcstopm(M* mp) {
  if (mp->spinning) {
    mp->spinning = false;
    if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("gcstopm: negative nmspinning");
  }
  P* pp = releasep(mp);
  {
    SpinGuard lock(sched.lock);
    pp->status.store(kPgcstop);
    if (--sched.stopwait == 0) sched.stopnote.wakeup();
  }
  stopm(mp);
}

// The M is wired to a G that is not running: hand off the P and sleep until that G is
// runnable and someone gives us a P to run it (Go's stoplockedm). False on shutdown.
bool stoplockedm(M* mp) {
  if (mp->p != nullptr) handoffp(releasep(mp));
  {
    SpinGuard lock(sched.lock);
    if (sched.shutdown.load()) return false;
    // startlockedm may have handed us a P already; then the note is set and we don't wait.
    if (mp->nextp == nullptr) {
      mp->parked_locked = true;
      sched.nmidlelocked++;
      checkdead();
    }
  }
  activation_quiet(mp);
  mp->park.sleep();
  mp->park.clear();
  if (mp->nextp == nullptr) return false;  // woken by shutdown
  acquirep(mp, mp->nextp);
  mp->nextp = nullptr;
  return true;
}

// gp is runnable and wired to another M: give that M our P and stop (Go's startlockedm).
void startlockedm(M* mp, G* gp) {
  M* lm = gp->lockedm;
  if (lm == mp) fatal("startlockedm: locked to me");
  P* pp = releasep(mp);
  {
    SpinGuard lock(sched.lock);
    lm->nextp = pp;
    if (lm->parked_locked) sched.nmidlelocked--;
    lm->parked_locked = false;  // so that shutdown does not wake it a second time
  }
  lm->park.wakeup();
  stopm(mp);
}

// ---- the global run queue ----

void globrunqputhead(G* gp) REQUIRES(sched.lock) {
  sched.runq.push_front(gp);
  owner_add<std::int32_t>(sched.runqsize, 1);
}

// ---- G free lists ----

void publishGfreeCount(P* pp) {
  pp->gfree_n.store(pp->gfree.n, std::memory_order_relaxed);
}

void gfput(P* pp, G* gp) {
  GCache& c = pp->gfree;
  if (c.n == GCache::kMax) {
    // Full: the older half goes to the global list, the most recently freed stay.
    constexpr int kSpill = GCache::kMax / 2;
    {
      SpinGuard lock(sched.gflock);
      sched.gfree.insert(sched.gfree.end(), c.gs, c.gs + kSpill);
      sched.gfree_n.store(static_cast<std::int32_t>(sched.gfree.size()), std::memory_order_relaxed);
    }
    std::copy(c.gs + kSpill, c.gs + c.n, c.gs);
    c.n -= kSpill;
  }
  c.gs[c.n++] = gp;
  publishGfreeCount(pp);
}

G* gfget(P* pp) {
  GCache& c = pp->gfree;
  if (c.n == 0 && sched.gfree_n.load(std::memory_order_relaxed) != 0) {
    SpinGuard lock(sched.gflock);
    std::size_t k = std::min<std::size_t>(GCache::kMax / 2, sched.gfree.size());
    std::copy(sched.gfree.end() - k, sched.gfree.end(), c.gs);
    sched.gfree.resize(sched.gfree.size() - k);
    sched.gfree_n.store(static_cast<std::int32_t>(sched.gfree.size()), std::memory_order_relaxed);
    c.n = static_cast<int>(k);
  }
  if (c.n == 0) return nullptr;
  G* gp = c.gs[--c.n];
  publishGfreeCount(pp);
  // A `go` a few calls from now will write the hot lines of that G, which another CPU
  // usually freed: start fetching them now.
  if (c.n > kGfreePrefetch) {
    const char* next = reinterpret_cast<const char*>(c.gs[c.n - 1 - kGfreePrefetch]);
    __builtin_prefetch(next, 1);
    __builtin_prefetch(next + 64, 1);
  }
  waitSaved(gp);  // its previous life may still be switching away
  return gp;
}

// Moves a destroyed P's free Gs to the global list (Go's gfpurge).
void gfpurge(P* pp) {
  SpinGuard lock(sched.gflock);
  sched.gfree.insert(sched.gfree.end(), pp->gfree.gs, pp->gfree.gs + pp->gfree.n);
  sched.gfree_n.store(static_cast<std::int32_t>(sched.gfree.size()), std::memory_order_relaxed);
  pp->gfree.n = 0;
  publishGfreeCount(pp);
}

// Allocates a G (without a stack). G structs are carved out of slabs owned by allgs' lock:
// densely packed (one TLB entry covers dozens) and never freed while the runtime runs
// (dead ones are reused), like Go's allgs.
G* newG() {
  G* gp;
  {
    LockGuard lock(allglock);
    if (slab_next == slab_end) {
      if (nslabs == kMaxSlabs) fatal("newproc: too many goroutines (%zu)", kMaxSlabs * kGSlab);
      slab_next = new G[kGSlab];
      slab_end = slab_next + kGSlab;
      slab_dir[nslabs++].store(slab_next, std::memory_order_release);
    }
    gp = slab_next++;
    allglen_.store(allglen_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  gp->ctx.sp = &gp->ctx;  // "saved": non-null, nothing to wait for (see waitSaved)
  fiber_create(gp);
  casgstatus(gp, kGidle, kGdead);
  return gp;
}

// Gives gp a stack from pp's cache.
void bindStack(P* pp, G* gp) {
  Stack st = stackget(&pp->stackcache);
  gp->stack_lo = st.lo;
  gp->stack_hi = st.hi;
}

// ---- scheduling ----

// Randomized enumeration of all Ps for stealing (Go's randomOrder): start at a random
// position and step by a random number coprime with the count, so each P is visited once.
// The coprimes are recomputed by procresize (world stopped).
std::uint32_t steal_count = 0;
std::vector<std::uint32_t> steal_coprimes;

std::uint32_t gcd(std::uint32_t a, std::uint32_t b) {
  while (b != 0) {
    std::uint32_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

void stealOrderReset(std::uint32_t count) {
  steal_count = count;
  steal_coprimes.clear();
  for (std::uint32_t i = 1; i <= count; i++) {
    if (gcd(i, count) == 1) steal_coprimes.push_back(i);
  }
}

struct StealOrder {
  std::uint32_t pos;
  std::uint32_t inc;
  std::uint32_t i = 0;
  explicit StealOrder(std::uint32_t r)
      : pos(r % steal_count),
        inc(steal_coprimes[r % static_cast<std::uint32_t>(steal_coprimes.size())]) {}
  bool done() const { return i == steal_count; }
  void next() {
    i++;
    pos = (pos + inc) % steal_count;
  }
};

// Tries to steal from other Ps: 4 passes in random order; runnext only on the last pass.
G* stealWork(P* pp, bool* inheritTime) {
  constexpr int kStealTries = 4;
  for (int i = 0; i < kStealTries; i++) {
    bool stealRunNextG = i == kStealTries - 1;
    for (StealOrder e(fastrand()); !e.done(); e.next()) {
      if (sched.gcwaiting.load(std::memory_order_relaxed)) return nullptr;
      P* p2 = allp[e.pos];
      if (p2 == pp) continue;
      // On the last pass, run the expired timers of other Ps too: their owners may be busy
      // (a goroutine that never yields) or gone idle. What they ready lands on our P.
      if (stealRunNextG) {
        std::int64_t w = p2->timers.timer0when.load(std::memory_order_relaxed);
        if (w != 0 && w <= nanotime()) {
          checkTimers(p2, nanotime());
          if (G* gp = runqget(pp, inheritTime)) return gp;
        }
      }
      if (p2->status.load(std::memory_order_relaxed) == kPidle) continue;
      if (G* gp = runqsteal(pp, p2, stealRunNextG)) {
        *inheritTime = false;
        return gp;
      }
    }
  }
  return nullptr;
}

// The global-queue steps findRunnable takes before stealing, for a caller that already
// holds sched.lock: every 61st tick one G from the global queue ahead of the local one
// (fairness), and a batch from it when the local queue is empty.
G* globrunqgetFair(P* pp) REQUIRES(sched.lock) {
  if (pp->schedtick % 61 == 0) return globrunqget(pp, 1);
  if (runqempty(pp)) return globrunqget(pp, 0);
  return nullptr;
}

// Finds a runnable G (Go's findRunnable). On a goroutine stack (!onG0) it never blocks:
// it returns null where it would release the P and stop the M, and the caller continues
// on g0. On g0 it blocks until there is work; null then means shutdown.
G* findRunnable(M* mp, bool* inheritTime, bool onG0) {
  for (;;) {
    if (sched.shutdown.load(std::memory_order_relaxed)) return nullptr;
    P* pp = mp->p;
    if (sched.gcwaiting.load(std::memory_order_relaxed)) {
      if (!onG0) return nullptr;
      gcstopm(mp);
      continue;
    }
    // Run our expired timers: they may make goroutines runnable here.
    if (pp->timers.timer0when.load(std::memory_order_relaxed) != 0) checkTimers(pp, nanotime());
    // Check the global runnable queue once in a while to ensure fairness. Otherwise two
    // goroutines can completely occupy the local runqueue by constantly respawning each other.
    if (pp->schedtick % 61 == 0 && sched.runqsize.load(std::memory_order_relaxed) > 0) {
      SpinGuard lock(sched.lock);
      if (G* gp = globrunqget(pp, 1)) {
        *inheritTime = false;
        return gp;
      }
    }
    if (G* gp = runqget(pp, inheritTime)) return gp;
    if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
      SpinGuard lock(sched.lock);
      if (G* gp = globrunqget(pp, 0)) {
        *inheritTime = false;
        return gp;
      }
    }
    // Poll the network: only an optimization before stealing, skipped when nobody waits on
    // I/O or an M is blocked in the poller already (it will see the events).
    if (netpollWaiters.load(std::memory_order_relaxed) > 0 &&
        sched.lastpoll.load(std::memory_order_relaxed) != 0) {
      GList list = netpoll(0);
      if (G* gp = runFirstInjectRest(&list)) {
        *inheritTime = false;
        return gp;
      }
    }
    // Spinning Ms: steal work from other Ps. Limit the number of spinning Ms to half the
    // number of busy Ps, to avoid excessive CPU use when GOMAXPROCS>>1 and parallelism is low.
    std::int32_t procs = gomaxprocs_now.load(std::memory_order_relaxed);
    if (mp->spinning || 2 * sched.nmspinning.load() < procs - sched.npidle.load()) {
      if (!mp->spinning) {
        mp->spinning = true;
        sched.nmspinning.fetch_add(1);
      }
      if (G* gp = stealWork(pp, inheritTime)) return gp;
    }
    if (!onG0) return nullptr;  // what follows blocks: continue on g0
    {
      SpinGuard lock(sched.lock);
      if (sched.gcwaiting.load() || sched.shutdown.load()) continue;
      if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
        G* gp = globrunqget(pp, 0);
        *inheritTime = false;
        return gp;
      }
      releasep(mp);
      pidleput(pp);
    }
    // Delicate dance: the thread transitions from spinning to non-spinning, racing with new
    // work being submitted. We must drop nmspinning first and then check all sources again;
    // otherwise a wakep() that saw us spinning could skip waking anyone.
    if (mp->spinning) {
      mp->spinning = false;
      if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("findrunnable: negative nmspinning");
      bool reacquired = false;
      for (std::int32_t i = 0; i < procs; i++) {
        if (!runqempty(allp[i])) {
          P* idle;
          {
            SpinGuard lock(sched.lock);
            idle = pidleget();
          }
          if (idle != nullptr) {
            acquirep(mp, idle);
            mp->spinning = true;
            sched.nmspinning.fetch_add(1);
            reacquired = true;
          }
          break;
        }
      }
      if (reacquired) continue;
    }
    // Poll the network until the next timer (Go's findRunnable tail): the last M with
    // nothing to do blocks in epoll_wait, so I/O and timers wake it without a busy M.
    std::int64_t pollUntil = nextTimerWhen();
    if ((netpollWaiters.load() > 0 || pollUntil != 0) && sched.lastpoll.exchange(0) != 0) {
      sched.pollUntil.store(pollUntil);
      if (mp->p != nullptr) fatal("findrunnable: netpoll with p");
      if (mp->spinning) fatal("findrunnable: netpoll with spinning");
      std::int64_t delay = -1;
      if (pollUntil != 0) delay = std::max<std::int64_t>(0, pollUntil - nanotime());
      activation_quiet(mp);  // this sleep is no P's loss: it must wake no spare
      GList list = netpoll(delay);  // block until new work is available
      sched.pollUntil.store(0);
      sched.lastpoll.store(nanotime());
      P* idle;
      {
        SpinGuard lock(sched.lock);
        idle = pidleget();
      }
      if (idle == nullptr) {
        injectglist(&list);
      } else {
        acquirep(mp, idle);
        if (G* gp = runFirstInjectRest(&list)) {
          *inheritTime = false;
          return gp;
        }
        continue;  // a timer is due (or a spurious wakeup): look again, with our new P
      }
    } else if (pollUntil != 0) {
      // Another M is blocked in the poller: make sure it wakes up for the earliest timer.
      std::int64_t pollerPollUntil = sched.pollUntil.load();
      if (pollerPollUntil == 0 || pollerPollUntil > pollUntil) netpollBreak();
    }
    stopm(mp);
    if (mp->p == nullptr) return nullptr;  // shutdown
  }
}

// One round of the scheduler (Go's schedule): returns the G to run next, or null if the
// caller must continue on g0 (!onG0), or on shutdown (onG0).
G* schedule(M* mp, bool* inheritTime, bool onG0) {
  if (mp->act_batch) activation_unbatch(mp);  // a spare activated in the last round's stopm
  for (;;) {
    if (sched.shutdown.load(std::memory_order_relaxed)) return nullptr;
    if (mp->lockedg != nullptr) {
      if (!onG0) return nullptr;
      if (!stoplockedm(mp)) return nullptr;
      *inheritTime = false;
      return mp->lockedg;
    }
    G* gp = findRunnable(mp, inheritTime, onG0);
    if (gp == nullptr) return nullptr;
    // This thread is going to run a goroutine and is not spinning anymore.
    if (mp->spinning) resetspinning(mp);
    if (gp->lockedm != nullptr && gp->lockedm != mp) {
      // Hand off our P to the locked M, then block waiting for a new P.
      if (!onG0) return gp;  // switchToNext routes it through g0
      startlockedm(mp, gp);
      if (mp->p == nullptr) return nullptr;  // shutdown
      continue;
    }
    return gp;
  }
}

}  // namespace

// Records that gp starts running on pp: GoStart, with the local and global run queues'
// lengths (the trace's counters).
inline void traceGoStart(G* gp, P* pp) {
  URGENT_TRACE_EVENT(kGoStart, gp->goid, pp->id, runqlen(pp),
                     sched.runqsize.load(std::memory_order_relaxed));
}

namespace {

// Makes gp the running G of mp (Go's execute, minus the jump). A goroutine running for the
// first time gets its stack here.
[[gnu::always_inline]] inline void execute(M* mp, G* gp, bool inheritTime) {
  if (gp->stack_lo == 0) {
    bindStack(mp->p, gp);
    gp->ctx = arch::make_context(reinterpret_cast<void*>(gp->stack_hi), &goentry, gp);
  }
  mp->curg = gp;
  gp->m = mp;
  casgstatus(gp, kGrunnable, kGrunning);
  gp->preempt = false;
  gp->preempt_deferred = false;
  if (!inheritTime) mp->p->schedtick++;
  if (trigger_on) trigger_slice_start(mp, inheritTime);
  URGENT_PROBE(go_start, gp->goid, mp->p->id);
  traceGoStart(gp, mp->p);
}

// The scheduler loop on g0. Runs until shutdown, or until a G that locked this thread exits.
void mloop(M* mp) {
  for (;;) {
    if (mp->p == nullptr && mp->lockedg == nullptr) {
      // Back from exitsyscall's slow path with no P: sleep until handed one.
      stopm(mp);
      if (mp->p == nullptr) break;  // shutdown
    }
    if (G* gp = mp->pending) {
      mp->pending = nullptr;
      startlockedm(mp, gp);
      if (mp->p == nullptr) break;
    }
    if (mp->exit_locked) {
      // The goroutine that locked this thread exited: it may have left the thread in an
      // unusual state, so the thread goes with it (Go's mexit).
      if (mp->p != nullptr) handoffp(releasep(mp));
      break;
    }
    if (G* gp = mp->nextg) {
      // A goroutine chose gp (already executing as far as the scheduler is concerned) while
      // gp was still leaving another M: wait for that here, on g0 (see switchTo).
      mp->nextg = nullptr;
      waitSaved(gp);
      switchTo(mp, &mp->g0, gp, false);
      continue;
    }
    bool inheritTime = false;
    G* gp = schedule(mp, &inheritTime, true);
    if (gp == nullptr) break;
    execute(mp, gp, inheritTime);
    waitSaved(gp);
    switchTo(mp, &mp->g0, gp, false);
    // A goroutine switched back to g0: it has already published itself; loop to block.
  }
  // Leaving: drop the P if we still hold one (shutdown).
  if (mp->p != nullptr) {
    P* pp = mp->p;
    mp->p = nullptr;
    pp->m = nullptr;
  }
  SpinGuard lock(sched.lock);
  mp->exited = true;
  sched.nmexited++;
}

// Switches from gp (which has published itself) to next, chosen by the scheduler; to g0
// if next is null (the M must block) or wired to another M.
[[gnu::always_inline]] inline void switchToNext(M* mp, G* gp, G* next, bool inheritTime,
                                                bool exiting) {
  if (next == gp) {  // gosched found itself first: just keep running
    unmarkSwitching(gp);
    execute(mp, gp, inheritTime);
    leaveScheduler(mp);
    return;
  }
  if (next != nullptr && next->lockedm != nullptr && next->lockedm != mp) {
    mp->pending = next;  // g0 hands our P to next's M
    next = nullptr;
  }
  if (next != nullptr) {
    execute(mp, next, inheritTime);
    switchTo(mp, gp, next, exiting);
  } else {
    mp->curg = nullptr;
    switchTo(mp, gp, &mp->g0, exiting);
  }
}

// Called on gp's stack after gp has published itself (gosched, gopark, goexit): finds the
// next G and switches to it, or to g0 if the M has to block.
void gswitch(M* mp, G* gp, bool exiting) {
  bool inheritTime = false;
  G* next = roomToSchedule(gp) ? schedule(mp, &inheritTime, false) : nullptr;  // null: on g0
  switchToNext(mp, gp, next, inheritTime, exiting);
}

[[noreturn]] void goexit1() {
  M* mp = getm();
  G* gp = mp->curg;
  enterScheduler(mp);
  markSwitching(gp);
  casgstatus(gp, kGrunning, kGdead);
  URGENT_PROBE(go_end, gp->goid);
  URGENT_TRACE_EVENT(kGoEnd, gp->goid);
  gp->m = nullptr;
  if (mp->lockedg == gp) {
    mp->lockedg = nullptr;
    gp->lockedm = nullptr;
    mp->locked_ext = 0;
    if (!mp->is_m0) mp->exit_locked = true;
  }
  mp->curg = nullptr;
  Stack dying{gp->stack_lo, gp->stack_hi};
  gp->stack_lo = gp->stack_hi = 0;
  gp->entry_arg = nullptr;
  P* pp = mp->p;
  G* next = nullptr;
  bool inheritTime = false;
  if (!mp->exit_locked) next = schedule(mp, &inheritTime, false);
  if (next != nullptr && next->stack_lo == 0 && (next->lockedm == nullptr || next->lockedm == mp)) {
    // next has never run: start it right here, on our hot stack (no save, no switch).
    next->stack_lo = dying.lo;
    next->stack_hi = dying.hi;
    execute(mp, next, inheritTime);
    gfput(pp, gp);
    __atomic_store_n(&gp->ctx.sp, &gp->ctx, __ATOMIC_RELEASE);  // nothing of gp is in use now
    fiber_reset_stack(dying);                                   // the dead frames' redzones (ASan)
    fiber_start(gp, next, true);
    urgent_ctx_restart(reinterpret_cast<void*>(dying.hi), &goentry, next);
  }
  mp->deadstack = dying;  // cached by whoever runs next on this M
  gfput(pp, gp);
  if (mp->exit_locked) {
    switchTo(mp, gp, &mp->g0, true);
  } else {
    switchToNext(mp, gp, next, inheritTime, true);
  }
  fatal("goexit: dead goroutine %lld resumed", static_cast<long long>(gp->goid));
}

void goentry(void* arg) {
  fiber_finish_first();
  M* mp = getm();
  restoreThreadState(mp, ThreadState{0, {nullptr, 0}});  // a new goroutine's own
  cacheDeadStack(mp);
  leaveScheduler(mp);
  G* gp = static_cast<G*>(arg);
  gp->entry(gp->entry_arg != nullptr ? gp->entry_arg : gp->inline_callable);
  goexit1();
}

// Allocates a goroutine id from pp's batch.
std::int64_t newgoid(P* pp) {
  if (pp->goidcache == pp->goidcacheend) {
    pp->goidcache = static_cast<std::uint64_t>(sched.goidgen.fetch_add(kGoidCacheBatch)) + 1;
    pp->goidcacheend = pp->goidcache + kGoidCacheBatch;
  }
  return static_cast<std::int64_t>(pp->goidcache++);
}

// ---- stop the world (GOMAXPROCS changes) ----

// Asks every goroutine running on another M to yield (Go's preemptall): the cooperative
// flag, and SIGURG unless async preemption is off.
void preemptall() {
  M* self = getm();
  std::int32_t n = gomaxprocs_now.load();
  for (std::int32_t i = 0; i < n; i++) {
    P* pp = allp[i];
    if (pp->status.load() == kPrunning) preemptone(pp, self);
  }
}

void stopTheWorld(M* mp) {
  {
    SpinGuard lock(sched.lock);
    sched.stopwait = gomaxprocs_now.load();
    sched.gcwaiting.store(true);
    preemptall();
    mp->p->status.store(kPgcstop);  // stop current P
    sched.stopwait--;
    // Stop Ps in a system call: their Ms find them gone when the call returns.
    for (std::int32_t i = 0; i < gomaxprocs_now.load(); i++) {
      if (stopSyscallP(allp[i])) sched.stopwait--;
    }
    while (P* pp = pidleget()) {  // stop idle Ps
      pp->status.store(kPgcstop);
      sched.stopwait--;
    }
  }
  // Wait for the remaining Ps to stop voluntarily.
  for (;;) {
    {
      SpinGuard lock(sched.lock);
      if (sched.stopwait == 0) break;
    }
    if (sched.stopnote.sleep_for(100'000)) break;
    preemptall();
  }
  sched.stopnote.clear();
  SpinGuard lock(sched.lock);
  if (sched.stopwait != 0) fatal("stopTheWorld: not stopped (stopwait=%d)", sched.stopwait);
}

// Changes the number of Ps (Go's procresize). The world is stopped (or not started yet).
// Returns the list of Ps with local work that need an M.
P* procresize(M* mp, std::int32_t nprocs) REQUIRES(sched.lock) {
  std::int32_t old = gomaxprocs_now.load();
  if (nprocs <= 0 || nprocs > kMaxGomaxprocs) fatal("procresize: invalid arg %d", nprocs);
  log::info("procresize: GOMAXPROCS {} -> {}", old, nprocs);
  for (std::int32_t i = 0; i < nprocs; i++) {
    if (allp[i] == nullptr) {
      allp[i] = new P;
      allp[i]->id = i;
    }
    allp[i]->status.store(kPgcstop);
  }
  // Release resources from unused Ps: their Gs go to the global queue.
  for (std::int32_t i = nprocs; i < old; i++) {
    P* pp = allp[i];
    bool inherit;
    std::vector<G*> gs;
    while (G* gp = runqget(pp, &inherit)) gs.push_back(gp);
    for (auto it = gs.rbegin(); it != gs.rend(); ++it) globrunqputhead(*it);
    gfpurge(pp);
    stackcache_flush(&pp->stackcache);
    moveTimers(pp, allp[0]);
    pp->status.store(kPdead);
  }
  gomaxprocs_now.store(nprocs);
  stealOrderReset(static_cast<std::uint32_t>(nprocs));
  if (mp->p != nullptr && mp->p->id < nprocs) {
    mp->p->status.store(kPrunning);  // continue to use the current P
  } else {
    if (mp->p != nullptr) mp->p->m = nullptr;
    mp->p = nullptr;
    allp[0]->m = nullptr;
    allp[0]->status.store(kPidle);
    acquirep(mp, allp[0]);
  }
  P* runnable = nullptr;
  for (std::int32_t i = nprocs - 1; i >= 0; i--) {
    P* pp = allp[i];
    if (mp->p == pp) continue;
    pp->status.store(kPidle);
    if (runqempty(pp)) {
      pidleput(pp);
    } else {
      pp->m = mget();
      pp->link = runnable;
      runnable = pp;
    }
  }
  return runnable;
}

void startTheWorld(M* mp) {
  P* runnable;
  {
    SpinGuard lock(sched.lock);
    runnable = procresize(mp, newprocs);
    sched.gcwaiting.store(false);
  }
  while (P* pp = runnable) {
    runnable = pp->link;
    if (M* nmp = pp->m) {
      pp->m = nullptr;
      if (nmp->nextp != nullptr) fatal("startTheWorld: inconsistent m->nextp");
      nmp->nextp = pp;
      nmp->park.wakeup();
    } else {
      std::int64_t id;
      {
        SpinGuard lock(sched.lock);
        id = mReserveID();
      }
      newm(pp, false, id);
    }
  }
  sysmonwake();
  wakep();
}

}  // namespace

// Go's worldsema: one stop-the-world at a time. Others park (they must not block their M:
// the stopper waits for every P, theirs included).
std::atomic<std::uint32_t> worldsema{1};

void stopTheWorldAndRun(std::int32_t nprocs, void (*fn)()) {
  semacquire(&worldsema, false, WaitReason::kSemacquire);
  M* mp = getm();  // (after the park: maybe another M than before)
  acquirem();  // the world-stopper must not be descheduled
  stopTheWorld(mp);
  if (fn != nullptr) fn();
  {
    SpinGuard lock(sched.lock);
    newprocs = nprocs > 0 ? nprocs : gomaxprocs_now.load();
  }
  startTheWorld(mp);
  releasem();
  semrelease(&worldsema, false);
}

namespace {

// ---- runtime start and stop ----

struct MainArgs {
  void (*entry)(void*, int*);
  void* arg;
};

void shutdownRuntime(int status) {
  SpinGuard lock(sched.lock);
  exit_status = status;
  sched.shutdown.store(true);
  while (M* mp = mget()) {
    mp->nextp = nullptr;
    mp->park.wakeup();
  }
  // Ms sleeping for their locked goroutine (stoplockedm) hold no place in midle.
  for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) {
    if (mp->parked_locked) {
      mp->parked_locked = false;
      mp->park.wakeup();
    }
  }
  netpollBreak();  // an M blocked in the poller
}

void mainEntry(void* arg) {
  auto* ma = static_cast<MainArgs*>(arg);
  int status = 0;
  ma->entry(ma->arg, &status);
  shutdownRuntime(status);
}

void resetState() {
  sched.~Sched();
  new (&sched) Sched();
  for (auto& pp : allp) {
    delete pp;
    pp = nullptr;
  }
  gomaxprocs_now.store(0);
  for (std::int64_t i = 0, n = allglen(); i < n; i++) fiber_destroy(allg_at(i));
  allglen_.store(0);
  for (std::size_t i = 0; i < nslabs; i++) delete[] slab_dir[i].exchange(nullptr);
  nslabs = 0;
  slab_next = slab_end = nullptr;
  main_started = false;
  mutex_starvation_entered.store(0);
  newprocs = 0;
  exit_status = 0;
  worldsema.store(1);  // (a goroutine abandoned while it waited leaves its count behind)
}

}  // namespace

// ---- internal API (proc.h) ----

void wakeNetPoller(std::int64_t when) {
  if (sched.lastpoll.load() == 0) {
    // An M is blocked in the poller: wake it if it would sleep past `when`. (pollUntil is
    // 0 or the poll's deadline, so this may wake it needlessly, never miss a wakeup.)
    std::int64_t pollerPollUntil = sched.pollUntil.load();
    if (pollerPollUntil == 0 || pollerPollUntil > when) netpollBreak();
  } else {
    wakep();  // nobody is in the poller: get an M there so that it handles the new timer
  }
}

M* getm() {
  M* mp = tls_m;
  asm volatile("" ::: "memory");
  return mp;
}

void acquirem() {
  if (M* mp = getm()) mp->locks++;
}

void releasem() {
  if (M* mp = getm()) mp->locks--;
}

void badgstatus(G* gp, std::uint32_t from, std::uint32_t to, std::uint32_t cur) {
  fatal("casgstatus: goroutine %lld: bad transition %s -> %s (status is %s)",
        static_cast<long long>(gp->goid), gstatus_name(from), gstatus_name(to), gstatus_name(cur));
}

void globrunqput(G* gp) {
  sched.runq.push_back(gp);
  owner_add<std::int32_t>(sched.runqsize, 1);
}

void globrunqputbatch(G* const* batch, std::int32_t n) {
  for (std::int32_t i = 0; i < n; i++) sched.runq.push_back(batch[i]);
  owner_add<std::int32_t>(sched.runqsize, n);
}

G* globrunqget(P* pp, std::int32_t max) {
  std::int32_t size = sched.runqsize.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  std::int32_t procs = gomaxprocs_now.load(std::memory_order_relaxed);
  std::int32_t n = (procs == 1 ? size : size / procs) + 1;  // spare the division if we can
  if (n > size) n = size;
  if (max > 0 && n > max) n = max;
  if (n > static_cast<std::int32_t>(kRunqSize / 2)) n = kRunqSize / 2;
  owner_add<std::int32_t>(sched.runqsize, -n);
  G* gp = sched.runq.pop_front();
  for (n--; n > 0; n--) runqput(pp, sched.runq.pop_front(), false);
  return gp;
}

std::uint32_t fastrand() {
  // wyrand, per M (per thread on a thread that is not an M: select from a plain thread).
  thread_local std::uint64_t plain_thread_state = 0x9E3779B97F4A7C15ull;
  M* mp = getm();
  std::uint64_t& state = mp != nullptr ? mp->fastrand : plain_thread_state;
  state += 0xa0761d6478bd642full;
  __uint128_t r = static_cast<__uint128_t>(state) * (state ^ 0xe7037ed1a0b428dbull);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(r >> 64) ^
                                    static_cast<std::uint64_t>(r));
}

void wakep() {
  // Be conservative about spinning threads: only start one if none exist already.
  if (sched.npidle.load() == 0) return;
  std::int32_t zero = 0;
  if (sched.nmspinning.load() != 0 || !sched.nmspinning.compare_exchange_strong(zero, 1)) return;
  startm(nullptr, true);
}

void gopark(UnlockFn unlockf, void* arg, WaitReason reason) {
  G* gp = getg_to_park(reason);
  M* mp = gp->m;
  if (mp->locks != 0) fatal("gopark: holding runtime locks");
  gp->waitreason = reason;
  URGENT_PROBE(go_block, gp->goid, wait_reason_string(reason));
  URGENT_TRACE_EVENT(kGoBlock, gp->goid, static_cast<int>(reason));
  gp->waitsince = coarsetime();  // every park: nanotime's 20 ns would show (pingpong)
  enterScheduler(mp);
  markSwitching(gp);
  casgstatus(gp, kGrunning, kGwaiting);
  if (unlockf != nullptr && !unlockf(gp, arg)) {
    casgstatus(gp, kGwaiting, kGrunning);
    unmarkSwitching(gp);
    leaveScheduler(mp);
    // It woke itself: traced as readied by itself and started again, on the same P.
    URGENT_TRACE_EVENT(kGoUnblock, gp->goid, gp->goid);
    traceGoStart(gp, mp->p);
    return;
  }
  mp->curg = nullptr;
  gswitch(mp, gp, false);
}

void goyield() {
  M* mp = tls_m;  // read once, before any switch
  G* gp = mp->curg;
  URGENT_TRACE_EVENT(kGoSched, gp->goid);
  enterScheduler(mp);
  markSwitching(gp);
  casgstatus(gp, kGrunning, kGrunnable);
  mp->curg = nullptr;
  runqput(mp->p, gp, false);
  gswitch(mp, gp, false);
}

void goready(G* gp) {
  M* mp = getm();
  if (mp == nullptr || mp->p == nullptr) {
    // A thread with no P (one the program started, sending on a channel or unlocking a
    // Mutex): to the global queue, with an M for it if a P is idle (injectglist).
    if (!runtime_running()) outside_runtime("goready");
    GList list;
    list.push(gp);
    // A thread that is not an M counts as none: while gp sits on the global queue before
    // injectglist has started an M for it, every M may be idle, and one going idle would
    // take gp for a runnable goroutine nobody runs ("checkdead: runnable g"). Pretend one
    // more M runs meanwhile, as sysmon does around its netpoll (Go's caller is always an M).
    if (mp == nullptr) incidlelocked(-1);
    injectglist(&list);
    if (mp == nullptr) incidlelocked(1);
    return;
  }
  casgstatus(gp, kGwaiting, kGrunnable);
  URGENT_PROBE(go_unblock, gp->goid, mp->curg != nullptr ? mp->curg->goid : 0);
  URGENT_TRACE_EVENT(kGoUnblock, gp->goid, mp->curg != nullptr ? mp->curg->goid : 0);
  runqput(mp->p, gp, true);
  wakep();
}

// ---- system calls (Go's entersyscall, exitsyscall) ----

namespace {
bool orphaned(M* mp) {
  return mp->sysstate.load(std::memory_order_acquire) == kOrphaned;
}
}  // namespace

// entersyscall's half of its handshake with stopTheWorld (Dekker's): publish pp as in a
// system call, then look whether the world is stopping. stopTheWorld does the mirror image:
// gcwaiting = true, then stopSyscallP on every P. Each side stores, then loads what the other
// stored, so both must be sequentially consistent (the store is an XCHG on x86, a full
// barrier, as Go's atomic.Store): with a plain store the load could pass it (StoreLoad
// reordering), each side missed the other, and the world waited for the call to return.
bool publishSyscallP(P* pp) {
  pp->status.store(kPsyscall, std::memory_order_seq_cst);
  return sched.gcwaiting.load(std::memory_order_seq_cst);
}

bool stopSyscallP(P* pp) {
  std::uint32_t expected = kPsyscall;
  if (!pp->status.compare_exchange_strong(expected, kPgcstop, std::memory_order_seq_cst)) {
    return false;
  }
  pp->syscalltick++;  // the M returning from the call finds its P gone
  return true;
}

// The running goroutine enters a system call: it keeps its M, and its P stays attached in
// kPsyscall so that a short call gets it back with one CAS (Go's reentersyscall).
static void entersyscallCommon(M* mp, G* gp) {
  mp->locks++;  // no preemption while G, M and P disagree
  URGENT_PROBE(syscall_enter, gp->goid);
  URGENT_TRACE_EVENT(kGoSysCall, gp->goid);
  P* pp = mp->p;
  pp->syscall_tid = mp->tid;
  pp->syscall_goid = gp->goid;
  pp->syscall_m.store(mp, std::memory_order_relaxed);
  owner_add<std::uint64_t>(pp->syscalls, 1);
  casgstatus(gp, kGrunning, kGsyscall);
  mp->syscalltick = pp->syscalltick;
  pp->m = nullptr;
  mp->oldp = pp;
  mp->p = nullptr;
  bool stopping = publishSyscallP(pp);
  activation_set_syscall(mp);
  mp->sysstate.store(kInSyscall, std::memory_order_release);
  sysmonwake();  // sysmon may be asleep (every P was idle): a syscall P must be watched
  if (stopping) {
    // The world is stopping: a P in a syscall counts as stopped (Go's entersyscall_gcwait).
    SpinGuard lock(sched.lock);
    if (sched.stopwait > 0 && stopSyscallP(pp)) {
      if (--sched.stopwait == 0) sched.stopnote.wakeup();
    }
  }
  mp->locks--;
}

bool entersyscall() {
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg : nullptr;
  if (gp == nullptr) return false;
  entersyscallCommon(mp, gp);
  return true;
}

// For calls known to block: hand the P off at once (Go's entersyscallblock).
bool entersyscallblock() {
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg : nullptr;
  if (gp == nullptr) return false;
  entersyscallCommon(mp, gp);
  P* pp = mp->oldp;
  std::uint32_t expected = kPsyscall;
  if (pp->status.compare_exchange_strong(expected, kPidle)) {
    mp->oldp = nullptr;
    pp->syscalltick++;
    sched.handoffs_block.fetch_add(1, std::memory_order_relaxed);
    activation_set_idle(mp);  // its sleep in the call wakes no spare
    URGENT_TRACE_EVENT(kGoSysBlock, gp->goid, pp->id, mp->tid);
    handoffp(pp);
  }
  return true;
}

namespace {

// Tries to get a P back without a switch (Go's exitsyscallfast): the old one if nobody
// took it, else an idle one.
bool exitsyscallfast(M* mp, P* oldp) {
  std::uint32_t expected = kPsyscall;
  if (oldp != nullptr && oldp->status.load() == kPsyscall &&
      oldp->status.compare_exchange_strong(expected, kPidle)) {
    acquirep(mp, oldp);
    // (If mp->syscalltick != oldp->syscalltick, the P was retaken and given back meanwhile:
    // Go's exitsyscallfast_reacquired; the tick below records the syscall's end either way.)
    owner_add<std::uint64_t>(oldp->syscall_exit_fast, 1);
    URGENT_PROBE(syscall_exit, mp->curg->goid, 0);
    URGENT_TRACE_EVENT(kGoSysExit, mp->curg->goid, 0);
    return true;
  }
  if (sched.npidle.load() == 0) return false;
  P* pp;
  {
    SpinGuard lock(sched.lock);
    pp = pidleget();
  }
  if (pp == nullptr) return false;
  acquirep(mp, pp);
  sched.syscall_exit_idle_p.fetch_add(1, std::memory_order_relaxed);
  URGENT_PROBE(syscall_exit, mp->curg->goid, 1);
  URGENT_TRACE_EVENT(kGoSysExit, mp->curg->goid, 1);
  return true;
}

}  // namespace

void exitsyscall(int err) {
  M* mp = getm();
  // urgent::run returned while we were in the call: nothing but this M and the goroutine's
  // stack still exists for us. Leave the thread without unwinding anything.
  if (mp->sysstate.exchange(kNotInSyscall, std::memory_order_acq_rel) == kOrphaned) {
    orphans_alive.fetch_sub(1);
    syscall(SYS_exit, 0);
  }
  G* gp = mp->curg;
  mp->locks++;
  P* oldp = mp->oldp;
  mp->oldp = nullptr;
  if (exitsyscallfast(mp, oldp)) {
    mp->p->syscalltick++;
    casgstatus(gp, kGsyscall, kGrunning);
    mp->locks--;
    errno = err;
    // sysmon asked this goroutine to yield (it has run a whole time slice): Go makes it
    // yield at its next function call (stackPreempt); here, now. Without it, a goroutine
    // looping on short calls never reschedules and sysmon retakes its P every 10 ms.
    checkPreempt(gp);
    if (trigger_on) trigger_resume(getm());  // (the timer of whichever M runs gp now)
    return;
  }
  mp->locks--;
  // Slow path (Go's exitsyscall0): no P. Queue the goroutine globally and park the M; a P
  // that becomes idle meanwhile is taken under the same lock, so nothing is missed.
  sched.syscall_exit_slow.fetch_add(1, std::memory_order_relaxed);
  URGENT_PROBE(syscall_exit, gp->goid, 2);
  URGENT_TRACE_EVENT(kGoSysExit, gp->goid, 2);
  enterScheduler(mp);
  markSwitching(gp);
  casgstatus(gp, kGsyscall, kGrunnable);
  P* pp;
  {
    SpinGuard lock(sched.lock);
    pp = pidleget();
    if (pp == nullptr) globrunqput(gp);
  }
  if (pp != nullptr) {
    acquirep(mp, pp);
    unmarkSwitching(gp);  // never published
    casgstatus(gp, kGrunnable, kGrunning);
    leaveScheduler(mp);
    traceGoStart(gp, pp);
    if (trigger_on) trigger_resume(mp);
    errno = err;
    return;
  }
  *mp->errno_ptr = err;  // switchTo saves it for gp; the switch that resumes gp restores it
  mp->curg = nullptr;
  // g0 parks this M (mloop: no P), or waits for a P with our G if it is locked to us.
  switchTo(mp, gp, &mp->g0, false);
  // Resumed on some M that holds a P (execute made us kGrunning).
}

std::int64_t allglen() {
  return allglen_.load(std::memory_order_acquire);
}

G* allg_at(std::int64_t i) {
  auto k = static_cast<std::size_t>(i);
  return slab_dir[k / kGSlab].load(std::memory_order_acquire) + k % kGSlab;
}

bool runtime_running() {
  return running.load(std::memory_order_acquire);
}

namespace {
// Collects lines and writes them to stderr in large pieces (schedtrace).
class TraceWriter {
 public:
  ~TraceWriter() { flush(); }
  void printf(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (n_ > sizeof buf_ - 512) flush();
    va_list ap;
    va_start(ap, fmt);
    int k = std::vsnprintf(buf_ + n_, sizeof buf_ - n_, fmt, ap);
    va_end(ap);
    if (k > 0) n_ = std::min(sizeof buf_ - 1, n_ + static_cast<std::size_t>(k));
  }
  void flush() {
    buf_[n_] = '\0';  // vsnprintf left room for it
    print_raw(buf_);
    n_ = 0;
  }

 private:
  char buf_[16384];
  std::size_t n_ = 0;
};
}  // namespace

void schedtrace(bool detailed) {
  [[maybe_unused]] IgnoreRacyReads racy;  // other Ms' and goroutines' fields, read as Go's schedtrace does
  std::int64_t ms = (nanotime() - runtimeInitTime) / 1'000'000;
  TraceWriter out;
  SpinGuard lock(sched.lock);
  std::int32_t procs = gomaxprocs_now.load();
  out.printf(
      "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%lld spinningthreads=%d "
      "idlethreads=%d runqueue=%d",
      static_cast<long long>(ms), procs, sched.npidle.load(), static_cast<long long>(mcount()),
      sched.nmspinning.load(), sched.nmidle, sched.runqsize.load());
  if (detailed) {
    out.printf(" gcwaiting=%d nmidlelocked=%d stopwait=%d sysmonwait=%d\n",
               sched.gcwaiting.load() ? 1 : 0, sched.nmidlelocked, sched.stopwait,
               sched.sysmonwait ? 1 : 0);
  }
  // Go's caveat: P, M and G fields are read racily, as they change under us.
  for (std::int32_t i = 0; i < procs; i++) {
    P* pp = allp[i];
    std::uint32_t h = pp->runq.head.load(std::memory_order_acquire);
    std::uint32_t t = pp->runq.tail.load(std::memory_order_acquire);
    if (detailed) {
      M* mp = pp->m;
      out.printf(
          "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%u gfreecnt=%d "
          "timerslen=%zu\n",
          i, pp->status.load(), static_cast<std::uint32_t>(pp->schedtick),
          static_cast<std::uint32_t>(pp->syscalltick),
          static_cast<long long>(mp != nullptr ? mp->id : -1), t - h,
          pp->gfree_n.load(std::memory_order_relaxed), pp->timers.heap.size());
    } else {
      // [len1 len2 len3 len4], as Go prints the local run queues (runnext not counted).
      out.printf("%s%u%s", i == 0 ? " [" : " ", t - h, i == procs - 1 ? "]\n" : "");
    }
  }
  if (!detailed) return;
  for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) {
    P* pp = mp->p;
    G* gp = mp->curg;
    G* lockedg = mp->lockedg;
    out.printf(
        "  M%lld: p=%d curg=%lld mallocing=0 throwing=0 preemptoff= locks=%d dying=0 "
        "spinning=%s blocked=%s lockedg=%lld\n",
        static_cast<long long>(mp->id), pp != nullptr ? pp->id : -1,
        static_cast<long long>(gp != nullptr ? gp->goid : -1), mp->locks,
        mp->spinning ? "true" : "false", mp->parked_locked ? "true" : "false",
        static_cast<long long>(lockedg != nullptr ? lockedg->goid : -1));
  }
  for (std::int64_t i = 0, n = allglen(); i < n; i++) {
    G* gp = allg_at(i);
    std::uint32_t st = gp->atomicstatus.load(std::memory_order_relaxed);
    M* mp = st == kGrunning || st == kGsyscall ? gp->m : nullptr;  // Go: gp.m only then
    M* lockedm = gp->lockedm;
    out.printf("  G%lld: status=%u(%s) m=%lld lockedm=%lld\n", static_cast<long long>(gp->goid), st,
               st == kGwaiting ? wait_reason_string(gp->waitreason) : "",
               static_cast<long long>(mp != nullptr ? mp->id : -1),
               static_cast<long long>(lockedm != nullptr ? lockedm->id : -1));
  }
}

const char* gstatus_name(std::uint32_t s) {
  switch (s) {
    case kGidle: return "idle";
    case kGrunnable: return "runnable";
    case kGrunning: return "running";
    case kGsyscall: return "syscall";
    case kGwaiting: return "waiting";
    case kGdead: return "dead";
    default: return "???";
  }
}

const char* wait_reason_string(WaitReason r) {
  switch (r) {
    case WaitReason::kZero: return "";
    case WaitReason::kLockOSThreadHandoff: return "lockOSThread handoff";
    case WaitReason::kTestPark: return "test park";
    case WaitReason::kChanReceiveNilChan: return "chan receive (nil chan)";
    case WaitReason::kChanSendNilChan: return "chan send (nil chan)";
    case WaitReason::kSelectNoCases: return "select (no cases)";
    case WaitReason::kChanReceive: return "chan receive";
    case WaitReason::kChanSend: return "chan send";
    case WaitReason::kSelect: return "select";
    case WaitReason::kSyncMutexLock: return "sync.Mutex.Lock";
    case WaitReason::kSyncRWMutexRLock: return "sync.RWMutex.RLock";
    case WaitReason::kSyncRWMutexLock: return "sync.RWMutex.Lock";
    case WaitReason::kSyncWaitGroupWait: return "sync.WaitGroup.Wait";
    case WaitReason::kSyncCondWait: return "sync.Cond.Wait";
    case WaitReason::kSemacquire: return "semacquire";
    case WaitReason::kSleep: return "sleep";
    case WaitReason::kIOWait: return "IO wait";
  }
  return "";
}

}  // namespace urgent::rt

// ---- public API ----

namespace urgent {

using namespace rt;

namespace detail {

struct NewG : G {};

NewG* newproc_begin(std::size_t size, std::size_t align, void** storage) {
  M* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) outside_runtime("urgent::go");
  G* gp = gfget(mp->p);
  if (gp == nullptr) gp = newG();
  if (size <= kInlineCallable && align <= kInlineCallableAlign) {
    *storage = gp->inline_callable;  // the stack comes when it first runs
  } else {
    if (size > stack_size() / 4) {
      fatal("urgent::go: callable of %zu bytes does not fit a %zu-byte goroutine stack", size,
            stack_size());
    }
    bindStack(mp->p, gp);
    std::uintptr_t top = (gp->stack_hi - size) & ~(static_cast<std::uintptr_t>(align) - 1);
    *storage = reinterpret_cast<void*>(top);
    gp->entry_arg = *storage;
  }
  return static_cast<NewG*>(gp);
}

void newproc_end(NewG* g, void (*invoke)(void*)) {
  G* gp = g;
  M* mp = getm();
  P* pp = mp->p;
  gp->entry = invoke;
  // (Not gp->stack_lo: a small callable leaves line 1 of the G alone.)
  if (gp->entry_arg != nullptr) gp->ctx = arch::make_context(gp->entry_arg, &goentry, gp);
  gp->goid = newgoid(pp);
  gp->parent_goid = mp->curg ? mp->curg->goid : 0;
  casgstatus(gp, kGdead, kGrunnable);
  URGENT_PROBE(go_create, gp->goid, gp->parent_goid);
  URGENT_TRACE_EVENT(kGoCreate, gp->goid, gp->parent_goid);
  owner_add<std::uint64_t>(pp->goroutines_created, 1);
  runqput(pp, gp, true);
  if (main_started) wakep();
  // A goroutine that only spawns is preempted here (Go: at newproc's prologue).
  checkPreempt(mp->curg);
}

void newproc_abort(NewG* g) {
  M* mp = getm();
  if (g->stack_lo != 0) {
    stackput(&mp->p->stackcache, Stack{g->stack_lo, g->stack_hi});
    g->stack_lo = g->stack_hi = 0;
    g->entry_arg = nullptr;
  }
  gfput(mp->p, g);
}

bool entersyscall() {
  return rt::entersyscall();
}

bool entersyscallblock() {
  return rt::entersyscallblock();
}

void exitsyscall() {
  rt::exitsyscall(errno);
}

int run_main(void (*entry)(void*, int*), void* arg) {
  bool expected = false;
  if (!running.compare_exchange_strong(expected, true)) {
    fatal("urgent::run: the runtime is already running in this process");
  }
  run_epoch.fetch_add(1, std::memory_order_relaxed);  // odd: this run is on
  Config cfg = read_config();
  log::set_level(cfg.log_level);
  sched_latency.reset();
  stackinit(cfg.stack_size);
  panic_init();
  preempt_init(cfg.timeslice_ns, cfg.asyncpreemptoff);
  signal_init();
  activation_init(cfg.handoff);
  trigger_init(cfg.trigger);

  m0 = new M;
  m0->is_m0 = true;
  m0->fastrand = 0x853c49e6748fea9bull;
  {
    SpinGuard lock(sched.lock);
    m0->id = sched.mnext++;
  }
  minit(m0);
  observe_run_start(cfg.observe);
  trace_run_start(cfg.trace_path.c_str(), cfg.trace_mem, cfg.gomaxprocs);
  {
    SpinGuard lock(sched.lock);
    sched.allm.store(m0);
    P* runnable = procresize(m0, cfg.gomaxprocs);
    if (runnable != nullptr) fatal("schedinit: unexpected runnable P");
  }
  netpollinit();
  sched.lastpoll.store(nanotime());
  log::debug("runtime started: GOMAXPROCS={} stack={} bytes", cfg.gomaxprocs, cfg.stack_size);

  // Goroutine 1 runs main. (newproc needs a running goroutine; set it up by hand.)
  MainArgs ma{entry, arg};
  {
    G* gp = newG();
    gp->entry = &mainEntry;
    gp->entry_arg = &ma;
    gp->goid = newgoid(m0->p);
    casgstatus(gp, kGdead, kGrunnable);
    URGENT_TRACE_EVENT(kGoCreate, gp->goid, 0);
    m0->p->goroutines_created.store(1, std::memory_order_relaxed);
    runqput(m0->p, gp, true);
  }
  main_started = true;
  runtimeInitTime = nanotime();  // as Go's main sets it, right before starting sysmon
  sysmon_start(cfg.schedtrace_ms, cfg.scheddetail);
  activation_first_spare();

  int saved_errno = errno;
  mloop(m0);
  errno = saved_errno;

  // sysmon creates Ms too (handoffp): once it is gone, only Ms create Ms.
  sysmon_stop();
  // Every other M leaves its loop at its next scheduling point, except those blocked in a
  // system call, which may never return: they are orphaned (they exit their thread when the
  // call returns, touching nothing but their M and their goroutine's stack, both leaked).
  // Once all others have left, every pthread_create has returned, so every handle is valid.
  for (;;) {
    bool all = true;
    {
      SpinGuard lock(sched.lock);
      for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) {
        if (mp == m0 || mp->exited || orphaned(mp)) continue;
        std::uint32_t expected = kInSyscall;
        orphans_alive.fetch_add(1);  // (before: its call may return right after the CAS)
        if (mp->sysstate.compare_exchange_strong(expected, kOrphaned)) {
          stack_keep(mp->curg->stack_lo);
          continue;
        }
        orphans_alive.fetch_sub(1);
        all = false;
      }
      // A goroutine that never calls into urgent keeps its M in its loop: preempt it.
      if (!all) preemptall();
    }
    if (all) break;
    usleep(50);
  }
  for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) {
    if (mp != m0 && !orphaned(mp)) pthread_join(mp->thread, nullptr);
  }
  trace_run_end();  // (orphaned Ms record nothing: exitsyscall leaves before its event)
  observe_run_end(!cfg.trace_path.empty());  // after the trace took the kernel's records
  int status;
  {
    SpinGuard lock(sched.lock);
    status = exit_status;
  }
  munit(m0);
  activation_fini();  // the orphans' events too
  trigger_fini();
  for (M* mp = sched.allm.load(); mp != nullptr;) {
    M* next = mp->alllink;
    if (!orphaned(mp)) delete mp;
    mp = next;
  }
  m0 = nullptr;
  netpollfini();
  signal_fini();
  panic_fini();
  sema_fini();    // waiters abandoned with their goroutines
  timers_fini();  // before resetState frees the Ps
  resetState();
  run_epoch.fetch_add(1, std::memory_order_relaxed);  // even: the run's waiters are stale
  stackfini();
  running.store(false, std::memory_order_release);
  return status;
}

}  // namespace detail

void gosched() {
  M* mp = tls_m;  // read once, before any switch: the inline TLS load is safe here
  G* gp = mp ? mp->curg : nullptr;
  if (gp == nullptr) outside_runtime("urgent::gosched");
  URGENT_TRACE_EVENT(kGoSched, gp->goid);
  rt::goschedImpl(mp, gp);
}

namespace rt {

void goschedImpl(M* mp, G* gp) {
  enterScheduler(mp);
  bool room = roomToSchedule(gp);  // else the scheduler runs on g0 (gswitch)
  // findRunnable's first step, skipped by the fast path below: run our expired timers (a
  // goroutine yielding in a loop, or preempted, must not starve a sleeper on its P).
  if (room && mp->p->timers.timer0when.load(std::memory_order_relaxed) != 0) {
    checkTimers(mp->p, nanotime());
  }
  markSwitching(gp);
  casgstatus(gp, kGrunning, kGrunnable);
  mp->curg = nullptr;
  // Go's goschedImpl puts gp on the global queue and calls schedule(). findRunnable's first
  // steps look at the global queue under the same lock, so do them in this critical section
  // (same choice, one lock round trip fewer), then its next step, the local queue, unless
  // the slow path (locked thread, stop-the-world, shutdown) is needed anyway.
  G* next = nullptr;
  bool inheritTime = false;
  bool fast;
  {
    SpinGuard lock(sched.lock);
    globrunqput(gp);
    fast = room && mp->lockedg == nullptr && !sched.gcwaiting.load(std::memory_order_relaxed) &&
           !sched.shutdown.load(std::memory_order_relaxed);
    if (fast) next = globrunqgetFair(mp->p);
  }
  if (fast && next == nullptr) next = runqget(mp->p, &inheritTime);
  if (next != nullptr) {
    switchToNext(mp, gp, next, inheritTime, false);
  } else {
    gswitch(mp, gp, false);
  }
}

}  // namespace rt

int gomaxprocs(int n) {
  M* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) {
    if (n > 0) outside_runtime("urgent::gomaxprocs");
    return runtime_running() ? gomaxprocs_now.load() : read_config().gomaxprocs;
  }
  int ret = gomaxprocs_now.load();
  if (n <= 0 || n == ret) return ret;
  if (n > kMaxGomaxprocs) n = kMaxGomaxprocs;
  stopTheWorldAndRun(n, nullptr);
  return ret;
}

int num_goroutine() {
  std::int64_t n = allglen() - sched.gfree_n.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < kMaxGomaxprocs && allp[i] != nullptr; i++) {
    n -= allp[i]->gfree_n.load(std::memory_order_relaxed);
  }
  return n < 1 ? (runtime_running() ? 1 : 0) : static_cast<int>(n);
}

int set_max_threads(int n) {
  int old = maxmcount.exchange(n);
  if (runtime_running()) {
    SpinGuard lock(sched.lock);
    checkmcount();
  }
  return old;
}

int num_cpu() {
  return getproccount();
}

void lock_os_thread() {
  M* mp = getm();
  G* gp = mp ? mp->curg : nullptr;
  if (gp == nullptr) outside_runtime("urgent::lock_os_thread");
  if (++mp->locked_ext == 0) fatal("LockOSThread nesting overflow");
  mp->lockedg = gp;
  gp->lockedm = mp;
}

void unlock_os_thread() {
  M* mp = getm();
  G* gp = mp ? mp->curg : nullptr;
  if (gp == nullptr) outside_runtime("urgent::unlock_os_thread");
  if (mp->locked_ext == 0) return;
  if (--mp->locked_ext == 0) {
    mp->lockedg = nullptr;
    gp->lockedm = nullptr;
  }
}

SchedStats sched_stats() {
  SchedStats s;
  if (!runtime_running()) return s;
  s.threads_created = sched.threads_created.load(std::memory_order_relaxed);
  s.stacks = stack_count();
  s.mutex_starvation = mutex_starvation_entered.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < kMaxGomaxprocs && allp[i] != nullptr; i++) {
    s.goroutines_created += allp[i]->goroutines_created.load(std::memory_order_relaxed);
    s.steals += allp[i]->steals.load(std::memory_order_relaxed);
    s.stolen_goroutines += allp[i]->stolen.load(std::memory_order_relaxed);
    s.runq_overflows += allp[i]->runqputslow_n.load(std::memory_order_relaxed);
    s.syscalls += allp[i]->syscalls.load(std::memory_order_relaxed);
    s.syscall_exit_fast += allp[i]->syscall_exit_fast.load(std::memory_order_relaxed);
  }
  s.syscall_exit_idle_p = sched.syscall_exit_idle_p.load(std::memory_order_relaxed);
  s.syscall_exit_slow = sched.syscall_exit_slow.load(std::memory_order_relaxed);
  s.handoffs = sched.handoffs.load(std::memory_order_relaxed);
  s.handoffs_block = sched.handoffs_block.load(std::memory_order_relaxed);
  activation_stats(&s);
  SysmonStats sm = sysmon_stats();
  s.sysmon_ticks = sm.ticks;
  s.sysmon_idle_sleeps = sm.idle_sleeps;
  s.sysmon_delay_us = sm.delay_us;
  s.sysmon_cpu_ns = sm.cpu_ns;
  NetpollStats np = netpoll_stats();
  s.netpoll_polls = np.polls;
  s.netpoll_blocking = np.blocking;
  s.netpoll_ready = np.ready;
  s.netpoll_sysmon = np.sysmon;
  s.netpoll_waiters = netpollWaiters.load(std::memory_order_relaxed);
  preempt_stats(&s);
  trigger_stats(&s);
  {
    SpinGuard lock(sched.lock);
    s.threads = static_cast<int>(mcount());
  }
  s.gomaxprocs = gomaxprocs_now.load();
  s.idle_procs = sched.npidle.load();
  s.spinning_threads = sched.nmspinning.load();
  s.global_runq = sched.runqsize.load();
  return s;
}

namespace debug {

std::int64_t goid() {
  G* gp = getg();
  return gp ? gp->goid : 0;
}

int current_p() {
  M* mp = getm();
  return mp && mp->curg && mp->p ? mp->p->id : -1;
}

std::int64_t current_m() {
  M* mp = getm();
  return mp ? mp->id : -1;
}

}  // namespace debug
}  // namespace urgent
