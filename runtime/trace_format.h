// runtime/trace_format.h: urgent's execution trace format (version 1), shared by the
// runtime's writer (trace.cc) and its readers (urgent-trace, the tests).
//
// A trace file is a header followed by chunks. All integers in chunks are unsigned LEB128
// varints unless said otherwise.
//
//   header  "URGTRACE" (8 bytes), version (u32 little-endian), 0 (u32)
//   chunk   kind (1 byte), payload length (u32 little-endian), payload
//
// Chunk kinds:
//   kInfo   pid, gomaxprocs when tracing started, ticks clock (0 TSC, 1 CLOCK_MONOTONIC),
//           flags (bit 0: flight recorder), then the wait-reason names: count, then for
//           each a length and the bytes (GoBlock's reason indexes this table; the names
//           are those goroutine dumps print).
//   kClock  ticks, CLOCK_MONOTONIC ns, CLOCK_BOOTTIME ns (for converters whose format
//           wants it), taken back to back: the reader maps event ticks to
//           CLOCK_MONOTONIC nanoseconds (the clock bpf_ktime_get_ns reads) by linear
//           interpolation between the two nearest syncs (extrapolating past the ends). At
//           least two per trace (start and end).
//   kBatch  the events one thread recorded into one buffer: M id + 1 (0: sysmon), kernel
//           thread id, base ticks, then events until the end of
//           the payload. An event is its type (1 byte), its tick delta from the previous
//           event of the batch (the first from the base), then its arguments (kEventSpecs
//           gives how many and their names). Batches of one thread are in order; batches
//           of different threads interleave arbitrarily: readers sort by time.
//   kEnd    events dropped in the whole trace (no buffer was free, or the recorder was
//           paused), batches written. A trace without kEnd was cut short (the program died).
//   kKernel (optional, URGENT_BPF=1) the kernel's view of the same threads from the eBPF
//           observers, in bpf/observations.h's encoding (fixed-size little-endian records,
//           CLOCK_MONOTONIC ns): off-CPU intervals, system calls, SIGURG deliveries, per-
//           thread totals, histograms, counters. Written just before kEnd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace urgent::tracefmt {

