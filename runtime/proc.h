// runtime/proc.h: the scheduler's internal interface (proc.cc), shared by the other runtime
// files and by the white-box tests.
#pragma once

#include <atomic>
#include <cstdint>

#include "histogram.h"
#include "lock.h"
#include "runtime2.h"

#if defined(__clang__)
#define URGENT_NOIPA __attribute__((noinline))
#else
// noipa: GCC must not infer the function is pure and reuse its result across a switch.
#define URGENT_NOIPA __attribute__((noinline, noipa))
#endif

namespace urgent::rt {

extern Sched sched;
// allp[0..gomaxprocs) are the live Ps; slots are filled once and never freed while running.
extern P* allp[kMaxGomaxprocs];
extern std::atomic<std::int32_t> gomaxprocs_now;

// The M of the calling thread, or null for threads the runtime did not adopt. Never cache
// the result across anything that can switch goroutines: the goroutine may resume on
// another thread (see HACKING.md).
URGENT_NOIPA M* getm();

// The running goroutine, or null on g0 / outside the runtime.
inline G* getg() {
  M* mp = getm();
  return mp != nullptr ? static_cast<G*>(mp->curg) : nullptr;
}

// Disable/enable preemption of the calling M (Go's acquirem/releasem): counts in m->locks.
void acquirem();
void releasem();

[[noreturn]] void badgstatus(G* gp, std::uint32_t from, std::uint32_t to, std::uint32_t cur);

// Scheduling latency (ready -> running), sampled: one in kTrackPeriod transitions to
// runnable of each G is timed (Go samples one in 8; a clock read costs ~20 ns here, and
// pingpong makes four transitions in ~115 ns, so one in 64 keeps it under 1%).
inline constexpr std::uint8_t kTrackPeriod = 64;
extern LatencyHistogram sched_latency;
// Transitions to runnable made by this thread (one in kTrackPeriod is sampled). Per thread,
// not per G: the G's own lines stay untouched unless it is sampled.
extern thread_local constinit std::uint8_t tls_trackseq;

// Moves gp from `from` to `to`; any other current status is a fatal error. Go's name is
// kept, but it is a checked store: only the current owner of a G changes its status
// (runtime2.h), and unlike Go there is no concurrent scanner setting a _Gscan bit. Like
// Go's, it samples the scheduling latency (from and to are constants at every call site,
// so only the relevant half is compiled in).
inline void casgstatus(G* gp, std::uint32_t from, std::uint32_t to) {
  std::uint32_t cur = gp->atomicstatus.load(std::memory_order_relaxed);
  if (cur != from) [[unlikely]]
    badgstatus(gp, from, to, cur);
  if (to == kGrunnable) {
    if (++tls_trackseq % kTrackPeriod == 0) [[unlikely]] {
      gp->tracked = 1;
      gp->runnable_since = nanotime();
    }
  } else if (from == kGrunnable && gp->tracked != 0) [[unlikely]] {
    sched_latency.record(nanotime() - gp->runnable_since);
    gp->tracked = 0;
  }
  gp->atomicstatus.store(to, std::memory_order_release);
}

// A fatal error for a call that needs a goroutine, made from a thread that runs none:
// `what called outside urgent::run` or `... on a thread that runs no goroutine`.
[[noreturn]] void outside_runtime(const char* what);
// For calls that need a running runtime but not a goroutine (making a File: the poller
// exists only inside urgent::run): the fatal error outside one.
void require_run(const char* what);
// The public call that parks for `reason` ("urgent::Chan::recv"), for that error.
const char* blocking_call_name(WaitReason reason);
// The running goroutine, about to park for `reason`; the fatal error if there is none.
G* getg_to_park(WaitReason reason);

// Parks the running goroutine (Go's gopark). After its status is kGwaiting, unlockf(gp,
// arg) runs (if given); if it returns false the goroutine keeps running instead.
using UnlockFn = bool (*)(G* gp, void* arg);
void gopark(UnlockFn unlockf, void* arg, WaitReason reason);

// Makes a parked goroutine runnable in the caller's runnext (Go's goready), waking an idle
// P if there is one. Must be called from a goroutine or with a P.
void goready(G* gp);

// Yields to the goroutines in the local run queue: the caller goes to the tail of the local
// queue, not the global one (Go's goyield, used after a direct semaphore handoff).
void goyield();

// gosched without its trace event, for callers that record why they yield (preemption).
// gp is mp's running goroutine, mp the caller's M read once before the call.
void goschedImpl(M* mp, G* gp);

// From a goroutine: stops the world (every P), runs fn on the caller while it is stopped,
// then starts it again with nprocs Ps (0: as many as before). GOMAXPROCS changes, trace start.
// One at a time (Go's worldsema): a concurrent caller parks until the first has finished.
void stopTheWorldAndRun(std::int32_t nprocs, void (*fn)());

// Wakes an idle P with a spinning M if there is an idle P and nobody spins (Go's wakep).
void wakep();

// Schedules some M to run pp, or an idle P if pp is null (Go's startm).
void startm(P* pp, bool spinning);

// Hands off pp, which no M holds (kPidle), from an M that blocks, from sysmon's retake or
// from an activation: an M runs it if it has work, else it goes idle (Go's handoffp). With
// self (an M without a P: the spare of an activation), self is that M: returns true if self
// took pp.
bool handoffp(P* pp, M* self = nullptr);

// Reserves the id of an M about to be created, counting it as running (Go's mReserveID),
// and creates it (Go's newm): it starts with pp (null: it parks in stopm, a spare).
std::int64_t mReserveID() REQUIRES(sched.lock);
void newm(P* pp, bool spinning, std::int64_t id);
// Go's checkdead (proc.cc): reports a deadlock if no M can run and no timer is pending, or
// defers the report (sched.deadlock_deferred) while the process has threads the runtime
// does not know (one may still ready a goroutine). sysmon calls it again meanwhile.
void checkdead() REQUIRES(sched.lock);
// How often sysmon runs a deferred checkdead again.
inline constexpr std::int64_t kDeadlockRecheckNs = 100'000'000;

// The runtime's threads that are not Ms (sysmon, the tracer's writer, the observer's
// reader): created with every signal blocked and counted, so that checkdead can tell them
// from the program's own threads.
int start_helper_thread(pthread_t* thread, void* (*fn)(void*), void* arg);
void join_helper_thread(pthread_t thread);

// Adds v to the count of idle Ms locked to a goroutine (Go's incidlelocked); sysmon uses -1
// and +1 around a retake to count itself as a running M meanwhile. Runs checkdead when v > 0.
void incidlelocked(std::int32_t v);

// Makes every goroutine on list runnable (they are kGwaiting: the poller's harvest) and
// queues them: without a P all globally, with one, one per idle P globally (starting Ms
// for them) and the rest locally (Go's injectglist).
void injectglist(GList* list);

// The two halves of the handshake between entersyscall and stop-the-world (proc.cc): publish
// pp as in a system call, then report whether the world is stopping; take a P in a system
// call for a stopping world (false if it is not in one).
bool publishSyscallP(P* pp);
bool stopSyscallP(P* pp);

// The running goroutine enters / leaves a system call (urgent/blocking.h).
bool entersyscall();
bool entersyscallblock();
void exitsyscall(int err);

// The global run queue (caller holds sched.lock).
void globrunqput(G* gp) REQUIRES(sched.lock);
void globrunqputbatch(G* const* batch, std::int32_t n) REQUIRES(sched.lock);
G* globrunqget(P* pp, std::int32_t max) REQUIRES(sched.lock);

// A fast pseudo-random number for the calling M (Go's cheaprand).
std::uint32_t fastrand();

// For goroutine dumps: the goroutines ever allocated in this run (dead ones included).
// Lock-free and async-signal-safe (the SIGQUIT dump reads them).
std::int64_t allglen();
G* allg_at(std::int64_t i);
// Serializes allocating Gs (newG); readers of allglen/allg_at never take it. Lock order:
// after sched.lock.
extern Mutex allglock;

// True between urgent::run's start and its return.
bool runtime_running();

// Changes at every urgent::run's start and end (odd while a run is on). Wait queues that
// live in the program's objects (a channel's, a Cond's, a File's PollDesc) remember the
// epoch of their waiters: waiters of another epoch were abandoned with their goroutines when
// their run returned, and are forgotten, never touched.
extern std::atomic<std::uint32_t> run_epoch;
inline std::uint32_t current_run() {
  return run_epoch.load(std::memory_order_relaxed);
}

// Prints Go's scheduler trace to stderr (GODEBUG=schedtrace, sysmon calls it): one SCHED
// line with the global state and the local run queue lengths, or, detailed
// (scheddetail=1), the same plus one line per P, M and G, in Go's format.
void schedtrace(bool detailed);

}  // namespace urgent::rt
