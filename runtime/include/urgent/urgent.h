// urgent/urgent.h: the whole public API.
#pragma once

#include "urgent/blocking.h"   // IWYU pragma: export
#include "urgent/chan.h"       // IWYU pragma: export
#include "urgent/cond.h"       // IWYU pragma: export
#include "urgent/context.h"    // IWYU pragma: export
#include "urgent/debug.h"      // IWYU pragma: export
#include "urgent/file.h"       // IWYU pragma: export
#include "urgent/metrics.h"    // IWYU pragma: export
#include "urgent/go.h"         // IWYU pragma: export
#include "urgent/mutex.h"      // IWYU pragma: export
#include "urgent/net.h"        // IWYU pragma: export
#include "urgent/once.h"       // IWYU pragma: export
#include "urgent/panic.h"      // IWYU pragma: export
#include "urgent/preempt.h"    // IWYU pragma: export
#include "urgent/run.h"        // IWYU pragma: export
#include "urgent/rwmutex.h"    // IWYU pragma: export
#include "urgent/sched.h"      // IWYU pragma: export
#include "urgent/select.h"     // IWYU pragma: export
#include "urgent/stats.h"      // IWYU pragma: export
#include "urgent/sys.h"        // IWYU pragma: export
#include "urgent/time.h"       // IWYU pragma: export
#include "urgent/trace.h"      // IWYU pragma: export
#include "urgent/waitgroup.h"  // IWYU pragma: export
