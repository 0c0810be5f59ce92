// runtime/trace.cc: the execution tracer and the flight recorder (Go's trace.go and
// tracebuf; Go 1.25's flightrecorder). The format is in trace_format.h.
//
// Design and invariants:
// - Every thread that records events owns a TraceCtx (M::trace for Ms, one for sysmon; a
//   shared one under a lock for any other thread) and fills its own buffer: no atomic
//   read-modify-write, no lock, no shared cache line on the fast path. A buffer holds one
//   batch chunk, ready to be written as is.
// - A full buffer goes, under `tracer.lock`, to the writer thread's queue (trace file) or
//   to the ring (flight recorder), and a free one comes back. Memory is bounded by
//   max_memory: when no buffer is free and none may be allocated, events are dropped and
//   counted in the thread's TraceCtx; the next event written records a Lost event with the
//   count, and the file's End chunk has the total. Nothing is dropped silently.
// - Timestamps are CPU ticks (RDTSC, when the TSC is invariant; else CLOCK_MONOTONIC): one
//   instruction, no system call. Clock chunks pair ticks with CLOCK_MONOTONIC, so readers
//   convert to the kernel's clock.
// - Stopping or snapshotting takes the threads' buffers while they may be recording. Each
//   thread makes TraceCtx::seq odd while it records and checks trace_state after that;
//   the stopper changes trace_state, then runs membarrier(2), which turns every thread's
//   compiler barrier into a full one, then waits until each seq is even. After that no
//   thread touches its buffer until trace_state is kOn again (Dekker's pattern, with the
//   cost of the fence on the rare side).
// - The SIGURG handler records like an event (seq odd, then trace_state) when it
//   interrupted its thread outside the recorder and the buffer has room; it never takes
//   tracer.lock. Otherwise (inside an event, or a buffer to refill) it leaves its record in
//   TraceCtx::handler, written by the thread's next event or by its next handler run.
// - Lock order: tracer.lock is a leaf (events are recorded under sched.lock); api_lock
//   (start, stop, snapshot) is taken before anything and never while recording.
#include "trace.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>

#include "cpu.h"
#include "lock.h"
#include "log.h"
#include "observe.h"
#include "panic.h"
#include "proc.h"
#include "runtime2.h"
#include "urgent/mutex.h"
#include "urgent/trace.h"

