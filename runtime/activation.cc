// runtime/activation.cc: kernel-assisted P handoff, scheduler activations on stock Linux
// (Anderson et al., SOSP'91: the kernel tells the user-level scheduler the moment one of its
// threads blocks, so that the processor is not lost meanwhile).
//
// Design and invariants:
// - One signal, kActivationSignal, process-directed: every runtime thread blocks it except
//   a spare M while it sleeps in stopm (activation_park_begin/end), so the kernel gives it
//   to a parked spare (or keeps it pending until an M parks). One target for every M's event,
//   with no per-park retargeting (F_OWNER_TID would need one fcntl per event per park).
//   A standard signal coalesces while pending: a burst of blocks wakes one spare, which
//   scans every P.
// - perf: each M has a PERF_COUNT_SW_CONTEXT_SWITCHES event on its own thread, opened at
//   minit and enabled for the M's life (arming it around each call would cost two ioctls
//   per urgent::blocking). exclude_kernel (which perf_event_paranoid 2 requires) leaves the
//   switch count itself at 0, but the PERF_RECORD_SWITCH records (context_switch) are still
//   written, and a 1-byte wakeup watermark turns each into the fd's SIGIO, redirected by
//   F_SETSIG. The ring is write_backward and mapped read-only: its newest record is at
//   data_head, and tells a block (SWITCH_OUT) from a preemption (SWITCH_OUT_PREEMPT) or
//   from running again (a switch-in). An M's event writes records only while it holds a P
//   (or is in a call with it): an M without one pauses its output when it parks or blocks
//   in netpoll (its sleep would wake a spare for nothing), and a spare at work is never
//   signalled by its own preemptions (which would wake it again and again). Pausing
//   (PERF_EVENT_IOC_PAUSE_OUTPUT) sets a flag on the ring; disabling and enabling the event
//   rescheduled the CPU's perf context, 4-8 µs per ioctl here (bpftrace on the handoff
//   bench), on the woken spare's way to the P. The newest record of a paused ring is the
//   switch-in before the pause: a resumed M reads as running until it switches again.
// - bpf: activate.bpf.c on sched_switch sends the signal itself (bpf_send_signal) only for
//   an M whose slot says ACT_SYSCALL or ACT_RUNNING that is going to sleep; the M's own
//   plain stores keep its slot current (activation_set_*). Nothing else wakes anybody.
// - A parked spare is SCHED_BATCH (no wakeup preemption): woken on a CPU where an M still
//   runs, it waits for the CPU instead of preempting that M. In perf mode every record wakes
//   it, the M's switch-in too, so a spare that preempted a running M made it switch out and
//   in again, which woke the spare again: a loop that took the CPU from the M (found by
//   Trace.EveryHandlerRunIsRecordedDuringALongDeferral, whose spinner got ms-apart ticks).
//   When an M blocks, its CPU goes idle and the spare runs there at once. It goes back to
//   SCHED_OTHER at its next schedule() (activation_unbatch), not on its way to the P:
//   sched_setscheduler costs 1.4-1.9 µs here, and a futile wakeup keeps it SCHED_BATCH.
// - The handler only interrupts the parked M's note (async-signal-safe). On any other
//   thread (one of the program's, created before urgent::run with the signal unblocked) it
//   blocks the signal in the interrupted mask, so that thread never gets it again, and
//   re-sends it to the process.
// - The woken spare (activate, on g0, without a P) takes Ps out of kPsyscall with the same
//   CAS, tick bump, counters and events as sysmon's retake, and only for an M that is off
//   the CPU blocked (never for one the kernel preempted, or one running again), and by
//   retake's rule: not if the P has no work while another M spins or a P is idle (sysmon
//   retakes those after 10 ms, as in Go). The first P it takes it runs itself (handoffp
//   with self): one wakeup, not sysmon's plus startm's. Having used the last idle M, it
//   starts another spare.
// - sysmon stays the backstop: a call on the CPU for long (no switch, no signal), an M
//   whose event could not be opened, a signal with no spare to take it.
// - Unwrapped blocks (an M holding a P off the CPU outside urgent::blocking: a plain read,
//   a std::mutex, a page fault read from disk) are seen by the same scan; they are counted
//   and traced (kUnwrappedBlock) once they end, never handed off: the M would run on
//   without a P.
// - ThreadSanitizer defers a signal's handler until its thread calls an intercepted
//   function, and a parked M waits in a raw futex: no activation would ever run. Under
//   TSan perf and bpf are unavailable (the same reason asynchronous preemption is off).
#include "activation.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "activator.h"
#include "urgent/stats.h"
#include "log.h"
#include "panic.h"
#include "perf_ring.h"
#include "proc.h"
#include "runq.h"
#include "sanitizer.h"
#include "usdt.h"

