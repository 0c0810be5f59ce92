// urgent/go.h: start a goroutine (Go's `go` statement).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace urgent {
namespace detail {

struct NewG;
// Takes a dead (or new) goroutine and reserves `size` bytes aligned to `align` at the top of
// its stack, where the callable is constructed in place: no heap allocation per goroutine.
NewG* newproc_begin(std::size_t size, std::size_t align, void** storage);
// Makes it runnable, in the current P's runnext (Go's newproc).
void newproc_end(NewG* g, void (*invoke)(void*));
// Returns it to the free list (the callable's constructor threw).
void newproc_abort(NewG* g);

template <class Fn>
void invoke_and_destroy(void* p) {
  Fn* fn = static_cast<Fn*>(p);
  (*fn)();
  fn->~Fn();
}

}  // namespace detail

// Runs f() in a new goroutine. f is moved (or copied) into the goroutine's own stack.
// Must be called from a goroutine (inside urgent::run). An exception escaping f ends the
// process like a Go panic: `panic: <what()>`, the goroutine's stack, exit status 2.
template <class F>
void go(F&& f) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable_v<Fn&>, "urgent::go needs a callable taking no arguments");
  void* storage = nullptr;
  detail::NewG* g = detail::newproc_begin(sizeof(Fn), alignof(Fn), &storage);
  if constexpr (std::is_nothrow_constructible_v<Fn, F&&>) {
    ::new (storage) Fn(std::forward<F>(f));
  } else {
    try {
      ::new (storage) Fn(std::forward<F>(f));
    } catch (...) {
      detail::newproc_abort(g);
      throw;
    }
  }
  detail::newproc_end(g, &detail::invoke_and_destroy<Fn>);
}

}  // namespace urgent
