// urgent/run.h: start the runtime and run main as goroutine 1.
#pragma once

#include <type_traits>
#include <utility>

namespace urgent {
namespace detail {
// Runs entry(arg) as goroutine 1 on a fresh runtime; returns the status it stored.
int run_main(void (*entry)(void* arg, int* status), void* arg);
}  // namespace detail

// Starts the runtime (configured from the environment: GOMAXPROCS, URGENT_STACK,
// URGENT_LOG), runs main() as goroutine 1 on the calling thread's M (M0), and returns when
// main returns: main's int result, or 0 if it returns void. Goroutines still alive are
// abandoned, as in Go when main returns. Not reentrant: one run at a time per process; it
// may be called again after it returns.
template <class F>
int run(F&& main) {
  using Fn = std::decay_t<F>;
  Fn fn(std::forward<F>(main));
  return detail::run_main(
      [](void* p, int* status) {
        Fn& f = *static_cast<Fn*>(p);
        if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
          f();
          *status = 0;
        } else {
          *status = static_cast<int>(f());
        }
      },
      &fn);
}

}  // namespace urgent