namespace urgent::rt {
namespace {

constexpr std::size_t kRingDataPages = 2;  // records kept per M: 8 KiB of 16-byte records

HandoffMode mode = HandoffMode::kPoll;  // [const during a run]
struct sigaction old_action;
bool handler_installed = false;
std::unique_ptr<bpf::Activator> activator;  // bpf mode (kept loaded once loaded)
std::mutex uncovered_mu;                    // (cold: an M whose event failed)

// A spare M was started and has not parked yet (ensure_spare): no other one meanwhile.
std::atomic<bool> spare_starting{false};

// Counters of this run (urgent::sched_stats).
std::atomic<std::uint64_t> n_strays{0}, n_wakeups{0}, n_preempted{0}, n_unwrapped{0},
    n_unwrapped_ns{0}, n_uncovered{0};

// What the kernel last recorded of mp's thread.
enum class Seen { kUnknown, kRunning, kPreempted, kBlocked };

// M::act_state points at a slot's state, which seen() turns back into the slot.
static_assert(offsetof(act_slot, state) == 0 && sizeof(act_slot) == 64, "one cache line per M");

// The switch record at byte `pos` of mp's ring (perf_ring.h).
bool switch_record(const M* mp, std::uint64_t pos, TimedRecord* out) {
  return ring_record(mp->act_ring, pos, PERF_RECORD_SWITCH, out);
}

// The M's thread as the kernel last saw it; *since: when that began (CLOCK_MONOTONIC).
Seen seen(const M* mp, std::int64_t* since) {
  *since = 0;
  if (mode == HandoffMode::kBpf) {
    if (mp->act_state == nullptr) return Seen::kUnknown;
    const act_slot* s = reinterpret_cast<const act_slot*>(mp->act_state);
    std::uint64_t off = __atomic_load_n(&s->off_since, __ATOMIC_ACQUIRE);
    *since = static_cast<std::int64_t>(off);
    return off != 0 ? Seen::kBlocked : Seen::kRunning;  // (the program skips preemptions)
  }
  if (mp->act_ring == nullptr) return Seen::kUnknown;
  TimedRecord r;
  if (!switch_record(mp, ring_head(mp->act_ring), &r)) return Seen::kUnknown;
  *since = static_cast<std::int64_t>(r.time);
  if (!(r.header.misc & PERF_RECORD_MISC_SWITCH_OUT)) return Seen::kRunning;
  return (r.header.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) ? Seen::kPreempted : Seen::kBlocked;
}

// When mp's thread came back on the CPU after leaving it at `since`; 0 if it has not yet.
std::int64_t back_on_cpu(const M* mp, std::int64_t since) {
  if (mode == HandoffMode::kBpf) {
    const act_slot* s = reinterpret_cast<const act_slot*>(mp->act_state);
    std::uint64_t off = __atomic_load_n(&s->off_since, __ATOMIC_ACQUIRE);
    std::uint64_t in = __atomic_load_n(&s->last_in, __ATOMIC_ACQUIRE);
    bool ended = off == 0 || off > static_cast<std::uint64_t>(since);
    return ended && in > static_cast<std::uint64_t>(since) ? static_cast<std::int64_t>(in) : 0;
  }
  // From the newest record back: the oldest switch-in later than `since`.
  std::uint64_t pos = ring_head(mp->act_ring);
  std::int64_t first_in = 0;
  for (std::size_t i = 0; i < kRingDataPages * 4096 / sizeof(TimedRecord); i++) {
    TimedRecord r;
    if (!switch_record(mp, pos, &r) || static_cast<std::int64_t>(r.time) <= since) break;
    if (!(r.header.misc & PERF_RECORD_MISC_SWITCH_OUT)) first_in = static_cast<std::int64_t>(r.time);
    pos += sizeof r;
  }
  return first_in;
}

// The thread leaves the handler with the signal blocked (its sigreturn restores uc_sigmask):
// a parked M so that activation_park_end need not block it (one system call fewer on the
// way to the P), any other thread so that it never gets it again.
void handler(int, siginfo_t*, void* uctx) {
  int saved = errno;
  sigaddset(&static_cast<ucontext_t*>(uctx)->uc_sigmask, kActivationSignal);
  M* mp = getm();
  bool taken = mp != nullptr && mp->act_parked.load(std::memory_order_relaxed) &&
               mp->park.interrupt();  // stopm's sleep returns once the handler does
  if (!taken) {
    // Not a parked M, or one that startm is waking anyway: someone else must act (the
    // signal stays pending until an M parks).
    if (mp == nullptr || !mp->act_parked.load(std::memory_order_relaxed)) {
      n_strays.fetch_add(1, std::memory_order_relaxed);
    }
    kill(getpid(), kActivationSignal);
  }
  errno = saved;
}

void set_mask(int how) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, kActivationSignal);
  pthread_sigmask(how, &s, nullptr);
}

