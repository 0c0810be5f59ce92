// arch/x86_64/xsave.h: how much extended state the preemption trampoline saves.
#pragma once

#include <cpuid.h>

#include <cstdint>

#include "context_offsets.h"

extern "C" {
// Bytes of the XSAVE area for every component XCR0 enables (x87, SSE, AVX, AVX-512 ZMM and
// k registers, ...): CPUID.(EAX=0Dh,ECX=0).EBX. preempt.S reserves this much below the
// saved GPRs. 0 until xsave_init() found XSAVE usable.
extern std::uint64_t urgent_xsave_size;

// The trampoline the SIGURG handler makes a goroutine "call" (preempt.S).
void urgent_async_preempt();
}

namespace urgent::arch {

// Sets urgent_xsave_size; false if the CPU or the kernel does not enable XSAVE (OSXSAVE),
// in which case asynchronous preemption cannot save the vector state and stays off.
inline bool xsave_init() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) return false;
  if (__get_cpuid_max(0, nullptr) < 0xD) return false;
  __cpuid_count(0xD, 0, eax, ebx, ecx, edx);
  if (ebx < URGENT_XSAVE_HEADER + 64) return false;
  urgent_xsave_size = ebx;
  return true;
}

// The features XCR0 enables (bit 5-7: AVX-512 opmask, ZMM_Hi256, Hi16_ZMM), for tests and
// diagnostics.
inline std::uint64_t xcr0() {
  std::uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

}  // namespace urgent::arch
