// runtime/sysmon.cc: the system monitor (Go's sysmon and retake, proc.go).
//
// Design and invariants:
// - sysmon is a plain thread with no M and no P: it never runs goroutines, takes only
//   sched.lock and the poller, and is not counted by checkdead.
// - It ticks every 20 µs; after 50 consecutive ticks that did nothing (no retake) it doubles
//   its sleep every tick, up to 10 ms; any retake brings it back to 20 µs (Go's delay rule).
//   urgent's differences, so that time slices mean what they say (Go, with its fixed 10 ms
//   slice and up to 10 ms sleeps, preempts after 10 to 20 ms):
//   - it never sleeps longer than half a slice (5 ms at the default 10 ms), and wakes when
//     the earliest running goroutine's slice ends (retake's next_preempt);
//   - a goroutine's slice starts when its P switched to it after a preemption
//     (P::preempted_at), not when sysmon noticed; otherwise when sysmon noticed, as in Go;
//   - the signal goes out one average preemption latency before the slice ends
//     (preempt_lead_ns), so that the goroutine leaves its M when the slice ends;
//   - a tick that ends a slice also ends those ending within a quarter slice (at most
//     100 µs): Ps stay in step and one wakeup serves them all. On this project's VM every
//     wakeup costs the interrupted goroutine ~20-30 µs (README, preemption overhead).
// - With URGENT_PREEMPT=timer|perf (trigger.cc) each M's own timer or event ends its slices:
//   sysmon neither signals nor wakes for them, and sleeps up to 5 ms whatever the slice (as
//   at Go's 10 ms slice; half a slice again if some M's trigger failed to open).
// - With kernel-assisted handoff (URGENT_HANDOFF=perf|bpf, activation.cc) it never ticks
//   at 20 µs: a spare M takes a blocked call's P, so sysmon sleeps half a slice (at most
//   10 ms) between ticks, waking for slice ends, and retakes only calls 10 ms old.
// - When every P is idle (or the world is stopping) it sleeps on sched.sysmonnote until the
//   next timer, or until woken: every P that leaves the idle list (pidleget: I/O or a timer
//   readied a goroutine, a system call returned), entersyscall and startTheWorld wake it
//   (sysmonwake). Go 1.19 wakes it only for system calls, so a goroutine woken by I/O that
//   then spins goes unpreempted, and the network unpolled, until sysmon's sleep ends.
// - retake (Go's rule): a P seen in kPsyscall with the same syscalltick on two
//   consecutive ticks (on the first if its goroutine is past its 10 ms time slice) is
//   handed off, unless its run queue is empty, some M spins or some P is idle, and the
//   syscall started less than 10 ms ago (measured from when sysmon first saw that call;
//   see retake for the one difference from Go 1.19). The P
//   is taken with a CAS from kPsyscall, so it races safely with the M returning from the call
//   (exitsyscallfast).
// - The preemption half of retake: a P whose schedtick has not moved for a time slice
//   (URGENT_TIMESLICE, default 10 ms, Go's forcePreemptNS) gets preemptone (preempt.cc): the
//   cooperative flag and SIGURG, on every tick until its goroutine yields.
// - If nobody polled the network for 10 ms, sysmon polls it and injects what is ready.
// - GODEBUG=schedtrace=N: it prints Go's SCHED line every N ms (its first tick prints
//   "SCHED 0ms"), with scheddetail=1 the P, M and G lines too, and never sleeps while idle.
#include "sysmon.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "activation.h"
#include "lock.h"
#include "netpoll.h"
#include "panic.h"
#include "preempt.h"
#include "proc.h"
#include "runq.h"
#include "timer.h"
#include "trigger.h"
#include "usdt.h"

