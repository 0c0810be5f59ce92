// runtime/cmd/urgent-trace/analysis.h: what `urgent-trace summary` reports, like the
// profiles of `go tool trace`: scheduler latency, system calls, preemptions, time per
// goroutine state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "reader.h"

namespace urgent::tracetool {

struct GoroutineTimes {
  std::int64_t running = 0, runnable = 0, waiting = 0, syscall = 0;  // ns
  std::map<std::string, std::int64_t> waiting_by_reason;
  std::uint64_t preempt_async = 0, preempt_cooperative = 0, preempt_after_deferred = 0;
  std::uint64_t yields = 0;
};

struct Summary {
  std::int64_t duration_ns = 0;
  std::uint64_t events_by_type[tracefmt::kEvCount] = {};
  std::vector<std::int64_t> sched_latency_ns;  // runnable -> running, sorted
  std::vector<std::int64_t> syscall_ns;        // GoSysCall -> GoSysExit, sorted
  std::uint64_t syscall_exits[3] = {};         // by SysExitPath
  std::uint64_t syscalls_handed_off = 0;       // calls whose P was handed off (GoSysBlock)
  std::vector<std::int64_t> handed_off_ns;     // their durations, sorted
  std::uint64_t verdicts[tracefmt::kVerdictCount] = {};  // PreemptHandler by verdict
  std::uint64_t signals = 0;
  // Async preemptions by who decided (tracefmt::TriggerKind): the last decision (sysmon's
  // PreemptSignal, or the M's own PreemptTrigger "due") -> the goroutine's GoPreempt on
  // that thread, sorted.
  std::vector<std::int64_t> preempt_ns[3];
  std::uint64_t steals = 0, stolen = 0;
  std::map<std::uint64_t, GoroutineTimes> goroutines;  // by goid
  GoroutineTimes total;
  std::map<std::int64_t, std::int64_t> threads;  // M id -> tid
  std::map<std::int64_t, std::uint64_t> ps;      // P id -> goroutine starts on it
};

Summary summarize(const Trace& t);

// A duration for people: `812 ns`, `35.2 µs`, `20.31 ms`.
std::string fmt_ns(std::int64_t ns);

// `n=… p50 … p90 … p99 … max …` of sorted durations (ns), or `none`.
std::string dist_text(const std::vector<std::int64_t>& sorted);

// The same as a JSON object: {"n":…,"p50_ns":…,"p90_ns":…,"p99_ns":…,"max_ns":…}.
std::string dist_json(const std::vector<std::int64_t>& sorted);

// The summary as text (top: how many goroutines to list in the per-goroutine tables).
std::string summary_text(const Trace& t, const Summary& s, int top);

// The summary as one JSON object.
std::string summary_json(const Trace& t, const Summary& s);

}  // namespace urgent::tracetool
