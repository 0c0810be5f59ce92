// runtime/trace.h: the execution tracer's internal interface (trace.cc; Go's trace.go).
// The file format is in trace_format.h, the public API in urgent/trace.h.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "trace_format.h"

namespace urgent::rt {

struct TraceBuf;

// One thread's recording state: every M has one (M::trace), sysmon has one. Only its thread
// writes events into it; the thread that stops or snapshots the trace takes its buffer
// once the thread is outside traceEvent (seq even, see trace.cc).
struct TraceCtx {
  std::atomic<std::uint32_t> seq{0};  // odd while its thread records an event
  TraceBuf* buf = nullptr;            // the batch being filled, or null
  std::uint64_t last_ticks = 0;       // the last event's ticks in buf
  std::uint64_t lost = 0;             // events dropped since buf was last written to
  std::uint64_t lost_recorded = 0;    // events dropped and since recorded as Lost events
  std::int64_t mid = -1;              // the M's id, -1 for sysmon
  pid_t tid = 0;
  // The SIGURG handler writes into buf itself only when it interrupted its thread outside
  // the recorder (seq even) and buf has room. Otherwise (inside traceEvent, or a buffer to
  // refill, which takes a lock) it leaves its record in this single-producer
  // single-consumer ring: the thread's next event, or the handler's next direct record,
  // writes the ring first. A handler finding it full counts the record as lost
  // (handler_lost, folded into the Lost count when the ring is next written): that takes
  // kHandlerSlots handler runs, each inside an event or facing a full buffer.
  static constexpr std::uint32_t kHandlerSlots = 8;
  struct HandlerRecord {
    std::uint64_t ticks;
    tracefmt::Ev type;  // kPreemptHandler or kPreemptTrigger
    std::uint64_t args[4];
  } handler[kHandlerSlots];
  std::atomic<std::uint32_t> handler_head{0};  // the handler's next slot (it publishes)
  std::atomic<std::uint32_t> handler_tail{0};  // the recorder's next slot
  std::atomic<std::uint64_t> handler_lost{0};
};

// 0 off, 1 recording, 2 paused (a flight recorder snapshot: events count as lost).
extern std::atomic<std::uint8_t> trace_state;

// Makes ctx the calling thread's recorder (minit, sysmon).
void trace_bind_thread(TraceCtx* ctx, std::int64_t mid, pid_t tid);

// Records an event on the calling thread (no-op when tracing is off). Out of line and
// opaque: it reads the thread's TraceCtx from TLS, which must not be cached across a
// goroutine switch.
void traceEventSlow(tracefmt::Ev ev, std::uint64_t a, std::uint64_t b, std::uint64_t c,
                    std::uint64_t d);

inline bool tracing() {
  return __builtin_expect(trace_state.load(std::memory_order_relaxed) != 0, 0);
}

template <class... Args>
inline void traceEmit(tracefmt::Ev ev, Args... args) {
  std::uint64_t v[4] = {static_cast<std::uint64_t>(args)...};
  traceEventSlow(ev, v[0], v[1], v[2], v[3]);
}

// URGENT_TRACE_EVENT(kGoStart, goid, p, ...): records the event if tracing is on. The
// arguments are evaluated only then.
#define URGENT_TRACE_EVENT(ev, ...)                                                   \
  do {                                                                                \
    if (::urgent::rt::tracing()) {                                                    \
      ::urgent::rt::traceEmit(::urgent::tracefmt::Ev::ev __VA_OPT__(, ) __VA_ARGS__); \
    }                                                                                 \
  } while (0)

// The SIGURG handler's records (async-signal-safe): see TraceCtx::handler. type is
// kPreemptHandler (g, verdict) or kPreemptTrigger (g, trigger, outcome, deadline).
void traceHandlerEvent(tracefmt::Ev type, std::uint64_t a0, std::uint64_t a1,
                       std::uint64_t a2 = 0, std::uint64_t a3 = 0);
inline void traceHandlerVerdict(std::int64_t goid, std::uint8_t verdict) {
  traceHandlerEvent(tracefmt::Ev::kPreemptHandler, static_cast<std::uint64_t>(goid), verdict);
}

// sysmon's recorder (it binds it on its thread).
TraceCtx* sysmon_trace_ctx();

// urgent::run: URGENT_TRACE starts before goroutine 1 exists (empty path: not asked for),
// with URGENT_TRACE_MEM bytes of buffers; trace_run_end stops any trace or flight recorder
// still on, once every M has left its loop.
void trace_run_start(const char* path, std::size_t max_memory, std::int32_t gomaxprocs);
void trace_run_end();

}  // namespace urgent::rt