// perf: opens a context-switch event on the calling thread, with its ring in *ring. -1 with
// errno on failure.
int open_event(void** ring_out) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CONTEXT_SWITCHES;
  attr.sample_period = 1;
  attr.sample_type = PERF_SAMPLE_TIME;
  attr.sample_id_all = 1;  // the switch records carry their time
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;  // nanotime's clock
  attr.context_switch = 1;
  attr.write_backward = 1;  // overwritable: the newest record is at data_head
  attr.exclude_kernel = 1;  // perf_event_paranoid 2 allows nothing else
  attr.exclude_hv = 1;
  attr.watermark = 1;
  attr.wakeup_watermark = 1;  // every record wakes: the fd's signal
  return open_signalled_event(&attr, (1 + kRingDataPages) * 4096, kActivationSignal,
                              f_owner_ex{F_OWNER_PID, getpid()}, ring_out);
}

void close_event(int* fd, void** ring) {
  if (*ring != nullptr) munmap(*ring, (1 + kRingDataPages) * 4096);
  *ring = nullptr;
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Whether `requested` works here; else *why says why not.
bool available(HandoffMode requested, std::string* why) {
  if (kTsan) {
    *why = "ThreadSanitizer defers signal handlers until the thread calls into the C "
           "library, and a parked M waits in a raw futex (HACKING.md, Sanitizers)";
    return false;
  }
  if (requested == HandoffMode::kPerf) {
    void* ring = nullptr;
    int fd = open_event(&ring);
    if (fd < 0) {
      *why = perf_open_error("PERF_COUNT_SW_CONTEXT_SWITCHES", errno);
      return false;
    }
    close_event(&fd, &ring);
    return true;
  }
  // Loaded once per process (10-30 ms here) and kept across runs, like the handler's slot.
  // (A forked child inherits its parent's, which filters for the parent.)
  if (activator != nullptr && activator->tgid() != getpid()) activator.reset();
  if (activator == nullptr) activator = bpf::Activator::start(getpid(), kActivationSignal, why);
  return activator != nullptr;
}

void uncovered(M* mp, const char* what) {
  n_uncovered.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(uncovered_mu);
  log::warn("M{}: URGENT_HANDOFF={}: {}: {}; sysmon hands its P off", mp->id,
            handoff_mode_name(mode), what, std::strerror(errno));
}

// Starts a spare M (it parks in stopm) if none is parked while some P runs, unless one is
// on its way there.
void ensure_spare() {
  if (spare_starting.load(std::memory_order_relaxed)) return;
  std::int64_t id = -1;
  {
    SpinGuard lock(sched.lock);
    if (sched.nmidle == 0 && sched.npidle.load() < gomaxprocs_now.load() &&
        !sched.shutdown.load()) {
      id = mReserveID();
      spare_starting.store(true, std::memory_order_relaxed);
    }
  }
  if (id >= 0) newm(nullptr, false, id);
}

// Reports mp's unwrapped block that began at `since` if it has ended (the kernel saw the
// thread back on the CPU), and clears it; whoever clears it (sysmon's tick, or a spare that
// found the M blocked anew) reports it. True if it had ended.
bool finish_unwrapped(M* mp, std::int64_t since) {
  std::int64_t end = back_on_cpu(mp, since);
  if (end == 0) return false;
  bool runnable = mp->unwrapped_runnable.load();
  if (!mp->unwrapped_since.compare_exchange_strong(since, 0)) return true;  // reported already
  std::int64_t ns = end - since;
  n_unwrapped.fetch_add(1, std::memory_order_relaxed);
  n_unwrapped_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  URGENT_TRACE_EVENT(kUnwrappedBlock, mp->tid, ns, runnable ? 1 : 0);
  log::debug("M{} blocked {:.3f} ms outside urgent::blocking holding a P{}", mp->id, ns / 1e6,
             runnable ? " while goroutines were runnable" : "");
  return true;
}

inline void store_state(M* mp, std::uint32_t s) {
  if (mp->act_state != nullptr) __atomic_store_n(mp->act_state, s, __ATOMIC_RELAXED);
}

}  // namespace

