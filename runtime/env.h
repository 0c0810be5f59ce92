// runtime/env.h: configuration from the environment, parsed once at urgent::run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "activation.h"
#include "trigger.h"

namespace urgent::rt {

// Go's forcePreemptNS: how long a goroutine may run before sysmon preempts it.
inline constexpr std::int64_t kDefaultTimesliceNs = 10'000'000;
inline constexpr std::int64_t kMinTimesliceNs = 10'000;          // 10 µs
inline constexpr std::int64_t kMaxTimesliceNs = 10'000'000'000;  // 10 s

// Execution-trace buffers (URGENT_TRACE_MEM).
inline constexpr std::size_t kDefaultTraceMem = std::size_t{64} << 20;
inline constexpr std::size_t kMinTraceMem = std::size_t{64} << 10;
inline constexpr std::size_t kMaxTraceMem = std::size_t{64} << 30;

struct Config {
  int gomaxprocs = 1;
  std::size_t stack_size = 0;
  std::string log_level = "off";
  std::int64_t timeslice_ns = kDefaultTimesliceNs;  // URGENT_TIMESLICE
  bool asyncpreemptoff = false;                     // GODEBUG=asyncpreemptoff=1
  int schedtrace_ms = 0;                            // GODEBUG=schedtrace=N (0: off)
  bool scheddetail = false;                         // GODEBUG=scheddetail=1
  std::string trace_path;                           // URGENT_TRACE (empty: no trace)
  std::size_t trace_mem = kDefaultTraceMem;         // URGENT_TRACE_MEM
  bool observe = false;                             // URGENT_BPF=1: the eBPF observers
  HandoffMode handoff = HandoffMode::kPoll;         // URGENT_HANDOFF (activation.h)
  PreemptTrigger trigger = PreemptTrigger::kSysmon;  // URGENT_PREEMPT (trigger.h)
};

// The default goroutine stack size: 256 KiB of address space (1 MiB under AddressSanitizer,
// whose redzones make frames larger). Only touched pages are committed.
std::size_t default_stack_size();

// GOMAXPROCS as Go reads it: a positive decimal integer. Returns nullopt for anything else
// (empty, zero, negative, junk, overflow), with *why saying what is wrong.
std::optional<int> parse_gomaxprocs(const char* s, std::string* why);

// A size with an optional unit: 65536, 64k, 64K, 64KiB, 64kb, 1m, 1MiB, 1g ... (powers of
// 1024). Returns nullopt on junk or overflow, with *why.
std::optional<std::size_t> parse_size(const char* s, std::string* why);

// A duration with a unit, as Go writes them: 10ms, 100us, 100µs, 50000ns, 1.5ms, 2s.
// Returns nanoseconds, or nullopt on junk, a missing unit or overflow, with *why.
std::optional<std::int64_t> parse_duration(const char* s, std::string* why);

// The GODEBUG settings urgent knows (Go's parsedebugvars): a comma-separated list of
// name=value with non-negative integer values; names urgent does not know are ignored, as Go
// ignores names it does not know.
struct Godebug {
  int asyncpreemptoff = 0;  // non-zero: no preemption signals
  int schedtrace = 0;       // print a SCHED line every N ms (0: never)
  int scheddetail = 0;      // with schedtrace: add the P, M and G lines
};

// Parses GODEBUG into *out (settings not named keep their values). A known name whose value
// is not a non-negative integer is skipped and the rest still applies; then it returns false,
// with *why naming the first such setting and *bad_value its value.
bool parse_godebug(const char* s, Godebug* out, std::string* why, std::string* bad_value);

// URGENT_HANDOFF's value: poll, perf, bpf or auto. nullopt for anything else, with *why.
std::optional<HandoffMode> parse_handoff(const char* s, std::string* why);

// URGENT_PREEMPT's value: sysmon, timer or perf. nullopt for anything else, with *why.
std::optional<PreemptTrigger> parse_trigger(const char* s, std::string* why);

// Reads GOMAXPROCS, URGENT_STACK, URGENT_LOG, URGENT_TIMESLICE, URGENT_TRACE(_MEM),
// URGENT_HANDOFF and GODEBUG;
// every invalid value prints one warning line to stderr naming the variable and the value used
// instead.
Config read_config();

// Number of CPUs in the affinity mask (Go's getproccount).
int getproccount();

}  // namespace urgent::rt
