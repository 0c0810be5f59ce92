// urgent/urgent.h: the whole public API.
#pragma once

#include "urgent/debug.h"  // IWYU pragma: export
#include "urgent/go.h"     // IWYU pragma: export
#include "urgent/run.h"    // IWYU pragma: export
#include "urgent/sched.h"  // IWYU pragma: export
#include "urgent/stats.h"  // IWYU pragma: export
