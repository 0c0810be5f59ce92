// arch/x86_64/sigctxt.h: reading and rewriting the interrupted state in a signal handler's
// ucontext (Go's sigctxt, signal_amd64.go).
#pragma once

#include <sys/ucontext.h>

#include <cstdint>

#include "context_offsets.h"
#include "cpu.h"

namespace urgent::arch {

inline std::uintptr_t sigctxt_pc(const void* uctx) {
  return static_cast<std::uintptr_t>(
      static_cast<const ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]);
}

inline std::uintptr_t sigctxt_sp(const void* uctx) {
  return static_cast<std::uintptr_t>(
      static_cast<const ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
}

// The signal mask of the interrupted code (signals 1..64: bit n-1 is signal n). The kernel
// writes only the first 8 bytes of uc_sigmask (its sigset_t is _NSIG = 64 bits on x86-64).
inline std::uint64_t sigctxt_sigmask_word(const void* uctx) {
  std::uint64_t w;
  __builtin_memcpy(&w, &static_cast<const ucontext_t*>(uctx)->uc_sigmask, sizeof w);
  return w;
}
// The same word of a sigset_t, to compare with.
inline std::uint64_t sigset_word(const sigset_t& set) {
  std::uint64_t w;
  __builtin_memcpy(&w, &set, sizeof w);
  return w;
}

// The fault address and the registers of the interrupted code, for fatal reports: calls
// out(name, value) for each register in the order Go's dumpregs prints them (signal_amd64.go).
inline void sigctxt_each_reg(const void* uctx, void (*out)(const char* name, std::uint64_t v)) {
  const greg_t* r = static_cast<const ucontext_t*>(uctx)->uc_mcontext.gregs;
  static constexpr struct {
    const char* name;
    int reg;
  } kRegs[] = {{"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX},
               {"rdi", REG_RDI}, {"rsi", REG_RSI}, {"rbp", REG_RBP}, {"rsp", REG_RSP},
               {"r8", REG_R8},   {"r9", REG_R9},   {"r10", REG_R10}, {"r11", REG_R11},
               {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14}, {"r15", REG_R15},
               {"rip", REG_RIP}, {"rflags", REG_EFL}};
  for (const auto& k : kRegs) out(k.name, static_cast<std::uint64_t>(r[k.reg]));
  // cs, gs and fs share one slot: bits 0-15, 16-31 and 32-47.
  auto seg = static_cast<std::uint64_t>(r[REG_CSGSFS]);
  out("cs", seg & 0xffff);
  out("fs", (seg >> 32) & 0xffff);
  out("gs", (seg >> 16) & 0xffff);
}

static_assert(kRedZone == URGENT_RED_ZONE, "preempt.S releases the red zone with ret $128");

// Makes the interrupted code "call" fn when the handler returns (Go's pushCall): the
// interrupted pc becomes the return address, stored *below* the red zone so that a leaf
// function's data there survives; fn (urgent_async_preempt) releases the gap itself with
// `ret $128`. Bytes it needs below the interrupted sp: kPushCallBytes.
inline constexpr std::uintptr_t kPushCallBytes = kRedZone + 8;
inline void sigctxt_push_call(void* uctx, void (*fn)()) {
  auto* gregs = static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs;
  std::uintptr_t sp = static_cast<std::uintptr_t>(gregs[REG_RSP]) - kPushCallBytes;
  *reinterpret_cast<std::uint64_t*>(sp) = static_cast<std::uint64_t>(gregs[REG_RIP]);
  gregs[REG_RSP] = static_cast<greg_t>(sp);
  gregs[REG_RIP] = static_cast<greg_t>(reinterpret_cast<std::uintptr_t>(fn));
}

}  // namespace urgent::arch
