// runtime/runtime2.h: the scheduler's types, like Go's runtime2.go.
//
// G: a goroutine.  M: an OS thread that runs Gs.  P: a processor, the right to run Go
// code; GOMAXPROCS of them. An M must hold a P to run a G. Every field says who owns it:
//   [own]    only the owner writes (the M running the G, the M holding the P)
//   [sched]  guarded by sched.lock
//   [atomic] any thread, with atomics (the comment says which order matters)
//   [const]  written once before the object is published
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "context.h"
#include "lock.h"
#include "relaxed.h"
#include "stack.h"
#include "timer.h"
#include "trace.h"
#include "tsa.h"

namespace urgent::detail {
struct Hchan;
}

namespace urgent::rt {

struct G;
struct M;
struct P;

// Adds to a counter that only one thread writes at a time (its owner, or whoever holds the
// lock guarding it) while others may read it racily: a plain load and store, no locked
// instruction (a locked add is a full barrier, which the scheduling paths cannot afford).
template <class T>
inline void owner_add(std::atomic<T>& c, T delta) {
  c.store(c.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// ---- G status (Go's _G* values, same numbers) ----
// A G's status is changed with casgstatus only; the transitions are the ones in Go.
enum GStatus : std::uint32_t {
  kGidle = 0,      // just allocated, not yet initialized
  kGrunnable = 1,  // on a run queue (or about to be); not executing; owned by the queue
  kGrunning = 2,   // executing user code on an M with a P; owned by that M
  kGsyscall = 3,   // in a system call on an M (urgent::blocking); owned by that M
  kGwaiting = 4,   // parked (gopark); owned by whoever will ready it
  kGdead = 6,      // exited or not yet started; on a free list, owned by its P or sched
};

const char* gstatus_name(std::uint32_t s);

// Why a G is waiting (Go's waitReason; the string is what a goroutine dump prints).
enum class WaitReason : std::uint8_t {
  kZero,
  kLockOSThreadHandoff,  // locked G waiting for its M
  kTestPark,             // the runtime's own tests
  kChanReceiveNilChan,
  kChanSendNilChan,
  kSelectNoCases,
  kChanReceive,
  kChanSend,
  kSelect,
  kSyncMutexLock,
  kSyncRWMutexRLock,
  kSyncRWMutexLock,
  kSyncWaitGroupWait,
  kSyncCondWait,
  kSemacquire,
  kSleep,
  kIOWait,  // parked on the network poller (netpoll.cc)
};

const char* wait_reason_string(WaitReason r);

// ---- P status (Go's _P* values) ----
enum PStatus : std::uint32_t {
  kPidle = 0,     // on sched.pidle, no M; its run queue is empty
  kPrunning = 1,  // owned by an M (p->m), which runs Gs or the scheduler on it
  // Its M is in a system call (entersyscall): no M owns it (p->m is null, the M keeps it as
  // m->oldp). Whoever CASes it out of kPsyscall owns it: the M on exitsyscall (-> kPidle,
  // then acquirep), sysmon's retake (-> kPidle, then handoffp) or stopTheWorld (-> kPgcstop).
  kPsyscall = 2,
  kPgcstop = 3,  // stopped for stop-the-world (GOMAXPROCS change); owned by the stopper
  kPdead = 4,    // beyond GOMAXPROCS; unused until procresize brings it back
};

// Size of a P's local run queue (Go: len(p.runq)).
inline constexpr std::uint32_t kRunqSize = 256;

// Callables up to this size (and alignment 16) are stored inside the G; larger ones at the
// top of a stack bound when the goroutine is created.
inline constexpr std::size_t kInlineCallable = 32;
inline constexpr std::size_t kInlineCallableAlign = 16;

// The most Ps urgent supports (a GOMAXPROCS above this is clamped, with a warning).
inline constexpr int kMaxGomaxprocs = 1024;

// A goroutine. Laid out by cache line, because the P that runs a goroutine is usually not
// the CPU that created it, and every line it has to fetch from the other CPU costs (measured
// on `spawn`): `go` with a callable of up to 16 bytes writes line 0 only; the M that runs
// the G writes line 1, which is usually already in its cache from the G's previous life.
struct alignas(64) G {
  // ---- line 0: written by `go` ----
  // [own] Saved context while suspended. Protocol: the G stores nullptr here *before* it
  // publishes itself (run queue, free list); urgent_ctx_switch stores the real sp as its
  // last act on this stack. Whoever resumes or reuses the G waits for a non-null sp.
  arch::Context ctx;
  std::atomic<std::uint32_t> atomicstatus{kGidle};  // [atomic] GStatus, via casgstatus
  void (*entry)(void*) = nullptr;  // [own] the goroutine's function (type-erased)
  std::int64_t goid = 0;           // [own] set at creation
  std::int64_t parent_goid = 0;    // [own] who created it (for dumps)
  // [own] The callable, when it fits (kInlineCallable bytes, from here into line 1).
  alignas(kInlineCallableAlign) unsigned char inline_callable[kInlineCallable];
  // ---- line 1: written by the M that runs it ----
  // [own] Where the callable is when it did not fit inline_callable (at the top of a stack
  // bound at creation); null otherwise, and in every dead G.
  void* entry_arg = nullptr;
  M* m = nullptr;  // [own] the M running it, while running
  // [own] The stack: 0/0 until the goroutine first runs (or is created with a callable too
  // big for inline_callable), given back when it exits.
  std::uintptr_t stack_lo = 0;                // lowest usable byte
  std::uintptr_t stack_hi = 0;                // one past the highest
  M* lockedm = nullptr;                       // [own] lock_os_thread: the M this G is wired to
  WaitReason waitreason = WaitReason::kZero;  // [own] valid while kGwaiting
  Relaxed<bool> preempt;  // [atomic, relaxed] sysmon: yield at the next safe point (preempt.cc)
  // [own by whoever made it runnable, then its runner] Its wait for an M is being timed
  // (scheduling latency sampling; runnable_since holds the start).
  std::uint8_t tracked = 0;
  // [own] The SIGURG handler deferred a preemption of it: its next cooperative preemption
  // is traced as after-deferred. Cleared when it starts running.
  bool preempt_deferred = false;
  // [own] Open NoPreempt scopes: while > 0, neither the SIGURG handler nor a cooperative
  // check (preempt_point) preempts the goroutine. Per G, so a scope survives a park.
  std::int32_t preemptoff = 0;
  // ---- line 2: cold ----
  std::int64_t waitsince = 0;  // [own] nanotime when it started waiting (valid while waiting)
  // [own by whoever made it runnable, then its runner] When a sampled G became runnable
  // (tracked set; proc.h, casgstatus).
  std::int64_t runnable_since = 0;
  void* asan_fake_stack = nullptr;  // [own] ASan fake-stack handle while switched out
  void* tsan_fiber = nullptr;       // [own] TSan fiber of this G
  // Blocking on channels and semaphores (chan.cc, select.cc, sema.cc).
  struct Sudog* param = nullptr;        // [own] set by the readier: the sudog that fired
  struct Sudog* waiting = nullptr;      // [own] select: this G's sudogs, in lock order
  std::atomic<bool> selectDone{false};  // [atomic] select: some case already won
  G* schedlink = nullptr;               // [own by the list holder] link in a GList
};

// An intrusive list of Gs linked through G::schedlink (Go's gList): what the network poller
// returns. Owned by whoever holds it.
struct GList {
  G* head = nullptr;
  bool empty() const { return head == nullptr; }
  void push(G* gp) {
    gp->schedlink = head;
    head = gp;
  }
  G* pop() {
    G* gp = head;
    if (gp != nullptr) head = gp->schedlink;
    return gp;
  }
};

static_assert(offsetof(G, inline_callable) == 48, "a 16-byte callable must end line 0");
static_assert(offsetof(G, entry_arg) == 80, "line 1 of G continues after the callable");
static_assert(offsetof(G, waitsince) == 128, "the hot part of G must stay two cache lines");

// A FIFO of G pointers in a growable ring (the global run queue). Go links its global run
// queue through g.schedlink; a ring of pointers keeps sched.lock's critical sections short:
// taking a batch copies pointers instead of chasing links through Gs that are cold in this
// CPU's cache (measured: the list walk held the lock long enough for the other P to sleep).
class GRing {
 public:
  GRing() = default;
  GRing(const GRing&) = delete;
  GRing& operator=(const GRing&) = delete;
  ~GRing() { delete[] buf_; }
  std::uint32_t size() const { return size_; }
  void push_back(G* g) {
    if (size_ == cap_) grow();
    buf_[(head_ + size_++) & (cap_ - 1)] = g;
  }
  void push_front(G* g) {
    if (size_ == cap_) grow();
    head_ = (head_ - 1) & (cap_ - 1);
    buf_[head_] = g;
    size_++;
  }
  G* pop_front() {
    G* g = buf_[head_];
    head_ = (head_ + 1) & (cap_ - 1);
    size_--;
    return g;
  }

 private:
  void grow() {
    std::uint32_t cap = cap_ == 0 ? 1024 : 2 * cap_;
    G** buf = new G*[cap];
    for (std::uint32_t i = 0; i < size_; i++) buf[i] = buf_[(head_ + i) & (cap_ - 1)];
    delete[] buf_;
    buf_ = buf;
    cap_ = cap;
    head_ = 0;
  }
  G** buf_ = nullptr;
  std::uint32_t cap_ = 0;  // a power of two
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
};

// A G waiting on something (Go's sudog): on a channel's or a semaphore's wait queue. It
// lives on the waiting goroutine's own stack, which stays put while the goroutine is parked.
struct Sudog {
  G* g = nullptr;
  Sudog* next = nullptr;  // wait queue links (guarded by the queue's lock)
  Sudog* prev = nullptr;
  void* elem = nullptr;        // data element (a channel value; the semaphore address)
  detail::Hchan* c = nullptr;  // the channel, for select
  Sudog* waitlink = nullptr;   // select: the G's other sudogs
  std::int64_t acquiretime = 0;
  std::uint32_t ticket = 0;  // sema: handed the semaphore directly; notifyList: ticket
  bool isSelect = false;
  bool success = false;  // chan: woken by a value (true) or by close (false)
};

// One-word check used by the asm and the ready/reuse protocol (see G::ctx).
static_assert(offsetof(G, ctx) == 0, "G::ctx is the first field");

// The C++ runtime's per-thread exception state, the Itanium C++ ABI's __cxa_eh_globals
// (section 2.2.2, which fixes this layout for libstdc++ and libc++abi alike): the stack of
// caught exceptions (what a catch block, std::current_exception and `throw;` use) and the
// number of exceptions thrown but not yet caught (std::uncaught_exceptions).
struct CxaEhGlobals {
  void* caughtExceptions;
  unsigned int uncaughtExceptions;
};

// What a context (a G or g0) owns of the thread it runs on, although libc and libstdc++
// keep it per thread: errno and the exception state. switchTo saves it on the context's own
// stack before the switch and puts it back on whichever thread the context resumes, so each
// goroutine sees its own (a goroutine that switches inside a catch block keeps its
// exception); a new goroutine starts with errno 0 and no exception.
struct ThreadState {
  int err;
  CxaEhGlobals eh;
};

// An OS thread.
struct M {
  std::int64_t id = 0;            // [const]
  G g0;                           // [own] the scheduler context on the thread's own stack
  Published<G*> curg;             // [own, racy reads: sysmon, dumps] the G running, null on g0
  P* p = nullptr;                 // [own] the attached P
  P* nextp = nullptr;             // [sched] P to acquire when woken (startm)
  P* oldp = nullptr;              // [own] the P it held before entering a system call
  std::uint32_t syscalltick = 0;  // [own] oldp->syscalltick at entersyscall
  bool spinning = false;          // [own] looking for work; counted in sched.nmspinning
  bool is_m0 = false;             // [const] the thread that called urgent::run
  int locks = 0;                  // [own] >0: acquirem (Go's m.locks): no preemption
  G* lockedg = nullptr;           // [own] lock_os_thread: the G wired to this M
  std::uint32_t locked_ext = 0;   // [own] lock_os_thread nesting count
  // [own; read by the M's own SIGURG handler] The scheduler runs on this M (the goroutine
  // switch's state machine, proc.cc): never preempt asynchronously meanwhile.
  std::atomic<bool> scheduling{true};
  // What a switch carries to the context that runs next on this M (proc.cc, the goroutine
  // switch), each [own]:
  G* pending = nullptr;           // a G that g0 must hand to its locked M
  G* nextg = nullptr;             // a G that g0 must switch to once it is saved
  Stack deadstack{0, 0};          // stack of the G that just exited, to cache after the switch
                                  // off it (switchTo, goentry)
  M* schedlink = nullptr;         // [sched] link in sched.midle
  M* alllink = nullptr;           // [const] link in sched.allm
  Note park;                      // sleeps here when idle (stopm)
  int* errno_ptr = nullptr;       // [const] the thread's errno, saved/restored per G
  CxaEhGlobals* eh_globals = nullptr;  // [const] the thread's exception state, likewise
  long saved_timerslack = 0;      // [const] the thread's timer slack before minit
  pid_t tid = 0;                  // [const] kernel thread id
  pthread_t thread{};             // [const]
  std::uint64_t fastrand = 0;     // [own] wyrand state
  // [atomic] 1 while a preemption SIGURG sent to this M is unhandled: sysmon sends no other
  // meanwhile (Go's signalPending; signals of one kind do not queue). Cleared by the handler.
  std::atomic<std::uint32_t> signal_pending{0};
  // [atomic] nanotime() just before sysmon's last preemption tgkill to this M: the start of
  // the preemption latency that urgent_async_preempt2 records (urgent::preempt_latency).
  std::atomic<std::int64_t> preempt_sent{0};
  // [atomic] The end of the slice that preemption is for (sysmon's or the M's trigger's
  // reckoning; 0: none, a stop-the-world): urgent_async_preempt2 records how late it was
  // (urgent::preempt_overrun).
  std::atomic<std::int64_t> preempt_due{0};
  void* sigaltstack_mem = nullptr;  // [own] signal stack (SIGSEGV, SIGURG handlers)
  std::size_t sigaltstack_size = 0;
  bool exit_locked = false;    // [own] its locked G exited: the thread exits too
  bool parked_locked = false;  // [sched] asleep in stoplockedm, waiting for its G
  bool exited = false;         // [sched] left its scheduler loop; join it at shutdown
  // [atomic] kInSyscall between entersyscall and exitsyscall. At shutdown urgent::run CASes
  // it to kOrphaned instead of waiting for a call that may never return; exitsyscall's
  // exchange sees that and ends the thread.
  std::atomic<std::uint32_t> sysstate{0};
  TraceCtx trace;  // [own] its execution-trace recorder (trace.cc)
  // Kernel-assisted handoff (activation.cc):
  int act_fd = -1;                      // [const after minit] perf: its context-switch event
  bool act_writing = false;             // [own] perf: its ring is written (while it has a P)
  void* act_ring = nullptr;             // [const after minit] perf: that event's ring (read-only)
  std::uint32_t* act_state = nullptr;   // [const after minit] bpf: its state in the shared array
  // [own; read by its own activation handler] Asleep in stopm with the activation signal
  // unblocked: the handler interrupts its park note.
  std::atomic<bool> act_parked{false};
  bool act_batch = false;  // [own] SCHED_BATCH: parked, or activated and not yet rescheduled
  // [atomic] A spare found it off the CPU, blocked outside urgent::blocking while holding a
  // P, since this time (0: not seen so); sysmon reports the block once it ended.
  std::atomic<std::int64_t> unwrapped_since{0};
  std::atomic<bool> unwrapped_runnable{false};  // [atomic] ... with goroutines runnable
  // Preemption trigger (trigger.cc), URGENT_PREEMPT=timer|perf. [own]: written and read by
  // the M's thread and by its SIGURG handler on that thread (relaxed atomics where both do).
  timer_t trig_timer{};                          // [const after minit] its POSIX timer (perf: retries)
  bool trig_has_timer = false;                   // [const after minit] ... created
  int trig_fd = -1;                              // [const after minit] perf: its task-clock event
  void* trig_ring = nullptr;                     // [const after minit] perf: its samples (read-only)
  std::int64_t trig_phase = 0;                   // [const after minit] timer: its lattice phase, ns
  std::atomic<std::int64_t> slice_start{0};      // [own] timer: its goroutine's slice began
  std::atomic<std::int64_t> trig_deadline{0};    // [own] timer: armed for this (0: idle)
  std::atomic<std::int64_t> trig_fired{0};       // [own] timer: the expiry, perf: the overflow, of the preemption underway
  std::int64_t trig_period = 0;                  // [own] perf: its event's sample_period now (slice - lead)
  std::atomic<std::uint32_t> trig_seq{0};        // [own] perf: slices started (execute)
  std::uint32_t trig_tick = 0;                   // [own] its P's schedtick at the last slice start
  std::uint32_t trig_mark = 0;                   // [handler] perf: trig_seq due at the next overflow
  std::int64_t trig_backoff = 0;                 // [own] the last retry delay (0: none this slice)
};

enum SysState : std::uint32_t { kNotInSyscall = 0, kInSyscall = 1, kOrphaned = 2 };

// The local run queue of a P: Go's lock-free ring. The owner pushes at tail; the owner and
// thieves consume at head with CAS. Slots are atomics accessed relaxed: a thief may read a
// slot the owner is overwriting, but then its CAS on head fails and it discards what it read.
struct RunQueue {
  alignas(64) std::atomic<std::uint32_t> head{0};  // [atomic] consumers: load-acquire, CAS-release
  std::atomic<std::uint32_t> tail{0};  // [atomic] written only by the owner, store-release
  std::atomic<G*> slots[kRunqSize];    // [atomic] relaxed; ordered by head/tail
};

// A P's cache of dead Gs, a LIFO of pointers (Go's p.gFree, which is a linked list: an
// array lets gfget prefetch the G a few spawns ahead instead of chasing links).
struct GCache {
  static constexpr int kMax = 64;  // gfput spills half to the global list when full
  G* gs[kMax];
  int n = 0;
};

// A processor.
struct alignas(64) P {
  std::int32_t id = 0;                            // [const]
  std::atomic<std::uint32_t> status{kPgcstop};    // [atomic] PStatus
  P* link = nullptr;                              // [sched] link in sched.pidle
  // [own, racy reads: sysmon] The M holding it; how many times it scheduled (pidleget's
  // bump included: the P is its caller's then); how many system calls returned on it (or
  // lost it: whoever takes a P out of kPsyscall owns it).
  Published<M*> m;
  Relaxed<std::uint32_t> schedtick;
  Relaxed<std::uint32_t> syscalltick;
  std::uint64_t goidcache = 0, goidcacheend = 0;  // [own] batch of goroutine ids
  // [atomic] Next G to run, ahead of runq; inherits the time slice. On its own cache line:
  // the owner CASes it on every `go`, while spinning thieves keep reading `status`.
  alignas(64) std::atomic<G*> runnext{nullptr};
  // [owner writes, thieves read] How many times the owner took its runnext (runqget): a
  // thief that waited before stealing runnext sees whether the owner ran it meanwhile.
  std::atomic<std::uint32_t> runnexttaken{0};
  RunQueue runq;
  GCache gfree;                          // [own] dead Gs (no stacks), for reuse
  StackCache stackcache;                 // [own] free stacks
  TimerHeap timers;                      // timer.cc
  std::atomic<std::int32_t> gfree_n{0};  // [own, read racily by num_goroutine]
  // Counters, [own] writes, read racily by sched_stats().
  std::atomic<std::uint64_t> goroutines_created{0};
  std::atomic<std::uint64_t> steals{0};             // successful steal operations by this P
  std::atomic<std::uint64_t> stolen{0};             // Gs this P took from others
  std::atomic<std::uint64_t> runqputslow_n{0};      // overflows to the global queue
  std::atomic<std::uint64_t> syscalls{0};           // entersyscalls on this P
  std::atomic<std::uint64_t> syscall_exit_fast{0};  // exitsyscalls that got this P back
  // [own by the M entering the call; read by whoever CASes the P out of kPsyscall] The
  // thread and goroutine of the system call holding it (for the trace's GoSysBlock).
  pid_t syscall_tid = 0;
  std::int64_t syscall_goid = 0;
  // [atomic, relaxed; the entering M writes] The M of that call, for a spare that looks
  // before it CASes the P (activation.cc): a stale value only costs a look.
  std::atomic<M*> syscall_m{nullptr};
  // [atomic, own writes] When this P last switched goroutines because its goroutine was
  // preempted (nanotime): sysmon's start of the next goroutine's slice (sysmon.cc).
  std::atomic<std::int64_t> preempted_at{0};
  // [sysmon] What sysmon saw last time (Go's sysmontick): retake compares the ticks.
  struct SysmonTick {
    std::uint32_t schedtick = 0;
    std::int64_t schedwhen = 0;
    std::uint32_t syscalltick = 0;
    std::int64_t syscallwhen = 0;
  } sysmontick;
};

// The global scheduler state (Go's schedt).
struct Sched {
  SpinMutex lock;
  // Idle Ms.
  M* midle GUARDED_BY(lock) = nullptr;
  std::int32_t nmidle GUARDED_BY(lock) = 0;
  std::int64_t mnext GUARDED_BY(lock) = 0;         // next M id (= Ms created, M0 included)
  std::int64_t nmexited GUARDED_BY(lock) = 0;      // Ms whose thread left (a locked G exited)
  std::int32_t nmidlelocked GUARDED_BY(lock) = 0;  // Ms asleep waiting for their locked G
  std::atomic<M*> allm{nullptr};                   // every M ever created in this run
  // Idle Ps.
  P* pidle GUARDED_BY(lock) = nullptr;
  // Read by wakep on every `go` and ready: kept off the line that sched.lock bounces on.
  alignas(64) std::atomic<std::int32_t> npidle{0};
  std::atomic<std::int32_t> nmspinning{0};  // Ms looking for work
  // Global run queue.
  alignas(64) GRing runq GUARDED_BY(lock);
  std::atomic<std::int32_t> runqsize{0};  // [sched] writes; read racily as a hint
  // Global free list of dead Gs (Go's sched.gFree), a LIFO of pointers (see GRing).
  SpinMutex gflock;
  std::vector<G*> gfree GUARDED_BY(gflock);
  std::atomic<std::int32_t> gfree_n{0};
  // Goroutine ids are handed to Ps in batches (Go's goidgen / _GoidCacheBatch).
  std::atomic<std::int64_t> goidgen{0};
  // Stop-the-world (GOMAXPROCS changes).
  std::atomic<bool> gcwaiting{false};
  std::int32_t stopwait GUARDED_BY(lock) = 0;
  Note stopnote;
  // Shutdown: main returned; every M leaves its scheduler loop.
  std::atomic<bool> shutdown{false};
  // sysmon (sysmon.cc). sysmonwait: it sleeps on sysmonnote until woken (every P was idle);
  // whoever finds it set (under sched.lock) clears it and wakes the note.
  bool sysmonwait GUARDED_BY(lock) = false;
  // [sched writes] checkdead found every goroutine asleep while threads the runtime does not
  // know existed: sysmon runs it again until they are gone (proc.cc, checkdead).
  std::atomic<bool> deadlock_deferred{false};
  std::atomic<bool> sysmonwait_hint{false};  // sysmonwait, readable without the lock
  Note sysmonnote;
  // The network poller (netpoll.cc). lastpoll: when the network was last polled, 0 while an
  // M is blocked in netpoll; pollUntil: when that M's poll times out (0: never).
  std::atomic<std::int64_t> lastpoll{0};
  std::atomic<std::int64_t> pollUntil{0};
  // Counters.
  std::atomic<std::uint64_t> threads_created{0};
  std::atomic<std::uint64_t> syscall_exit_idle_p{0};
  std::atomic<std::uint64_t> syscall_exit_slow{0};
  std::atomic<std::uint64_t> handoffs{0};
  std::atomic<std::uint64_t> handoffs_block{0};
  std::atomic<std::uint64_t> handoffs_activated{0};  // by a spare woken by the kernel
};

}  // namespace urgent::rt
