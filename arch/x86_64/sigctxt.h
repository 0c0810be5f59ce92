// arch/x86_64/sigctxt.h: reading the interrupted state out of a signal handler's ucontext.
#pragma once

#include <sys/ucontext.h>

#include <cstdint>

namespace urgent::arch {

inline std::uintptr_t sigctxt_pc(const void* uctx) {
  return static_cast<std::uintptr_t>(
      static_cast<const ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]);
}

inline std::uintptr_t sigctxt_sp(const void* uctx) {
  return static_cast<std::uintptr_t>(
      static_cast<const ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
}

}  // namespace urgent::arch