const char* handoff_mode_name(HandoffMode m) {
  switch (m) {
    case HandoffMode::kPoll: return "poll";
    case HandoffMode::kPerf: return "perf";
    case HandoffMode::kBpf: return "bpf";
    case HandoffMode::kAuto: return "auto";
  }
  return "?";
}

HandoffMode activation_init(HandoffMode requested) {
  mode = HandoffMode::kPoll;
  spare_starting.store(false);
  for (auto* c : {&n_strays, &n_wakeups, &n_preempted, &n_unwrapped, &n_unwrapped_ns, &n_uncovered}) {
    c->store(0);
  }
  if (requested == HandoffMode::kPoll) return mode;
  std::string why;
  if (requested == HandoffMode::kAuto) {
    // perf first: measured here its handoff is about half bpf's (README); bpf wakes fewer
    // spares for nothing, and needs root.
    std::string why_perf, why_bpf;
    if (available(HandoffMode::kPerf, &why_perf)) {
      mode = HandoffMode::kPerf;
    } else if (available(HandoffMode::kBpf, &why_bpf)) {
      mode = HandoffMode::kBpf;
    }
    if (mode == HandoffMode::kPerf) {
      log::info("URGENT_HANDOFF=auto: perf");
    } else {
      log::info("URGENT_HANDOFF=auto: {} (perf: {}{}{})", handoff_mode_name(mode), why_perf,
                mode == HandoffMode::kPoll ? "; bpf: " : "", why_bpf);
    }
  } else if (available(requested, &why)) {
    mode = requested;
  } else {
    std::fprintf(stderr, "urgent: URGENT_HANDOFF=%s unavailable: %s; handing off by polling (sysmon)\n",
                 handoff_mode_name(requested), why.c_str());
  }
  if (mode == HandoffMode::kPoll) return mode;
  struct sigaction sa {};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(kActivationSignal, &sa, &old_action);
  handler_installed = true;
  return mode;
}