namespace urgent::rt {

std::atomic<std::uint8_t> trace_state{0};

using tracefmt::Chunk;
using tracefmt::Ev;

struct TraceBuf {
  TraceBuf* next = nullptr;
  std::uint64_t last_ticks = 0;  // its newest event (the flight recorder's window)
  std::uint64_t nevents = 0;
  std::size_t len = 0;  // bytes used in data
  std::size_t cap = 0;
  unsigned char* data = nullptr;
};

namespace {

enum State : std::uint8_t { kOff = 0, kOn = 1, kPaused = 2 };
enum class Mode { kNone, kFile, kFlight };

constexpr std::size_t kBatchPrefix = 5;  // chunk kind and length
constexpr std::size_t kMinBuffer = 1024;
constexpr std::int64_t kClockSyncPeriodNs = 100'000'000;

struct ClockSync {
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;       // CLOCK_MONOTONIC
  std::int64_t boot_ns = 0;  // CLOCK_BOOTTIME (Perfetto's default clock)
};

std::int64_t boottime() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

struct Tracer {
  Mutex lock;
  Mode mode GUARDED_BY(lock) = Mode::kNone;
  std::size_t buf_bytes GUARDED_BY(lock) = 0;
  std::size_t max_bufs GUARDED_BY(lock) = 0;
  std::size_t nbufs GUARDED_BY(lock) = 0;  // allocated
  TraceBuf* free_list GUARDED_BY(lock) = nullptr;
  std::deque<TraceBuf*> full GUARDED_BY(lock);  // file: waiting for the writer
  std::deque<TraceBuf*> ring GUARDED_BY(lock);  // flight recorder: oldest first
  std::uint64_t window_ticks GUARDED_BY(lock) = 0;
  std::uint64_t dropped GUARDED_BY(lock) = 0;  // lost events already collected
  // The writer thread (file mode).
  int fd = -1;
  pthread_t writer{};
  std::atomic<std::uint32_t> writer_seq{0};  // futex word: bumped when there is work
  std::atomic<bool> writer_stop{false};
  std::uint64_t events = 0, bytes = 0, batches = 0;  // [writer thread; read after join]
  std::string error;                                 // [writer thread; read after join]
  // [const while on]
  bool use_tsc = false;
  // Two clock syncs 1 ms apart when recording started: every trace can convert its ticks,
  // even one cut short before the writer's first periodic sync.
  ClockSync start_sync[2];
};

Tracer tracer;
// Serializes start, stop and snapshots: an urgent::Mutex, so that a goroutine waiting for
// it parks instead of blocking its M (the holder may stop the world, which needs every P,
// the waiter's too). A caller that is not a goroutine (urgent::run's start and end, a plain
// thread calling stop) waits for it with SpinBackoff.
class CAPABILITY("mutex") ApiLock {
 public:
  void lock() ACQUIRE() {
    if (getg() != nullptr) {
      mu_.lock();
      return;
    }
    for (SpinBackoff backoff; !mu_.try_lock();) backoff.wait();
  }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  urgent::Mutex mu_;
};
ApiLock api_lock;
using ApiGuard = LockGuardOf<ApiLock>;
TraceCtx sysmon_ctx;
std::atomic<std::uint64_t> unbound_lost{0};  // events from a thread with no TraceCtx
thread_local TraceCtx* tls_trace = nullptr;
bool membarrier_private = false;      // registered for MEMBARRIER_CMD_PRIVATE_EXPEDITED
std::int32_t procs_at_run_start = 0;  // GOMAXPROCS before procresize set gomaxprocs_now

std::uint64_t ticks() {
  return tracer.use_tsc ? arch::cputicks() : static_cast<std::uint64_t>(nanotime());
}

// Ticks and CLOCK_MONOTONIC read back to back: the pair with the smallest gap of a few.
ClockSync clock_sync() {
  ClockSync best;
  std::uint64_t best_gap = ~0ull;
  for (int i = 0; i < 5; i++) {
    std::uint64_t t1 = ticks();
    std::int64_t ns = nanotime();
    std::uint64_t t2 = ticks();
    if (t2 - t1 < best_gap) {
      best_gap = t2 - t1;
      best = {t1 + (t2 - t1) / 2, ns, 0};
    }
  }
  // (Only converters need it, to anchor Perfetto's clock: monotonic time suffices.)
  best.boot_ns = boottime() - (nanotime() - best.ns);
  return best;
}

std::string clock_chunk(const ClockSync& s) {
  std::string p;
  tracefmt::append_uvarint(&p, s.ticks);
  tracefmt::append_uvarint(&p, static_cast<std::uint64_t>(s.ns));
  tracefmt::append_uvarint(&p, static_cast<std::uint64_t>(s.boot_ns));
  return tracefmt::chunk(Chunk::kClock, p);
}

std::string start_clock_chunks() {
  return clock_chunk(tracer.start_sync[0]) + clock_chunk(tracer.start_sync[1]);
}

std::string info_chunk(bool flight) {
  std::string p;
  tracefmt::append_uvarint(&p, static_cast<std::uint64_t>(getpid()));
  std::int32_t procs = gomaxprocs_now.load();
  tracefmt::append_uvarint(&p, static_cast<std::uint64_t>(procs != 0 ? procs : procs_at_run_start));
  tracefmt::append_uvarint(&p, tracer.use_tsc ? 0 : 1);
  tracefmt::append_uvarint(&p, flight ? 1 : 0);
  constexpr int kReasons = static_cast<int>(WaitReason::kIOWait) + 1;
  tracefmt::append_uvarint(&p, kReasons);
  for (int i = 0; i < kReasons; i++) {
    const char* name = wait_reason_string(static_cast<WaitReason>(i));
    tracefmt::append_uvarint(&p, std::strlen(name));
    p += name;
  }
  return tracefmt::chunk(Chunk::kInfo, p);
}

std::string end_chunk(std::uint64_t dropped, std::uint64_t batches) {
  std::string p;
  tracefmt::append_uvarint(&p, dropped);
  tracefmt::append_uvarint(&p, batches);
  return tracefmt::chunk(Chunk::kEnd, p);
}

// Writes all of s; returns false with errno set on failure.
bool write_all(int fd, const char* s, std::size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// ---- buffers ----

void finish(TraceBuf* b, const TraceCtx* ctx) {
  tracefmt::put_u32le(b->data + 1, static_cast<std::uint32_t>(b->len - kBatchPrefix));
  b->last_ticks = ctx->last_ticks;
}

void free_buf(TraceBuf* b) REQUIRES(tracer.lock) {
  b->next = tracer.free_list;
  tracer.free_list = b;
}

// The flight recorder forgets batches that ended before the window.
void trim_ring(std::uint64_t now) REQUIRES(tracer.lock) {
  while (!tracer.ring.empty() && tracer.ring.front()->last_ticks + tracer.window_ticks < now) {
    free_buf(tracer.ring.front());
    tracer.ring.pop_front();
  }
}

// Hands a finished buffer on: to the writer, or to the ring.
void retire(TraceBuf* b) REQUIRES(tracer.lock) {
  if (b->nevents == 0) {
    free_buf(b);
  } else if (tracer.mode == Mode::kFile) {
    tracer.full.push_back(b);
  } else {
    tracer.ring.push_back(b);
  }
}

void wake_writer() {
  tracer.writer_seq.fetch_add(1, std::memory_order_release);
  futex_wake(&tracer.writer_seq, 1);
}

// A free buffer with a batch header for ctx's thread, based at t; null if memory is used up.
TraceBuf* get_buf(TraceCtx* ctx, std::uint64_t t) REQUIRES(tracer.lock) {
  TraceBuf* b = tracer.free_list;
  if (b != nullptr) {
    tracer.free_list = b->next;
  } else if (tracer.nbufs < tracer.max_bufs) {
    b = new TraceBuf;
    b->cap = tracer.buf_bytes;
    b->data = new unsigned char[b->cap];
    tracer.nbufs++;
  } else if (tracer.mode == Mode::kFlight && !tracer.ring.empty()) {
    b = tracer.ring.front();  // the oldest events make room
    tracer.ring.pop_front();
  } else {
    return nullptr;
  }
  b->next = nullptr;
  b->nevents = 0;
  unsigned char* p = b->data;
  *p++ = static_cast<unsigned char>(Chunk::kBatch);
  p += 4;  // length, set by finish
  p = tracefmt::put_uvarint(p, static_cast<std::uint64_t>(ctx->mid + 1));
  p = tracefmt::put_uvarint(p, static_cast<std::uint64_t>(ctx->tid));
  p = tracefmt::put_uvarint(p, t);
  b->len = static_cast<std::size_t>(p - b->data);
  ctx->last_ticks = t;
  return b;
}

// reserve's slow path: retires ctx's full buffer and takes another.
[[gnu::noinline]] bool refill(TraceCtx* ctx, std::uint64_t t) {
  // Not before the thread's last event: the SIGURG handler may have recorded one directly
  // after this event read the clock and before it entered the recorder.
  t = std::max(t, ctx->last_ticks);
  TraceBuf* b = ctx->buf;
  bool wake = false;
  {
    LockGuard lock(tracer.lock);
    if (b != nullptr) {
      finish(b, ctx);
      retire(b);
      wake = tracer.mode == Mode::kFile;
    }
    if (tracer.mode == Mode::kFlight) trim_ring(t);
    ctx->buf = get_buf(ctx, t);
  }
  if (wake) wake_writer();
  return ctx->buf != nullptr;
}

// Room for two events (a Lost record, then the event) in ctx's buffer.
[[gnu::always_inline]] inline bool reserve(TraceCtx* ctx, std::uint64_t t) {
  TraceBuf* b = ctx->buf;
  if (b != nullptr && b->len + 2 * tracefmt::kMaxEventBytes <= b->cap) [[likely]]
    return true;
  return refill(ctx, t);
}

[[gnu::always_inline]] inline void put(TraceCtx* ctx, const tracefmt::Event& e) {
  TraceBuf* b = ctx->buf;
  std::uint64_t t = std::max(e.ticks, ctx->last_ticks);
  unsigned char* p = tracefmt::put_event(b->data + b->len, e, t - ctx->last_ticks);
  b->len = static_cast<std::size_t>(p - b->data);
  b->nevents++;
  ctx->last_ticks = t;
}

// Writes the SIGURG handler's waiting records into ctx's buffer; the ones the handler
// could not even queue become part of the Lost count.
[[gnu::noinline]] void put_handler_records(TraceCtx* ctx) {
  ctx->lost += ctx->handler_lost.exchange(0, std::memory_order_relaxed);
  std::uint32_t t = ctx->handler_tail.load(std::memory_order_relaxed);
  std::uint32_t h = ctx->handler_head.load(std::memory_order_acquire);
  for (; t != h; t++) {
    const TraceCtx::HandlerRecord& r = ctx->handler[t % TraceCtx::kHandlerSlots];
    if (!reserve(ctx, r.ticks)) {
      ctx->lost++;
      continue;
    }
    put(ctx, {r.type, r.ticks, {r.args[0], r.args[1], r.args[2], r.args[3]}});
  }
  ctx->handler_tail.store(t, std::memory_order_release);  // the slots are free again
}

bool handler_records_waiting(const TraceCtx* ctx) {
  return ctx->handler_head.load(std::memory_order_acquire) !=
         ctx->handler_tail.load(std::memory_order_relaxed);
}

// Records e in ctx's buffer, after the Lost count and the handler's record if any. The
// caller is ctx's thread inside seq, or the stopper once the thread is out. A handler
// record newer than e (the handler ran after e's ticks were read) moves e to its time.
[[gnu::always_inline]] inline void record(TraceCtx* ctx, const tracefmt::Event& e) {
  if (handler_records_waiting(ctx)) [[unlikely]]
    put_handler_records(ctx);
  if (!reserve(ctx, e.ticks)) [[unlikely]] {
    ctx->lost++;
    return;
  }
  if (ctx->lost != 0) [[unlikely]] {
    put(ctx, {Ev::kLost, e.ticks, {ctx->lost, 0, 0, 0}});
    ctx->lost_recorded += ctx->lost;
    ctx->lost = 0;
  }
  put(ctx, e);
}

// ---- stopping the threads' recording ----

template <class F>
void for_each_ctx(F f) {
  for (M* mp = sched.allm.load(); mp != nullptr; mp = mp->alllink) f(&mp->trace);
  f(&sysmon_ctx);
}

// trace_state has just left kOn: waits until no thread is inside an event (see the file
// comment), then folds each thread's handler records into its buffer.
void quiesce() {
  if (syscall(SYS_membarrier,
              membarrier_private ? MEMBARRIER_CMD_PRIVATE_EXPEDITED : MEMBARRIER_CMD_GLOBAL, 0,
              0) != 0) {
    fatal("trace: membarrier: %s", std::strerror(errno));
  }
  for_each_ctx([](TraceCtx* ctx) {
    while (ctx->seq.load(std::memory_order_acquire) & 1) sched_yield();
    if (handler_records_waiting(ctx)) put_handler_records(ctx);
  });
}

// Takes every thread's partial buffer (quiesced) and retires it; collects the lost counts.
void collect_buffers() {
  for_each_ctx([](TraceCtx* ctx) {
    LockGuard lock(tracer.lock);
    if (TraceBuf* b = ctx->buf) {
      finish(b, ctx);
      retire(b);
      ctx->buf = nullptr;
    }
    tracer.dropped += ctx->handler_lost.exchange(0);
  });
}

void collect_lost() {
  for_each_ctx([](TraceCtx* ctx) {
    LockGuard lock(tracer.lock);
    tracer.dropped += ctx->lost + ctx->lost_recorded;
    ctx->lost = ctx->lost_recorded = 0;
  });
  LockGuard lock(tracer.lock);
  tracer.dropped += unbound_lost.exchange(0);
}

void free_all() REQUIRES(tracer.lock) {
  auto release = [](TraceBuf* b) {
    delete[] b->data;
    delete b;
  };
  while (TraceBuf* b = tracer.free_list) {
    tracer.free_list = b->next;
    release(b);
  }
  for (TraceBuf* b : tracer.full) release(b);
  for (TraceBuf* b : tracer.ring) release(b);
  tracer.full.clear();
  tracer.ring.clear();
  tracer.nbufs = 0;
  tracer.mode = Mode::kNone;
}

// ---- the writer thread (file mode) ----

void* writer_main(void*) {
  std::int64_t last_sync = nanotime();
  for (;;) {
    std::uint32_t seq = tracer.writer_seq.load(std::memory_order_acquire);
    // Read before taking the queue: stop_file queues the last buffers, then sets it.
    bool stopping = tracer.writer_stop.load();
    std::deque<TraceBuf*> todo;
    {
      LockGuard lock(tracer.lock);
      todo.swap(tracer.full);
    }
    if (nanotime() - last_sync >= kClockSyncPeriodNs) {
      last_sync = nanotime();
      std::string c = clock_chunk(clock_sync());
      if (tracer.error.empty() && !write_all(tracer.fd, c.data(), c.size())) {
        tracer.error = std::strerror(errno);
      }
    }
    for (TraceBuf* b : todo) {
      if (tracer.error.empty() && write_all(tracer.fd, reinterpret_cast<char*>(b->data), b->len)) {
        tracer.events += b->nevents;
        tracer.bytes += b->len;
        tracer.batches++;
      } else {
        if (tracer.error.empty()) tracer.error = std::strerror(errno);
        LockGuard lock(tracer.lock);
        tracer.dropped += b->nevents;
      }
      LockGuard lock(tracer.lock);
      free_buf(b);
    }
    if (!todo.empty()) continue;
    if (stopping) return nullptr;
    futex_sleep(&tracer.writer_seq, seq, kClockSyncPeriodNs);
  }
}

bool check_options(std::size_t buffer_bytes, std::size_t max_memory, std::string* error) {
  if (buffer_bytes < kMinBuffer || buffer_bytes > (1u << 30)) {
    *error = "buffer_bytes must be between 1 KiB and 1 GiB";
    return false;
  }
  if (max_memory < buffer_bytes) {
    *error = "max_memory must hold at least one buffer";
    return false;
  }
  return true;
}

// Common start: the ring or the writer's state, the clock. Caller holds api_lock.
void setup(Mode mode, std::size_t buffer_bytes, std::size_t max_memory) {
  if (!membarrier_private) {
    membarrier_private =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }
  // A handler that saw the last trace on may have left a record after it was collected.
  for_each_ctx([](TraceCtx* ctx) {
    ctx->handler_tail.store(ctx->handler_head.load(std::memory_order_acquire));
  });
  tracer.use_tsc = arch::cputicks_invariant();
  tracer.start_sync[0] = clock_sync();
  usleep(1000);
  tracer.start_sync[1] = clock_sync();
  LockGuard lock(tracer.lock);
  tracer.mode = mode;
  tracer.buf_bytes = buffer_bytes;
  tracer.max_bufs = max_memory / buffer_bytes;
  tracer.dropped = 0;
}

// Turns recording on. From a goroutine: the world is stopped meanwhile, and every live
// goroutine's state is recorded first (GoStatus), with the caller's P (ProcStart).
void turn_on() {
  M* mp = getm();
  if (mp == nullptr || mp->curg == nullptr) {  // urgent::run is starting: no goroutine yet
    trace_state.store(kOn);
    return;
  }
  stopTheWorldAndRun(0, [] {
    trace_state.store(kOn);
    M* self = getm();
    URGENT_TRACE_EVENT(kProcStart, self->p->id);
    for (std::int64_t i = 0, n = allglen(); i < n; i++) {
      G* gp = allg_at(i);
      std::uint32_t s = gp->atomicstatus.load(std::memory_order_acquire);
      if (s == kGdead || s == kGidle) continue;
      URGENT_TRACE_EVENT(kGoStatus, gp->goid, s, static_cast<int>(gp->waitreason));
    }
  });
}

bool in_goroutine(const char* what, std::string* error) {
  M* mp = getm();
  if (mp != nullptr && mp->curg != nullptr) return true;
  if (error != nullptr) *error = std::string(what) + " must be called from a goroutine";
  return false;
}

trace::Stats stop_file() REQUIRES(api_lock) {
  trace_state.store(kOff);
  quiesce();
  collect_buffers();
  collect_lost();
  tracer.writer_stop.store(true);
  wake_writer();
  join_helper_thread(tracer.writer);
  trace::Stats st;
  {
    LockGuard lock(tracer.lock);
    st.dropped = tracer.dropped;
    free_all();
  }
  std::string tail =
      observe_trace_chunk() + clock_chunk(clock_sync()) + end_chunk(st.dropped, tracer.batches);
  if (tracer.error.empty() && !write_all(tracer.fd, tail.data(), tail.size())) {
    tracer.error = std::strerror(errno);
  }
  if (close(tracer.fd) != 0 && tracer.error.empty()) tracer.error = std::strerror(errno);
  tracer.fd = -1;
  st.events = tracer.events;
  st.bytes = tracer.bytes + tail.size();
  st.batches = tracer.batches;
  st.error = tracer.error;
  return st;
}

void stop_flight() REQUIRES(api_lock) {
  trace_state.store(kOff);
  quiesce();
  collect_buffers();
  collect_lost();
  LockGuard lock(tracer.lock);
  free_all();
}

Mode current_mode() {
  LockGuard lock(tracer.lock);
  return tracer.mode;
}

// The events of a finished batch at or after cutoff, re-based, as a batch chunk (empty if
// none). Adds the events kept to *events and their Lost counts to *lost.
std::string trim_batch(const TraceBuf* b, std::uint64_t cutoff, std::uint64_t* events,
                       std::uint64_t* lost) {
  const unsigned char* p = b->data + kBatchPrefix;
  const unsigned char* end = b->data + b->len;
  tracefmt::BatchHeader h;
  if (!tracefmt::get_batch_header(&p, end, &h)) return {};
  std::string out;
  unsigned char buf[tracefmt::kMaxEventBytes];
  std::uint64_t t = h.base, prev = 0;
  tracefmt::Event e;
  while (p < end && tracefmt::get_event(&p, end, &t, &e)) {
    if (e.ticks < cutoff) continue;
    if (out.empty()) {
      tracefmt::append_uvarint(&out, h.m1);
      tracefmt::append_uvarint(&out, h.tid);
      tracefmt::append_uvarint(&out, e.ticks);
      prev = e.ticks;
    }
    out.append(reinterpret_cast<char*>(buf), tracefmt::put_event(buf, e, e.ticks - prev) - buf);
    prev = e.ticks;
    ++*events;
    if (e.type == Ev::kLost) *lost += e.args[0];
  }
  return out.empty() ? out : tracefmt::chunk(Chunk::kBatch, out);
}

}  // namespace

// record() for the SIGURG handler, which interrupted its thread outside the recorder (seq
// was even, now odd): false, recording nothing, if the buffer lacks room for the waiting
// handler records, a Lost record and e (making room takes tracer.lock, which the
// interrupted thread may hold).
bool record_in_handler(TraceCtx* ctx, const tracefmt::Event& e) {
  TraceBuf* b = ctx->buf;
  std::uint32_t waiting = ctx->handler_head.load(std::memory_order_relaxed) -
                          ctx->handler_tail.load(std::memory_order_relaxed);
  if (b == nullptr || b->len + (waiting + 2) * tracefmt::kMaxEventBytes > b->cap) return false;
  record(ctx, e);  // cannot refill: reserve finds room for every record
  return true;
}

void trace_bind_thread(TraceCtx* ctx, std::int64_t mid, pid_t tid) {
  if (ctx != nullptr) {
    ctx->mid = mid;
    ctx->tid = tid;
  }
  tls_trace = ctx;
}

void traceEventSlow(Ev ev, std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  TraceCtx* ctx = tls_trace;
  if (ctx == nullptr) {  // not an M nor sysmon: cannot happen, but would not go unseen
    if (trace_state.load(std::memory_order_relaxed) != kOff) unbound_lost.fetch_add(1);
    return;
  }
  std::uint32_t seq = ctx->seq.load(std::memory_order_relaxed);
  ctx->seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);  // a full fence once membarrier runs
  // Acquire (a plain MOV on x86): the stopper's changes to ctx (a buffer taken, the lost
  // counts) happen before the kOn it stores last.
  std::uint8_t st = trace_state.load(std::memory_order_acquire);
  if (st == kOn) {
    record(ctx, {ev, ticks(), {a, b, c, d}});
  } else if (st == kPaused) {
    ctx->lost++;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ctx->seq.store(seq + 2, std::memory_order_release);
}

void traceHandlerEvent(Ev type, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2,
                       std::uint64_t a3) {
  TraceCtx* ctx = tls_trace;
  if (ctx == nullptr) return;
  std::uint64_t t = ticks();
  std::uint8_t st;
  std::uint32_t seq = ctx->seq.load(std::memory_order_relaxed);
  if ((seq & 1) == 0) {  // outside the recorder: record as an event would (traceEventSlow)
    ctx->seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    st = trace_state.load(std::memory_order_acquire);  // (as in traceEventSlow)
    bool recorded =
        st == kOn &&
        record_in_handler(ctx, {type, t, {a0, a1, a2, a3}});
    std::atomic_signal_fence(std::memory_order_seq_cst);
    ctx->seq.store(seq + 2, std::memory_order_release);
    if (recorded) return;
  } else {
    st = trace_state.load(std::memory_order_relaxed);
  }
  if (st != kOn) {
    if (st == kPaused) ctx->handler_lost.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::uint32_t h = ctx->handler_head.load(std::memory_order_relaxed);
  if (h - ctx->handler_tail.load(std::memory_order_acquire) == TraceCtx::kHandlerSlots) {
    ctx->handler_lost.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ctx->handler[h % TraceCtx::kHandlerSlots] = {t, type, {a0, a1, a2, a3}};
  ctx->handler_head.store(h + 1, std::memory_order_release);
}

TraceCtx* sysmon_trace_ctx() {
  return &sysmon_ctx;
}

}  // namespace urgent::rt

namespace urgent::trace {

using namespace rt;

namespace {

// Starts a trace file; from a goroutine, or from urgent::run before goroutine 1 exists.
bool start_file(const std::string& path, const Options& options, std::string* error) {
  ApiGuard api(api_lock);
  if (current_mode() != Mode::kNone) {
    *error = "a trace or flight recorder is already on";
    return false;
  }
  if (!check_options(options.buffer_bytes, options.max_memory, error)) return false;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "open " + path + ": " + std::strerror(errno);
    return false;
  }
  setup(Mode::kFile, options.buffer_bytes, options.max_memory);
  std::string head = tracefmt::header() + info_chunk(false) + start_clock_chunks();
  if (!write_all(fd, head.data(), head.size())) {
    *error = "write " + path + ": " + std::strerror(errno);
    close(fd);
    LockGuard lock(tracer.lock);
    free_all();
    return false;
  }
  tracer.fd = fd;
  tracer.events = tracer.batches = 0;
  tracer.bytes = head.size();
  tracer.error.clear();
  tracer.writer_stop.store(false);
  int err = start_helper_thread(&tracer.writer, writer_main, nullptr);
  if (err != 0) fatal("trace: cannot start the writer thread: %s", std::strerror(err));
  turn_on();
  return true;
}

}  // namespace

bool start(const std::string& path, const Options& options, std::string* error) {
  std::string why;
  if (error == nullptr) error = &why;
  return in_goroutine("urgent::trace::start", error) && start_file(path, options, error);
}

Stats stop() {
  ApiGuard api(api_lock);
  if (current_mode() != Mode::kFile) return {};
  return stop_file();
}

bool active() {
  return trace_state.load(std::memory_order_relaxed) != 0;
}

bool start_flight_recorder(const FlightRecorderOptions& options, std::string* error) {
  std::string why;
  if (error == nullptr) error = &why;
  if (!in_goroutine("urgent::trace::start_flight_recorder", error)) return false;
  ApiGuard api(api_lock);
  if (current_mode() != Mode::kNone) {
    *error = "a trace or flight recorder is already on";
    return false;
  }
  if (options.window.count() <= 0) {
    *error = "the window must be positive";
    return false;
  }
  if (!check_options(options.buffer_bytes, options.max_memory, error)) return false;
  setup(Mode::kFlight, options.buffer_bytes, options.max_memory);
  {
    const ClockSync* s = tracer.start_sync;
    double per_ns =
        static_cast<double>(s[1].ticks - s[0].ticks) / static_cast<double>(s[1].ns - s[0].ns);
    LockGuard lock(tracer.lock);
    tracer.window_ticks = static_cast<std::uint64_t>(per_ns * options.window.count());
  }
  turn_on();
  return true;
}

bool write_flight_recorder(const std::string& path, Stats* stats, std::string* error) {
  std::string why;
  if (error == nullptr) error = &why;
  ApiGuard api(api_lock);
  if (current_mode() != Mode::kFlight) {
    *error = "no flight recorder is on";
    return false;
  }
  trace_state.store(kPaused);
  quiesce();
  std::uint64_t now = ticks();
  ClockSync sync = clock_sync();
  collect_buffers();
  trace_state.store(kOn);
  Stats st;
  std::string out = tracefmt::header() + info_chunk(true) + start_clock_chunks();
  {
    LockGuard lock(tracer.lock);
    std::uint64_t cutoff = now > tracer.window_ticks ? now - tracer.window_ticks : 0;
    trim_ring(now);
    for (TraceBuf* b : tracer.ring) {
      std::string c = trim_batch(b, cutoff, &st.events, &st.dropped);
      if (!c.empty()) st.batches++;
      out += c;
    }
  }
  out += clock_chunk(sync) + end_chunk(st.dropped, st.batches);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write_all(fd, out.data(), out.size());
  if (!ok) *error = (fd < 0 ? "open " : "write ") + path + ": " + std::strerror(errno);
  if (fd >= 0 && close(fd) != 0 && ok) {
    ok = false;
    *error = "close " + path + ": " + std::strerror(errno);
  }
  st.bytes = ok ? out.size() : 0;
  if (stats != nullptr) *stats = st;
  return ok;
}

void stop_flight_recorder() {
  ApiGuard api(api_lock);
  if (current_mode() == Mode::kFlight) stop_flight();
}

}  // namespace urgent::trace

namespace urgent::rt {

void trace_run_start(const char* path, std::size_t max_memory, std::int32_t gomaxprocs) {
  if (path == nullptr || *path == '\0') return;
  procs_at_run_start = gomaxprocs;
  std::string error;
  if (!trace::start_file(path, {.buffer_bytes = 64 << 10, .max_memory = max_memory}, &error)) {
    std::fprintf(stderr, "urgent: URGENT_TRACE=%s: %s (not tracing)\n", path, error.c_str());
  }
}

void trace_run_end() {
  Mode mode = current_mode();
  if (mode == Mode::kFlight) trace::stop_flight_recorder();
  if (mode != Mode::kFile) return;
  trace::Stats st = trace::stop();
  if (st.dropped != 0 || !st.error.empty()) {
    std::fprintf(stderr, "urgent: trace: %llu events written, %llu dropped%s%s\n",
                 static_cast<unsigned long long>(st.events),
                 static_cast<unsigned long long>(st.dropped), st.error.empty() ? "" : ": ",
                 st.error.c_str());
  }
}

}  // namespace urgent::rt
