// runtime/panic.h: fatal errors and panics, printed the way Go prints them.
#pragma once

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

// Go's SIGQUIT dump: `reason` (e.g. "SIGQUIT: quit"), the interrupted PC and M when uctx is
// given, the calling goroutine with its stack, every other goroutine; then exit status 2.
// Async-signal-safe.
[[noreturn]] void print_goroutine_dump(const char* reason, const void* uctx);

// Writes a string to stderr with write(2), no buffering (usable in signal handlers).
void print_raw(const char* s);
// printf to stderr through a stack buffer (no malloc).
void printf_raw(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Installs/uninstalls the std::terminate hook that turns an escaping exception into a panic.
void panic_init();
void panic_fini();

}  // namespace urgent::rt
