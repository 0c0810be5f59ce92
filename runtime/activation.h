// runtime/activation.h: kernel-assisted P handoff (scheduler activations on stock Linux).
//
// URGENT_HANDOFF chooses who notices that an M holding a P blocked in a system call:
//   poll  Go's rule: sysmon sees the P in kPsyscall on two ticks (20 µs to 10 ms apart).
//   perf  the kernel: every M has a PERF_COUNT_SW_CONTEXT_SWITCHES event on its own thread
//         whose overflow signal (kActivationSignal) goes to a parked spare M.
//   bpf   the kernel, filtered: a sched_switch program sends the signal only when the M
//         leaving the CPU is in a system call holding its P, and is going to sleep.
//   auto  bpf if it loads, else perf, else poll (the choice is logged at URGENT_LOG=info).
// The woken spare takes the P itself (activate); the blocked M's return path is exitsyscall,
// unchanged. See activation.cc for the design and its invariants.
#pragma once

#include <signal.h>

#include <cstdint>

namespace urgent {
struct SchedStats;
}

namespace urgent::rt {

struct M;

enum class HandoffMode : std::uint8_t { kPoll = 0, kPerf = 1, kBpf = 2, kAuto = 3 };

// The signal that wakes a parked spare M (unused by the kernel and by the C library; every
// runtime thread blocks it except a spare M while it is parked).
inline constexpr int kActivationSignal = SIGSTKFLT;

// "poll", "perf", "bpf" or "auto".
const char* handoff_mode_name(HandoffMode m);

// urgent::run's start, after signal_init and before the first minit: resolves `requested`
// (auto: the best available; an unavailable mode prints one line and falls back to poll)
// and installs the signal handler. Returns the mode in effect.
HandoffMode activation_init(HandoffMode requested);
// urgent::run's end, once every M has left its loop: closes every M's event (orphans' too)
// and discards a pending signal.
void activation_fini();
// The mode in effect for this run (kPoll outside urgent::run).
HandoffMode handoff_mode();
inline bool activations_on() {
  return handoff_mode() != HandoffMode::kPoll;
}

// Per M, on its own thread (minit / munit): opens its event (perf) or registers its thread
// id with the BPF program (bpf). A failure leaves that M to sysmon's backstop, counted.
void activation_minit(M* mp);
void activation_unminit(M* mp);

// Around a parked M's sleep (stopm): begin pauses the M's own event (activation_quiet)
// and unblocks kActivationSignal, and says whether an activation may end the sleep (then
// stopm sleeps with Note::sleep_interruptible); end blocks it again. No-ops in poll mode
// (begin: false).
bool activation_park_begin(M* mp);
void activation_park_end(M* mp);

// A parked M is SCHED_BATCH (activation.cc); schedule() puts it back to SCHED_OTHER the
// next time it runs (if M::act_batch), off the way from the activation to the P.
void activation_unbatch(M* mp);

// An M without a P about to sleep elsewhere (a blocking netpoll, a locked M's wait): its
// event's output is paused (perf) until it holds a P again, so its sleep wakes nobody.
void activation_quiet(M* mp);

// The M's state as the kernel side needs it, where the M takes, enters a call with, or
// drops its P. bpf: plain stores into the shared array. perf: taking a P enables the M's
// event again if it was disabled.
void activation_set_running(M* mp);  // holds a P, runs user code or the scheduler
void activation_set_syscall(M* mp);  // in a system call, its P in kPsyscall
void activation_set_idle(M* mp);     // no P

// A parked spare woke for an activation (no P): hands off every P whose M blocked in a
// system call, taking the first for mp itself. True if mp holds a P on return.
bool activate(M* mp);

// urgent::run, before main starts: starts the first spare M and waits until it is parked,
// so that even the program's first blocking call has one.
void activation_first_spare();

// sysmon's tick: reports blocks of Ms outside urgent::blocking that have ended (counter,
// trace event kUnwrappedBlock) and replenishes the spare M.
void activation_sysmon_tick();

// Fills the mode and the activation counters of urgent::sched_stats.
void activation_stats(SchedStats* s);

}  // namespace urgent::rt
