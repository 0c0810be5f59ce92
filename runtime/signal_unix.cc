// runtime/signal_unix.cc: the crash signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
// SIGTRAP, SIGSYS), SIGURG and SIGQUIT, per-M signal stacks (Go's signal_unix.go).
//
// Invariants:
// - Every M (M0 included) has its own sigaltstack while it runs the scheduler, so a handler
//   can run when the goroutine stack is exhausted, and SIGURG unblocked.
// - The handlers are async-signal-safe except on the fault handler's fatal paths, which
//   never return. Both save and restore errno.
// - SIGQUIT and the crash signals print Go's report (fatal_signal: the signal, the
//   goroutine list, the registers) and exit with status 2, unless the program had its own
//   handler (which gets it), or ignored the signal and it was sent (kill, raise) rather
//   than raised by a fault. On a thread that is not an M they take their default action.
// - Handlers installed before urgent::run are restored when it returns. Faults that are not
//   guard-page hits are passed on to them; so is *every* SIGURG (Go does the same: the
//   runtime cannot tell its own preemption signal from a program's, since two pending
//   SIGURGs coalesce into one), after the preemption half (preempt.cc) had its look.
#include "signal_unix.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "activation.h"
#include "panic.h"
#include "preempt.h"
#include "proc.h"
#include "sanitizer.h"
#include "sigctxt.h"
#include "stack.h"
#include "trigger.h"

namespace urgent::rt {
namespace {

#if defined(URGENT_ASAN)
constexpr std::size_t kSigStackSize = 256 * 1024;  // ASan's handler frames are large
#else
constexpr std::size_t kSigStackSize = 64 * 1024;
#endif

// The signals urgent handles, and the handlers it replaced (restored by signal_fini): the
// crash signals Go reports (its sigtable's _SigPanic and _SigThrow ones), SIGURG, SIGQUIT.
constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS,
                            SIGURG,  SIGQUIT};
constexpr int kNumSignals = sizeof kSignals / sizeof kSignals[0];
struct sigaction old_actions[kNumSignals];
sigset_t initial_mask;
sigset_t m_mask;   // what every M runs with: initial_mask with SIGURG unblocked, kActivationSignal blocked
sigset_t m0_mask;  // M0's mask before minit, restored by unminit
// The C library's signal restorer (glibc's __restore_rt), the return address the kernel
// gives every handler it calls: read back from our own SIGURG action (sa_restorer).
std::uintptr_t restorer = 0;

int signal_index(int sig) {
  for (int i = 0; i < kNumSignals; i++) {
    if (kSignals[i] == sig) return i;
  }
  return -1;
}

[[noreturn]] void stack_overflow(G* gp, std::uintptr_t sp) {
  if (gp != nullptr) {
    printf_raw("runtime: goroutine stack exceeds %zu-byte limit\n", stack_size());
    printf_raw("runtime: sp=%#lx stack=[%#lx, %#lx]\n", static_cast<unsigned long>(sp),
               static_cast<unsigned long>(gp->stack_lo), static_cast<unsigned long>(gp->stack_hi));
  }
  fatal("stack overflow");
}

// Passes a signal on to the handler urgent replaced. Returns false if there was none.
bool chain(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& old = old_actions[signal_index(sig)];
  if (old.sa_flags & SA_SIGINFO) {
    if (old.sa_sigaction == nullptr) return false;
    old.sa_sigaction(sig, info, uctx);
    return true;
  }
  if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) return false;
  old.sa_handler(sig);
  return true;
}

// The program ignored sig before urgent::run (SIG_IGN): a signal sent to it is ignored
// still (Go's signal_ignored); a fault the kernel raises is not (it would recur forever).
bool ignored_by_program(int sig) {
  const struct sigaction& old = old_actions[signal_index(sig)];
  return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN;
}

// Not a runtime thread, and nobody else handles sig: die the way the signal's default
// action does (re-raised: it is blocked until the handler returns, then delivered).
void die_by_default(int sig) {
  signal(sig, SIG_DFL);
  raise(sig);
}

// The crash signals: a guard-page hit is a goroutine's stack overflow; anything else goes to
// the handler the program had, if any, else it is Go's report (fatal_signal, panic.cc).
void fault_handler(int sig, siginfo_t* info, void* uctx) {
  if (info->si_code <= 0 && ignored_by_program(sig)) return;
  int saved_errno = errno;
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg : nullptr;
  if ((sig == SIGSEGV || sig == SIGBUS) && info->si_code > 0 &&
      stack_guard_contains(reinterpret_cast<std::uintptr_t>(info->si_addr))) {
    stack_overflow(gp, arch::sigctxt_sp(uctx));
  }
  if (!chain(sig, info, uctx)) {
    if (mp == nullptr) {
      die_by_default(sig);
    } else {
      fatal_signal(sig, info, uctx);
    }
  }
  errno = saved_errno;
}

