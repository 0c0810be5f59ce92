// runtime/usdt.cc: the USDT probes' semaphores (see usdt.h). The section name is the one
// sys/sdt.h's notes point into; tracers increment these while attached.
#include "usdt.h"

#define URGENT_USDT_SEMAPHORE_DEF(name) \
  __attribute__((section(".probes"))) volatile unsigned short urgent_##name##_semaphore = 0;
extern "C" {
URGENT_USDT_PROBES(URGENT_USDT_SEMAPHORE_DEF)
}