void activation_fini() {
  for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) {
    close_event(&mp->act_fd, &mp->act_ring);
    if (mp->act_state != nullptr) {
      store_state(mp, ACT_IDLE);
      activator->remove_thread(mp->tid);  // (an orphan's thread is no M of the next run)
      mp->act_state = nullptr;
    }
  }
  if (handler_installed) {
    // Discards one still pending, then gives the program its own disposition back, unless
    // that is the default (terminate): one may still arrive, from an event's irq_work that
    // ran after its fd was closed, or re-sent by a handler on an M that woke meanwhile, and
    // a parked M still has it unblocked. (A lab run's `urgent-bench yield` with
    // URGENT_HANDOFF=perf died of SIGSTKFLT at exit once, in a fresh-clone CI run; not
    // reproduced in 150 runs alone.)
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(kActivationSignal, &ign, nullptr);
    bool was_default = !(old_action.sa_flags & SA_SIGINFO) && old_action.sa_handler == SIG_DFL;
    if (!was_default) sigaction(kActivationSignal, &old_action, nullptr);
    handler_installed = false;
  }
  mode = HandoffMode::kPoll;
}

HandoffMode handoff_mode() {
  return mode;
}

void activation_minit(M* mp) {
  if (mode == HandoffMode::kPerf) {
    mp->act_fd = open_event(&mp->act_ring);
    if (mp->act_fd < 0) {
      uncovered(mp, "perf_event_open");
    } else {
      mp->act_writing = true;
      activation_quiet(mp);  // until it holds a P (activation_set_running)
    }
  } else if (mode == HandoffMode::kBpf) {
    if (mp->id >= ACT_MAX_MS) {
      errno = ENOSPC;
      uncovered(mp, "no slot");
      return;
    }
    act_slot* s = &activator->slots()[mp->id];
    std::memset(s, 0, sizeof *s);
    s->tid = static_cast<std::uint32_t>(mp->tid);
    if (!activator->add_thread(mp->tid, static_cast<std::uint32_t>(mp->id))) {
      uncovered(mp, "bpf_map_update_elem");
      return;
    }
    mp->act_state = &s->state;
  }
}

void activation_unminit(M* mp) {
  if (mp->act_batch) activation_unbatch(mp);
  if (mode == HandoffMode::kBpf && mp->act_state != nullptr) {
    store_state(mp, ACT_IDLE);
    activator->remove_thread(mp->tid);
  }
  // The event goes; its ring stays mapped (and the slot pointer valid) until
  // activation_fini: a spare may be reading it right now, through a P's syscall_m.
  if (mp->act_fd >= 0) close(mp->act_fd);
  mp->act_fd = -1;
  mp->act_writing = false;
}

void activation_quiet(M* mp) {
  if (mp->act_writing) {
    ioctl(mp->act_fd, PERF_EVENT_IOC_PAUSE_OUTPUT, 1);
    mp->act_writing = false;
  }
}

bool activation_park_begin(M* mp) {
  if (mode == HandoffMode::kPoll) return false;
  store_state(mp, ACT_IDLE);
  activation_quiet(mp);
  spare_starting.store(false, std::memory_order_relaxed);  // a spare is parked now
  // A woken spare must not preempt a running M (see the file comment): SCHED_BATCH tasks
  // get no wakeup preemption, and any thread may go back to SCHED_OTHER.
  // (Still SCHED_BATCH after a futile wakeup: see activation_unbatch.)
  sched_param none{};
  if (!mp->act_batch) {
    mp->act_batch = sched_getscheduler(0) == SCHED_OTHER && sched_setscheduler(0, SCHED_BATCH, &none) == 0;
  }
  mp->act_parked.store(true, std::memory_order_relaxed);
  set_mask(SIG_UNBLOCK);
  return true;
}

void activation_park_end(M* mp) {
  if (mode == HandoffMode::kPoll) return;
  if (!mp->park.interrupted()) set_mask(SIG_BLOCK);  // (else the handler blocked it)
  mp->act_parked.store(false, std::memory_order_relaxed);
}

void activation_unbatch(M* mp) {
  sched_param none{};
  sched_setscheduler(0, SCHED_OTHER, &none);
  mp->act_batch = false;
}

