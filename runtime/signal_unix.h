// runtime/signal_unix.h: the runtime's signal handling (Go's signal_unix.go).
//
// SIGURG: preemption (preempt.cc), then chained. SIGSEGV/SIGBUS: to turn a hit on a goroutine's
// guard page into `fatal error: stack overflow` (a handler on a per-M sigaltstack, since the
// faulting stack is exhausted). Faults elsewhere go to the handler that was installed before
// urgent::run (for example AddressSanitizer's); with none, urgent reports them Go-style and exits
// with status 2.
#pragma once

#include <pthread.h>

namespace urgent::rt {

struct M;

void signal_init();        // install handlers (urgent::run start)
void signal_fini();        // restore the previous handlers (urgent::run end)
void signal_minit(M* mp);  // per thread: sigaltstack, signal mask
void signal_unminit(M* mp);

// pthread_create with every signal blocked in the new thread (every runtime thread starts
// so: Ms unblock theirs in minit once their sigaltstack exists; the others handle none).
// Returns pthread_create's error.
int create_thread_signals_blocked(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                                  void* arg);

}  // namespace urgent::rt