inline constexpr char kMagic[8] = {'U', 'R', 'G', 'T', 'R', 'A', 'C', 'E'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 16;

enum class Chunk : std::uint8_t { kInfo = 1, kClock = 2, kBatch = 3, kEnd = 4, kKernel = 5 };

// Event types. Goroutine ids (g) are urgent's goids; p is a P id; tid a kernel thread id.
// The emitting thread (M, tid) is the batch's.
enum class Ev : std::uint8_t {
  kGoCreate = 1,         // g, parent g: urgent::go queued a new goroutine (runnable)
  kGoStart = 2,          // g, p, local runq length, global runq length: g runs on this M
  kGoEnd = 3,            // g: it returned
  kGoSched = 4,          // g: it yielded (urgent::gosched); runnable, global queue
  kGoPreempt = 5,        // g, kind (PreemptKind): it yielded because sysmon asked
  kGoBlock = 6,          // g, reason (index in kInfo's table): it parked
  kGoUnblock = 7,        // g, by g (0: none): it was made runnable on this M's P
  kGoSysCall = 8,        // g: urgent::blocking entered a system call; its P stays attached
  kGoSysBlock = 9,       // g, p, tid: p was handed off from the call of g on thread tid
  kGoSysExit = 10,       // g, path (SysExitPath): the call returned
  kProcStart = 11,       // p: this M acquired p
  kProcStop = 12,        // p: this M released p
  kSteal = 13,           // p, victim p, n: p took n goroutines from victim
  kPreemptSignal = 14,   // tid, g: sysmon sent SIGURG to thread tid running g
  kPreemptHandler = 15,  // g, verdict (PreemptVerdict): the SIGURG handler ran on this M
  kSysmonTick = 16,      // Ps retaken, goroutines preempted: a sysmon tick that acted
  kGoStatus = 17,        // g, status (Go's _G* numbers), reason: g's state when tracing began
  kLost = 18,            // n: this thread dropped n events before this point
  // tid, ns, runnable (0/1): the M on thread tid, holding a P, was off the CPU ns outside
  // urgent::blocking (goroutines were runnable meanwhile); sysmon reports it once it ended
  kUnwrappedBlock = 19,
  // g, trigger (TriggerKind), outcome (TriggerOutcome), deadline: the M's own preemption
  // trigger (URGENT_PREEMPT=timer|perf) fired on this M, running g (0: none); a kDue is
  // followed by the handler's PreemptHandler verdict. deadline: the instant the timer was
  // armed for (CLOCK_MONOTONIC ns; 0 for perf, whose period is on-CPU time)
  kPreemptTrigger = 20,
};
inline constexpr int kEvCount = 21;

enum class TriggerKind : std::uint8_t { kSysmon = 0, kTimer = 1, kPerf = 2 };
enum class TriggerOutcome : std::uint8_t {
  kDue = 0,    // g had its whole slice: preempting (or retrying a deferral)
  kEarly = 1,  // g started later than the slice the trigger was set for: set again for g's
  kIdle = 2,   // no goroutine running (the M schedules, sleeps, or g is in a system call)
};

enum class PreemptKind : std::uint8_t {
  kAsync = 0,          // at an async safe point, through the SIGURG trampoline
  kCooperative = 1,    // at a runtime call (the flag), no signal deferred first
  kAfterDeferred = 2,  // at a runtime call, after the handler deferred the signal
};
enum class SysExitPath : std::uint8_t { kOwnP = 0, kIdleP = 1, kNoP = 2 };
// The handler's verdict: 0 taken, else why it was deferred.
enum class PreemptVerdict : std::uint8_t {
  kSafe = 0,
  kRuntime = 1,   // the pc is urgent's own code (or the goroutine is switching)
  kLocks = 2,     // runtime locks held
  kDisabled = 3,  // NoPreempt scope
  kForeign = 4,   // pc outside the main executable (libc, vdso, ...), or in the PLT
  kStack = 5,     // not enough stack for the trampoline's frame
  kStale = 6,     // nothing to preempt: the goroutine already yielded, or none runs (goid 0)
  kSignal = 7,    // inside one of the program's signal handlers (its sigreturn needs this M)
};
inline constexpr int kVerdictCount = 8;

struct EventSpec {
  const char* name;
  int nargs;
  const char* args[4];
};

inline constexpr EventSpec kEventSpecs[kEvCount] = {
    {"?", 0, {}},
    {"GoCreate", 2, {"g", "parent"}},
    {"GoStart", 4, {"g", "p", "runq", "globrunq"}},
    {"GoEnd", 1, {"g"}},
    {"GoSched", 1, {"g"}},
    {"GoPreempt", 2, {"g", "kind"}},
    {"GoBlock", 2, {"g", "reason"}},
    {"GoUnblock", 2, {"g", "by"}},
    {"GoSysCall", 1, {"g"}},
    {"GoSysBlock", 3, {"g", "p", "tid"}},
    {"GoSysExit", 2, {"g", "path"}},
    {"ProcStart", 1, {"p"}},
    {"ProcStop", 1, {"p"}},
    {"Steal", 3, {"p", "victim", "n"}},
    {"PreemptSignal", 2, {"tid", "g"}},
    {"PreemptHandler", 2, {"g", "verdict"}},
    {"SysmonTick", 2, {"retaken", "preempted"}},
    {"GoStatus", 3, {"g", "status", "reason"}},
    {"Lost", 1, {"n"}},
    {"UnwrappedBlock", 3, {"tid", "ns", "runnable"}},
    {"PreemptTrigger", 4, {"g", "trigger", "outcome", "deadline"}},
};

inline constexpr const char* kPreemptKindNames[] = {"async", "cooperative", "after-deferred"};
inline constexpr const char* kSysExitPathNames[] = {"own-p", "idle-p", "no-p"};
inline constexpr const char* kTriggerNames[] = {"sysmon", "timer", "perf"};
inline constexpr const char* kTriggerOutcomeNames[] = {"due", "early", "idle"};
inline constexpr const char* kVerdictNames[kVerdictCount] = {
    "safe", "runtime", "locks", "disabled", "foreign", "stack", "stale", "signal"};

// The largest encoded event: type, delta and four arguments, 10 bytes per varint at most.
inline constexpr std::size_t kMaxEventBytes = 1 + 5 * 10;

// Appends v as a varint at p; returns the end.
inline unsigned char* put_uvarint(unsigned char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<unsigned char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<unsigned char>(v);
  return p;
}

inline void append_uvarint(std::string* out, std::uint64_t v) {
  unsigned char buf[10];
  out->append(reinterpret_cast<char*>(buf), put_uvarint(buf, v) - buf);
}

// Reads a varint from [*p, end): false if it runs past end or is longer than 10 bytes.
inline bool get_uvarint(const unsigned char** p, const unsigned char* end, std::uint64_t* v) {
  std::uint64_t x = 0;
  for (int shift = 0; shift < 70 && *p < end; shift += 7) {
    unsigned char b = *(*p)++;
    x |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *v = x;
      return true;
    }
  }
  return false;
}

