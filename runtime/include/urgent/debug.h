// urgent/debug.h: where am I? Identity of the running goroutine, P and M. Meant for tests,
// experiments and logging; a goroutine may move to another M (and P) at any scheduling point.
#pragma once

#include <cstdint>

namespace urgent::debug {

// The running goroutine's id (1 for main), or 0 outside a goroutine.
std::int64_t goid();
// The id of the P the caller runs on (0..GOMAXPROCS-1), or -1 outside a goroutine.
int current_p();
// The id of the M (OS thread) the caller runs on (M0 is 0), or -1 outside the runtime.
std::int64_t current_m();

}  // namespace urgent::debug