void activation_set_running(M* mp) {
  store_state(mp, ACT_RUNNING);
  if (mp->act_fd >= 0 && !mp->act_writing) {
    ioctl(mp->act_fd, PERF_EVENT_IOC_PAUSE_OUTPUT, 0);
    mp->act_writing = true;
  }
}
void activation_set_syscall(M* mp) {
  store_state(mp, ACT_SYSCALL);
}
void activation_set_idle(M* mp) {
  store_state(mp, ACT_IDLE);
}

bool activate(M* self) {
  n_wakeups.fetch_add(1, std::memory_order_relaxed);
  URGENT_PROBE(activation, self->id);
  bool have = false;
  std::int32_t procs = gomaxprocs_now.load();
  for (std::int32_t i = 0; i < procs; i++) {
    P* pp = allp[i];
    if (pp == nullptr) continue;
    std::uint32_t s = pp->status.load(std::memory_order_acquire);
    std::int64_t since;
    if (s == kPrunning) {
      // An unwrapped block: noted here, reported by sysmon once it ended.
      M* mp = pp->m;
      if (mp == nullptr || mp == self || seen(mp, &since) != Seen::kBlocked) continue;
      // A block noted before that ended since (the thread ran in between) is reported now:
      // this one is another.
      if (std::int64_t old = mp->unwrapped_since.load(); old != 0 && old != since) {
        finish_unwrapped(mp, old);
      }
      std::int64_t zero = 0;
      if (mp->unwrapped_since.compare_exchange_strong(zero, since)) {
        mp->unwrapped_runnable.store(!runqempty(pp) || sched.runqsize.load() != 0);
      }
      continue;
    }
    if (s != kPsyscall) continue;
    M* mp = pp->syscall_m.load(std::memory_order_relaxed);
    if (mp == nullptr) continue;
    Seen k = seen(mp, &since);
    if (k != Seen::kBlocked) {
      if (k == Seen::kPreempted) n_preempted.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // Retake's rule without its clock: a P with no work stays while someone else can find
    // work (sysmon takes it after 10 ms).
    if (runqempty(pp) && sched.nmspinning.load() + sched.npidle.load() > 0) continue;
    incidlelocked(-1);  // as in retake: one more M runs until pp has one
    std::uint32_t expected = kPsyscall;
    if (pp->status.compare_exchange_strong(expected, kPidle)) {
      pp->syscalltick++;  // the M returning from the call now finds its P gone
      sched.handoffs_activated.fetch_add(1, std::memory_order_relaxed);
      URGENT_PROBE(handoff, pp->id);
      URGENT_TRACE_EVENT(kGoSysBlock, pp->syscall_goid, pp->id, pp->syscall_tid);
      if (handoffp(pp, have ? nullptr : self)) have = true;
    }
    incidlelocked(1);
  }
  if (have) ensure_spare();  // this spare is busy now: keep one for the next block
  return have;
}

void activation_first_spare() {
  if (mode == HandoffMode::kPoll) return;
  ensure_spare();
  // Bounded: a spare that cannot start leaves the P to sysmon's backstop, not a hang.
  for (int i = 0; i < 50'000 && spare_starting.load(); i++) usleep(20);
}

void activation_sysmon_tick() {
  if (mode == HandoffMode::kPoll) return;
  ensure_spare();  // when the last parked M went to work
  for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) {
    if (std::int64_t since = mp->unwrapped_since.load(); since != 0) finish_unwrapped(mp, since);
  }
}

void activation_stats(SchedStats* s) {
  s->handoff = handoff_mode_name(mode);
  s->handoffs_activated = sched.handoffs_activated.load(std::memory_order_relaxed);
  s->activations = n_wakeups.load(std::memory_order_relaxed);
  s->activation_strays = n_strays.load(std::memory_order_relaxed);
  s->activation_preempted = n_preempted.load(std::memory_order_relaxed);
  s->activation_uncovered = n_uncovered.load(std::memory_order_relaxed);
  s->unwrapped_blocks = n_unwrapped.load(std::memory_order_relaxed);
  s->unwrapped_block_ns = n_unwrapped_ns.load(std::memory_order_relaxed);
}

}  // namespace urgent::rt
