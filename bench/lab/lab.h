// bench/lab/lab.h: urgent-lab's statistics and the parsers of the tools' output
// (urgent-bench, urgent-bench-go, urgent-scope), unit-tested in tests/lab_test.cc.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cmd/urgent-trace/reader.h"

namespace urgent::lab {

// Nearest-rank percentile (p in [0, 100]) of unsorted values; nullopt for none.
std::optional<double> percentile(std::vector<double> v, double p);
std::optional<double> median(std::vector<double> v);

// Jain's fairness index of the shares x: (sum x)^2 / (n * sum x^2), in [1/n, 1]; 1 when
// all are equal. nullopt for no values or all zero.
std::optional<double> jain_index(const std::vector<double>& x);

// `<name> <value> <unit>` (urgent-bench's one-line workloads): the value.
std::optional<double> parse_value(const std::string& out, const std::string& name);

struct Probe {
  double p50 = 0, p99 = 0, max = 0;  // µs
};
// `probe p50 <us> us p99 <us> us max <us> us`.
std::optional<Probe> parse_probe(const std::string& out);

struct PreemptLat {
  double p50 = 0, p99 = 0, max = 0;     // decision -> off its M, µs
  double floor_p50 = 0, floor_p99 = 0;  // tgkill -> handler, µs
  long preemptions = 0;
};
// urgent-bench preemptlat's report.
std::optional<PreemptLat> parse_preemptlat(const std::string& out);

// Its last line: `overrun p50 <us> us p99 <us> us max <us> us (URGENT_PREEMPT=<t>; ...;
// sysmon <n> wakeups/s)`: the slice's end -> off its M, whoever decided.
struct Overrun {
  double p50 = 0, p99 = 0, max = 0;  // µs
  std::string trigger;               // the one in effect
  double sysmon_per_s = 0;
};
std::optional<Overrun> parse_overrun(const std::string& out);

// `sharedcpu URGENT_PREEMPT=<t> slice <s>: on-CPU p50 <ms> ms, wall p50 <ms> ms (...)`.
struct SharedCpu {
  std::string trigger;
  double on_cpu_ms = 0, wall_ms = 0;  // one slice's, p50
};
std::optional<SharedCpu> parse_sharedcpu(const std::string& out);

// `fairness shares <s1> <s2> ...`.
std::optional<std::vector<double>> parse_fairness(const std::string& out);

struct Overhead {
  double off_ms = 0, floor_off_ms = 0;
  std::map<std::string, std::pair<double, double>> by_slice;  // slice -> (ms, floor ms)
};
// urgent-bench overhead's report.
std::optional<Overhead> parse_overhead(const std::string& out);

// `handoff p50 <us> us p99 <us> us max <us> us`, and urgent's `... sysmon <n> wakeups/s`
// after it (-1 when absent: Go's twin).
struct Handoff {
  double p50 = 0, p99 = 0, max = 0;
  double sysmon_per_s = -1;
};
std::optional<Handoff> parse_handoff(const std::string& out);

// The number at a dotted path (`check.preemption.decision_to_off.p50_ns`; an array element
// by its index, `histograms.sigurg.3`) in JSON text, by
// a small recursive-descent reader (urgent-scope's --json). nullopt if absent or not a
// number, or the text is not JSON.
std::optional<double> json_number(const std::string& json, const std::string& path);

// urgent-scope --json's blocking system calls named `name`: (duration, off-CPU) in ns.
std::vector<std::pair<double, double>> parse_scope_calls(const std::string& json,
                                                         const std::string& name);

// JSON string escaping (the trace tool's).
using tracetool::json_escape;

}  // namespace urgent::lab
