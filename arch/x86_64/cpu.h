// arch/x86_64/cpu.h: small ISA primitives the portable runtime needs.
#pragma once

#include <cstdint>

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

}  // namespace urgent::arch
