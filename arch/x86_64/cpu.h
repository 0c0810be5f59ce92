// arch/x86_64/cpu.h: small ISA primitives the portable runtime needs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace urgent::arch {

// Spin-wait hint: PAUSE lets the sibling hyperthread run and avoids a memory-order
// mis-speculation penalty when the awaited cache line changes.
inline void cpu_relax() {
  __builtin_ia32_pause();
}

// Bytes below the stack pointer that a leaf function may use without moving rsp
// (the System V red zone).
inline constexpr std::uintptr_t kRedZone = 128;

// Smallest page the MMU maps.
inline constexpr std::uintptr_t kPageSize = 4096;

// The CPU's cycle counter (RDTSC; Go's cputicks): the execution tracer's clock. Not
// serializing, on purpose: an event may be stamped a few cycles early or late, never out of
// order with the thread's other events. Only meaningful when cputicks_invariant().
inline std::uint64_t cputicks() {
  return __builtin_ia32_rdtsc();
}

// True if the TSC ticks at a constant rate in every P-state and C-state, synchronized
// across CPUs (the kernel's constant_tsc and nonstop_tsc flags): then ticks map to
// CLOCK_MONOTONIC linearly. Reads /proc/cpuinfo's first "flags" line.
inline bool cputicks_invariant() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (f == nullptr) return false;
  char line[8192];
  bool constant = false, nonstop = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "flags", 5) != 0) continue;
    constant = std::strstr(line, " constant_tsc") != nullptr;
    nonstop = std::strstr(line, " nonstop_tsc") != nullptr;
    break;
  }
  std::fclose(f);
  return constant && nonstop;
}

}  // namespace urgent::arch
