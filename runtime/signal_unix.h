// runtime/signal_unix.h: the runtime's signal handling (Go's signal_unix.go).
//
// SIGURG: preemption (preempt.cc), then chained. SIGSEGV/SIGBUS: to turn a hit on a goroutine's
// guard page into `fatal error: stack overflow` (a handler on a per-M sigaltstack, since the
// faulting stack is exhausted). Faults elsewhere, and SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS,
// go to the handler that was installed before urgent::run (for example AddressSanitizer's);
// with none, urgent reports them Go-style (fatal_signal) and exits with status 2, as does
// SIGQUIT.
#pragma once

#include <pthread.h>

#include <cstdint>

namespace urgent::rt {

struct M;

void signal_init();        // install handlers (urgent::run start)
void signal_fini();        // restore the previous handlers (urgent::run end)
void signal_minit(M* mp);  // per thread: sigaltstack, signal mask
void signal_unminit(M* mp);

// From the SIGURG handler (async-signal-safe): is the code it interrupted (uctx, at stack
// pointer sp on a stack ending at stack_hi) running inside a signal handler of the program,
// on that stack? True if the interrupted signal mask is not the one every M runs with (a
// handler blocks at least its own signal unless SA_NODEFER), or if a handler's signal frame
// is on the stack above sp: a return address equal to the C library's signal restorer
// (__restore_rt), looked for in the kSignalFrameScan bytes above sp.
inline constexpr std::uintptr_t kSignalFrameScan = 64 * 1024;
bool in_program_signal_handler(const void* uctx, std::uintptr_t sp, std::uintptr_t stack_hi);

// pthread_create with every signal blocked in the new thread (every runtime thread starts
// so: Ms unblock theirs in minit once their sigaltstack exists; the others handle none).
// Returns pthread_create's error.
int create_thread_signals_blocked(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                                  void* arg);

}  // namespace urgent::rt
