// runtime/stack.h: goroutine stacks.
//
// Invariants:
// - A stack is `size` usable bytes above one guard page that faults on access. Stacks are
//   carved out of 16 MiB chunks mapped MAP_NORESERVE, so memory is committed only when a
//   goroutine touches it. Guard pages are installed with madvise(MADV_GUARD_INSTALL)
//   (Linux 6.13+), which does not split the mapping: a million stacks cost ~16k VMAs,
//   well under vm.max_map_count. On older kernels guards fall back to mprotect, two VMAs a
//   stack; the allocator then raises vm.max_map_count when it can (root) and otherwise
//   fails with a fatal error naming the sysctl, never a silent ENOMEM.
// - Free stacks are cached per P (a LIFO, so the next goroutine gets the stack that was in
//   the cache most recently: hot) and globally; steady-state spawning maps nothing.
// - A goroutine gets its stack when it first runs, not when it is created (proc.cc), so a
//   million queued goroutines cost their G structs, not a million stacks.
// - All chunks are unmapped when urgent::run returns.
#pragma once

#include <cstddef>
#include <cstdint>

namespace urgent::rt {

struct Stack {
  std::uintptr_t lo;  // lowest usable byte; the guard page is just below
  std::uintptr_t hi;  // one past the highest usable byte
};

// A P's cache of free stacks ([own] by the P's owner).
struct StackCache {
  static constexpr int kMax = 64;  // above this, half goes to the global list
  Stack stacks[kMax];
  int n = 0;
};

// Prepares the allocator for stacks of `size` usable bytes (a multiple of the page size).
void stackinit(std::size_t size);
// Unmaps every chunk (the runtime is stopping; no goroutine stack is in use), except the
// ones stack_keep named: they are leaked for good.
void stackfini();
// Keeps the chunk holding addr mapped past stackfini: a thread orphaned in a system call at
// shutdown still runs on that goroutine stack when its call returns.
void stack_keep(std::uintptr_t addr);
// A free stack: from the cache, else from the global list (refilling the cache), else new.
Stack stackget(StackCache* c);
// Returns a stack to the cache (to the global list if c is null or full).
void stackput(StackCache* c, Stack s);
// Moves every cached stack to the global list (a P is being destroyed).
void stackcache_flush(StackCache* c);
std::size_t stack_size();
// Stacks created since stackinit.
std::size_t stack_count();
std::size_t stack_guard_size();
// True if addr lies in the guard page of some goroutine stack (async-signal-safe).
bool stack_guard_contains(std::uintptr_t addr);
// True if guards are MADV_GUARD_INSTALL regions (false: the mprotect fallback).
bool stack_guard_madvise();

}  // namespace urgent::rt