namespace urgent::rt {

void (*sysmon_netpoll_hook)() = nullptr;

namespace {

constexpr std::int64_t kMinDelayUs = 20;               // Go: usleep(20) when busy
constexpr std::int64_t kMaxDelayUs = 10'000;           // Go: 10 ms at most
constexpr int kIdleTicksBeforeBackoff = 50;            // Go: idle > 50
// With URGENT_PREEMPT=timer|perf sysmon sleeps up to what half of Go's 10 ms slice allows,
// whatever the slice: retake's handoffs keep their pace, and short slices cost no ticks.
constexpr std::int64_t kTriggerMaxDelayUs = 5'000;
// Retake an idle-work syscall P after this. With kernel-assisted handoff (URGENT_HANDOFF=
// perf|bpf), where a spare takes a blocked M's P at once, sysmon retakes only calls this old
// (they stayed on the CPU, or the vCPU stalled in them, or their activation was missed): a
// shorter backstop retook P's from getpid calls whose vCPU the hypervisor held for 1 ms.
constexpr std::int64_t kSyscallGraceNs = 10'000'000;
constexpr std::int64_t kNetpollPeriodNs = 10'000'000;  // sysmon polls if nobody did for this
constexpr std::int64_t kBatchMaxNs = 100'000;  // retake's batching window: slice/4, at most this
constexpr std::int64_t kIdleSleepMaxNs = 60'000'000'000;  // Go: forcegcperiod / 2

pthread_t thread;
bool started = false;
std::atomic<std::uint32_t> stop{0};  // futex word: 1 = leave

std::atomic<std::uint64_t> ticks{0};
clockid_t cpu_clock{};  // sysmon's thread CPU-time clock (valid while started)
std::atomic<std::uint64_t> idle_sleeps{0};
std::atomic<std::int64_t> delay_us{0};
std::int64_t schedtrace_ns = 0;  // GODEBUG=schedtrace, in ns (0: off)
bool schedtrace_detail = false;  // GODEBUG=scheddetail

// Retakes Ps blocked in system calls and preempts long-running goroutines (Go's retake).
// Returns how many Ps it took; *next_preempt is the earliest future time a running
// goroutine's slice ends (0: none). batch: sysmon woke for a slice's end; goroutines whose
// slices end within kBatch of it are preempted in the same tick.
int retake(std::int64_t now, bool batch, std::int64_t* next_preempt, int* preempted) {
  int n = 0;
  std::int64_t slice = timeslice_ns();
  // A running goroutine is signalled early by the usual signal latency, so that it leaves its
  // M on time, and with those whose slices end soon when this tick ends one (batch).
  std::int64_t signal_at = slice - preempt_lead_ns();
  std::int64_t horizon = batch ? now + std::min(slice / 4, kBatchMaxNs) : now;
  *next_preempt = 0;
  std::int32_t procs = gomaxprocs_now.load();
  for (std::int32_t i = 0; i < procs; i++) {
    P* pp = allp[i];
    if (pp == nullptr) continue;
    P::SysmonTick& pd = pp->sysmontick;
    std::uint32_t s = pp->status.load(std::memory_order_acquire);
    bool sysretake = false;
    if (s == kPrunning || s == kPsyscall) {
      // Preempt G if it's running for too long.
      std::uint32_t t = pp->schedtick;
      // (schedwhen 0: first sight of this P. A goroutine that inherited its slice, like
      // goroutine 1 from runnext, leaves schedtick at 0, and Go then preempts it at once:
      // its slice starts now instead.)
      if (pd.schedtick != t || pd.schedwhen == 0) {
        pd.schedtick = t;
        // When the goroutine started: now, as Go takes it, unless the P switched because
        // it was preempted since the last change we saw; then the switch time, which it
        // recorded (a time-sliced goroutine gets its whole slice, not slice minus our lag).
        std::int64_t switched = pp->preempted_at.load(std::memory_order_relaxed);
        pd.schedwhen = switched > pd.schedwhen && switched <= now ? switched : now;
      }
      if (s == kPrunning && trigger_covers(pp->m)) {
        // Its M's own timer or task-clock event ends its slices (trigger.cc).
      } else if (s == kPrunning) {
        std::int64_t due = pd.schedwhen + signal_at;
        if (due <= horizon) {
          if (preemptone(pp, nullptr, pd.schedwhen + slice)) ++*preempted;
        } else if (*next_preempt == 0 || due < *next_preempt) {
          // (One already due waits for its signal or its next runtime call: no busy ticks.)
          *next_preempt = due;
        }
      } else if (pd.schedwhen + slice <= now && !trigger_covers(pp->syscall_m.load(std::memory_order_relaxed))) {
        // In a syscall, preemptone can't work: there is no M wired to the P. (An M's own
        // trigger asks its goroutine to yield when the call returns instead.)
        sysretake = true;
      }
    }
    if (s != kPsyscall) continue;
    // Retake P from syscall if it's there for more than 1 sysmon tick (at least 20 µs), or
    // at once if its goroutine is past its time slice (sysretake). One difference from Go
    // 1.19: syscallwhen is updated whenever the call changed, sysretake or not. Go stops
    // updating it under sysretake, so a loop of short calls that never reschedules looks
    // like one call older than 10 ms and loses its P every tick, even with idle Ps around
    // (measured: ~1,500 handoffs in a million getpid calls through blocking()).
    std::uint32_t t = pp->syscalltick;
    // (syscallwhen 0: the P's first call sysmon sees. A fresh P's syscalltick is 0 like
    // pd.syscalltick, so Go 1.19 takes that call for one seen a tick ago, with syscallwhen 0
    // far in the past: it retakes the P at once, even with idle Ps around. The P-handoff
    // checker found these as needless handoffs.)
    if (pd.syscalltick != t || pd.syscallwhen == 0) {
      pd.syscalltick = t;
      pd.syscallwhen = now;
      if (!sysretake) continue;
    }
    if (activations_on() && !sysretake && pd.syscallwhen + kSyscallGraceNs > now) continue;
    // On the one hand we don't want to retake Ps if there is no other work to do, but on
    // the other hand we want to retake them eventually because they can prevent sysmon
    // from deep sleep.
    if (runqempty(pp) && sched.nmspinning.load() + sched.npidle.load() > 0 &&
        pd.syscallwhen + kSyscallGraceNs > now) {
      continue;
    }
    // Pretend one more M is running until handoffp has found pp an M: otherwise the M
    // returning from the call could find no P, go idle and make checkdead see no running M
    // while pp, taken from it, has none yet (Go does the same with incidlelocked).
    incidlelocked(-1);
    std::uint32_t expected = kPsyscall;
    if (pp->status.compare_exchange_strong(expected, kPidle)) {
      n++;
      pp->syscalltick++;  // the M returning from the call now finds its P gone
      sched.handoffs.fetch_add(1, std::memory_order_relaxed);
      URGENT_PROBE(handoff, pp->id);
      // (The CAS above made the P ours: the call's fields are the entering M's last writes.)
      URGENT_TRACE_EVENT(kGoSysBlock, pp->syscall_goid, pp->id, pp->syscall_tid);
      handoffp(pp);
    }
    incidlelocked(1);
  }
  return n;
}

// Sleeps us microseconds, or until sysmon_stop.
void nap(std::int64_t us) {
  std::int64_t deadline = nanotime() + us * 1000;
  for (;;) {
    std::int64_t left = deadline - nanotime();
    if (left <= 0 || stop.load()) return;
    futex_sleep(&stop, 0, left);
  }
}

// Every P is idle (or the world is stopping): sleep until the next timer or a sysmonwake.
// Returns true if something woke it (a syscall started: time to watch closely again).
bool sleepWhileIdle(std::int64_t now) {
  SpinGuard lock(sched.lock);
  bool idle = sched.gcwaiting.load() || sched.npidle.load() == gomaxprocs_now.load();
  // With schedtrace on, sysmon keeps ticking to print it (Go: debug.schedtrace <= 0 && ...).
  if (!idle || stop.load() || schedtrace_ns > 0) return false;
  std::int64_t next = nextTimerWhen();
  // A deadlock report waits for the program's own threads: look again soon.
  std::int64_t sleep = sched.deadlock_deferred.load() ? kDeadlockRecheckNs : kIdleSleepMaxNs;
  if (next != 0) {
    if (next <= now) return false;
    sleep = std::min(sleep, next - now);
  }
  sched.sysmonwait = true;
  sched.sysmonwait_hint.store(true, std::memory_order_relaxed);
  sched.lock.unlock();
  idle_sleeps.fetch_add(1, std::memory_order_relaxed);
  bool woken = sched.sysmonnote.sleep_for(sleep);
  sched.lock.lock();
  if (sched.sysmonwait) {  // timed out: nobody cleared it
    sched.sysmonwait = false;
    sched.sysmonwait_hint.store(false, std::memory_order_relaxed);
  }
  sched.sysmonnote.clear();
  return woken;
}

void* sysmon(void*) {
  // Like the Ms: wake when due, not 50 µs later (the kernel's default timer slack).
  prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0);
  trace_bind_thread(sysmon_trace_ctx(), -1, static_cast<pid_t>(syscall(SYS_gettid)));
  std::int64_t delay = 0;
  int idle = 0;  // how many cycles in succession we had not woken somebody up
  // Never sleep through more than half a time slice (see the file comment), unless the Ms'
  // own triggers end slices (URGENT_PREEMPT=timer|perf) and every M has one.
  std::int64_t slice_delay = std::clamp(timeslice_ns() / 2000, kMinDelayUs, kMaxDelayUs);
  std::int64_t max_delay = slice_delay;
  std::int64_t next_preempt = 0;  // from retake
  std::int64_t lasttrace = 0;     // GODEBUG=schedtrace: when it last printed
  while (!stop.load()) {
    max_delay = trigger_on && !trigger_uncovered() ? std::max(slice_delay, kTriggerMaxDelayUs) : slice_delay;
    if (activations_on()) {
      // The kernel reports blocked calls (activation.cc): no 20 µs watch for them, only the
      // slice ends (next_preempt), the network and the 10 ms backstop.
      delay = max_delay;
    } else if (idle == 0) {  // start with 20 µs sleep...
      delay = kMinDelayUs;
    } else if (idle > kIdleTicksBeforeBackoff) {  // start doubling the sleep after 1 ms...
      delay *= 2;
    }
    if (delay > max_delay) delay = max_delay;  // up to 10 ms (Go), half a slice (urgent)
    delay_us.store(delay, std::memory_order_relaxed);
    // Wake for the next slice that ends before then (urgent: Go ticks blindly).
    std::int64_t sleep = delay;
    if (next_preempt != 0) {
      std::int64_t until = (next_preempt - nanotime()) / 1000;
      sleep = std::clamp<std::int64_t>(until, 1, delay);
    }
    nap(sleep);
    if (stop.load()) break;
    ticks.fetch_add(1, std::memory_order_relaxed);
    std::int64_t now = nanotime();
    if (sleepWhileIdle(now)) {
      idle = 0;
      delay = kMinDelayUs;
      delay_us.store(delay, std::memory_order_relaxed);
    }
    if (sched.deadlock_deferred.load(std::memory_order_relaxed)) {
      SpinGuard lock(sched.lock);
      checkdead();  // the program's threads may be gone by now
    }
    if (stop.load()) break;
    now = nanotime();
    // Poll the network if not polled for more than 10 ms.
    std::int64_t lastpoll = sched.lastpoll.load();
    if (lastpoll != 0 && lastpoll + kNetpollPeriodNs < now) {
      sched.lastpoll.compare_exchange_strong(lastpoll, now);
      // Pretend one more M runs until the goroutines found are queued (Go's
      // incidlelocked bracket): once netpoll has taken them from their poll descriptors no
      // one waits on the poller any more, and an M going idle before injectglist made them
      // runnable would see only idle Ms and waiting goroutines, and report a deadlock.
      incidlelocked(-1);
      GList list = netpoll(0);  // non-blocking: returns a list of goroutines
      netpoll_count_sysmon();
      if (sysmon_netpoll_hook != nullptr) sysmon_netpoll_hook();
      injectglist(&list);
      incidlelocked(1);
    }
    // Retake Ps blocked in syscalls and preempt long running Gs.
    bool deadline = next_preempt != 0 && next_preempt <= now;
    int preempted = 0;
    int retaken = retake(now, deadline, &next_preempt, &preempted);
    activation_sysmon_tick();
    // (With activations, a retake is the backstop's: no reason to tick fast again.)
    if (retaken != 0 && !activations_on()) {
      idle = 0;
    } else {
      idle++;
    }
    if (retaken + preempted != 0) URGENT_TRACE_EVENT(kSysmonTick, retaken, preempted);
    if (schedtrace_ns > 0 && lasttrace + schedtrace_ns <= now) {
      lasttrace = now;
      schedtrace(schedtrace_detail);
    }
  }
  return nullptr;
}

}  // namespace