inline void put_u32le(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

inline std::uint32_t get_u32le(const unsigned char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

// The file header.
inline std::string header() {
  std::string h(kMagic, sizeof kMagic);
  unsigned char v[8] = {};
  put_u32le(v, kVersion);
  h.append(reinterpret_cast<char*>(v), sizeof v);
  return h;
}

// A chunk: kind, length, payload.
inline std::string chunk(Chunk kind, const std::string& payload) {
  std::string c(1, static_cast<char>(kind));
  unsigned char len[4];
  put_u32le(len, static_cast<std::uint32_t>(payload.size()));
  c.append(reinterpret_cast<char*>(len), 4);
  return c + payload;
}

// One decoded event.
struct Event {
  Ev type;
  std::uint64_t ticks;
  std::uint64_t args[4];
};

// The fixed part of a batch payload: M id + 1 (0: sysmon), thread id, base ticks. On
// success *p points at the first event.
struct BatchHeader {
  std::uint64_t m1 = 0, tid = 0, base = 0;
};
inline bool get_batch_header(const unsigned char** p, const unsigned char* end, BatchHeader* h) {
  return get_uvarint(p, end, &h->m1) && get_uvarint(p, end, &h->tid) &&
         get_uvarint(p, end, &h->base);
}

// Decodes the event at *p (ticks accumulates the deltas: start it at the batch's base).
// False on a truncated event or an unknown type.
inline bool get_event(const unsigned char** p, const unsigned char* end, std::uint64_t* ticks,
                      Event* e) {
  if (*p >= end) return false;
  unsigned type = *(*p)++;
  if (type == 0 || type >= static_cast<unsigned>(kEvCount)) return false;
  e->type = static_cast<Ev>(type);
  std::uint64_t delta;
  if (!get_uvarint(p, end, &delta)) return false;
  *ticks += delta;
  e->ticks = *ticks;
  const EventSpec& spec = kEventSpecs[type];
  for (int i = 0; i < 4; i++) {
    e->args[i] = 0;
    if (i < spec.nargs && !get_uvarint(p, end, &e->args[i])) return false;
  }
  return true;
}

// Encodes e at p with the given tick delta; returns the end (at most kMaxEventBytes).
inline unsigned char* put_event(unsigned char* p, const Event& e, std::uint64_t delta) {
  *p++ = static_cast<unsigned char>(e.type);
  p = put_uvarint(p, delta);
  int n = kEventSpecs[static_cast<int>(e.type)].nargs;
  for (int i = 0; i < n; i++) p = put_uvarint(p, e.args[i]);
  return p;
}

}  // namespace urgent::tracefmt
