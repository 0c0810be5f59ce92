// runtime/signal_unix.cc: SIGSEGV/SIGBUS handling and per-M signal stacks.
//
// Invariants:
// - Every M (M0 included) has its own sigaltstack while it runs the scheduler, so a handler
//   can run when the goroutine stack is exhausted.
// - The handler is async-signal-safe except on its fatal paths, which never return.
// - Handlers installed before urgent::run are restored when it returns, and faults that are
//   not guard-page hits are passed on to them.
#include "signal_unix.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "panic.h"
#include "proc.h"
#include "sanitizer.h"
#include "sigctxt.h"
#include "stack.h"

namespace urgent::rt {
namespace {

#if defined(URGENT_ASAN)
constexpr std::size_t kSigStackSize = 256 * 1024;  // ASan's handler frames are large
#else
constexpr std::size_t kSigStackSize = 64 * 1024;
#endif

constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS};
struct sigaction old_actions[2];
sigset_t initial_mask;

const char* signame(int sig) {
  return sig == SIGSEGV ? "SIGSEGV: segmentation violation" : "SIGBUS: bus error";
}

[[noreturn]] void stack_overflow(G* gp, std::uintptr_t sp) {
  if (gp != nullptr) {
    printf_raw("runtime: goroutine stack exceeds %zu-byte limit\n", stack_size());
    printf_raw("runtime: sp=%#lx stack=[%#lx, %#lx]\n", static_cast<unsigned long>(sp),
               static_cast<unsigned long>(gp->stack_lo), static_cast<unsigned long>(gp->stack_hi));
  }
  fatal("stack overflow");
}

// Passes a fault on to the handler urgent replaced. Returns false if there was none.
bool chain(int idx, int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& old = old_actions[idx];
  if (old.sa_flags & SA_SIGINFO) {
    if (old.sa_sigaction == nullptr) return false;
    old.sa_sigaction(sig, info, uctx);
    return true;
  }
  if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) return false;
  old.sa_handler(sig);
  return true;
}

void fault_handler(int sig, siginfo_t* info, void* uctx) {
  int saved_errno = errno;
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg : nullptr;
  if (stack_guard_contains(addr)) stack_overflow(gp, arch::sigctxt_sp(uctx));
  int idx = sig == SIGSEGV ? 0 : 1;
  if (chain(idx, sig, info, uctx)) {
    errno = saved_errno;
    return;
  }
  if (mp == nullptr) {
    // Not a runtime thread and nobody else handles it: die the default way.
    signal(sig, SIG_DFL);
    errno = saved_errno;
    return;  // the faulting instruction runs again and kills the process
  }
  printf_raw("unexpected fault address %#lx\n", static_cast<unsigned long>(addr));
  printf_raw("[signal %s code=%#x addr=%#lx pc=%#lx]\n", signame(sig),
             static_cast<unsigned>(info->si_code), static_cast<unsigned long>(addr),
             static_cast<unsigned long>(arch::sigctxt_pc(uctx)));
  fatal("unexpected signal");
}

}  // namespace

void signal_init() {
  pthread_sigmask(SIG_SETMASK, nullptr, &initial_mask);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigfillset(&sa.sa_mask);
  for (int i = 0; i < 2; i++) sigaction(kFaultSignals[i], &sa, &old_actions[i]);
}

void signal_fini() {
  for (int i = 0; i < 2; i++) sigaction(kFaultSignals[i], &old_actions[i], nullptr);
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
  // Threads are created with every signal blocked (newm); give them the program's mask.
  if (!mp->is_m0) pthread_sigmask(SIG_SETMASK, &initial_mask, nullptr);
}

void signal_unminit(M* mp) {
  stack_t ss;
  std::memset(&ss, 0, sizeof ss);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  if (mp->sigaltstack_mem != nullptr) munmap(mp->sigaltstack_mem, mp->sigaltstack_size);
  mp->sigaltstack_mem = nullptr;
}

}  // namespace urgent::rt
