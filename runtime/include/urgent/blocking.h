// urgent/blocking.h: system calls from the scheduler's point of view (Go's entersyscall,
// exitsyscall and entersyscallblock).
#pragma once

#include <cerrno>
#include <type_traits>
#include <utility>

namespace urgent {

namespace detail {
// Both return false when the caller is not a goroutine (then nothing is done).
bool entersyscall();
bool entersyscallblock();
// Leaves the system call: back on a P, possibly another one on another thread. errno, as
// the call left it, is restored on whichever thread the goroutine continues. (Read inside,
// not passed in: the caller must not compute errno's address on the thread it leaves, as
// the compiler would reuse that address for the caller's next read of errno.)
void exitsyscall();

template <bool kHandoff, class F>
decltype(auto) syscall(F&& f) {
  struct Exit {
    bool entered;
    ~Exit() {
      if (entered) exitsyscall();
    }
  } exit{kHandoff ? entersyscallblock() : entersyscall()};
  return std::forward<F>(f)();
}
}  // namespace detail

// Runs f() as a system call: for its duration the goroutine is in the syscall state and its
// P stays attached, so a short call costs two state changes. If f() blocks, sysmon hands
// the P to another thread after a sysmon tick or two (Go's retake; with URGENT_HANDOFF=
// perf|bpf a spare thread the kernel wakes when f() sleeps takes it), and the goroutine gets
// a P back when f() returns: the same one if nobody took it, else an idle one, else it waits
// in the global run queue while its thread parks. Returns what f returns; errno as f left it.
//
// f must not call into urgent (no channels, no locks, no go): it runs without a P. Outside a
// goroutine, blocking(f) just calls f.
template <class F>
decltype(auto) blocking(F&& f) {
  return detail::syscall<false>(std::forward<F>(f));
}

// blocking() for calls known to block for a long time (Go's entersyscallblock): the P is
// handed off at once instead of at the next sysmon tick.
template <class F>
decltype(auto) blocking_handoff(F&& f) {
  return detail::syscall<true>(std::forward<F>(f));
}

// The most OS threads (Ms) the runtime may create, like Go's debug.SetMaxThreads; returns
// the previous limit (default 10000). Exceeding it is the fatal error
// `thread exhaustion`. Outside urgent::run, sets the limit for the next run.
int set_max_threads(int n);

}  // namespace urgent
