// runtime/relaxed.h: Relaxed<T> and Published<T>, for the fields the scheduler's threads
// share racily.
#pragma once

#include <atomic>
#include <type_traits>

namespace urgent::rt {

// A field that one thread at a time writes (its owner) while others read it racily, or a
// flag any thread sets: a std::atomic whose loads and stores are all relaxed, so it costs
// plain MOVs (a ++ is a load and a store, no locked instruction) and ThreadSanitizer sees
// the accesses for what they are. Tagged [own, racy reads] or [atomic, relaxed].
//
// Published<T> is the same for a pointer whose pointee the racy reader then uses (sysmon
// reads a P's M, then that M's goroutine): stores release, loads acquire, so the object's
// initialization happens before the reader's use. On x86 both are plain MOVs too.
template <class T, std::memory_order kLoad = std::memory_order_relaxed,
          std::memory_order kStore = std::memory_order_relaxed>
class Relaxed {
 public:
  constexpr Relaxed(T v = T{}) noexcept : v_(v) {}  // NOLINT: converts like the T it holds
  Relaxed(const Relaxed& o) noexcept : v_(o) {}  // a copy is a load (`c ? a : b`)
  Relaxed& operator=(const Relaxed& o) noexcept { return *this = static_cast<T>(o); }
  operator T() const noexcept { return v_.load(kLoad); }  // NOLINT
  Relaxed& operator=(T v) noexcept {
    v_.store(v, kStore);
    return *this;
  }
  T operator->() const noexcept
    requires std::is_pointer_v<T>
  {
    return *this;
  }
  // Owner only (not a read-modify-write).
  Relaxed& operator++() noexcept { return *this = static_cast<T>(*this + 1); }
  T operator++(int) noexcept {
    T old = *this;
    *this = static_cast<T>(old + 1);
    return old;
  }

 private:
  std::atomic<T> v_;
};

template <class T>
using Published = Relaxed<T, std::memory_order_acquire, std::memory_order_release>;

}  // namespace urgent::rt
