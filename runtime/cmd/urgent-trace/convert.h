// runtime/cmd/urgent-trace/convert.h: urgent traces as Chrome JSON (chrome://tracing,
// ui.perfetto.dev) and as Perfetto protobuf (TrackEvent packets written directly).
//
// Tracks: one per P (the goroutines it ran), one per M (the goroutines it ran, its system
// calls, handler verdicts), one per goroutine (its states: running, runnable, waiting with
// the reason, syscall), sysmon's (signals sent, handoffs, ticks that acted); counters for
// each P's local run queue and the global one (sampled at every GoStart); a flow from each
// unblock to the start of the goroutine it readied.
#pragma once

#include <cstdint>
#include <string>

#include "reader.h"

namespace urgent::tracetool {

std::string to_chrome_json(const Trace& t);
std::string to_perfetto(const Trace& t);

// Decodes a Perfetto trace written by to_perfetto with a protobuf wire-format reader and
// checks it: every packet well formed, every event on a declared track, slices balanced on
// each track, every flow both started and terminated. Fills a one-line description.
struct PerfettoCheck {
  std::uint64_t packets = 0, tracks = 0, slices = 0, instants = 0, counters = 0, flows = 0;
};
bool check_perfetto(const std::string& bytes, PerfettoCheck* out, std::string* error);

}  // namespace urgent::tracetool
