// runtime/panic.h: fatal errors and panics, printed the way Go prints them.
#pragma once

#include <signal.h>

#include <cstdint>

namespace urgent::rt {

struct G;

// A runtime invariant broke or the program cannot go on (Go's throw/fatal): prints
// `fatal error: <msg>`, then the goroutine list, then exits with status 2.
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// A goroutine panicked (an escaping exception): prints `panic: <msg>`, then
// `goroutine N [running]:` with the native stack of the calling thread, exits with status 2.
[[noreturn]] void panic_exit(const char* msg);

// Writes the calling thread's native stack, one Go-style frame per entry, skipping `skip`
// innermost frames. `async_signal_safe` avoids malloc (signal handlers).
void print_stack(int skip, bool async_signal_safe);

// Writes `goroutine N [status]:` headers for every goroutine but `except`, each switched-out
// goroutine with its native stack (walked from its saved context).
void print_other_goroutines(const G* except);

// The report of a signal that ends the process, on the thread that took it (Go's
// sighandler and sigpanic), then exit status 2. Async-signal-safe.
// - A fault the kernel raised (SIGSEGV, SIGBUS, SIGFPE with si_code > 0) reads as the panic
//   Go would raise: `panic: runtime error: invalid memory address or nil pointer
//   dereference` (an address below 4 KiB), `integer divide by zero`, `integer overflow`,
//   `floating point error`, then `[signal SIGSEGV: segmentation violation code=0x1
//   addr=0x0 pc=0x...]` and the goroutine's stack from the faulting pc; any other address
//   is `unexpected fault address 0x...`, `fatal error: fault`, the same [signal] line and
//   every goroutine.
// - Anything else (SIGQUIT, SIGABRT, SIGILL, SIGTRAP, SIGSYS, or a fault signal sent with
//   kill/raise) is Go's throw for a signal: `SIGABRT: abort`, `PC=0x... m=N sigcode=N`,
//   the instruction bytes at the pc for SIGILL and SIGFPE, the running goroutine and every
//   other, then the registers.
[[noreturn]] void fatal_signal(int sig, const siginfo_t* info, const void* uctx);

// Go's name for a signal in these reports ("SIGSEGV: segmentation violation").
const char* signal_description(int sig);

// Writes a string to stderr with write(2), no buffering (usable in signal handlers).
void print_raw(const char* s);
// printf to stderr through a stack buffer (no malloc).
void printf_raw(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Installs/uninstalls the std::terminate hook that turns an escaping exception into a panic.
void panic_init();
void panic_fini();

}  // namespace urgent::rt
