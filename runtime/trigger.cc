// runtime/trigger.cc: who ends a time slice (URGENT_PREEMPT=sysmon|timer|perf).
//
// Design and invariants:
// - sysmon (Go's) is preempt.cc and sysmon.cc as they are; this file is the other two. With
//   timer or perf, sysmon leaves every M its trigger covers alone (trigger_covers): it does
//   not wake per slice, and sends no tgkill. An M whose timer or event failed is covered by
//   sysmon as before.
// - Both deliver SIGURG to the M's own thread (SIGEV_THREAD_ID; F_SETOWN_EX F_OWNER_TID),
//   so the decision is made on the CPU the goroutine runs on, with no cross-CPU IPI. The
//   SIGURG handler asks trigger_fired first: a timer signal carries SI_TIMER and the M in
//   si_value, a perf one POLL_IN and the event's fd in si_fd; anything else (sysmon's
//   tgkill, the program's own kill) goes the usual way. The trigger's own signals are not
//   passed on to the program's SIGURG handler: nobody sent them.
// - Decisions reuse preempt.cc: trigger_fired sets the goroutine's flag, counts a request
//   and calls doSigPreempt, which applies the same async safe-point rules and pushes the
//   same trampoline call. A deferred preemption (unsafe point) is retried by the trigger
//   itself a quarter slice later (at most 20 µs), not at some sysmon tick, then after twice
//   that, and so on up to a slice (next_retry); the cooperative flag stays set meanwhile.
// - Everything here is the M's own: its thread writes the fields, and its SIGURG handler,
//   which runs on that thread, reads and writes them (relaxed atomics, single thread).
//
// timer: one-shot, re-armed by the handler, never per switch.
// - execute() records the slice's start (nanotime) when a goroutine starts a new slice (one
//   that inherits its predecessor's, from runnext, keeps that start, as in Go); if the
//   timer is idle it arms it for the slice's end. An armed timer is never later than
//   the current slice's end (it was set for an earlier slice), so none is missed.
// - Armed one average lateness early (lead: expiry -> off its M, at most half a slice), as
//   sysmon signals early, so that the goroutine leaves its M when its slice ends.
// - When it fires: a running goroutine that has had its whole slice is preempted; one that
//   started later (its predecessor yielded or blocked) gets the timer re-armed for its own
//   slice's end. After a preemption, and when no goroutine runs (the M is idle, or its
//   goroutine is in a system call), the timer stays idle: the next slice start, or
//   exitsyscall's return to the goroutine (trigger_resume), arms it. So an idle M's timer
//   fires at most once, and a long call is interrupted at most once. Fired while the M
//   schedules with a P (execute may have armed it for an inherited slice already over),
//   it is retried shortly.
// - Staggered: each M's expiries lie on its own lattice, deadline = phase + k * 4096 ns,
//   with phase = the 12-bit bit-reversal of the M's id (M0 0 ns, M1 2048, M2 1024, M3 3072,
//   ...). Timers of different Ms (ids below 4096) are never armed for the same instant, and
//   the rounding costs at most 4 µs. (Argobots, PPoPP'21: 56 per-thread timers firing
//   together took 58 µs to reach their handlers, staggered 2.2 µs.)
// - A call in urgent::blocking that is still in the kernel when its goroutine's slice ends
//   may be interrupted once: SA_RESTART restarts most calls, but the kernel never restarts
//   poll, epoll_wait, select and a few others, which return EINTR (as with Go's SIGURG).
//
// perf: a PERF_COUNT_SW_TASK_CLOCK event per M, sample_period = the slice less the lead.
// - The task clock runs only while the M's thread is on a CPU (an hrtimer the kernel
//   re-arms at sched-in), so it overflows after every slice of on-CPU time, and time the
//   kernel gave another thread is not charged. exclude_kernel (perf_event_paranoid 2): an
//   overflow that lands in the kernel is skipped, and the period restarts.
// - The lead, as timer's: the average lateness from the overflow to the goroutine off its M.
//   The M sets its event's period to the slice less the lead, at most an eighth of the
//   slice (perf_period; PERF_EVENT_IOC_PERIOD, retune), at a slice start, on its own
//   thread, once the lead has moved 2 µs since the last time: a few system calls per M,
//   none from the handler. The slice's end is the overflow plus the lead of its period.
// - The event cannot be reset per switch without a system call, so the handler decides by
//   counting slices (M::trig_seq, bumped in execute): a goroutine is preempted at an
//   overflow if it was already running at the previous one, or started right after that
//   one's preemption: then it had one whole period on the CPU, give or take the switch. A
//   goroutine that started mid-period (its predecessor yielded or blocked) is preempted at
//   the next overflow: between one and two slices of on-CPU time.
// - A deferred preemption is retried by a POSIX timer of the M's (retry_by_timer): the
//   event's period stays as it is.
// - Each overflow writes a sample with its time (PERF_SAMPLE_TIME, CLOCK_MONOTONIC) into a
//   one-page backward ring: the handler reads the newest, the overflow's instant, for
//   preempt_overrun (the slice ends a lead later) and for the lead's average.
// - The kernel throttles sampling events above kernel.perf_event_max_sample_rate overflows
//   per second (and lowers that limit when its perf interrupts run long): a slice shorter
//   than 1 s / that rate is refused at start with one line, and sysmon is used.
#include "trigger.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "log.h"
#include "perf_ring.h"
#include "preempt.h"
#include "proc.h"
#include "runtime2.h"
#include "sanitizer.h"
#include "trace.h"
#include "urgent/stats.h"

