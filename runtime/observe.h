// runtime/observe.h: URGENT_BPF=1, the runtime observing itself with the eBPF observers
// (bpf/observer.h): the kernel's view of its own threads, kept beside its execution trace.
#pragma once

#include <string>

namespace urgent::rt {

// urgent::run's start: with URGENT_BPF=1, loads the observers for this process and drains
// them from a thread of their own. Failing (not root, no BTF, ...) prints one line and the
// runtime goes on without them.
void observe_run_start(bool enabled);

// urgent::run's end, once every M has stopped: stops the observers. Without a trace file
// to keep their records, prints a summary to stderr.
void observe_run_end(bool traced);

// The kernel's records so far as a trace chunk (trace_format.h's kKernel), or "" when the
// observers are off. Called by the tracer before it ends a trace file.
std::string observe_trace_chunk();

}  // namespace urgent::rt