void sysmon_start(int schedtrace_ms, bool scheddetail) {
  schedtrace_ns = std::int64_t{schedtrace_ms} * 1'000'000;
  schedtrace_detail = scheddetail;
  stop.store(0);
  ticks.store(0);
  idle_sleeps.store(0);
  delay_us.store(kMinDelayUs);
  // Like every runtime thread: all signals blocked (sysmon handles none).
  int err = start_helper_thread(&thread, sysmon, nullptr);
  if (err != 0) fatal("runtime: cannot start sysmon: pthread_create: %s", strerror(err));
  if (pthread_getcpuclockid(thread, &cpu_clock) != 0) cpu_clock = clockid_t{};
  started = true;
}

void sysmonwakeLocked() REQUIRES(sched.lock) {
  if (sched.sysmonwait) {
    sched.sysmonwait = false;
    sched.sysmonwait_hint.store(false, std::memory_order_relaxed);
    sched.sysmonnote.wakeup();
  }
}

void sysmon_stop() {
  if (!started) return;
  {
    // Under sched.lock: sysmon checks `stop` under it before it sleeps in sleepWhileIdle.
    SpinGuard lock(sched.lock);
    stop.store(1);
    sysmonwakeLocked();
  }
  futex_wake(&stop, 1);
  join_helper_thread(thread);
  started = false;
}

void sysmonwake() {
  if (!sched.sysmonwait_hint.load(std::memory_order_relaxed)) return;
  SpinGuard lock(sched.lock);
  sysmonwakeLocked();
}

SysmonStats sysmon_stats() {
  std::int64_t cpu_ns = 0;
  timespec ts;
  if (started && clock_gettime(cpu_clock, &ts) == 0) {
    cpu_ns = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
  return {ticks.load(), idle_sleeps.load(), delay_us.load(), cpu_ns};
}

}  // namespace urgent::rt