// SIGURG: preemption (doSigPreempt) on a runtime thread, then the program's own handler, if
// it had one before urgent::run. SA_RESTART: a restartable system call the signal
// interrupts (read on a pipe, ...) resumes instead of failing with EINTR.
void sigurg_handler(int sig, siginfo_t* info, void* uctx) {
  int saved_errno = errno;
  M* mp = getm();
  if (mp == nullptr || !trigger_fired(mp, info, uctx)) {  // (the M's own timer or event)
    if (mp != nullptr) doSigPreempt(mp, uctx);
    chain(sig, info, uctx);
  }
  errno = saved_errno;
}

// SIGQUIT: Go's goroutine dump and exit status 2, unless the program handles or ignores
// SIGQUIT itself (then it gets the signal as before).
void sigquit_handler(int sig, siginfo_t* info, void* uctx) {
  if (ignored_by_program(sig)) return;
  int saved_errno = errno;
  if (chain(sig, info, uctx)) {
    errno = saved_errno;
    return;
  }
  fatal_signal(sig, info, uctx);
}

void (*handler_for(int sig))(int, siginfo_t*, void*) {
  switch (sig) {
    case SIGURG: return sigurg_handler;
    case SIGQUIT: return sigquit_handler;
    default: return fault_handler;
  }
}

}  // namespace

int create_thread_signals_blocked(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                                  void* arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(thread, attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return err;
}

void signal_init() {
  pthread_sigmask(SIG_SETMASK, nullptr, &initial_mask);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigfillset(&sa.sa_mask);
  for (int i = 0; i < kNumSignals; i++) {
    sa.sa_sigaction = handler_for(kSignals[i]);
    sigaction(kSignals[i], &sa, &old_actions[i]);
  }
  m_mask = initial_mask;
  sigdelset(&m_mask, SIGURG);
  sigaddset(&m_mask, kActivationSignal);  // only a parked spare takes it (activation.cc)
  struct sigaction installed;
  sigaction(SIGURG, nullptr, &installed);
  restorer = reinterpret_cast<std::uintptr_t>(installed.sa_restorer);
}

// Not instrumented by ASan: the scan reads the goroutine's stack word by word, redzones of
// its frames included (ASan reported a stack-buffer-underflow here).
[[gnu::no_sanitize_address]] bool in_program_signal_handler(const void* uctx, std::uintptr_t sp,
                                                            std::uintptr_t stack_hi) {
  if (arch::sigctxt_sigmask_word(uctx) != arch::sigset_word(m_mask)) return true;
  if (restorer == 0) return false;
  std::uintptr_t end = sp + kSignalFrameScan < stack_hi ? sp + kSignalFrameScan : stack_hi;
  for (std::uintptr_t a = (sp + 7) & ~std::uintptr_t{7}; a + 8 <= end; a += 8) {
    if (*reinterpret_cast<const std::uintptr_t*>(a) == restorer) return true;
  }
  return false;
}

void signal_fini() {
  for (int i = 0; i < kNumSignals; i++) sigaction(kSignals[i], &old_actions[i], nullptr);
}

void signal_minit(M* mp) {
  void* mem =
      mmap(nullptr, kSigStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fatal("signal_minit: cannot map a signal stack");
  stack_t ss;
  ss.ss_sp = mem;
  ss.ss_size = kSigStackSize;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, nullptr) != 0) fatal("signal_minit: sigaltstack failed");
  mp->sigaltstack_mem = mem;
  mp->sigaltstack_size = kSigStackSize;
  // Threads are created with every signal blocked (newm); give them the program's mask,
  // with SIGURG (preemption) unblocked, on M0 too.
  pthread_sigmask(SIG_SETMASK, &m_mask, mp->is_m0 ? &m0_mask : nullptr);
}

void signal_unminit(M* mp) {
  stack_t ss;
  std::memset(&ss, 0, sizeof ss);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  if (mp->sigaltstack_mem != nullptr) munmap(mp->sigaltstack_mem, mp->sigaltstack_size);
  mp->sigaltstack_mem = nullptr;
  if (mp->is_m0) pthread_sigmask(SIG_SETMASK, &m0_mask, nullptr);
}

}  // namespace urgent::rt