namespace urgent::rt {

bool trigger_on = false;

namespace {

constexpr std::int64_t kStaggerNs = 4096;      // one lattice step; phases are 12 bits
constexpr std::int64_t kRetryMaxNs = 20'000;    // a deferred preemption's retry, at most
constexpr std::int64_t kPerfMinPeriodNs = 10'000;  // the kernel's hrtimer floor for task-clock

PreemptTrigger trigger = PreemptTrigger::kSysmon;  // [const during a run]
std::int64_t slice = 0;                            // [const during a run]
std::mutex uncovered_mu;                           // (cold: an M whose trigger failed)

// A moving average (weight 1/8) of how long after its expiry (timer) or overflow (perf) a
// trigger's goroutine left its M (the interrupt, the handler, the trampoline): timers are
// armed, and task-clock periods set, that much before the slice's end, as sysmon signals
// one average latency early (preempt_lead_ns), so that the goroutine leaves its M when its
// slice ends. Independent of the lead itself (measured from the expiry or overflow, not
// from the slice's end): no feedback loop.
std::atomic<std::int64_t> lateness_avg{0};

std::int64_t lead() {
  return std::clamp<std::int64_t>(lateness_avg.load(std::memory_order_relaxed), 0, slice / 2);
}

// Counters of this run (urgent::sched_stats).
std::atomic<std::uint64_t> n_fires{0}, n_early{0}, n_idle{0}, n_retries{0}, n_uncovered{0},
    n_retunes{0};

void count(std::atomic<std::uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}

// Counts and traces what a fire of mp's trigger found.
// (deadline: what the timer was armed for; 0 for perf.)
void outcome(const G* gp, tracefmt::TriggerOutcome o, std::int64_t deadline) {
  if (o == tracefmt::TriggerOutcome::kEarly) count(n_early);
  if (o == tracefmt::TriggerOutcome::kIdle) count(n_idle);
  // (Not for an M with neither P nor goroutine, e.g. before its first ProcStart: it had
  // nothing to preempt, and its trace has no P to put it on.)
  const M* mp = getm();
  if (tracing() && (mp->p != nullptr || mp->curg != nullptr)) {
    traceHandlerEvent(tracefmt::Ev::kPreemptTrigger, gp != nullptr ? static_cast<std::uint64_t>(gp->goid) : 0,
                      static_cast<std::uint64_t>(trigger), static_cast<std::uint64_t>(o),
                      static_cast<std::uint64_t>(deadline));
  }
}

// The delay before retrying a deferred preemption: a quarter slice (at most 20 µs) at
// first, doubling while the goroutine stays at unsafe points, up to a slice (a goroutine
// blocked in a plain read inside libc must not be interrupted 50,000 times a second).
std::int64_t next_retry(M* mp) {
  std::int64_t first = std::clamp<std::int64_t>(slice / 4, 1, kRetryMaxNs);
  mp->trig_backoff = mp->trig_backoff == 0 ? first : std::min(mp->trig_backoff * 2, slice);
  return mp->trig_backoff;
}

std::int64_t phase_of(std::int64_t id) {
  std::uint32_t x = static_cast<std::uint32_t>(id) & 0xfff, r = 0;
  for (int i = 0; i < 12; i++) r |= ((x >> i) & 1u) << (11 - i);
  return r;  // ns, below kStaggerNs
}

// timer: arms mp's timer for the first instant of its lattice at or after t.
void arm(M* mp, std::int64_t t) {
  std::int64_t ph = mp->trig_phase;
  std::int64_t deadline = ((t - ph + kStaggerNs - 1) / kStaggerNs) * kStaggerNs + ph;
  itimerspec its{};
  its.it_value.tv_sec = deadline / 1'000'000'000;
  its.it_value.tv_nsec = deadline % 1'000'000'000;
  int saved = errno;
  timer_settime(mp->trig_timer, TIMER_ABSTIME, &its, nullptr);
  errno = saved;
  mp->trig_deadline.store(deadline, std::memory_order_relaxed);
}

// timer: a CLOCK_MONOTONIC timer delivering SIGURG to thread tid, value in si_value.
bool create_timer(pid_t tid, void* value, timer_t* out) {
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGURG;
  sev.sigev_value.sival_ptr = value;
  sev._sigev_un._tid = tid;
  return timer_create(CLOCK_MONOTONIC, &sev, out) == 0;
}

constexpr std::size_t kRingBytes = 2 * 4096;  // the metadata page and one of samples

// perf: the task-clock event of thread tid, its ring (one sample per overflow: its time) in
// *ring. -1 with errno on failure.
int open_task_clock(std::int64_t period_ns, pid_t tid, void** ring_out) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.sample_period = static_cast<std::uint64_t>(period_ns);
  attr.sample_type = PERF_SAMPLE_TIME;  // when the slice of on-CPU time ended
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;  // nanotime's clock
  attr.write_backward = 1;         // the newest sample at data_head
  attr.exclude_kernel = 1;         // perf_event_paranoid 2 allows nothing else
  attr.exclude_hv = 1;
  attr.wakeup_events = 1;  // every overflow signals
  return open_signalled_event(&attr, kRingBytes, SIGURG, f_owner_ex{F_OWNER_TID, tid}, ring_out);
}

// perf: the period that ends a slice one average lateness early, that lead at most an
// eighth of the slice (at least the hrtimer's floor). Unbounded, at a 50 µs slice the
// shorter period's extra interrupts lengthened the lateness it was shortened by, until the
// lead reached half the slice and CPU-bound work ran many times slower than with a period
// of the slice (urgent-bench overhead).
std::int64_t perf_period() {
  return std::max(slice - std::min(lead(), slice / 8), kPerfMinPeriodNs);
}

// perf: sets mp's event to perf_period() once the lead has moved 2 µs or more since the
// last time (a system call; on the M's own thread, at a slice start, never from the
// handler). The kernel restarts the period from now.
constexpr std::int64_t kRetuneNs = 2'000;
void retune(M* mp) {
  std::int64_t want = perf_period();
  if (mp->trig_fd < 0 || std::abs(want - mp->trig_period) < kRetuneNs) return;
  std::uint64_t period = static_cast<std::uint64_t>(want);
  int saved = errno;
  if (ioctl(mp->trig_fd, PERF_EVENT_IOC_PERIOD, &period) == 0) {
    mp->trig_period = want;
    count(n_retunes);
  }
  errno = saved;
}

long max_sample_rate() {
  long rate = -1;
  if (FILE* f = std::fopen("/proc/sys/kernel/perf_event_max_sample_rate", "r")) {
    if (std::fscanf(f, "%ld", &rate) != 1) rate = -1;
    std::fclose(f);
  }
  return rate;
}

// Whether `requested` works here; else *why says why not.
bool available(PreemptTrigger requested, std::string* why) {
  if (!async_preempt_enabled()) {
    *why = "asynchronous preemption is off (GODEBUG=asyncpreemptoff=1, ThreadSanitizer, or "
           "no XSAVE)";
    return false;
  }
  pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (requested == PreemptTrigger::kTimer) {
    timer_t t;
    if (!create_timer(tid, nullptr, &t)) {
      *why = std::string("timer_create(CLOCK_MONOTONIC, SIGEV_THREAD_ID): ") + std::strerror(errno);
      return false;
    }
    timer_delete(t);
    return true;
  }
  long rate = max_sample_rate();
  if (rate > 0 && slice < 1'000'000'000 / rate) {
    *why = "a " + std::to_string(slice / 1000) + " us slice is " +
           std::to_string(1'000'000'000 / slice) + " overflows/s per M, above "
           "kernel.perf_event_max_sample_rate (" + std::to_string(rate) +
           "), which the kernel would throttle (raise it with sysctl)";
    return false;
  }
  if (slice < kPerfMinPeriodNs) {
    *why = "the task clock's hrtimer fires at most every 10 us";
    return false;
  }
  void* ring = nullptr;
  int fd = open_task_clock(slice, tid, &ring);
  if (fd < 0) {
    *why = perf_open_error("PERF_COUNT_SW_TASK_CLOCK", errno);
    return false;
  }
  munmap(ring, kRingBytes);
  close(fd);
  return true;
}

void uncovered(M* mp, const char* what) {
  count(n_uncovered);
  std::lock_guard<std::mutex> lock(uncovered_mu);
  log::warn("M{}: URGENT_PREEMPT={}: {}: {}; sysmon preempts its goroutines", mp->id,
            trigger_name(trigger), what, std::strerror(errno));
}

// The goroutine mp runs, if it runs (not scheduling, not in a system call).
G* running_g(M* mp) {
  G* gp = mp->curg;
  if (gp == nullptr || mp->p == nullptr || mp->scheduling.load(std::memory_order_relaxed)) {
    return nullptr;
  }
  return gp->atomicstatus.load(std::memory_order_relaxed) == kGrunning ? gp : nullptr;
}

// Asks gp to yield at its next runtime call (a retry is the same request).
void request(G* gp) {
  if (!gp->preempt) {
    gp->preempt = true;
    preempt_count_request();
  }
}

// The M's goroutine is in a system call (urgent::blocking) whose slice is over: it yields
// when the call returns (exitsyscall's checkPreempt), as a goroutine sysmon found past its
// slice does.
void request_in_syscall(M* mp) {
  G* gp = mp->curg;
  if (gp != nullptr && mp->p == nullptr &&
      gp->atomicstatus.load(std::memory_order_relaxed) == kGsyscall) {
    request(gp);
  }
}

// Preempts gp (the trigger decided): true if taken at an async safe point now. due: the
// slice's end (timer: its start + the slice; perf: the overflow's sample time; 0: now).
bool decide(M* mp, G* gp, void* uctx, std::int64_t deadline, std::int64_t due) {
  outcome(gp, tracefmt::TriggerOutcome::kDue, deadline);
  request(gp);
  std::int64_t now = nanotime();
  mp->preempt_sent.store(now, std::memory_order_relaxed);  // the decision
  mp->preempt_due.store(due != 0 ? due : now, std::memory_order_relaxed);
  return doSigPreempt(mp, uctx);
}

// perf: a deferred preemption is retried by the M's timer (created for that alone), not by
// shortening the event's period: PERF_EVENT_IOC_PERIOD from the handler stalled the thread
// 160-210 ms at a time in a loop of getpid calls at a 50 µs slice (its longest call was
// 0.2-0.3 ms without it; same session). With no timer the next overflow retries.
void retry_by_timer(M* mp) {
  count(n_retries);
  if (mp->trig_has_timer) arm(mp, nanotime() + next_retry(mp));
}

// These return whether they called doSigPreempt.
bool timer_fired(M* mp, void* uctx) {
  std::int64_t deadline = mp->trig_deadline.exchange(0, std::memory_order_relaxed);
  G* gp = running_g(mp);
  std::int64_t now = nanotime();
  if (gp == nullptr) {
    outcome(nullptr, tracefmt::TriggerOutcome::kIdle, deadline);
    if (now >= mp->slice_start.load(std::memory_order_relaxed) + slice) request_in_syscall(mp);
    // Scheduling with a P: a goroutine (maybe just given its slice by execute, maybe one
    // inheriting a slice already over) runs in a moment: look again then. Otherwise the
    // next slice start or trigger_resume arms it.
    if (mp->p != nullptr && mp->scheduling.load(std::memory_order_relaxed)) {
      arm(mp, now + std::clamp<std::int64_t>(slice / 4, 1, kRetryMaxNs));
    }
    return false;
  }
  std::int64_t end = mp->slice_start.load(std::memory_order_relaxed) + slice;
  if (now < end - lead()) {
    outcome(gp, tracefmt::TriggerOutcome::kEarly, deadline);  // set for a predecessor's slice
    arm(mp, end - lead());
    return false;
  }
  mp->trig_fired.store(deadline, std::memory_order_relaxed);  // (for lead's average)
  if (decide(mp, gp, uctx, deadline, end)) {
    mp->trig_backoff = 0;
  } else {
    retry_by_timer(mp);
  }
  return true;
}

bool perf_fired(M* mp, void* uctx) {
  std::uint32_t seq = mp->trig_seq.load(std::memory_order_relaxed);
  G* gp = running_g(mp);
  if (gp == nullptr) {
    outcome(nullptr, tracefmt::TriggerOutcome::kIdle, 0);
    // Between goroutines the next one starts this period; in a call, its goroutine goes on
    // (and yields when the call returns if this period was its slice).
    if (seq == mp->trig_mark) request_in_syscall(mp);
    mp->trig_mark = mp->curg == nullptr || mp->scheduling.load(std::memory_order_relaxed) ? seq + 1 : seq;
    return false;
  }
  if (seq != mp->trig_mark) {
    outcome(gp, tracefmt::TriggerOutcome::kEarly, 0);  // started mid-period: the next overflow
    mp->trig_mark = seq;
    return false;
  }
  // The overflow: its sample's time (else, unreadable, now). The slice ends one lead later
  // (the period is the slice less the lead: perf_period).
  TimedRecord r;
  std::int64_t overflow =
      ring_record(mp->trig_ring, ring_head(mp->trig_ring), PERF_RECORD_SAMPLE, &r)
          ? static_cast<std::int64_t>(r.time)
          : nanotime();
  mp->trig_fired.store(overflow, std::memory_order_relaxed);  // (for lead's average)
  if (decide(mp, gp, uctx, 0, overflow + (slice - mp->trig_period))) {
    mp->trig_mark = seq + 1;  // the next goroutine starts its slice now
    mp->trig_backoff = 0;
  } else {
    retry_by_timer(mp);
  }
  return true;
}

// perf: the retry timer of a deferred preemption fired. The goroutine still has the
// request (its flag) unless it yielded meanwhile.
bool perf_retry_fired(M* mp, void* uctx) {
  std::int64_t deadline = mp->trig_deadline.exchange(0, std::memory_order_relaxed);
  G* gp = running_g(mp);
  if (gp == nullptr || !gp->preempt) {
    outcome(gp, tracefmt::TriggerOutcome::kIdle, deadline);
    return false;
  }
  mp->trig_fired.store(deadline, std::memory_order_relaxed);  // (for lead's average)
  if (decide(mp, gp, uctx, deadline, mp->preempt_due.load(std::memory_order_relaxed))) {
    mp->trig_mark = mp->trig_seq.load(std::memory_order_relaxed) + 1;
    mp->trig_backoff = 0;
  } else {
    retry_by_timer(mp);
  }
  return true;
}

}  // namespace

const char* trigger_name(PreemptTrigger t) {
  switch (t) {
    case PreemptTrigger::kSysmon: return "sysmon";
    case PreemptTrigger::kTimer: return "timer";
    case PreemptTrigger::kPerf: return "perf";
  }
  return "?";
}

PreemptTrigger trigger_init(PreemptTrigger requested) {
  trigger = PreemptTrigger::kSysmon;
  trigger_on = false;
  slice = timeslice_ns();
  for (auto* c : {&n_fires, &n_early, &n_idle, &n_retries, &n_uncovered, &n_retunes}) c->store(0);
  lateness_avg.store(0);
  if (requested == PreemptTrigger::kSysmon) return trigger;
  std::string why;
  if (available(requested, &why)) {
    trigger = requested;
    trigger_on = true;
  } else {
    std::fprintf(stderr, "urgent: URGENT_PREEMPT=%s unavailable: %s; preempting from sysmon\n",
                 trigger_name(requested), why.c_str());
  }
  return trigger;
}

void trigger_fini() {
  trigger = PreemptTrigger::kSysmon;
  trigger_on = false;
}

PreemptTrigger preempt_trigger() {
  return trigger;
}

void trigger_minit(M* mp) {
  mp->trig_phase = phase_of(mp->id);
  if (trigger == PreemptTrigger::kSysmon) return;
  mp->trig_has_timer = create_timer(mp->tid, mp, &mp->trig_timer);
  if (trigger == PreemptTrigger::kTimer) {
    if (!mp->trig_has_timer) uncovered(mp, "timer_create");
  } else {
    mp->trig_period = perf_period();
    mp->trig_fd = open_task_clock(mp->trig_period, mp->tid, &mp->trig_ring);
    if (mp->trig_fd < 0) uncovered(mp, "perf_event_open");
  }
}

void trigger_unminit(M* mp) {
  if (mp->trig_has_timer) {
    timer_delete(mp->trig_timer);
    mp->trig_has_timer = false;
  }
  if (mp->trig_fd >= 0) close(mp->trig_fd);
  mp->trig_fd = -1;
  if (mp->trig_ring != nullptr) munmap(mp->trig_ring, kRingBytes);
  mp->trig_ring = nullptr;
  mp->trig_deadline.store(0, std::memory_order_relaxed);
}

void trigger_slice_start(M* mp, bool inheritTime) {
  // An inherited slice goes on from where it began, unless the P was idle meanwhile (pidleget
  // bumped its schedtick, as sysmon sees it) or this is the M's first.
  std::uint32_t tick = mp->p->schedtick;
  bool fresh = !inheritTime || tick != mp->trig_tick;
  mp->trig_tick = tick;
  if (fresh) {
    mp->trig_backoff = 0;
    // A fire whose goroutine yielded at a runtime call instead is not a lateness sample.
    mp->trig_fired.store(0, std::memory_order_relaxed);
  }
  if (trigger == PreemptTrigger::kTimer) {
    std::int64_t now = nanotime();
    if (fresh || mp->slice_start.load(std::memory_order_relaxed) == 0) {
      mp->slice_start.store(now, std::memory_order_relaxed);
    }
    // (Armed a slice ago and not fired: its signal merged into a pending tgkill SIGURG,
    // which the kernel delivered alone.)
    std::int64_t d = mp->trig_deadline.load(std::memory_order_relaxed);
    if (mp->trig_has_timer && (d == 0 || d + slice < now)) {
      arm(mp, mp->slice_start.load(std::memory_order_relaxed) + slice - lead());
    }
  } else if (fresh) {
    mp->trig_seq.store(mp->trig_seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    retune(mp);
  }
}

void trigger_resume(M* mp) {
  if (trigger == PreemptTrigger::kTimer && mp->trig_has_timer &&
      mp->trig_deadline.load(std::memory_order_relaxed) == 0 && !mp->curg->preempt) {
    arm(mp, mp->slice_start.load(std::memory_order_relaxed) + slice - lead());
  }
}

void trigger_record_lateness(std::int64_t ns) {
  std::int64_t avg = lateness_avg.load(std::memory_order_relaxed);
  lateness_avg.store(avg + (ns - avg) / 8, std::memory_order_relaxed);
}

bool trigger_covers(const M* mp) {
  if (!trigger_on || mp == nullptr) return false;
  return trigger == PreemptTrigger::kTimer ? mp->trig_has_timer : mp->trig_fd >= 0;
}

bool trigger_uncovered() {
  return n_uncovered.load(std::memory_order_relaxed) != 0;
}

bool trigger_fired(M* mp, const siginfo_t* info, void* uctx) {
  bool handled;
  if (info->si_code == SI_TIMER && info->si_value.sival_ptr == mp && trigger_on) {
    count(n_fires);
    handled = trigger == PreemptTrigger::kTimer ? timer_fired(mp, uctx) : perf_retry_fired(mp, uctx);
  } else if (trigger == PreemptTrigger::kPerf && info->si_code > 0 && mp->trig_fd >= 0 &&
             info->si_fd == mp->trig_fd) {
    count(n_fires);
    handled = perf_fired(mp, uctx);
  } else {
    return false;
  }
  // A tgkill SIGURG (stop-the-world's preemptall) pending with ours was merged into this one
  // (standard signals do not queue): serve it too, or its M would never be signalled again.
  if (!handled && mp->signal_pending.load(std::memory_order_relaxed) != 0) doSigPreempt(mp, uctx);
  return true;
}

void trigger_stats(SchedStats* s) {
  s->preempt_trigger = trigger_name(trigger);
  s->trigger_fires = n_fires.load(std::memory_order_relaxed);
  s->trigger_early = n_early.load(std::memory_order_relaxed);
  s->trigger_idle = n_idle.load(std::memory_order_relaxed);
  s->trigger_retries = n_retries.load(std::memory_order_relaxed);
  s->trigger_uncovered = n_uncovered.load(std::memory_order_relaxed);
  s->trigger_lead_ns = trigger_on ? lead() : 0;
  s->trigger_retunes = n_retunes.load(std::memory_order_relaxed);
}

}  // namespace urgent::rt
