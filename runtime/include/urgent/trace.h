// urgent/trace.h: the execution tracer (Go's runtime/trace) and its flight recorder (Go
// 1.25's trace.FlightRecorder).
//
// Every scheduling decision becomes an event with a CLOCK_MONOTONIC timestamp (the clock the
// kernel's bpf_ktime_get_ns reads), the OS thread, the P and the goroutine: creation, start,
// end, yields, preemptions, blocking with its reason, unblocking, system calls and P
// handoffs, steals, preemption signals and handler verdicts, sysmon ticks that acted. The
// format is in runtime/trace_format.h; `urgent-trace` reads it.
//
// Setting URGENT_TRACE=<file> traces a whole urgent::run (URGENT_TRACE_MEM bounds its
// buffers, default 64 MiB). Events that find no free buffer are dropped and counted, never
// lost silently: the count is in the file, in Stats, and printed to stderr.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace urgent::trace {

struct Options {
  std::size_t buffer_bytes = 64 << 10;  // one batch of one thread (at least 4 KiB)
  std::size_t max_memory = 64 << 20;    // all buffers: being filled, queued, in the ring
};

struct Stats {
  std::uint64_t events = 0;   // recorded (for a flight recorder: in the last snapshot)
  std::uint64_t dropped = 0;  // lost: no free buffer, a paused recorder, a write error
  std::uint64_t bytes = 0;    // written to the file
  std::uint64_t batches = 0;
  std::string error;  // the first write error, if any
};

// Starts tracing into path (created or truncated). Call from a goroutine. Returns false,
// with *error, if a trace or flight recorder is already on, or the file cannot be opened.
bool start(const std::string& path, const Options& options = {}, std::string* error = nullptr);

// Stops tracing and finishes the file. A trace still on when urgent::run returns is
// stopped there. Returns what was written (zeros if no trace was on).
Stats stop();

// True while a trace or a flight recorder is recording.
bool active();

// The flight recorder keeps only the most recent events, in memory: those of the last
// `window`, within `max_memory` (the older half of a full ring is recycled first).
struct FlightRecorderOptions {
  std::chrono::nanoseconds window = std::chrono::seconds(1);
  std::size_t buffer_bytes = 64 << 10;
  std::size_t max_memory = 16 << 20;
};

// Starts the flight recorder. Call from a goroutine. Returns false, with *error, if a trace
// or flight recorder is already on.
bool start_flight_recorder(const FlightRecorderOptions& options = {}, std::string* error = nullptr);

// Writes the recorder's window, ending now, to path as a trace file, and keeps recording.
// Events recorded while it collects the threads' buffers (microseconds) are dropped and
// counted. Returns false, with *error, if no flight recorder is on or the file fails.
bool write_flight_recorder(const std::string& path, Stats* stats = nullptr,
                           std::string* error = nullptr);

// Stops the flight recorder and frees its memory.
void stop_flight_recorder();

}  // namespace urgent::trace
