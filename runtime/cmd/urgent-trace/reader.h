// runtime/cmd/urgent-trace/reader.h: reads urgent's execution traces (runtime/trace_format.h)
// and checks them; shared by the urgent-trace tool and the tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "observations.h"
#include "trace_format.h"

namespace urgent::tracetool {

struct Event {
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;  // CLOCK_MONOTONIC
  std::int64_t m = 0;   // M id; -1 sysmon
  std::int64_t tid = 0;
  tracefmt::Ev type{};
  std::uint64_t args[4] = {};
};

struct Trace {
  std::int64_t pid = 0;
  int gomaxprocs = 0;
  bool tsc = false;                  // ticks are TSC cycles (else CLOCK_MONOTONIC ns)
  bool flight = false;               // a flight recorder's window: goroutines may predate it
  std::vector<std::string> reasons;  // wait reasons, by GoBlock's index
  std::vector<Event> events;         // in time order (ticks; a thread's own order on ties)
  bool complete = false;             // the End chunk was there
  std::uint64_t dropped = 0;         // End's count
  std::uint64_t end_batches = 0;     // End's count of the batches written
  std::uint64_t lost = 0;            // sum of Lost events
  std::uint64_t batches = 0;         // batch chunks in the file
  std::uint64_t backwards = 0;       // batches starting before their thread's previous ended
  std::size_t partial_at = 0;        // byte offset of a partial last chunk (0: none)
  std::size_t partial_bytes = 0;     // and how many bytes of it are there
  std::int64_t boottime_offset = 0;  // CLOCK_BOOTTIME - CLOCK_MONOTONIC when traced
  bool has_kernel = false;           // a kKernel chunk (URGENT_BPF=1) was there
  bpf::Observations kernel;          // what it holds

  std::string reason(std::uint64_t i) const;
};

// Parses a whole trace; false with *error on anything malformed (never a crash).
bool parse_trace(const std::string& bytes, Trace* t, std::string* error);
bool read_trace(const std::string& path, Trace* t, std::string* error);

// A goroutine's state, as the trace tells it.
enum class GState { kUnknown, kRunnable, kRunning, kWaiting, kSyscall, kDead };
const char* gstate_name(GState s);

// The goroutine whose state e changes (*g) and its new state; false for events that change
// no goroutine's state (P, steal, preemption signal and handler, sysmon, GoSysBlock, Lost).
bool transition(const Event& e, std::uint64_t* g, GState* to);

// Checks the trace's consistency: every thread's timestamps in order; each goroutine's
// events follow its state machine (created or seen once, started before it ends, ...); P
// ownership by Ms; every goroutine created in the trace starts before it ends; the End
// chunk is there and counts the batches the file holds (a trace cut short, by a crash or a
// full disk, is a problem). A flight recorder's window accepts goroutines first seen in any
// state; a trace that dropped events or was cut short is checked for order only. Returns
// one message per problem (empty: consistent); at most `limit`.
std::vector<std::string> validate(const Trace& t, std::size_t limit = 20);

// One line describing e (for `view` and error messages), time relative to t0.
std::string describe(const Trace& t, const Event& e, std::int64_t t0);

// s as the inside of a JSON string.
std::string json_escape(const std::string& s);

// Nearest-rank percentile of sorted values (q in [0, 1]); 0 for none.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double q);

}  // namespace urgent::tracetool
