// arch/x86_64/context.h: the machine context of a goroutine on x86-64 (System V ABI).
//
// A suspended goroutine (or an M's scheduler context, g0) is described by one word: the
// stack pointer it was suspended at. Everything else that the ABI says survives a call
// (rbx, rbp, r12-r15, MXCSR control bits, x87 control word) was pushed on its own stack by
// urgent_ctx_switch, in the frame drawn in context.S. Caller-saved registers need no saving:
// a switch is a call, and the compiler already assumes the callee clobbers them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "context_offsets.h"

namespace urgent::arch {

// The saved state of a suspended context. context.S reads and writes `sp` at
// kContextSpOffset; the static_assert below keeps the two in step.
struct Context {
  void* sp = nullptr;
};

// Layout of the frame urgent_ctx_switch leaves on a suspended stack, lowest address first.
// Offsets are from Context::sp; context.S uses the same numbers (context_offsets.h).
inline constexpr std::size_t kContextSpOffset = URGENT_CTX_SP;
inline constexpr std::size_t kFrameFpuControl = URGENT_FRAME_FPU;
inline constexpr std::size_t kFrameFpuControlWord = URGENT_FRAME_FCW;
inline constexpr std::size_t kFrameR15 = URGENT_FRAME_R15;
inline constexpr std::size_t kFrameR14 = URGENT_FRAME_R14;
inline constexpr std::size_t kFrameR13 = URGENT_FRAME_R13;
inline constexpr std::size_t kFrameR12 = URGENT_FRAME_R12;
inline constexpr std::size_t kFrameRbx = URGENT_FRAME_RBX;
inline constexpr std::size_t kFrameRbp = URGENT_FRAME_RBP;
inline constexpr std::size_t kFrameReturn = URGENT_FRAME_RET;
inline constexpr std::size_t kFrameSize = URGENT_FRAME_SIZE;

static_assert(offsetof(Context, sp) == kContextSpOffset, "context.S stores sp at URGENT_CTX_SP");
static_assert(sizeof(Context) == 8, "context.S assumes a one-word Context");
// The frame is what context.S pushes, in order: rbp, rbx, r12..r15, then 8 bytes of FPU
// control state, below the caller's return address.
static_assert(kFrameReturn == kFrameSize - 8 && kFrameRbp == kFrameReturn - 8 &&
                  kFrameRbx == kFrameRbp - 8 && kFrameR12 == kFrameRbx - 8 &&
                  kFrameR13 == kFrameR12 - 8 && kFrameR14 == kFrameR13 - 8 &&
                  kFrameR15 == kFrameR14 - 8 && kFrameFpuControl == kFrameR15 - 8,
              "frame offsets must follow context.S's push order");
static_assert(kFrameFpuControlWord == kFrameFpuControl + 4, "fnstcw goes after the MXCSR");
static_assert(kFrameSize % 16 == 0, "make_context relies on a 16-byte multiple");

// Power-on defaults for a new goroutine: all SSE exceptions masked, round to nearest
// (MXCSR 0x1F80); x87 extended precision, all exceptions masked (FCW 0x037F).
inline constexpr std::uint32_t kDefaultMxcsr = URGENT_DEFAULT_MXCSR;
inline constexpr std::uint16_t kDefaultFpuControlWord = URGENT_DEFAULT_FCW;

// The stack alignment the ABI requires at a call instruction.
inline constexpr std::size_t kStackAlign = 16;

}  // namespace urgent::arch

extern "C" {
// Saves the current context into *from and resumes *to. Returns when something switches
// back to *from. Must be called with interrupts of the scheduler's own kind (preemption)
// disabled; see runtime/HACKING.md.
void urgent_ctx_switch(urgent::arch::Context* from, const urgent::arch::Context* to);

// Abandons the current context and starts entry(arg) at `top` of the current stack, with
// the default FPU control words (see context.S).
[[noreturn]] void urgent_ctx_restart(void* top, void (*entry)(void*), void* arg);

// First instruction a new goroutine executes: calls r13(r12), i.e. entry(g). It never returns,
// and it is the outermost frame of every goroutine stack (its unwind info ends the stack).
void urgent_gostart();
}

namespace urgent::arch {

// Lays out a fresh stack so that switching to the returned context enters urgent_gostart,
// which calls entry(arg). `top` is the highest usable address of the stack (exclusive).
inline Context make_context(void* top, void (*entry)(void*), void* arg) {
  auto t = reinterpret_cast<std::uintptr_t>(top) & ~(kStackAlign - 1);
  // After urgent_ctx_switch pops the frame and returns into urgent_gostart, rsp == t, which is
  // 16-byte aligned: exactly what the ABI wants at urgent_gostart's call instruction.
  auto* frame = reinterpret_cast<std::uint64_t*>(t - kFrameSize);
  frame[kFrameFpuControl / 8] =
      kDefaultMxcsr | (static_cast<std::uint64_t>(kDefaultFpuControlWord) << 32);
  frame[kFrameR15 / 8] = 0;
  frame[kFrameR14 / 8] = 0;
  frame[kFrameR13 / 8] = reinterpret_cast<std::uint64_t>(entry);
  frame[kFrameR12 / 8] = reinterpret_cast<std::uint64_t>(arg);
  frame[kFrameRbx / 8] = 0;
  frame[kFrameRbp / 8] = 0;  // terminates frame-pointer walks
  frame[kFrameReturn / 8] = reinterpret_cast<std::uint64_t>(&urgent_gostart);
  return Context{frame};
}

// The return addresses of a suspended context, innermost first, for goroutine dumps: the
// one in its switch frame, then those up the rbp chain (the runtime is built with frame
// pointers; a frame without one ends the walk early). Every read stays inside [lo, hi), the
// context's stack, and the chain must climb, so a stale or foreign context cannot fault or
// loop. Returns how many were stored (at most max).
inline int saved_context_pcs(const Context& ctx, std::uintptr_t lo, std::uintptr_t hi, void** pcs,
                             int max) {
  auto sp = reinterpret_cast<std::uintptr_t>(ctx.sp);
  if (sp < lo || sp + kFrameSize > hi || max <= 0) return 0;
  auto word = [](std::uintptr_t a) { return *reinterpret_cast<const std::uintptr_t*>(a); };
  int n = 0;
  pcs[n++] = reinterpret_cast<void*>(word(sp + kFrameReturn));
  std::uintptr_t fp = word(sp + kFrameRbp);
  while (n < max && fp >= sp && fp % 8 == 0 && fp + 16 <= hi) {
    std::uintptr_t ret = word(fp + 8);
    if (ret == 0) break;
    pcs[n++] = reinterpret_cast<void*>(ret);
    std::uintptr_t next = word(fp);
    if (next <= fp) break;  // the chain must climb toward the stack's top
    sp = fp;
    fp = next;
  }
  return n;
}

}  // namespace urgent::arch
