// runtime/sanitizer.h: telling AddressSanitizer and ThreadSanitizer about stack switches.
//
// Every switch from one stack to another is bracketed: fiber_start(from, to) just before
// urgent_ctx_switch, fiber_finish(self) just after it returns on the resumed stack. A
// goroutine that exits passes `exiting` so ASan frees its fake stack.
#pragma once

#include <cstddef>

#include "runtime2.h"

#if defined(__SANITIZE_ADDRESS__)
#define URGENT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define URGENT_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define URGENT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define URGENT_TSAN 1
#endif
#endif

#if defined(URGENT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(URGENT_TSAN)
#include <sanitizer/tsan_interface.h>
// libtsan's dynamic annotations (no public header declares them).
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
#endif

namespace urgent::rt {

#if defined(URGENT_TSAN)
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif

// From now on ThreadSanitizer ignores the calling thread's memory accesses (a fatal
// report's racy reads of other goroutines; the process exits right after).
inline void sanitizer_ignore_accesses() {
#if defined(URGENT_TSAN)
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
}

// While it lives, ThreadSanitizer ignores the calling thread's reads: for diagnostics that
// read other threads' goroutines racily on purpose, as Go's do (scheddetail's G lines).
class IgnoreRacyReads {
 public:
#if defined(URGENT_TSAN)
  IgnoreRacyReads() { AnnotateIgnoreReadsBegin(__FILE__, __LINE__); }
  ~IgnoreRacyReads() { AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
#else
  IgnoreRacyReads() = default;
#endif
  IgnoreRacyReads(const IgnoreRacyReads&) = delete;
  IgnoreRacyReads& operator=(const IgnoreRacyReads&) = delete;
};

inline void fiber_start(G* from, G* to, bool exiting) {
#if defined(URGENT_ASAN)
  __sanitizer_start_switch_fiber(exiting ? nullptr : &from->asan_fake_stack,
                                 reinterpret_cast<const void*>(to->stack_lo),
                                 to->stack_hi - to->stack_lo);
#endif
#if defined(URGENT_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  (void)from;
  (void)to;
  (void)exiting;
}

inline void fiber_finish(G* self) {
#if defined(URGENT_ASAN)
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, nullptr, nullptr);
#endif
  (void)self;
}

// First thing a new goroutine does on its fresh stack.
inline void fiber_finish_first() {
#if defined(URGENT_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

// A reused stack may carry poison from the frames of its previous goroutine's exit path,
// which never returned. Those frames sit just below the goroutine's first frame, at the
// top of the stack (every other frame returned normally and cleaned up after itself), so
// only the top is unpoisoned, when the stack is given back: doing the whole stack, or
// fresh stacks, would touch 1/8 of their size in shadow memory, which a million
// goroutines cannot afford.
// Memory about to be unmapped: ASan keeps the poison of its frames' redzones in the shadow
// otherwise, and a later mmap at the same address (the next urgent::run's stacks) inherits it.
inline void sanitizer_unpoison(std::uintptr_t base, std::size_t len) {
#if defined(URGENT_ASAN)
  __asan_unpoison_memory_region(reinterpret_cast<void*>(base), len);
#endif
  (void)base;
  (void)len;
}

inline void fiber_reset_stack(Stack st) {
#if defined(URGENT_ASAN)
  constexpr std::uintptr_t kExitPathBytes = 16 * 1024;
  std::uintptr_t lo = st.hi - st.lo > kExitPathBytes ? st.hi - kExitPathBytes : st.lo;
  __asan_unpoison_memory_region(reinterpret_cast<void*>(lo), st.hi - lo);
#endif
  (void)st;
}

inline void fiber_create(G* gp) {
#if defined(URGENT_TSAN)
  gp->tsan_fiber = __tsan_create_fiber(0);
#endif
  (void)gp;
}

inline void fiber_adopt_thread(G* g0) {
#if defined(URGENT_TSAN)
  g0->tsan_fiber = __tsan_get_current_fiber();
#endif
  (void)g0;
}

inline void fiber_destroy(G* gp) {
#if defined(URGENT_TSAN)
  if (gp->tsan_fiber) __tsan_destroy_fiber(gp->tsan_fiber);
#endif
  (void)gp;
}

}  // namespace urgent::rt
